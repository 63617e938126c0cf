"""agentctl against ledgers written independently (pyledger, osModa's format) and by the real
agentd: osModa's exact output lines and exit codes, and the checkpoint checks osModa lacks.

Run: OSMODA_BUILD=<build dir> python3 -m unittest tests/integration/test_agentctl.py"""
import base64
import ctypes
import ctypes.util
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import osmtest  # noqa: E402
import pyledger  # noqa: E402
from osmtest import run_ctl  # noqa: E402

VECTOR_1 = ("2026-01-01T00:00:00.000Z", "daemon.start", "agentd",
            '{"socket":"/run/osmoda/agentd.sock","state_dir":"/var/lib/osmoda"}',
            "b1d3eaed4794a7abdd1e15765c2cdd0e20d909e46ef1edc7b4b2453bb179535c")
VECTOR_2 = ("2026-01-01T00:00:01.500Z", "memory.store", "agentd",
            '{"category":null,"detail":null,"summary":"hello","tags":null}',
            "54c0b6ad3f29a7c46f6f62c78991809b80d0e023579330e9a6061d6a0f2e82a4")



class TempState(unittest.TestCase):
    """A temporary state directory with helpers to write a pyledger ledger in it."""

    def setUp(self):
        self.state = tempfile.mkdtemp(prefix="osmoda-ctl-")
        self.db_path = os.path.join(self.state, "ledger.db")

    def tearDown(self):
        shutil.rmtree(self.state, ignore_errors=True)

    def ledger(self, events):
        """Writes events [(ts or None, type, actor, payload)] and returns their (id, ts, hash)."""
        led = pyledger.PyLedger(self.db_path)
        out = [led.append(t, a, p, ts=ts) for ts, t, a, p in events]
        led.close()
        return out

    def tamper(self, sql, args=()):
        db = sqlite3.connect(self.db_path)
        db.execute(sql, args)
        db.commit()
        db.close()

    def ctl(self, *args):
        return run_ctl(*args, state_dir=self.state)

    def assert_one_line_error(self, res, code):
        self.assertEqual(res.returncode, code, res.stderr)
        self.assertEqual(res.stdout, "")
        self.assertEqual(len(res.stderr.splitlines()), 1, res.stderr)
        self.assertTrue(res.stderr.startswith("agentctl: "), res.stderr)


class TestVectors(TempState):
    def test_reference_vectors(self):
        self.assertEqual(pyledger.event_hash(1, *VECTOR_1[:4], pyledger.GENESIS), VECTOR_1[4])
        self.assertEqual(pyledger.event_hash(2, *VECTOR_2[:4], VECTOR_1[4]), VECTOR_2[4])
        rows = self.ledger([v[:4] for v in (VECTOR_1, VECTOR_2)])
        self.assertEqual([r[2] for r in rows], [VECTOR_1[4], VECTOR_2[4]])
        res = self.ctl("verify-ledger")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout, "Ledger verified: 2 events, all hashes valid, chain intact.\n"
                                     "Checkpoints: none.\n")
        self.assertEqual(res.stderr, "")


