"""osmoda-gateway's chat over /ws with a real WebSocket client (the pinned `ws` package): the
upgrade's authentication, the per-token socket limit, heartbeat and idle close, frame and UTF-8
limits, backpressure, one turn at a time, abort, and the message when no driver is configured.
Turns run a stand-in for the claude CLI's stream-json (claude-standin.py) where a test needs to
control timing and volume; the real CLI is driven in tests/e2e/test_gateway_chat.py."""
import json
import os
import shutil
import stat
import tempfile
import time
import unittest
from unittest import mock

from osmtest import Agentd, Gateway, wait_for
from wstest import HAVE_WS, NODE, Ws

STANDIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "claude-standin.py")


@unittest.skipUnless(NODE and HAVE_WS, "the ws package is not installed in tests/node "
                     "(scripts/node-deps.sh installs the pinned version)")
class GatewayChat(unittest.TestCase):
    args = ()
    env = {}

    def setUp(self):
        self.clients = []
        self.gw = Gateway(args=self.args)
        with mock.patch.dict(os.environ, self.env):
            self.gw.start()
        self.url = "ws://127.0.0.1:%d/ws" % self.gw.port

    def tearDown(self):
        for c in self.clients:
            c.stop()
        alive = self.gw.alive()
        report = self.gw.sanitizer_errors()
        self.gw.cleanup()
        self.assertTrue(alive, "osmoda-gateway died during the test")
        self.assertEqual(report, "")

    def client(self, url=None, bearer=True, headers=None, **kw):
        h = dict(headers or {})
        if bearer:
            h.setdefault("Authorization", "Bearer " + self.gw.token)
        c = Ws(url or self.url, h, **kw)
        self.clients.append(c)
        return c

    def stats(self):
        st, _, b = self.gw.http("GET", "/chat/stats")
        self.assertEqual(st, 200, b)
        return b


class Auth(GatewayChat):
    def refused(self, c):
        e = c.ended()
        self.assertEqual(e["ev"], "refused", c.seen)
        return e

    def test_no_token_bad_token_bad_cookie_are_401_before_the_upgrade(self):
        cases = [self.client(bearer=False),
                 self.client(headers={"Authorization": "Bearer " + self.gw.token[:-1] + "x"}),
                 self.client(bearer=False, headers={"Cookie": "osmoda_session=" + "a" * 64}),
                 self.client(url=self.url + "?token=" + "0" * 64, bearer=False)]
        for c in cases:
            e = self.refused(c)
            self.assertEqual(e["status"], 401, e)
            self.assertEqual(json.loads(e["body"])["code"], "unauthorized")
        self.assertEqual(self.stats()["ws"]["opened"], 0)

    def test_token_in_query_and_dashboard_cookie_open(self):
        self.client(url=self.url + "?token=" + self.gw.token, bearer=False).opened()
        st, h, b = self.gw.http("POST", "/auth/login", {"token": self.gw.token}, auth=False)
        self.assertEqual(st, 200, b)
        cookie = h["set-cookie"].split(";")[0]
        origin = "http://127.0.0.1:%d" % self.gw.port
        self.client(bearer=False, headers={"Cookie": cookie, "Origin": origin}).opened()
        # the same cookie from another origin (a page on another local port) is refused
        e = self.refused(self.client(bearer=False, headers={
            "Cookie": cookie, "Origin": "http://127.0.0.1:1"}))
        self.assertEqual(e["status"], 403)

    def test_fourth_socket_per_token_is_429_too_many_connections(self):
        first = [self.client() for _ in range(3)]
        for c in first:
            c.opened()
        e = self.refused(self.client())
        self.assertEqual(e["status"], 429)
        self.assertEqual(e["headers"].get("x-auth-reason"), "too_many_connections")
        self.assertEqual(json.loads(e["body"])["code"], "rate_limited")
        # a closed socket frees its place
        first[0].cmd(cmd="close")
        self.assertEqual(first[0].ended()["ev"], "close")
        wait_for(lambda: self.stats()["sockets"] == 2, "the closed socket to be forgotten")
        self.client().opened()

    def test_plain_get_without_upgrade_is_400(self):
        st, _, b = self.gw.http("GET", "/ws")
        self.assertEqual(st, 400, b)
        self.assertEqual(b["code"], "validation_failed")


