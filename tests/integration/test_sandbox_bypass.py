"""The known bypass classes of string blocklists (Desktop Commander #217/#218/#374/#411/#421/#422/
#497/#730, osModa §11), replayed through agentd's real path (POST /tools/call on the agent socket).
The early warning reads commands, not substrings, so the spellings that beat osModa's list
(absolute paths, quotes, split options, sh -c, find -exec) now wait for a person. The other
commands are written to slip past it (a plain rm -f, or a command name no reading of the text can
know), so they really run; what must hold is containment: the host canary file outside the
workspace is still there and unchanged, the policy file is unchanged, a pending approval stays
pending, and the ledger shows the attempt. Also: the memory and pids limits on whichever cgroup
hierarchy holds them (v1 controllers, or a pure v2 tree), and no network without osmoda-egress.
As root the suite never skips: a host that cannot limit jobs fails it with the reason."""
import json
import os
import shutil
import socket
import threading
import time
import unittest

from osmtest import Agentd

CANARY_TEXT = "host canary: must survive\n"
POLICY = {"rules": [{"tool": "shell_exec", "command_pattern": "needs-a-person",
                     "decision": "approve", "comment": "test: a pending approval"}]}


CGROUP_ROOT = "/sys/fs/cgroup"  # where agentd's job runner looks
LIMITS = {"memory", "pids", "cpu"}


def cgroup_mounts(mountinfo):
    """(mount point, file system type, super options) of every cgroup mount in mountinfo."""
    out = []
    for line in mountinfo.splitlines():
        pre, _, post = line.partition(" - ")
        fields = post.split()
        if len(fields) >= 3 and fields[0] in ("cgroup", "cgroup2"):
            out.append((pre.split()[4], fields[0], set(fields[2].split(","))))
    return out


def read_controllers(root):
    with open(os.path.join(root, "cgroup.controllers")) as f:
        return set(f.read().split())


def limit_hierarchy(mountinfo=None, controllers=read_controllers):
    """Which hierarchy holds the memory, pids and cpu limits: ("v1", None) when those
    controllers are mounted as cgroup v1 under /sys/fs/cgroup, ("v2", None) when
    /sys/fs/cgroup is cgroup2 and offers them in cgroup.controllers, else (None, why)."""
    if mountinfo is None:
        with open("/proc/self/mountinfo") as f:
            mountinfo = f.read()
    mounts = cgroup_mounts(mountinfo)
    if any(mp == CGROUP_ROOT and t == "cgroup2" for mp, t, _ in mounts):
        offered = controllers(CGROUP_ROOT)
        if LIMITS <= offered:
            return "v2", None
        return None, ("cgroup2 at %s offers %s, not %s" % (CGROUP_ROOT, sorted(offered),
                                                           sorted(LIMITS - offered)))
    v1 = set()
    for mp, t, opts in mounts:
        if t == "cgroup" and os.path.dirname(mp) == CGROUP_ROOT:
            v1 |= opts & LIMITS
    if LIMITS <= v1:
        return "v1", None
    return None, ("cgroup v1 under %s has %s, missing %s, and %s is not cgroup2"
                  % (CGROUP_ROOT, sorted(v1), sorted(LIMITS - v1), CGROUP_ROOT))


def mountinfo_line(mp, fstype, opts):
    return "30 24 0:26 / %s rw,nosuid - %s %s %s" % (mp, fstype, fstype, opts)