class TestVerify(TempState):
    N = 500

    def setUp(self):
        super().setUp()
        self.types = ["memory.ingest" if i % 3 else "system.query" for i in range(self.N)]
        self.rows = self.ledger([(None, self.types[i], "agentd",
                                  json.dumps({"n": i, "text": "event %d" % i}))
                                 for i in range(self.N)])

    def verify(self):
        return self.ctl("verify-ledger")

    def test_intact(self):
        res = self.verify()
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout.splitlines()[0],
                         "Ledger verified: 500 events, all hashes valid, chain intact.")
        self.assertEqual(res.stderr, "")

    def test_flipped_payload_byte(self):
        payload = json.dumps({"n": 249, "text": "event 24X"})
        self.tamper("UPDATE events SET payload = ? WHERE id = 250", (payload,))
        _, ts, stored = self.rows[249]
        computed = pyledger.event_hash(250, ts, self.types[249], "agentd", payload,
                                       self.rows[248][2])
        res = self.verify()
        self.assertEqual(res.returncode, 1)
        self.assertEqual(res.stdout, "")
        self.assertEqual(res.stderr,
                         "HASH MISMATCH at event #250: computed=%s, stored=%s\n"
                         "LEDGER CORRUPTION: 1 error(s) found in 500 events!\n"
                         % (computed, stored))

    def test_deleted_middle_row(self):
        self.tamper("DELETE FROM events WHERE id = 250")
        res = self.verify()
        self.assertEqual(res.returncode, 1)
        lines = res.stderr.splitlines()
        self.assertIn("CHAIN BREAK at event #251: expected prev_hash=%s, got %s"
                      % (self.rows[248][2], self.rows[249][2]), lines)
        self.assertIn("ID GAP at event #251: expected id=250, got id=251", lines)
        self.assertRegex(lines[-1], r"^LEDGER CORRUPTION: \d+ error\(s\) found in 499 events!$")

    def test_reordered_rows(self):
        # Swap the contents of rows 100 and 101: each row now sits under the other's id.
        cols = "ts, type, actor, payload, prev_hash, hash"
        db = sqlite3.connect(self.db_path)
        a = db.execute("SELECT %s FROM events WHERE id = 100" % cols).fetchone()
        b = db.execute("SELECT %s FROM events WHERE id = 101" % cols).fetchone()
        upd = "UPDATE events SET ts=?, type=?, actor=?, payload=?, prev_hash=?, hash=? WHERE id=?"
        db.execute(upd, b + (100,))
        db.execute(upd, a + (101,))
        db.commit()
        db.close()
        res = self.verify()
        self.assertEqual(res.returncode, 1)
        for prefix in ("CHAIN BREAK at event #100:", "HASH MISMATCH at event #100:",
                       "CHAIN BREAK at event #101:", "HASH MISMATCH at event #101:"):
            self.assertIn(prefix, res.stderr)
        self.assertTrue(res.stderr.endswith("found in 500 events!\n"), res.stderr)

    def test_json(self):
        self.tamper("UPDATE events SET hash = ? WHERE id = 7", ("0" * 64,))
        res = self.ctl("--json", "verify-ledger")
        self.assertEqual(res.returncode, 1)
        out = json.loads(res.stdout)
        self.assertFalse(out["ok"])
        self.assertEqual(out["events"], 500)
        self.assertEqual(out["errors"], 2)  # hash of #7, prev_hash of #8
        self.assertEqual([p["kind"] for p in out["problems"]], ["hash_mismatch", "chain_break"])
        self.assertEqual([p["id"] for p in out["problems"]], [7, 8])
        res = self.ctl("verify-ledger", "--json")
        self.assertEqual(json.loads(res.stdout)["errors"], 2)


# A small ledger whose `events` and `stats` output is written out by hand below.
SMALL = [
    VECTOR_1[:4],
    VECTOR_2[:4],
    ("2026-01-01T00:00:02.000Z", "memory.ingest", "watch",
     '{"z":1,"a":[1,2.5,{}],"s":"\u00e9/\\u0001\\"q","e":[],"n":{"y":true,"x":-0.0}}'),
    ("2026-01-01T00:00:03.000Z", "note", "operator", "not json | at all"),
    ("2026-01-01T00:00:04.000Z", "system.query", "agentd",
     '{"big":1e21,"small":0.00001,"tiny":1e-7,"int":12345678901,"f":100.0,"g":1.5e300,'
     '"e16":1e16,"e15":1e15,"neg":-3}'),
    ("2026-01-01T00:00:05.000Z", "memory.ingest", "watch", "[]"),
    ("2026-01-01T00:00:06.000Z", "memory.ingest", "mesh", '"just a string"'),
]

SMALL_PAYLOADS_PRETTY = [
    """{
  "socket": "/run/osmoda/agentd.sock",
  "state_dir": "/var/lib/osmoda"
}""",
    """{
  "category": null,
  "detail": null,
  "summary": "hello",
  "tags": null
}""",
    """{
  "a": [
    1,
    2.5,
    {}
  ],
  "e": [],
  "n": {
    "x": -0.0,
    "y": true
  },
  "s": "\u00e9/\\u0001\\"q",
  "z": 1
}""",
    "not json | at all",
    """{
  "big": 1e21,
  "e15": 1000000000000000.0,
  "e16": 1e16,
  "f": 100.0,
  "g": 1.5e300,
  "int": 12345678901,
  "neg": -3,
  "small": 0.00001,
  "tiny": 1e-7
}""",
    "[]",
    '"just a string"',
]


