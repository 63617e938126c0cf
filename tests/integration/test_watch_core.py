"""osmoda-watch's skeleton against a real agentd: it refuses to start without agentd (no ledger,
no approver), serves watch.sock and watch-agent.sock, and its tools go through the executor
(validated, recorded as tool.call in agentd's ledger with actor watch)."""
import os
import subprocess
import tempfile
import unittest

from osmtest import Agentd, Watch, WatchTestCase, binary


class WatchStart(unittest.TestCase):
    def test_refuses_to_start_without_agentd(self):
        with tempfile.TemporaryDirectory() as tmp:
            p = subprocess.run([binary("osmoda-watch"), "--socket", os.path.join(tmp, "w.sock"),
                                "--agentd-socket", os.path.join(tmp, "agentd.sock"),
                                "--state-dir", tmp, "--service-backend", "process"],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 1)
            self.assertIn("refusing to start", p.stderr)
            self.assertFalse(os.path.exists(os.path.join(tmp, "watch-agent.sock")))

    def test_bad_flags_exit_2(self):
        for args in (["--service-backend", "upstart"], ["--check-interval", "0"], ["stray"]):
            p = subprocess.run([binary("osmoda-watch")] + args, capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 2, args)


class WatchCore(WatchTestCase):
    def test_health_names_the_backend(self):
        st, h = self.watch.request("GET", "/health")
        self.assertEqual(st, 200)
        self.assertEqual(h["status"], "ok")
        self.assertEqual(h["service_backend"], "process")

    def test_agent_socket_has_only_tools_call(self):
        from osmtest import request
        st, body = request(self.watch.agent_sock, "GET", "/health")
        self.assertEqual(st, 404, body)

    def test_a_bad_tool_call_is_refused_with_the_field(self):
        st, ans = self.watch.call("safe_switch_begin", {"plan": 7, "ttl_secs": 5,
                                                         "health_checks": []})
        self.assertEqual(st, 422, ans)
        self.assertIn("/plan", str(ans))

    def test_tool_calls_are_recorded_as_watch(self):
        st, ans = self.watch.call("watcher_list")
        types = [t for t, _ in self.watch.events("tool.")]
        self.assertIn("tool.call", types)
        self.assertIn("tool.result", types)

    def test_emergency_routes_are_not_tools(self):
        st, ans = self.watch.call("emergency_stop")
        self.assertEqual(st, 404, ans)


if __name__ == "__main__":
    unittest.main()
