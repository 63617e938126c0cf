"""Shared helpers for integration tests: start real daemons in a temporary directory and talk to
them over their unix sockets. Python standard library only."""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("OSMODA_BUILD", os.path.join(ROOT, "build"))


def binary(name):
    """Path of a built program: agentd, agentctl, ..."""
    short = name[len("osmoda-"):] if name.startswith("osmoda-") else name
    for sub in ("daemons/" + short, "daemons/sandbox", "examples/notesd", "cli", "bench", "mcp"):
        p = os.path.join(BUILD, sub, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(name + " is not built in " + BUILD)


def wait_for(pred, what="a condition", timeout=20):
    """Waits until pred() returns something true (an event recorded, a file written, a process
    gone) and returns it; fails naming what after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


def sanitizer_report(text):
    """The sanitizer report in a daemon's stderr (ASan/UBSan builds), or ''."""
    for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        if marker in text:
            return text[max(0, text.index(marker) - 200):][:6000]
    return ""


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.unix_path)
        except OSError:
            s.close()
            raise
        self.sock = s


def request(sock, method, path, body=None, raw=None, headers=None, timeout=30):
    """One HTTP request; body is JSON-encoded, raw is sent as is. Returns (status, json or text)."""
    conn = UnixHTTPConnection(sock, timeout)
    hdrs = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
    if data is not None:
        hdrs.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        payload = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(payload) if payload else None
    except ValueError:
        return resp.status, payload.decode(errors="replace")


class Agentd:
    """A real agentd on a temporary state/run directory."""

    def __init__(self, state_dir=None, args=()):
        self.tmp = tempfile.mkdtemp(prefix="osmoda-test-")
        self.state_dir = state_dir or os.path.join(self.tmp, "state")
        self.run_dir = os.path.join(self.tmp, "run")
        os.makedirs(self.run_dir, exist_ok=True)
        self.sock = os.path.join(self.run_dir, "agentd.sock")
        self.agent_sock = os.path.join(self.run_dir, "agentd-agent.sock")  # the agent principal
        self.args = list(args)
        self.proc = None
        self.stderr_path = os.path.join(self.tmp, "agentd.stderr")

    def start(self, wait=True):
        env = dict(os.environ, OSMODA_STATE_DIR=self.state_dir, OSMODA_RUN_DIR=self.run_dir)
        if getattr(self, "stderr", None):
            self.stderr.close()
        self.stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen([binary("agentd"), "--socket", self.sock,
                                      "--state-dir", self.state_dir] + self.args,
                                     stdin=subprocess.DEVNULL, stdout=self.stderr,
                                     stderr=self.stderr, env=env)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("agentd exited: " + self.log())
            try:
                status, _ = request(self.sock, "GET", "/health", timeout=2)
                if status == 200 and os.path.exists(self.agent_sock):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("agentd did not become ready: " + self.log())

    def request(self, method, path, body=None, **kw):
        return request(self.sock, method, path, body, **kw)

    def agent_request(self, method, path, body=None, **kw):
        """A request on the agent socket (what the MCP bridge reaches)."""
        return request(self.agent_sock, method, path, body, **kw)

    def call_tool(self, tool, arguments=None, capability=None, operator=False):
        """POST /tools/call on the agent socket (or the operator one); returns (status, json)."""
        body = {"tool": tool}
        if arguments is not None:
            body["arguments"] = arguments
        if capability is not None:
            body["capability"] = capability
        return request(self.sock if operator else self.agent_sock, "POST", "/tools/call", body)

    def log(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")

    def sanitizer_errors(self):
        return sanitizer_report(self.log())

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.stderr.close()
        self.proc = None

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()
            self.stderr.close()
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


class AgentdTestCase(unittest.TestCase):
    """Starts one agentd per test method."""
    agentd_args = ()

    def setUp(self):
        self.agentd = Agentd(args=self.agentd_args).start()

    def tearDown(self):
        alive = self.agentd.alive()
        self.agentd.stop()
        report = self.agentd.sanitizer_errors()
        self.agentd.cleanup()
        self.assertTrue(alive, "agentd died during the test")
        self.assertEqual(report, "", "sanitizer report from agentd")

    def req(self, method, path, body=None, **kw):
        return self.agentd.request(method, path, body, **kw)


def run_ctl(*args, state_dir=None, sock=None, input=None):
    """Runs agentctl; returns CompletedProcess with text stdout/stderr."""
    argv = [binary("agentctl")]
    if state_dir:
        argv += ["--state-dir", state_dir]
    if sock:
        argv += ["--socket", sock]
    argv += list(args)
    return subprocess.run(argv, input=input, capture_output=True, text=True, timeout=120)


class OsmDaemon:
    """A real osModa-C daemon beside a real agentd (its ledger and approver): operator socket
    <run>/<name>.sock, agent socket <run>/<name>-agent.sock, data_dir surviving stop()/start()
    (restart tests). Subclasses give the name and the extra arguments."""
    name = None

    def __init__(self, agentd, args=(), data_dir=None):
        self.agentd = agentd
        self.sock = os.path.join(agentd.run_dir, self.name + ".sock")
        self.agent_sock = os.path.join(agentd.run_dir, self.name + "-agent.sock")
        self.data_dir = data_dir or os.path.join(agentd.tmp, self.name)
        self.log_path = os.path.join(agentd.tmp, self.name + ".stderr")
        self.args = list(args)
        self.proc = None

    def command(self):
        return [binary("osmoda-" + self.name), "--socket", self.sock, "--agentd-socket",
                self.agentd.sock, "--state-dir", self.agentd.state_dir, "--data-dir",
                self.data_dir] + self.args

    def start(self, wait=True, env=None):
        for p in (self.sock, self.agent_sock):
            if os.path.exists(p):
                os.unlink(p)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log, env=env)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("osmoda-%s exited: %s" % (self.name, self.text()))
            if os.path.exists(self.agent_sock):
                try:
                    if request(self.sock, "GET", "/health", timeout=2)[0] == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("osmoda-%s did not become ready: %s" % (self.name, self.text()))

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def sanitizer_errors(self):
        return sanitizer_report(self.text())

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM):
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.log.close()
        self.proc = None

    def request(self, method, path, body=None, **kw):
        """On the operator socket (<name>.sock)."""
        return request(self.sock, method, path, body, **kw)

    def call(self, tool, args=None):
        """A tool call on the agent socket, through the daemon's executor: (status, answer)."""
        return request(self.agent_sock, "POST", "/tools/call",
                       {"tool": tool, "arguments": args or {}})

    def events(self, prefix=""):
        """The daemon's events in agentd's ledger, oldest first: [(type, payload dict)]."""
        st, log = self.agentd.request("GET", "/events/log?actor=%s&limit=10000" % self.name)
        assert st == 200, log
        return [(e["type"], json.loads(e["payload"])) for e in reversed(log)
                if e["type"].startswith(prefix)]


