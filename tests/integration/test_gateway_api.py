"""osmoda-gateway's /health, /api/v1 and /metrics against a real agentd (and a real osmoda-watch
where switches and services are asked): the ledger with its hashes and the same verification as
agentctl, approvals decided for the dashboard user, Idempotency-Key, rate limits, CEF lines on a
syslog socket, and the OpenAPI document linted with the pinned @redocly/cli."""
import hashlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import unittest

from osmtest import ROOT, Agentd, Gateway, Watch, run_ctl, wait_for

NODE_DIR = os.path.join(ROOT, "tests", "node")
REDOCLY = os.path.join(NODE_DIR, "node_modules", ".bin", "redocly")
MINT_ARGS = {"granted_to": "helper", "permissions": ["system_health"]}


def event_hash(e):
    text = "%d|%s|%s|%s|%s|%s" % (e["id"], e["ts"], e["type"], e["actor"], e["payload"],
                                  e["prev_hash"])
    return hashlib.sha256(text.encode()).hexdigest()


class ApiBase(unittest.TestCase):
    """One agentd and one gateway beside it per test."""
    gateway_args = ()
    agentd_args = ()

    def setUp(self):
        self.agentd = Agentd(args=self.agentd_args).start()
        self.gw = Gateway(self.agentd, self.gateway_args).start()

    def tearDown(self):
        alive = self.gw.alive() and self.agentd.alive()
        self.gw.stop()
        self.agentd.stop()
        reports = (self.gw.sanitizer_errors(), self.agentd.sanitizer_errors())
        self.agentd.cleanup()
        self.assertTrue(alive, "a daemon died during the test")
        self.assertEqual(reports, ("", ""))

    def get(self, path, **kw):
        st, h, b = self.gw.http("GET", path, **kw)
        return st, b

    def append(self, type_, actor, payload):
        st, r = self.agentd.request("POST", "/events/append",
                                    {"type": type_, "actor": actor, "payload": payload})
        self.assertEqual(st, 201, r)
        return r["id"]

    def login(self, user):
        st, h, b = self.gw.http("POST", "/auth/login", {"token": self.gw.token, "user": user},
                                auth=False)
        self.assertEqual(st, 200, b)
        return {"Cookie": h["set-cookie"].split(";")[0], "X-CSRF-Token": b["csrf"]}

    def held_call(self):
        st, r = self.agentd.call_tool("capability_mint", MINT_ARGS)
        self.assertEqual((st, r["status"]), (202, "pending"), r)
        return r["approval_id"]

    def ledger_types(self, type_):
        st, b = self.get("/api/v1/events?limit=500&type=" + type_)
        self.assertEqual(st, 200, b)
        return b["events"]


