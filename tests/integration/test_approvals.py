"""Approvals enforced in the executor: a call the policy sends to a person waits (pending, with an
approval id and a job id), runs only after an operator approves it on the operator socket
(agentctl approve), is refused on deny or expiry, and cannot be approved by the agent in any way
(agent socket, the approval_approve tool, a decided_by field)."""
import json
import os
import sqlite3
import subprocess
import time
import unittest

from osmtest import Agentd, AgentdTestCase, request, run_ctl

MINT_ARGS = {"granted_to": "helper", "permissions": ["system_health"]}


def job_row(agentd, job_id):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(agentd.state_dir, "ledger.db"),
                         uri=True, timeout=5)
    try:
        row = db.execute("SELECT status, result, error FROM jobs WHERE id = ?",
                         (job_id,)).fetchone()
    finally:
        db.close()
    return row


def wait_job(agentd, job_id, statuses, timeout=15):
    deadline = time.monotonic() + timeout
    row = None
    while time.monotonic() < deadline:
        row = job_row(agentd, job_id)
        if row and row[0] in statuses:
            return row
        time.sleep(0.05)
    raise AssertionError("job %s did not reach %s: %r" % (job_id, statuses, row))


def wait_event(agentd, type_, pred, timeout=15):
    """The first ledger event of type_ whose payload satisfies pred, awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for e in events(agentd, type_):
            if pred(e["payload"]):
                return e
        time.sleep(0.05)
    raise AssertionError("no %s event came" % type_)


def events(agentd, type_):
    st, rows = agentd.request("GET", "/events/log?limit=500&type=" + type_)
    assert st == 200, rows
    return [dict(r, payload=json.loads(r["payload"])) for r in rows]


# POST {} to argv[2] on the unix socket argv[1] and print the status.
AS_NOBODY = """import http.client, socket, sys
class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(sys.argv[1])
c = Conn("localhost", timeout=30)
c.request("POST", sys.argv[2], body=b"{}", headers={"Content-Type": "application/json"})
print(c.getresponse().status)
"""


class Approvals(AgentdTestCase):
    def ctl(self, *args):
        return run_ctl(*args, sock=self.agentd.sock, state_dir=self.agentd.state_dir)

    def pending_call(self, args=None):
        """capability_mint is privileged: it must wait for a person."""
        st, r = self.agentd.call_tool("capability_mint", args or MINT_ARGS)
        self.assertEqual(st, 202, r)
        self.assertEqual(r["status"], "pending")
        self.assertTrue(r["approval_id"] and r["job_id"])
        return r

    def test_pending_then_operator_approves_with_agentctl(self):
        r = self.pending_call()
        aid, jid = r["approval_id"], r["job_id"]
        self.assertEqual(job_row(self.agentd, jid)[0], "pending_approval")
        self.assertEqual(events(self.agentd, "capability.mint"), [])  # nothing ran
        st, a = self.req("GET", "/approval/" + aid)
        self.assertEqual((st, a["status"], a["tool"], a["job_id"]),
                         (200, "pending", "capability_mint", jid))
        self.assertEqual(a["actor"], "agent:%d" % os.getuid())
        out = self.ctl("approvals")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(aid, out.stdout)
        out = self.ctl("--json", "approvals")
        self.assertEqual([x["id"] for x in json.loads(out.stdout)], [aid])
        out = self.ctl("approve", aid)
        self.assertEqual(out.returncode, 0, out.stderr)
        status, result, _ = wait_job(self.agentd, jid, ("exited", "failed"))
        self.assertEqual(status, "exited", result)
        self.assertEqual(len(json.loads(result)["signature"]), 128)  # it really minted
        minted = events(self.agentd, "capability.mint")
        self.assertEqual(len(minted), 1)
        # it ran after the decision, not before: the ledger orders them
        approved = events(self.agentd, "approval.approved")
        self.assertGreater(minted[0]["id"], approved[0]["id"])
        st, a = self.req("GET", "/approval/" + aid)
        self.assertEqual((a["status"], a["decided_by"], a["mode"]),
                         ("approved", "uid:%d" % os.getuid(), "once"))
        ev = events(self.agentd, "approval.approved")
        self.assertEqual(len(ev), 1)
        self.assertEqual(ev[0]["actor"], "uid:%d" % os.getuid())
        # once means once: the same call asks again
        self.pending_call()
        # a second decision on the same approval is refused
        self.assertEqual(self.ctl("approve", aid).returncode, 1)

    def test_deny_refuses_the_job(self):
        r = self.pending_call()
        out = self.ctl("deny", r["approval_id"])
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(wait_job(self.agentd, r["job_id"], ("denied",))[0], "denied")
        # the job's end is recorded: nothing can run for it after that
        end = wait_event(self.agentd, "job.end", lambda p: p["id"] == r["job_id"])
        self.assertEqual(end["payload"]["status"], "denied", end)
        self.assertEqual(events(self.agentd, "capability.mint"), [])
        st, a = self.req("GET", "/approval/" + r["approval_id"])
        self.assertEqual(a["status"], "denied")
        self.assertEqual(len(events(self.agentd, "approval.denied")), 1)
        self.assertEqual(self.ctl("approve", r["approval_id"]).returncode, 1)

    def test_agent_cannot_approve_itself(self):
        r = self.pending_call()
        aid = r["approval_id"]
        # the decision routes on the agent socket
        for path in ("/approval/%s/approve" % aid, "/approval/%s/deny" % aid):
            st, e = self.agentd.agent_request("POST", path, {"decided_by": "operator",
                                                             "mode": "always"})
            self.assertEqual(st, 403, e)
        # the tool
        st, e = self.agentd.call_tool("approval_approve", {"id": aid})
        self.assertEqual((st, e["status"]), (403, "denied"), e)
        self.assertIn("agentctl approve", e["message"])
        # a pending approval is not a grant: calling again does not run it
        st, e = self.agentd.call_tool("capability_mint", MINT_ARGS)
        self.assertEqual(e["status"], "pending")
        st, a = self.req("GET", "/approval/" + aid)
        self.assertEqual(a["status"], "pending")
        self.assertEqual(events(self.agentd, "capability.mint"), [])
        # on the operator socket, decided_by in the body is ignored: the peer decides
        st, a = self.req("POST", "/approval/%s/approve" % aid, {"decided_by": "mallory"})
        self.assertEqual(st, 200, a)
        self.assertEqual(a["decided_by"], "uid:%d" % os.getuid())
        self.assertNotIn("mallory", json.dumps(events(self.agentd, "approval.approved")))

    @unittest.skipUnless(os.geteuid() == 0, "needs root to connect as another uid")
    def test_operator_socket_checks_the_peer_uid(self):
        r = self.pending_call()
        for d in (self.agentd.tmp, self.agentd.run_dir):
            os.chmod(d, 0o711)
        os.chmod(self.agentd.sock, 0o666)  # let uid 65534 reach the operator socket
        # standard library only, run from /: uid 65534 may not read the checkout (under /root)
        out = subprocess.run(["python3", "-c", AS_NOBODY, self.agentd.sock,
                              "/approval/%s/approve" % r["approval_id"]],
                             capture_output=True, text=True, timeout=30, cwd="/",
                             user=65534, group=65534, extra_groups=[])
        self.assertEqual(out.stdout.strip(), "403", out.stderr)
        st, a = self.req("GET", "/approval/" + r["approval_id"])
        self.assertEqual(a["status"], "pending")

    def test_allow_always_grant_lets_identical_calls_run(self):
        r = self.pending_call()
        out = self.ctl("approve", "--always", "--ttl", "60", r["approval_id"])
        self.assertEqual(out.returncode, 0, out.stderr)
        wait_job(self.agentd, r["job_id"], ("exited",))
        st, again = self.agentd.call_tool("capability_mint", MINT_ARGS)
        self.assertEqual((st, again["status"]), (200, "ok"), again)
        self.assertEqual(len(again["result"]["signature"]), 128)
        call = events(self.agentd, "tool.call")[0]["payload"]
        self.assertEqual((call["decision"], call["rule"], call["approval_id"]),
                         ("allow", "grant", r["approval_id"]))
        # other arguments are another call: it asks again
        st, other = self.agentd.call_tool("capability_mint", dict(MINT_ARGS, granted_to="x"))
        self.assertEqual(other["status"], "pending", other)
        self.assertEqual(self.ctl("approve", "--ttl", "5", other["approval_id"]).returncode, 2)

    def test_approval_request_tool_and_osmodas_shape(self):
        st, r = self.agentd.call_tool("approval_request", {"command": "rm -rf /srv/old",
                                                           "reason": "cleanup"})
        self.assertEqual((st, r["status"]), (200, "ok"), r)
        a = r["result"]
        for k in ("id", "command", "actor", "reason", "status", "created_at", "expires_at",
                  "decided_at", "decided_by", "is_destructive"):
            self.assertIn(k, a)
        self.assertEqual((a["status"], a["is_destructive"], a["actor"]),
                         ("pending", True, "agent:%d" % os.getuid()))
        st, lst = self.req("GET", "/approval/pending")
        self.assertEqual([x["id"] for x in lst], [a["id"]])
        st, e = self.req("GET", "/approval/nope")
        self.assertEqual((st, e["message"]), (404, "approval not found"))
        st, e = self.req("POST", "/approval/request", {"command": "x"})
        self.assertEqual(st, 422)


class Expiry(AgentdTestCase):
    agentd_args = ("--approval-ttl", "1")

    def wait_expired(self, aid, timeout=15):
        """Reads the approval until its TTL has passed (reading expires it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st, a = self.req("GET", "/approval/" + aid)
            if a["status"] == "expired":
                return
            time.sleep(0.1)
        self.fail("approval %s did not expire: %r" % (aid, a))

    def test_expired_approval_refuses_the_job(self):
        st, r = self.agentd.call_tool("capability_mint", MINT_ARGS)
        self.assertEqual(r["status"], "pending", r)
        self.wait_expired(r["approval_id"])
        self.assertEqual(wait_job(self.agentd, r["job_id"], ("expired",))[0], "expired")
        ev = events(self.agentd, "approval.expired")
        self.assertEqual([e["payload"]["id"] for e in ev], [r["approval_id"]])
        out = run_ctl("approve", r["approval_id"], sock=self.agentd.sock)
        self.assertEqual(out.returncode, 1)
        self.assertIn("expired", out.stderr)
        self.assertEqual(events(self.agentd, "capability.mint"), [])

    def test_request_ttl_and_pending_list_expire(self):
        st, a = self.req("POST", "/approval/request", {"command": "reboot", "reason": "kernel",
                                                      "ttl_secs": 1})
        self.assertEqual(st, 201, a)
        st, lst = self.req("GET", "/approval/pending")
        self.assertEqual(len(lst), 1)
        self.wait_expired(a["id"])
        wait_event(self.agentd, "approval.expired", lambda p: p["id"] == a["id"])
        st, lst = self.req("GET", "/approval/pending")
        self.assertEqual(lst, [])


if __name__ == "__main__":
    unittest.main()
