"""agentd's host-inspection tool through the real tool path (agent socket, /tools/call, policy,
ledger): network_info read from /proc and getifaddrs. service_status, journal_logs and
safety_status are osmoda-watch's (test_watch_process.py and the safety tests)."""
import json
import socket
import unittest

from osmtest import AgentdTestCase


class HostTools(AgentdTestCase):
    def call(self, tool, args=None):
        st, r = self.agentd.call_tool(tool, args or {})
        self.assertEqual(st, 200, r)
        return r

    def test_network_info_sees_loopback_and_our_listener(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        try:
            r = self.call("network_info", {"detail": "all"})
        finally:
            s.close()
        self.assertEqual(r["status"], "ok")
        res = r["result"]
        lo = [i for i in res["interfaces"] if i["name"] == "lo"]
        self.assertTrue(lo and lo[0]["loopback"] and lo[0]["up"])
        self.assertIn({"family": "inet", "address": "127.0.0.1"}, lo[0]["addresses"])
        self.assertIn({"protocol": "tcp", "address": "127.0.0.1", "port": port}, res["ports"])
        self.assertIsInstance(res["dns"]["nameservers"], list)
        self.assertIsInstance(res["routes"], list)
        only = self.call("network_info", {"detail": "ports"})["result"]
        self.assertEqual(list(only), ["ports"])

    def test_network_info_bad_detail_is_refused_by_schema(self):
        st, r = self.agentd.call_tool("network_info", {"detail": "everything"})
        self.assertEqual(st, 422, r)
        self.assertIn("detail", json.dumps(r))


if __name__ == "__main__":
    unittest.main()
