"""The bridge's Streamable HTTP transport against the official MCP conformance suite (two pinned
versions in tests/node/package.json: 0.1.13's active suite on the default Node, 0.1.16's whole
suite on Node 22), plus what the suites do not check: bearer auth, the token file's mode,
--insecure-no-auth only on loopback, Host/Origin rebinding, sessions, protocol version header,
body cap, the unix socket listener, and resumable event streams (event ids, priming, GET stream,
Last-Event-ID, polling)."""
import glob
import json
import os
import re
import subprocess
import time
import unittest

import mcptest
import osmtest

TOKEN = "t0ken-" + "a1b2c3d4" * 4


class ConformanceSuite(unittest.TestCase):
    def test_all_server_scenarios_pass(self):
        node, script = mcptest.node_tool("@modelcontextprotocol/conformance/dist/index.js")
        if not node:
            self.skipTest(script)
        bridge = mcptest.Bridge(["--conformance-fixtures", "--insecure-no-auth"])
        bridge.args += ["--http", "127.0.0.1:%d" % bridge.port]
        try:
            bridge.start()
            out_dir = os.path.join(bridge.tmp, "results")
            proc = subprocess.run([node, script, "server", "--url", bridge.url(), "-o", out_dir],
                                  capture_output=True, text=True, timeout=300,
                                  cwd=mcptest.NODE_DIR)
            out = proc.stdout + proc.stderr
            m = re.search(r"Total: (\d+) passed, (\d+) failed", out)
            self.assertIsNotNone(m, "no Total line from the suite:\n" + out[-4000:])
            passed, failed = int(m.group(1)), int(m.group(2))
            print("\n    conformance: " + m.group(0), end=" ")
            self.assertEqual(failed, 0, out[-6000:])
            # the 2025-11-25 active suite of 0.1.13 has 30 scenarios / 39 checks
            self.assertGreaterEqual(passed, 39, out[-6000:])
            self.assertEqual(proc.returncode, 0, out[-3000:])
            self.assertNotIn("✗", out)
            self.assertTrue(bridge.proc.poll() is None, "bridge died: " + bridge.log())
        finally:
            bridge.cleanup()
        self.assertEqual(mcptest.sanitizer_report(bridge.log()), "")


class ConformanceSuiteAll(unittest.TestCase):
    """conformance 0.1.16, --suite all (pending scenarios included), on Node 22: every scenario
    has passing checks and no check fails or warns."""

    # checks that pass in 0.1.16's 32 scenarios, server-sse-polling's 3 (priming event, retry
    # field, resume after the server closed the stream) included
    EXPECTED_PASSED = 46

    def test_every_scenario_passes(self):
        node, script = mcptest.node_tool("conformance-0-1-16/dist/index.js", node=mcptest.NODE22)
        if not node:
            self.skipTest(script)
        version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
        self.assertTrue(version.startswith("v22."), version)
        bridge = mcptest.Bridge(["--conformance-fixtures", "--insecure-no-auth"])
        bridge.args += ["--http", "127.0.0.1:%d" % bridge.port]
        try:
            bridge.start()
            out_dir = os.path.join(bridge.tmp, "results")
            proc = subprocess.run([node, script, "server", "--url", bridge.url(), "--suite", "all",
                                   "-o", out_dir], capture_output=True, text=True, timeout=300,
                                  cwd=mcptest.NODE_DIR)
            out = proc.stdout + proc.stderr
            summary = out[out.rfind("=== SUMMARY ==="):]
            rows = re.findall(r"^(\S+) (\S+): (\d+) passed, (\d+) failed", summary, re.M)
            self.assertGreaterEqual(len(rows), 32, "scenarios missing:\n" + out[-4000:])
            for mark, scenario, passed, failed in rows:
                self.assertEqual((mark, int(failed)), ("✓", 0), scenario + "\n" + summary)
                self.assertGreater(int(passed), 0, scenario + " has no passing check")
            statuses = []
            for path in glob.glob(os.path.join(out_dir, "*", "checks.json")):
                with open(path) as f:
                    statuses += [(os.path.basename(os.path.dirname(path)), c["id"], c["status"],
                                  c.get("errorMessage")) for c in json.load(f)]
            bad = [c for c in statuses if c[2] in ("FAILURE", "WARNING")]
            self.assertEqual(bad, [])
            polling = [c[1] for c in statuses if "sse-polling" in c[0] and c[2] == "SUCCESS"]
            self.assertEqual(sorted(polling), ["server-sse-disconnect-resume",
                                               "server-sse-priming-event",
                                               "server-sse-retry-field"])
            m = re.search(r"Total: (\d+) passed, (\d+) failed", summary)
            print("\n    conformance 0.1.16 --suite all: " + m.group(0), end=" ")
            self.assertEqual((int(m.group(1)), int(m.group(2))), (self.EXPECTED_PASSED, 0))
            self.assertEqual(proc.returncode, 0, out[-3000:])
            self.assertTrue(bridge.proc.poll() is None, "bridge died: " + bridge.log())
        finally:
            bridge.cleanup()
        self.assertEqual(mcptest.sanitizer_report(bridge.log()), "")


