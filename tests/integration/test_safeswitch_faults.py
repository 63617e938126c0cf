"""The SafeSwitch fault-injection suite: bad changes made through a files switch to the config of
a real service (a small python3 HTTP server supervised by osmoda-watch's process backend, run as
nobody, reading its config when it starts and on every request), each one ending rolled back or
refused with the system as before — the config byte for byte, the service answering 200 — and
the receipts in agentd's ledger.

Faults: bad config, port taken, crash loop, slow start past probation, health endpoint 500,
missing include, permission wrong, watch SIGKILLed mid-probation (resumed; and the deadline
passing while it is down), network down (watch in a network namespace of its own, whose only
interface is a loopback that is down), two switches at once on the same file, the ledger down."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from osmtest import Agentd, Watch, binary, request

SERVICE = r"""
import http.server, json, sys, time

CONF = sys.argv[1]

def load():
    with open(CONF) as f:
        c = json.load(f)
    if c.get("include"):
        with open(c["include"]) as f:
            f.read()
    return c

class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            code = load().get("status", 200)
        except Exception:
            code = 500
        self.send_response(code)
        self.end_headers()

    def log_message(self, *args):
        pass

try:
    c = load()
except Exception as e:
    print("bad config:", e, flush=True)
    sys.exit(2)
if c.get("crash"):
    sys.exit(3)
time.sleep(c.get("start_delay", 0))
http.server.HTTPServer(("127.0.0.1", c["port"]), Health).serve_forever()
"""


def until(fn, timeout=60, what="condition"):
    """Polls fn until it returns a true value (an awaited event, with an upper bound)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read(path):
    with open(path, "rb") as f:
        return f.read()


class NetlessWatch(Watch):
    """osmoda-watch in a network namespace of its own: no interface but a loopback that is
    down. Its sockets are path-named unix sockets, which work across namespaces."""

    def start(self, wait=True):
        for p in (self.sock, self.agent_sock):
            if os.path.exists(p):
                os.unlink(p)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["unshare", "--net", binary("osmoda-watch"), "--socket", self.sock,
             "--agentd-socket", self.agentd.sock, "--state-dir", self.agentd.state_dir,
             "--data-dir", self.data_dir] + self.args,
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        if wait:
            self.wait_ready()
        return self


