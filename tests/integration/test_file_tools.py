"""file_read / file_write / directory_list: inside the workspace they act without asking and
cannot be led out of it (.., symlinks, /workspace/.. ); outside it they follow the policy (a host
write waits for a person), and the state dir, run dir and /run/osmoda are refused by the tools
themselves; files written for the agent belong to the sandbox user so ring 2 can use them.
tests/integration/test_host_edge.py covers the host edge (secrets, host writes, previews)."""
import json
import os
import shutil
import unittest

from osmtest import Agentd


class FileTools(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agentd = Agentd().start()
        cls.ws = os.path.join(cls.agentd.state_dir, "workspace")

    @classmethod
    def tearDownClass(cls):
        cls.agentd.stop()
        cls.agentd.cleanup()

    def call(self, tool, args):
        st, r = self.agentd.call_tool(tool, args)
        return st, r

    def ok(self, tool, args):
        st, r = self.call(tool, args)
        self.assertEqual((st, r["status"]), (200, "ok"), r)
        return r["result"]

    def test_workspace_exists_private(self):
        st = os.stat(self.ws)
        self.assertEqual(st.st_mode & 0o777, 0o700)
        if os.geteuid() == 0:
            self.assertEqual(st.st_uid, 65534)

    def test_write_read_list_in_workspace(self):
        r = self.ok("file_write", {"path": "notes/a/b.txt", "content": "one\ntwo\nthree\n"})
        self.assertTrue(r["in_workspace"])
        host = os.path.join(self.ws, "notes", "a", "b.txt")
        with open(host) as f:
            self.assertEqual(f.read(), "one\ntwo\nthree\n")
        if os.geteuid() == 0:
            self.assertEqual(os.stat(host).st_uid, 65534)
            self.assertEqual(os.stat(os.path.dirname(host)).st_uid, 65534)
        self.ok("file_write", {"path": "/workspace/notes/a/b.txt", "content": "four\n",
                               "append": True})
        r = self.ok("file_read", {"path": host})  # the host path of the workspace works too
        self.assertEqual(r["content"], "one\ntwo\nthree\nfour\n")
        r = self.ok("file_read", {"path": "notes/a/b.txt", "maxLines": 2})
        self.assertEqual((r["content"], r["lines"], r["truncated"]), ("one\ntwo\n", 2, True))
        r = self.ok("directory_list", {"path": "/workspace", "recursive": True})
        names = [i["name"] for i in r["items"]]
        self.assertIn("notes/a/b.txt", names)
        r = self.ok("directory_list", {"path": "notes", "recursive": True, "grep": "b.txt",
                                       "limit": 1})
        self.assertEqual([i["name"] for i in r["items"]], ["a/b.txt"])

    def test_escapes_refused(self):
        secret = os.path.join(self.agentd.tmp, "outside.txt")
        with open(secret, "w") as f:
            f.write("outside\n")
        os.symlink(secret, os.path.join(self.ws, "to-outside"))
        os.symlink("/", os.path.join(self.ws, "root-link"))
        for path in ("to-outside", "root-link/etc/hostname", "../policy.json",
                     "/workspace/../ledger.db", "x/../../ledger.key",
                     os.path.join(self.ws, "..", "ledger.key")):
            for tool, args in (("file_read", {"path": path}),
                               ("file_write", {"path": path, "content": "pwned"})):
                st, r = self.call(tool, args)
                self.assertEqual((st, r["status"], r["result"]["rule"]),
                                 (403, "denied", "unresolvable"), (path, r))
                self.assertIn("leaves the workspace", r["message"])
        st, r = self.call("directory_list", {"path": "root-link"})
        self.assertEqual((r["status"], r["result"]["rule"]), ("denied", "unresolvable"), r)
        with open(secret) as f:
            self.assertEqual(f.read(), "outside\n")

    def test_outside_reads_follow_policy_protected_refused(self):
        r = self.ok("file_read", {"path": "/etc/os-release", "maxLines": 1})
        self.assertFalse(r["in_workspace"])
        self.assertEqual(r["lines"], 1)
        for path in (os.path.join(self.agentd.state_dir, "ledger.key"),
                     os.path.join(self.agentd.state_dir, "jobs"), self.agentd.run_dir):
            st, r = self.call("directory_list" if not path.endswith("key") else "file_read",
                              {"path": path})
            self.assertNotEqual(r.get("status"), "ok", (path, r))
        # a symlink outside the workspace into the state dir is refused after resolution
        link = os.path.join(self.agentd.tmp, "sneaky")
        os.symlink(self.agentd.state_dir, link)
        st, r = self.call("file_read", {"path": link + "/ledger.key"})
        self.assertNotEqual(r.get("status"), "ok", r)

    def test_outside_write_waits_for_approval(self):
        target = os.path.join(self.agentd.tmp, "elsewhere.txt")
        st, r = self.call("file_write", {"path": target, "content": "x\n"})
        self.assertEqual((st, r["status"]), (202, "pending"), r)
        self.assertFalse(os.path.exists(target))
        st, a = self.agentd.request("POST", "/approval/%s/approve" % r["approval_id"], {})
        self.assertEqual(st, 200, a)
        st, j = self.call("job_wait", {"job_id": r["job_id"], "timeout_ms": 20000})
        self.assertEqual(j["result"]["status"], "exited", j)
        with open(target) as f:
            self.assertEqual(f.read(), "x\n")
        self.assertEqual(os.stat(target).st_mode & 0o7777, 0o644)

    def test_write_through_a_symlink_in_the_workspace_stays_inside(self):
        self.ok("file_write", {"path": "real.txt", "content": "one\n"})
        os.symlink("real.txt", os.path.join(self.ws, "alias.txt"))
        r = self.ok("file_write", {"path": "alias.txt", "content": "two\n"})
        self.assertTrue(r["in_workspace"])
        with open(os.path.join(self.ws, "real.txt")) as f:
            self.assertEqual(f.read(), "two\n")
        # a dangling link is not a way to create a file somewhere: refused
        os.symlink("nowhere/new.txt", os.path.join(self.ws, "dangling"))
        st, r = self.call("file_write", {"path": "dangling", "content": "x"})
        self.assertEqual((r["status"], r["result"]["rule"]), ("denied", "unresolvable"), r)
        self.assertFalse(os.path.exists(os.path.join(self.ws, "nowhere")))

    def test_read_caps(self):
        self.ok("file_write", {"path": "big.txt", "content": "x\n" * 2000})
        r = self.ok("file_read", {"path": "big.txt"})
        self.assertEqual(r["lines"], 500)  # osModa's maxLines default
        self.assertTrue(r["truncated"])
        st, r = self.call("file_read", {"path": "/workspace"})
        self.assertEqual(r.get("error"), "is_a_directory", r)
        st, r = self.call("file_read", {"path": "missing.txt"})
        self.assertEqual(r.get("error"), "not_found", r)


if __name__ == "__main__":
    unittest.main()