class GatewayApi(ApiBase):

    # ---- health and status ------------------------------------------------------------------

    def test_public_health_has_osmodas_shape_and_names_missing_parts(self):
        st, h, b = self.gw.http("GET", "/health", auth=False)
        self.assertEqual(st, 200, b)
        for key in ("status", "runtime", "drivers", "agents", "credentials_count", "uptime",
                    "sessions"):
            self.assertIn(key, b)
        self.assertEqual((b["status"], b["runtime"]), ("ok", "modular"))
        # the parts that are not running are named, so that 0 and [] are not read as "none"
        for part, empty in (("chat", b["sessions"] == 0), ("drivers", b["drivers"] == []),
                            ("credentials", b["credentials_count"] == 0),
                            ("agents", b["agents"] == [])):
            self.assertTrue(part not in b["unavailable"] or empty, part)
        st2, _, b2 = self.gw.http("GET", "/api/health", auth=False)
        self.assertEqual((st2, b2["runtime"]), (200, "modular"))
        self.assertTrue(h["x-request-id"])

    def test_status_and_daemons_health_see_agentd_up_and_the_others_down(self):
        st, b = self.get("/api/v1/status")
        self.assertEqual(st, 200, b)
        up = {d["name"]: d["up"] for d in b["daemons"]}
        self.assertEqual(up, {"agentd": True, "watch": False, "egress": False, "keyd": False})
        self.assertTrue(b["ledger"]["readable"])
        self.assertGreaterEqual(b["ledger"]["events"], 1)
        st, b = self.get("/api/v1/health")
        self.assertEqual((st, b["ok"]), (200, False))
        agentd = [d for d in b["daemons"] if d["name"] == "agentd"][0]
        self.assertEqual(agentd["health"]["status"], "ok")
        st, b = self.get("/api/v1/status", auth=False)
        self.assertEqual((st, b["code"]), (401, "unauthorized"))

    def test_a_daemon_that_does_not_run_is_503_naming_it(self):
        for path, daemon in (("/api/v1/switches", "watch"), ("/api/v1/services", "watch"),
                             ("/api/v1/egress/denials", "egress"), ("/api/v1/wallets", "keyd")):
            st, b = self.get(path)
            self.assertEqual((st, b["code"], b["detail"]["daemon"]),
                             (503, "service_unavailable", daemon), path)

    # ---- the ledger -------------------------------------------------------------------------

    def test_events_carry_their_hashes_and_page_backwards(self):
        ids = [self.append("note.test", "tester", {"n": i}) for i in range(5)]
        st, b = self.get("/api/v1/events?type=note.test&limit=3")
        self.assertEqual(st, 200, b)
        page = b["events"]
        self.assertEqual([e["id"] for e in page], ids[:1:-1])
        for e in page:
            self.assertEqual(event_hash(e), e["hash"])
        st, b2 = self.get("/api/v1/events?type=note.test&limit=3&before=%d" % b["next_before"])
        self.assertEqual([e["id"] for e in b2["events"]], ids[1::-1])
        self.assertIsNone(b2["next_before"])
        # the chain links: each event's prev_hash is the hash of the one before it
        st, b3 = self.get("/api/v1/events?limit=500")
        by_id = {e["id"]: e for e in b3["events"]}
        for e in b3["events"]:
            if e["id"] - 1 in by_id:
                self.assertEqual(e["prev_hash"], by_id[e["id"] - 1]["hash"])
        st, b4 = self.get("/api/v1/events?actor=tester&limit=500")
        self.assertEqual(sorted(e["id"] for e in b4["events"]), ids)

    def test_bad_event_queries_are_400_with_the_envelope(self):
        for q in ("limit=0", "limit=501", "limit=abc", "before=-1", "type=Bad%20Type",
                  "actor=" + "a" * 200):
            st, h, b = self.gw.http("GET", "/api/v1/events?" + q)
            self.assertEqual((st, b["code"]), (400, "validation_failed"), q)
            self.assertEqual(b["request_id"], h["x-request-id"])
        st, b = self.get("/api/v1/events/abc/proof")
        self.assertEqual((st, b["code"]), (400, "validation_failed"))

    def test_verify_agrees_with_agentctl_and_sees_a_rewritten_event(self):
        target = self.append("note.test", "tester", {"keep": "me"})
        self.append("note.test", "tester", {"after": 1})
        st, b = self.get("/api/v1/events/verify")
        self.assertEqual((st, b["ok"], b["errors"]), (200, True, 0), b)
        out = run_ctl("--json", "verify-ledger", state_dir=self.agentd.state_dir)
        ctl = json.loads(out.stdout)
        for key in ("ok", "events", "errors", "checkpoints", "latest_tree_size"):
            self.assertEqual(b[key], ctl[key], key)
        db = sqlite3.connect(os.path.join(self.agentd.state_dir, "ledger.db"), timeout=10)
        with db:
            db.execute("UPDATE events SET payload = ? WHERE id = ?", ('{"keep":"you"}', target))
        db.close()
        st, b = self.get("/api/v1/events/verify")
        self.assertEqual((st, b["ok"]), (200, False))
        self.assertIn(("hash_mismatch", target), [(p["kind"], p["id"]) for p in b["problems"]])
        out = run_ctl("--json", "verify-ledger", state_dir=self.agentd.state_dir)
        self.assertEqual(json.loads(out.stdout)["errors"], b["errors"])


    # ---- approvals --------------------------------------------------------------------------

    def test_dashboard_user_approves_a_held_call_and_the_decision_names_her(self):
        aid = self.held_call()
        st, b = self.get("/api/v1/approvals")
        self.assertEqual(st, 200, b)
        self.assertEqual([a["id"] for a in b["approvals"]], [aid])
        hdrs = self.login("alice")
        # a cookie session's change without its CSRF token is refused and changes nothing
        st, _, b = self.gw.http("POST", "/api/v1/approvals/%s/approve" % aid, {}, auth=False,
                                headers={"Cookie": hdrs["Cookie"]})
        self.assertEqual(st, 403, b)
        st, _, b = self.gw.http("POST", "/api/v1/approvals/%s/approve" % aid, {}, auth=False,
                                headers=hdrs)
        self.assertEqual(st, 200, b)
        self.assertEqual((b["approval"]["status"], b["decided_for"]), ("approved", "alice"))
        ev = wait_for_event(self.agentd, "approval.approved")
        payload = json.loads(ev["payload"])
        self.assertEqual((payload["id"], payload["on_behalf_of"]), (aid, "alice"))
        self.assertEqual(payload["decided_by"], "uid:%d" % os.getuid())  # the kernel's word
        # and the held call really ran
        wait_for(lambda: self.ledger_types("capability.mint"), "the approved call to run")
        st, b = self.get("/api/v1/approvals")
        self.assertEqual(b["approvals"], [])

    def test_deny_with_a_reason_and_bad_decision_bodies(self):
        aid = self.held_call()
        for body, code in (({"mode": "sometimes"}, 422), ({"ttl_s": 5}, 422),
                           ({"mode": "always", "ttl_s": 0}, 422), ({"extra": 1}, 400)):
            st, _, b = self.gw.http("POST", "/api/v1/approvals/%s/approve" % aid, body)
            self.assertEqual(st, code, (body, b))
        st, _, b = self.gw.http("POST", "/api/v1/approvals/%s/approve" % aid, raw=b"[1]")
        self.assertEqual((st, b["code"]), (400, "validation_failed"))
        st, _, b = self.gw.http("POST", "/api/v1/approvals/bad..id/approve", {})
        self.assertEqual(st, 400, b)
        self.assertEqual(self.ledger_types("approval.approved"), [])  # nothing was decided
        st, _, b = self.gw.http("POST", "/api/v1/approvals/%s/deny" % aid,
                                {"reason": "not today"})
        self.assertEqual((st, b["approval"]["status"], b["decided_for"]),
                         (200, "denied", "operator"), b)
        payload = json.loads(wait_for_event(self.agentd, "approval.denied")["payload"])
        self.assertEqual((payload["reason"], payload["on_behalf_of"]), ("not today", "operator"))
        st, _, b = self.gw.http("POST", "/api/v1/approvals/%s/deny" % aid, {})
        self.assertEqual((st, b["code"], b["detail"]["daemon"]), (409, "not_pending", "agentd"))

    # ---- conventions ------------------------------------------------------------------------

    def test_idempotency_key_replays_refuses_another_body_and_keeps_no_failure(self):
        aid = self.held_call()
        path = "/api/v1/approvals/%s/deny" % aid
        key = {"Idempotency-Key": "deny-" + aid[:8] + "-0123456789"}
        st, h, first = self.gw.http("POST", path, {"reason": "no"}, headers=key)
        self.assertEqual(st, 200, first)
        self.assertNotIn("idempotent-replayed", h)
        st, h, again = self.gw.http("POST", path, {"reason": "no"}, headers=key)
        self.assertEqual((st, h.get("idempotent-replayed")), (200, "true"))
        self.assertEqual(again, first)
        self.assertEqual(len(self.ledger_types("approval.denied")), 1)  # decided once
        st, _, b = self.gw.http("POST", path, {"reason": "other"}, headers=key)
        self.assertEqual((st, b["code"]), (409, "idempotency_key_reused"))
        # a failure is not kept: the same key on a call that fails fails again, afresh
        missing = {"Idempotency-Key": "missing-approval-0001"}
        for _ in range(2):
            st, h, b = self.gw.http("POST", "/api/v1/approvals/nosuchid/deny", {},
                                    headers=missing)
            self.assertEqual(st, 404, b)
            self.assertNotIn("idempotent-replayed", h)
        for bad in ("short", "x" * 129, "has space in it!!"):
            st, _, b = self.gw.http("POST", path, {}, headers={"Idempotency-Key": bad})
            self.assertEqual((st, b["code"]), (400, "invalid_idempotency_key"), bad)

    def test_unknown_api_path_and_method(self):
        st, b = self.get("/api/v1/nothing")
        self.assertEqual((st, b["code"]), (404, "not_found"))
        st, _, b = self.gw.http("DELETE", "/api/v1/events")
        self.assertEqual((st, b["code"]), (405, "method_not_allowed"))

    # ---- metrics ----------------------------------------------------------------------------

    def test_metrics_count_decisions_switch_outcomes_and_daemons(self):
        st, r = self.agentd.call_tool("system_health", {})
        self.assertEqual(st, 200, r)
        self.held_call()
        self.append("switch.committed", "watch", {"id": "s1"})
        self.append("switch.rolled_back", "watch", {"id": "s2"})
        self.append("switch.rolled_back", "watch", {"id": "s3"})
        st, h, text = self.gw.http("GET", "/metrics")
        self.assertEqual(st, 200)
        self.assertTrue(h["content-type"].startswith("text/plain; version=0.0.4"))
        m = parse_metrics(text.decode())
        self.assertEqual(m['osmoda_daemon_up{daemon="agentd"}'], 1)
        self.assertEqual(m['osmoda_daemon_up{daemon="watch"}'], 0)
        self.assertGreaterEqual(m['osmoda_tool_calls_total{decision="allow"}'], 1)
        self.assertEqual(m['osmoda_tool_calls_total{decision="approve"}'], 1)
        self.assertEqual(m['osmoda_switch_total{outcome="committed"}'], 1)
        self.assertEqual(m['osmoda_switch_total{outcome="rolled_back"}'], 2)
        st, b = self.get("/api/v1/events?limit=1")
        self.assertEqual(m["osmoda_ledger_last_event_id"], b["events"][0]["id"])
        self.assertEqual(m["osmoda_ledger_last_checkpoint_seconds"], 0)
        # counted incrementally: a new one shows up once, the old ones are not counted again
        self.append("switch.rollback_failed", "watch", {"id": "s4"})
        m2 = parse_metrics(self.gw.http("GET", "/metrics")[2].decode())
        self.assertEqual(m2['osmoda_switch_total{outcome="rolled_back"}'], 2)
        self.assertEqual(m2['osmoda_switch_total{outcome="rollback_failed"}'], 1)
        self.assertGreaterEqual(m2['osmoda_gateway_requests_total{code="2xx"}'], 2)
        st, _, b = self.gw.http("GET", "/metrics", auth=False)
        self.assertEqual(st, 401)