class TestEventsAndStats(TempState):
    def setUp(self):
        super().setUp()
        self.rows = self.ledger(SMALL)

    def expected_events(self, ids):
        out = ""
        for i in ids:
            ts, etype, actor, _ = SMALL[i - 1]
            body = SMALL_PAYLOADS_PRETTY[i - 1].replace("\n", "\n  ")
            out += "#%d [%s] %s by %s\n  %s\n  hash: %s\n\n" % (i, ts, etype, actor, body,
                                                                 self.rows[i - 1][2])
        return out + "Showed %d event(s)\n" % len(ids)

    def test_events_full_text(self):
        res = self.ctl("events")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout, self.expected_events(range(1, 8)))

    def test_events_filters(self):
        res = self.ctl("events", "--last", "2")
        self.assertEqual(res.stdout, self.expected_events([6, 7]))
        res = self.ctl("events", "--type", "memory.ingest", "--last=2")
        self.assertEqual(res.stdout, self.expected_events([6, 7]))
        res = self.ctl("events", "--actor", "watch")
        self.assertEqual(res.stdout, self.expected_events([3, 6]))
        res = self.ctl("events", "--type", "memory.ingest", "--actor", "mesh")
        self.assertEqual(res.stdout, self.expected_events([7]))
        res = self.ctl("events", "--type", "nothing")
        self.assertEqual(res.stdout, "Showed 0 event(s)\n")
        res = self.ctl("events", "--last", "0")
        self.assertEqual(res.stdout, "Showed 0 event(s)\n")

    def test_events_json(self):
        res = self.ctl("--json", "events", "--last", "3")
        self.assertEqual(res.returncode, 0, res.stderr)
        out = json.loads(res.stdout)
        self.assertEqual([e["id"] for e in out], [5, 6, 7])
        self.assertEqual(out[2], {"id": 7, "ts": SMALL[6][0], "type": "memory.ingest",
                                  "actor": "mesh", "payload": SMALL[6][3],
                                  "prev_hash": self.rows[5][2], "hash": self.rows[6][2]})



class TestStats(TempState):
    def test_stats_full_text(self):
        events = [("2026-02-01T00:00:00.000Z", "a.x"), ("2026-02-01T12:00:00.000Z", "b.y"),
                  ("2026-02-02T00:00:00.000Z", "d.w"), ("2026-02-02T12:00:00.000Z", "a.x"),
                  ("2026-02-03T00:00:00.000Z", "c.z"), ("2026-02-03T12:00:00.000Z", "b.y"),
                  ("2026-02-04T00:00:00.000Z", "a.x"), ("2026-02-04T12:00:00.000Z", "c.z"),
                  ("2026-02-05T00:00:00.000Z", "b.y"), ("2026-02-05T12:00:00.000Z", "a.x")]
        self.ledger([(ts, t, "agentd", "{}") for ts, t in events])
        size = os.path.getsize(self.db_path)
        res = self.ctl("stats")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout, "Ledger statistics:\n"
                                     "  Total events: 10\n"
                                     "  First event:  2026-02-01T00:00:00.000Z\n"
                                     "  Last event:   2026-02-05T12:00:00.000Z\n"
                                     "  By type:\n"
                                     "    a.x: 4\n"
                                     "    b.y: 3\n"
                                     "    c.z: 2\n"
                                     "    d.w: 1\n"
                                     "  DB size: %.2f MB\n" % (size / 1048576.0))
        res = self.ctl("stats", "--json")
        out = json.loads(res.stdout)
        self.assertEqual(out["total_events"], 10)
        self.assertEqual(out["by_type"][0], {"type": "a.x", "count": 4})
        self.assertEqual(out["db_size_bytes"], size)

    def test_stats_empty(self):
        self.ledger([])
        res = self.ctl("stats")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout.splitlines()[:3],
                         ["Ledger statistics:", "  Total events: 0", "  By type:"])


