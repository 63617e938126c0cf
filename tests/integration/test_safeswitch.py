"""SafeSwitch in a real osmoda-watch beside a real agentd: osModa's /switch/begin|list|status|
commit|rollback with its response shapes (and the error envelope), a files plan applied, probed
and committed or rolled back by watch itself, receipts in agentd's ledger, a restart in the
middle of probation, and the same operations as tools on watch-agent.sock."""
import json
import os
import tempfile
import time
import unittest

from osmtest import WatchTestCase


def until(fn, timeout=40, what="condition"):
    """Polls fn until it returns a true value (an awaited event, with an upper bound)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def read(path):
    with open(path, "rb") as f:
        return f.read()


class SafeSwitchApi(WatchTestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="osmoda-switch-")
        self.conf = os.path.join(self.dir, "app.conf")
        with open(self.conf, "w") as f:
            f.write("mode = old\n")
        os.chmod(self.conf, 0o640)

    def begin(self, plan, ttl=3600, checks=()):
        return self.watch.request("POST", "/switch/begin",
                                  {"plan": plan, "ttl_secs": ttl, "health_checks": list(checks)})

    def files_plan(self, content):
        return {"backend": "files", "files": {self.conf: content}}

    def state(self, sid):
        st, s = self.watch.request("GET", "/switch/status/" + sid)
        self.assertEqual(st, 200, s)
        return s["status"]["state"]

    def grep_check(self, line):
        return {"type": "command", "cmd": "/bin/grep", "args": ["-qx", line, self.conf]}

    def test_text_plan_has_osmodas_shapes(self):
        st, b = self.begin("nixos-rebuild switch --flake .#web", ttl=600)
        self.assertEqual(st, 200, b)
        self.assertEqual(b["status"], "probation")
        self.assertEqual(b["previous_generation"], "unknown")
        st, lst = self.watch.request("GET", "/switch/list")
        self.assertEqual([s["id"] for s in lst], [b["id"]])
        s = lst[0]
        for key in ("id", "plan", "ttl_secs", "health_checks", "started_at",
                    "previous_generation", "status"):
            self.assertIn(key, s)
        self.assertEqual(s["plan"], "nixos-rebuild switch --flake .#web")
        self.assertEqual(s["status"], {"state": "probation"})
        self.assertEqual(self.watch.request("GET", "/health")[1]["active_switches"], 1)
        st, r = self.watch.request("POST", "/switch/rollback/" + b["id"])
        self.assertEqual(st, 200, r)
        self.assertEqual(r["status"]["state"], "rolled_back")
        self.assertEqual(r["status"]["reason"], "manual rollback")
        self.assertIn("rolled_back_at", r["status"])
        st, again = self.watch.request("POST", "/switch/commit/" + b["id"])
        self.assertEqual(st, 409, again)
        self.assertEqual(again["error"], "conflict")
        st, missing = self.watch.request("GET", "/switch/status/nope")
        self.assertEqual((st, missing["error"]), (404, "not_found"))
        types = [t for t, _ in self.watch.events("switch.")]
        self.assertEqual(types, ["switch.begin", "switch.applied", "switch.rolled_back"])
        self.assertFalse(self.watch.events("switch.rolled_back")[0][1]["restored"])

    def test_files_plan_applies_probes_and_commits(self):
        st, b = self.begin(self.files_plan("mode = new\n"), ttl=2,
                           checks=[self.grep_check("mode = new")])
        self.assertEqual(st, 200, b)
        self.assertEqual(read(self.conf), b"mode = new\n")
        self.assertEqual(os.stat(self.conf).st_mode & 0o7777, 0o640)
        until(lambda: self.state(b["id"]) == "committed", what="commit at TTL")
        self.assertEqual(read(self.conf), b"mode = new\n")
        ev = dict(self.watch.events("switch."))
        diff = ev["switch.applied"]["diff"]["files"][0]
        self.assertEqual(diff["path"], self.conf)
        self.assertEqual((diff["lines_added"], diff["lines_removed"]), (1, 1))
        self.assertEqual(len(diff["old_sha256"]), 64)
        self.assertTrue(ev["switch.check"]["ok"])
        self.assertNotIn("mode = new", json.dumps(ev["switch.begin"]["plan"]),
                         "receipts carry hashes, not file contents")
        st, s = self.watch.request("GET", "/switch/status/" + b["id"])
        self.assertGreaterEqual(s["checks"]["rounds"], 1)
        self.assertEqual(s["checks"]["failures"], 0)

    def test_failed_check_rolls_back_byte_for_byte(self):
        before = read(self.conf)
        st, b = self.begin(self.files_plan("mode = broken\n"),
                           checks=[self.grep_check("mode = old")])
        self.assertEqual(st, 200, b)
        until(lambda: self.state(b["id"]) == "rolled_back", what="rollback")
        self.assertEqual(read(self.conf), before)
        self.assertEqual(os.stat(self.conf).st_mode & 0o7777, 0o640)
        rb = self.watch.events("switch.rolled_back")[0][1]
        self.assertIn("health check failed", rb["reason"])
        self.assertEqual(rb["summary"]["files"][0]["path"], self.conf)

    def test_bad_input_is_refused_and_changes_nothing(self):
        cases = [
            ({"plan": "x", "ttl_secs": 5}, 422),
            ({"plan": "x", "health_checks": []}, 422),
            ({"plan": "x", "ttl_secs": 0, "health_checks": []}, 422),
            ({"plan": "", "ttl_secs": 5, "health_checks": []}, 422),
            ({"plan": 7, "ttl_secs": 5, "health_checks": []}, 422),
            ({"plan": {"backend": "zfs"}, "ttl_secs": 5, "health_checks": []}, 400),
            ({"plan": self.files_plan("x"), "ttl_secs": 5,
              "health_checks": [{"type": "command", "cmd": "/bin/sh"}]}, 400),
            ({"plan": {"backend": "files", "files": {"rel/x": "y"}}, "ttl_secs": 5,
              "health_checks": []}, 400),
            ({"plan": {"backend": "files", "files": {self.conf: "y"}, "restart": ["nope"]},
              "ttl_secs": 5, "health_checks": []}, 400),
            ({"plan": {"backend": "files", "files": {
                os.path.join(self.watch.data_dir, "watchers.json"): "[]"}},
              "ttl_secs": 5, "health_checks": []}, 403),
        ]
        for body, want in cases:
            st, ans = self.watch.request("POST", "/switch/begin", body)
            self.assertEqual(st, want, (body, ans))
            self.assertIn("error", ans)
            self.assertIn("message", ans)
        self.assertEqual(read(self.conf), b"mode = old\n")
        self.assertEqual(self.watch.request("GET", "/switch/list"), (200, []))
        self.assertEqual(self.watch.events("switch."), [])

    def test_a_restart_mid_probation_resumes_and_commit_works(self):
        st, b = self.begin(self.files_plan("mode = new\n"), ttl=3600)
        self.assertEqual(st, 200, b)
        self.watch.stop()
        self.watch.start()
        st, s = self.watch.request("GET", "/switch/status/" + b["id"])
        self.assertEqual(s["status"], {"state": "probation"})
        self.assertEqual(s["deadline_at"], b["deadline_at"])
        st, c = self.watch.request("POST", "/switch/commit/" + b["id"])
        self.assertEqual(st, 200, c)
        self.assertEqual(c["status"]["state"], "committed")
        self.assertEqual(read(self.conf), b"mode = new\n")
        self.assertTrue(self.watch.events("switch.committed")[0][1]["manual"])

    def test_tools_on_the_agent_socket(self):
        st, ans = self.watch.call("safe_switch_begin", {"plan": "caller applied it",
                                                        "ttl_secs": 600, "health_checks": []})
        self.assertEqual(st, 200, ans)
        text = json.dumps(ans)
        st, lst = self.watch.call("safe_switch_list", {})
        self.assertEqual(st, 200, lst)
        self.assertIn("caller applied it", json.dumps(lst))
        sid = self.watch.request("GET", "/switch/list")[1][0]["id"]
        self.assertIn(sid, text)
        st, s = self.watch.call("safe_switch_status", {"id": sid})
        self.assertEqual(st, 200, s)
        self.assertIn("probation", json.dumps(s))
        calls = [p.get("tool") for t, p in self.watch.events("tool.call")]
        self.assertIn("safe_switch_begin", calls)


if __name__ == "__main__":
    unittest.main()
