#!/usr/bin/env python3
"""osmoda-keyd's rows: ETH personal_sign and Solana signatures per second through keyd (policy
check, daily counter committed in keyd.db, the event durable in agentd's ledger, the signature)
beside bare libsecp256k1 / libsodium sign loops in the same run (bench/keyd_bare), and the
Argon2id unlock at the vault's shipped parameters. The split of a keyd signature is shown by
the GET /health round trip (the HTTP cost) beside it. Prints markdown table rows.
Environment: BENCH_SECONDS (per measurement, default 3)."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
SECS = os.environ.get("BENCH_SECONDS", "3")
POLICY = {"messages_per_day": 1000000000, "sign_raw": True,
          "chains": {"ethereum": {"max_per_day": "1000"}, "solana": {"max_per_day": "1000"}}}


def loadgen(build, sock, clients, path, body=None):
    argv = [os.path.join(build, "bench", "loadgen"), "--socket", sock, "--clients", str(clients),
            "--duration", SECS, "--method", "POST" if body else "GET", "--path", path]
    if body:
        argv += ["--body", json.dumps(body)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout) if out.returncode == 0 and out.stdout.strip() else None


def row(figure, ours, peer, peer_value, ratio, target, result):
    print("| %s | %s | %s | %s | %s | %s | %s |" % (figure, ours, peer, peer_value, ratio,
                                                   target, result))


def main():
    build = os.environ["OSMODA_BUILD"]
    from osmtest import Agentd, Keyd
    bare = json.loads(subprocess.run([os.path.join(build, "bench", "keyd_bare"), SECS],
                                     capture_output=True, text=True, check=True).stdout)
    agentd = Agentd().start()
    keyd = Keyd(agentd)
    try:
        os.makedirs(keyd.data_dir, mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(keyd.data_dir, "policy.json"), os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, json.dumps(POLICY).encode())
        os.close(fd)
        keyd.start()
        eth = keyd.request("POST", "/wallet/create", {"chain": "ethereum", "label": "b"})[1]
        sol = keyd.request("POST", "/wallet/create", {"chain": "solana", "label": "b"})[1]
        health = loadgen(build, keyd.sock, 1, "/health")
        append = loadgen(build, agentd.sock, 1, "/events/append",
                         {"type": "bench.append", "actor": "bench", "payload": {"n": 1}})
        raw = subprocess.run([os.path.join(build, "bench", "sqlite_raw"), "--db",
                              os.path.join(keyd.data_dir, "raw.db"), "--batch", "1",
                              "--warmup", "1", "--duration", SECS],
                             capture_output=True, text=True)
        raw = json.loads(raw.stdout) if raw.returncode == 0 and raw.stdout.strip() else None
        res = {}
        for clients in (1, 8):
            res["eth", clients] = loadgen(build, keyd.sock, clients, "/wallet/sign",
                                          {"wallet_id": eth["id"], "payload": "0x68656c6c6f"})
            res["sol", clients] = loadgen(build, keyd.sock, clients, "/wallet/sign",
                                          {"wallet_id": sol["id"], "payload": "0x68656c6c6f"})
    finally:
        keyd.stop()
        agentd.stop()
        agentd.cleanup()
    for chain, peer, key in (("eth", "libsecp256k1 personal_sign loop", "eth_signs_per_s"),
                             ("sol", "libsodium Ed25519 loop", "sol_signs_per_s")):
        for clients in (1, 8):
            r = res[chain, clients]
            rps = r["rps"] if r and not r["errors"] else None
            ratio = "%.3f" % (rps / bare[key]) if rps else "n/a"
            name = "ETH personal_sign" if chain == "eth" else "Solana signature"
            row("%s/s through keyd, %d client%s (p50 %s µs)"
                % (name, clients, "s" if clients > 1 else "", r["p50_us"] if r else "–"),
                "%.0f" % rps if rps else "failed", peer + ", 1 thread",
                "%.0f" % bare[key], ratio, "≥ 0.8×",
                "PASS" if rps and rps / bare[key] >= 0.8 else "MISS")
    # where a signature's time goes, measured in the same run
    row("split: keyd GET /health round trip p50 (µs), the HTTP part",
        "%s" % (health["p50_us"] if health else "failed"), "–", "–", "–", "–", "–")
    row("split: agentd durable append p50 (µs), the ledger part (one per signature)",
        "%s" % (append["p50_us"] if append else "failed"), "–", "–", "–", "–", "–")
    row("split: one SQLite transaction with fsync (µs), keyd.db part (one on a signature's path)",
        "%.0f" % (1e6 / raw["rows_per_s"]) if raw else "failed", "sqlite_raw --batch 1",
        "–", "–", "–", "–")
    row("split: bare personal_sign (µs)", "%.0f" % (1e6 / bare["eth_signs_per_s"]), "–", "–",
        "–", "–", "–")
    row("Argon2id unlock (ms), t=%d m=%d MiB" % (bare["argon2id_opslimit"],
                                                 bare["argon2id_memlimit_mib"]),
        "%.0f" % bare["argon2id_ms"], "–", "–", "–", "≤ 1000",
        "PASS" if bare["argon2id_ms"] <= 1000 else "MISS")


if __name__ == "__main__":
    main()
