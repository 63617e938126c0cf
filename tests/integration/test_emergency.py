"""Emergency controls against real processes: FREEZE stops a busy process's CPU time on the v2
cgroup path, the v1 freezer path and the SIGSTOP fallback, THAW resumes it (also after watch
restarts); STOP ends the agent's processes; LOCKDOWN makes agentd's and watch's agent sockets
refuse tool calls and the workspace read-only until root lifts it; a non-root caller cannot."""
import json
import os
import signal
import subprocess
import time
import unittest
import uuid

from osmtest import Agentd, Watch, request, run_ctl, wait_for

UNIFIED = "/sys/fs/cgroup/unified"
FREEZER = "/sys/fs/cgroup/freezer"
PIDS_V1 = "/sys/fs/cgroup/pids"


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def proc_state(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def usable(root):
    return os.path.isdir(root) and os.access(root, os.W_OK)


class Busy:
    """A process that burns CPU, placed in a test cgroup of its own."""

    def __init__(self, root):
        self.cgroup = os.path.join(root, "osmoda-test-" + uuid.uuid4().hex[:12])
        os.mkdir(self.cgroup)
        self.proc = subprocess.Popen(["sh", "-c", "while :; do :; done"])
        with open(os.path.join(self.cgroup, "cgroup.procs"), "w") as f:
            f.write(str(self.proc.pid))

    def grows(self):
        before = cpu_ticks(self.proc.pid)
        wait_for(lambda: cpu_ticks(self.proc.pid) > before + 2, what="CPU time to grow")

    def still(self, window=0.5):
        before = cpu_ticks(self.proc.pid)
        time.sleep(window)  # a measurement window: no event says "did not run"
        return cpu_ticks(self.proc.pid) == before

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
            except OSError:
                pass
            freezer = os.path.join(self.cgroup, "freezer.state")
            if os.path.exists(freezer):
                with open(freezer, "w") as f:
                    f.write("THAWED")
            self.proc.wait()
        for _ in range(100):
            try:
                os.rmdir(self.cgroup)
                return
            except OSError:
                time.sleep(0.02)


class EmergencyCase(unittest.TestCase):
    root = UNIFIED

    def setUp(self):
        if os.geteuid() != 0 or not usable(self.root):
            self.skipTest("needs root and " + self.root)
        self.busy = Busy(self.root)
        self.agentd = Agentd().start()
        self.watch = Watch(self.agentd, ["--agent-cgroup", self.busy.cgroup,
                                         "--fim-path", os.path.join(self.agentd.tmp, "fim")])
        os.makedirs(os.path.join(self.agentd.tmp, "fim"))
        try:
            self.watch.start()
        except Exception:
            self.tearDown()
            raise

    def tearDown(self):
        self.busy.cleanup()
        if self.watch.alive():
            self.watch.request("POST", "/emergency/unlock")
        self.watch.stop()
        self.agentd.stop()
        self.agentd.cleanup()

    def freeze_thaw(self, method, frozen_state):
        self.busy.grows()
        st, ans = self.watch.request("POST", "/emergency/freeze")
        self.assertEqual(st, 200, ans)
        self.assertEqual(ans["method"], method)
        self.assertIn(self.busy.proc.pid, ans["pids"])
        wait_for(frozen_state, what="the frozen state")
        self.assertTrue(self.busy.still(), "CPU time grew while frozen")
        st, h = self.watch.request("GET", "/health")
        self.assertTrue(h["frozen"])
        st, ans = self.watch.request("POST", "/emergency/thaw")
        self.assertEqual(st, 200, ans)
        self.busy.grows()
        ev = self.watch.events("emergency.")
        self.assertEqual([t for t, _ in ev], ["emergency.freeze", "emergency.thaw"])
        self.assertEqual(ev[0][1]["method"], method)
        self.assertIn(self.busy.proc.pid, ev[0][1]["pids"])


class FreezeCgroup2(EmergencyCase):
    root = UNIFIED

    def events_frozen(self):
        with open(os.path.join(self.busy.cgroup, "cgroup.events")) as f:
            return "frozen 1" in f.read()

    def test_freeze_stops_cpu_and_thaw_resumes(self):
        self.freeze_thaw("cgroup2", self.events_frozen)

    def test_thaw_works_after_watch_restarts(self):
        self.busy.grows()
        st, ans = self.watch.request("POST", "/emergency/freeze")
        self.assertEqual(st, 200, ans)
        wait_for(self.events_frozen, what="frozen")
        self.watch.stop()
        self.watch.start()
        st, h = self.watch.request("GET", "/health")
        self.assertTrue(h["frozen"], h)
        self.assertTrue(self.busy.still())
        st, ans = self.watch.request("POST", "/emergency/thaw")
        self.assertEqual(st, 200, ans)
        self.busy.grows()

    def test_agentctl_freeze_and_thaw(self):
        ctl = ("--socket", self.agentd.sock)
        p = run_ctl(*ctl, "freeze")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("method cgroup2", p.stdout)
        wait_for(self.events_frozen, what="frozen")
        p = run_ctl(*ctl, "thaw")
        self.assertEqual((p.returncode, p.stdout), (0, "thawed\n"), p.stderr)
        self.busy.grows()
        p = run_ctl(*ctl, "thaw")
        self.assertEqual(p.returncode, 1)
        p = run_ctl(*ctl, "stop", "--grace-ms", "x")
        self.assertEqual(p.returncode, 2)

    def test_thaw_when_nothing_is_frozen_is_a_conflict(self):
        st, ans = self.watch.request("POST", "/emergency/thaw")
        self.assertEqual(st, 409, ans)
        self.assertEqual(ans["error"], "not_frozen")

    def test_stop_ends_the_agent_processes(self):
        st, ans = self.watch.request("POST", "/emergency/stop", {"grace_ms": 2000})
        self.assertEqual(st, 200, ans)
        self.assertEqual(ans["remaining"], [])
        self.assertEqual(self.busy.proc.wait(10), -signal.SIGTERM)
        (t, p), = self.watch.events("emergency.stop")
        self.assertIn(self.busy.proc.pid, p["pids"])

    def test_stop_kills_what_ignores_sigterm(self):
        stubborn = subprocess.Popen(["sh", "-c", "trap '' TERM; while :; do :; done"])
        with open(os.path.join(self.busy.cgroup, "cgroup.procs"), "w") as f:
            f.write(str(stubborn.pid))
        st, ans = self.watch.request("POST", "/emergency/stop", {"grace_ms": 300})
        self.assertEqual(st, 200, ans)
        self.assertEqual(stubborn.wait(10), -signal.SIGKILL)
        self.assertEqual(self.busy.proc.wait(10), -signal.SIGTERM)

    def test_bad_bodies_change_nothing(self):
        for body in ({"grace_ms": -1}, {"grace_ms": "5"}, {"nope": 1}):
            st, ans = self.watch.request("POST", "/emergency/stop", body)
            self.assertEqual(st, 422, (body, ans))
        st, ans = self.watch.request("POST", "/emergency/lockdown", {"reason": 5})
        self.assertEqual(st, 422, ans)
        self.assertIsNone(self.busy.proc.poll())
        self.assertEqual(self.watch.events("emergency."), [])
        self.assertFalse(os.path.exists(os.path.join(self.agentd.state_dir, "lockdown")))

    def test_emergency_routes_are_not_on_the_agent_socket(self):
        st, ans = request(self.watch.agent_sock, "POST", "/emergency/stop")
        self.assertEqual(st, 404, ans)
        self.assertIsNone(self.busy.proc.poll())


class FreezeV1Freezer(EmergencyCase):
    root = FREEZER

    def test_freeze_stops_cpu_and_thaw_resumes(self):
        def frozen():
            with open(os.path.join(self.busy.cgroup, "freezer.state")) as f:
                return f.read().strip() == "FROZEN"
        self.freeze_thaw("freezer", frozen)


class FreezeSigstop(EmergencyCase):
    root = PIDS_V1  # a v1 group without a freezer: the processes get SIGSTOP

    def test_freeze_stops_cpu_and_thaw_resumes(self):
        self.freeze_thaw("sigstop", lambda: proc_state(self.busy.proc.pid) == "T")


class Lockdown(EmergencyCase):
    root = UNIFIED

    def workspace_writable(self):
        probe = os.path.join(self.agentd.state_dir, "workspace", "probe-" + uuid.uuid4().hex)
        try:
            with open(probe, "w") as f:
                f.write("x")
            os.unlink(probe)
            return True
        except OSError:
            return False

    def test_lockdown_refuses_tool_calls_until_root_unlocks(self):
        self.assertTrue(self.workspace_writable())
        st, ans = self.watch.request("POST", "/emergency/lockdown", {"reason": "test"})
        self.assertEqual(st, 200, ans)
        self.assertEqual(ans["workspace"], "read-only")
        self.assertEqual(self.busy.proc.wait(10), -signal.SIGKILL)
        with open(os.path.join(self.agentd.state_dir, "lockdown")) as f:
            info = json.load(f)
        self.assertEqual((info["by"], info["reason"]), (0, "test"))
        self.assertEqual(os.stat(os.path.join(self.agentd.state_dir, "lockdown")).st_mode & 0o777,
                         0o644)
        self.assertFalse(self.workspace_writable())
        st, ans = self.agentd.call_tool("system_health")
        self.assertEqual((st, ans["error"]), (423, "lockdown"))
        st, ans = self.watch.call("watcher_list")
        self.assertEqual((st, ans["error"]), (423, "lockdown"))
        st, h = self.watch.request("GET", "/health")
        self.assertTrue(h["lockdown"])

        st, ans = self.watch.request("POST", "/emergency/unlock")
        self.assertEqual(st, 200, ans)
        self.assertTrue(self.workspace_writable())
        self.assertFalse(os.path.exists(os.path.join(self.agentd.state_dir, "lockdown")))
        st, ans = self.agentd.call_tool("system_health")
        self.assertEqual(st, 200, ans)
        st, ans = self.watch.call("watcher_list")
        self.assertEqual(st, 200, ans)
        self.assertEqual([t for t, _ in self.watch.events("emergency.")],
                         ["emergency.lockdown", "emergency.unlock"])

    def test_lockdown_survives_a_watch_restart(self):
        st, ans = self.watch.request("POST", "/emergency/lockdown")
        self.assertEqual(st, 200, ans)
        self.watch.stop()
        self.watch.start()
        st, h = self.watch.request("GET", "/health")
        self.assertTrue(h["lockdown"])
        self.assertFalse(self.workspace_writable())
        st, ans = self.watch.call("watcher_list")
        self.assertEqual(st, 423, ans)

    def test_agentctl_lockdown_and_unlock(self):
        ctl = ("--socket", self.agentd.sock)
        p = run_ctl(*ctl, "lockdown", "--reason", "from the cli")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("workspace: read-only", p.stdout)
        self.assertEqual(self.busy.proc.wait(10), -signal.SIGKILL)
        p = run_ctl(*ctl, "--json", "unlock")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(json.loads(p.stdout)["unlocked"])
        p = run_ctl(*ctl, "unlock")
        self.assertEqual(p.returncode, 1)
        self.assertIn("no lockdown", p.stderr)

    def test_unlock_by_a_non_root_caller_is_refused(self):
        st, ans = self.watch.request("POST", "/emergency/lockdown")
        self.assertEqual(st, 200, ans)
        os.chmod(self.agentd.run_dir, 0o755)
        os.chmod(self.agentd.tmp, 0o755)
        os.chmod(self.watch.sock, 0o666)
        r, w = os.pipe()
        child = os.fork()
        if child == 0:
            os.close(r)
            try:
                os.setgid(65534)
                os.setuid(65534)
                out = request(self.watch.sock, "POST", "/emergency/unlock")
            except Exception as e:  # report anything to the parent
                out = (0, str(e))
            os.write(w, json.dumps(out).encode())
            os._exit(0)
        os.close(w)
        data = b""
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            data += chunk
        os.close(r)
        os.waitpid(child, 0)
        st, ans = json.loads(data)
        self.assertEqual(st, 403, ans)
        self.assertEqual(ans["error"], "forbidden")
        self.assertTrue(os.path.exists(os.path.join(self.agentd.state_dir, "lockdown")))
        self.assertFalse(self.workspace_writable())
        self.assertNotIn("emergency.unlock", [t for t, _ in self.watch.events("emergency.")])


if __name__ == "__main__":
    unittest.main()
