"""osmoda-egress's operator side: agentd's batch append (the door egress's events go through),
the operator API on egress.sock, the tools on egress-agent.sock with their approvals, decisions
reaching the ledger, and failing closed while agentd is away."""
import json
import os
import sqlite3
import unittest

import egress_net
from osmtest import Agentd, AgentdTestCase, Egress, request, run_ctl, wait_for


def my_name():
    """The name agentd gives this test process: its executable, without an osmoda- prefix."""
    name = os.path.basename(os.readlink("/proc/self/exe"))
    return name[len("osmoda-"):] if name.startswith("osmoda-") else name


class BatchAppend(AgentdTestCase):
    """POST /events/append_batch on agentd-daemons.sock."""

    def setUp(self):
        super().setUp()
        self.sock = os.path.join(self.agentd.run_dir, "agentd-daemons.sock")

    def batch(self, events):
        return request(self.sock, "POST", "/events/append_batch", {"events": events})

    def logged(self, prefix):
        st, rows = self.req("GET", "/events/log?limit=1000")
        self.assertEqual(st, 200, rows)
        return [r for r in reversed(rows) if r["type"].startswith(prefix)]

    def test_events_are_recorded_in_order_with_the_callers_name(self):
        events = [{"type": "batch.test.%d" % (i % 3), "payload": {"i": i, "actor": "agentd"}}
                  for i in range(200)]
        st, r = self.batch(events)
        self.assertEqual(st, 201, r)
        self.assertEqual(r["count"], 200)
        self.assertEqual(r["last_id"] - r["first_id"], 199)  # contiguous: one transaction
        rows = self.logged("batch.test.")
        self.assertEqual([json.loads(x["payload"])["i"] for x in rows], list(range(200)))
        self.assertEqual([x["type"] for x in rows], [e["type"] for e in events])
        self.assertEqual({x["actor"] for x in rows}, {my_name()})
        self.assertEqual([x["id"] for x in rows], list(range(r["first_id"], r["last_id"] + 1)))
        res = run_ctl("verify-ledger", state_dir=self.agentd.state_dir)  # the chain verifies
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)

    def test_a_refused_event_refuses_the_batch(self):
        good = {"type": "batch.good", "payload": {}}
        for bad in ({"type": "BAD TYPE", "payload": {}},
                    {"type": "batch.x", "payload": {}, "actor": "agentd"},  # no actor of its own
                    {"type": "batch.x"}, {"payload": {}}, {"type": 3, "payload": {}},
                    "batch.x", None, {"type": "x" * 129, "payload": {}}):
            st, r = self.batch([good, good, bad, good])
            self.assertEqual(st, 422, (bad, r))
            self.assertEqual(r["error"], "invalid_field")
            self.assertEqual(r["detail"]["index"], 2, r)
        for body in ({"events": []}, {"events": [good] * 257}, {"events": good}, {"events": None},
                     {}, []):
            st, r = request(self.sock, "POST", "/events/append_batch", body)
            self.assertIn(st, (400, 422), (body, r))
        self.assertEqual(self.logged("batch."), [])  # nothing of any of them was written
        st, r = self.batch([good] * 256)  # the limit itself is fine
        self.assertEqual(st, 201, r)

    def test_only_on_the_daemons_socket(self):
        body = {"events": [{"type": "batch.x", "payload": {}}]}
        self.assertEqual(self.req("POST", "/events/append_batch", body)[0], 404)
        self.assertEqual(self.agentd.agent_request("POST", "/events/append_batch", body)[0], 404)
        self.assertEqual(self.logged("batch."), [])


if __name__ == "__main__":
    unittest.main()


ACL = {"principals": {
    "default": {"mode": "enforce", "rules": [{"host": "allowed.test"}]},
    "agent": {"mode": "enforce", "rules": [{"host": "allowed.test"}]},
    "routine-x": {"mode": "report", "rules": []}}}