class Heartbeat(GatewayChat):
    args = ("--ws-ping-s", "1", "--ws-idle-s", "4")

    def test_pings_arrive_and_an_answering_client_stays_until_idle(self):
        c = self.client()
        c.opened()
        t0 = time.monotonic()
        for _ in range(2):
            c.until(lambda e: e["ev"] == "ping", timeout=10)
        c.send({"type": "chat"})  # a message (an invalid one) resets the idle clock
        c.message("error")
        e = c.ended(timeout=30)
        self.assertEqual((e["ev"], e["code"], e["reason"]), ("close", 4003, "idle"), c.seen)
        # it was the idle close, not a missed pong: at least 2 pings and the idle time passed
        self.assertGreaterEqual(sum(1 for x in c.seen if x["ev"] == "ping"), 3)
        self.assertGreaterEqual(time.monotonic() - t0, 4)
        self.assertEqual(self.stats()["ws"]["closed_idle"], 1)

    def test_a_client_that_never_answers_pings_is_closed(self):
        c = self.client(auto_pong=False)
        c.opened()
        e = c.ended(timeout=30)
        self.assertEqual((e["ev"], e["code"], e["reason"]), ("close", 4002, "no pong"), c.seen)


class Frames(GatewayChat):
    def test_frame_over_64k_is_1009(self):
        c = self.client()
        c.opened()
        c.send("x" * (64 * 1024 + 1))
        e = c.ended()
        self.assertEqual((e["ev"], e["code"]), ("close", 1009), c.seen)

    def test_invalid_utf8_text_is_1007(self):
        c = self.client()
        c.opened()
        c.cmd(cmd="send_hex", hex="7b22c328a1227d")
        e = c.ended()
        self.assertEqual((e["ev"], e["code"]), ("close", 1007), c.seen)

    def test_bad_messages_get_errors_and_the_socket_stays(self):
        c = self.client()
        c.opened()
        for bad, code in (("not json", "invalid_json"), ({"type": "dance"}, "unknown_type"),
                          ({"type": "chat"}, "invalid_message"),
                          ({"type": "chat", "text": "hi", "sessionKey": "a b"},
                           "invalid_message"),
                          ({"type": "abort"}, "no_turn")):
            c.send(bad)
            self.assertEqual(c.message("error")["code"], code, bad)
        self.assertEqual(self.stats()["sockets"], 1)


class NoDriver(GatewayChat):
    env = {"OSMODA_GATEWAY_CLAUDE": "", "OSMODA_GATEWAY_DRIVER": ""}

    def test_chat_without_a_driver_says_how_to_configure_one(self):
        c = self.client()
        c.opened()
        c.send({"type": "chat", "text": "hello"})
        err = c.message("error")
        self.assertEqual(err["code"], "no_driver")
        for words in ("claude-code", "/config/credentials", "agents.json", "runtime \"anthropic\"",
                      os.path.join(self.gw.state_dir, "config")):
            self.assertIn(words, err["text"])
        c.message("done")