class HttpBridgeCase(unittest.TestCase):
    """A bridge on loopback TCP with a bearer token, started per test with bridge_args; the test
    fails if it died or a sanitizer reported."""
    bridge_args = []

    def setUp(self):
        self.bridge = mcptest.Bridge(list(self.bridge_args), token=TOKEN)
        self.bridge.args += ["--http", "127.0.0.1:%d" % self.bridge.port,
                             "--token-file", self.bridge.token_file()]
        self.bridge.start()

    def tearDown(self):
        log = self.bridge.log()
        alive = self.bridge.proc.poll() is None
        self.bridge.cleanup()
        self.assertTrue(alive, "bridge died: " + log)
        self.assertEqual(mcptest.sanitizer_report(log), "")


class HttpSecurity(HttpBridgeCase):

    def test_bearer_token(self):
        b = self.bridge
        status, hdrs, _ = b.post(mcptest.INIT, headers={"Authorization": None})
        self.assertEqual(status, 401)
        self.assertIn("Bearer", hdrs.get("www-authenticate", ""))
        status, _, _ = b.post(mcptest.INIT, headers={"Authorization": "Bearer " + TOKEN[:-1] + "x"})
        self.assertEqual(status, 401)
        status, _, _ = b.post(mcptest.INIT, headers={"Authorization": "Bearer " + TOKEN + "x"})
        self.assertEqual(status, 401)
        status, _, _ = b.post(mcptest.INIT, headers={"Authorization": TOKEN})
        self.assertEqual(status, 401)
        status, hdrs, text = b.post(mcptest.INIT)
        self.assertEqual(status, 200, text)
        self.assertRegex(hdrs["mcp-session-id"], r"^[0-9a-f]{32}$")
        self.assertEqual(json.loads(text)["result"]["protocolVersion"], "2025-11-25")

    def test_dns_rebinding(self):
        b = self.bridge
        status, _, _ = b.post(mcptest.INIT, headers={"Host": "evil.example.com"})
        self.assertEqual(status, 403)
        status, _, _ = b.post(mcptest.INIT, headers={"Host": "localhost.evil.example.com:80"})
        self.assertEqual(status, 403)
        status, _, _ = b.post(mcptest.INIT, headers={"Origin": "http://evil.example.com"})
        self.assertEqual(status, 403)
        status, _, _ = b.post(mcptest.INIT, headers={"Origin": "null"})
        self.assertEqual(status, 403)
        status, _, _ = b.post(mcptest.INIT, headers={"Host": "localhost:%d" % b.port,
                                                     "Origin": "http://localhost:5173"})
        self.assertEqual(status, 200)
        status, _, _ = b.post(mcptest.INIT, headers={"Host": "[::1]:%d" % b.port})
        self.assertEqual(status, 200)

    def test_session_lifecycle(self):
        b = self.bridge
        sid, init = b.initialize()
        self.assertNotIn("prompts", init["result"]["capabilities"])
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        status, _, text = b.post(listing)
        self.assertEqual(status, 400, "request without a session accepted")
        status, _, _ = b.post(listing, headers={"Mcp-Session-Id": "0" * 32})
        self.assertEqual(status, 404)
        status, _, text = b.post(listing, headers={"Mcp-Session-Id": sid,
                                                   "MCP-Protocol-Version": "2025-11-25"})
        self.assertEqual(status, 200, text)
        tools = json.loads(text)["result"]["tools"]
        self.assertEqual(len(tools), 104)  # osModa's 92 + job_status/wait/kill + egress_* + keyd's 6
        self.assertFalse([t for t in tools if t["name"].startswith("test_")],
                         "conformance fixtures listed in a normal run")
        status, _, _ = b.post(listing, headers={"Mcp-Session-Id": sid,
                                                "MCP-Protocol-Version": "1999-01-01"})
        self.assertEqual(status, 400)
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        status, _, text = b.post(note, headers={"Mcp-Session-Id": sid})
        self.assertEqual((status, text), (202, ""))
        status, _, _ = b.post(None, method="PUT", headers={"Mcp-Session-Id": sid})
        self.assertEqual(status, 405)
        status, _, _ = b.post(None, method="DELETE", headers={"Mcp-Session-Id": sid})
        self.assertEqual(status, 200)
        status, _, _ = b.post(listing, headers={"Mcp-Session-Id": sid})
        self.assertEqual(status, 404, "ended session still answers")
        status, _, _ = b.post(None, method="GET", headers={"Mcp-Session-Id": sid,
                                                           "Accept": "text/event-stream"})
        self.assertEqual(status, 404, "ended session still streams")
        status, _, _ = b.post(None, method="DELETE", headers={"Mcp-Session-Id": sid})
        self.assertEqual(status, 404)

    def test_bad_bodies(self):
        b = self.bridge
        sid, _ = b.initialize()
        status, _, text = b.post(None, raw=b"{not json", headers={"Mcp-Session-Id": sid})
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(text)["error"]["code"], -32700)
        status, _, text = b.post(None, raw=b"[]", headers={"Mcp-Session-Id": sid})
        self.assertEqual(status, 400)
        status, _, _ = b.post(mcptest.INIT, headers={"Content-Type": "text/plain"})
        self.assertEqual(status, 415)
        status, _, _ = b.post(None, raw=b" " * (2 * 1024 * 1024), headers={"Mcp-Session-Id": sid})
        self.assertEqual(status, 413)
        status, _, _ = b.post(mcptest.INIT, headers={"Accept": "text/html"})
        self.assertEqual(status, 406)

    def test_tool_call_streams_and_reports_missing_daemon(self):
        b = self.bridge
        sid, _ = b.initialize()
        call = {"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                "params": {"name": "system_health", "arguments": {}}}
        status, hdrs, text = b.post(call, headers={"Mcp-Session-Id": sid})
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["content-type"].startswith("text/event-stream"))
        events = [json.loads(e["data"]) for e in mcptest.sse_events(text) if e.get("data")]
        self.assertEqual(events[-1]["id"], 9)
        result = events[-1]["result"]
        self.assertTrue(result["isError"])
        self.assertEqual(result["structuredContent"]["error"], "daemon_unavailable")
        self.assertEqual(result["structuredContent"]["socket"],
                         os.path.join(b.run_dir, "agentd-agent.sock"))
        self.assertEqual(json.loads(result["content"][0]["text"]), result["structuredContent"])
        # a JSON-only client gets the same answer as plain JSON
        status, hdrs, text = b.post(call, headers={"Mcp-Session-Id": sid,
                                                   "Accept": "application/json"})
        self.assertEqual(hdrs["content-type"], "application/json")
        self.assertTrue(json.loads(text)["result"]["isError"])
        # a bad argument names the field
        call["params"] = {"name": "memory_store", "arguments": {"summary": 5}}
        status, hdrs, text = b.post(call, headers={"Mcp-Session-Id": sid,
                                                   "Accept": "application/json"})
        sc = json.loads(text)["result"]["structuredContent"]
        self.assertEqual(sc["error"], "invalid_argument")
        self.assertIn("summary", sc["field"])


