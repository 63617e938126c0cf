"""agentd core: /health, /events, error envelopes, socket hygiene, group-commit durability under
SIGKILL, continuing a ledger written by an independent implementation, and the Merkle root,
checkpoint and proofs cross-checked by an independent RFC 6962 implementation."""
import base64
import hashlib
import json
import os
import re
import sqlite3
import stat
import subprocess
import threading
import time
import unittest

from osmtest import Agentd, AgentdTestCase, binary, request

GENESIS = "0" * 64
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def event_hash(id_, ts, type_, actor, payload, prev):
    return hashlib.sha256(f"{id_}|{ts}|{type_}|{actor}|{payload}|{prev}".encode()).hexdigest()


def chain_ok(db_path):
    """Independent verification: returns (count, problems)."""
    db = sqlite3.connect(db_path)
    prev, n, problems = GENESIS, 0, []
    for id_, ts, t, a, p, ph, h in db.execute(
            "SELECT id, ts, type, actor, payload, prev_hash, hash FROM events ORDER BY id"):
        n += 1
        if ph != prev:
            problems.append(("chain", id_))
        if event_hash(id_, ts, t, a, p, ph) != h:
            problems.append(("hash", id_))
        prev = h
    db.close()
    return n, problems


def leaf(h):
    return hashlib.sha256(b"\x00" + bytes.fromhex(h)).digest()


def mth(leaves):
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def verify_inclusion(index, size, leaf_hash, path, root):
    """RFC 9162 §2.1.3.2."""
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def append(d, i, type_="test.event", actor="tester"):
    return d.request("POST", "/events/append",
                     {"type": type_, "actor": actor, "payload": {"n": i, "note": "x|y"}})