class EgressOps(unittest.TestCase):
    """agentd and osmoda-egress (no listener: the operator API and the tools need no network)."""
    acl = ACL

    def setUp(self):
        self.agentd = Agentd().start()
        self.acl_path = os.path.join(self.agentd.tmp, "acl.json")
        with open(self.acl_path, "w") as f:
            json.dump(self.acl, f)
        self.egress = self.make_egress()
        self.egress.start()

    def make_egress(self):
        return Egress(self.agentd, ["--acl-file", self.acl_path, "--listen", "none"])

    def tearDown(self):
        self.egress.stop()
        errs = self.egress.sanitizer_errors()
        alive = self.agentd.alive()
        self.agentd.cleanup()
        self.assertEqual(errs, "")
        self.assertTrue(alive, "agentd died during the test")

    @property
    def grants_path(self):
        return os.path.join(self.egress.data_dir, "grants.json")

    def op(self, method, path, body=None, **kw):
        return self.egress.request(method, path, body, **kw)

    def grants(self, principal="agent"):
        st, acl = self.op("GET", "/acl?principal=" + principal)
        self.assertEqual(st, 200, acl)
        rules = acl["principals"][principal]["rules"] if "principals" in acl else acl["rules"]
        return [r for r in rules if r.get("grant_id") or r.get("expires_at")]


