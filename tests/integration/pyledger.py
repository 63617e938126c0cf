"""An independent Python writer of osModa ledgers (osmoda-reference.md §3), for tests: the schema v3
SQL and the hash are written here from the reference text, not taken from our C code, so a ledger
made by this module checks that agentctl reads what osModa itself would have written.

Python standard library only (sqlite3 + hashlib)."""
import hashlib
import sqlite3

GENESIS = "0" * 64
SCHEMA_VERSION = 3

# osModa schema v3 (§3): events, incidents, incident_steps, schema_version, the FTS5 index over
# type/actor/payload with its insert trigger (osModa has no update/delete triggers).
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    type TEXT NOT NULL,
    actor TEXT NOT NULL,
    payload TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    resolved_at TEXT
);
CREATE TABLE IF NOT EXISTS incident_steps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    step_number INTEGER NOT NULL,
    action TEXT NOT NULL,
    result TEXT NOT NULL,
    receipt_id TEXT,
    timestamp TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE TABLE IF NOT EXISTS schema_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS events_fts USING fts5(
    type, actor, payload, content=events, content_rowid=id, tokenize='porter unicode61'
);
CREATE TRIGGER IF NOT EXISTS events_fts_insert AFTER INSERT ON events BEGIN
    INSERT INTO events_fts(rowid, type, actor, payload)
    VALUES (new.id, new.type, new.actor, new.payload);
END;
"""


def event_hash(event_id, ts, etype, actor, payload, prev_hash):
    """The osModa v2+ hash: lowercase hex SHA-256 of "id|ts|type|actor|payload|prev_hash"."""
    text = "%d|%s|%s|%s|%s|%s" % (event_id, ts, etype, actor, payload, prev_hash)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class PyLedger:
    """An osModa ledger.db: WAL, synchronous=FULL, schema v3, one transaction per append."""

    def __init__(self, path):
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        self.db.execute("INSERT OR REPLACE INTO schema_version (id, version) VALUES (1, ?)",
                        (SCHEMA_VERSION,))

    def last_hash(self):
        row = self.db.execute("SELECT hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
        return row[0] if row else GENESIS

    def append(self, etype, actor, payload, ts=None):
        """osModa's append: insert with hash '', read back id and the database's ts, compute the
        hash, update it. ts overrides the default timestamp (for fixed test vectors).
        Returns (id, ts, hash)."""
        self.db.execute("BEGIN IMMEDIATE")
        prev = self.last_hash()
        if ts is None:
            cur = self.db.execute("INSERT INTO events (type, actor, payload, prev_hash, hash) "
                                  "VALUES (?, ?, ?, ?, '')", (etype, actor, payload, prev))
        else:
            cur = self.db.execute("INSERT INTO events (ts, type, actor, payload, prev_hash, hash) "
                                  "VALUES (?, ?, ?, ?, ?, '')", (ts, etype, actor, payload, prev))
        event_id = cur.lastrowid
        ts = self.db.execute("SELECT ts FROM events WHERE id = ?", (event_id,)).fetchone()[0]
        digest = event_hash(event_id, ts, etype, actor, payload, prev)
        self.db.execute("UPDATE events SET hash = ? WHERE id = ?", (digest, event_id))
        self.db.execute("COMMIT")
        return event_id, ts, digest

    def rehash(self):
        """Recomputes prev_hash and hash of every row in id order: what an attacker does after
        editing a row so that the chain alone verifies again."""
        prev = GENESIS
        rows = self.db.execute("SELECT id, ts, type, actor, payload FROM events ORDER BY id")
        rows = rows.fetchall()
        self.db.execute("BEGIN IMMEDIATE")
        for event_id, ts, etype, actor, payload in rows:
            digest = event_hash(event_id, ts, etype, actor, payload, prev)
            self.db.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE id = ?",
                            (prev, digest, event_id))
            prev = digest
        self.db.execute("COMMIT")

    def execute(self, sql, args=()):
        """Runs one statement (tampering in tests); returns the fetched rows."""
        return self.db.execute(sql, args).fetchall()

    def close(self):
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.close()