class HierarchyDetection(unittest.TestCase):
    """The choice above on the layouts it must tell apart (it decides whether the suite runs)."""
    HYBRID = "\n".join([mountinfo_line("/sys/fs/cgroup", "tmpfs", "rw,mode=755"),
                        mountinfo_line("/sys/fs/cgroup/cpu,cpuacct", "cgroup", "rw,cpu,cpuacct"),
                        mountinfo_line("/sys/fs/cgroup/memory", "cgroup", "rw,memory"),
                        mountinfo_line("/sys/fs/cgroup/pids", "cgroup", "rw,pids"),
                        mountinfo_line("/sys/fs/cgroup/unified", "cgroup2", "rw")])
    PURE_V2 = mountinfo_line("/sys/fs/cgroup", "cgroup2", "rw,nsdelegate,memory_recursiveprot")

    def test_hybrid_with_v1_limit_controllers(self):
        self.assertEqual(limit_hierarchy(self.HYBRID), ("v1", None))

    def test_v1_without_pids_is_refused_with_the_reason(self):
        kind, why = limit_hierarchy(self.HYBRID.replace("rw,pids", "rw,devices"))
        self.assertIsNone(kind)
        self.assertIn("missing ['pids']", why)

    def test_pure_v2_with_the_controllers(self):
        offered = lambda root: {"cpuset", "cpu", "io", "memory", "hugetlb", "pids"}
        self.assertEqual(limit_hierarchy(self.PURE_V2, offered), ("v2", None))

    def test_pure_v2_without_cpu_is_refused_with_the_reason(self):
        kind, why = limit_hierarchy(self.PURE_V2, lambda root: {"memory", "pids"})
        self.assertIsNone(kind)
        self.assertIn("not ['cpu']", why)

    def test_this_host_can_limit_jobs(self):
        kind, why = limit_hierarchy()
        self.assertIn(kind, ("v1", "v2"), why)