def wait_for_event(agentd, type_):
    found = []

    def pred():
        st, rows = agentd.request("GET", "/events/log?limit=50&type=" + type_)
        found[:] = rows if st == 200 else []
        return bool(found)
    wait_for(pred, "a %s event" % type_)
    return found[0]


def parse_metrics(text):
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


class GatewayProofs(ApiBase):
    """agentd signs a checkpoint after every event here, so that proofs exist at once."""
    agentd_args = ("--checkpoint-every", "1")

    def test_proof_of_an_event_in_a_signed_checkpoint(self):
        eid = self.append("note.test", "tester", {"x": 1})
        got = []

        def proved():
            st, b = self.get("/api/v1/events/%d/proof" % eid)
            got[:] = [st, b]
            return st == 200
        wait_for(proved, "a checkpoint covering event %d" % eid)
        b = got[1]
        self.assertEqual(b["proof"]["id"], eid)
        self.assertGreaterEqual(b["proof"]["tree_size"], eid)
        self.assertEqual(b["proof"]["leaf_index"], eid - 1)
        self.assertIn("osmoda-ledger", b["checkpoint"]["note"])
        # agentctl prove checks the same path against the signed root
        out = run_ctl("prove", str(eid), sock=self.agentd.sock, state_dir=self.agentd.state_dir)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        st, b = self.get("/api/v1/events/999999/proof")
        self.assertEqual((st, b["detail"]["daemon"]), (404, "agentd"), b)
        m = parse_metrics(self.gw.http("GET", "/metrics")[2].decode())
        self.assertGreater(m["osmoda_ledger_last_checkpoint_seconds"], 1.7e9)


