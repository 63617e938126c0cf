"""Held calls and their approvals stay consistent: killing a held job cancels its approval (it can
never be approved afterwards), a decision committed while agentd was down (or just before it died,
before the job was released) is applied when it starts, and allow-always grants cover exactly the
call, the path or the prefix the operator chose."""
import json
import os
import sqlite3
import tempfile
import time
import unittest

from osmtest import Agentd, AgentdTestCase, run_ctl
from pyledger import PyLedger

MINT_ARGS = {"granted_to": "helper", "permissions": ["system_health"]}


def job_status(agentd, job_id):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(agentd.state_dir, "ledger.db"),
                         uri=True, timeout=5)
    try:
        row = db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
    finally:
        db.close()
    return row[0] if row else None


def wait_status(agentd, job_id, want, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = job_status(agentd, job_id)
        if s == want:
            return
        time.sleep(0.05)
    raise AssertionError("job %s is %s, not %s" % (job_id, job_status(agentd, job_id), want))


class HeldCalls(AgentdTestCase):
    def hold(self, tool="capability_mint", args=None):
        st, r = self.agentd.call_tool(tool, args or MINT_ARGS)
        self.assertEqual((st, r["status"]), (202, "pending"), r)
        return r["approval_id"], r["job_id"]

    def approval(self, aid):
        st, a = self.req("GET", "/approval/" + aid)
        self.assertEqual(st, 200, a)
        return a

    def test_job_kill_of_a_held_call_cancels_its_approval(self):
        aid, jid = self.hold()
        st, r = self.agentd.call_tool("job_kill", {"job_id": jid})
        self.assertEqual((st, r["status"]), (200, "ok"), r)
        self.assertEqual(r["result"]["status"], "killed")
        self.assertEqual(self.approval(aid)["status"], "cancelled")
        st, r = self.req("POST", "/approval/%s/approve" % aid, {})
        self.assertEqual(st, 409, r)  # never approvable afterwards
        self.assertEqual(job_status(self.agentd, jid), "killed")
        st, rows = self.req("GET", "/events/log?type=approval.cancelled")
        self.assertEqual([json.loads(e["payload"])["id"] for e in rows], [aid])
        st, pending = self.req("GET", "/approval/pending")
        self.assertNotIn(aid, [a["id"] for a in pending])

    def test_job_kill_after_approval_kills_what_was_released(self):
        aid, jid = self.hold("sandbox_exec", {"command": "sleep 300", "ring": 1})
        st, a = self.req("POST", "/approval/%s/approve" % aid, {})
        self.assertEqual(st, 200, a)
        wait_status(self.agentd, jid, "running")
        st, r = self.agentd.call_tool("job_kill", {"job_id": jid})
        self.assertEqual(r["result"]["status"], "killed", r)
        self.assertEqual(self.approval(aid)["status"], "approved")

    def commit_decision_while_down(self, aid, status):
        """What agentd leaves when it dies right after committing a decision: the row and its
        ledger event, the job still held."""
        self.agentd.kill()
        path = os.path.join(self.agentd.state_dir, "ledger.db")
        led = PyLedger(path)
        led.append("approval." + status, "uid:0", json.dumps({"id": aid}, sort_keys=True,
                                                              separators=(",", ":")))
        led.execute("UPDATE pending_approvals SET status = ?, decided_at = "
                    "strftime('%Y-%m-%dT%H:%M:%fZ','now'), decided_by = 'uid:0', mode = ? "
                    "WHERE id = ?", (status, "once" if status == "approved" else None, aid))
        led.close()
        self.agentd.start()

    def test_decision_committed_before_the_release_is_applied_at_start(self):
        aid, jid = self.hold()
        self.commit_decision_while_down(aid, "approved")
        wait_status(self.agentd, jid, "exited")
        st, r = self.agentd.call_tool("job_status", {"job_id": jid})
        self.assertIn("signature", r["result"]["result"])  # the minted token: it ran once

    def test_denial_committed_before_the_refusal_is_applied_at_start(self):
        aid, jid = self.hold()
        self.commit_decision_while_down(aid, "denied")
        wait_status(self.agentd, jid, "denied")

    def test_a_tampered_held_job_is_not_run(self):
        aid, jid = self.hold()
        self.agentd.kill()
        db = sqlite3.connect(os.path.join(self.agentd.state_dir, "ledger.db"))
        db.execute("UPDATE jobs SET args = ? WHERE id = ?",
                   (json.dumps({"granted_to": "evil", "permissions": ["shell_exec"]}), jid))
        db.commit()
        db.close()
        self.agentd.start()
        st, a = self.req("POST", "/approval/%s/approve" % aid, {})
        self.assertEqual(st, 200, a)
        wait_status(self.agentd, jid, "failed")


class Grants(AgentdTestCase):
    """file_write held by a policy rule, so that grants over paths can be seen."""

    def setUp(self):
        self.target = tempfile.mkdtemp(prefix="osmoda-grant-")
        state = tempfile.mkdtemp(prefix="osmoda-state-")
        os.chmod(state, 0o700)
        with open(os.path.join(state, "policy.json"), "w") as f:
            json.dump({"rules": [{"tool": "file_write", "decision": "approve"}]}, f)
        os.chmod(os.path.join(state, "policy.json"), 0o600)
        self.agentd = Agentd(state_dir=state).start()

    def write(self, path, content="x"):
        return self.agentd.call_tool("file_write", {"path": path, "content": content})

    def approve(self, aid, **body):
        st, a = self.req("POST", "/approval/%s/approve" % aid, body)
        self.assertEqual(st, 200, a)
        return a

    def test_path_grant_covers_that_path_only(self):
        p = os.path.join(self.target, "app.conf")
        st, r = self.write(p, "one")
        self.assertEqual(st, 202, r)
        self.approve(r["approval_id"], mode="always", scope="path", ttl_secs=600)
        wait_status(self.agentd, r["job_id"], "exited")
        st, r = self.write(p, "two")  # other content, same path: granted
        self.assertEqual((st, r["status"]), (200, "ok"), r)
        self.assertEqual(open(p).read(), "two")
        st, r = self.write(p + ".other", "three")
        self.assertEqual(st, 202, r)

    def test_prefix_grant_covers_what_is_under_it(self):
        app = os.path.join(self.target, "app")
        os.makedirs(app)
        st, r = self.write(os.path.join(app, "a.conf"))
        self.assertEqual(st, 202, r)
        st, bad = self.req("POST", "/approval/%s/approve" % r["approval_id"],
                           {"mode": "always", "scope": "prefix", "prefix": "/nonsense"})
        self.assertEqual(st, 422, bad)  # the prefix must hold the held call's path
        self.approve(r["approval_id"], mode="always", scope="prefix", prefix=app)
        st, r2 = self.write(os.path.join(app, "sub", "b.conf"))
        self.assertEqual((st, r2["status"]), (200, "ok"), r2)
        st, r3 = self.write(app + "lication.conf")  # a sibling sharing the prefix's letters
        self.assertEqual(st, 202, r3)

    def test_agentctl_grants_a_prefix(self):
        app = os.path.join(self.target, "etc-app")
        os.makedirs(app)
        st, r = self.write(os.path.join(app, "a.conf"))
        ctl = lambda *a: run_ctl(*a, sock=self.agentd.sock, state_dir=self.agentd.state_dir)
        out = ctl("approve", "--path", r["approval_id"])
        self.assertEqual(out.returncode, 2, out.stderr)  # a grant's scope needs --always
        out = ctl("approve", "--always", "--path", "--prefix", app, r["approval_id"])
        self.assertEqual(out.returncode, 2, out.stderr)
        out = ctl("approve", "--always", "--prefix", app, "--ttl", "60", r["approval_id"])
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("under the prefix", out.stdout)
        st, r2 = self.write(os.path.join(app, "b.conf"))
        self.assertEqual((st, r2["status"]), (200, "ok"), r2)

    def test_call_grant_covers_the_identical_call_only(self):
        p = os.path.join(self.target, "c.conf")
        st, r = self.write(p, "same")
        self.approve(r["approval_id"], mode="always")
        wait_status(self.agentd, r["job_id"], "exited")
        st, r = self.write(p, "same")
        self.assertEqual((st, r["status"]), (200, "ok"), r)
        st, r = self.write(p, "different")
        self.assertEqual(st, 202, r)


if __name__ == "__main__":
    unittest.main()
