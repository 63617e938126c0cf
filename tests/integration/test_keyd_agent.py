"""osmoda-keyd from the agent's side: keyd-agent.sock through lib/exec, with agentd as the
approver. A send below the threshold runs, one above waits for the operator and runs only once
approved; a denied one signs nothing; the agent cannot read a key or a secret, export without a
person, raise a limit or approve its own send; LOCKDOWN stops everything."""
import json
import os
import subprocess
import unittest

from keydtest import ADDR_A, KeydCase, eth_params, verify
from osmtest import binary, request


class Agent(KeydCase):
    policy = {"chains": {"ethereum": {"max_per_tx": "5", "max_per_day": "10",
                                      "max_sends_per_day": 20, "approval_above": "0.1"}}}

    def agent_send(self, wallet, amount, nonce):
        return self.keyd.call("wallet_send", {"wallet_id": wallet["id"], "to": ADDR_A,
                                              "amount": amount,
                                              "chain_params": eth_params(nonce)})

    def sends(self):
        return [p for t, p in self.keyd.events("wallet.") if t == "wallet.send"]

    def test_below_the_threshold_runs_for_the_agent(self):
        w = self.create()
        st, r = self.agent_send(w, "0.1", 0)  # exactly approval_above: no person needed
        self.assertEqual((st, r["status"]), (200, "ok"), r)
        self.assertEqual(r["result"]["policy_decision"], "allow")
        calls = [json.loads(e["payload"]) for e in
                 self.agentd.request("GET", "/events/log?type=tool.call&limit=50")[1]]
        self.assertEqual(calls[0]["rule"], "keyd:policy")
        [a] = verify("verify-eth.mjs", [{"kind": "tx", "raw": r["result"]["signed_tx"],
                                          "hash": r["result"]["tx_hash"], "from": w["address"],
                                          "expect": {"type": 2, "value": str(10 ** 17),
                                                     "to": ADDR_A, "nonce": 0}}])
        self.assertTrue(a["ok"], a.get("why"))
        self.assertEqual(self.sends()[0]["requested_by"], "agent:%d" % os.getuid())

    def test_above_the_threshold_waits_for_the_operator_then_signs(self):
        w = self.create()
        st, r = self.agent_send(w, "0.2", 1)
        self.assertEqual((st, r["status"]), (202, "pending"), r)
        self.assertEqual(self.sends(), [])  # nothing signed while held
        st, pending = self.agentd.request("GET", "/approval/pending")
        mine = [a for a in pending if a["id"] == r["approval_id"]]
        self.assertEqual((mine[0]["daemon"], mine[0]["tool"]), ("keyd", "wallet_send"))
        self.approve(r["approval_id"])
        res = self.job_result(r["job_id"])
        self.assertEqual(res["status"], "exited", res)
        sends = self.sends()
        self.assertEqual(len(sends), 1)
        self.assertEqual((sends[0]["amount"], sends[0]["policy_decision"]), ("0.2", "approved"))

    def test_denied_send_signs_nothing(self):
        w = self.create()
        st, r = self.agent_send(w, "0.3", 2)
        self.assertEqual(r["status"], "pending", r)
        self.deny(r["approval_id"])
        res = self.job_result(r["job_id"])
        self.assertEqual(res["status"], "denied", res)
        self.assertEqual(self.sends(), [])
        self.assertEqual(self.op("GET", "/wallet/receipt?wallet_id=" + w["id"]), [])

    def test_the_agent_cannot_approve_its_own_send(self):
        w = self.create()
        st, r = self.agent_send(w, "0.5", 3)
        self.assertEqual(r["status"], "pending", r)
        # an "approved" argument is not part of the tool: refused before anything
        st, r2 = self.keyd.call("wallet_send", {"wallet_id": w["id"], "to": ADDR_A,
                                                "amount": "0.5", "approved": True,
                                                "chain_params": eth_params(3)})
        self.assertEqual(st, 422, r2)
        # approvals are decided by the operator, never through the agent's socket
        st, r3 = self.agentd.call_tool("approval_approve", {"id": r["approval_id"]})
        self.assertEqual(st, 403, r3)
        st, r4 = request(self.agentd.agent_sock, "POST",
                         "/approval/%s/approve" % r["approval_id"], {})
        self.assertIn(st, (403, 404, 405), r4)
        self.assertEqual(self.sends(), [])

    def test_the_agent_cannot_read_a_key_or_secret_or_raise_a_limit(self):
        w = self.create()
        # export: off by default, and even the call is held for a person first
        st, r = self.keyd.call("wallet_export", {"wallet_id": w["id"]})
        self.assertEqual(r["status"], "pending", r)
        self.approve(r["approval_id"])
        res = self.job_result(r["job_id"])
        self.assertNotIn("private_key", json.dumps(res))
        self.assertIn("export_disabled", json.dumps(res))
        # secrets: the list has names and versions, never a value; no tool reads one
        self.op("POST", "/vault/secrets", {"name": "db-password", "value": "hunter2-hunter2"}, 201)
        st, r = self.keyd.call("vault_list", {})
        self.assertEqual(r["status"], "ok", r)
        self.assertIn("db-password", json.dumps(r))
        self.assertNotIn("hunter2", json.dumps(r))
        for tool in ("vault_read", "vault_secret_read", "policy_set", "policy_reload",
                     "wallet_policy"):
            st, r = self.keyd.call(tool, {})
            self.assertEqual(st, 404, (tool, r))
        # the routes that change the policy or read a secret are the operator's only
        st, r = request(self.keyd.agent_sock, "POST", "/policy", {})
        self.assertIn(st, (403, 404, 405), r)
        st, r = request(self.keyd.agent_sock, "GET", "/vault/secrets/db-password")
        self.assertIn(st, (403, 404, 405), r)
        self.assertEqual(self.op("GET", "/policy")["policy"]["chains"]["ethereum"]["max_per_day"],
                         "10")
        events = json.dumps(self.agentd.request("GET", "/events/log?limit=1000")[1])
        self.assertNotIn("hunter2", events)

    def test_sign_raw_always_waits_for_a_person(self):
        w = self.create()
        st, r = self.keyd.call("wallet_sign", {"wallet_id": w["id"], "payload": "00" * 32,
                                               "raw": True})
        self.assertIn(r["status"], ("pending", "denied"), r)
        st, r = self.keyd.call("wallet_sign", {"wallet_id": w["id"],
                                               "payload": "0x" + b"hi".hex()})
        self.assertEqual(r["status"], "ok", r)

    def mcp_calls(self, calls):
        """tools/call through the real MCP bridge over stdio (the agent's own path): the
        parsed JSON result of each call."""
        msgs = [{"jsonrpc": "2.0", "id": 0, "method": "initialize",
                 "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                            "clientInfo": {"name": "keyd-test", "version": "1"}}},
                {"jsonrpc": "2.0", "method": "notifications/initialized"}]
        msgs += [{"jsonrpc": "2.0", "id": i + 1, "method": "tools/call",
                  "params": {"name": n, "arguments": a}} for i, (n, a) in enumerate(calls)]
        out = subprocess.run([binary("osmoda-mcp-bridge"), "--run-dir", self.agentd.run_dir],
                             input="".join(json.dumps(m) + "\n" for m in msgs),
                             capture_output=True, text=True, timeout=60)
        by_id = {m.get("id"): m for m in map(json.loads, out.stdout.splitlines())}
        return [json.loads(by_id[i + 1]["result"]["content"][0]["text"])
                for i in range(len(calls))]

    def test_mcp_path_holds_a_large_send_and_an_export(self):
        w = self.create()
        small, large, export = self.mcp_calls([
            ("wallet_send", {"wallet_id": w["id"], "to": ADDR_A, "amount": "0.01",
                             "chain_params": eth_params(0)}),
            ("wallet_send", {"wallet_id": w["id"], "to": ADDR_A, "amount": "1",
                             "chain_params": eth_params(1)}),
            ("wallet_export", {"wallet_id": w["id"]})])
        # the bridge gives a result that ran as it is, and a held call as its handle
        self.assertEqual(small["policy_decision"], "allow", small)
        self.assertTrue(small["signed_tx"].startswith("0x02"), small)
        self.assertEqual(large["status"], "pending", large)
        self.assertEqual(export["status"], "pending", export)
        self.assertNotIn("private_key", json.dumps(export))
        self.assertEqual([p["nonce"] for p in self.sends()], [0])

    def test_lockdown(self):
        w = self.create()
        r = self.op("POST", "/lockdown", {})
        self.assertEqual(r, {"lockdown": True, "vault_unlocked": False})
        st, r = self.keyd.request("POST", "/wallet/sign", {"wallet_id": w["id"], "payload": "00"})
        self.assertEqual((st, r["error"]), (423, "lockdown"), r)
        self.send(w, "0.01", nonce=0, expect=423)
        st, r = self.agent_send(w, "0.01", 0)  # keyd refuses it in the handler: nothing signed
        self.assertEqual((r["status"], r["error"]), ("error", "lockdown"), r)
        lockfile = os.path.join(self.agentd.state_dir, "lockdown")
        with open(lockfile, "w") as f:
            f.write("test\n")
        st, r = self.keyd.request("POST", "/unlock", {})
        self.assertEqual((st, r["error"]), (409, "lockdown_file"), r)
        # a restart while the file exists starts locked down
        self.keyd.stop()
        self.keyd.start()
        self.assertTrue(self.op("GET", "/health")["lockdown"])
        self.send(w, "0.01", nonce=0, expect=423)
        os.unlink(lockfile)
        self.assertEqual(self.op("POST", "/unlock", {}),
                         {"lockdown": False, "vault_unlocked": True})
        self.send(w, "0.01", nonce=0)
        types = [t for t, _ in self.keyd.events("vault.")]
        self.assertIn("vault.lockdown", types)
        self.assertIn("vault.unlock", types)


if __name__ == "__main__":
    unittest.main()


class AgentExport(KeydCase):
    policy = {"allow_export": True}

    def test_an_approved_export_goes_to_the_vault_never_to_the_agent(self):
        w = self.create()
        st, r = self.keyd.call("wallet_export", {"wallet_id": w["id"]})
        self.assertEqual(r["status"], "pending", r)
        self.approve(r["approval_id"])
        res = self.job_result(r["job_id"])
        text = json.dumps(res)
        self.assertNotIn("private_key", text)
        name = "wallet-export-" + w["id"]
        self.assertIn(name, text)
        # the operator reads the key from the vault: it is the wallet's own key
        secret = self.op("GET", "/vault/secrets/" + name)
        key = self.op("POST", "/wallet/export", {"wallet_id": w["id"]})["private_key"]
        self.assertIn(key, json.dumps(secret))
        self.assertNotIn(key, text)
        self.assertNotIn(key, json.dumps(self.agentd.request("GET", "/events/log?limit=500")[1]))
