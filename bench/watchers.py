#!/usr/bin/env python3
"""CPU of 1,000 watchers at 1 s intervals: a real osmoda-watch (beside a real agentd) with N
tcp_port watchers against one local listener, beside monit with the same N port checks at its
shortest cycle (set daemon 1), measured in the same run from /proc/PID/stat over BENCH_WATCH_SECONDS
(default 20). Prints one markdown table row per figure (bench/run adds them to its table).

tcp_port is the check chosen: the realistic cheap one (a command check would mostly measure
fork+exec, an HTTP check the peer's parser)."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

N = int(os.environ.get("BENCH_WATCHERS", "1000"))
SECS = float(os.environ.get("BENCH_WATCH_SECONDS", "20"))
WARMUP = 3.0
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def cpu_percent(pid):
    time.sleep(WARMUP)
    a, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(SECS)
    b, t1 = cpu_seconds(pid), time.monotonic()
    return 100.0 * (b - a) / (t1 - t0)


def listener():
    """A local port that accepts and closes, on a thread of this process."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(4096)

    def serve():
        while True:
            try:
                c, _ = s.accept()
                c.close()
            except OSError:
                return
    threading.Thread(target=serve, daemon=True).start()
    return s, s.getsockname()[1]


def bench_watch(port):
    from osmtest import Agentd, Watch
    agentd = Agentd().start()
    watch = Watch(agentd)
    try:
        watch.start()
        for i in range(N):
            st, w = watch.request("POST", "/watcher/add", {
                "name": "w%d" % i, "interval_secs": 1,
                "check": {"type": "tcp_port", "host": "127.0.0.1", "port": port},
                "actions": [{"type": "notify", "message": "down"}]})
            assert st == 200, w
        pct = cpu_percent(watch.proc.pid)
        st, lst = watch.request("GET", "/watcher/list")
        healthy = sum(1 for w in lst if w["state"]["state"] == "healthy")
        return pct, healthy
    finally:
        watch.stop()
        agentd.stop()
        agentd.cleanup()


def bench_monit(port):
    monit = shutil.which("monit")
    if not monit:
        return None
    tmp = tempfile.mkdtemp(prefix="bench-monit-")
    rc = os.path.join(tmp, "monitrc")
    lines = ["set daemon 1", "set logfile %s/monit.log" % tmp, "set idfile %s/id" % tmp,
             "set statefile %s/state" % tmp, "set pidfile %s/pid" % tmp]
    for i in range(N):
        lines.append("check host h%d with address 127.0.0.1\n  if failed port %d type tcp "
                     "then alert" % (i, port))
    with open(rc, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(rc, 0o600)
    p = subprocess.Popen([monit, "-I", "-c", rc], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        return cpu_percent(p.pid)
    finally:
        p.terminate()
        p.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    srv, port = listener()
    ours, healthy = bench_watch(port)
    peer = bench_monit(port)
    srv.close()
    ratio = "%.2f" % (ours / peer) if peer else "n/a"
    verdict = "PASS" if ours < 5.0 else "MISS"
    print("| CPU of %d tcp_port watchers at 1 s (%% of one core; %d healthy) | %.2f | "
          "monit, %d port checks, set daemon 1 | %s | %s | < 5%% | %s |"
          % (N, healthy, ours, N, "%.2f" % peer if peer else "n/a", ratio, verdict))


if __name__ == "__main__":
    main()
