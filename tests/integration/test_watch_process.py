"""osmoda-watch's process backend with real children: crashes seen through the child's pidfd
and restarted with a doubling backoff, the start limit, sd_notify readiness, captured and
rotated output read back with journal_logs, the service routes, and no child outliving watch."""
import json
import os
import signal
import socket
import sys
import tempfile
import time
import unittest

from osmtest import Agentd, Watch, wait_for


def wait_until(what, pred, timeout=20):
    return wait_for(pred, what, timeout)

PY = sys.executable


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


NOTIFY_SCRIPT = r"""
import os, socket, sys, time
marker = sys.argv[1]
while not os.path.exists(marker):
    time.sleep(0.02)
addr = os.environ["NOTIFY_SOCKET"]
if addr.startswith("@"):
    addr = "\0" + addr[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"STATUS=up\nREADY=1", addr)
print("ready sent", flush=True)
time.sleep(3600)
"""

NOISY_SCRIPT = r"""
import sys
for i in range(int(sys.argv[1])):
    print("line %06d %s" % (i, "x" * 90))
    if i % 1000 == 0:
        sys.stdout.flush()  # two pipes: keep the order of the two streams in the log
        print("<3>an error at %d" % i, file=sys.stderr, flush=True)
sys.stdout.flush()
"""