class GatewayApiLimits(ApiBase):
    gateway_args = ("--api-read-per-min", "4", "--api-write-per-min", "2")

    def test_reads_are_limited_per_token_then_per_address(self):
        for _ in range(4):
            st, b = self.get("/api/v1/status")
            self.assertEqual(st, 200, b)
        st, h, b = self.gw.http("GET", "/api/v1/status")
        self.assertEqual((st, b["code"]), (429, "rate_limited"))
        self.assertGreaterEqual(int(h["retry-after"]), 1)
        # another credential from the same address is still held back by the address's bucket
        hdrs = self.login("bob")
        st, _, b = self.gw.http("GET", "/api/v1/status", auth=False,
                                headers={"Cookie": hdrs["Cookie"]})
        self.assertEqual((st, b["code"]), (429, "rate_limited"))

    def test_changes_have_their_own_smaller_budget(self):
        for i in range(2):
            st, _, b = self.gw.http("POST", "/api/v1/approvals/none%d/deny" % i, {})
            self.assertEqual(st, 404, b)
        st, h, b = self.gw.http("POST", "/api/v1/approvals/none9/deny", {})
        self.assertEqual((st, b["code"]), (429, "rate_limited"))
        self.assertIn("retry-after", h)
        st, b = self.get("/api/v1/status")  # reads are not spent by changes
        self.assertEqual(st, 200, b)


