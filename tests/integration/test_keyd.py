"""osmoda-keyd end to end: a real agentd and a real keyd; every Ethereum output checked by
ethers and every Solana transaction by @solana/web3.js in the same run; the policy at its
boundaries (limits, unit mixing, nonce reuse, concurrency, kill -9); restart; bad input."""
import datetime
import json
import os
import signal
import sqlite3
import threading
import unittest

from keydtest import (ADDR_A, ADDR_B, BLOCKHASH, ETHER, MAIL, SOL_TO, KeydCase, eth_params,
                      verify)


class Outputs(KeydCase):
    """Every kind of output, verified by the real libraries."""
    policy = {"chains": {"ethereum": {"max_per_tx": "5", "max_per_day": "20",
                                      "max_sends_per_day": 50, "approval_above": "10"},
                         "solana": {"max_per_tx": "5", "max_per_day": "20",
                                    "max_sends_per_day": 50, "approval_above": "10"}},
              "allow_export": True}

    def test_health_and_wallets(self):
        h = self.op("GET", "/health")
        self.assertEqual((h["status"], h["wallet_count"], h["lockdown"]), ("ok", 0, False))
        self.assertTrue(h["policy_loaded"])
        self.assertTrue(h["vault"]["unlocked"], h)
        w = self.create("ethereum", "hot")
        s = self.create("solana", "sol")
        self.assertRegex(w["address"], r"^0x[0-9a-fA-F]{40}$")
        self.assertEqual(w["key_version"], 1)
        ids = [x["id"] for x in self.op("GET", "/wallet/list")]
        self.assertEqual(ids, [w["id"], s["id"]])
        types = [t for t, _ in self.keyd.events("wallet.")]
        self.assertEqual(types, ["wallet.create", "wallet.create"])

    def test_ethereum_outputs_are_accepted_by_ethers(self):
        w = self.create()
        msg = "hello keyd".encode().hex()
        ps = self.op("POST", "/wallet/sign", {"wallet_id": w["id"], "payload": "0x" + msg})
        td = self.op("POST", "/wallet/sign_typed_data", {"wallet_id": w["id"], "typed_data": MAIL})
        legacy = self.op("POST", "/wallet/build_tx", {
            "wallet_id": w["id"], "chain": "ethereum", "tx_type": "legacy", "to": ADDR_B,
            "amount": "1", "chain_params": {"chain_id": 1, "nonce": 9, "gas_limit": 21000,
                                            "gas_price": "20000000000"}})
        eip1559 = self.op("POST", "/wallet/build_tx", {
            "wallet_id": w["id"], "chain": "ethereum", "tx_type": "eip1559", "to": ADDR_A,
            "amount": "0.05", "chain_params": eth_params(10, chain_id=11155111, data="0xdeadbeef",
                                                         gas_limit=50000)})
        sent = self.send(w, "0.000000000000000001", nonce=11)
        cases = [
            {"kind": "personal_sign", "message_hex": "0x" + msg, "signature": ps["signature"],
             "address": w["address"]},
            {"kind": "typed_data", "typed_data": MAIL, "signature": td["signature"],
             "address": w["address"]},
            {"kind": "tx", "raw": legacy["signed_tx"], "hash": legacy["tx_hash"],
             "from": w["address"],
             "expect": {"type": 0, "chainId": "1", "nonce": 9, "to": ADDR_B, "value": str(ETHER),
                        "gasLimit": "21000", "gasPrice": "20000000000", "data": "0x"}},
            {"kind": "tx", "raw": eip1559["signed_tx"], "hash": eip1559["tx_hash"],
             "from": w["address"],
             "expect": {"type": 2, "chainId": "11155111", "nonce": 10, "to": ADDR_A,
                        "value": str(5 * 10 ** 16), "gasLimit": "50000",
                        "maxFeePerGas": "30000000000", "maxPriorityFeePerGas": "1000000000",
                        "data": "0xdeadbeef"}},
            {"kind": "tx", "raw": sent["signed_tx"], "hash": sent["tx_hash"],
             "from": w["address"],
             "expect": {"type": 2, "chainId": "1", "nonce": 11, "to": ADDR_A, "value": "1",
                        "gasLimit": "21000", "maxFeePerGas": "30000000000",
                        "maxPriorityFeePerGas": "1000000000", "data": "0x"}},
        ]
        for i, a in enumerate(verify("verify-eth.mjs", cases)):
            self.assertTrue(a["ok"], "case %d: %s" % (i, a.get("why")))
        # the unit-mixing regression: "1" ETH is checked and built as 10^18 wei
        self.assertEqual((legacy["amount"], legacy["amount_base"]), ("1", str(ETHER)))
        sends = [p for t, p in self.keyd.events("wallet.") if t == "wallet.send"]
        self.assertEqual(sends[0]["amount_base"], "1")
        self.assertEqual(sends[0]["tx_hash"], sent["tx_hash"])
        receipts = self.op("GET", "/wallet/receipt?wallet_id=%s&limit=10" % w["id"])
        self.assertEqual([r["action"] for r in receipts],
                         ["send", "build_tx", "build_tx", "sign_typed_data", "sign"])

    def test_solana_transfer_is_accepted_by_web3js(self):
        s = self.create("solana", "sol")
        tx = self.op("POST", "/wallet/build_tx", {
            "wallet_id": s["id"], "chain": "solana", "tx_type": "transfer", "to": SOL_TO,
            "amount": "1.5", "chain_params": {"recent_blockhash": BLOCKHASH}})
        sent = self.op("POST", "/wallet/send", {
            "wallet_id": s["id"], "to": SOL_TO, "amount": "0.000000001",
            "chain_params": {"recent_blockhash": BLOCKHASH}})
        self.assertEqual((tx["amount"], tx["amount_base"]), ("1.5", "1500000000"))
        cases = [{"kind": "sol_transfer", "tx_base58": tx["signed_tx"], "from": s["address"],
                  "to": SOL_TO, "lamports": "1500000000", "blockhash": BLOCKHASH},
                 {"kind": "sol_transfer", "tx_base64": sent["signed_tx_base64"],
                  "from": s["address"], "to": SOL_TO, "lamports": "1", "blockhash": BLOCKHASH}]
        for i, a in enumerate(verify("verify-sol.mjs", cases)):
            self.assertTrue(a["ok"], "case %d: %s" % (i, a.get("why")))

    def test_keys_are_sealed_and_never_in_the_ledger(self):
        w = self.create()
        self.send(w, "0.1", nonce=0)
        self.op("POST", "/wallet/sign", {"wallet_id": w["id"], "payload": "00"})
        key = self.op("POST", "/wallet/export", {"wallet_id": w["id"]})["private_key"]
        self.assertEqual(len(key), 64)
        st, log = self.agentd.request("GET", "/events/log?actor=keyd&limit=1000")
        self.assertEqual(st, 200, log)
        self.assertIn("wallet.export", [e["type"] for e in log])
        self.assertNotIn(key, json.dumps(log).lower())
        with open(os.path.join(self.keyd.data_dir, "keyd.db"), "rb") as f:
            db = f.read()
        self.assertNotIn(bytes.fromhex(key), db)
        self.assertNotIn(key.encode(), db)


