"""The real Claude Code CLI, driven by a scripted model endpoint on 127.0.0.1, uses our MCP
bridge as its only tools (--strict-mcp-config, its own Bash/Write/Edit disallowed). The model asks
for system_health, then for a destructive shell command: the first result must reach the model,
the second must be held for approval, and both calls must be in the ledger."""
import json
import os
import subprocess
import tempfile
import unittest

from mcptest import RUNTIME_NODE
from osmtest import Agentd, binary, ROOT

NODE_DIR = os.path.join(ROOT, "tests", "node")
CLAUDE = os.path.join(NODE_DIR, "node_modules", ".bin", "claude")


def start_stub(tmp, steps):
    script = os.path.join(tmp, "script.json")
    with open(script, "w") as f:
        json.dump(steps, f)
    log = os.path.join(tmp, "model-requests.jsonl")
    env = dict(os.environ, STUB_SCRIPT=script, STUB_LOG=log, PORT="0")
    node = RUNTIME_NODE if os.access(RUNTIME_NODE, os.X_OK) else "node"
    proc = subprocess.Popen([node, os.path.join(os.path.dirname(__file__), "stub-model.mjs")],
                            stdout=subprocess.PIPE, env=env, text=True)
    line = proc.stdout.readline()
    assert line.startswith("LISTENING "), line
    return proc, int(line.split()[1]), log


@unittest.skipUnless(os.path.exists(CLAUDE), "Claude Code CLI not installed in tests/node "
                     "(npm ci in tests/node installs the pinned version)")
class ClaudeCode(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="osmoda-claude-")
        self.agentd = Agentd().start()
        self.canary = os.path.join(self.tmp, "important")
        with open(self.canary, "w") as f:
            f.write("keep me")

    def tearDown(self):
        self.stub.kill()
        self.stub.wait()
        self.stub.stdout.close()
        self.agentd.cleanup()

    def test_health_reaches_model_and_destructive_shell_waits_for_approval(self):
        steps = [{"tool": "mcp__osmoda__system_health", "input": {}},
                 {"tool": "mcp__osmoda__shell_exec",
                  "input": {"command": "rm -rf " + self.canary}}]
        self.stub, port, log = start_stub(self.tmp, steps)
        mcp = {"mcpServers": {"osmoda": {"type": "stdio", "command": binary("osmoda-mcp-bridge"),
                                         "args": ["--run-dir", self.agentd.run_dir]}}}
        cfg = os.path.join(self.tmp, "mcp.json")
        with open(cfg, "w") as f:
            json.dump(mcp, f)
        home = os.path.join(self.tmp, "home")
        os.makedirs(home)
        env = dict(os.environ, HOME=home, ANTHROPIC_BASE_URL=f"http://127.0.0.1:{port}",
                   ANTHROPIC_API_KEY="sk-ant-stub-0000", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1")
        env.pop("ANTHROPIC_AUTH_TOKEN", None)
        run = subprocess.run(
            [CLAUDE, "-p", "Check the server's health, then clean up the important file.",
             "--output-format", "stream-json", "--verbose", "--model", "stub-model",
             "--mcp-config", cfg, "--strict-mcp-config",
             "--allowedTools", "mcp__osmoda", "--disallowedTools", "Bash,Write,Edit"],
            env=env, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
            cwd=self.tmp)
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        lines = [json.loads(l) for l in run.stdout.splitlines() if l.startswith("{")]
        init = next(l for l in lines if l.get("type") == "system")
        servers = {s["name"]: s["status"] for s in init.get("mcp_servers", [])}
        self.assertEqual(servers.get("osmoda"), "connected")
        self.assertNotIn("Bash", init.get("tools", []))

        with open(log) as f:
            requests = [json.loads(l) for l in f]
        results = []
        for body in requests:
            for m in body["messages"]:
                if m["role"] == "user" and isinstance(m["content"], list):
                    results += [b for b in m["content"] if b.get("type") == "tool_result"]
        texts = []
        for b in results:
            c = b["content"]
            texts.append(c if isinstance(c, str) else "".join(x.get("text", "") for x in c))
        # first: the real health summary reached the model
        self.assertTrue(any('"cpu_usage"' in t and '"status":"ok"' in t.replace(" ", "") for t in texts),
                        texts)
        # second: held for approval, not executed
        pending = [t for t in texts if "approval" in t and "pending" in t]
        self.assertTrue(pending, texts)
        self.assertTrue(os.path.exists(self.canary))

        st, calls = self.agentd.request("GET", "/events/log?type=tool.call&limit=50")
        by_tool = {json.loads(e["payload"])["tool"]: json.loads(e["payload"]) for e in calls}
        self.assertEqual(by_tool["system_health"]["decision"], "allow")
        self.assertEqual(by_tool["shell_exec"]["decision"], "approve")
        st, waiting = self.agentd.request("GET", "/approval/pending")
        self.assertEqual(st, 200)
        self.assertTrue(any(a.get("tool") == "shell_exec" for a in waiting), waiting)


if __name__ == "__main__":
    unittest.main()
