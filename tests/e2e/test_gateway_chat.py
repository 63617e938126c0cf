"""The gateway's drivers end to end against the scripted model endpoint on 127.0.0.1 and a real
agentd. claude-code: a chat message over /ws (the pinned `ws` client) starts the real Claude Code
CLI; the model's tool call goes through our MCP bridge to agentd, and the client gets the tool
call, its result, the streamed text and done, intact; the call is in agentd's ledger. anthropic:
the same conversation over the Messages API directly, the tool run on agentd's agent socket, and
the next turn carrying the conversation. openai: the same against an OpenAI-compatible server
(stub-openai.mjs, a stand-in for a local llama.cpp or Ollama server)."""
import json
import os
import subprocess
import tempfile
import unittest
from unittest import mock

from osmtest import Agentd, Gateway, ROOT
from test_claude_code import CLAUDE, start_stub
from wstest import HAVE_WS, NODE, Ws


@unittest.skipUnless(os.path.exists(CLAUDE) and NODE and HAVE_WS,
                     "Claude Code CLI or ws not installed in tests/node (scripts/node-deps.sh "
                     "installs the pinned versions)")
class GatewayClaudeCode(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="osmoda-gwchat-")
        self.agentd = Agentd().start()
        self.stub = None
        self.client = None
        self.gw = None

    def tearDown(self):
        if self.client:
            self.client.stop()
        alive = self.gw.alive() if self.gw else True
        report = self.gw.sanitizer_errors() if self.gw else ""
        if self.gw:
            self.gw.stop()
        if self.stub:
            self.stub.kill()
            self.stub.wait()
            self.stub.stdout.close()
        self.agentd.cleanup()
        self.assertTrue(alive, "osmoda-gateway died during the test")
        self.assertEqual(report, "")

    def test_chat_runs_a_tool_through_the_bridge_and_streams_the_answer(self):
        self.stub, port, log = start_stub(self.tmp, [
            {"tool": "mcp__osmoda__system_health", "input": {}}])
        home = os.path.join(self.tmp, "home")
        os.makedirs(home)
        env = {"OSMODA_GATEWAY_CLAUDE": CLAUDE, "OSMODA_GATEWAY_MODEL": "stub-model",
               "ANTHROPIC_API_KEY": "sk-ant-stub-0000", "HOME": home,
               "ANTHROPIC_BASE_URL": "http://127.0.0.1:%d" % port,
               "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
        self.gw = Gateway(self.agentd)
        with mock.patch.dict(os.environ, env):
            os.environ.pop("ANTHROPIC_AUTH_TOKEN", None)
            self.gw.start()
        self.client = Ws("ws://127.0.0.1:%d/ws" % self.gw.port,
                         {"Authorization": "Bearer " + self.gw.token})
        c = self.client
        c.opened()
        c.send({"type": "chat", "text": "How healthy is this server?"})
        done = c.message("done", timeout=240)
        msgs = [json.loads(e["data"]) for e in c.seen if e["ev"] == "message"]
        errors = [m for m in msgs if m["type"] == "error"]
        self.assertEqual(errors, [], self.gw.text()[-3000:])
        uses = [m for m in msgs if m["type"] == "tool_use"]
        self.assertEqual([u["name"] for u in uses], ["system_health"], msgs)
        results = [m for m in msgs if m["type"] == "tool_result"]
        self.assertEqual(len(results), 1, msgs)
        self.assertEqual(results[0]["id"], uses[0]["id"])
        self.assertFalse(results[0]["is_error"])
        texts = [m["text"] for m in msgs if m["type"] == "text"]
        # the model's final text, whole and once: it quotes the health the bridge returned
        self.assertEqual(len(texts), 1, texts)
        self.assertTrue(texts[0].startswith("FINAL ANSWER: "), texts)
        self.assertIn("cpu_usage", texts[0])
        self.assertTrue(done.get("sessionId"), done)
        self.assertEqual(msgs[-1]["type"], "done")

        st, calls = self.agentd.request("GET", "/events/log?type=tool.call&limit=50")
        tools = [json.loads(e["payload"])["tool"] for e in calls]
        self.assertIn("system_health", tools)
        # the provider key went to the child's environment only
        self.assertNotIn("sk-ant-stub-0000", self.gw.text())



class StubbedGateway(unittest.TestCase):
    """A gateway beside a real agentd, its driver pointed at a scripted model server."""

    def tearDown(self):
        self.client.stop()
        alive = self.gw.alive()
        report = self.gw.sanitizer_errors()
        self.gw.stop()
        self.stub.kill()
        self.stub.wait()
        self.stub.stdout.close()
        self.agentd.cleanup()
        self.assertTrue(alive, "osmoda-gateway died during the test")
        self.assertEqual(report, "")

    def turn(self, text):
        c = self.client
        start = len(c.seen)
        c.send({"type": "chat", "text": text})
        done = c.message("done", timeout=120)
        return done, [json.loads(e["data"]) for e in c.seen[start:] if e["ev"] == "message"]


@unittest.skipUnless(NODE and HAVE_WS, "ws not installed in tests/node (scripts/node-deps.sh)")
class GatewayAnthropic(StubbedGateway):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="osmoda-gwanth-")
        self.agentd = Agentd().start()
        self.stub, port, self.log = start_stub(self.tmp, [
            {"tool": "system_health", "input": {}}])
        env = {"OSMODA_GATEWAY_DRIVER": "anthropic", "OSMODA_GATEWAY_MODEL": "stub-model",
               "ANTHROPIC_API_KEY": "sk-ant-stub-1111",
               "ANTHROPIC_BASE_URL": "http://127.0.0.1:%d" % port}
        self.gw = Gateway(self.agentd)
        with mock.patch.dict(os.environ, env):
            self.gw.start()
        self.client = Ws("ws://127.0.0.1:%d/ws" % self.gw.port,
                         {"Authorization": "Bearer " + self.gw.token})

    def test_tool_call_on_agentd_streamed_text_and_the_conversation_kept(self):
        self.client.opened()
        done, msgs = self.turn("How healthy is this server?")
        self.assertEqual([m for m in msgs if m["type"] == "error"], [], msgs)
        uses = [m for m in msgs if m["type"] == "tool_use"]
        self.assertEqual([(u["name"], u["input"]) for u in uses], [("system_health", {})])
        results = [m for m in msgs if m["type"] == "tool_result"]
        # decision is the policy's, status the daemon's answer
        self.assertEqual([(r["id"], r["is_error"], r["decision"], r["status"]) for r in results],
                         [(uses[0]["id"], False, "allow", "ok")])
        text = "".join(m["text"] for m in msgs if m["type"] == "text")
        self.assertTrue(text.startswith("FINAL ANSWER: "), text)
        self.assertIn("cpu_usage", text)
        self.assertTrue(done["sessionId"].startswith("anthropic-"), done)

        st, calls = self.agentd.request("GET", "/events/log?type=tool.call&limit=50")
        self.assertIn("system_health", [json.loads(e["payload"])["tool"] for e in calls])
        # the LLM proxy counted the turn's two model requests and their tokens
        st, _, metrics = self.gw.http("GET", "/metrics")
        self.assertEqual(st, 200)
        rows = dict(line.rsplit(" ", 1) for line in metrics.decode().splitlines()
                    if line.startswith("osmoda_llm_"))
        requests = [int(v) for k, v in rows.items() if k.startswith("osmoda_llm_requests_total{")]
        self.assertEqual(requests, [2], rows)
        self.assertTrue(any(int(v) > 0 for k, v in rows.items()
                            if k.startswith("osmoda_llm_output_tokens_total{")), rows)
        st, _, status = self.gw.http("GET", "/api/v1/status")  # what the dashboard shows
        self.assertEqual(status["llm"]["totals"]["requests"], 2, status)

        done2, msgs2 = self.turn("And now?")
        self.assertEqual(done2["sessionId"], done["sessionId"])
        with open(self.log) as f:
            requests = [json.loads(l) for l in f]
        self.assertEqual(len(requests), 3)
        tools = {t["name"] for t in requests[0]["tools"]}
        self.assertIn("system_health", tools)
        self.assertNotIn("approval_approve", tools)  # never offered to an agent
        last = requests[-1]["messages"]
        self.assertEqual([m["role"] for m in last],
                         ["user", "assistant", "user", "assistant", "user"])
        self.assertEqual(last[0]["content"], "How healthy is this server?")
        self.assertEqual(last[-1]["content"], "And now?")
        self.assertNotIn("sk-ant-stub-1111", self.gw.text())