class Limits(KeydCase):
    policy = {"chains": {"ethereum": {"max_per_tx": "0.5", "max_per_day": "1",
                                      "max_sends_per_day": 100, "approval_above": "0.5"}}}

    def test_boundaries_exactly_at_the_limits(self):
        w = self.create()
        self.send(w, "0.5", nonce=0)                       # exactly max_per_tx
        r = self.send(w, "0.500000000000000001", nonce=1, expect=403)  # one wei above
        self.assertEqual(r["error"], "policy_denied")
        self.send(w, "0.5", nonce=2)                       # the day reaches exactly 1
        r = self.send(w, "0.000000000000000001", nonce=3, expect=429)
        self.assertEqual(r["error"], "limit_reached")
        sends = [p for t, p in self.keyd.events("wallet.") if t == "wallet.send"]
        self.assertEqual([p["nonce"] for p in sends], [0, 2])

    def test_nonce_reuse_is_refused_and_the_same_tx_is_given_back(self):
        w = self.create()
        a = self.send(w, "0.1", nonce=7)
        again = self.send(w, "0.1", nonce=7)
        self.assertEqual(again["signed_tx"], a["signed_tx"])
        r = self.send(w, "0.2", nonce=7, expect=409)
        self.assertEqual(r["error"], "nonce_reused")
        r = self.send(w, "0.1", nonce=7, to=ADDR_B, expect=409)
        usage = self.op("GET", "/policy")["usage"]["chains"]["ethereum"]
        self.assertEqual((usage["sent"], usage["sends"]), ("0.1", 1))  # counted once

    def test_concurrent_sends_race_the_daily_limit(self):
        w = self.create()
        results = []

        def one(i):
            st, r = self.keyd.request("POST", "/wallet/send", {
                "wallet_id": w["id"], "to": ADDR_A, "amount": "0.3",
                "chain_params": eth_params(100 + i)})
            results.append(st)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(sorted(results), [200] * 3 + [429] * 5)
        sends = [p for t, p in self.keyd.events("wallet.") if t == "wallet.send"]
        self.assertEqual(len(sends), 3)

    def test_kill_9_during_sends_never_allows_more_than_the_limit(self):
        w = self.create()
        ok = []

        def one(i):
            try:
                st, r = self.keyd.request("POST", "/wallet/send", {
                    "wallet_id": w["id"], "to": ADDR_A, "amount": "0.25",
                    "chain_params": eth_params(200 + i)}, timeout=10)
                if st == 200:
                    ok.append(r["tx_hash"])
            except OSError:
                pass

        threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        self.keyd.stop(signal.SIGKILL)
        for t in threads:
            t.join()
        self.keyd.start()
        for i in range(6):  # after the restart, spend what is left of the day
            st, r = self.keyd.request("POST", "/wallet/send", {
                "wallet_id": w["id"], "to": ADDR_A, "amount": "0.25",
                "chain_params": eth_params(300 + i)})
            if st == 200:
                ok.append(r["tx_hash"])
            else:
                self.assertEqual(st, 429, r)
        self.assertLessEqual(len(ok), 4, "more than 1 ETH signed in one day")
        # a send counted just before the kill and never answered stays counted (fail closed):
        # the day's counter is the upper bound of what was signed, and never above the limit
        usage = self.op("GET", "/policy")["usage"]["chains"]["ethereum"]
        self.assertEqual(usage["sent"], "1", usage)
        self.assertGreaterEqual(usage["sends"], len(ok))

    def test_day_rollover_in_utc(self):
        """A day's counters are keyed by the UTC date: yesterday's spending does not count
        today. Without a test clock, the day is moved instead: the counters of a spent day are
        rewritten to yesterday's date while keyd is stopped."""
        w = self.create()
        self.send(w, "0.5", nonce=0)
        self.send(w, "0.5", nonce=1)
        self.send(w, "0.1", nonce=2, expect=429)
        usage = self.op("GET", "/policy")["usage"]
        today = datetime.datetime.now(datetime.timezone.utc).date()
        self.assertEqual(usage["day"], today.isoformat())
        self.keyd.stop()
        db = sqlite3.connect(os.path.join(self.keyd.data_dir, "keyd.db"))
        with db:
            n = db.execute("UPDATE policy_counters SET day = ? WHERE day = ?",
                           ((today - datetime.timedelta(days=1)).isoformat(),
                            today.isoformat())).rowcount
        db.close()
        self.assertGreater(n, 0)
        self.keyd.start()
        self.send(w, "0.5", nonce=2)
        self.send(w, "0.5", nonce=3)
        self.send(w, "0.000000000000000001", nonce=4, expect=429)

    def test_restart_keeps_wallets_and_counters(self):
        w = self.create()
        self.send(w, "0.5", nonce=0)
        self.send(w, "0.5", nonce=1)
        self.keyd.stop()
        self.keyd.start()
        self.assertEqual([x["id"] for x in self.op("GET", "/wallet/list")], [w["id"]])
        self.send(w, "0.1", nonce=2, expect=429)
        self.assertEqual(len(self.op("GET", "/wallet/receipt?wallet_id=" + w["id"])), 2)


