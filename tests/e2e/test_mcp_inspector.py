"""The bridge over stdio, driven by the real MCP Inspector CLI (pinned in tests/node): initialize,
tools/list (osModa's 92 tools with annotations) and tool calls, with and without a real agentd
behind the agent socket. Also: nothing but JSON-RPC ever reaches stdout."""
import json
import os
import subprocess
import tempfile
import time
import unittest

import mcptest
import osmtest

INSPECTOR = "@modelcontextprotocol/inspector/cli/build/cli.js"


def inspector(run_dir, *method_args, env=None):
    node, script = mcptest.node_tool(INSPECTOR)
    if not node:
        raise unittest.SkipTest(script)
    argv = [node, script, "--cli", osmtest.binary("osmoda-mcp-bridge"),
            "-e", "OSMODA_RUN_DIR=" + run_dir]
    for k, v in (env or {}).items():
        argv += ["-e", "%s=%s" % (k, v)]
    p = subprocess.run(argv + list(method_args), capture_output=True, text=True, timeout=120,
                       cwd=mcptest.NODE_DIR)
    if p.returncode != 0:
        raise AssertionError("inspector rc=%d\n%s\n%s" % (p.returncode, p.stdout[-2000:],
                                                          p.stderr[-2000:]))
    return json.loads(p.stdout)


class InspectorStdio(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="osmoda-insp-")

    def tearDown(self):
        subprocess.run(["rm", "-rf", self.tmp])

    def test_tools_list_has_osmodas_92_tools_and_job_tools_with_annotations(self):
        out = inspector(self.tmp, "--method", "tools/list")
        tools = out["tools"]
        names = [t["name"] for t in tools]
        expected = subprocess.run([osmtest.binary("osmoda-mcp-bridge"), "--list-tools"],
                                  capture_output=True, text=True, timeout=10).stdout.split()
        self.assertEqual(len(tools), 104)  # osModa's 92 + job_status/wait/kill + egress_* + keyd's 6
        self.assertEqual(names, expected)
        for must in ("system_health", "shell_exec", "wallet_send", "safe_switch_begin",
                     "approval_request", "app_remove", "spec_kit_run", "job_wait"):
            self.assertIn(must, names)
        for t in tools:
            self.assertEqual(t["inputSchema"]["type"], "object", t["name"])
            ann = t["annotations"]
            for hint in ("readOnlyHint", "destructiveHint", "idempotentHint"):
                self.assertIsInstance(ann[hint], bool, "%s %s" % (t["name"], hint))
        by_name = {t["name"]: t for t in tools}
        self.assertTrue(by_name["system_health"]["annotations"]["readOnlyHint"])
        self.assertTrue(by_name["wallet_send"]["annotations"]["destructiveHint"])

    def test_call_without_daemon_names_the_socket(self):
        out = inspector(self.tmp, "--method", "tools/call", "--tool-name", "system_health")
        self.assertTrue(out["isError"])
        sc = out["structuredContent"]
        self.assertEqual(sc["error"], "daemon_unavailable")
        self.assertEqual(sc["socket"], os.path.join(self.tmp, "agentd-agent.sock"))
        self.assertEqual(json.loads(out["content"][0]["text"]), sc)

    def test_env_override_names_the_socket(self):
        sock = os.path.join(self.tmp, "elsewhere.sock")
        out = inspector(self.tmp, "--method", "tools/call", "--tool-name", "system_health",
                        env={"AGENTD_SOCKET": sock})
        self.assertEqual(out["structuredContent"]["socket"], sock)


class InspectorRealAgentd(unittest.TestCase):
    def setUp(self):
        self.agentd = osmtest.Agentd().start()
        self.agent_sock = os.path.join(self.agentd.run_dir, "agentd-agent.sock")
        for _ in range(100):
            if os.path.exists(self.agent_sock):
                break
            time.sleep(0.05)

    def tearDown(self):
        alive = self.agentd.alive()
        report = self.agentd.sanitizer_errors()
        self.agentd.cleanup()
        self.assertTrue(alive, "agentd died")
        self.assertEqual(report, "")

    def test_system_health_through_agentd_is_recorded(self):
        if not os.path.exists(self.agent_sock):
            self.skipTest("agentd does not serve agentd-agent.sock in this build")
        run_dir = self.agentd.run_dir
        out = inspector(run_dir, "--method", "tools/call", "--tool-name", "system_health")
        self.assertNotIn("isError", out, json.dumps(out)[:2000])
        sc = out["structuredContent"]
        self.assertIn("hostname", sc)
        self.assertIn("memory_total", sc)
        self.assertEqual(json.loads(out["content"][0]["text"]), sc)
        # the call went through agentd's tool executor, which recorded it in the ledger
        log = inspector(run_dir, "--method", "tools/call", "--tool-name", "event_log",
                        "--tool-arg", "limit=20")
        events = log["structuredContent"]["items"]
        calls = [json.loads(e["payload"]) for e in events if e["type"] == "tool.call"]
        self.assertIn("system_health", [c["tool"] for c in calls])


class StdioPurity(unittest.TestCase):
    def test_stdout_carries_only_json_rpc(self):
        tmp = tempfile.mkdtemp(prefix="osmoda-stdio-")
        lines = [
            json.dumps(mcptest.INIT),
            json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
            "this is not json",
            "[]",
            "",
            json.dumps({"jsonrpc": "2.0", "id": "x" * 300, "method": "ping"}),
            "{" + " " * (1100 * 1024) + "}",
            json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                        "params": {"name": "memory_store", "arguments": {"summary": 5}}}),
            json.dumps({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                        "params": {"name": "system_health"}}),
            json.dumps({"jsonrpc": "2.0", "id": 5, "method": "nope"}),
        ]
        data = ("\n".join(lines) + "\n").encode()
        try:
            p = subprocess.run([osmtest.binary("osmoda-mcp-bridge"), "--log-level", "debug"],
                               input=data, capture_output=True, timeout=60,
                               env=dict(os.environ, OSMODA_RUN_DIR=tmp))
        finally:
            subprocess.run(["rm", "-rf", tmp])
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        out = p.stdout.decode()
        self.assertTrue(out.endswith("\n"))
        msgs = [json.loads(line) for line in out.splitlines()]  # each line parses
        for m in msgs:
            self.assertEqual(m["jsonrpc"], "2.0")
            self.assertTrue(("result" in m) != ("error" in m), m)
        by_id = {json.dumps(m["id"]): m for m in msgs}
        self.assertEqual(len(by_id[json.dumps(2)]["result"]["tools"]), 104)
        self.assertIn(json.dumps("x" * 300), by_id)
        self.assertEqual(by_id[json.dumps(5)]["error"]["code"], -32601)
        bad = by_id[json.dumps(3)]["result"]
        self.assertTrue(bad["isError"])
        self.assertEqual(bad["structuredContent"]["error"], "invalid_argument")
        self.assertIn("summary", bad["structuredContent"]["field"])
        self.assertEqual(by_id[json.dumps(4)]["result"]["structuredContent"]["error"],
                         "daemon_unavailable")
        errors = [m for m in msgs if m["id"] is None]
        self.assertEqual(sorted(e["error"]["code"] for e in errors), [-32700, -32600, -32600])
        self.assertEqual(len(msgs), 9)  # 6 requests answered + 3 framing errors
        self.assertIn(b"level=", p.stderr)
        self.assertEqual(mcptest.sanitizer_report(p.stderr.decode(errors="replace")), "")


if __name__ == "__main__":
    unittest.main()