class HttpStreams(HttpBridgeCase):
    """Resumable event streams (MCP 2025-11-25 Streamable HTTP): ids unique in the session, a
    priming event, GET with Last-Event-ID replaying what followed, the session's GET stream, and
    connections the server closes (with a retry field) so that the client polls."""

    HOLD_MS = 300
    bridge_args = ["--conformance-fixtures", "--sse-hold-ms", str(HOLD_MS)]

    def get(self, sid, last=None, accept="text/event-stream"):
        headers = {"Accept": accept, "Content-Type": None}
        if sid is not None:
            headers["Mcp-Session-Id"] = sid
        if last is not None:
            headers["Last-Event-ID"] = last
        return self.bridge.post(None, method="GET", headers=headers)

    def call(self, sid, id_, tool):
        status, hdrs, text = self.bridge.post(
            {"jsonrpc": "2.0", "id": id_, "method": "tools/call",
             "params": {"name": tool, "arguments": {}}}, headers={"Mcp-Session-Id": sid})
        self.assertEqual(status, 200, text)
        self.assertTrue(hdrs["content-type"].startswith("text/event-stream"))
        return mcptest.sse_events(text)

    def test_post_stream_is_primed_and_resumable(self):
        sid, _ = self.bridge.initialize()
        events = self.call(sid, 9, "system_health")
        self.assertEqual(len(events), 2, events)
        prime, answer = events
        stream = prime["id"].split("-")[0]
        self.assertEqual(prime, {"id": stream + "-0", "retry": "1000", "data": ""})
        self.assertEqual(answer["id"], stream + "-1")
        self.assertEqual(json.loads(answer["data"])["id"], 9)
        # a second request's stream has other ids
        other = self.call(sid, 10, "system_health")
        self.assertNotEqual(other[0]["id"].split("-")[0], stream)
        # resuming after the priming event replays the answer; after the answer, nothing
        status, hdrs, text = self.get(sid, prime["id"])
        self.assertEqual(status, 200, text)
        self.assertTrue(hdrs["content-type"].startswith("text/event-stream"))
        self.assertEqual(mcptest.sse_events(text), [answer])
        status, _, text = self.get(sid, answer["id"])
        self.assertEqual((status, mcptest.sse_events(text)), (200, []))

    def test_resume_refusals(self):
        sid, _ = self.bridge.initialize()
        prime, answer = self.call(sid, 9, "system_health")
        stream = prime["id"].split("-")[0]
        for last in ("junk", "", "0-1", stream, stream + "-x"):
            status, _, text = self.get(sid, last)
            self.assertEqual(status, 400, "%r: %s" % (last, text))
        for last in (stream + "-2", "999-0"):
            status, _, text = self.get(sid, last)
            self.assertEqual(status, 409, "%r: %s" % (last, text))
            self.assertIn("cannot resume", json.loads(text)["error"]["message"])
        # another session's event ids mean nothing here
        sid2, _ = self.bridge.initialize()
        status, _, _ = self.get(sid2, answer["id"])
        self.assertEqual(status, 409)
        status, _, _ = self.get(None, answer["id"])
        self.assertEqual(status, 400)
        status, _, _ = self.get("0" * 32, answer["id"])
        self.assertEqual(status, 404)
        status, _, _ = self.get(sid, answer["id"], accept="application/json")
        self.assertEqual(status, 406)

    def test_server_closes_the_connection_and_the_result_waits(self):
        sid, _ = self.bridge.initialize()
        events = self.call(sid, 3, "test_reconnection")
        # the priming event, then the retry field the server sends before closing: no answer
        self.assertEqual([sorted(e) for e in events], [["data", "id", "retry"], ["retry"]])
        self.assertEqual(events[1]["retry"], "1000")
        status, _, text = self.get(sid, events[0]["id"])
        self.assertEqual(status, 200, text)
        replay = mcptest.sse_events(text)
        answers = [json.loads(e["data"]) for e in replay if e.get("data")]
        self.assertEqual(len(answers), 1, replay)
        self.assertEqual(answers[0]["id"], 3)
        self.assertIn("reconnected", answers[0]["result"]["content"][0]["text"])

    def test_get_stream_is_closed_for_polling(self):
        sid, _ = self.bridge.initialize()
        # nothing to say: primed, then closed after the hold time with a retry field
        status, hdrs, text = self.get(sid)
        self.assertEqual(status, 200, text)
        self.assertTrue(hdrs["content-type"].startswith("text/event-stream"))
        events = mcptest.sse_events(text)
        self.assertEqual(len(events), 2, events)
        self.assertEqual((events[0]["data"], events[0]["retry"]), ("", "1000"))
        self.assertEqual(events[1], {"retry": "1000"})
        # the client polls from where it was
        status, _, text = self.get(sid, events[0]["id"])
        self.assertEqual((status, mcptest.sse_events(text)), (200, [{"retry": "1000"}]))

    def test_older_revision_gets_no_priming_event(self):
        init = json.loads(json.dumps(mcptest.INIT))
        init["params"]["protocolVersion"] = "2025-06-18"
        status, hdrs, text = self.bridge.post(init)
        self.assertEqual(status, 200, text)
        sid = hdrs["mcp-session-id"]
        events = self.call(sid, 4, "test_reconnection")
        # no empty event (such a client may not expect one), and the stream is not cut short:
        # it could not resume it
        self.assertEqual(len(events), 1, events)
        self.assertEqual(json.loads(events[0]["data"])["id"], 4)
        self.assertRegex(events[0]["id"], r"^\d+-1$")