class TestUsage(TempState):
    VERBS = ["events", "verify-ledger", "stats", "health", "checkpoint", "prove"]

    def test_missing_ledger(self):
        missing = os.path.join(self.state, "nowhere")
        for verb in ("events", "verify-ledger", "stats", "checkpoint", "prove"):
            args = [verb, "1"] if verb == "prove" else [verb]
            res = run_ctl(*args, state_dir=missing)
            self.assert_one_line_error(res, 1)
            self.assertFalse(os.path.exists(missing))
        res = self.ctl("verify-ledger")
        self.assert_one_line_error(res, 1)
        self.assertEqual(os.listdir(self.state), [])

    def test_usage_errors(self):
        self.ledger([VECTOR_1[:4]])
        for args in (["bogus"], [], ["--bogus", "events"], ["events", "--bogus"],
                     ["events", "--last"], ["events", "--last", "abc"], ["events", "--last", "-1"],
                     ["events", "extra"], ["prove"], ["prove", "x"], ["prove", "1", "2"],
                     ["prove", "0"], ["prove", "1", "--tree-size", "zero"],
                     ["checkpoint", "frobnicate"], ["stats", "--json=yes"]):
            res = self.ctl(*args)
            self.assert_one_line_error(res, 2)

    def test_help(self):
        res = run_ctl("--help")
        self.assertEqual(res.returncode, 0)
        self.assertTrue(res.stdout.startswith("Usage: agentctl"))
        for verb in self.VERBS:
            self.assertIn("  " + verb + " ", res.stdout)
            res_v = run_ctl(verb, "--help")
            self.assertEqual(res_v.returncode, 0, verb)
            self.assertTrue(res_v.stdout.startswith("Usage: agentctl [GLOBAL OPTIONS] " + verb),
                            res_v.stdout)
            self.assertIn("--json", res_v.stdout)
        self.assertIn("--last N", run_ctl("events", "--help").stdout)
        self.assertEqual(run_ctl("--version").returncode, 0)

    def test_health_unreachable(self):
        res = run_ctl("health", sock=os.path.join(self.state, "agentd.sock"))
        self.assert_one_line_error(res, 1)
        res = run_ctl("health", "--json", sock=os.path.join(self.state, "agentd.sock"))
        self.assert_one_line_error(res, 1)


# ---- with the real agentd ------------------------------------------------------------------

def libsodium():
    return ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")


def sign_note_with_new_key(note, name):
    """The note's body re-signed by a fresh Ed25519 key under the same key name."""
    body = note[:note.index("\n\n") + 1].encode()
    sodium = libsodium()
    pk, sk = ctypes.create_string_buffer(32), ctypes.create_string_buffer(64)
    sig = ctypes.create_string_buffer(64)
    sodium.crypto_sign_keypair(pk, sk)
    sodium.crypto_sign_detached(sig, None, body, ctypes.c_ulonglong(len(body)), sk)
    key_hash = hashlib.sha256(name.encode() + b"\n\x01" + pk.raw).digest()[:4]
    line = "\u2014 %s %s\n" % (name, base64.b64encode(key_hash + sig.raw).decode())
    return body.decode() + "\n" + line


