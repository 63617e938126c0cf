"""The tool executor (POST /tools/call on agentd's agent socket): allowed calls run and leave
tool.call + tool.result events (arguments redacted), protected paths are denied whatever the
policy file says, the policy reloads on SIGHUP (a bad file keeps the old one), a policy file others
can write stops agentd from starting, and a call whose tool.call cannot be written never runs."""
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
import unittest

from osmtest import Agentd, AgentdTestCase, binary


def events(agentd, type_=None, limit=200):
    st, rows = agentd.request("GET", "/events/log?limit=%d%s" % (
        limit, "&type=" + type_ if type_ else ""))
    assert st == 200, rows
    return [dict(r, payload=json.loads(r["payload"])) for r in rows]


def wait_log(agentd, text, timeout=10, count=1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if agentd.log().count(text) >= count:
            return True
        time.sleep(0.05)
    return False


class Executor(AgentdTestCase):
    def call(self, tool, arguments=None, **kw):
        return self.agentd.call_tool(tool, arguments, **kw)

    def test_read_tool_allowed_and_recorded_before_answer(self):
        st, r = self.call("system_health")
        self.assertEqual(st, 200, r)
        self.assertEqual(r["status"], "ok")
        self.assertIn("memory_total", r["result"])
        calls = events(self.agentd, "tool.call")
        results = events(self.agentd, "tool.result")
        self.assertEqual(len(calls), 1)
        c = calls[0]
        self.assertEqual(c["id"], r["call_id"])
        self.assertEqual(c["actor"], "agent:%d" % os.getuid())
        self.assertEqual(c["payload"]["tool"], "system_health")
        self.assertEqual(c["payload"]["decision"], "allow")
        self.assertEqual(c["payload"]["rule"], "default:read")
        self.assertEqual(c["payload"]["ring"], 2)
        # who asked is the socket peer: this very process
        self.assertEqual(c["payload"]["caller"],
                         {"pid": os.getpid(), "uid": os.getuid(), "gid": os.getgid()})
        self.assertEqual(len(results), 1)
        self.assertEqual(results[0]["payload"]["call_id"], r["call_id"])
        self.assertEqual(results[0]["payload"]["status"], "ok")
        self.assertIn("duration_ms", results[0]["payload"])
        self.assertGreater(results[0]["id"], c["id"])

    def test_rest_mapped_tool_runs_through_agentd_routes(self):
        st, r = self.call("incident_create", {"name": "disk full"})
        self.assertEqual((st, r["status"]), (200, "ok"), r)
        iid = r["result"]["id"]
        st, r = self.call("incident_step", {"id": iid, "action": "df -h", "result": "97%"})
        self.assertEqual((st, r["status"]), (200, "ok"), r)
        st, inc = self.req("GET", "/incident/" + iid)
        self.assertEqual(inc["steps"][0]["action"], "df -h")

    def test_long_arguments_are_cut_in_the_ledger(self):
        # redaction itself is unit-tested (test-policy); here: it is applied on the real path
        cmd = "echo " + "x" * 6000
        st, r = self.call("shell_exec", {"command": cmd})
        c = events(self.agentd, "tool.call")[0]["payload"]
        self.assertEqual(c["tool"], "shell_exec")
        self.assertIn("[cut: 6005 bytes, sha256 ", c["arguments"]["command"])
        st, rows = self.req("GET", "/events/log?limit=100")
        self.assertNotIn("x" * 5000, json.dumps(rows))

    def test_bad_input_is_refused_and_changes_nothing(self):
        before = len(events(self.agentd))
        st, r = self.call("no_such_tool")
        self.assertEqual((st, r["error"]), (404, "unknown_tool"))
        st, r = self.call("wallet_list")  # keyd's tool, not agentd's
        self.assertEqual((st, r["error"]), (404, "unknown_tool"))
        self.assertIn("keyd", r["message"])
        st, r = self.call("incident_create", {"nam": "x"})
        self.assertEqual((st, r["error"]), (422, "invalid_arguments"))
        self.assertIn("field", r["detail"])
        self.assertEqual(len(events(self.agentd)), before)

    def test_protected_paths_denied(self):
        key = os.path.join(self.agentd.state_dir, "ledger.key")
        for path in (key, os.path.join(self.agentd.state_dir, "policy.json"),
                     os.path.join(self.agentd.state_dir, "x", "..", "ledger.db"),
                     os.path.join(self.agentd.state_dir, "capability.key"),
                     self.agentd.run_dir):
            st, r = self.call("file_read", {"path": path})
            self.assertEqual((st, r["status"]), (403, "denied"), path)
            self.assertEqual(r["result"]["rule"], "protected")
        with open(key) as f:
            secret = f.read().strip()
        st, rows = self.req("GET", "/events/log?limit=100")
        self.assertNotIn(secret[-20:], json.dumps(rows))
        c = events(self.agentd, "tool.call")[0]["payload"]
        self.assertEqual(c["decision"], "deny")
        # a symlink elsewhere that points into the state directory
        link = os.path.join(self.agentd.tmp, "innocent")
        os.symlink(self.agentd.state_dir, link)
        st, r = self.call("file_write", {"path": link + "/ledger.key", "content": "x"})
        self.assertEqual((st, r["status"]), (403, "denied"))
        with open(key) as f:
            self.assertEqual(f.read().strip(), secret)

    def test_operator_only_routes_not_reachable_as_tools(self):
        # capability_mint maps to an operator-only route: it needs a person first
        st, r = self.call("capability_mint", {"granted_to": "me", "permissions": ["shell_exec"]})
        self.assertNotEqual(r["status"], "ok", r)
        self.assertEqual(events(self.agentd, "capability.mint"), [])

    def test_agent_socket_has_only_tool_routes(self):
        st, r = self.agentd.agent_request("GET", "/events/log")
        self.assertEqual(st, 404)
        st, r = self.agentd.agent_request("POST", "/memory/store", {"summary": "x"})
        self.assertEqual(st, 404)
        st, r = self.agentd.agent_request("GET", "/health")
        self.assertEqual(st, 200)
        mode = os.stat(self.agentd.agent_sock).st_mode & 0o777
        self.assertIn(mode, (0o600, 0o660))


class Ring2View(AgentdTestCase):
    def test_ring2_reads_what_names_and_tls_need(self):
        """The system files bound into ring 2 are readable by its unprivileged uid (a directory
        bwrap creates on the way defaults to 0700)."""
        st, r = self.agentd.call_tool("shell_exec", {
            "command": "test -r /etc/hosts && test -r /etc/passwd && ls /etc/ssl/certs >/dev/null"
                       " && test ! -e /etc/shadow && echo readable"})
        self.assertEqual(st, 200, r)
        self.assertEqual((r["result"]["exit_code"], r["result"]["output"]), (0, "readable\n"), r)


class PolicyFile(unittest.TestCase):
    def setUp(self):
        self.agentd = Agentd()

    def tearDown(self):
        self.agentd.cleanup()

    def write_policy(self, rules, mode=0o600, raw=None):
        os.makedirs(self.agentd.state_dir, mode=0o700, exist_ok=True)
        path = os.path.join(self.agentd.state_dir, "policy.json")
        with open(path, "w") as f:
            f.write(raw if raw is not None else json.dumps({"rules": rules}))
        os.chmod(path, mode)

    def test_sighup_reloads_and_bad_file_keeps_old(self):
        self.agentd.start()
        st, r = self.agentd.call_tool("memory_store", {"summary": "before"})
        self.assertEqual(r["status"], "ok", r)
        self.write_policy([{"tool": "memory_store", "decision": "deny"}])
        self.agentd.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_log(self.agentd, "rules=1"), self.agentd.log())
        st, r = self.agentd.call_tool("memory_store", {"summary": "after"})
        self.assertEqual((st, r["status"]), (403, "denied"), r)
        self.assertEqual(r["result"]["rule"], "rule:0")
        # a broken file is refused and the previous policy stays
        self.write_policy(None, raw='{"rules": [')
        self.agentd.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_log(self.agentd, "kept the previous policy"), self.agentd.log())
        st, r = self.agentd.call_tool("memory_store", {"summary": "still"})
        self.assertEqual((st, r["status"]), (403, "denied"), r)
        # a protected path stays denied even when a rule allows everything
        self.write_policy([{"tool": "*", "decision": "allow"}])
        self.agentd.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_log(self.agentd, "rules=1", count=2), self.agentd.log())
        st, r = self.agentd.call_tool(
            "file_read", {"path": os.path.join(self.agentd.state_dir, "ledger.key")})
        self.assertEqual((st, r["status"]), (403, "denied"), r)
        self.assertTrue(self.agentd.alive())

    def test_policy_others_can_write_refuses_start(self):
        self.write_policy([], mode=0o666)
        self.agentd.start(wait=False)
        self.assertEqual(self.agentd.proc.wait(20), 1)
        self.assertIn("policy.load", self.agentd.log())
        self.assertFalse(os.path.exists(self.agentd.agent_sock))


class LedgerUnavailable(AgentdTestCase):
    def test_call_not_recorded_does_not_run(self):
        db = sqlite3.connect(os.path.join(self.agentd.state_dir, "ledger.db"),
                             isolation_level=None, timeout=1)
        db.execute("BEGIN IMMEDIATE")  # holds the write lock: agentd's writer cannot commit
        try:
            st, r = self.agentd.call_tool("memory_store", {"summary": "must-not-exist"})
        finally:
            db.execute("ROLLBACK")
            db.close()
        self.assertEqual(st, 503, r)
        self.assertEqual(r["error"], "ledger_unavailable")
        st, rows = self.req("GET", "/events/log?limit=100")
        self.assertNotIn("must-not-exist", json.dumps(rows))
        # and the ledger works again afterwards
        st, r = self.agentd.call_tool("memory_store", {"summary": "later"})
        self.assertEqual(r["status"], "ok", r)


if __name__ == "__main__":
    unittest.main()