class Core(AgentdTestCase):
    def count(self):
        st, log = self.req("GET", "/events/log?limit=1000")
        self.assertEqual(st, 200)
        return len(log)

    def test_health_shape(self):
        st, h = self.req("GET", "/health")
        self.assertEqual(st, 200)
        self.assertEqual(list(h), ["status", "cpu_usage", "memory_total", "memory_used",
                                   "memory_available", "swap_total", "swap_used", "load_average",
                                   "uptime", "hostname", "disks"])
        self.assertEqual(h["status"], "ok")
        self.assertEqual(len(h["cpu_usage"]), os.cpu_count())
        self.assertGreater(h["memory_total"], h["memory_available"])
        self.assertEqual(h["memory_used"], h["memory_total"] - h["memory_available"])
        self.assertEqual(sorted(h["load_average"]), ["fifteen", "five", "one"])
        self.assertEqual(h["hostname"], os.uname().nodename)
        for d in h["disks"]:
            self.assertEqual(d["used"], d["total"] - d["available"])

    def test_socket_is_0600(self):
        self.assertEqual(stat.S_IMODE(os.stat(self.agentd.sock).st_mode), 0o600)

    def test_daemon_start_is_the_first_event(self):
        st, log = self.req("GET", "/events/log")
        first = log[-1]
        self.assertEqual((first["id"], first["type"], first["actor"]), (1, "daemon.start", "agentd"))
        self.assertEqual(json.loads(first["payload"]),
                         {"socket": self.agentd.sock, "state_dir": self.agentd.state_dir})
        self.assertEqual(first["prev_hash"], GENESIS)

    def test_append_and_log(self):
        st, r = append(self.agentd, 1)
        self.assertEqual(st, 201)
        self.assertRegex(r["ts"], TS_RE)
        append(self.agentd, 2, actor="other")
        st, log = self.req("GET", "/events/log?type=test.event")
        self.assertEqual([json.loads(e["payload"])["n"] for e in log], [2, 1])
        self.assertEqual(log[1]["id"], r["id"])
        self.assertEqual(log[1]["hash"], r["hash"])
        self.assertEqual(log[1]["payload"], '{"n":1,"note":"x|y"}')  # sorted keys, compact
        st, log = self.req("GET", "/events/log?actor=other")
        self.assertEqual(len(log), 1)
        st, log = self.req("GET", "/events/log?limit=1")
        self.assertEqual(len(log), 1)
        self.assertEqual(log[0]["prev_hash"], r["hash"])
        n, problems = chain_ok(os.path.join(self.agentd.state_dir, "ledger.db"))
        self.assertEqual((n, problems), (3, []))

    def test_invalid_events_are_refused_and_nothing_written(self):
        before = self.count()
        bad = [
            ({"type": "Bad Type", "actor": "a", "payload": {}}, 422),
            ({"type": "a|b", "actor": "a", "payload": {}}, 422),
            ({"type": "t", "actor": "x" * 129, "payload": {}}, 422),
            ({"type": "t", "actor": "", "payload": {}}, 422),
            ({"type": "t", "actor": "a"}, 422),
            ({"type": 5, "actor": "a", "payload": {}}, 422),
        ]
        for body, status in bad:
            st, r = self.req("POST", "/events/append", body)
            self.assertEqual(st, status, body)
            self.assertEqual(sorted(r), ["detail", "error", "message"])
        raw = [
            (b'{"type":"t","actor":"a","payload":{', 400),
            (b'{"type":"t\xff","actor":"a","payload":{}}', 400),
            (b'{"type":"t","actor":"a","payload":{"n":1e999}}', 400),
            (b'{"type":"t","actor":"a","payload":{"n":123456789012345678901234567890}}', 400),
            (b'[]', 422),
        ]
        for data, status in raw:
            st, r = self.req("POST", "/events/append", raw=data)
            self.assertEqual(st, status, data)
            self.assertIn("error", r)
        st, r = self.req("POST", "/events/append", raw=b'{"type":"t","actor":"a","payload":{}}',
                         headers={"Content-Type": "text/plain"})
        self.assertEqual(st, 415)
        big = b'{"type":"t","actor":"a","payload":{"s":"' + b"a" * (1024 * 1024) + b'"}}'
        st, r = self.req("POST", "/events/append", raw=big)
        self.assertEqual((st, r["error"]), (413, "too_large"))
        self.assertEqual(self.count(), before)

    def test_unknown_routes_and_methods(self):
        st, r = self.req("GET", "/nope")
        self.assertEqual((st, r["error"]), (404, "not_found"))
        st, r = self.req("DELETE", "/health")
        self.assertEqual((st, r["error"]), (405, "method_not_allowed"))
        st, r = self.req("GET", "/events/log?limit=abc")
        self.assertEqual((st, r["error"]), (422, "invalid_field"))

    def test_sandbox_exec_route_runs_sandboxed_and_is_recorded(self):
        st, r = self.req("POST", "/sandbox/exec",
                         {"command": "echo hi; id -u; test -w /usr && echo usr-writable; true"})
        self.assertEqual(st, 200, r)
        self.assertEqual((r["exit_code"], r["ring"], r["timed_out"]), (0, "ring2", False))
        self.assertEqual(r["stdout"].split(), ["hi", "65534"])  # unprivileged, /usr read-only
        st, log = self.req("GET", "/events/log?type=sandbox.exec")
        self.assertEqual(json.loads(log[0]["payload"])["ring"], "ring2")
        st, r = self.req("POST", "/sandbox/exec", {"command": "true", "fs_write": ["/etc"]})
        self.assertEqual(st, 503, r)  # forbidden bind: refused, not silently skipped
        st, r = self.req("POST", "/sandbox/exec", {"cmd": "true"})
        self.assertEqual((st, r["error"]), (422, "invalid_field"))
        st, r = self.agentd.agent_request("POST", "/sandbox/exec", {"command": "true"})
        self.assertIn(st, (403, 404))  # agents reach it only as a tool, under the policy

    def test_second_daemon_on_same_socket_refuses(self):
        other = subprocess.run([binary("agentd"), "--socket", self.agentd.sock, "--state-dir",
                                self.agentd.state_dir + "-2"], capture_output=True, timeout=30)
        self.assertEqual(other.returncode, 1)
        self.assertIn(b"daemon.listen", other.stderr)
        st, _ = self.req("GET", "/health")
        self.assertEqual(st, 200)


