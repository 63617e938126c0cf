"""The policy on watch's tools, with a real agentd and osmoda-watch: a SafeSwitch files plan runs
without a person only under the managed config prefixes of policy.json, waits for an approval
elsewhere and wherever root runs code from, and its held job is followed through watch with the
job tools' daemon argument. Nothing a held plan names is written before the approval."""
import hashlib
import json
import os
import tempfile
import unittest

from osmtest import Agentd, Watch, wait_for


class SwitchPolicy(unittest.TestCase):
    def setUp(self):
        self.agentd = Agentd().start()
        self.root = tempfile.mkdtemp(prefix="osmoda-managed-")
        self.managed = os.path.join(self.root, "managed")
        self.other = os.path.join(self.root, "other")
        for d in (self.managed, self.other):
            os.makedirs(d)
        policy = os.path.join(self.agentd.state_dir, "policy.json")
        with open(policy, "w") as f:
            json.dump({"managed_config": [self.managed]}, f)
        os.chmod(policy, 0o600)
        self.watch = Watch(self.agentd).start()

    def tearDown(self):
        alive = self.watch.alive()
        self.watch.stop()
        self.agentd.cleanup()
        for d in (self.managed, self.other):
            for n in os.listdir(d):
                os.unlink(os.path.join(d, n))
            os.rmdir(d)
        os.rmdir(self.root)
        self.assertTrue(alive, "osmoda-watch died during the test")

    def begin(self, files, ttl=60):
        return self.watch.call("safe_switch_begin", {
            "plan": {"backend": "files", "files": files}, "ttl_secs": ttl, "health_checks": []})

    def test_managed_config_runs_at_once(self):
        path = os.path.join(self.managed, "app.conf")
        st, r = self.begin({path: "port=8080\n"})
        self.assertEqual((st, r["status"]), (200, "ok"), r)
        with open(path) as f:
            self.assertEqual(f.read(), "port=8080\n")
        calls = [p for t, p in self.watch.events("tool.call") if p["tool"] == "safe_switch_begin"]
        self.assertEqual(calls[-1]["decision"], "allow", calls[-1])
        self.assertEqual(calls[-1]["rule"], "default:managed-config", calls[-1])

    def test_unmanaged_path_waits_and_nothing_is_written_until_approved(self):
        path = os.path.join(self.other, "app.conf")
        st, r = self.begin({path: "x=1\n"})
        self.assertEqual((st, r["status"]), (202, "pending"), r)
        self.assertFalse(os.path.exists(path))
        st, job = self.watch.call("job_status", {"job_id": r["job_id"], "daemon": "watch"})
        self.assertEqual(st, 200, job)
        self.assertEqual(job["result"]["status"], "pending_approval", job)
        st, a = self.agentd.request("POST", "/approval/%s/approve" % r["approval_id"], {})
        self.assertEqual(st, 200, a)
        wait_for(lambda: os.path.exists(path), "the approved switch to write its file")
        with open(path) as f:
            self.assertEqual(f.read(), "x=1\n")

    def test_one_unmanaged_file_holds_the_whole_plan(self):
        a, b = os.path.join(self.managed, "a.conf"), os.path.join(self.other, "b.conf")
        st, r = self.begin({a: "1\n", b: "2\n"})
        self.assertEqual(r["status"], "pending", r)
        self.assertFalse(os.path.exists(a) or os.path.exists(b))

    def test_root_exec_paths_wait_even_when_listed_as_managed(self):
        # cron.d is never managed config: root runs what is written there before any rollback
        st, r = self.begin({"/etc/cron.d/osmoda-test-never-written": "* * * * * root true\n"})
        self.assertEqual(r["status"], "pending", r)
        self.assertFalse(os.path.exists("/etc/cron.d/osmoda-test-never-written"))
        st, d = self.agentd.request("POST", "/approval/%s/deny" % r["approval_id"], {})
        self.assertEqual(st, 200, d)

    def test_secrets_and_protected_paths_are_denied(self):
        for path in ("/etc/shadow", os.path.join(self.agentd.state_dir, "ledger.db")):
            before = hashlib.sha256(open(path, "rb").read()).hexdigest()
            st, r = self.begin({path: "x"})
            self.assertEqual(r["status"], "denied", r)
            self.assertEqual(hashlib.sha256(open(path, "rb").read()).hexdigest(), before)


if __name__ == "__main__":
    unittest.main()