class BadInput(KeydCase):
    def state(self):
        st, log = self.agentd.request("GET", "/events/log?actor=keyd&limit=1000")
        return self.op("GET", "/wallet/list"), len(log)

    def test_bad_input_gets_the_right_status_and_changes_nothing(self):
        w = self.create()
        s = self.create("solana", "s")
        before = self.state()
        bad = [
            ("POST", "/wallet/create", {"chain": "bitcoin", "label": "x"}, 422),
            ("POST", "/wallet/create", {"chain": 1, "label": "x"}, 422),
            ("POST", "/wallet/create", {"chain": "ethereum", "label": ""}, 422),
            ("POST", "/wallet/sign", {"wallet_id": w["id"], "payload": "0xzz"}, 422),
            ("POST", "/wallet/sign", {"wallet_id": w["id"], "payload": "abc"}, 422),
            ("POST", "/wallet/sign", {"wallet_id": "nope", "payload": "00"}, 404),
            ("POST", "/wallet/sign", {"wallet_id": w["id"], "payload": 5}, 422),
            ("POST", "/wallet/sign", {"wallet_id": w["id"], "payload": "00" * 70000}, 413),
            ("POST", "/wallet/sign_typed_data", {"wallet_id": w["id"], "typed_data": {"x": 1}}, 422),
            ("POST", "/wallet/sign_typed_data", {"wallet_id": s["id"], "typed_data": MAIL}, 422),
            ("POST", "/wallet/send", {"wallet_id": w["id"], "to": ADDR_B.lower()[:-1] + "C",
                                      "amount": "0.1", "chain_params": eth_params()}, 422),
            ("POST", "/wallet/send", {"wallet_id": w["id"], "to": "0x2c7536E3605D9C16a7a3D7b1898e"
                                      "529396a65C23", "amount": "0.1",
                                      "chain_params": eth_params()}, 422),  # bad checksum
            ("POST", "/wallet/send", {"wallet_id": w["id"], "to": ADDR_A, "amount": 0.1,
                                      "chain_params": eth_params()}, 422),
            ("POST", "/wallet/send", {"wallet_id": w["id"], "to": ADDR_A, "amount": "1e18",
                                      "chain_params": eth_params()}, 422),
            ("POST", "/wallet/send", {"wallet_id": w["id"], "to": ADDR_A, "amount": "-1",
                                      "chain_params": eth_params()}, 422),
            ("POST", "/wallet/send", {"wallet_id": w["id"], "to": ADDR_A, "amount": "0.1",
                                      "chain_params": eth_params(chain_id=0)}, 422),
            ("POST", "/wallet/send", {"wallet_id": w["id"], "to": ADDR_A, "amount": "0.1",
                                      "chain_params": {"nonce": 1}}, 422),
            ("POST", "/wallet/send", {"wallet_id": w["id"], "to": ADDR_A, "amount": "0.1",
                                      "chain_params": eth_params(nonce="x")}, 422),
            ("POST", "/wallet/build_tx", {"wallet_id": w["id"], "chain": "solana",
                                          "tx_type": "transfer", "to": SOL_TO, "amount": "1"},
             422),
            ("POST", "/wallet/build_tx", {"wallet_id": w["id"], "chain": "ethereum",
                                          "tx_type": "weird", "to": ADDR_A, "amount": "1"}, 422),
            ("POST", "/wallet/send", {"wallet_id": s["id"], "to": "0OIl", "amount": "1",
                                      "chain_params": {"recent_blockhash": BLOCKHASH}}, 422),
            ("POST", "/wallet/send", {"wallet_id": s["id"], "to": SOL_TO, "amount": "1",
                                      "chain_params": {"recent_blockhash": "short"}}, 422),
            ("POST", "/wallet/send", {"wallet_id": s["id"], "to": SOL_TO,
                                      "amount": "0.0000000001",
                                      "chain_params": {"recent_blockhash": BLOCKHASH}}, 422),
            ("POST", "/wallet/delete", {"wallet_id": "0" * 36}, 404),
            ("GET", "/wallet/receipt?limit=0", None, 422),
        ]
        for method, path, body, status in bad:
            st, r = self.keyd.request(method, path, body)
            self.assertEqual(st, status, (path, body if len(json.dumps(body)) < 300 else "", r))
            self.assertIsInstance(r, dict, r)
            self.assertIn("error", r)
            self.assertIn("message", r)
        for raw, status in ((b"{not json", 400), (b'{"chain": "\xff\xfe", "label": "x"}', 400),
                            (b"[]", 422), (b"{" + b'"a":"' + b"x" * (2 << 20) + b'"}', 413)):
            st, r = self.keyd.request("POST", "/wallet/create", raw=raw)
            self.assertEqual(st, status, r)
        self.assertEqual(self.state(), before)
        self.assertTrue(self.keyd.alive())


if __name__ == "__main__":
    unittest.main()