class Checkpoints(AgentdTestCase):
    agentd_args = ("--checkpoint-every", "5")

    def test_checkpoint_root_and_proofs_match_independent_rfc6962(self):
        for i in range(23):
            self.assertEqual(append(self.agentd, i)[0], 201)
        deadline = time.monotonic() + 10
        while True:
            st, cp = self.req("GET", "/ledger/checkpoint")
            if st == 200 and cp["tree_size"] >= 20 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(st, 200)
        lines = cp["note"].split("\n")
        origin, size, root_b64 = lines[0], int(lines[1]), lines[2]
        self.assertEqual(size, cp["tree_size"])
        self.assertTrue(origin.endswith("/osmoda-ledger"))
        self.assertEqual(lines[3], "")
        self.assertTrue(lines[4].startswith("\u2014 " + origin + " "))
        sig = base64.b64decode(lines[4].split(" ")[2])
        self.assertEqual(len(sig), 68)
        st, log = self.req("GET", "/events/log?limit=1000")
        hashes = [e["hash"] for e in sorted(log, key=lambda e: e["id"])]
        leaves = [leaf(h) for h in hashes]
        self.assertEqual(base64.b64decode(root_b64), mth(leaves[:size]))
        with open(os.path.join(self.agentd.state_dir, "ledger.checkpoints"), encoding="utf-8") as f:
            self.assertIn(cp["note"], f.read())
        for i in (1, 2, size // 2, size):
            st, p = self.req("GET", f"/ledger/proof/inclusion?id={i}")
            self.assertEqual(st, 200)
            self.assertEqual((p["leaf_index"], p["tree_size"], p["leaf_hash"]), (i - 1, size, hashes[i - 1]))
            path = [bytes.fromhex(x) for x in p["audit_path"]]
            root = bytes.fromhex(p["root_hash"])
            self.assertEqual(root, mth(leaves[:size]))
            self.assertTrue(verify_inclusion(i - 1, size, leaves[i - 1], path, root))
            self.assertFalse(verify_inclusion(i % size, size, leaves[i - 1], path, root)
                             if size > 1 else False)
        st, c = self.req("GET", f"/ledger/proof/consistency?from=5&to={size}")
        self.assertEqual(st, 200)
        self.assertEqual(bytes.fromhex(c["old_root"]), mth(leaves[:5]))
        self.assertEqual(bytes.fromhex(c["new_root"]), mth(leaves[:size]))
        st, r = self.req("GET", "/ledger/proof/inclusion?id=99999")
        self.assertEqual(st, 404)
        st, r = self.req("GET", "/ledger/proof/inclusion")
        self.assertEqual(st, 422)


class Durability(unittest.TestCase):
    def test_no_acknowledged_event_lost_on_sigkill(self):
        d = Agentd().start()
        acked, lock, stop = {}, threading.Lock(), threading.Event()

        def client(c):
            i = 0
            while not stop.is_set():
                body = {"type": "load.event", "actor": f"client{c}", "payload": {"c": c, "i": i}}
                try:
                    st, r = d.request("POST", "/events/append", body, timeout=5)
                except OSError:
                    return
                if st == 201:
                    with lock:
                        acked[r["id"]] = (c, i, r["hash"])
                i += 1

        threads = [threading.Thread(target=client, args=(c,)) for c in range(16)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(acked) <= 50 and time.monotonic() < deadline:
            time.sleep(0.05)  # enough acknowledged appends, however slow the machine
        d.proc.kill()  # SIGKILL while appends are in flight
        d.proc.wait()
        stop.set()
        for t in threads:
            t.join()
        self.assertGreater(len(acked), 50)
        db = sqlite3.connect(os.path.join(d.state_dir, "ledger.db"))
        rows = {id_: (json.loads(p), h) for id_, p, h in
                db.execute("SELECT id, payload, hash FROM events WHERE type='load.event'")}
        db.close()
        for id_, (c, i, h) in acked.items():
            self.assertIn(id_, rows, f"acknowledged event {id_} lost")
            self.assertEqual(rows[id_], ({"c": c, "i": i}, h))
        n, problems = chain_ok(os.path.join(d.state_dir, "ledger.db"))
        self.assertEqual(problems, [])
        d.start()  # the killed ledger reopens and the chain continues
        self.assertEqual(append(d, 0)[0], 201)
        self.assertEqual(chain_ok(os.path.join(d.state_dir, "ledger.db"))[1], [])
        d.cleanup()


OSMODA_SCHEMA = """
CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT,
  ts TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  type TEXT NOT NULL, actor TEXT NOT NULL, payload TEXT NOT NULL,
  prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (1, 3);
CREATE VIRTUAL TABLE events_fts USING fts5(type, actor, payload, content=events,
  content_rowid=id, tokenize='porter unicode61');
CREATE TRIGGER events_fts_insert AFTER INSERT ON events BEGIN
  INSERT INTO events_fts(rowid, type, actor, payload) VALUES (new.id, new.type, new.actor, new.payload);
END;
"""


class IndependentLedger(unittest.TestCase):
    """A ledger written the osModa way by Python (insert, read back id/ts, hash, update) is
    accepted unchanged, and agentd's appends continue its chain."""

    def test_continue_python_written_ledger(self):
        d = Agentd()
        os.makedirs(d.state_dir)
        db_path = os.path.join(d.state_dir, "ledger.db")
        db = sqlite3.connect(db_path)
        db.executescript(OSMODA_SCHEMA)
        vectors = [
            (1, "2026-01-01T00:00:00.000Z", "daemon.start", "agentd",
             '{"socket":"/run/osmoda/agentd.sock","state_dir":"/var/lib/osmoda"}',
             "b1d3eaed4794a7abdd1e15765c2cdd0e20d909e46ef1edc7b4b2453bb179535c"),
            (2, "2026-01-01T00:00:01.500Z", "memory.store", "agentd",
             '{"category":null,"detail":null,"summary":"hello","tags":null}',
             "54c0b6ad3f29a7c46f6f62c78991809b80d0e023579330e9a6061d6a0f2e82a4"),
        ]
        prev = GENESIS
        for id_, ts, t, a, p, expected in vectors:
            h = event_hash(id_, ts, t, a, p, prev)
            self.assertEqual(h, expected)  # the reference's published vectors
            db.execute("INSERT INTO events (id, ts, type, actor, payload, prev_hash, hash) "
                       "VALUES (?,?,?,?,?,?,?)", (id_, ts, t, a, p, prev, h))
            prev = h
        db.commit()
        db.close()
        d.start()
        self.assertEqual(append(d, 7)[0], 201)
        d.stop()
        n, problems = chain_ok(db_path)
        self.assertEqual((n, problems), (4, []))
        db = sqlite3.connect(db_path)
        rows = db.execute("SELECT id, ts, prev_hash FROM events ORDER BY id").fetchall()
        self.assertEqual(rows[2][2], vectors[1][5])  # daemon.start chained to Python's last hash
        self.assertTrue(all(TS_RE.match(ts) for _, ts, _ in rows))
        self.assertEqual(db.execute("SELECT version FROM schema_version").fetchone()[0], 3)
        # FTS still indexes new rows (osModa's trigger kept working)
        self.assertEqual(db.execute("SELECT count(*) FROM events_fts WHERE events_fts MATCH 'tester'")
                         .fetchone()[0], 1)
        db.close()
        d.cleanup()


if __name__ == "__main__":
    unittest.main()