class Turns(GatewayChat):
    def setUp(self):
        self.tmp_pid = os.path.join(tempfile.mkdtemp(prefix="osmoda-standin-"), "pid")
        self.env = {"OSMODA_GATEWAY_CLAUDE": STANDIN, "ANTHROPIC_API_KEY": "sk-ant-test-secret-0123",
                    "STANDIN_PID_FILE": self.tmp_pid}
        super().setUp()

    def tearDown(self):
        super().tearDown()
        shutil.rmtree(os.path.dirname(self.tmp_pid), ignore_errors=True)

    def running_pid(self):
        def pid():
            try:
                with open(self.tmp_pid) as f:
                    return int(f.read())
            except (OSError, ValueError):
                return None
        wait_for(pid, "the stand-in to start")
        return pid()

    def test_launch_contract_and_resume_per_session(self):
        c = self.client()
        c.opened()
        c.send({"type": "chat", "text": "echo"})
        got = json.loads(c.message("text")["text"])
        done = c.message("done")
        self.assertEqual(done.get("sessionId"), "standin-session-1")
        self.assertIsNone(got["resume"])
        self.assertTrue(got["strict"])
        self.assertEqual(got["allowed"], "mcp__osmoda__*")
        for tool in ("Bash", "Write", "Edit", "WebFetch"):
            self.assertIn(tool, got["disallowed"].split(","))
        self.assertTrue(got["api_key_given"])
        self.assertFalse(got["secret_in_argv"])
        self.assertNotIn("sk-ant-test-secret-0123", self.gw.text())
        mcp = got["mcp_config"]
        self.assertEqual(stat.S_IMODE(os.stat(mcp).st_mode), 0o600)
        with open(mcp) as f:
            server = json.load(f)["mcpServers"]["osmoda"]
        self.assertTrue(server["command"].endswith("osmoda-mcp-bridge"), server)
        self.assertTrue(os.access(server["command"], os.X_OK), server)
        self.assertEqual(server["args"], ["--run-dir", self.gw.run_dir])
        # the next turn of this client's session resumes; another client's starts afresh
        c.send({"type": "chat", "text": "echo"})
        self.assertEqual(json.loads(c.message("text")["text"])["resume"], "standin-session-1")
        c.message("done")
        other = self.client()
        other.opened()
        other.send({"type": "chat", "text": "echo"})
        self.assertIsNone(json.loads(other.message("text")["text"])["resume"])

    def test_one_turn_at_a_time_then_abort_ends_the_child(self):
        c = self.client()
        c.opened()
        c.send({"type": "chat", "text": "sleep", "sessionKey": "ops"})
        pid = self.running_pid()
        c.send({"type": "chat", "text": "echo", "sessionKey": "ops"})
        self.assertEqual(c.message("error")["code"], "busy")
        # the same session from another client is busy too
        other = self.client()
        other.opened()
        other.send({"type": "chat", "text": "echo", "sessionKey": "ops"})
        self.assertEqual(other.message("error")["code"], "busy")
        c.send({"type": "abort"})
        self.assertEqual(c.message("error")["code"], "aborted")
        c.message("done")
        wait_for(lambda: not os.path.exists("/proc/%d" % pid), "the child to be gone")
        self.assertEqual(self.stats()["turns_aborted"], 1)
        # the session takes a new turn
        c.send({"type": "chat", "text": "echo", "sessionKey": "ops"})
        c.message("text")
        c.message("done")

    def test_failures_of_the_cli_are_errors_then_done(self):
        c = self.client()
        c.opened()
        c.send({"type": "chat", "text": "fail"})
        err = c.message("error")
        self.assertEqual((err["code"], err["text"]),
                         ("cli_error", "the model endpoint refused the key"))
        c.message("done")
        c.send({"type": "chat", "text": "apierror"})
        err = c.message("error")
        self.assertEqual((err["code"], err["text"]), ("http_401", "Invalid API key"))
        c.message("done")
        texts = [e for e in c.seen if e["ev"] == "message" and '"text"' in e["data"]
                 and json.loads(e["data"])["type"] == "text"]
        self.assertEqual(texts, [])

    def test_closing_the_socket_ends_its_turn(self):
        c = self.client()
        c.opened()
        c.send({"type": "chat", "text": "sleep"})
        pid = self.running_pid()
        c.cmd(cmd="close")
        c.ended()
        wait_for(lambda: not os.path.exists("/proc/%d" % pid), "the child to be gone")

    def test_backpressure_pauses_drops_and_resumes(self):
        c = self.client()
        c.opened()
        c.cmd(cmd="pause")
        c.send({"type": "chat", "text": "flood 2000"})  # 32 MiB of text messages
        wait_for(lambda: self.stats()["ws"]["dropped_paused"] > 0, "messages to be dropped",
                 timeout=120)
        wait_for(lambda: self.stats()["turns_running"] == 0, "the turn to end", timeout=120)
        dropped = self.stats()["ws"]["dropped_paused"]
        c.cmd(cmd="resume")
        c.message("backpressure_pause")
        # the end of the turn is not dropped: it comes after the pause, before the resume
        c.message("done")
        resume = c.message("backpressure_resume")
        self.assertEqual(resume["dropped"], dropped)
        texts = [json.loads(e["data"]) for e in c.seen if e["ev"] == "message"]
        received = sum(1 for t in texts if t["type"] == "text")
        self.assertGreater(received, 0)
        self.assertLess(received, 2000)
        # every text was received or counted as dropped
        self.assertEqual(received + dropped, 2000)
        self.assertEqual(self.stats()["sockets"], 1)


