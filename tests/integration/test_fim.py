"""The file integrity monitor against a real agentd: a baseline at first start, an unexpected
write, creation or deletion is an alert with both digests (and stays until accepted), a write
by an approved file_write moves the baseline, and a verify after changes made while watch was
stopped lists them."""
import hashlib
import os
import time
import unittest

from osmtest import Agentd, Watch, run_ctl


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class Fim(unittest.TestCase):
    def setUp(self):
        self.agentd = Agentd().start()
        self.dir = os.path.join(self.agentd.tmp, "watched")
        os.makedirs(os.path.join(self.dir, "sub"))
        self.conf = os.path.join(self.dir, "app.conf")
        with open(self.conf, "w") as f:
            f.write("port = 80\n")
        with open(os.path.join(self.dir, "sub", "b"), "w") as f:
            f.write("b\n")
        self.watch = Watch(self.agentd, ["--fim-path", self.dir])
        self.watch.start()

    def tearDown(self):
        self.watch.stop()
        self.agentd.stop()
        self.agentd.cleanup()

    def wait_event(self, kind, path, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, p in self.watch.events(kind):
                if p.get("path") == path:
                    return p
            time.sleep(0.05)
        self.fail("no %s for %s: %s" % (kind, path, self.watch.events("fim.")))

    def verify(self, body=None):
        st, v = self.watch.request("POST", "/fim/verify", body)
        self.assertEqual(st, 200, v)
        return v

    def test_baseline_created_at_first_start(self):
        (t, p), = self.watch.events("fim.baseline_created")
        self.assertEqual(p["count"], 2)
        with open(os.path.join(self.watch.data_dir, "fim", "baseline")) as f:
            lines = f.read().splitlines()
        self.assertEqual([l.split(" ", 4)[4] for l in lines],
                         sorted([self.conf, os.path.join(self.dir, "sub", "b")]))
        self.assertEqual(lines[0].split()[0], sha(self.conf))
        v = self.verify()
        self.assertEqual((v["checked"], v["changed"], v["missing"], v["new"]), (2, [], [], []))

    def test_unexpected_write_is_an_alert_with_both_hashes(self):
        old = sha(self.conf)
        with open(self.conf, "a") as f:
            f.write("evil = 1\n")
        p = self.wait_event("fim.unexpected_change", self.conf)
        self.assertEqual((p["old_sha256"], p["new_sha256"]), (old, sha(self.conf)))
        st, s = self.watch.request("GET", "/fim/status")
        self.assertEqual([a["path"] for a in s["alerts"]], [self.conf])
        # the baseline did not move: a verify still shows it, until the operator accepts it
        v = self.verify()
        self.assertEqual([c["path"] for c in v["changed"]], [self.conf])
        v = self.verify({"accept": [self.conf]})
        self.assertEqual((v["accepted"], v["changed"]), ([self.conf], []))
        p = self.wait_event("fim.baseline_updated", self.conf)
        self.assertEqual(p["reason"], "operator")

    def test_new_file_in_a_new_directory_and_a_deletion(self):
        os.makedirs(os.path.join(self.dir, "new", "deeper"))
        fresh = os.path.join(self.dir, "new", "deeper", "x")
        with open(fresh, "w") as f:
            f.write("x\n")
        p = self.wait_event("fim.unexpected_change", fresh)
        self.assertIsNone(p["old_sha256"])
        self.assertEqual(p["new_sha256"], sha(fresh))
        gone = os.path.join(self.dir, "sub", "b")
        old = sha(gone)
        os.unlink(gone)
        p = self.wait_event("fim.unexpected_change", gone)
        self.assertEqual((p["old_sha256"], p["new_sha256"]), (old, None))

    def test_mode_change_is_an_alert(self):
        os.chmod(self.conf, 0o600)
        p = self.wait_event("fim.unexpected_change", self.conf)
        self.assertEqual(p["old_sha256"], p["new_sha256"])
        self.assertEqual(p["new_mode"], 0o600)

    def test_changes_while_stopped_are_listed_by_verify(self):
        self.watch.stop()
        with open(self.conf, "w") as f:
            f.write("port = 81\n")
        os.unlink(os.path.join(self.dir, "sub", "b"))
        with open(os.path.join(self.dir, "c"), "w") as f:
            f.write("c\n")
        self.watch.start()
        v = self.verify()
        self.assertEqual([c["path"] for c in v["changed"]], [self.conf])
        self.assertEqual([c["path"] for c in v["missing"]], [os.path.join(self.dir, "sub", "b")])
        self.assertEqual([c["path"] for c in v["new"]], [os.path.join(self.dir, "c")])

    @unittest.skipUnless(os.geteuid() == 0, "a host write by agentd needs root")
    def test_an_approved_file_write_moves_the_baseline(self):
        st, r = self.agentd.call_tool("file_write", {"path": self.conf, "content": "port = 8080\n"})
        self.assertEqual((st, r.get("status")), (202, "pending"), r)
        st, a = self.agentd.request("POST", "/approval/%s/approve" % r["approval_id"], {})
        self.assertEqual(st, 200, a)
        p = self.wait_event("fim.baseline_updated", self.conf)
        self.assertEqual(p["reason"], "approved-tool")
        self.assertEqual(p["sha256"], sha(self.conf))
        self.assertEqual(self.verify()["changed"], [])
        self.assertEqual(self.watch.events("fim.unexpected_change"), [])

    def test_agentctl_fim_verify_exit_codes(self):
        ctl = ("--socket", self.agentd.sock)
        p = run_ctl(*ctl, "fim", "verify")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("no unexpected change", p.stdout)
        with open(self.conf, "w") as f:
            f.write("port = 1\n")
        p = run_ctl(*ctl, "fim", "verify")
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("changed  " + self.conf, p.stdout)
        p = run_ctl(*ctl, "fim", "status")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("watching " + self.dir, p.stdout)
        p = run_ctl(*ctl, "fim", "verify", "--accept", self.conf)
        self.assertEqual(p.returncode, 0, p.stdout)
        p = run_ctl(*ctl, "fim", "bogus")
        self.assertEqual(p.returncode, 2)
        p = run_ctl("--socket", "/nonexistent/agentd.sock", "fim", "verify")
        self.assertEqual(p.returncode, 1)
        self.assertIn("not running", p.stderr)

    def test_bad_verify_bodies(self):
        for body in ({"accept": "x"}, {"accept": ["/etc/passwd"]}, {"other": 1}):
            st, ans = self.watch.request("POST", "/fim/verify", body)
            self.assertEqual(st, 422, (body, ans))


if __name__ == "__main__":
    unittest.main()