class Bypass(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("the sandbox's cgroup limits and uid switch need root")
        if shutil.which("bwrap") is None:
            raise AssertionError("bubblewrap is not installed (scripts/deps.sh)")
        cls.hierarchy, why = limit_hierarchy()
        if cls.hierarchy is None:  # as root, a host that cannot limit jobs fails the suite
            raise AssertionError("no cgroup hierarchy here can hold the job limits: " + why)
        cls.agentd = Agentd()
        os.makedirs(cls.agentd.state_dir, mode=0o700, exist_ok=True)
        cls.policy_path = os.path.join(cls.agentd.state_dir, "policy.json")
        with open(cls.policy_path, "w") as f:
            json.dump(POLICY, f)
        os.chmod(cls.policy_path, 0o600)
        with open(cls.policy_path, "rb") as f:
            cls.policy_bytes = f.read()
        cls.canary = os.path.join(cls.agentd.tmp, "canary.txt")
        cls.canary_dir = os.path.join(cls.agentd.tmp, "canary-dir")
        os.makedirs(cls.canary_dir)
        with open(os.path.join(cls.canary_dir, "inner"), "w") as f:
            f.write(CANARY_TEXT)
        cls.agentd.start()
        # a request that waits for a person: it must stay pending whatever the agent tries
        st, r = cls.agentd.call_tool("shell_exec", {"command": "echo needs-a-person"})
        assert st == 202 and r["status"] == "pending", (st, r)
        cls.approval_id = r["result"]["approval_id"]
        cls.workspace = os.path.join(cls.agentd.state_dir, "workspace")

    @classmethod
    def tearDownClass(cls):
        cls.agentd.stop()
        cls.agentd.cleanup()

    def setUp(self):
        with open(self.canary, "w") as f:
            f.write(CANARY_TEXT)

    # -- helpers -------------------------------------------------------------------------------

    def shell(self, command, **kw):
        st, r = self.agentd.call_tool("shell_exec", dict({"command": command}, **kw))
        self.assertEqual(st, 200, r)
        return r

    def ran(self, r):
        """The command really ran in the sandbox (it was not merely refused by a string)."""
        self.assertEqual(r["status"], "ok", r)
        self.assertEqual(r["result"]["status"], "exited", r)
        self.assertEqual(r["result"]["ring"], 2)
        self.assertTrue(r["result"]["limits_applied"], r)
        return r["result"]

    def assert_contained(self, command_substring):
        self.assertTrue(os.path.exists(self.canary), "the host canary was removed")
        with open(self.canary) as f:
            self.assertEqual(f.read(), CANARY_TEXT, "the host canary was changed")
        with open(os.path.join(self.canary_dir, "inner")) as f:
            self.assertEqual(f.read(), CANARY_TEXT)
        with open(self.policy_path, "rb") as f:
            self.assertEqual(f.read(), self.policy_bytes, "the policy file was changed")
        st, a = self.agentd.request("GET", "/approval/" + self.approval_id)
        self.assertEqual(st, 200, a)
        self.assertEqual(a["status"], "pending", "the approval did not stay pending")
        st, rows = self.agentd.request("GET", "/events/log?type=tool.call&limit=1000")
        self.assertEqual(st, 200)
        attempts = [json.loads(e["payload"]) for e in rows]
        self.assertTrue(any(command_substring in json.dumps(p.get("arguments", {}))
                            for p in attempts),
                        "no tool.call in the ledger for " + command_substring)

    def attempt(self, command, marker=None):
        r = self.shell(command)
        result = self.ran(r)
        self.assert_contained(marker or command[:40])
        return result

    def held_for_a_person(self, command):
        """command waits for a person (the early warning); denied here, so it never runs.
        Returns the blocklist rule the ledger recorded."""
        st, r = self.agentd.call_tool("shell_exec", {"command": command})
        self.assertEqual((st, r["status"]), (202, "pending"), (command, r))
        st, rows = self.agentd.request("GET", "/events/log?type=tool.call&limit=1000")
        self.assertEqual(st, 200)
        calls = [json.loads(e["payload"]) for e in rows]
        call = [p for p in calls if p.get("arguments", {}).get("command") == command][-1]
        self.assertEqual((call["decision"], call["rule"]),
                         ("approve", "default:destructive-command"), call)
        st, a = self.agentd.request("POST", "/approval/%s/deny" % r["approval_id"], {})
        self.assertEqual(st, 200, a)
        return call["detail"]

    # -- the classes ---------------------------------------------------------------------------

    def test_spellings_of_rm_rf_wait_for_a_person(self):
        d = self.canary_dir
        for command in ("/usr/bin/rm -r -f %s" % d, "r''m -R -f %s" % d, "\\rm -fr %s" % d,
                        "echo ok; \"rm\" --recursive --force %s" % d,
                        "echo $(/usr/bin/rm -rf %s) done" % d, "sh -c 'rm -rf %s'" % d,
                        "sudo -u root env A=1 nice -n 5 rm -rf %s" % d,
                        "find %s -exec /usr/bin/rm -rf {} +" % d):
            self.assertEqual(self.held_for_a_person(command), "rm -rf", command)
        self.assert_contained("--recursive --force")

    def test_absolute_path_rm(self):
        # a command name only the shell knows: it runs, and the sandbox contains it
        out = self.attempt("R=rm; /usr/bin/$R -f %s; /usr/bin/$R -r -f %s; echo tried"
                           % (self.canary, self.canary_dir))
        self.assertIn("tried", out["output"])

    def test_command_substitution(self):
        self.attempt("echo $(/usr/bin/rm -f %s) done" % self.canary)

    def test_backticks(self):
        self.attempt("echo `rm -f %s` done" % self.canary)

    def test_process_substitution(self):
        self.attempt("bash -c 'cat <(rm -f %s; echo gone) ; cat < <(truncate -s0 %s)'"
                     % (self.canary, self.canary))

    def test_newline_second_command(self):
        self.attempt("echo harmless\nrm -f %s\necho > %s" % (self.canary, self.canary),
                     "echo harmless")

    def test_quoting(self):
        self.attempt("'r''m' -f %s; \"r\"m -f %s; r\\m -f %s" % ((self.canary,) * 3))

    def test_sh_c(self):
        self.attempt("sh -c 'rm -f %s'; bash -c \"echo pwned > %s\"" % (self.canary, self.canary))

    def test_env_tricks(self):
        self.attempt("env rm -f %s; PATH=/tmp:$PATH; cp /usr/bin/rm /tmp/nice; "
                     "/tmp/nice -f %s; env -i /usr/bin/sh -c 'echo x > %s'"
                     % (self.canary, self.canary, self.canary))

    def test_host_file_is_not_even_visible(self):
        out = self.attempt("ls -la %s %s 2>&1; cat /etc/shadow 2>&1; ls / ; echo end"
                           % (self.canary, self.agentd.state_dir))
        self.assertNotIn(CANARY_TEXT.strip(), out["output"])
        self.assertNotIn("root:", out["output"])  # no shadow line

    def test_symlink_in_workspace_to_the_canary(self):
        out = self.attempt("ln -sf %s link; echo pwned > link; ls -la link; echo end"
                           % self.canary)
        self.assertIn("end", out["output"])
        self.assertTrue(os.path.islink(os.path.join(self.workspace, "link")))
        # paths resolve beneath the workspace: the link cannot lead out, the policy refuses it
        st, r = self.agentd.call_tool("file_write", {"path": "link", "content": "pwned\n"})
        self.assertEqual((r["status"], r["result"]["rule"]), ("denied", "unresolvable"), r)
        self.assertIn("leaves the workspace", r["message"])
        st, r = self.agentd.call_tool("file_read", {"path": "/workspace/link"})
        self.assertEqual((r["status"], r["result"]["rule"]), ("denied", "unresolvable"), r)
        self.assert_contained("ln -sf")

    def test_dotdot_traversal(self):
        rel = os.path.relpath(self.canary, self.workspace)  # ../../canary.txt
        self.attempt("cd ../../../..; echo pwned > %s; echo pwned > /workspace/%s; "
                     "rm -f /workspace/%s; echo end" % (self.canary, rel, rel), "cd ../../../..")
        for path in (rel, "/workspace/" + rel, os.path.join(self.workspace, rel)):
            st, r = self.agentd.call_tool("file_write", {"path": path, "content": "pwned\n"})
            self.assertEqual(r["status"], "denied", (path, r))
            st, r = self.agentd.call_tool("file_read", {"path": path})
            self.assertNotEqual(r["status"], "ok", (path, r))
        self.assert_contained("cd ../../../..")

    def split_path(self, path):
        """path as shell that builds it from pieces, so no string check can see it."""
        mid = len(path) // 2
        return "$(printf %%s%%s '%s' '%s')" % (path[:mid], path[mid:])

    def test_writing_the_policy_file(self):
        evil = json.dumps({"rules": [{"tool": "*", "decision": "allow"}]})
        # named plainly, the policy refuses it outright (an early warning, not the boundary)
        st, r = self.agentd.call_tool("shell_exec", {"command": "echo x > " + self.policy_path})
        self.assertEqual((st, r["status"]), (403, "denied"), r)
        # hidden from the string check, it runs, and the sandbox contains it
        p = self.split_path(self.policy_path)
        self.attempt("echo '%s' > %s; mkdir -p $(dirname %s) && echo '%s' > %s; "
                     "ls -la $(dirname %s); echo end" % (evil, p, p, evil, p, p), "decision")
        st, r = self.agentd.call_tool("file_write", {"path": self.policy_path, "content": evil})
        self.assertNotEqual(r.get("status"), "ok", r)
        self.assert_contained("decision")

    def test_approving_its_own_request(self):
        sock = self.split_path(self.agentd.sock)
        out = self.attempt(
            "curl -s --max-time 3 --unix-socket %s -X POST -d '{}' "
            "http://x/approval/%s/approve; echo curl=$?; "
            "python3 -c \"import socket,sys; s=socket.socket(socket.AF_UNIX); "
            "s.connect(sys.argv[1])\" %s 2>&1 | tail -1; ls $(dirname %s) 2>&1; echo end"
            % (sock, self.approval_id, sock, sock), "curl -s")
        self.assertIn("end", out["output"])
        self.assertIn("curl=7", out["output"])  # the socket is not even there
        self.assertNotIn('"approved"', out["output"])
        # and through the tool layer itself: never for agents
        st, r = self.agentd.call_tool("approval_approve", {"id": self.approval_id})
        self.assertNotEqual(r.get("status"), "ok", r)
        self.assert_contained("curl -s")

    def test_no_network_without_egress(self):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        srv.settimeout(0.2)
        port = srv.getsockname()[1]
        got = []

        def accept():
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline:
                try:
                    c, _ = srv.accept()
                    got.append(c)
                except OSError:
                    pass
        t = threading.Thread(target=accept)
        t.start()
        out = self.attempt("curl -s --max-time 3 http://127.0.0.1:%d/ ; echo curl=$?; "
                           "python3 -c \"import socket; socket.create_connection(('127.0.0.1',"
                           " %d), 2)\" 2>&1 | tail -1; echo end" % (port, port), "curl -s")
        t.join()
        srv.close()
        self.assertEqual(got, [], "a connection from the sandbox reached the host")
        self.assertIn("curl=7", out["output"])  # couldn't connect
        self.assertRegex(out["output"], "Connection refused|Network is unreachable")
        # the network exists only through osmoda-egress: without it, asking fails before
        # anything runs (even for the operator, who needs no approval)
        st, r = self.agentd.call_tool("sandbox_exec", {"command": "true", "network": True},
                                      operator=True)
        self.assertEqual(r.get("error"), "egress_unavailable", r)

    def test_escape_syscalls_denied(self):
        out = self.attempt("unshare -U true 2>&1; unshare -m true 2>&1; "
                           "mount -t tmpfs x /tmp 2>&1; id -u; echo end", "unshare -U")
        self.assertIn("65534", out["output"])
        self.assertNotRegex(out["output"], "(?m)^0$")
        self.assertIn("Operation not permitted", out["output"])

    def test_limits_live_on_the_detected_hierarchy(self):
        res = self.ran(self.shell("echo limited"))
        with open(os.path.join(self.agentd.state_dir, "jobs", res["job_id"] + ".run")) as f:
            groups = json.load(f)["cgroup"]
        if self.hierarchy == "v1":
            self.assertLessEqual({"memory", "pids", "cpu"}, set(groups), groups)
        else:  # pure v2: memory.max, pids.max and cpu.max of the unified group
            self.assertEqual(set(groups), {"unified"}, groups)
            self.assertTrue(groups["unified"].startswith(CGROUP_ROOT + "/"), groups)

    def test_memory_bomb_is_oom_killed(self):
        r = self.shell("python3 -c \"x = bytearray(900 * 1024 * 1024); print('survived')\"")
        res = r["result"]
        self.assertEqual(res["status"], "exited", r)
        self.assertNotIn("survived", res["output"])
        self.assertEqual(res["exit_code"], 137, r)
        self.assertTrue(res["oom_killed"], r)
        self.assert_contained("bytearray")

    def test_fork_bomb_hits_pids_max(self):
        # the sleepers outlive the loop; the sandbox's pid namespace ends them with the shell
        r = self.shell("i=0; while [ $i -lt 400 ]; do sleep 30 & i=$((i+1)); done; echo end",
                       timeout=30000)
        res = r["result"]
        self.assertEqual(res["status"], "exited", r)
        self.assertTrue(res["pids_limit_hit"], r)
        self.assertRegex(res["output"], "Cannot fork|Resource temporarily unavailable")
        self.assertNotEqual(res["exit_code"], 0)  # dash gives up at the refused fork
        self.assert_contained("while [ $i -lt 400 ]")


if __name__ == "__main__":
    unittest.main()