class FaultCase(unittest.TestCase):
    """One agentd, one osmoda-watch (process backend) supervising one service, "web"."""
    watch_class = Watch

    def setUp(self):
        self.svcdir = tempfile.mkdtemp(prefix="osmoda-fault-")
        os.chmod(self.svcdir, 0o755)
        self.port = free_port()
        self.conf = os.path.join(self.svcdir, "web.json")
        self.good = json.dumps({"port": self.port}, indent=1) + "\n"
        with open(self.conf, "w") as f:
            f.write(self.good)
        os.chmod(self.conf, 0o644)
        script = os.path.join(self.svcdir, "web.py")
        with open(script, "w") as f:
            f.write(SERVICE)
        os.chmod(script, 0o644)
        self.agentd = Agentd().start()
        self.watch = self.watch_class(self.agentd)
        os.makedirs(self.watch.data_dir, exist_ok=True)
        services = [{"name": "web", "restart": "always",
                     "argv": ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                              "--clear-groups", shutil.which("python3"), script, self.conf]}]
        with open(os.path.join(self.watch.data_dir, "services.json"), "w") as f:
            json.dump(services if self.watch_class is Watch else [], f)
        try:
            self.watch.start()
            if self.watch_class is Watch:
                until(self.healthy, what="the service to answer")
        except Exception:
            self.watch.stop()
            self.agentd.cleanup()
            raise
        self.before = read(self.conf)

    def tearDown(self):
        alive = self.watch.alive()
        self.watch.stop()
        self.agentd.stop()
        reports = (self.agentd.sanitizer_errors(), self.watch.sanitizer_errors())
        self.agentd.cleanup()
        shutil.rmtree(self.svcdir, ignore_errors=True)
        self.assertTrue(alive, "osmoda-watch died during the test")
        self.assertEqual(reports, ("", ""), "sanitizer reports from agentd and osmoda-watch")

    def healthy(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(b"GET /health HTTP/1.0\r\n\r\n")
                return s.recv(64).startswith(b"HTTP/1.0 200")
        except OSError:
            return False

    def check(self):
        return {"type": "http_get", "url": "http://127.0.0.1:%d/health" % self.port,
                "expect_status": 200}

    def begin(self, content, ttl=3600, checks=None, restart=("web",)):
        plan = {"backend": "files", "files": {self.conf: content}, "restart": list(restart)}
        return self.watch.request("POST", "/switch/begin", {
            "plan": plan, "ttl_secs": ttl,
            "health_checks": [self.check()] if checks is None else checks})

    def state(self, sid):
        st, s = self.watch.request("GET", "/switch/status/" + sid)
        self.assertEqual(st, 200, s)
        return s["status"]

    def expect_rolled_back(self, sid, reason_part="health check failed"):
        """The switch ends rolled back, the system is as before, the receipts are there."""
        status = until(lambda: (lambda s: s if s["state"] == "rolled_back" else None)(
            self.state(sid)), what="the rollback")
        self.assertIn(reason_part, status["reason"])
        self.assertEqual(read(self.conf), self.before, "the config is restored byte for byte")
        self.assertEqual(os.stat(self.conf).st_mode & 0o7777, 0o644)
        until(self.healthy, what="the service to be healthy again")
        types = [t for t, p in self.watch.events("switch.") if p.get("id") == sid]
        self.assertEqual(types[:2], ["switch.begin", "switch.applied"])
        self.assertEqual(types[-1], "switch.rolled_back")
        rb = [p for t, p in self.watch.events("switch.rolled_back") if p["id"] == sid][0]
        self.assertEqual(rb["summary"]["files"][0]["path"], self.conf)
        self.assertEqual(rb["summary"]["restart"], ["web"])
        return rb


class ServiceFaults(FaultCase):
    def bad(self, content, **kw):
        st, b = self.begin(content, **kw)
        self.assertEqual(st, 200, b)
        self.assertEqual(read(self.conf), content.encode(), "the change was applied")
        return b

    def test_bad_config_the_service_rejects(self):
        self.expect_rolled_back(self.bad("port = {{ not json\n")["id"])

    def test_port_taken(self):
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            taken = holder.getsockname()[1]
            b = self.bad(json.dumps({"port": taken}) + "\n")
            self.expect_rolled_back(b["id"])

    def test_crash_loop(self):
        self.expect_rolled_back(self.bad(json.dumps({"port": self.port, "crash": True}))["id"])

    def test_slow_start_past_probation(self):
        b = self.bad(json.dumps({"port": self.port, "start_delay": 3600}), ttl=2)
        self.expect_rolled_back(b["id"])

    def test_health_endpoint_500(self):
        self.expect_rolled_back(self.bad(json.dumps({"port": self.port, "status": 500}))["id"])

    def test_missing_include(self):
        inc = os.path.join(self.svcdir, "absent.conf")
        self.expect_rolled_back(self.bad(json.dumps({"port": self.port, "include": inc}))["id"])

    def test_permission_wrong(self):
        inc = os.path.join(self.svcdir, "secret.conf")
        with open(inc, "w") as f:
            f.write("x\n")
        os.chmod(inc, 0o600)  # root's; the service runs as nobody
        self.expect_rolled_back(self.bad(json.dumps({"port": self.port, "include": inc}))["id"])

    def test_two_switches_on_the_same_file(self):
        first = json.dumps({"port": self.port, "note": "first"}) + "\n"
        st, a = self.begin(first)
        self.assertEqual(st, 200, a)
        st, b = self.begin(json.dumps({"port": self.port, "status": 500}))
        self.assertEqual(st, 409, b)
        self.assertEqual(b["error"], "conflict")
        self.assertEqual(b["detail"]["switch"], a["id"])
        self.assertEqual(read(self.conf), first.encode(), "the first switch is unaffected")
        self.assertEqual(self.state(a["id"]), {"state": "probation"})
        until(self.healthy, what="the service under the first change")
        self.assertEqual(len(self.watch.events("switch.begin")), 1)
        st, r = self.watch.request("POST", "/switch/rollback/" + a["id"])
        self.assertEqual(st, 200, r)
        self.expect_rolled_back(a["id"], "manual rollback")

    def test_ledger_down_refuses_and_changes_nothing(self):
        self.agentd.stop()
        st, b = self.begin(json.dumps({"port": self.port, "status": 500}))
        self.assertEqual(st, 503, b)
        self.assertEqual(b["error"], "ledger_unavailable")
        self.assertEqual(read(self.conf), self.before)
        self.assertTrue(self.healthy())
        self.assertEqual(self.watch.request("GET", "/switch/list"), (200, []))


class WatchKilled(FaultCase):
    def test_sigkill_mid_probation_resumes_and_rolls_back(self):
        st, b = self.begin(json.dumps({"port": self.port, "status": 500}))
        self.assertEqual(st, 200, b)
        self.watch.stop(signal.SIGKILL)
        self.watch.start()
        rb = self.expect_rolled_back(b["id"])
        self.assertGreaterEqual(rb["failures"], 1)

    def test_sigkill_mid_probation_resumes_and_commits(self):
        good = json.dumps({"port": self.port, "note": "new"}) + "\n"
        st, b = self.begin(good, ttl=8)
        self.assertEqual(st, 200, b)
        self.watch.stop(signal.SIGKILL)
        self.watch.start()
        until(lambda: self.state(b["id"])["state"] == "committed", what="the commit")
        self.assertEqual(read(self.conf), good.encode())
        self.assertTrue(self.healthy())
        self.assertEqual(len(self.watch.events("switch.committed")), 1)

    def test_deadline_passed_while_down(self):
        good = json.dumps({"port": self.port, "note": "unverified"}) + "\n"
        st, b = self.begin(good, ttl=1)
        self.assertEqual(st, 200, b)
        self.watch.stop(signal.SIGKILL)
        # the deadline passes while watch is down (a precondition, not an assertion)
        until(lambda: time.time() > time.mktime(time.strptime(
            b["deadline_at"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone + 1.5,
            what="the deadline")
        self.watch.start()
        self.expect_rolled_back(b["id"], "deadline passed while osmoda-watch was down")


class NetworkDown(FaultCase):
    """Nothing in a switch needs the network: in a namespace without one, a bad change is still
    rolled back, with its receipts (agentd is reached over its unix socket)."""
    watch_class = NetlessWatch

    def test_rollback_without_network(self):
        grep = {"type": "command", "cmd": "/bin/grep", "args": ["-q", '"port"', self.conf]}
        tcp = {"type": "tcp_port", "host": "127.0.0.1", "port": self.port}
        st, b = self.begin("garbage\n", checks=[grep], restart=())
        self.assertEqual(st, 200, b)
        status = until(lambda: (lambda s: s if s["state"] == "rolled_back" else None)(
            self.state(b["id"])), what="the rollback")
        self.assertIn("health check failed", status["reason"])
        self.assertEqual(read(self.conf), self.before)
        self.assertIn("switch.rolled_back", [t for t, _ in self.watch.events("switch.")])
        # and the namespace really has no network: a loopback port is unreachable from it
        st, c = self.begin(self.good + " ", checks=[tcp], restart=())
        self.assertEqual(st, 200, c)
        status = until(lambda: (lambda s: s if s["state"] == "rolled_back" else None)(
            self.state(c["id"])), what="the second rollback")
        self.assertIn("health check failed", status["reason"])
        self.assertEqual(read(self.conf), self.before)


if __name__ == "__main__":
    unittest.main()