class OperatorApi(EgressOps):
    def test_health_names_principals_modes_and_the_ledger(self):
        st, h = self.op("GET", "/health")
        self.assertEqual(st, 200, h)
        self.assertEqual(h["status"], "ok")
        self.assertEqual(h["principals"], {"default": "enforce", "agent": "enforce",
                                           "routine-x": "report"})
        self.assertFalse(h["lockdown"])
        self.assertTrue(h["ledger"]["ok"])
        self.assertGreaterEqual(h["config_generation"], 1)

    def test_acl_of_one_principal_or_all(self):
        st, acl = self.op("GET", "/acl")
        self.assertEqual(st, 200, acl)
        self.assertIn("allowed.test", json.dumps(acl))
        st, r = self.op("GET", "/acl?principal=nobody")
        self.assertEqual(st, 404, r)
        self.assertEqual(r["error"], "not_found")

    def test_bad_grants_get_the_right_error_and_change_nothing(self):
        good = {"principal": "agent", "host": "api.example.com", "ports": [443], "ttl_s": 60,
                "reason": "docs"}
        cases = [
            ({"principal": 3}, "principal"), ({"host": ["x"]}, "host"),
            ({"ports": "443"}, "ports"), ({"ports": [0]}, "ports"), ({"ports": [65536]}, "ports"),
            ({"ports": []}, "ports"), ({"ports": ["443"]}, "ports"), ({"ttl_s": "60"}, "ttl_s"),
            ({"ttl_s": 0}, "ttl_s"), ({"ttl_s": -5}, "ttl_s"), ({"ttl_s": 10 ** 9}, "ttl_s"),
            ({"ttl_s": 1.5}, "ttl_s"), ({"host": "*"}, "host"), ({"host": "*.example.com"}, "host"),
            ({"host": "a b.com"}, "host"), ({"host": "x.com:443"}, "host"), ({"host": ""}, "host"),
            ({"host": "user@x.com"}, "host"), ({"principal": "nobody"}, "principal"),
            ({"reason": ""}, "reason"), ({"reason": "r" * 1025}, "reason"),
            ({"extra": 1}, "body"),
        ]
        for change, field in cases:
            body = dict(good, **change)
            st, r = self.op("POST", "/acl/grants", body)
            self.assertEqual(st, 422, (change, r))
            self.assertEqual(r["error"], "invalid_field", (change, r))
            self.assertEqual(r["detail"]["field"], field, (change, r))
        for missing in ("principal", "host", "ttl_s", "reason"):
            st, r = self.op("POST", "/acl/grants", {k: v for k, v in good.items() if k != missing})
            self.assertEqual((st, r["detail"]["field"]), (422, missing), r)
        raw = json.dumps(good).replace("docs", "do\\udc80cs").encode()
        for data, status in ((b'{"principal": "agent", "host": "\xff\xfe.com"}', 400),
                             (b"not json", 400), (b"[]", 422), (raw, 400),
                             (b'{"reason": "' + b"x" * (1024 * 1024 + 10) + b'"}', 413)):
            st, r = self.op("POST", "/acl/grants", raw=data)
            self.assertEqual(st, status, (data[:40], r))
            self.assertIn("error", r)
        self.assertFalse(os.path.exists(self.grants_path))
        self.assertEqual(self.egress.events("egress.grant"), [])
        self.assertEqual(self.grants(), [])
        st, _ = self.op("GET", "/health")
        self.assertEqual(st, 200)  # and the daemon is up

    def test_grant_recorded_then_in_force_then_revoked(self):
        st, g = self.op("POST", "/acl/grants", {"principal": "agent", "host": "API.Example.com.",
                                                "ports": [443, 8443], "ttl_s": 120,
                                                "reason": "docs"})
        self.assertEqual(st, 201, g)
        self.assertEqual((g["host"], g["ports"], g["principal"]),
                         ("api.example.com", [443, 8443], "agent"))
        self.assertAlmostEqual(g["expires_at"] - g["created_at"], 120, delta=1)
        ev = self.egress.events("egress.grant")
        self.assertEqual(len(ev), 1)
        self.assertEqual(ev[0][1]["id"], g["id"])
        self.assertIn("api.example.com", json.dumps(self.grants()))
        with open(self.grants_path) as f:
            self.assertEqual([x["id"] for x in json.load(f)["grants"]], [g["id"]])
        self.assertEqual(os.stat(self.grants_path).st_mode & 0o777, 0o600)
        st, r = self.op("DELETE", "/acl/grants/" + g["id"])
        self.assertEqual(st, 200, r)
        self.assertEqual(self.grants(), [])
        self.assertEqual([e[1]["id"] for e in self.egress.events("egress.revoke")], [g["id"]])
        st, r = self.op("DELETE", "/acl/grants/" + g["id"])
        self.assertEqual(st, 404, r)
        self.assertEqual(len(self.egress.events("egress.revoke")), 1)

    def test_reload_is_recorded_and_a_bad_file_keeps_the_config(self):
        st, r = self.op("POST", "/reload", {})
        self.assertEqual(st, 200, r)
        self.assertEqual(len(self.egress.events("egress.reload")), 1)
        with open(self.acl_path, "w") as f:
            json.dump({"principals": {"agent": {"rules": [{"host": "*"}]}}}, f)
        st, r = self.op("POST", "/reload", {})
        self.assertEqual(st, 422, r)
        st, h = self.op("GET", "/health")
        self.assertIn("routine-x", h["principals"])  # the old configuration is in force

    def test_a_change_that_cannot_be_recorded_is_not_made(self):
        self.agentd.stop()
        try:
            st, r = self.op("POST", "/acl/grants", {"principal": "agent", "host": "x.example",
                                                    "ttl_s": 60, "reason": "r"})
            self.assertEqual((st, r["error"]), (503, "ledger_unavailable"), r)
            self.assertFalse(os.path.exists(self.grants_path))
            st, r = self.op("POST", "/reload", {})
            self.assertEqual(st, 503, r)
            st, r = self.op("POST", "/lockdown", {})  # the safe direction happens anyway
            self.assertEqual((st, r["recorded"]), (200, False), r)
            st, h = self.op("GET", "/health")
            self.assertTrue(h["lockdown"])
            st, r = self.op("POST", "/unlock", {})
            self.assertEqual(st, 503, r)  # but its end is recorded first
            st, h = self.op("GET", "/health")
            self.assertTrue(h["lockdown"])
        finally:
            self.agentd.start()
        st, r = self.op("POST", "/unlock", {})
        self.assertEqual(st, 200, r)
        self.assertEqual(len(self.egress.events("egress.unlock")), 1)

    def test_agent_socket_has_no_operator_routes(self):
        for method, path in (("POST", "/acl/grants"), ("POST", "/lockdown"), ("POST", "/unlock"),
                             ("POST", "/reload")):
            st, r = request(self.egress.agent_sock, method, path, {})
            self.assertIn(st, (403, 404), (path, r))
        self.assertEqual(self.egress.events("egress.grant"), [])


