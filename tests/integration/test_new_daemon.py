"""The example daemon of docs/new-daemon.md (examples/notesd), built on lib/exec, run against a real
agentd: its read tool runs at once, its irreversible tool waits for a person on agentd (one inbox
for every daemon), runs only after the signed decision reaches it, and held calls survive either
daemon dying (they are reconciled with agentd when it starts again)."""
import json
import os
import signal
import sqlite3
import subprocess
import time
import unittest

from osmtest import Agentd, binary, request, wait_for


class Notesd:
    def __init__(self, agentd):
        self.agentd = agentd
        self.sock = os.path.join(agentd.run_dir, "notesd.sock")
        self.agent_sock = os.path.join(agentd.run_dir, "notesd-agent.sock")
        self.log_path = os.path.join(agentd.tmp, "notesd.stderr")
        self.proc = None

    def start(self):
        for p in (self.sock, self.agent_sock):
            if os.path.exists(p):
                os.unlink(p)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [binary("osmoda-notesd"), "--socket", self.sock, "--state-dir",
             self.agentd.state_dir],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.proc.poll() is None:
            if os.path.exists(self.agent_sock):
                return self
            time.sleep(0.05)
        self.stop(signal.SIGKILL)
        raise RuntimeError("notesd did not start: " + self.text())

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(20)
        if self.proc:
            self.log.close()
        self.proc = None

    def call(self, tool, args=None):
        return request(self.agent_sock, "POST", "/tools/call",
                       {"tool": tool, "arguments": args or {}})

    def notes(self):
        st, notes = request(self.sock, "GET", "/notes")
        assert st == 200, notes
        return notes

    def job_status(self, job_id):
        db = sqlite3.connect(os.path.join(self.agentd.state_dir, "notesd-jobs.db"), timeout=5)
        try:
            row = db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
        finally:
            db.close()
        return row[0] if row else None


class NewDaemon(unittest.TestCase):
    def setUp(self):
        self.agentd = Agentd().start()
        self.notesd = Notesd(self.agentd).start()

    def tearDown(self):
        self.notesd.stop()
        alive = self.agentd.alive()
        self.agentd.cleanup()
        self.assertTrue(alive, "agentd died during the test")

    def events(self, type_):
        st, rows = self.agentd.request("GET", "/events/log?limit=500&type=" + type_)
        self.assertEqual(st, 200, rows)
        return rows

    def add_notes(self, *texts):
        for t in texts:
            st, r = request(self.notesd.sock, "POST", "/notes", {"text": t})
            self.assertEqual(st, 201, r)

    def hold_clear(self):
        st, r = self.notesd.call("notes_clear")
        self.assertEqual(st, 202, r)
        self.assertEqual(r["status"], "pending", r)
        return r["approval_id"], r["job_id"]

    def test_read_tool_runs_through_its_route_and_is_recorded_as_notesd(self):
        self.add_notes("a", "b")
        st, r = self.notesd.call("notes_list")
        self.assertEqual((st, r["status"]), (200, "ok"), r)
        self.assertEqual(r["result"], ["a", "b"])
        calls = [e for e in self.events("tool.call")
                 if json.loads(e["payload"])["tool"] == "notes_list"]
        self.assertEqual(len(calls), 1)
        self.assertEqual(calls[0]["actor"], "notesd")  # named by agentd from the credentials
        self.assertEqual(json.loads(calls[0]["payload"])["caller"]["pid"], os.getpid())
        # tools of other daemons are not notesd's to run
        st, r = self.notesd.call("shell_exec", {"command": "true"})
        self.assertEqual(st, 404, r)

    def test_held_call_runs_only_after_the_operator_approves_it_on_agentd(self):
        self.add_notes("keep me")
        aid, jid = self.hold_clear()
        st, pending = self.agentd.request("GET", "/approval/pending")
        mine = [a for a in pending if a["id"] == aid]
        self.assertEqual(len(mine), 1, pending)
        self.assertEqual((mine[0]["daemon"], mine[0]["tool"], mine[0]["job_id"]),
                         ("notesd", "notes_clear", jid))
        self.assertEqual(self.notesd.notes(), ["keep me"])  # nothing ran
        self.assertEqual(self.notesd.job_status(jid), "pending_approval")
        st, a = self.agentd.request("POST", "/approval/%s/approve" % aid, {})
        self.assertEqual(st, 200, a)
        wait_for(lambda: self.notesd.job_status(jid) == "exited", "the released job")
        self.assertEqual(self.notesd.notes(), [])
        ends = [json.loads(e["payload"]) for e in self.events("job.end")]
        self.assertIn(jid, [e["id"] for e in ends])

    def test_denied_call_never_runs(self):
        self.add_notes("x")
        aid, jid = self.hold_clear()
        st, a = self.agentd.request("POST", "/approval/%s/deny" % aid, {})
        self.assertEqual(st, 200, a)
        wait_for(lambda: self.notesd.job_status(jid) == "denied", "the denied job")
        self.assertEqual(self.notesd.notes(), ["x"])

    def test_decision_taken_while_notesd_is_down_is_applied_when_it_starts(self):
        aid, jid = self.hold_clear()
        self.notesd.stop(signal.SIGKILL)
        st, a = self.agentd.request("POST", "/approval/%s/approve" % aid, {})
        self.assertEqual(st, 200, a)
        self.notesd.start()
        wait_for(lambda: self.notesd.job_status(jid) == "exited", "the reconciled job")

    def test_agentd_restart_while_a_call_is_held(self):
        self.add_notes("y")
        aid, jid = self.hold_clear()
        self.agentd.kill()
        self.agentd.start()
        st, a = self.agentd.request("POST", "/approval/%s/approve" % aid, {})
        self.assertEqual(st, 200, a)
        wait_for(lambda: self.notesd.job_status(jid) == "exited", "the job after agentd restarted")
        self.assertEqual(self.notesd.notes(), [])

    def test_agentd_missing_means_notesd_does_not_start(self):
        self.notesd.stop()
        self.agentd.stop()
        with self.assertRaises(RuntimeError):
            Notesd(self.agentd).start()
        self.agentd.start()


if __name__ == "__main__":
    unittest.main()
