"""Watchers in a real osmoda-watch beside a real agentd: osModa's /watcher/add|list|remove API
with its validation (422 naming the field, nothing stored), persistence across a restart, each
watcher on its own interval, and the escalation ladder — one step per failure window, never the
same step twice, recovery resetting it — with every step in agentd's ledger."""
import json
import os
import socket
import tempfile
import time
import unittest

from osmtest import Watch, WatchTestCase

FALSE = {"type": "command", "cmd": "/bin/false"}


def until(fn, timeout=30, what="condition"):
    """Polls fn until it returns a true value (an event awaited, with an upper bound)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


class WatcherApi(WatchTestCase):
    def add(self, body):
        return self.watch.request("POST", "/watcher/add", body)

    def test_add_list_remove(self):
        st, w = self.add({"name": "web", "check": {"type": "tcp_port", "host": "127.0.0.1",
                                                   "port": 9},
                          "actions": [{"type": "notify", "message": "web is down"}]})
        self.assertEqual(st, 200, w)
        self.assertEqual(w["name"], "web")
        self.assertEqual(w["interval_secs"], 30)  # the --check-interval default
        self.assertEqual(w["check"], {"type": "tcp_port", "host": "127.0.0.1", "port": 9})
        self.assertEqual(w["actions"], [{"type": "notify", "message": "web is down"}])
        self.assertIn(w["state"]["state"], ("healthy", "degraded"))
        st, lst = self.watch.request("GET", "/watcher/list")
        self.assertEqual([x["id"] for x in lst], [w["id"]])
        adds = self.watch.events("watcher.add")
        self.assertEqual(len(adds), 1)
        self.assertEqual(adds[0][1]["id"], w["id"])
        st, ans = self.watch.request("DELETE", "/watcher/remove/" + w["id"])
        self.assertEqual((st, ans), (200, {"removed": w["id"]}))
        self.assertEqual(self.watch.request("GET", "/watcher/list"), (200, []))
        self.assertEqual([p["id"] for _, p in self.watch.events("watcher.remove")], [w["id"]])
        st, ans = self.watch.request("DELETE", "/watcher/remove/" + w["id"])
        self.assertEqual(st, 404, ans)
        self.assertEqual(ans["error"], "not_found")

    def test_bad_input_is_422_naming_the_field_and_stores_nothing(self):
        ok_check = {"type": "tcp_port", "host": "127.0.0.1", "port": 80}
        cases = [
            ({"check": ok_check, "actions": []}, "name"),
            ({"name": "x", "actions": []}, "check"),
            ({"name": "x", "check": ok_check}, "actions"),
            ({"name": "x", "check": ok_check, "actions": {}}, "actions"),
            ({"name": "x", "check": ok_check, "actions": [], "interval_secs": 0}, "interval_secs"),
            ({"name": "x", "check": ok_check, "actions": [{"type": "reboot"}]}, "actions[0].type"),
            ({"name": "x", "check": ok_check, "actions": [{"type": "restart_service",
                                                           "unit": "a;b"}]}, "actions[0].unit"),
            ({"name": "x", "check": {"type": "tcp_port", "host": "h", "port": 0}, "actions": []},
             "check.port"),
            ({"name": "x", "check": {"type": "http_get", "url": "ftp://h/", "expect_status": 200},
              "actions": []}, "check.url"),
            ({"name": "x", "check": {"type": "command", "cmd": "/bin/sh", "args": ["-c", "id"]},
              "actions": []}, "check.cmd"),
            ({"name": "x", "check": {"type": "command", "cmd": "/bin/echo", "args": ["a|b"]},
              "actions": []}, "check.args[0]"),
            ({"name": "x", "check": {"type": "systemd_unit", "unit": "a b"}, "actions": []},
             "check.unit"),
            ({"name": "x", "check": {"type": "ping"}, "actions": []}, "check.type"),
        ]
        for body, field in cases:
            st, ans = self.add(body)
            self.assertEqual(st, 422, (body, ans))
            self.assertEqual(ans["error"], "invalid_field")
            self.assertEqual(ans["detail"]["field"], field, ans)
        self.assertEqual(self.watch.request("GET", "/watcher/list"), (200, []))
        self.assertEqual(self.watch.events("watcher."), [])
        self.assertFalse(os.path.exists(os.path.join(self.watch.data_dir, "watchers.json")))

    def test_the_tools_reach_the_same_watchers(self):
        st, ans = self.watch.call("watcher_add", {"name": "t", "check": FALSE, "actions": []})
        self.assertEqual(st, 200, ans)
        st, lst = self.watch.request("GET", "/watcher/list")
        self.assertEqual([x["name"] for x in lst], ["t"])

    def test_persisted_across_a_restart(self):
        body = {"name": "db", "interval_secs": 7,
                "check": {"type": "command", "cmd": "/bin/true", "args": ["x"]},
                "actions": [{"type": "restart_service", "unit": "db.service"},
                            {"type": "rollback_generation"},
                            {"type": "notify", "message": "db"}]}
        st, w = self.add(body)
        self.assertEqual(st, 200, w)
        with open(os.path.join(self.watch.data_dir, "watchers.json")) as f:
            text = f.read()
        self.assertIn("\n  {", text)  # osModa's pretty array
        self.watch.stop()
        self.watch.start()
        st, lst = self.watch.request("GET", "/watcher/list")
        self.assertEqual(len(lst), 1)
        for k in ("id", "name", "check", "interval_secs", "actions"):
            self.assertEqual(lst[0][k], w[k], k)

    def test_a_corrupt_file_stops_the_start(self):
        self.watch.stop()
        with open(os.path.join(self.watch.data_dir, "watchers.json"), "w") as f:
            f.write('[{"id": "x", "name": "n", "check": {"type": "ping"}, "actions": []}]')
        with self.assertRaises(RuntimeError):
            self.watch.start()
        self.watch.stop()
        self.assertIn("watchers.load", self.watch.text())
        os.unlink(os.path.join(self.watch.data_dir, "watchers.json"))
        self.watch.start()


class WatcherLadder(WatchTestCase):
    def add(self, name, check, actions, interval=1):
        st, w = self.watch.request("POST", "/watcher/add", {
            "name": name, "check": check, "actions": actions, "interval_secs": interval})
        self.assertEqual(st, 200, w)
        return w

    def state(self, wid):
        st, lst = self.watch.request("GET", "/watcher/list")
        return next(x["state"] for x in lst if x["id"] == wid)

    def of(self, prefix, wid):
        return [(t, p) for t, p in self.watch.events(prefix) if p.get("id") == wid]

    def test_each_step_once_then_exhausted(self):
        w = self.add("fails", FALSE, [{"type": "restart_service", "unit": "nosuch"},
                                      {"type": "notify", "message": "still failing"}])
        until(lambda: self.of("watch.exhausted", w["id"]), what="watch.exhausted")
        steps = [(p["step"], p["action"]) for _, p in self.of("watch.escalation", w["id"])]
        self.assertEqual(steps, [(0, "restart_service"), (1, "notify")])
        restarts = [p for _, p in self.watch.events("service.restart")]
        self.assertEqual([(p["unit"], p["by"]) for p in restarts], [("nosuch", "watcher")])
        results = [p for _, p in self.of("watch.action.result", w["id"])]
        self.assertEqual([r["ok"] for r in results], [False, True])  # no such unit; notified
        self.assertEqual([p["message"] for _, p in self.of("watch.notify", w["id"])],
                         ["still failing"])
        self.assertEqual(len(self.of("watch.check.failed", w["id"])), 3)  # one per window
        # it keeps checking (retries grow) and takes no further step
        r0 = self.state(w["id"])["retries"]
        until(lambda: self.state(w["id"])["retries"] >= r0 + 3, what="three more failed checks")
        self.assertEqual(len(self.of("watch.escalation", w["id"])), 2)
        s = self.state(w["id"])
        self.assertEqual((s["state"], s["step"], s["exhausted"]), ("degraded", 1, True))
        self.assertNotIn("next_action_at", s)

    def test_recovery_resets_the_ladder(self):
        with tempfile.TemporaryDirectory() as tmp:
            flag = os.path.join(tmp, "up")
            check = {"type": "command", "cmd": "/usr/bin/test", "args": ["-e", flag]}
            w = self.add("flag", check, [{"type": "notify", "message": "a"},
                                         {"type": "notify", "message": "b"}])
            until(lambda: self.of("watch.notify", w["id"]), what="the first notify")
            s = self.state(w["id"])
            self.assertEqual((s["state"], s["step"]), ("degraded", 0))
            self.assertIn("next_action_at", s)
            open(flag, "w").close()
            until(lambda: self.of("watch.recovered", w["id"]), what="watch.recovered")
            self.assertEqual(self.state(w["id"]), {"state": "healthy"})
            os.unlink(flag)
            until(lambda: len(self.of("watch.escalation", w["id"])) >= 2, what="a new window")
            steps = [p["step"] for _, p in self.of("watch.escalation", w["id"])]
            self.assertEqual(steps[:2], [0, 0])  # the new spell starts from the first step

    def test_each_watcher_on_its_own_interval(self):
        fast = self.add("fast", FALSE, [], interval=1)
        slow = self.add("slow", FALSE, [], interval=30)
        until(lambda: self.state(fast["id"]).get("retries", 0) >= 3, what="the fast one's checks")
        self.assertEqual(self.state(slow["id"])["retries"], 0)

    def test_tcp_checks_see_a_listener(self):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        port = srv.getsockname()[1]
        try:
            up = self.add("up", {"type": "tcp_port", "host": "localhost", "port": port},
                          [{"type": "notify", "message": "x"}])
            srv2 = socket.socket()
            srv2.bind(("127.0.0.1", 0))
            closed = srv2.getsockname()[1]
            srv2.close()
            down = self.add("down", {"type": "tcp_port", "host": "127.0.0.1", "port": closed},
                            [{"type": "notify", "message": "x"}])
            ev = until(lambda: self.of("watch.check.failed", down["id"]), what="down's failure")
            self.assertIn("refused", ev[0][1]["error"].lower())
            until(lambda: self.state(up["id"]) == {"state": "healthy"} and
                  self.state(down["id"])["retries"] >= 2, what="more cycles")
            self.assertEqual(self.of("watch.check.failed", up["id"]), [])
        finally:
            srv.close()


if __name__ == "__main__":
    unittest.main()