def start_openai_stub(tmp, steps):
    script = os.path.join(tmp, "openai-script.json")
    with open(script, "w") as f:
        json.dump(steps, f)
    log = os.path.join(tmp, "openai-requests.jsonl")
    env = dict(os.environ, STUB_SCRIPT=script, STUB_LOG=log, PORT="0")
    proc = subprocess.Popen([NODE, os.path.join(os.path.dirname(__file__), "stub-openai.mjs")],
                            stdout=subprocess.PIPE, env=env, text=True)
    line = proc.stdout.readline()
    assert line.startswith("LISTENING "), line
    return proc, int(line.split()[1]), log


@unittest.skipUnless(NODE and HAVE_WS, "ws not installed in tests/node (scripts/node-deps.sh)")
class OpenAIGateway(StubbedGateway):
    steps = []

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="osmoda-gwoai-")
        self.agentd = Agentd().start()
        self.stub, port, self.log = start_openai_stub(self.tmp, self.steps)
        env = {"OSMODA_GATEWAY_DRIVER": "openai", "OSMODA_GATEWAY_MODEL": "local-model",
               "OPENAI_API_KEY": "sk-local-2222", "OPENAI_BASE_URL": "http://127.0.0.1:%d/v1" % port}
        self.gw = Gateway(self.agentd)
        with mock.patch.dict(os.environ, env):
            self.gw.start()
        self.client = Ws("ws://127.0.0.1:%d/ws" % self.gw.port,
                         {"Authorization": "Bearer " + self.gw.token})