class RequestAccess(EgressOps):
    def hold(self, **args):
        body = dict({"host": "api.example.com", "reason": "read the docs"}, **args)
        st, r = self.egress.call("egress_request_access", body)
        self.assertEqual(st, 202, r)
        self.assertEqual(r["status"], "pending", r)
        return r["approval_id"], r["job_id"]

    def job_wait(self, jid):
        st, r = self.egress.call("job_wait", {"job_id": jid, "daemon": "egress",
                                              "timeout_ms": 30000})
        self.assertEqual(st, 200, r)
        return r["result"]

    def test_held_then_approved_becomes_a_grant_with_its_ttl(self):
        aid, jid = self.hold(ttl_s=600, ports=[443])
        st, pending = self.agentd.request("GET", "/approval/pending")
        mine = [a for a in pending if a["id"] == aid]
        self.assertEqual((mine[0]["daemon"], mine[0]["tool"]), ("egress", "egress_request_access"))
        self.assertEqual(self.grants(), [])  # nothing before a person decides
        st, a = self.agentd.request("POST", "/approval/%s/approve" % aid, {})
        self.assertEqual(st, 200, a)
        wait_for(lambda: self.grants(), "the grant")
        g = self.grants()[0]
        self.assertEqual(g["host"], "api.example.com")
        with open(self.grants_path) as f:
            stored = json.load(f)["grants"][0]
        self.assertEqual(stored["approval_id"], aid)
        self.assertAlmostEqual(stored["expires_at"] - stored["created_at"], 600, delta=1)
        self.job_wait(jid)
        ev = self.egress.events("egress.grant")
        self.assertEqual([e[1]["approval_id"] for e in ev], [aid])

    def test_default_ttl_is_an_hour(self):
        aid, _ = self.hold()
        self.agentd.request("POST", "/approval/%s/approve" % aid, {})
        wait_for(lambda: os.path.exists(self.grants_path), "the grant")
        with open(self.grants_path) as f:
            g = json.load(f)["grants"][0]
        self.assertEqual((g["expires_at"] - g["created_at"], g["principal"]), (3600, "agent"))

    def test_denied_approval_leaves_no_grant(self):
        aid, jid = self.hold()
        st, a = self.agentd.request("POST", "/approval/%s/deny" % aid, {})
        self.assertEqual(st, 200, a)
        self.job_wait(jid)
        self.assertEqual(self.grants(), [])
        self.assertFalse(os.path.exists(self.grants_path))
        self.assertEqual(self.egress.events("egress.grant"), [])

    def test_the_agent_cannot_approve_its_own_request(self):
        aid, _ = self.hold()
        st, r = self.agentd.agent_request("POST", "/approval/%s/approve" % aid, {})
        self.assertEqual(st, 403, r)
        st, r = self.agentd.call_tool("approval_approve", {"approval_id": aid})
        self.assertNotEqual(r.get("status"), "ok", r)
        st, r = request(self.egress.agent_sock, "POST", "/approval/%s/approve" % aid, {})
        self.assertIn(st, (403, 404), r)
        self.assertEqual(self.grants(), [])
        st, pending = self.agentd.request("GET", "/approval/pending")
        self.assertIn(aid, [a["id"] for a in pending])

    def test_what_could_never_be_a_grant_is_refused_without_asking(self):
        for args in ({"host": "*"}, {"host": "*.example.com"}, {"host": "a..b"},
                     {"principal": "nobody"}, {"host": "x.com", "ports": [0]},
                     {"ttl_s": 0}, {"ttl_s": 604801}):
            body = dict({"host": "api.example.com", "reason": "r"}, **args)
            st, r = self.egress.call("egress_request_access", body)
            self.assertNotEqual(r.get("status"), "pending", (args, r))
            self.assertNotEqual(r.get("status"), "ok", (args, r))
        st, pending = self.agentd.request("GET", "/approval/pending")
        self.assertEqual([a for a in pending if a["daemon"] == "egress"], [])
        self.assertFalse(os.path.exists(self.grants_path))

    def test_read_tools(self):
        st, r = self.egress.call("egress_acl_list", {"principal": "agent"})
        self.assertEqual((st, r["status"]), (200, "ok"), r)
        self.assertIn("allowed.test", json.dumps(r["result"]))
        st, r = self.egress.call("egress_denials", {"limit": 5})
        self.assertEqual((st, r["status"], r["result"]), (200, "ok", []), r)


