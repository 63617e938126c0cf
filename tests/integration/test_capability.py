"""Capability tokens: minted only on the operator socket, Ed25519-signed with a key that survives
restarts, and enforced: a tool call that presents a token may use exactly the tools it names."""
import copy
import json
import os
import time
import unittest

from osmtest import Agentd, AgentdTestCase


class Capability(AgentdTestCase):
    def mint(self, permissions, granted_to=None, ttl=None):
        body = {"granted_to": granted_to or "uid:%d" % os.getuid(), "permissions": permissions}
        if ttl is not None:
            body["ttl_secs"] = ttl
        st, tok = self.req("POST", "/capability/mint", body)
        self.assertEqual(st, 200, tok)
        return tok

    def verify(self, token):
        st, r = self.req("POST", "/capability/verify", {"token": token})
        self.assertEqual(st, 200, r)
        return r

    def test_mint_shape_and_ledger(self):
        tok = self.mint(["system_health", "class:read"])
        for k in ("id", "granted_to", "permissions", "created_at", "expires_at", "signature"):
            self.assertIn(k, tok)
        self.assertEqual(len(tok["signature"]), 128)  # Ed25519, hex
        self.assertEqual(self.verify(tok), {"valid": True})
        st, rows = self.req("GET", "/events/log?type=capability.mint")
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["actor"], "uid:%d" % os.getuid())
        self.assertNotIn(tok["signature"], rows[0]["payload"])

    def test_token_limits_the_call_to_its_permissions(self):
        tok = self.mint(["system_health"])
        st, r = self.agentd.call_tool("system_health", capability=tok)
        self.assertEqual((st, r["status"]), (200, "ok"), r)
        # shell_exec would be allowed in ring 2 without a token; with this one it is not
        st, r = self.agentd.call_tool("shell_exec", {"command": "echo hi"}, capability=tok)
        self.assertEqual((st, r["status"]), (403, "denied"), r)
        self.assertEqual(r["result"]["rule"], "capability")
        st, r = self.agentd.call_tool("memory_store", {"summary": "x"}, capability=tok)
        self.assertEqual((st, r["status"]), (403, "denied"), r)
        st, rows = self.req("GET", "/events/log?type=memory.store")
        self.assertEqual(rows, [])
        # class permissions
        tok = self.mint(["class:read"])
        st, r = self.agentd.call_tool("system_discover", capability=tok)
        self.assertEqual(r["status"], "ok", r)
        st, r = self.agentd.call_tool("incident_create", {"name": "x"}, capability=tok)
        self.assertEqual(r["status"], "denied", r)

    def test_tampered_expired_and_foreign_tokens_refused(self):
        tok = self.mint(["system_health"])
        bad = copy.deepcopy(tok)
        bad["permissions"].append("shell_exec")
        self.assertEqual(self.verify(bad), {"valid": False, "reason": "signature mismatch"})
        st, r = self.agentd.call_tool("shell_exec", {"command": "true"}, capability=bad)
        self.assertEqual(r["status"], "denied", r)
        bad = dict(tok, expires_at="2099-01-01T00:00:00.000Z")
        self.assertFalse(self.verify(bad)["valid"])
        bad = dict(tok, signature="00" * 64)
        self.assertFalse(self.verify(bad)["valid"])
        self.assertFalse(self.verify({"id": "x"})["valid"])
        short = self.mint(["system_health"], ttl=1)
        time.sleep(1.2)
        self.assertEqual(self.verify(short), {"valid": False, "reason": "token expired"})
        st, r = self.agentd.call_tool("system_health", capability=short)
        self.assertEqual(r["status"], "denied")
        other = self.mint(["system_health"], granted_to="uid:%d" % (os.getuid() + 4242))
        st, r = self.agentd.call_tool("system_health", capability=other)
        self.assertEqual(r["status"], "denied")
        self.assertIn("another uid", r["message"])

    def test_mint_refused_on_agent_socket_and_bad_input(self):
        st, r = self.agentd.agent_request("POST", "/capability/mint",
                                          {"granted_to": "me", "permissions": ["shell_exec"]})
        self.assertEqual(st, 403)
        st, r = self.req("POST", "/capability/mint", {"granted_to": "a|b", "permissions": []})
        self.assertEqual(st, 422)
        st, r = self.req("POST", "/capability/mint", {"granted_to": "a",
                                                      "permissions": ["no_such_tool"]})
        self.assertEqual(st, 422)
        st, r = self.req("POST", "/capability/mint", {"granted_to": "a",
                                                      "permissions": ["class:godmode"]})
        self.assertEqual(st, 422)

    def test_key_file_is_private(self):
        path = os.path.join(self.agentd.state_dir, "capability.key")
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)


class CapabilityRestart(unittest.TestCase):
    def test_token_survives_restart_and_key_others_can_read_refused(self):
        a = Agentd().start()
        try:
            st, tok = a.request("POST", "/capability/mint",
                                {"granted_to": "uid:%d" % os.getuid(),
                                 "permissions": ["system_health"]})
            self.assertEqual(st, 200, tok)
            a.stop()
            a.start()
            st, r = a.request("POST", "/capability/verify", {"token": tok})
            self.assertEqual(r, {"valid": True})
            st, r = a.call_tool("system_health", capability=tok)
            self.assertEqual(r["status"], "ok", r)
            a.stop()
            os.chmod(os.path.join(a.state_dir, "capability.key"), 0o644)
            a.start(wait=False)
            self.assertEqual(a.proc.wait(20), 1)
            self.assertIn("capability.key", a.log())
        finally:
            a.cleanup()


if __name__ == "__main__":
    unittest.main()
