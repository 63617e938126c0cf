#!/usr/bin/env python3
"""500 idle chat sockets on osmoda-gateway: its RSS and CPU while they stay open, beside the same
gateway before any socket was opened (measured in the same run). The sockets are real WebSocket
clients (the pinned `ws` package, bench/ws-idle.mjs) logged in as dashboard sessions, 3 sockets
per session (the per-token limit). The gateway pings every 30 s, so one ping round falls in the
measurement. Prints the rows of bench/run's table on stdout, progress on stderr.

Usage: bench/gateway_idle.py [BUILD_DIR]
Environment: BENCH_WS_SOCKETS (500), BENCH_WS_SECONDS (30)."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build"))
os.environ["OSMODA_BUILD"] = BUILD
sys.path[:0] = [os.path.join(ROOT, "tests", "integration")]
from osmtest import Gateway  # noqa: E402
from wstest import HAVE_WS, NODE  # noqa: E402

SOCKETS = int(os.environ.get("BENCH_WS_SOCKETS", "500"))
SECONDS = float(os.environ.get("BENCH_WS_SECONDS", "30"))
TICK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def cpu_pct(pid, seconds):
    t0, c0 = time.monotonic(), cpu_ticks(pid)
    time.sleep(seconds)  # the measurement window: the gateway is left alone
    return 100.0 * (cpu_ticks(pid) - c0) / TICK / (time.monotonic() - t0)


def row(*cells):
    print("| " + " | ".join(cells) + " |", flush=True)


def main():
    if not (NODE and HAVE_WS) or not os.path.exists(os.path.join(BUILD, "daemons", "gateway",
                                                                 "osmoda-gateway")):
        row("Gateway RSS, %d idle chat sockets (MiB)" % SOCKETS, "not built", "–", "–", "–",
            "< 30", "–")
        return 0
    gw = Gateway().start()
    tmp = tempfile.mkdtemp(prefix="osmoda-bench-ws-")
    client = None
    try:
        pid = gw.proc.pid
        time.sleep(1)
        base_rss = rss_mib(pid)
        log("gateway alone: %.1f MiB; CPU over %g s" % (base_rss, SECONDS))
        base_cpu = cpu_pct(pid, SECONDS)
        cookies = []
        for _ in range((SOCKETS + 2) // 3):
            st, h, b = gw.http("POST", "/auth/login", {"token": gw.token}, auth=False)
            if st != 200:
                raise RuntimeError("login: %s %s" % (st, b))
            cookies.append(h["set-cookie"].split(";")[0])
        path = os.path.join(tmp, "cookies")
        with open(path, "w") as f:
            f.write("\n".join(cookies) + "\n")
        log("opening %d sockets" % SOCKETS)
        client = subprocess.Popen([NODE, os.path.join(ROOT, "bench", "ws-idle.mjs"),
                                   "ws://127.0.0.1:%d/ws" % gw.port, path, str(SOCKETS)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = client.stdout.readline().strip()
        if line != "OPEN %d" % SOCKETS:
            raise RuntimeError("sockets: " + line)
        time.sleep(2)
        rss = rss_mib(pid)
        log("%d sockets: %.1f MiB; CPU over %g s" % (SOCKETS, rss, SECONDS))
        cpu = cpu_pct(pid, SECONDS)
        rss_after = rss_mib(pid)
        client.stdin.close()
        closed = client.stdout.readline().strip()
        worst = max(rss, rss_after)
        row("Gateway RSS, %d idle chat sockets (MiB)" % SOCKETS, "%.1f" % worst,
            "the same gateway, no socket", "%.1f" % base_rss, "%.2f" % (worst / base_rss),
            "< 30", "PASS" if worst < 30 else "MISS")
        row("Gateway CPU, %d idle chat sockets, %g s (%% of a core)" % (SOCKETS, SECONDS),
            "%.2f" % cpu, "the same gateway, no socket", "%.2f" % base_cpu, "–", "info", "info")
        if closed != "CLOSED 0":
            log("sockets closed by the server during the run: " + closed)
    finally:
        if client and client.poll() is None:
            client.kill()
            client.wait()
        gw.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
