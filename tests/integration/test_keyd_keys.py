"""osmoda-keyd's key life cycle and delivery: import of a known key (the address real tools
derive), rotation to a new key version under min_key_version, and a secret delivered to a
service as a file after a person approved the agent's call."""
import json
import os
import stat

from keydtest import ADDR_A, ADDR_B, KeydCase, eth_params, verify

KNOWN_KEY = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


class Keys(KeydCase):
    policy = {"allow_import": True,
              "chains": {"ethereum": {"min_key_version": 2, "max_per_day": "5"}}}

    def test_import_gives_the_address_of_the_key(self):
        w = self.op("POST", "/wallet/import", {"chain": "ethereum", "label": "imp",
                                               "private_key": "0x" + KNOWN_KEY}, 201)
        self.assertEqual(w["address"], ADDR_B)
        types = [t for t, _ in self.keyd.events("wallet.")]
        self.assertEqual(types, ["wallet.import"])
        st, log = self.agentd.request("GET", "/events/log?limit=1000")
        self.assertNotIn(KNOWN_KEY, json.dumps(log).lower())
        # the agent's import waits for a person, and a bad key is refused with nothing stored
        st, r = self.keyd.call("wallet_import", {"chain": "ethereum", "label": "x",
                                                 "private_key": KNOWN_KEY})
        self.assertEqual(r["status"], "pending", r)
        st, r = self.keyd.request("POST", "/wallet/import", {"chain": "ethereum", "label": "y",
                                                             "private_key": "00" * 32})
        self.assertEqual((st, r["error"]), (422, "invalid_key"), r)
        self.assertEqual(len(self.op("GET", "/wallet/list")), 1)

    def test_rotation_and_the_minimum_key_version(self):
        w = self.create()
        st, r = self.keyd.request("POST", "/wallet/sign", {"wallet_id": w["id"], "payload": "00"})
        self.assertEqual((st, r["error"]), (403, "policy_denied"), r)  # version 1 < 2
        self.assertIn("min_key_version", r["message"])
        r2 = self.op("POST", "/wallet/rotate", {"wallet_id": w["id"]})
        self.assertEqual(r2["key_version"], 2)
        self.assertNotEqual(r2["address"], w["address"])
        sig = self.op("POST", "/wallet/sign", {"wallet_id": w["id"], "payload": "0x6869"})
        tx = self.send(w, "0.1", nonce=0)
        self.assertEqual((sig["key_version"], tx["from"]), (2, r2["address"]))
        answers = verify("verify-eth.mjs", [
            {"kind": "personal_sign", "message_hex": "0x6869", "signature": sig["signature"],
             "address": r2["address"]},
            {"kind": "tx", "raw": tx["signed_tx"], "hash": tx["tx_hash"], "from": r2["address"],
             "expect": {"nonce": 0, "to": ADDR_A}}])
        self.assertEqual([a["ok"] for a in answers], [True, True], answers)
        rot = [p for t, p in self.keyd.events("wallet.") if t == "wallet.rotate"]
        self.assertEqual((rot[0]["key_version"], rot[0]["address"]), (2, r2["address"]))


class Delivery(KeydCase):
    def test_a_secret_is_delivered_as_a_file_once_a_person_approved(self):
        # keyd of this test delivers under <tmp>/deliver
        self.keyd.stop()
        target_dir = os.path.join(self.agentd.tmp, "deliver")
        os.makedirs(target_dir, mode=0o700)
        self.keyd.args += ["--deliver-dir", target_dir]
        self.keyd.start()
        self.op("POST", "/vault/secrets", {"name": "app-token", "value": "s3cret-value-1"}, 201)
        path = os.path.join(target_dir, "app.token")
        st, r = self.keyd.call("vault_deliver", {"name": "app-token", "path": path,
                                                 "mode": 0o400})
        self.assertEqual(r["status"], "pending", r)
        self.assertFalse(os.path.exists(path))
        self.approve(r["approval_id"])
        res = self.job_result(r["job_id"])
        self.assertEqual(res["status"], "exited", res)
        with open(path) as f:
            self.assertEqual(f.read(), "s3cret-value-1")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o400)
        self.assertNotIn("s3cret-value-1", json.dumps(res))
        ev = [p for t, p in self.keyd.events("vault.") if t == "vault.deliver"]
        self.assertEqual(len(ev), 1, ev)
        st, log = self.agentd.request("GET", "/events/log?limit=1000")
        self.assertNotIn("s3cret-value-1", json.dumps(log))
        # outside the delivery directories: refused, nothing written
        st, r = self.keyd.request("POST", "/vault/secrets/app-token/deliver",
                                  {"path": os.path.join(self.agentd.tmp, "elsewhere")})
        self.assertEqual(st, 403, r)
        self.assertFalse(os.path.exists(os.path.join(self.agentd.tmp, "elsewhere")))
