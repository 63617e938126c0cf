"""osmoda-egress's operator side: agentd's batch append (the door egress's events go through),
the operator API on egress.sock, the tools on egress-agent.sock with their approvals, decisions
reaching the ledger, and failing closed while agentd is away."""
import json
import os
import unittest

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