class GatewayWatch(unittest.TestCase):
    """Switches and services come from a real osmoda-watch."""

    def setUp(self):
        self.agentd = Agentd().start()
        self.watch = Watch(self.agentd).start()
        self.gw = Gateway(self.agentd).start()

    def tearDown(self):
        alive = self.gw.alive() and self.watch.alive()
        self.gw.stop()
        self.watch.stop()
        self.agentd.stop()
        reports = (self.gw.sanitizer_errors(), self.watch.sanitizer_errors())
        self.agentd.cleanup()
        self.assertTrue(alive)
        self.assertEqual(reports, ("", ""))

    def test_switches_and_services_from_watch(self):
        st, _, b = self.gw.http("GET", "/api/v1/services")
        self.assertEqual(st, 200, b)
        self.assertEqual(b["services"], self.watch.request("GET", "/app/list")[1])
        self.assertEqual(b["watchers"], self.watch.request("GET", "/watcher/list")[1])
        st, _, b = self.gw.http("GET", "/api/v1/services?unit=bad%20unit")
        self.assertEqual((st, b["code"]), (400, "validation_failed"))
        st, _, b = self.gw.http("GET", "/api/v1/switches?limit=5")
        self.assertEqual((st, b["switches"]), (200, []))
        st, _, b = self.gw.http("GET", "/api/v1/switches?limit=0")
        self.assertEqual((st, b["code"]), (400, "validation_failed"))
        st, _, b = self.gw.http("GET", "/api/v1/status")
        self.assertIn({"name": "watch", "up": True}, b["daemons"])

    def test_emergency_lockdown_reaches_watch_and_unlock_is_not_offered(self):
        st, _, b = self.gw.http("POST", "/api/v1/emergency/lockdown", {"reason": "drill"})
        self.assertEqual(st, 200, b)
        self.assertTrue(b["lockdown"], b)
        st, status = self.watch.request("GET", "/emergency/status")
        self.assertTrue(status["lockdown"], status)
        [ev] = [p for t, p in self.watch.events("emergency.lockdown")]
        self.assertIn("drill (dashboard: operator)", json.dumps(ev))
        for bad, want in (("unlock", 404), ("reboot", 404)):
            st, _, b = self.gw.http("POST", "/api/v1/emergency/" + bad, {})
            self.assertEqual(st, want, b)
        st, _, b = self.gw.http("POST", "/api/v1/emergency/stop", {"reason": 5})
        self.assertEqual(st, 400, b)
        self.assertEqual(self.watch.request("POST", "/emergency/unlock", {})[0], 200)


