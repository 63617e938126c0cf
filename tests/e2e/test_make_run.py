"""`make run` (scripts/dev-run) as a newcomer meets it: every daemon starts unprivileged in a
directory of its own, the dashboard answers with the printed token, the scripted incident breaks
the demo service through SafeSwitch and the rollback brings it back, the ledger verifies, and
Ctrl-C stops everything."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from osmtest import BUILD, ROOT, free_port  # noqa: E402


class MakeRun(unittest.TestCase):
    def setUp(self):
        self.base = tempfile.mkdtemp(prefix="osmoda-run-")
        self.ports = {"OSMODA_GATEWAY_PORT": free_port(), "OSMODA_EGRESS_PORT": free_port(),
                      "OSMODA_DEMO_PORT": free_port()}
        env = dict(os.environ, OSMODA_DEV_BASE=self.base, OSMODA_DEMO_INCIDENT_AFTER="1",
                   **{k: str(v) for k, v in self.ports.items()})
        self.out = open(os.path.join(self.base, "run.out"), "w+")
        self.proc = subprocess.Popen([os.path.join(ROOT, "scripts", "dev-run"), BUILD],
                                     stdout=self.out, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)

    def tearDown(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.out.close()
        shutil.rmtree(self.base, ignore_errors=True)

    def text(self):
        self.out.flush()
        with open(self.out.name) as f:
            return f.read()

    def wait_text(self, pattern, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.text())
            if m:
                return m
            self.assertIsNone(self.proc.poll(), "dev-run exited:\n" + self.text())
            time.sleep(0.2)
        self.fail("no %r in:\n%s" % (pattern, self.text()))

    def daemons(self):
        """Processes started by this run but dev-run itself: their environment names its state
        directory (agentd's command line does not)."""
        mark = ("OSMODA_STATE_DIR=%s/state" % self.base).encode()
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open("/proc/%s/environ" % pid, "rb") as f:
                    if mark in f.read().split(b"\0") and int(pid) != self.proc.pid:
                        found.append(pid)
            except OSError:
                pass
        return found

    def test_incident_rolls_back_and_ctrl_c_stops_everything(self):
        token = self.wait_text(r"Token:\s+([0-9a-f]{64})").group(1)
        with open(os.path.join(self.base, "state", "config", "gateway-token")) as f:
            self.assertEqual(f.read().strip(), token)
        port = self.ports["OSMODA_GATEWAY_PORT"]
        req = urllib.request.Request("http://127.0.0.1:%d/auth/check" % port,
                                     headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, timeout=10) as r:
            self.assertEqual(r.status, 200)
        self.wait_text(r"\[incident\] switch [0-9a-f-]+: rolled_back")
        self.wait_text(r"demo-web recovered on the old config: hello from osModa")
        self.wait_text(r"Ledger verified: \d+ events, all hashes valid, chain intact")
        for name in ("agentd", "watch", "egress", "keyd", "gateway"):
            with open(os.path.join(self.base, name + ".log")) as f:
                self.assertIn("event=daemon.", f.read(), name)
        self.assertGreaterEqual(len(self.daemons()), 5)  # the five daemons
        os.killpg(self.proc.pid, signal.SIGINT)
        self.proc.wait(60)
        deadline = time.monotonic() + 30
        while self.daemons() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(self.daemons(), [], "daemons left running after Ctrl-C")


if __name__ == "__main__":
    unittest.main()
