"""The gateway's claude-code driver end to end: a chat message over /ws (the pinned `ws` client)
starts the real Claude Code CLI against the scripted model endpoint on 127.0.0.1; the model's
tool call goes through our MCP bridge to a real agentd, and the client gets the tool call, its
result, the streamed text and done, intact; the call is in agentd's ledger."""
import json
import os
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


if __name__ == "__main__":
    unittest.main()