class GatewayCef(unittest.TestCase):
    """--syslog-cef: ledger events arrive as CEF lines on a syslog datagram socket."""

    def setUp(self):
        self.agentd = Agentd().start()
        self.sock_path = os.path.join(self.agentd.tmp, "syslog.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.sock_path)
        self.sock.settimeout(20)
        self.gw = Gateway(self.agentd, ["--syslog-cef", "--syslog-socket",
                                        self.sock_path]).start()

    def tearDown(self):
        alive = self.gw.alive()
        self.gw.stop()
        self.agentd.stop()
        self.sock.close()
        report = self.gw.sanitizer_errors()
        self.agentd.cleanup()
        self.assertTrue(alive)
        self.assertEqual(report, "")

    def test_new_events_arrive_as_cef_lines(self):
        st, r = self.agentd.request("POST", "/events/append", {
            "type": "note.test", "actor": "tester", "payload": {"text": "a=b|c\nd"}})
        self.assertEqual(st, 201, r)
        line = self.recv_until("externalId=%d " % r["id"])
        self.assertRegex(line, r"^<\d+>\w{3} [ \d]\d \d\d:\d\d:\d\d osmoda-gateway\[\d+\]: ")
        cef = line.split(": ", 1)[1]
        self.assertTrue(cef.startswith("CEF:0|osModa|osmoda-gateway|"), cef)
        self.assertIn("|note.test|note.test|", cef)
        self.assertIn("suser=tester", cef)
        self.assertIn("cs1=" + r["hash"], cef)
        # extension values escaped: = and the backslash of the JSON text's \n
        self.assertIn(r'msg={"text":"a\=b|c\\nd"}', cef)
        # a denied approval is more severe than a note
        aid = self.agentd.call_tool("capability_mint", MINT_ARGS)[1]["approval_id"]
        self.agentd.request("POST", "/approval/%s/deny" % aid, {})
        line = self.recv_until("|approval.denied|")
        self.assertIn("|approval.denied|approval.denied|6|", line)

    def recv_until(self, needle):
        while True:
            data = self.sock.recv(65536).decode()
            if needle in data:
                return data


@unittest.skipUnless(os.path.exists(REDOCLY), "tests/node has no @redocly/cli: run "
                     "scripts/node-deps.sh")
class OpenApi(unittest.TestCase):
    def setUp(self):
        self.agentd = Agentd().start()
        self.gw = Gateway(self.agentd).start()
        self.tmp = tempfile.mkdtemp(prefix="osmoda-openapi-")

    def tearDown(self):
        self.gw.stop()
        self.agentd.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def lint(self, doc):
        path = os.path.join(self.tmp, "openapi.json")
        with open(path, "w") as f:
            json.dump(doc, f)
        env = dict(os.environ, REDOCLY_TELEMETRY="off", REDOCLY_SUPPRESS_UPDATE_NOTICE="true")
        return subprocess.run([REDOCLY, "lint", path, "--format", "stylish", "--config",
                               os.path.join(ROOT, "tests", "integration", "redocly.yaml")],
                              capture_output=True, text=True, env=env, timeout=300)

    def test_served_document_lints_clean_and_a_broken_one_does_not(self):
        st, _, doc = self.gw.http("GET", "/api/v1/openapi.json", auth=False)
        self.assertEqual(st, 200)
        self.assertEqual(doc["openapi"], "3.1.0")
        with open(os.path.join(ROOT, "daemons", "gateway", "openapi.json")) as f:
            self.assertEqual(doc, json.load(f))  # the file in the tree is what is served
        out = self.lint(doc)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("valid", out.stdout + out.stderr)
        self.assertNotRegex(out.stdout + out.stderr, r"\d+ warnings?\b|\[\d+\] .*warning")
        broken = json.loads(json.dumps(doc))
        del broken["paths"]["/api/v1/status"]["get"]["summary"]
        broken["paths"]["/api/v1/events/{id}/proof"]["get"]["parameters"] = []
        out = self.lint(broken)
        self.assertNotEqual(out.returncode, 0, out.stdout)

    def test_every_documented_path_is_routed(self):
        st, _, doc = self.gw.http("GET", "/api/v1/openapi.json", auth=False)
        config_routed = self.gw.http("GET", "/config/health")[0] != 404
        for path, ops in doc["paths"].items():
            if path.startswith("/config") and not config_routed:
                continue  # the /config part is not in this build (tested where it is)
            concrete = path.replace("{id}", "1")
            for method in ops:
                st, _, b = self.gw.http(method.upper(), concrete, body={} if method in (
                    "post", "put", "patch") else None)
                self.assertFalse(st in (404, 405) and isinstance(b, dict) and
                                 b.get("code") in ("not_found", "method_not_allowed") and
                                 b.get("message", "").startswith(("no such endpoint",
                                                                  method.upper())),
                                 (method, path, st, b))


if __name__ == "__main__":
    unittest.main()
