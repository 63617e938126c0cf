"""osmoda-watch's systemd backend against a real systemd: a Debian bookworm booted in
systemd-nspawn (nspawn.py), one boot per test class.

- SystemdBackend drives every operation of the backend (svc.h) through svc-probe inside the
  container: status and its properties, unknown units, start/stop/restart and
  reload-or-restart waited for as jobs, a crashed unit restarted, transient units with their
  properties (a dynamic user, MemoryMax, CPUQuota), enable/disable, list by prefix, journal
  reads with their filters and bounds, bad specs refused with nothing created.
- WatchOnSystemd runs agentd and osmoda-watch inside the container (root, systemd backend,
  both from the bind-mounted build, as transient units) and talks to them from here through
  their sockets in the shared scratch directory: the service routes and tools, an app as a
  transient unit that does not run as root, and a SafeSwitch (files backend) that breaks a
  unit's config and is rolled back with the old file byte for byte and the unit active again.
- SystemdUnreachable: on a host without systemd, the backend says -ENOTCONN and
  `osmoda-watch --service-backend systemd` refuses to start."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import nspawn
from osmtest import BUILD, Agentd, Watch, binary, request, wait_for

BUILD_DIR = os.path.abspath(BUILD)
PROBE = os.path.join(BUILD_DIR, "tests", "system", "svc-probe")
WAIT_S = 30  # deadline of a wait for something to happen inside the container
ENOENT, EEXIST, EINVAL, ENOTCONN = 2, 17, 22, 107


class ContainerCase(unittest.TestCase):
    """Boots one container for the class; the build is bound read-only, a scratch directory
    read-write, both at their host paths."""

    @classmethod
    def setUpClass(cls):
        reason = nspawn.unavailable()
        if reason:
            raise unittest.SkipTest(reason)
        if not os.access(PROBE, os.X_OK):
            raise AssertionError(PROBE + " is not built")
        cls.scratch = tempfile.mkdtemp(prefix="osm-sys-", dir="/var/tmp")
        cls.c = nspawn.Container(ro_binds=[BUILD_DIR], binds=[cls.scratch])
        try:
            cls.c.start()
        except Exception:
            shutil.rmtree(cls.scratch, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()
        shutil.rmtree(cls.scratch, ignore_errors=True)

    def probe(self, *args):
        """(r, result) of one backend operation inside the container."""
        p = self.c.run([PROBE] + list(args), check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout)
        return out["r"], out["result"]

    def status(self, unit):
        r, st = self.probe("status", unit)
        self.assertEqual(r, 0, unit)
        return st

    def await_state(self, unit, state):
        return wait_for(lambda: (lambda st: st if st["active_state"] == state else None)(
            self.status(unit)), "%s %s" % (unit, state), timeout=WAIT_S)

    def await_log(self, unit, marker, count=1):
        def seen():
            r, logs = self.probe("logs", unit, "100")
            lines = [l for l in logs["lines"] if marker in l] if r == 0 else []
            return lines if len(lines) >= count else None
        return wait_for(seen, "%r in the journal of %s" % (marker, unit), timeout=WAIT_S)

    def unit_uid(self, pid):
        status = self.c.run(["cat", "/proc/%d/status" % pid]).stdout
        return int([l for l in status.splitlines() if l.startswith("Uid:")][0].split()[1])


class SystemdBackend(ContainerCase):
    def test_status_of_a_running_unit(self):
        st = self.status("dbus")  # "dbus" is dbus.service
        self.assertEqual(st["unit"], "dbus.service")
        self.assertEqual(st["backend"], "systemd")
        self.assertEqual((st["active_state"], st["sub_state"]), ("active", "running"))
        self.assertGreater(st["main_pid"], 1)
        self.assertRegex(st["since"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(st["description"], "D-Bus System Message Bus")
        self.assertEqual(self.probe("is-active", "dbus.service"), (1, None))
        self.assertEqual(self.probe("main-pid", "dbus"), (0, st["main_pid"]))

    def test_unknown_units_are_enoent(self):
        for op in ("status", "start", "stop", "restart", "is-active", "main-pid", "remove"):
            self.assertEqual(self.probe(op, "no-such-unit")[0], -ENOENT, op)
        self.assertEqual(self.probe("status", "bad/name")[0], -EINVAL)

    def test_transient_unit_logs_restart_and_remove(self):
        r, _ = self.probe("run", "osm-hello", "--restart", "no", "--", "/bin/sh", "-c",
                          "echo hello-from-osm-hello; exec sleep 1000")
        self.assertEqual(r, 0)
        first = self.status("osm-hello")
        self.assertEqual(first["active_state"], "active")  # the start job was waited for
        self.await_log("osm-hello", "hello-from-osm-hello")
        self.assertEqual(self.probe("restart", "osm-hello"), (0, None))
        second = self.status("osm-hello")
        self.assertEqual(second["active_state"], "active")
        self.assertNotEqual(second["main_pid"], first["main_pid"])
        lines = self.await_log("osm-hello", "hello-from-osm-hello", 2)
        self.assertRegex(lines[-1], r"^\d{4}-\d\d-\d\dT[\d:.]+Z sh\[%d\]: hello-from-osm-hello$"
                         % second["main_pid"])
        self.assertEqual(self.probe("run", "osm-hello", "--", "/bin/true")[0], -EEXIST)
        self.assertEqual(self.probe("remove", "osm-hello"), (0, None))
        self.assertEqual(self.probe("status", "osm-hello")[0], -ENOENT)

    def test_a_crashed_unit_is_failed_and_restarted(self):
        self.c.run(["mkfifo", "/run/osm-crash.fifo"])
        self.assertEqual(self.probe("run", "osm-crash", "--restart", "no", "--", "/bin/sh", "-c",
                                    "read x < /run/osm-crash.fifo; exit 3"), (0, None))
        try:
            self.assertEqual(self.probe("is-active", "osm-crash"), (1, None))
            self.c.run(["sh", "-c", "echo go > /run/osm-crash.fifo"])  # it exits with 3
            st = self.await_state("osm-crash", "failed")
            self.assertEqual((st["result"], st["exec"]), ("exit-code", {"code": "exited",
                                                                        "status": 3}))
            self.assertEqual(self.probe("is-active", "osm-crash"), (0, None))
            self.assertEqual(self.probe("restart", "osm-crash"), (0, None))
            st = self.status("osm-crash")
            self.assertEqual(st["active_state"], "active")
            self.c.run(["sh", "-c", "kill -KILL %d" % st["main_pid"]])  # a crash by signal
            st = self.await_state("osm-crash", "failed")
            self.assertEqual((st["result"], st["exec"]), ("signal", {"code": "killed",
                                                                     "status": 9}))
        finally:
            self.assertEqual(self.probe("remove", "osm-crash"), (0, None))
        self.assertEqual(self.probe("status", "osm-crash")[0], -ENOENT)  # failure reset

    def test_transient_unit_properties(self):
        r, _ = self.probe("run", "osm-dyn", "--dynamic-user", "--memory-max", "64M",
                          "--cpu-quota", "50%", "--env", "OSM_A=1", "--env", "OSM_B=two words",
                          "--workdir", "/tmp", "--restart", "always", "--", "/bin/sleep", "1000")
        self.assertEqual(r, 0)
        try:
            pid = self.status("osm-dyn")["main_pid"]
            self.assertNotEqual(self.unit_uid(pid), 0, "a dynamic user is never root")
            show = self.c.run(["systemctl", "show", "osm-dyn", "-p", "MemoryMax",
                               "-p", "CPUQuotaPerSecUSec", "-p", "Environment", "-p",
                               "WorkingDirectory", "-p", "Restart", "-p", "DynamicUser",
                               "-p", "Type"]).stdout
            for line in ("MemoryMax=67108864", "CPUQuotaPerSecUSec=500ms",
                         'Environment=OSM_A=1 "OSM_B=two words"', "WorkingDirectory=/tmp",
                         "Restart=always", "DynamicUser=yes", "Type=exec"):
                self.assertIn(line, show.splitlines())
        finally:
            self.probe("remove", "osm-dyn")

    def test_bad_specs_are_refused_and_create_nothing(self):
        for extra in (["--memory-max", "lots"], ["--memory-max", "0"], ["--cpu-quota", "50"],
                      ["--restart", "sometimes"], ["--env", "=x"], ["--workdir", "rel"]):
            r, _ = self.probe("run", "osm-bad", *extra, "--", "/bin/sleep", "1000")
            self.assertEqual(r, -EINVAL, extra)
            self.assertEqual(self.probe("status", "osm-bad")[0], -ENOENT, extra)
        self.assertEqual(self.probe("run", "osm-bad", "--", "sleep", "1")[0], -EINVAL)

    def test_reload_or_restart(self):
        self.c.write("/etc/systemd/system/osm-reload.service",
                     "[Service]\nExecStart=/bin/sleep 1000\nExecReload=/bin/true\n")
        self.c.write("/etc/systemd/system/osm-noreload.service",
                     "[Service]\nExecStart=/bin/sleep 1000\n")
        self.c.run(["systemctl", "daemon-reload"])
        for unit, same in (("osm-reload", True), ("osm-noreload", False)):
            self.assertEqual(self.probe("start", unit), (0, None))
            pid = self.status(unit)["main_pid"]
            self.assertEqual(self.probe("reload", unit), (0, None))
            after = self.status(unit)
            self.assertEqual(after["active_state"], "active")
            self.assertEqual(after["main_pid"] == pid, same, unit)
            self.assertEqual(self.probe("stop", unit), (0, None))
            self.assertEqual(self.status(unit)["active_state"], "inactive")

    def test_enable_and_disable(self):
        self.c.write("/etc/systemd/system/osm-enable.service",
                     "[Service]\nExecStart=/bin/sleep 1000\n[Install]\n"
                     "WantedBy=multi-user.target\n")
        link = "/etc/systemd/system/multi-user.target.wants/osm-enable.service"
        self.assertEqual(self.probe("enable", "osm-enable"), (0, None))
        self.assertTrue(os.path.islink(self.c.host_path(link)))
        self.assertEqual(self.probe("disable", "osm-enable"), (0, None))
        self.assertFalse(os.path.lexists(self.c.host_path(link)))
        # a static unit has nothing to enable; an unknown one is not there
        self.assertEqual(self.probe("enable", "dbus")[0], -EINVAL)
        self.assertEqual(self.probe("enable", "no-such-unit")[0], -ENOENT)

    def test_list_by_prefix(self):
        for name in ("osm-list-a", "osm-list-b"):
            self.assertEqual(self.probe("run", name, "--", "/bin/sleep", "1000")[0], 0)
        try:
            r, units = self.probe("list", "osm-list-")
            self.assertEqual(r, 0)
            self.assertEqual(sorted(u["unit"] for u in units),
                             ["osm-list-a.service", "osm-list-b.service"])
            self.assertTrue(all(u["active_state"] == "active" for u in units))
            r, everything = self.probe("list")
            self.assertIn("dbus.service", [u["unit"] for u in everything])
            self.assertEqual(self.probe("list", "osm*")[0], -EINVAL)
        finally:
            for name in ("osm-list-a", "osm-list-b"):
                self.probe("remove", name)

    def test_journal_filters_and_bounds(self):
        script = ("for i in 1 2 3 4 5; do echo line-$i; done; "
                  "echo '<3>osm-an-error' ; exec sleep 1000")
        self.assertEqual(self.probe("run", "osm-logs", "--", "/bin/sh", "-c", script)[0], 0)
        try:
            self.await_log("osm-logs", "osm-an-error")
            r, logs = self.probe("logs", "osm-logs", "3")
            self.assertEqual(r, 0)
            self.assertEqual([l.split(": ", 1)[1] for l in logs["lines"]],
                             ["line-4", "line-5", "osm-an-error"])
            self.assertTrue(logs["truncated"])
            r, logs = self.probe("logs", "osm-logs", "-", "err")
            self.assertEqual([l.split(": ", 1)[1] for l in logs["lines"]], ["osm-an-error"])
            self.assertFalse(logs["truncated"])
            r, logs = self.probe("logs", "osm-logs", "-", "-", "1 hour ago")
            self.assertEqual(len(logs["lines"]), 6)
            r, logs = self.probe("logs", "osm-logs", "-", "-", "2099-01-01 00:00:00")
            self.assertEqual(logs["lines"], [])
            for bad in (["501"], ["-1"], ["10", "loud"], ["10", "-", "yesterday"]):
                self.assertEqual(self.probe("logs", "osm-logs", *bad)[0], -EINVAL, bad)
        finally:
            self.probe("remove", "osm-logs")


class ContainerAgentd(Agentd):
    """agentd as a transient unit of the container, its directories in the shared scratch."""

    def __init__(self, container, scratch):
        super().__init__()
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.c = container
        self.tmp = tempfile.mkdtemp(prefix="a-", dir=scratch)
        self.state_dir = os.path.join(self.tmp, "state")
        self.run_dir = os.path.join(self.tmp, "run")
        os.makedirs(self.run_dir)
        self.sock = os.path.join(self.run_dir, "agentd.sock")
        self.agent_sock = os.path.join(self.run_dir, "agentd-agent.sock")
        self.stderr_path = os.path.join(self.tmp, "agentd.stderr")
        self.unit = "osm-agentd-" + os.path.basename(self.tmp)[2:]

    def start(self, wait=True):
        open(self.stderr_path, "ab").close()
        run_unit(self.c, self.unit, self.stderr_path,
                 [binary("agentd"), "--socket", self.sock, "--state-dir", self.state_dir]
                 + self.args, {"OSMODA_STATE_DIR": self.state_dir, "OSMODA_RUN_DIR": self.run_dir})
        self.proc = self  # the base class only checks it against None
        if wait:
            wait_for(self._ready, "agentd in the container: " + self.log(), timeout=WAIT_S)
        return self

    def _ready(self):
        self.assertAlive()
        try:
            return request(self.sock, "GET", "/health", timeout=2)[0] == 200 and \
                os.path.exists(self.agent_sock)
        except OSError:
            return False

    def assertAlive(self):
        if not self.alive():
            raise RuntimeError("agentd exited: " + self.log())

    def alive(self):
        return unit_active(self.c, self.unit)

    def stop(self):
        stop_unit(self.c, self.unit)
        self.proc = None


class ContainerWatch(Watch):
    """osmoda-watch on the systemd backend, as a transient unit of the container."""

    def __init__(self, agentd):
        super().__init__(agentd, backend="systemd")
        self.unit = agentd.unit.replace("agentd", "watch")

    def start(self, wait=True):
        open(self.log_path, "ab").close()
        run_unit(self.c, self.unit, self.log_path,
                 [binary("osmoda-watch"), "--socket", self.sock, "--agentd-socket",
                  self.agentd.sock, "--state-dir", self.agentd.state_dir, "--data-dir",
                  self.data_dir] + self.args, {})
        self.proc = self
        if wait:
            wait_for(self._ready, "osmoda-watch in the container: " + self.text(), timeout=WAIT_S)
        return self

    @property
    def c(self):
        return self.agentd.c

    def _ready(self):
        if not self.alive():
            raise RuntimeError("osmoda-watch exited: " + self.text())
        try:
            return os.path.exists(self.agent_sock) and \
                request(self.sock, "GET", "/health", timeout=2)[0] == 200
        except OSError:
            return False

    def alive(self):
        return unit_active(self.c, self.unit)

    def stop(self, sig=None):
        stop_unit(self.c, self.unit)
        self.proc = None


def run_unit(c, unit, log, argv, env):
    sanitizer = {k: v for k, v in os.environ.items() if k.endswith("SAN_OPTIONS")}
    c.run(["systemd-run", "--unit", unit, "--collect", "-p", "StandardOutput=append:" + log,
           "-p", "StandardError=append:" + log, "-p", "KillMode=mixed"]
          + ["--setenv=%s=%s" % kv for kv in sorted(dict(sanitizer, **env).items())]
          + ["--"] + argv)


def unit_active(c, unit):
    return c.run(["systemctl", "is-active", unit], check=False).stdout.strip() == "active"


def stop_unit(c, unit):
    c.run(["systemctl", "stop", unit], check=False)


class WatchOnSystemd(ContainerCase):
    def setUp(self):
        self.agentd = ContainerAgentd(self.c, self.scratch).start()
        self.watch = ContainerWatch(self.agentd)
        try:
            self.watch.start()
        except Exception:
            self.agentd.stop()
            raise

    def tearDown(self):
        alive = self.watch.alive()
        self.watch.stop()
        self.agentd.stop()
        report = self.agentd.sanitizer_errors()
        self.assertTrue(alive, "osmoda-watch died during the test: " + self.watch.text())
        self.assertEqual(report, "", "sanitizer report from agentd")


    def test_health_names_the_systemd_backend(self):
        st, h = self.watch.request("GET", "/health")
        self.assertEqual(st, 200, h)
        self.assertEqual(h["service_backend"], "systemd")

    def test_service_routes_and_tools(self):
        self.c.write("/etc/systemd/system/osm-svc.service",
                     "[Service]\nExecStart=/bin/sh -c 'echo osm-svc-up; exec sleep 1000'\n")
        self.c.run(["systemctl", "daemon-reload"])
        self.c.run(["systemctl", "start", "osm-svc"])
        st, ans = self.watch.call("service_status", {"unit": "osm-svc"})
        self.assertEqual(st, 200, ans)
        self.assertIn("osm-svc.service", json.dumps(ans))
        pid = self.status("osm-svc")["main_pid"]
        st, ans = self.watch.request("POST", "/service/osm-svc/restart")
        self.assertEqual(st, 200, ans)
        self.assertNotEqual(self.status("osm-svc")["main_pid"], pid)
        self.assertIn({"unit": "osm-svc", "action": "restart", "by": "operator"},
                      [p for t, p in self.watch.events("service.request")])
        st, ans = self.watch.call("journal_logs", {"unit": "osm-svc", "lines": 10})
        self.assertEqual(st, 200, ans)
        self.assertEqual(json.dumps(ans).count("osm-svc-up"), 2, ans)

    def test_an_app_is_a_transient_unit_not_run_as_root(self):
        st, ans = self.watch.request("POST", "/app/deploy", {
            "name": "osmhello", "command": "/bin/sh", "args": ["-c", "exec sleep 1000"]})
        self.assertIn(st, (200, 202), ans)
        st_ = self.await_state("osmoda-app-osmhello", "active")
        try:
            self.assertNotEqual(self.unit_uid(st_["main_pid"]), 0)
        finally:
            self.watch.request("POST", "/app/osmhello/remove")

    def test_a_watcher_restarts_a_unit_that_crashed(self):
        # Restart=no: systemd leaves the crashed unit down; watch's watcher brings it back
        self.c.write("/etc/systemd/system/osm-crash.service",
                     "[Service]\nExecStart=/bin/sh -c 'exec sleep 1000'\nRestart=no\n")
        self.c.run(["systemctl", "daemon-reload"])
        self.c.run(["systemctl", "start", "osm-crash"])
        first = self.await_state("osm-crash", "active")["main_pid"]
        st, w = self.watch.request("POST", "/watcher/add", {
            "name": "crash", "check": {"type": "systemd_unit", "unit": "osm-crash"},
            "interval_secs": 1, "actions": [{"type": "restart_service", "unit": "osm-crash"}]})
        self.assertEqual(st, 200, w)
        self.c.run(["/bin/sh", "-c", "kill -KILL %d" % first])
        wait_for(lambda: self.status("osm-crash")["main_pid"] not in (0, first),
                 "the watcher to restart osm-crash", timeout=WAIT_S)
        self.assertEqual(self.await_state("osm-crash", "active")["active_state"], "active")
        types = [t for t, p in self.watch.events() if t.startswith(("watch.", "service."))]
        for t in ("watch.check.failed", "watch.escalation", "service.restart"):
            self.assertIn(t, types)

    def test_a_switch_that_breaks_a_unit_is_rolled_back(self):
        good = b"mode=good\n# kept byte for byte\n"
        self.c.write("/etc/osm-sw.conf", good.decode(), 0o640)
        self.c.write("/usr/local/bin/osm-sw", "#!/bin/sh\n"
                     "grep -qx mode=good /etc/osm-sw.conf || { echo bad config; exit 1; }\n"
                     "exec sleep 1000\n", 0o755)
        self.c.write("/etc/systemd/system/osm-sw.service",
                     "[Service]\nExecStart=/usr/local/bin/osm-sw\n")
        self.c.run(["systemctl", "daemon-reload"])
        self.c.run(["systemctl", "start", "osm-sw"])
        st, ans = self.watch.request("POST", "/switch/begin", {
            "plan": {"backend": "files", "files": {"/etc/osm-sw.conf": "mode=broken\n"},
                     "restart": ["osm-sw"]},
            "ttl_secs": 60, "health_checks": [{"type": "systemd_unit", "unit": "osm-sw"}]})
        self.assertIn(st, (200, 201, 202), ans)
        sid = ans.get("id") or ans.get("session_id")

        def settled():
            s, a = self.watch.request("GET", "/switch/status/" + sid)
            final = ("committed", "rolled_back", "rollback_failed")
            return a if s == 200 and a["status"]["state"] in final else None
        session = wait_for(settled, "the switch to end", timeout=WAIT_S)
        self.assertEqual(session["status"]["state"], "rolled_back",
                         json.dumps(session) + self.watch.text()[-3000:])
        self.assertEqual(self.c.read("/etc/osm-sw.conf"), good)
        self.assertEqual(os.stat(self.c.host_path("/etc/osm-sw.conf")).st_mode & 0o777, 0o640)
        self.assertEqual(self.await_state("osm-sw", "active")["active_state"], "active")
        types = [t for t, _ in self.watch.events("switch.")]
        for t in ("switch.begin", "switch.applied", "switch.rolled_back"):
            self.assertIn(t, types)


class SystemdUnreachable(unittest.TestCase):
    """This host's PID 1 is not systemd: the backend must say so, not pretend."""

    def setUp(self):
        if os.path.isdir("/run/systemd/system"):
            self.skipTest("systemd is PID 1 here")

    def test_the_backend_answers_enotconn(self):
        p = subprocess.run([PROBE, "--bus", "unix:path=/nonexistent/bus", "status", "dbus"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(json.loads(p.stdout)["r"], -ENOTCONN)
        p = subprocess.run([PROBE, "status", "dbus"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(json.loads(p.stdout)["r"], -ENOTCONN)

    def test_watch_refuses_to_start_on_the_systemd_backend(self):
        agentd = Agentd().start()
        try:
            w = Watch(agentd, backend="systemd")
            w.start(wait=False)
            self.assertEqual(w.proc.wait(30), 1)
            w.stop()
            text = w.text()
            self.assertIn("service backend", text)
            self.assertIn("error=-%d" % ENOTCONN, text)
            self.assertFalse(os.path.exists(w.agent_sock))
        finally:
            agentd.cleanup()


if __name__ == "__main__":
    unittest.main()
