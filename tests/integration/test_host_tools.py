"""agentd's host-inspection tools through the real tool path (agent socket, /tools/call, policy,
ledger): network_info read from /proc and getifaddrs, service_status and journal_logs that
refuse clearly where systemd is not running, safety_status without NixOS."""
import json
import os
import socket
import unittest

from osmtest import AgentdTestCase

SYSTEMD = os.path.exists("/run/systemd/system")


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

    @unittest.skipIf(SYSTEMD, "this host runs systemd (the refusal path is for hosts without)")
    def test_service_tools_refuse_without_systemd(self):
        for tool, args in (("service_status", {"unit": "ssh.service"}),
                           ("journal_logs", {"unit": "ssh.service", "lines": 5})):
            r = self.call(tool, args)
            self.assertEqual(r["status"], "error", r)
            self.assertIn("systemd_unavailable", json.dumps(r))

    def test_service_status_rejects_odd_unit_names(self):
        r = self.call("service_status", {"unit": "a b;rm"})
        self.assertEqual(r["status"], "error")
        self.assertIn("invalid_unit", json.dumps(r))

    def test_safety_status_reports_generations_or_their_absence(self):
        r = self.call("safety_status")
        self.assertEqual(r["status"], "ok")
        nixos = os.path.islink("/nix/var/nix/profiles/system")
        self.assertEqual(r["result"]["nixos"], nixos)
        st, log = self.req("GET", "/events/log?type=tool.call&limit=5")
        self.assertIn("safety_status", [json.loads(e["payload"])["tool"] for e in log])


if __name__ == "__main__":
    unittest.main()