@unittest.skipUnless(NODE and HAVE_WS, "the ws package is not installed in tests/node")
class AgentsJson(unittest.TestCase):
    """The agent and its credential come from agents.json and the credential store (the
    /config routes), not from the gateway's environment."""

    SECRET = "sk-ant-api03-agents-json-secret-4242"

    def setUp(self):
        self.agentd = Agentd().start()
        self.gw = Gateway(self.agentd)
        with mock.patch.dict(os.environ, {"CLAUDE_PATH": STANDIN, "OSMODA_GATEWAY_CLAUDE": "",
                                          "OSMODA_GATEWAY_DRIVER": "", "ANTHROPIC_API_KEY": ""}):
            self.gw.start()
        self.client = Ws("ws://127.0.0.1:%d/ws" % self.gw.port,
                         {"Authorization": "Bearer " + self.gw.token})

    def tearDown(self):
        self.client.stop()
        alive = self.gw.alive()
        report = self.gw.sanitizer_errors()
        self.gw.stop()
        self.agentd.cleanup()
        self.assertTrue(alive, "osmoda-gateway died during the test")
        self.assertEqual(report, "")

    def test_the_configured_agent_answers_with_its_credential_and_model(self):
        st, _, b = self.gw.http("POST", "/config/credentials", {
            "label": "ops key", "provider": "anthropic", "type": "api_key", "secret": self.SECRET})
        self.assertEqual(st, 201, b)
        cred = b["credential"]["id"]
        agents = {"agents": [
            {"id": "ops", "runtime": "claude-code", "credential_id": cred, "model": "model-ops",
             "enabled": True, "channels": ["web"]},
            {"id": "other", "runtime": "claude-code", "credential_id": cred,
             "model": "model-other", "enabled": True, "channels": []}]}
        st, _, b = self.gw.http("PUT", "/config/agents", agents)
        self.assertEqual(st, 200, b)
        c = self.client
        c.opened()
        c.send({"type": "chat", "text": "echo"})
        got = json.loads(c.message("text")["text"])
        c.message("done")
        self.assertEqual(got["model"], "model-ops")
        self.assertTrue(got["api_key_given"])
        self.assertFalse(got["secret_in_argv"])
        # an agent named explicitly, and one that does not exist
        c.send({"type": "chat", "text": "echo", "agentId": "other"})
        self.assertEqual(json.loads(c.message("text")["text"])["model"], "model-other")
        c.message("done")
        c.send({"type": "chat", "text": "echo", "agentId": "nobody"})
        self.assertEqual(c.message("error")["code"], "unknown_agent")
        c.message("done")
        self.assertNotIn(self.SECRET, self.gw.text())


if __name__ == "__main__":
    unittest.main()
