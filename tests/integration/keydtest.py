"""Shared pieces of the osmoda-keyd tests: a real agentd and a real keyd per test, a signing
policy written before keyd starts, and the pinned verifiers (ethers, @solana/web3.js) run in
the same test through tests/node/verify-eth.mjs and verify-sol.mjs."""
import json
import os
import subprocess
import unittest

from osmtest import Agentd, Keyd, wait_for

NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "node")
ETHER = 10 ** 18
ADDR_A = "0x3535353535353535353535353535353535353535"
ADDR_B = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"  # EIP-55 checksummed
SOL_TO = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin"
BLOCKHASH = "EETubP5AKHgjPAhzPAFcb8BAY1hMH639CWCFTqi3hq1k"

# EIP-712's own example (the Mail struct).
MAIL = {
    "types": {
        "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                         {"name": "chainId", "type": "uint256"},
                         {"name": "verifyingContract", "type": "address"}],
        "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
        "Mail": [{"name": "from", "type": "Person"}, {"name": "to", "type": "Person"},
                 {"name": "contents", "type": "string"}],
    },
    "primaryType": "Mail",
    "domain": {"name": "Ether Mail", "version": "1", "chainId": 1,
               "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
    "message": {"from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
                "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
                "contents": "Hello, Bob!"},
}


def eth_params(nonce=0, chain_id=1, **kw):
    p = {"chain_id": chain_id, "nonce": nonce, "gas_limit": 21000,
         "max_fee_per_gas": "30000000000", "max_priority_fee_per_gas": "1000000000"}
    p.update(kw)
    return p


def verify(script, cases):
    """Runs a pinned verifier on cases; returns its answers (one per case)."""
    path = os.path.join(NODE_DIR, script)
    if not os.path.exists(os.path.join(NODE_DIR, "node_modules")):
        subprocess.run([os.path.join(NODE_DIR, "..", "..", "scripts", "node-deps.sh")],
                       check=True)
    out = subprocess.run(["node", path], input=json.dumps(cases), capture_output=True, text=True,
                         timeout=120, cwd=NODE_DIR)
    assert out.returncode == 0, out.stderr
    answers = json.loads(out.stdout)
    assert len(answers) == len(cases), out.stdout
    return answers


class KeydCase(unittest.TestCase):
    """One agentd and one keyd per test, with the policy of the class (None: the defaults)."""
    policy = None
    keyd_args = ()

    def setUp(self):
        self.agentd = Agentd().start()
        self.keyd = Keyd(self.agentd, self.keyd_args)
        if self.policy is not None:
            self.write_policy(self.policy)
        try:
            self.keyd.start()
        except Exception:
            self.agentd.cleanup()
            raise

    def tearDown(self):
        alive = self.keyd.alive()
        self.keyd.stop()
        self.agentd.stop()
        reports = (self.agentd.sanitizer_errors(), self.keyd.sanitizer_errors())
        self.agentd.cleanup()
        self.assertTrue(alive, "osmoda-keyd died during the test")
        self.assertEqual(reports, ("", ""), "sanitizer reports from agentd and osmoda-keyd")

    def write_policy(self, policy):
        os.makedirs(self.keyd.data_dir, mode=0o700, exist_ok=True)
        path = os.path.join(self.keyd.data_dir, "policy.json")
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, json.dumps(policy).encode())
        os.close(fd)
        os.rename(path + ".tmp", path)

    def op(self, method, path, body=None, expect=200, **kw):
        st, r = self.keyd.request(method, path, body, **kw)
        if expect is not None:
            self.assertEqual(st, expect, r)
        return r

    def create(self, chain="ethereum", label="w"):
        return self.op("POST", "/wallet/create", {"chain": chain, "label": label}, 201)

    def send(self, wallet, amount, to=ADDR_A, nonce=0, expect=200, **params):
        body = {"wallet_id": wallet["id"], "to": to, "amount": amount,
                "chain_params": eth_params(nonce, **params)}
        return self.op("POST", "/wallet/send", body, expect)

    def wallet_events(self, prefix="wallet."):
        return [(t, p) for t, p in self.keyd.events(prefix)]

    def approve(self, approval_id):
        st, a = self.agentd.request("POST", "/approval/%s/approve" % approval_id, {})
        self.assertEqual(st, 200, a)

    def deny(self, approval_id):
        st, a = self.agentd.request("POST", "/approval/%s/deny" % approval_id, {})
        self.assertEqual(st, 200, a)

    def job_result(self, job_id):
        """Waits for a released call on keyd-agent.sock: (status, result) of job_wait."""
        def done():
            st, r = self.keyd.call("job_wait", {"job_id": job_id, "timeout_ms": 20000})
            self.assertEqual(st, 200, r)
            res = r["result"]
            return res if res.get("status") not in ("pending_approval", "running") else None
        return wait_for(done, "the released job %s" % job_id, timeout=60)
