"""Capability tokens end to end: a token minted by a real agentd (operator socket) travels through
the real bridge over stdio (as _meta.capability or the capability_token argument, as the object
or its JSON text) to agentd's /tools/call, which runs exactly what it permits and refuses forged,
edited and expired tokens. A token that is not one never leaves the bridge."""
import calendar
import copy
import json
import os
import time
import unittest

import mcptest
import osmtest


def epoch(ts):
    """'%Y-%m-%dT%H:%M:%S.mmmZ' (UTC) as seconds since the epoch."""
    base, ms = ts.rstrip("Z").split(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + int(ms) / 1000


class CapabilityThroughBridge(unittest.TestCase):
    def setUp(self):
        self.agentd = osmtest.Agentd().start()
        self.bridge = mcptest.StdioBridge(self.agentd.run_dir).start()
        self.bridge.initialize()
        self.next_id = 100

    def tearDown(self):
        rc, err = self.bridge.close()
        alive = self.agentd.alive()
        report = self.agentd.sanitizer_errors()
        self.agentd.cleanup()
        self.assertEqual(rc, 0, err[-2000:])
        self.assertEqual(mcptest.sanitizer_report(err), "")
        self.assertTrue(alive, "agentd died")
        self.assertEqual(report, "")

    def mint(self, permissions, ttl=None):
        body = {"granted_to": "uid:%d" % os.getuid(), "permissions": permissions}
        if ttl is not None:
            body["ttl_secs"] = ttl
        st, tok = self.agentd.request("POST", "/capability/mint", body)
        self.assertEqual(st, 200, tok)
        return tok

    def call(self, tool, arguments=None, meta_cap=None, arg_cap=None):
        """tools/call through the bridge; returns the CallToolResult."""
        args = dict(arguments or {})
        if arg_cap is not None:
            args["capability_token"] = arg_cap
        self.next_id += 1
        r = self.bridge.call_tool(self.next_id, tool, args,
                                  meta={"capability": meta_cap} if meta_cap is not None else None)
        self.assertEqual(r["id"], self.next_id)
        self.assertIn("result", r, r)
        return r["result"]

    def assert_ok(self, result):
        self.assertNotIn("isError", result, json.dumps(result)[:1000])

    def assert_refused(self, result, reason):
        self.assertTrue(result.get("isError"), json.dumps(result)[:1000])
        sc = result["structuredContent"]
        self.assertEqual((sc["status"], sc["rule"]), ("denied", "capability"), sc)
        self.assertIn(reason, sc["message"])

    def ledger(self, type_):
        st, rows = self.agentd.request("GET", "/events/log?type=%s&limit=200" % type_)
        self.assertEqual(st, 200, rows)
        return [json.loads(r["payload"]) for r in rows]

    def test_permitted_tool_runs_in_every_form(self):
        tok = self.mint(["system_health"])
        for form in ({"meta_cap": tok}, {"meta_cap": json.dumps(tok)}, {"arg_cap": tok},
                     {"arg_cap": json.dumps(tok)}, {"meta_cap": tok, "arg_cap": json.dumps(tok)}):
            r = self.call("system_health", **form)
            self.assert_ok(r)
            self.assertIn("memory_total", r["structuredContent"])
        calls = [c for c in self.ledger("tool.call") if c["tool"] == "system_health"]
        self.assertEqual(len(calls), 5)
        for c in calls:  # agentd saw and checked the token each time
            self.assertEqual((c["capability_id"], c["decision"]), (tok["id"], "allow"), c)
            self.assertNotIn("capability_token", c["arguments"])

    def test_tool_outside_the_permissions_is_refused(self):
        # without a token the policy lets memory_store run; the token narrows that
        self.assert_ok(self.call("memory_store", {"summary": "without a token"}))
        tok = self.mint(["system_health"])
        self.assert_refused(self.call("memory_store", {"summary": "with"}, meta_cap=tok),
                            "not within the token's permissions")
        self.assert_refused(self.call("memory_store", {"summary": "with"},
                                      arg_cap=json.dumps(tok)),
                            "not within the token's permissions")
        stored = self.ledger("memory.store")
        self.assertEqual(len(stored), 1, stored)

    def test_forged_tokens_are_refused(self):
        tok = self.mint(["system_health"])
        sig = copy.deepcopy(tok)
        sig["signature"] = ("1" if tok["signature"][0] == "0" else "0") + tok["signature"][1:]
        self.assert_refused(self.call("system_health", meta_cap=sig), "signature mismatch")
        edited = copy.deepcopy(tok)
        edited["permissions"].append("memory_store")
        self.assert_refused(self.call("memory_store", {"summary": "x"}, arg_cap=edited),
                            "signature mismatch")
        self.assert_refused(self.call("system_health", meta_cap=json.dumps(edited)),
                            "signature mismatch")
        longer = dict(tok, expires_at="2099-01-01T00:00:00.000Z")
        self.assert_refused(self.call("system_health", arg_cap=longer), "signature mismatch")
        self.assertEqual(self.ledger("memory.store"), [])
        # the genuine token still works
        self.assert_ok(self.call("system_health", meta_cap=tok))

    def test_expired_token_is_refused(self):
        tok = self.mint(["system_health"], ttl=1)
        expires = epoch(tok["expires_at"])
        r = self.call("system_health", meta_cap=tok)
        if time.time() < expires:  # answered before expiry: it must have run
            self.assert_ok(r)
        while time.time() <= expires + 0.01:
            time.sleep(min(0.05, max(0.001, expires + 0.01 - time.time())))
        self.assert_refused(self.call("system_health", meta_cap=tok), "token expired")
        self.assert_refused(self.call("system_health", arg_cap=json.dumps(tok)), "token expired")

    def test_text_that_is_not_a_token_never_reaches_agentd(self):
        before = len(self.ledger("tool.call"))
        for form in ({"arg_cap": "not json"}, {"meta_cap": "[1, 2]"}, {"meta_cap": 17},
                     {"arg_cap": "{\"id\": "}):
            r = self.call("system_health", **form)
            self.assertTrue(r.get("isError"), r)
            self.assertEqual(r["structuredContent"]["error"], "invalid_capability", r)
        tok = self.mint(["system_health"])
        other = self.mint(["system_health"])
        r = self.call("system_health", meta_cap=tok, arg_cap=other)
        self.assertEqual(r["structuredContent"]["error"], "invalid_capability", r)
        self.assertEqual(len(self.ledger("tool.call")), before, "a refused token was sent")


if __name__ == "__main__":
    unittest.main()
