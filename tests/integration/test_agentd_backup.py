"""Backups against a real agentd: create → list → restore, secrets left out, the ledger never
restored, crafted archives and traversal ids refused with nothing touched."""
import io
import os
import tarfile
import unittest

from osmtest import Agentd
from test_agentd_endpoints import EndpointCase


class BackupTest(EndpointCase):
    def setUp(self):
        self.agentd = Agentd()
        self.backup_dir = os.path.join(self.agentd.tmp, "backups")
        self.agentd.args = ["--backup-dir", self.backup_dir]
        self.agentd.start()

    def card_name(self):
        return self.req("GET", "/agent/card")[1]["name"]

    def create(self):
        status, body = self.req("POST", "/backup/create")
        self.assertEqual(status, 200, body)
        return body

    def test_create_list_restore_roundtrip(self):
        self.req("POST", "/agent/card/generate", {"name": "before", "description": "d"})
        b = self.create()
        self.assertEqual(list(b.keys()), ["backup_id", "path", "size_bytes", "created_at"])
        self.assertRegex(b["backup_id"], r"^backup-\d{8}-\d{6}$")
        self.assertEqual(b["path"], os.path.join(self.backup_dir, b["backup_id"] + ".tar.gz"))
        self.assertEqual(os.path.getsize(b["path"]), b["size_bytes"])
        self.assertEqual(os.stat(self.backup_dir).st_mode & 0o777, 0o700)
        with tarfile.open(b["path"]) as t:
            names = [os.path.normpath(n) for n in t.getnames()]
        self.assertIn("agent-card.json", names)
        self.assertIn("ledger.db", names)
        self.assertNotIn("ledger.key", names)
        self.assertFalse([n for n in names if n.endswith(("-wal", "-shm"))])
        ev = self.events("backup.create")[0]
        self.assertEqual(ev["payload"], '{"backup_id":"%s","path":"%s","size_bytes":%d}' % (
            b["backup_id"], b["path"], b["size_bytes"]))

        status, listing = self.req("GET", "/backup/list")
        self.assertEqual([x["backup_id"] for x in listing], [b["backup_id"]])
        self.assertEqual(list(listing[0].keys()), ["backup_id", "path", "size_bytes",
                                                   "created_at"])

        self.req("POST", "/agent/card/generate", {"name": "after", "description": "d"})
        self.assertEqual(self.card_name(), "after")
        ledger = os.path.join(self.agentd.state_dir, "ledger.db")
        inode = os.stat(ledger).st_ino
        count = self.count()
        status, body = self.req("POST", "/backup/restore", {"backup_id": b["backup_id"]})
        self.assertEqual(status, 200, body)
        self.assertEqual(list(body.keys()), ["restored_from", "status", "restored", "kept"])
        self.assertEqual(body["status"], "restored")
        self.assertIn(os.path.join(self.agentd.state_dir, "agent-card.json"), body["restored"])
        self.assertIn(ledger, body["kept"])
        self.assertEqual(self.card_name(), "before")
        self.assertEqual(os.stat(ledger).st_ino, inode, "the ledger was replaced")
        self.assertEqual(self.count(), count + 1, "the ledger lost events or missed the restore")
        ev = self.events("backup.restore")[0]
        self.assertEqual(ev["actor"], "agentd")
        self.assertIn(b["backup_id"], ev["payload"])
        self.assertEqual(self.req("GET", "/health")[0], 200)

    def test_same_second_backups_do_not_collide(self):
        ids = [self.create()["backup_id"] for _ in range(3)]
        self.assertEqual(len(set(ids)), 3)
        listing = [x["backup_id"] for x in self.req("GET", "/backup/list")[1]]
        self.assertEqual(len(listing), 3)

    def test_keeps_newest_seven(self):
        os.makedirs(self.backup_dir, mode=0o700, exist_ok=True)
        for i in range(9):
            open(os.path.join(self.backup_dir, "backup-2000010%d-000000.tar.gz" % i), "wb").close()
        newest = self.create()["backup_id"]
        listing = [x["backup_id"] for x in self.req("GET", "/backup/list")[1]]
        self.assertEqual(len(listing), 7)
        self.assertEqual(listing[0], newest)
        self.assertNotIn("backup-20000100-000000", listing)

    def crafted(self, name, members):
        """A backup archive with the given (TarInfo, data) members."""
        os.makedirs(self.backup_dir, exist_ok=True)
        path = os.path.join(self.backup_dir, name + ".tar.gz")
        with tarfile.open(path, "w:gz") as t:
            for info, data in members:
                t.addfile(info, io.BytesIO(data) if data is not None else None)
        return path

    def assert_refused(self, backup_id, status):
        before = sorted(os.listdir(self.agentd.state_dir))
        self.assert_error("POST", "/backup/restore", status, {"backup_id": backup_id})
        self.assertEqual(sorted(os.listdir(self.agentd.state_dir)), before)

    def test_crafted_archives_refused(self):
        evil = tarfile.TarInfo("../escaped.txt")
        evil.size = 4
        card = tarfile.TarInfo("agent-card.json")
        card.size = 2
        self.crafted("backup-evil", [(card, b"{}"), (evil, b"evil")])
        self.assert_refused("backup-evil", 422)
        self.assertFalse(os.path.exists(os.path.join(self.agentd.tmp, "escaped.txt")))
        self.assertFalse(os.path.exists(os.path.join(self.agentd.state_dir, "..", "escaped.txt")))

        absolute = tarfile.TarInfo("/tmp/osmoda-abs-test")
        absolute.size = 1
        self.crafted("backup-abs", [(absolute, b"x")])
        self.assert_refused("backup-abs", 422)

        link = tarfile.TarInfo("agent-card.json")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        self.crafted("backup-link", [(link, None)])
        self.assert_refused("backup-link", 422)

        with open(os.path.join(self.backup_dir, "backup-garbage.tar.gz"), "wb") as f:
            f.write(b"not a tarball")
        self.assert_refused("backup-garbage", 422)
        self.assertEqual(self.events("backup.restore"), [])

    def test_crafted_ledger_and_key_are_kept(self):
        members = []
        for name, data in [("ledger.db", b"junk"), ("ledger.key", b"k"),
                           ("agent-card.json", b'{"x": 1}')]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            members.append((info, data))
        self.crafted("backup-ledger", members)
        key = os.path.join(self.agentd.state_dir, "ledger.key")
        with open(key, "rb") as f:
            secret = f.read()
        status, body = self.req("POST", "/backup/restore", {"backup_id": "backup-ledger"})
        self.assertEqual(status, 200, body)
        self.assertEqual(sorted(os.path.basename(p) for p in body["kept"]),
                         ["ledger.db", "ledger.key"])
        with open(key, "rb") as f:
            self.assertEqual(f.read(), secret)
        self.assertEqual(self.req("GET", "/health")[0], 200)
        self.assertGreater(self.count(), 1)

    def test_bad_ids(self):
        self.assert_bad_bodies("/backup/restore", {"backup_id": "backup-x"})
        for bad in ["../backup-x", "backup-../../etc", "backup-a/b", "backup-", "other-1",
                    "backup-a.b", "backup-" + "a" * 80, "backup-\u00e9"]:
            self.assert_refused(bad, 422)
        self.assert_error("POST", "/backup/restore", 400, raw=b'{"backup_id": "backup-a\\u0000"}')
        self.assert_refused("backup-missing", 404)
        self.assert_error("POST", "/backup/restore", 422, {})


if __name__ == "__main__":
    unittest.main()