class HttpStartup(unittest.TestCase):
    def run_bridge(self, args, token_mode=None):
        b = mcptest.Bridge(token=TOKEN)
        try:
            if token_mode is not None:
                args = args + ["--token-file", b.token_file(token_mode)]
            return subprocess.run([osmtest.binary("osmoda-mcp-bridge")] + args,
                                  capture_output=True, text=True, timeout=10,
                                  stdin=subprocess.DEVNULL)
        finally:
            b.cleanup()

    def test_insecure_no_auth_refused_off_loopback(self):
        port = mcptest.free_port()
        for addr in ("0.0.0.0", "[::]", "10.1.2.3"):
            p = self.run_bridge(["--http", "%s:%d" % (addr, port), "--insecure-no-auth"])
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("loopback", p.stderr)

    def test_http_without_token_refused(self):
        p = self.run_bridge(["--http", "127.0.0.1:%d" % mcptest.free_port()])
        self.assertEqual(p.returncode, 2)
        self.assertIn("--token-file", p.stderr)

    def test_token_file_readable_by_others_refused(self):
        p = self.run_bridge(["--http", "127.0.0.1:%d" % mcptest.free_port()], token_mode=0o644)
        self.assertEqual(p.returncode, 1)
        self.assertIn("chmod 600", p.stderr)

    def test_unix_socket_listener(self):
        b = mcptest.Bridge(token=TOKEN)
        sock = os.path.join(b.tmp, "mcp.sock")
        b.args = ["--http-socket", sock, "--token-file", b.token_file()]
        try:
            b.start(wait=False)
            for _ in range(200):
                if os.path.exists(sock):
                    break
                time.sleep(0.05)
            self.assertEqual(os.stat(sock).st_mode & 0o777, 0o600)
            status, body = osmtest.request(sock, "POST", "/mcp", mcptest.INIT, headers={
                "Authorization": "Bearer " + TOKEN, "Accept": "application/json"})
            self.assertEqual(status, 200, body)
            self.assertEqual(body["result"]["serverInfo"]["name"], "osmoda-mcp-bridge")
            status, _ = osmtest.request(sock, "POST", "/mcp", mcptest.INIT)
            self.assertEqual(status, 401)
        finally:
            b.cleanup()


if __name__ == "__main__":
    unittest.main()