class ProcessCase(unittest.TestCase):
    """agentd + osmoda-watch on the process backend with a services file written first."""
    services = []
    extra_args = ()

    def setUp(self):
        self.agentd = Agentd().start()
        self.tmp = tempfile.mkdtemp(prefix="watch-proc-", dir=self.agentd.tmp)
        self.services_file = os.path.join(self.agentd.tmp, "services.json")
        with open(self.services_file, "w") as f:
            json.dump(self.make_services(), f)
        self.watch = Watch(self.agentd, ["--services-file", self.services_file]
                           + list(self.extra_args))
        try:
            self.watch.start()
        except Exception:
            self.agentd.cleanup()
            raise

    def make_services(self):
        return self.services

    def tearDown(self):
        alive = self.watch.alive()
        self.watch.stop()
        self.agentd.stop()
        report = self.watch.sanitizer_errors()
        self.agentd.cleanup()
        self.assertTrue(alive, "osmoda-watch died during the test")
        self.assertEqual(report, "", "sanitizer report from osmoda-watch")

    def status(self, unit):
        st, r = self.watch.request("GET", "/service/status?unit=" + unit)
        self.assertEqual(st, 200, r)
        return r

    def script(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path


class CrashAndRestart(ProcessCase):
    def make_services(self):
        return [{"name": "crasher", "argv": ["/bin/sh", "-c", "echo up; exit 3"]},
                {"name": "sleeper", "argv": ["/bin/sleep", "3600"], "restart": "always"}]

    def test_crash_is_seen_and_restarted_with_doubling_backoff_then_start_limit(self):
        failed = wait_until("service.failed", lambda: self.watch.events("service.failed"))
        self.assertEqual(failed[0][1], {"unit": "crasher", "reason": "start-limit", "burst": 5,
                                        "interval_s": 10})
        crashed = [p for t, p in self.watch.events("service.crashed") if p["unit"] == "crasher"]
        self.assertEqual(len(crashed), 5)
        self.assertTrue(all(c["status"] == 3 for c in crashed))
        self.assertEqual(len({c["pid"] for c in crashed}), 5, "each start is a new process")
        restarts = [p for t, p in self.watch.events("service.restart") if p["unit"] == "crasher"]
        self.assertEqual([r["attempt"] for r in restarts], [1, 2, 3, 4])
        self.assertEqual([r["delay_ms"] for r in restarts], [100, 200, 400, 800])
        st = self.status("crasher")
        self.assertEqual((st["active_state"], st["result"]), ("failed", "start-limit-hit"))
        # the order in the ledger: each crash before its restart, the failure last
        types = [t for t, p in self.watch.events("service.") if p.get("unit") == "crasher"]
        self.assertEqual(types[-1], "service.failed")
        # a manual start works again after the limit
        st, r = self.watch.request("POST", "/service/crasher/start")
        self.assertEqual(st, 200, r)
        wait_until("a sixth crash", lambda: len(
            [1 for t, p in self.watch.events("service.crashed") if p["unit"] == "crasher"]) >= 6)

    def test_killed_service_is_restarted_as_a_new_process(self):
        first = wait_until("sleeper running", lambda: self.status("sleeper")["main_pid"])
        os.kill(first, signal.SIGKILL)
        crash = wait_until("service.crashed", lambda: [
            p for t, p in self.watch.events("service.crashed") if p["unit"] == "sleeper"])
        self.assertEqual(crash[0], {"unit": "sleeper", "pid": first, "signal": 9,
                                    "core_dumped": False})
        second = wait_until("sleeper again", lambda: self.status("sleeper")["main_pid"])
        self.assertNotEqual(first, second)
        self.assertEqual(self.status("sleeper")["restarts"], 1)


class Readiness(ProcessCase):
    def make_services(self):
        self.marker = os.path.join(self.agentd.tmp, "ready.marker")
        script = os.path.join(self.agentd.tmp, "notify.py")
        with open(script, "w") as f:
            f.write(NOTIFY_SCRIPT)
        return [{"name": "notifier", "argv": [PY, script, self.marker], "notify": True},
                {"name": "plain", "argv": ["/bin/sleep", "3600"]}]

    def test_notify_service_is_activating_until_ready(self):
        pid = wait_until("notifier spawned", lambda: self.status("notifier")["main_pid"])
        self.assertTrue(pid_alive(pid))
        st = self.status("notifier")
        self.assertEqual((st["active_state"], st["sub_state"]), ("activating", "start"))
        self.assertEqual(self.watch.events("service.ready"), [])
        open(self.marker, "w").close()
        ready = wait_until("service.ready", lambda: self.watch.events("service.ready"))
        self.assertEqual(ready[0][1], {"unit": "notifier", "pid": pid})
        self.assertEqual(self.status("notifier.service")["active_state"], "active")

    def test_plain_service_is_active_once_spawned(self):
        wait_until("plain", lambda: self.status("plain")["main_pid"])
        self.assertEqual(self.status("plain")["active_state"], "active")

    def test_a_stranger_cannot_make_it_ready(self):
        wait_until("notifier spawned", lambda: self.status("notifier")["main_pid"])
        env = dict(os.environ, NOTIFY_SOCKET="")
        addr = None
        with open(f"/proc/{self.status('notifier')['main_pid']}/environ", "rb") as f:
            for kv in f.read().split(b"\0"):
                if kv.startswith(b"NOTIFY_SOCKET="):
                    addr = kv[len("NOTIFY_SOCKET="):].decode()
        self.assertTrue(addr and addr.startswith("@"), addr)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.sendto(b"READY=1", "\0" + addr[1:])
        s.close()
        del env
        # the service itself then says READY=1: the first service.ready is its own
        open(self.marker, "w").close()
        wait_until("service.ready", lambda: self.watch.events("service.ready"))
        self.assertEqual(len(self.watch.events("service.ready")), 1)


class Logs(ProcessCase):
    extra_args = ()

    def make_services(self):
        script = os.path.join(self.agentd.tmp, "noisy.py")
        with open(script, "w") as f:
            f.write(NOISY_SCRIPT)
        # ~100 bytes a line: 30000 lines is about 3 MiB, past the 1 MiB rotation size
        return [{"name": "noisy", "argv": [PY, script, "30000"], "restart": "no"}]

    def test_output_is_captured_rotated_and_read_back(self):
        wait_until("noisy exited", lambda: self.watch.events("service.exited"))
        logs = os.path.join(self.watch.data_dir, "logs")
        names = sorted(os.listdir(logs))
        self.assertIn("noisy.log", names)
        self.assertIn("noisy.log.1", names)
        self.assertLessEqual(len(names), 4, names)
        for n in names:
            self.assertLessEqual(os.path.getsize(os.path.join(logs, n)), 1024 * 1024)
        st, r = self.watch.call("journal_logs", {"unit": "noisy", "lines": 5})
        self.assertEqual(st, 200, r)
        self.assertEqual(r["status"], "ok", r)
        lines = r["result"]["lines"]
        self.assertEqual(len(lines), 5)
        self.assertTrue(any("line 029999" in l for l in lines[-3:]), lines)
        self.assertRegex(lines[0], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z 6 noisy\[\d+\]: ")
        self.assertTrue(r["result"]["truncated"])
        st, r = self.watch.request("GET", "/service/logs?unit=noisy&priority=err&lines=100")
        self.assertEqual(st, 200, r)
        self.assertTrue(r["lines"] and all(" 3 noisy[" in l and "an error at" in l
                                           for l in r["lines"]), r["lines"][:3])
        st, r = self.watch.request("GET", "/service/logs?unit=noisy&since=1+hours+ago&lines=3")
        self.assertEqual((st, len(r["lines"])), (200, 3), r)
        st, r = self.watch.request("GET", "/service/logs?unit=noisy&since=2999-01-01+00:00:00")
        self.assertEqual((st, r["lines"]), (200, []), r)

    def test_bad_queries_are_refused(self):
        for q in ("priority=loud", "since=yesterday-ish", "lines=0", "lines=501"):
            st, r = self.watch.request("GET", "/service/logs?unit=noisy&" + q)
            self.assertEqual(st, 422, (q, r))
        st, r = self.watch.request("GET", "/service/logs?unit=nosuch")
        self.assertEqual(st, 404, r)
        st, r = self.watch.request("GET", "/service/status?unit=a%20b")
        self.assertEqual(st, 422, r)


class Routes(ProcessCase):
    def make_services(self):
        return [{"name": "svc", "argv": ["/bin/sleep", "3600"], "enabled": False}]

    def test_start_stop_restart_record_then_act(self):
        self.assertEqual(self.status("svc")["active_state"], "inactive")
        st, r = self.watch.request("POST", "/service/svc/start")
        self.assertEqual(st, 200, r)
        pid = self.status("svc")["main_pid"]
        self.assertTrue(pid and pid_alive(pid))
        st, r = self.watch.request("POST", "/service/svc.service/restart")
        self.assertEqual(st, 200, r)
        pid2 = self.status("svc")["main_pid"]
        self.assertNotEqual(pid, pid2)
        self.assertFalse(pid_alive(pid))
        st, r = self.watch.request("POST", "/service/svc/stop")
        self.assertEqual(st, 200, r)
        self.assertFalse(pid_alive(pid2))
        self.assertEqual(self.status("svc")["active_state"], "inactive")
        types = [t for t, p in self.watch.events("service.")]
        self.assertEqual(types, ["service.request", "service.start",
                                 "service.request", "service.stop", "service.start",
                                 "service.request", "service.stop"])
        self.assertEqual([p["action"] for t, p in self.watch.events("service.request")],
                         ["start", "restart", "stop"])

    def test_bad_actions_and_units(self):
        for path, code in (("/service/svc/explode", 422), ("/service/nosuch/start", 404),
                           ("/service/-x/start", 422)):
            st, r = self.watch.request("POST", path)
            self.assertEqual(st, code, (path, r))
        self.assertEqual(self.watch.events("service.request"), [])
        # the service tools on the agent socket (they were agentd's)
        st, r = self.watch.call("service_status", {"unit": "svc"})
        self.assertEqual((st, r["status"]), (200, "ok"), r)
        self.assertEqual(r["result"]["active_state"], "inactive")
        for tool, args in (("service_status", {"unit": "a b;rm"}),
                           ("journal_logs", {"unit": "a b;rm", "lines": 5}),
                           ("journal_logs", {"unit": "svc", "priority": "loud"})):
            st, r = self.watch.call(tool, args)
            self.assertNotEqual(r["status"], "ok", (tool, args, r))
            self.assertIn("invalid_field", json.dumps(r), (tool, args))
        st, r = self.watch.call("service_status", {"unit": "nosuch"})
        self.assertIn("not_found", json.dumps(r))
        st, r = self.watch.call("journal_logs", {"unit": "svc", "lines": 3})
        self.assertEqual((st, r["status"]), (200, "ok"), r)
        self.assertEqual(r["result"]["lines"], [])  # never started: nothing logged


class NoOrphans(ProcessCase):
    def make_services(self):
        return [{"name": "child", "argv": ["/bin/sleep", "3600"]}]

    def test_children_die_with_watch_killed(self):
        pid = wait_until("child", lambda: self.status("child")["main_pid"])
        self.watch.stop(signal.SIGKILL)
        wait_until("the child to die with watch", lambda: not pid_alive(pid), timeout=10)
        self.watch.start()  # tearDown wants it alive

    def test_children_are_stopped_when_watch_stops(self):
        pid = wait_until("child", lambda: self.status("child")["main_pid"])
        self.watch.stop()
        self.assertFalse(pid_alive(pid))
        stops = [p for t, p in self.watch.events("service.stop")]
        self.assertEqual(stops, [{"unit": "child", "pid": pid, "reason": "watch-exit"}])
        self.watch.start()


class BadServicesFile(unittest.TestCase):
    def test_watch_refuses_a_bad_services_file(self):
        agentd = Agentd().start()
        try:
            path = os.path.join(agentd.tmp, "services.json")
            for bad in ([{"name": "x", "argv": ["relative"]}], [{"name": "a b", "argv": ["/bin/true"]}],
                        [{"name": "x", "argv": ["/bin/true"], "restart": "sometimes"}],
                        [{"name": "x", "argv": ["/bin/true"], "bogus": 1}], {"not": "array"}):
                with open(path, "w") as f:
                    json.dump(bad, f)
                w = Watch(agentd, ["--services-file", path])
                with self.assertRaises(RuntimeError, msg=bad):
                    w.start()
                w.stop()
        finally:
            agentd.stop()
            agentd.cleanup()


if __name__ == "__main__":
    unittest.main()
