"""agentd-daemons.sock: what the other daemons need of agentd, with the calling daemon named by the
kernel (its executable), never by the request. Events are stamped with that name; a daemon sees,
cancels and waits for only its own approvals; decisions come signed; bad input changes nothing."""
import json
import os
import shutil
import subprocess
import tempfile
import threading
import unittest

from osmtest import AgentdTestCase, request

HASH = "ab" * 32


def my_name():
    """The name agentd gives this test process: its executable, without an osmoda- prefix."""
    name = os.path.basename(os.readlink("/proc/self/exe"))
    return name[len("osmoda-"):] if name.startswith("osmoda-") else name


class DaemonsSocket(AgentdTestCase):
    def setUp(self):
        super().setUp()
        self.sock = os.path.join(self.agentd.run_dir, "agentd-daemons.sock")

    def d(self, method, path, body=None):
        return request(self.sock, method, path, body)

    def open_approval(self, **over):
        body = {"id": "11111111-2222-4333-8444-%012x" % (len(over) + 1), "tool": "notes_clear",
                "arguments": {}, "args_hash": HASH, "job_id": "job-1", "call_id": 7,
                "reason": "test", "path": "/etc/app.conf"}
        body.update(over)
        return self.d("POST", "/approvals/open", body)

    def test_socket_mode_and_separation(self):
        self.assertEqual(os.stat(self.sock).st_mode & 0o777, 0o600)  # no osmoda-daemons group here
        st, _ = self.d("POST", "/tools/call", {"tool": "system_health"})
        self.assertEqual(st, 404)  # not a door for agents
        st, _ = self.d("POST", "/approval/x/approve", {})
        self.assertEqual(st, 404)  # nor for decisions
        st, _ = self.agentd.agent_request("POST", "/approvals/open", {})
        self.assertEqual(st, 404)  # and the agent socket has none of this

    def test_events_carry_the_callers_name_whatever_the_body_says(self):
        st, r = self.d("POST", "/events/append",
                       {"type": "watch.check.failed", "actor": "agentd", "payload": {"n": 1}})
        self.assertEqual(st, 201, r)
        st, rows = self.req("GET", "/events/log?type=watch.check.failed")
        self.assertEqual(rows[0]["actor"], my_name())
        st, r = self.d("POST", "/events/append", {"type": "BAD TYPE", "payload": {}})
        self.assertEqual(st, 422, r)

    def test_open_shows_in_the_operators_inbox_with_the_daemon(self):
        st, r = self.open_approval(preview={"diff": "-a\n+b\n"})
        self.assertEqual(st, 201, r)
        self.assertEqual(r["daemon"], my_name())
        st, pending = self.req("GET", "/approval/pending")
        a = [p for p in pending if p["id"] == r["id"]][0]
        self.assertEqual((a["daemon"], a["tool"], a["path"]), (my_name(), "notes_clear",
                                                               "/etc/app.conf"))
        self.assertEqual(a["preview"], {"diff": "-a\n+b\n"})

    def test_bad_opens_change_nothing(self):
        for over in ({"id": "not-a-uuid"}, {"args_hash": "short"}, {"tool": "Bad Tool"},
                     {"arguments": "text"}, {"preview": {"x": "y" * 70000}}, {"reason": 5}):
            st, r = self.open_approval(**over)
            self.assertIn(st, (400, 422), (over, r))
        st, pending = self.req("GET", "/approval/pending")
        self.assertEqual(pending, [])
        st, r = self.open_approval()
        self.assertEqual(st, 201, r)
        st, r = self.open_approval()  # the same id twice
        self.assertEqual(st, 409, r)

    def test_decision_is_signed_and_only_the_owner_sees_it(self):
        st, r = self.open_approval()
        aid = r["id"]
        st, d = self.d("GET", "/approvals/%s/decision" % aid)
        self.assertEqual(st, 202, d)
        st, a = self.req("POST", "/approval/%s/approve" % aid, {"mode": "always",
                                                                  "scope": "path"})
        self.assertEqual(st, 200, a)
        st, d = self.d("GET", "/approvals/%s/decision" % aid)
        self.assertEqual(st, 200, d)
        self.assertEqual((d["id"], d["daemon"], d["tool"], d["args_hash"], d["decision"],
                          d["mode"]), (aid, my_name(), "notes_clear", HASH, "approved", "always"))
        self.assertTrue(d["expires_at"])  # the grant's expiry is signed too
        self.assertEqual(len(d["signature"]), 128)
        st, key = self.d("GET", "/approvals/key")
        self.assertEqual((st, len(key["public_key"])), (200, 64))
        # another program is another daemon: it does not see this approval
        curl = shutil.which("curl")
        out = subprocess.run([curl, "-s", "-o", "/dev/null", "-w", "%{http_code}",
                              "--unix-socket", self.sock,
                              "http://x/approvals/%s/decision" % aid],
                             capture_output=True, text=True).stdout
        self.assertEqual(out, "404")
        # a grant answers for its path
        st, g = self.d("POST", "/approvals/grant", {"tool": "notes_clear", "args_hash": "cd" * 32,
                                                    "path": "/etc/app.conf"})
        self.assertEqual(g["approval_id"], aid)
        st, g = self.d("POST", "/approvals/grant", {"tool": "notes_clear", "args_hash": "cd" * 32,
                                                    "path": "/etc/other.conf"})
        self.assertIsNone(g["approval_id"])

    def test_cancel_then_approve_is_refused(self):
        st, r = self.open_approval()
        st, c = self.d("POST", "/approvals/%s/cancel" % r["id"])
        self.assertEqual(st, 200, c)
        st, a = self.req("POST", "/approval/%s/approve" % r["id"], {})
        self.assertEqual(st, 409, a)
        st, c = self.d("POST", "/approvals/%s/cancel" % r["id"])
        self.assertEqual(st, 409, c)
        st, d = self.d("GET", "/approvals/%s/decision" % r["id"])
        self.assertEqual(d["decision"], "cancelled")

    def test_wait_wakes_on_the_decision(self):
        st, r = self.open_approval()
        aid = r["id"]
        got = {}

        def waiter():
            got["r"] = self.d("POST", "/approvals/wait", {"ids": [aid], "wait_s": 50})

        t = threading.Thread(target=waiter)
        t.start()
        st, a = self.req("POST", "/approval/%s/deny" % aid, {})
        self.assertEqual(st, 200, a)
        t.join(55)
        self.assertFalse(t.is_alive())
        st, decisions = got["r"]
        self.assertEqual(st, 200, decisions)
        self.assertEqual([(x["id"], x["decision"]) for x in decisions], [(aid, "denied")])
        st, none = self.d("POST", "/approvals/wait", {"ids": ["unknown"], "wait_s": 0})
        self.assertEqual((st, none), (200, []))
        st, bad = self.d("POST", "/approvals/wait", {"ids": "x", "wait_s": 0})
        self.assertEqual(st, 422, bad)


if __name__ == "__main__":
    unittest.main()