@unittest.skipUnless(NODE and HAVE_WS, "ws not installed in tests/node (scripts/node-deps.sh)")
class GatewayOpenAI(OpenAIGateway):
    steps = [{"tool": "system_health", "input": {}}]

    def test_tool_call_on_agentd_streamed_text_and_the_conversation_kept(self):
        self.client.opened()
        done, msgs = self.turn("How healthy is this server?")
        self.assertEqual([m for m in msgs if m["type"] == "error"], [], msgs)
        uses = [m for m in msgs if m["type"] == "tool_use"]
        self.assertEqual([(u["name"], u["input"], u["id"]) for u in uses],
                         [("system_health", {}, "call_0")])
        results = [m for m in msgs if m["type"] == "tool_result"]
        self.assertEqual([(r["id"], r["is_error"], r["decision"], r["status"]) for r in results],
                         [("call_0", False, "allow", "ok")])
        chunks = [m["text"] for m in msgs if m["type"] == "text"]
        self.assertEqual(len(chunks), 2, chunks)  # streamed as the server sent it
        self.assertTrue("".join(chunks).startswith("FINAL ANSWER: "), chunks)
        self.assertIn("cpu_usage", "".join(chunks))
        self.assertTrue(done["sessionId"].startswith("openai-"), done)
        st, calls = self.agentd.request("GET", "/events/log?type=tool.call&limit=50")
        self.assertIn("system_health", [json.loads(e["payload"])["tool"] for e in calls])

        done2, _ = self.turn("And now?")
        self.assertEqual(done2["sessionId"], done["sessionId"])
        with open(self.log) as f:
            requests = [json.loads(l) for l in f]
        self.assertEqual(len(requests), 3)
        self.assertEqual({r["authorization"] for r in requests}, {"Bearer sk-local-2222"})
        body = requests[-1]["body"]
        self.assertEqual(body["model"], "local-model")
        self.assertIn("system_health", {t["function"]["name"] for t in body["tools"]})
        self.assertEqual([m["role"] for m in body["messages"]],
                         ["system", "user", "assistant", "tool", "assistant", "user"])
        self.assertEqual(body["messages"][2]["tool_calls"][0]["function"]["arguments"], "{}")
        self.assertEqual(body["messages"][-1]["content"], "And now?")
        self.assertNotIn("sk-local-2222", self.gw.text())



@unittest.skipUnless(NODE and HAVE_WS, "ws not installed in tests/node (scripts/node-deps.sh)")
class GatewayOpenAIAbort(OpenAIGateway):
    steps = [{"hang": True}]

    def test_abort_ends_a_streaming_answer_and_the_session_takes_the_next_turn(self):
        c = self.client
        c.opened()
        c.send({"type": "chat", "text": "Think forever"})
        self.assertEqual(c.message("text")["text"], "thinking...")  # streamed before the end
        c.send({"type": "abort"})
        err = c.message("error")
        self.assertEqual(err["code"], "aborted")
        c.message("done")
        st, _, stats = self.gw.http("GET", "/chat/stats")
        self.assertEqual((stats["turns_running"], stats["turns_aborted"]), (0, 1))
        c.send({"type": "chat", "text": "Again"})  # not busy: the aborted turn is over
        self.assertEqual(c.message("text")["text"], "thinking...")
        c.send({"type": "abort"})
        c.message("done")


if __name__ == "__main__":
    unittest.main()