class TestWithAgentd(unittest.TestCase):
    """A ledger written by the real agentd with a checkpoint every 10 events."""
    EVENTS = 25

    def setUp(self):
        self.agentd = osmtest.Agentd(args=["--checkpoint-every", "10"]).start()
        for i in range(self.EVENTS):
            status, body = self.agentd.request("POST", "/events/append", {
                "type": "test.event", "actor": "tester", "payload": {"i": i}})
            self.assertEqual(status, 201, body)

    def tearDown(self):
        self.agentd.cleanup()

    def ctl(self, *args):
        return run_ctl(*args, state_dir=self.agentd.state_dir, sock=self.agentd.sock)

    def stopped(self):
        """Stops agentd (it signs a final checkpoint) and returns the events' count."""
        self.agentd.stop()
        db = sqlite3.connect(os.path.join(self.agentd.state_dir, "ledger.db"))
        n = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        db.close()
        return n

    def db_path(self):
        return os.path.join(self.agentd.state_dir, "ledger.db")

    def test_health(self):
        res = self.ctl("health")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(json.loads(res.stdout)["status"], "ok")
        self.assertTrue(res.stdout.startswith("{\n  \""), res.stdout)

    def test_verify_with_checkpoints(self):
        n = self.stopped()
        res = self.ctl("verify-ledger")
        self.assertEqual(res.returncode, 0, res.stderr)
        lines = res.stdout.splitlines()
        self.assertEqual(lines[0], "Ledger verified: %d events, all hashes valid, chain intact."
                         % n)
        self.assertRegex(lines[1], r"^Checkpoints verified: \d+ signed, latest tree size %d\.$"
                         % n)
        out = json.loads(self.ctl("--json", "verify-ledger").stdout)
        self.assertTrue(out["ok"])
        self.assertEqual(out["latest_tree_size"], n)

    def test_checkpoint_show_verify(self):
        n = self.stopped()
        res = self.ctl("checkpoint")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("  tree size: %d\n" % n, res.stdout)
        self.assertIn("  signature: valid", res.stdout)
        res = self.ctl("checkpoint", "verify")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertTrue(res.stdout.startswith("Checkpoint verified: tree size %d" % n))
        out = json.loads(self.ctl("checkpoint", "show", "--json").stdout)
        self.assertEqual(out["tree_size"], n)
        self.assertTrue(out["signature_valid"])

    def test_prove(self):
        n = self.stopped()
        for event_id in (1, 5, n):
            res = self.ctl("prove", str(event_id))
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertIn("  leaf index: %d\n  tree size:  %d\n" % (event_id - 1, n), res.stdout)
            self.assertTrue(res.stdout.endswith("verified\n"))
        out = json.loads(self.ctl("--json", "prove", "5").stdout)
        self.assertTrue(out["verified"])
        self.assertEqual(out["leaf_index"], 4)
        self.assertEqual(self.ctl("prove", str(n + 1)).returncode, 1)
        db = sqlite3.connect(self.db_path())
        sizes = [r[0] for r in db.execute("SELECT tree_size FROM checkpoints ORDER BY tree_size")]
        db.close()
        self.assertGreater(len(sizes), 1, "expected a checkpoint every 10 events")
        res = self.ctl("prove", "3", "--tree-size", str(sizes[0]))
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("  tree size:  %d\n" % sizes[0], res.stdout)
        unsigned = next(k for k in range(3, n) if k not in sizes)
        self.assertEqual(self.ctl("prove", "3", "--tree-size", str(unsigned)).returncode, 1)

    def assert_detected(self, what):
        res = self.ctl("verify-ledger")
        self.assertEqual(res.returncode, 1, res.stdout)
        self.assertIn(what, res.stderr)
        self.assertRegex(res.stderr.splitlines()[-1],
                         r"^LEDGER CORRUPTION: \d+ error\(s\) found in \d+ events!$")

    def test_truncation_detected(self):
        n = self.stopped()
        self.tamper_db("DELETE FROM events WHERE id > ?", (n - 3,))
        self.assert_detected("TRUNCATION at tree size %d" % n)

    def test_resigned_checkpoint_detected(self):
        self.stopped()
        db = sqlite3.connect(self.db_path())
        size, note = db.execute("SELECT tree_size, note FROM checkpoints "
                                "ORDER BY tree_size DESC LIMIT 1").fetchone()
        name = note.splitlines()[0]
        forged = sign_note_with_new_key(note, name)
        db.execute("UPDATE checkpoints SET note = ? WHERE tree_size = ?", (forged, size))
        db.commit()
        db.close()
        log = os.path.join(self.agentd.state_dir, "ledger.checkpoints")
        with open(log) as f:
            text = f.read()
        with open(log, "w") as f:
            f.write(text.replace(note, forged))
        self.assert_detected("CHECKPOINT BAD SIGNATURE at tree size %d" % size)
        res = self.ctl("checkpoint", "verify")
        self.assertEqual(res.returncode, 1)
        self.assertEqual(self.ctl("prove", "1").returncode, 1)

    def test_rewritten_chain_detected(self):
        self.stopped()
        led = pyledger.PyLedger(self.db_path())
        led.execute("UPDATE events SET payload = ? WHERE id = 3", ('{"i":999}',))
        led.rehash()
        led.close()
        self.assertEqual(self.ctl("events", "--last", "1").returncode, 0)
        self.assert_detected("CHECKPOINT MISMATCH at tree size")
        self.assertEqual(self.ctl("checkpoint", "verify").returncode, 1)
        self.assertEqual(self.ctl("prove", "3").returncode, 1)

    def tamper_db(self, sql, args=()):
        db = sqlite3.connect(self.db_path())
        db.execute(sql, args)
        db.commit()
        db.close()


if __name__ == "__main__":
    unittest.main()