class Watch(OsmDaemon):
    """osmoda-watch, on the process service backend unless told otherwise."""
    name = "watch"

    def __init__(self, agentd, args=(), backend="process", data_dir=None):
        super().__init__(agentd, ["--service-backend", backend] + list(args), data_dir)
        if "--fim-path" not in self.args:
            # the integrity monitor's defaults hash all of /etc at every start: tests that are
            # not about it watch an empty directory of their own
            quiet = os.path.join(agentd.tmp, "fim-quiet")
            os.makedirs(quiet, exist_ok=True)
            self.args += ["--fim-path", quiet]


class Egress(OsmDaemon):
    """osmoda-egress; listen: "ADDR:PORT" of the default principal (a free port of the test's)."""
    name = "egress"

    def __init__(self, agentd, args=(), listen=None, data_dir=None):
        extra = ["--listen", listen] if listen else []
        super().__init__(agentd, extra + list(args), data_dir)


class Keyd(OsmDaemon):
    """osmoda-keyd with a master key file of the test's (outside its data directory)."""
    name = "keyd"

    def __init__(self, agentd, args=(), data_dir=None, key_file=True):
        extra = []
        if key_file:
            path = os.path.join(agentd.tmp, "keyd-master.key")
            if not os.path.exists(path):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                os.write(fd, os.urandom(32))
                os.close(fd)
            extra = ["--key-file", path]
        super().__init__(agentd, extra + list(args), data_dir)


class WatchTestCase(unittest.TestCase):
    """One agentd and one osmoda-watch per test method."""
    watch_args = ()
    watch_backend = "process"

    def setUp(self):
        self.agentd = Agentd().start()
        self.watch = Watch(self.agentd, self.watch_args, self.watch_backend)
        try:
            self.watch.start()
        except Exception:
            self.agentd.cleanup()
            raise

    def tearDown(self):
        alive = self.watch.alive()
        self.watch.stop()
        self.agentd.stop()
        reports = (self.agentd.sanitizer_errors(), self.watch.sanitizer_errors())
        self.agentd.cleanup()
        self.assertTrue(alive, "osmoda-watch died during the test")
        self.assertEqual(reports, ("", ""), "sanitizer reports from agentd and osmoda-watch")


def free_port():
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gateway:
    """A real osmoda-gateway on 127.0.0.1:<free port>, its state beside agentd's (config/ with
    the token) and its dashboard from the source tree. agentd may be None: the gateway then runs
    in a temporary state directory of its own and its ledger events have nowhere to go."""

    def __init__(self, agentd=None, args=()):
        self.agentd = agentd
        self.tmp = agentd.tmp if agentd else tempfile.mkdtemp(prefix="osmoda-gw-")
        self.state_dir = agentd.state_dir if agentd else os.path.join(self.tmp, "state")
        self.run_dir = agentd.run_dir if agentd else os.path.join(self.tmp, "run")
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        os.makedirs(self.run_dir, mode=0o700, exist_ok=True)
        self.port = free_port()
        self.token_path = os.path.join(self.state_dir, "config", "gateway-token")
        self.log_path = os.path.join(self.tmp, "gateway.stderr")
        self.args = list(args)
        self.proc = None

    def start(self, wait=True):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [binary("osmoda-gateway"), "--listen", "127.0.0.1:%d" % self.port, "--state-dir",
             self.state_dir, "--run-dir", self.run_dir, "--web-dir",
             os.path.join(ROOT, "daemons", "gateway", "web")] + self.args,
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        if wait:
            wait_for(lambda: self._up(), "the gateway to answer")
        return self

    def _up(self):
        if self.proc.poll() is not None:
            raise RuntimeError("osmoda-gateway exited: " + self.text())
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    @property
    def token(self):
        with open(self.token_path) as f:
            return f.read().strip()

    def http(self, method, path, body=None, raw=None, headers=None, auth=True, timeout=30):
        """(status, headers dict (lower-case names), parsed JSON or raw bytes)."""
        h = dict(headers or {})
        if auth and "Authorization" not in h:
            h["Authorization"] = "Bearer " + self.token
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            payload = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            if "json" in hdrs.get("content-type", ""):
                payload = json.loads(payload)
            return r.status, hdrs, payload
        finally:
            c.close()

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def sanitizer_errors(self):
        return sanitizer_report(self.text())

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.log.close()
        self.proc = None

    def cleanup(self):
        self.stop()
        if not self.agentd:
            shutil.rmtree(self.tmp, ignore_errors=True)