NET_ACL = {"max_connections": 16, "principals": {
    "default": {"mode": "enforce", "rules": [{"host": "allowed.test", "ports": [443, 7000]}]},
    "agent": {"mode": "enforce", "rules": [{"host": "allowed.test"}]},
    "routine-x": {"mode": "report", "rules": []}}}


def connect_through(sock, target):
    """Sends CONNECT target on sock and returns the status of the answer (the socket stays
    open, positioned after the head)."""
    sock.sendall(b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target.encode(), target.encode()))
    head = b""
    while b"\r\n\r\n" not in head:
        b = sock.recv(1)
        if not b:
            break
        head += b
    return int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.") else 0, head


@unittest.skipIf(egress_net.available(), "egress network namespace: %s" % egress_net.available())
class NetOps(unittest.TestCase):
    """The decisions of a real osmoda-egress in a network namespace with a local upstream."""

    def setUp(self):
        self.net = egress_net.EgressNet().start()
        self.agentd = Agentd().start()
        self.egress = self.net.egress(self.agentd, acl=NET_ACL).start()

    def tearDown(self):
        self.egress.stop()
        errs = self.egress.sanitizer_errors()
        self.agentd.cleanup()
        self.net.stop()
        self.assertEqual(errs, "")

    def tunnel(self, target, principal=None):
        s = self.egress.connect_principal(principal) if principal else self.egress.connect()
        try:
            status, head = connect_through(s, target)
            if status == 200:  # one round trip through the tunnel, so bytes are counted
                s.sendall(b"ping\n")
                s.recv(64)
            else:  # the proxy's own answer: its reason in a short body, then close
                while True:
                    b = s.recv(4096)
                    if not b:
                        break
                    head += b
            return status, head
        finally:
            s.close()

    def test_decisions_reach_the_ledger_with_their_fields(self):
        self.assertEqual(self.tunnel("allowed.test:8080")[0], 403)  # not its port
        self.assertEqual(self.tunnel("denied.test:443")[0], 403)
        self.assertEqual(self.tunnel("report.test:7000", "routine-x")[0], 200)  # would_deny
        status, _ = self.tunnel("allowed.test:7000")
        self.assertEqual(status, 200)
        evs = wait_for(lambda: len(self.egress.decisions()) >= 4 and self.egress.decisions(),
                       "four decisions in the ledger")
        by = {(p["host"], p["decision"]): (t, p) for t, p in evs}
        t, allow = by[("allowed.test", "allow")]
        self.assertEqual(t, "egress.allow")
        self.assertEqual((allow["principal"], allow["port"], allow["address"], allow["method"],
                          allow["mode"], allow["rule"]),
                         ("default", 7000, egress_net.ADDR_A, "CONNECT", "enforce", "allowed.test"))
        self.assertGreaterEqual(allow["bytes_up"], 5)
        self.assertGreaterEqual(allow["bytes_down"], 5)
        self.assertIsInstance(allow["duration_ms"], int)
        t, deny = by[("denied.test", "deny")]
        self.assertEqual((t, deny["principal"], deny["port"], deny["mode"]),
                         ("egress.deny", "default", 443, "enforce"))
        self.assertTrue(deny["reason"])
        t, would = by[("report.test", "would_deny")]
        self.assertEqual((t, would["principal"], would["mode"]), ("egress.deny", "routine-x", "report"))
        self.assertGreaterEqual(would["bytes_up"], 5)
        self.assertEqual(by[("allowed.test", "deny")][1]["port"], 8080)
        # the same denials, newest first, for the operator and the agent
        st, d = self.egress.request("GET", "/denials?principal=default")
        self.assertEqual(st, 200, d)
        self.assertEqual([x["host"] for x in d], ["denied.test", "allowed.test"])
        st, r = self.egress.call("egress_denials", {"principal": "routine-x"})
        self.assertEqual([(x["host"], x["decision"]) for x in r["result"]][0],
                         ("report.test", "would_deny"))
        self.assertEqual({e[0] for e in self.egress.events("egress.")} - {"egress.allow",
                         "egress.deny"}, set())  # no other kinds: nothing happened but these

    def test_an_approved_request_opens_the_host_for_the_agent(self):
        self.assertEqual(self.tunnel("other.test:443", "agent")[0], 403)
        st, r = self.egress.call("egress_request_access", {"host": "other.test", "ttl_s": 300,
                                                           "reason": "fetch a package"})
        self.assertEqual(r["status"], "pending", r)
        self.assertEqual(self.tunnel("other.test:443", "agent")[0], 403)  # held: still closed
        st, a = self.agentd.request("POST", "/approval/%s/approve" % r["approval_id"], {})
        self.assertEqual(st, 200, a)
        wait_for(lambda: self.tunnel("other.test:443", "agent")[0] == 200, "the granted host")
        self.assertEqual(self.tunnel("other.test:443")[0], 403)  # only for its principal
        self.assertTrue(wait_for(lambda: [p for t, p in self.egress.decisions()
                                          if t == "egress.allow" and p["host"] == "other.test"],
                                 "the allow event"))
        allows = [p for t, p in self.egress.decisions()
                  if t == "egress.allow" and p["host"] == "other.test"]
        self.assertTrue(allows[0]["rule"].startswith("grant:"), allows[0])

    def test_fails_closed_while_agentd_is_away_and_recovers(self):
        self.agentd.stop()
        refused, n = None, 0
        while refused is None and n < 1500:  # capacity: 16 connections + 1024 denials
            status, head = self.tunnel("allowed.test:443")
            n += 1
            if status != 200:
                refused = (status, head)
        self.assertIsNotNone(refused, "never refused after %d tunnels with agentd away" % n)
        self.assertEqual(refused[0], 503, refused)
        self.assertIn(b"ledger", refused[1].lower())
        self.assertGreater(n, 16)  # the queue held what it could first
        st, h = self.egress.request("GET", "/health")
        self.assertFalse(h["ledger"]["ok"], h)
        self.agentd.start()
        wait_for(lambda: self.tunnel("allowed.test:443")[0] == 200, "admission once agentd is back",
                 timeout=60)
        # nothing was lost: every admitted tunnel's event reached the ledger (n - 1 while
        # agentd was away, one after), and the flusher retried with backoff, not per event
        wait_for(lambda: self.allow_count() >= n, "the queued events", timeout=60)
        self.assertEqual(self.allow_count(), n)
        st, stats = self.egress.request("GET", "/stats")
        self.assertLess(stats["ledger"]["failed_batches"], 100, stats)

    def allow_count(self):
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.agentd.state_dir, "ledger.db"),
                             uri=True, timeout=5)
        try:
            return db.execute("SELECT count(*) FROM events WHERE type = 'egress.allow' "
                              "AND actor = 'egress'").fetchone()[0]
        finally:
            db.close()
