"""osmoda-watch and agentd are event-driven: idle (no watchers, no switches, no services, the
integrity monitor on an empty directory), none of their threads wakes up at all over a few
seconds, and with one watcher at a 1 s interval the wake-ups are a handful per check, not a tick.

A thread's wake-ups are its context switches (voluntary_ctxt_switches and
nonvoluntary_ctxt_switches in /proc/PID/task/TID/status): a thread blocked in epoll_wait, a
condition wait or sigtimedwait without a time-out makes none, one that polls makes one per
period. A failure names each thread that woke by its comm (the daemons name their threads), so
it says which part polls. Nothing here can be awaited (the claim is that nothing happens): each
daemon is watched for WINDOW seconds once it has been quiet for SETTLE after its start."""
import os
import socket
import threading
import time
import unittest

from osmtest import Agentd, WatchTestCase, wait_for

WINDOW = 3.0        # seconds an idle daemon is watched for
SETTLE = 0.5        # quiet this long first: what its start set off is over
CHECK_WINDOW = 4.0  # seconds the one-watcher daemon is watched for
WAKEUPS_PER_CHECK = 5  # the scheduler twice, the check engine once, and some slack


def threads(pid):
    """{tid: (comm, voluntary, nonvoluntary)} for every thread of pid."""
    out = {}
    task = "/proc/%d/task" % pid
    for tid in os.listdir(task):
        try:
            with open(os.path.join(task, tid, "comm")) as f:
                comm = f.read().strip()
            with open(os.path.join(task, tid, "status")) as f:
                st = dict(line.split(":", 1) for line in f if ":" in line)
        except FileNotFoundError:
            continue  # the thread ended meanwhile
        out[tid] = (comm, int(st["voluntary_ctxt_switches"]),
                    int(st["nonvoluntary_ctxt_switches"]))
    return out


def woke(before, after, voluntary_only=False):
    """{"comm (tid N)": switches} for the threads that switched between two samples; a thread
    that appeared meanwhile counts with all its switches."""
    out = {}
    for tid, (comm, v, n) in after.items():
        _, v0, n0 = before.get(tid, (comm, 0, 0))
        d = (v - v0) + (0 if voluntary_only else n - n0)
        if d:
            out["%s (tid %s)" % (comm, tid)] = d
    return out


def quiet_for(pid, seconds):
    a = threads(pid)
    time.sleep(seconds)
    return not woke(a, threads(pid))


class Quiet:
    def assert_idle(self, pid, who):
        try:
            wait_for(lambda: quiet_for(pid, SETTLE), "%s to settle" % who, timeout=10)
        except AssertionError:
            pass  # a thread that never stops waking is named below
        before = threads(pid)
        time.sleep(WINDOW)
        self.assertEqual(woke(before, threads(pid)), {},
                         "threads of an idle %s woke up (context switches in %.0f s)"
                         % (who, WINDOW))


class IdleWatch(WatchTestCase, Quiet):
    def test_an_idle_watch_and_its_agentd_never_wake(self):
        self.assertEqual(self.watch.request("GET", "/watcher/list"), (200, []))
        self.assertEqual(self.watch.request("GET", "/switch/list"), (200, []))
        self.assertEqual(self.watch.request("GET", "/app/list"), (200, []))  # a worker thread
        names = {c for c, _, _ in threads(self.watch.proc.pid).values()}
        # the parts that would poll if anything did are there, and named
        for part in ("watch-checks", "watch-sched", "watch-actor", "watch-fim", "svc-process"):
            self.assertIn(part, names)
        self.assert_idle(self.watch.proc.pid, "osmoda-watch")
        self.assert_idle(self.agentd.proc.pid, "agentd")


class OneWatcher(WatchTestCase, Quiet):
    def setUp(self):
        super().setUp()
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(16)
        self.accepted = 0
        self.lock = threading.Lock()
        threading.Thread(target=self.serve, daemon=True).start()

    def tearDown(self):
        self.srv.close()
        super().tearDown()

    def serve(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            c.close()
            with self.lock:
                self.accepted += 1

    def checks(self):
        with self.lock:
            return self.accepted

    def test_one_watcher_costs_a_handful_of_wakeups_per_check(self):
        st, w = self.watch.request("POST", "/watcher/add", {
            "name": "web", "interval_secs": 1,
            "check": {"type": "tcp_port", "host": "127.0.0.1", "port": self.srv.getsockname()[1]},
            "actions": [{"type": "notify", "message": "down"}]})
        self.assertEqual(st, 200, w)
        wait_for(lambda: self.checks() >= 2, "the watcher's checks")
        pid = self.watch.proc.pid
        before, n0 = threads(pid), self.checks()
        time.sleep(CHECK_WINDOW)
        after, n1 = threads(pid), self.checks()
        checks = n1 - n0
        self.assertGreaterEqual(checks, CHECK_WINDOW - 2, "a check a second")
        wakeups = woke(before, after, voluntary_only=True)
        self.assertLessEqual(
            sum(wakeups.values()), WAKEUPS_PER_CHECK * checks,
            "%d checks in %.0f s woke osmoda-watch's threads: %s" % (checks, CHECK_WINDOW, wakeups))
        st, lst = self.watch.request("GET", "/watcher/list")
        self.assertEqual(lst[0]["state"], {"state": "healthy"})


class IdleAgentd(unittest.TestCase, Quiet):
    """agentd signs a time-based checkpoint when it falls due, without a tick before it, and
    sleeps after it."""

    def setUp(self):
        self.agentd = Agentd(args=("--checkpoint-interval", "1")).start()

    def tearDown(self):
        self.agentd.stop()
        reports = self.agentd.sanitizer_errors()
        self.agentd.cleanup()
        self.assertEqual(reports, "", "sanitizer reports from agentd")

    def test_an_idle_agentd_signs_its_checkpoint_then_sleeps(self):
        st, ev = self.agentd.request("POST", "/events/append",
                                     {"type": "test.event", "actor": "tester", "payload": {}})
        self.assertEqual(st, 201, ev)

        def signed():
            st, cp = self.agentd.request("GET", "/ledger/checkpoint")
            return st == 200 and cp["tree_size"] >= ev["id"]
        wait_for(signed, "the time-based checkpoint")
        self.assert_idle(self.agentd.proc.pid, "agentd")


if __name__ == "__main__":
    unittest.main()
