"""The gateway's API drivers (anthropic, openai) and its LLM proxy, run by gw-drive (the drivers'
own code, linked from gateway-core) with real libcurl against the scripted model server
(model_stub.py: a stand-in for the provider, whose real service cannot be reached from a test)
and a real agentd executing the tools. Asserts what the chat would show: text streamed intact,
tool calls with their policy decisions and their tool.call records in agentd's ledger, the
conversation resumed on the next turn, abort mid-stream, provider errors as one error message,
the per-agent request limit, token accounting, and the key nowhere but in the request header."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import unittest

from model_stub import ModelStub
from osmtest import BUILD, Agentd, request, sanitizer_report

DRIVE = os.path.join(BUILD, "tests", "integration", "gw-drive")
SECRET = "sk-ant-api03-drivers-test-secret-0123456789abcdef"


class DriverTest(unittest.TestCase):
    runtime = "anthropic"

    @classmethod
    def setUpClass(cls):
        cls.agentd = Agentd().start()
        cls.tmp = tempfile.mkdtemp(prefix="osmoda-drivers-")
        cls.secret_file = os.path.join(cls.tmp, "secret")
        with open(cls.secret_file, "w") as f:
            f.write(SECRET + "\n")

    @classmethod
    def tearDownClass(cls):
        alive = cls.agentd.alive()
        report = cls.agentd.sanitizer_errors()
        cls.agentd.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert alive, "agentd died during the tests"
        assert report == "", report

    def drive(self, script, turns, *extra, runtime=None):
        """Runs gw-drive on turns against a stub serving script: (messages, stub, stderr)."""
        with ModelStub(script) as stub:
            p = subprocess.run(
                [DRIVE, "--runtime", runtime or self.runtime, "--base-url", stub.url,
                 "--run-dir", self.agentd.run_dir, "--secret-file", self.secret_file,
                 "--model", "stub-model", "--system", "You run a server."] + list(extra) +
                list(turns), capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(sanitizer_report(p.stderr), "", p.stderr)
        # the key goes to the provider in a header, and nowhere else
        self.assertNotIn(SECRET, p.stdout)
        self.assertNotIn(SECRET, p.stderr)
        msgs = [json.loads(line) for line in p.stdout.splitlines()]
        self.assertEqual(msgs[-1]["type"], "stats", p.stdout)
        return msgs, stub, p.stderr

    @staticmethod
    def of(msgs, type_, turn=None):
        return [m for m in msgs if m["type"] == type_ and (turn is None or m["turn"] == turn)]

    def text(self, msgs, turn=0):
        return "".join(m["text"] for m in self.of(msgs, "text", turn))

    def end(self, msgs, turn=0):
        return self.of(msgs, "end", turn)[0]

    def ledger_calls(self, tool):
        st, rows = self.agentd.request("GET", "/events/log?type=tool.call&limit=1000")
        self.assertEqual(st, 200, rows)
        return [json.loads(r["payload"]) for r in rows
                if r["type"] == "tool.call" and json.loads(r["payload"])["tool"] == tool]

    def tool_blocks_sent(self, request):
        """What the driver sent back for the tools: {id: (text, is_error)}."""
        out = {}
        for m in request["body"]["messages"]:
            if self.runtime == "openai" and m["role"] == "tool":
                out[m["tool_call_id"]] = (m["content"], None)
            elif self.runtime == "anthropic" and isinstance(m["content"], list):
                for b in m["content"]:
                    if b.get("type") == "tool_result":
                        out[b["tool_use_id"]] = (b["content"], b["is_error"])
        return out


class Common:
    """The same cases for both drivers."""

    def test_text_streams_intact(self):
        chunks = ["Disk ", "usage is ", "fine: 42 % — ", "naïve ✓ ", "done."]
        msgs, stub, _ = self.drive([{"text": chunks, "usage": [11, 7]}], ["how is the disk?"])
        self.assertEqual([m["text"] for m in self.of(msgs, "text")], chunks)
        self.assertEqual(self.end(msgs)["rc"], 0, msgs)
        self.assertEqual(self.of(msgs, "error"), [])
        self.assertTrue(self.end(msgs)["resume_id"].startswith(self.runtime + "-"))
        req = stub.requests[0]
        self.assertTrue(req["body"]["stream"])
        self.assertEqual(req["body"]["model"], "stub-model")
        names = [self.tool_name(t) for t in req["body"]["tools"]]
        self.assertIn("system_query", names)
        self.assertNotIn("approval_approve", names)  # refused to agents whatever the policy
        self.assert_auth(req)

    def test_tool_round_trip_in_ledger(self):
        before = len(self.ledger_calls("system_query"))
        script = [
            {"text": ["Let me look."], "usage": [100, 20],
             "tools": [{"id": "call_q1", "name": "system_query", "input": {"query": "hostname"}},
                       {"id": "call_m1", "name": "capability_mint",
                        "input": {"granted_to": "helper", "permissions": ["system_health"]}}]},
            {"text": ["The host is named as shown."], "usage": [300, 30]},
        ]
        msgs, stub, _ = self.drive(script, ["what is this host called?"])
        self.assertEqual(self.end(msgs)["rc"], 0, msgs)
        uses = self.of(msgs, "tool_use")
        self.assertEqual([(u["name"], u["id"]) for u in uses],
                         [("system_query", "call_q1"), ("capability_mint", "call_m1")])
        self.assertEqual(uses[0]["input"], {"query": "hostname"})
        results = {r["id"]: r for r in self.of(msgs, "tool_result")}
        self.assertEqual((results["call_q1"]["decision"], results["call_q1"]["is_error"]),
                         ("allow", False))
        self.assertEqual((results["call_m1"]["decision"], results["call_m1"]["status"]),
                         ("approve", "pending"))
        # the calls went through agentd's executor and its ledger
        self.assertEqual(len(self.ledger_calls("system_query")), before + 1)
        self.assertEqual(self.ledger_calls("system_query")[0]["decision"], "allow")
        # and their results back to the model, on the second request
        self.assertEqual(len(stub.requests), 2)
        sent = self.tool_blocks_sent(stub.requests[1])
        self.assertIn(socket.gethostname(), sent["call_q1"][0])
        self.assertIn("pending", sent["call_m1"][0])
        self.assertIn("approval_id", sent["call_m1"][0])
        self.assertEqual(self.text(msgs), "Let me look.The host is named as shown.")
        # tokens of both requests accounted to the agent
        totals = msgs[-1]["llm"]["totals"]
        self.assertEqual((totals["input_tokens"], totals["output_tokens"], totals["requests"]),
                         (400, 50, 2))

    def test_bad_tool_call_told_to_model(self):
        script = [{"tools": [{"id": "c1", "name": "no_such_tool", "input": {}},
                             {"id": "c2", "name": "system_query", "input": {"query": "nope"}}]},
                  {"text": ["ok"]}]
        msgs, stub, _ = self.drive(script, ["go"])
        self.assertEqual(self.end(msgs)["rc"], 0, msgs)
        results = {r["id"]: r for r in self.of(msgs, "tool_result")}
        self.assertTrue(results["c1"]["is_error"])
        self.assertTrue(results["c2"]["is_error"])
        sent = self.tool_blocks_sent(stub.requests[1])
        self.assertIn("unknown_tool", sent["c1"][0])
        self.assertIn("/query", sent["c2"][0])

    def test_tool_rounds_bounded(self):
        step = {"tools": [{"id": "c", "name": "system_query", "input": {"query": "uptime"}}]}
        msgs, stub, _ = self.drive([step] * 17, ["loop"])
        self.assertEqual(len(stub.requests), 16)  # DRV_ROUNDS_MAX, the 17th never asked
        self.assertEqual([e["code"] for e in self.of(msgs, "error")], ["tool_rounds"])
        self.assertLess(self.end(msgs)["rc"], 0)

    def test_conversation_resumed_next_turn(self):
        script = [{"text": ["The answer is 4."]}, {"text": ["You asked about 2+2."]}]
        msgs, stub, _ = self.drive(script, ["what is 2+2?", "what did I ask?"])
        self.assertEqual(self.end(msgs, 0)["resume_id"], self.end(msgs, 1)["resume_id"])
        second = json.dumps(stub.requests[1]["body"]["messages"])
        self.assertIn("what is 2+2?", second)
        self.assertIn("The answer is 4.", second)
        self.assertIn("what did I ask?", second)

    def test_abort_mid_stream(self):
        script = [{"text": ["one ", "two ", "three "], "hang": True}]
        msgs, stub, _ = self.drive(script, ["talk"], "--abort-after-text", "2")
        # the stub would hold the stream for a minute: the driver hung up on abort
        self.assertTrue(stub.closed.wait(30))
        self.assertEqual(self.end(msgs)["rc"], -125, msgs)  # -ECANCELED, and no error message
        self.assertEqual(self.of(msgs, "error"), [])
        self.assertLessEqual(len(self.of(msgs, "text")), 3)

    def test_provider_errors(self):
        cases = [
            ({"status": 401, "body": self.error_body("invalid x-api-key " + SECRET)}, "http_401"),
            ({"status": 429, "body": self.error_body("rate limited")}, "http_429"),
            ({"status": 500, "body": {"unexpected": True}}, "http_500"),
            ({"raw": "data: {not json\n\n"}, "bad_stream"),
            ({"raw": "<html>not a stream</html>"}, "bad_stream"),
            ({"text": ["half"], "cut": True}, "bad_stream"),
        ]
        for step, code in cases:
            with self.subTest(code=code, step=step):
                msgs, _, _ = self.drive([step], ["hi"])
                errors = self.of(msgs, "error")
                self.assertEqual([e["code"] for e in errors], [code], msgs)
                self.assertLess(self.end(msgs)["rc"], 0)
                if code == "http_401":  # the provider's words, with the key masked out
                    self.assertIn("invalid x-api-key", errors[0]["text"])

    def test_unreachable_provider(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # nothing listens once closed
        p = subprocess.run([DRIVE, "--runtime", self.runtime, "--base-url",
                            "http://127.0.0.1:%d" % port, "--run-dir", self.agentd.run_dir,
                            "--secret-file", self.secret_file, "hi"],
                           capture_output=True, text=True, timeout=60)
        msgs = [json.loads(line) for line in p.stdout.splitlines()]
        self.assertEqual([e["code"] for e in self.of(msgs, "error")], ["network"], p.stdout)

    def test_requests_per_minute_limit(self):
        script = [{"text": ["a"], "usage": [5, 1]}, {"text": ["b"], "usage": [5, 1]},
                  {"text": ["c"], "usage": [5, 1]}]
        msgs, stub, _ = self.drive(script, ["1", "2", "3"], "--rpm", "2", "--agent", "ops")
        self.assertEqual([self.end(msgs, i)["rc"] for i in range(2)], [0, 0])
        errors = self.of(msgs, "error", 2)
        self.assertEqual([e["code"] for e in errors], ["rate_limited"], msgs)
        self.assertIn("ops", errors[0]["text"])
        self.assertEqual(len(stub.requests), 2)  # the refused request never left the gateway
        agent = [a for a in msgs[-1]["llm"]["agents"] if a["agent_id"] == "ops"][0]
        self.assertEqual((agent["rpm"], agent["requests"], agent["refused"],
                          agent["input_tokens"], agent["output_tokens"]), (2, 2, 1, 10, 2))


class AnthropicDriver(DriverTest, Common):
    runtime = "anthropic"

    @staticmethod
    def tool_name(t):
        return t["name"]

    @staticmethod
    def error_body(message):
        return {"type": "error", "error": {"type": "authentication_error", "message": message}}

    def assert_auth(self, req):
        self.assertEqual(req["path"], "/v1/messages")
        self.assertEqual(req["headers"].get("x-api-key"), SECRET)
        self.assertEqual(req["headers"].get("anthropic-version"), "2023-06-01")
        self.assertEqual(req["body"]["system"], "You run a server.")
        self.assertIn("input_schema", req["body"]["tools"][0])

    def test_oauth_bearer(self):
        _, stub, _ = self.drive([{"text": ["hi"]}], ["hi"], "--credential-type", "oauth")
        h = stub.requests[0]["headers"]
        self.assertEqual(h.get("Authorization"), "Bearer " + SECRET)
        self.assertNotIn("x-api-key", h)

    def test_error_event_mid_stream(self):
        raw = ('event: message_start\ndata: {"type":"message_start","message":{"usage":'
               '{"input_tokens":3}}}\n\nevent: error\ndata: {"type":"error","error":'
               '{"type":"overloaded_error","message":"Overloaded"}}\n\n')
        msgs, _, _ = self.drive([{"raw": raw}], ["hi"])
        errors = self.of(msgs, "error")
        self.assertEqual([e["code"] for e in errors], ["overloaded_error"])
        self.assertIn("Overloaded", errors[0]["text"])


class OpenAIDriver(DriverTest, Common):
    runtime = "openai"

    @staticmethod
    def tool_name(t):
        return t["function"]["name"]

    @staticmethod
    def error_body(message):
        return {"error": {"message": message, "type": "invalid_request_error", "code": None}}

    def assert_auth(self, req):
        self.assertEqual(req["path"], "/v1/chat/completions")
        self.assertEqual(req["headers"].get("Authorization"), "Bearer " + SECRET)
        self.assertEqual(req["body"]["messages"][0],
                         {"role": "system", "content": "You run a server."})
        self.assertEqual(req["body"]["tools"][0]["type"], "function")

    def test_base_url_with_version(self):
        with ModelStub([{"text": ["hi"]}]) as stub:
            p = subprocess.run([DRIVE, "--runtime", "openai", "--base-url", stub.url + "/v1/",
                                "--run-dir", self.agentd.run_dir, "hi"],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(stub.requests[0]["path"], "/v1/chat/completions", p.stdout)
        self.assertNotIn("Authorization", stub.requests[0]["headers"])  # no key, none sent


class LLMSocket(unittest.TestCase):
    """The proxy's socket: a tool's OpenAI-compatible request goes out with the agent's key."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="osmoda-llmsock-")
        self.sock = os.path.join(self.tmp, "llm.sock")
        self.secret_file = os.path.join(self.tmp, "secret")
        with open(self.secret_file, "w") as f:
            f.write(SECRET)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def serve(self, stub, runtime="openai", *extra):
        p = subprocess.Popen([DRIVE, "--runtime", runtime, "--base-url", stub.url, "--run-dir",
                              self.tmp, "--secret-file", self.secret_file, "--model", "local-m",
                              "--agent", "ops", "--rpm", "2", "--serve-llm", self.sock] +
                             list(extra), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.assertEqual(json.loads(p.stdout.readline())["type"], "serving")
        return p

    def finish(self, p):
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(sanitizer_report(err), "", err)
        self.assertNotIn(SECRET, out + err)
        return json.loads(out.splitlines()[-1])["llm"]

    def test_forwarded_with_key_limited_and_accounted(self):
        path = "/agents/ops/v1/chat/completions"
        body = {"messages": [{"role": "user", "content": "summarise the log"}]}
        with ModelStub([{"text": ["All quiet."], "usage": [40, 4]},
                        {"status": 401, "body": {"error": {"message": "bad key " + SECRET}}}]) \
                as stub:
            p = self.serve(stub)
            st, r = request(self.sock, "POST", path, body)
            self.assertEqual(st, 200, r)
            self.assertEqual(r["choices"][0]["message"]["content"], "All quiet.")
            sent = stub.requests[0]
            self.assertEqual(sent["headers"]["Authorization"], "Bearer " + SECRET)
            self.assertEqual(sent["body"]["model"], "local-m")  # the agent's, none was named
            # the provider's refusal comes back as the proxy's envelope, without the key
            st, r = request(self.sock, "POST", path, body)
            self.assertEqual((st, r["error"]), (502, "provider_error"), r)
            self.assertEqual(r["detail"]["provider_status"], 401)
            self.assertNotIn(SECRET, json.dumps(r))
            # rpm 2: the third request never leaves the gateway
            st, r = request(self.sock, "POST", path, body)
            self.assertEqual((st, r["error"]), (429, "rate_limited"), r)
            self.assertEqual(len(stub.requests), 2)
            stats = self.finish(p)
        agent = [a for a in stats["agents"] if a["agent_id"] == "ops"][0]
        self.assertEqual((agent["requests"], agent["refused"], agent["input_tokens"],
                          agent["output_tokens"]), (2, 1, 40, 4))

    def test_bad_requests_change_nothing(self):
        with ModelStub([]) as stub:
            p = self.serve(stub)
            cases = [
                ("/agents/ops/v1/chat/completions", {"messages": [], "stream": True}, 422),
                ("/agents/ops/v1/chat/completions", {"messages": "hi"}, 422),
                ("/agents/nobody/v1/chat/completions", {"messages": []}, 404),
                ("/agents/ops/v1/completions", {"prompt": "x"}, 404),
            ]
            for path, body, status in cases:
                with self.subTest(path=path, body=body):
                    st, r = request(self.sock, "POST", path, body)
                    self.assertEqual(st, status, r)
                    self.assertIn("error", r)
            st, r = request(self.sock, "POST", "/agents/ops/v1/chat/completions", raw=b"{nope")
            self.assertEqual(st, 400, r)
            self.assertEqual(stub.requests, [])
            stats = self.finish(p)
        self.assertEqual(stats["totals"]["requests"], 0)

    def test_anthropic_agent_refused(self):
        with ModelStub([]) as stub:
            p = self.serve(stub, "anthropic")
            st, r = request(self.sock, "POST", "/agents/ops/v1/chat/completions",
                            {"messages": []})
            self.assertEqual((st, r["error"]), (422, "not_openai_compatible"), r)
            self.finish(p)
            self.assertEqual(stub.requests, [])


if __name__ == "__main__":
    unittest.main()
