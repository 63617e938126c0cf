"""agentd's endpoint groups against a real agentd: memory, system, agent card, receipts,
incidents. Shapes and key order follow osmoda-reference §1.1; every bad input must leave the
ledger unchanged and the daemon up. Backups are in test_agentd_backup.py."""
import json
import socket
import os
import unittest

from osmtest import AgentdTestCase

ENVELOPE = ["error", "message", "detail"]


class EndpointCase(AgentdTestCase):
    """Helpers for the endpoint tests."""

    def events(self, etype=None):
        path = "/events/log?limit=1000" + ("&type=" + etype if etype else "")
        status, body = self.req("GET", path)
        self.assertEqual(status, 200, body)
        return body

    def count(self):
        return len(self.events())

    def assert_error(self, method, path, status, body=None, raw=None, headers=None):
        """The request fails with status and the envelope, and writes nothing."""
        before = self.count()
        got, resp = self.req(method, path, body, raw=raw, headers=headers)
        self.assertEqual(got, status, resp)
        self.assertEqual(list(resp.keys()), ENVELOPE, resp)
        self.assertEqual(self.count(), before, "a refused request wrote to the ledger")
        self.assertTrue(self.agentd.alive())
        return resp

    def assert_bad_bodies(self, path, good):
        """Malformed JSON, wrong types, missing fields, odd numbers and bytes are refused."""
        self.assert_error("POST", path, 400, raw=b"{not json")
        self.assert_error("POST", path, 400, raw=b'{"a": "\xff\xfe"}')
        self.assert_error("POST", path, 400, raw=b'{"a": 1e400}')
        self.assert_error("POST", path, 400, raw=b'{"a": 99999999999999999999}')
        self.assert_error("POST", path, 415, raw=json.dumps(good).encode(),
                          headers={"Content-Type": "text/plain"})
        self.assert_error("POST", path, 422, raw=b"[1, 2]")
        for key in good:
            wrong = dict(good, **{key: [1]})
            resp = self.assert_error("POST", path, 422, wrong)
            self.assertEqual(resp["detail"], {"field": key})


class MemoryTest(EndpointCase):
    def test_ingest_shape_and_event(self):
        status, body = self.req("POST", "/memory/ingest", {
            "source": "osmoda-keyd", "content": "wallet created", "category": "wallet.create",
            "tags": ["wallet"]})
        self.assertEqual(status, 200, body)
        self.assertEqual(list(body.keys()), ["id", "status"])
        self.assertEqual(body["status"], "stored")
        self.assertIsInstance(body["id"], int)
        ev = self.events("memory.ingest")[0]
        self.assertEqual(ev["id"], body["id"])
        self.assertEqual(ev["actor"], "osmoda-keyd")
        self.assertEqual(ev["payload"], '{"category":"wallet.create","content":"wallet created",'
                                        '"metadata":null,"source":"osmoda-keyd","tags":["wallet"]}')

    def test_ingest_without_source_is_unknown_actor(self):
        status, body = self.req("POST", "/memory/ingest", {"content": "x", "metadata": {"k": 1}})
        self.assertEqual(status, 200, body)
        ev = self.events("memory.ingest")[0]
        self.assertEqual(ev["actor"], "unknown")
        self.assertEqual(json.loads(ev["payload"])["metadata"], {"k": 1})

    def test_ingest_bad_input(self):
        self.assert_bad_bodies("/memory/ingest", {"content": "x", "source": "a", "category": "c"})
        resp = self.assert_error("POST", "/memory/ingest", 422, {"source": "a"})
        self.assertEqual(resp["detail"], {"field": "content"})
        self.assert_error("POST", "/memory/ingest", 422, {"content": "x", "source": "Bad Actor|"})
        self.assert_error("POST", "/memory/ingest", 422, {"content": "x", "tags": ["a", 1]})
        self.assert_error("POST", "/memory/ingest", 422, {"content": "x", "source": "a" * 200})

    def test_store_shape_and_event(self):
        status, body = self.req("POST", "/memory/store", {"summary": "hello"})
        self.assertEqual(status, 200, body)
        self.assertEqual(list(body.keys()), ["id"])
        ev = self.events("memory.store")[0]
        self.assertEqual(ev["id"], body["id"])
        self.assertEqual(ev["actor"], "agentd")
        self.assertEqual(ev["payload"],
                         '{"category":null,"detail":null,"summary":"hello","tags":null}')

    def test_store_bad_input(self):
        self.assert_bad_bodies("/memory/store", {"summary": "s", "detail": "d"})
        self.assert_error("POST", "/memory/store", 422, {"detail": "no summary"})

    def test_health(self):
        status, body = self.req("GET", "/memory/health")
        self.assertEqual(status, 200, body)
        self.assertEqual(list(body.keys()), ["status", "event_count", "state_dir"])
        self.assertEqual(body["status"], "ok")
        self.assertEqual(body["state_dir"], self.agentd.state_dir)
        self.assertEqual(body["event_count"], self.count())

    def test_recall_ranks_matching_event_first(self):
        for text in ["routine disk check ok", "the coffee machine on floor two is broken",
                     "coffee order placed", "nothing here"]:
            self.assertEqual(self.req("POST", "/memory/ingest", {"content": text})[0], 200)
        self.req("POST", "/memory/store", {"summary": "a fact", "detail": "broken coffee machine",
                                           "category": "facts", "tags": ["t1"]})
        status, body = self.req("POST", "/memory/recall", {"query": "coffee machine broken!"})
        self.assertEqual(status, 200, body)
        self.assertEqual(list(body.keys()), ["query", "chunks", "total_searched"])
        self.assertEqual(body["query"], "coffee machine broken!")
        self.assertEqual(body["total_searched"], self.count())
        chunks = body["chunks"]
        self.assertGreaterEqual(len(chunks), 3)
        for c in chunks:
            self.assertEqual(list(c.keys()), ["id", "ts", "content", "category", "tags",
                                              "relevance"])
            self.assertTrue(0.0 <= c["relevance"] <= 1.0)
        self.assertEqual(chunks[0]["relevance"], 1.0)
        self.assertIn(chunks[0]["content"], ["the coffee machine on floor two is broken",
                                             "broken coffee machine"])
        self.assertNotIn("nothing here", [c["content"] for c in chunks])
        weak = [c for c in chunks if c["content"] == "coffee order placed"][0]
        self.assertLess(weak["relevance"], 1.0)
        stored = [c for c in chunks if c["content"] == "broken coffee machine"][0]
        self.assertEqual(stored["category"], "facts")
        self.assertEqual(stored["tags"], ["t1"])

    def test_recall_limits_and_timeframe(self):
        for i in range(5):
            self.req("POST", "/memory/ingest", {"content": "needle %d" % i})
        status, body = self.req("POST", "/memory/recall", {"query": "needle", "max_results": 2})
        self.assertEqual(len(body["chunks"]), 2)
        status, body = self.req("POST", "/memory/recall", {"query": "needle", "timeframe": "1999"})
        self.assertEqual(body["chunks"], [])
        ts = self.events("memory.ingest")[0]["ts"]
        status, body = self.req("POST", "/memory/recall", {"query": "needle", "timeframe": ts[:7]})
        self.assertEqual(len(body["chunks"]), 5)
        status, body = self.req("POST", "/memory/recall", {"query": "needle", "max_results": 1000})
        self.assertEqual(status, 200)

    def test_recall_empty_and_punctuation(self):
        self.req("POST", "/memory/ingest", {"content": "anything"})
        for q in ["", "   ", "!!! ??? \"\" ()", "\" OR 1=1 --"[:2]]:
            status, body = self.req("POST", "/memory/recall", {"query": q})
            self.assertEqual(status, 200, body)
            self.assertEqual(body["chunks"], [], q)
        status, body = self.req("POST", "/memory/recall", {"query": "NEAR( * ) AND anything\""})
        self.assertEqual(status, 200, body)
        self.assertEqual(len(body["chunks"]), 1)

    def test_recall_bad_input(self):
        self.assert_bad_bodies("/memory/recall", {"query": "q", "max_results": 1, "timeframe": "2"})
        self.assert_error("POST", "/memory/recall", 422, {"query": "q", "max_results": -1})
        self.assert_error("POST", "/memory/recall", 422, {"query": "q", "max_results": 1.5})
        self.assert_error("POST", "/memory/recall", 422, {"max_results": 3})


class SystemTest(EndpointCase):
    def test_processes(self):
        status, body = self.req("POST", "/system/query",
                                {"query": "processes", "args": {"sort": "memory", "limit": 3}})
        self.assertEqual(status, 200, body)
        self.assertEqual(list(body.keys()), ["query", "result"])
        procs = body["result"]
        self.assertEqual(len(procs), 3)
        for p in procs:
            self.assertEqual(list(p.keys()), ["pid", "name", "cpu_usage", "memory", "status",
                                              "start_time"])
        mem = [p["memory"] for p in procs]
        self.assertEqual(mem, sorted(mem, reverse=True))
        ev = self.events("system.query")[0]
        self.assertEqual(ev["actor"], "agentd")
        self.assertEqual(ev["payload"], '{"args":{"limit":3,"sort":"memory"},"query":"processes"}')
        # our own pid is listed with its real name
        status, body = self.req("POST", "/system/query",
                                {"query": "processes", "args": {"limit": 10000}})
        mine = [p for p in body["result"] if p["pid"] == self.agentd.proc.pid]
        self.assertEqual(mine[0]["name"], "agentd")
        self.assertGreater(mine[0]["memory"], 0)

    def test_other_queries(self):
        status, body = self.req("POST", "/system/query", {"query": "hostname"})
        self.assertEqual(body["result"], {"hostname": os.uname().nodename})
        status, body = self.req("POST", "/system/query", {"query": "uptime"})
        self.assertGreater(body["result"]["uptime_seconds"], 0)
        status, body = self.req("POST", "/system/query", {"query": "disk"})
        self.assertGreater(len(body["result"]), 0)
        for d in body["result"]:
            self.assertEqual(list(d.keys()), ["mount_point", "filesystem", "total", "used",
                                              "available"])
        status, body = self.req("POST", "/system/query", {"query": "bogus"})
        self.assertEqual(status, 200)
        self.assertEqual(body, {"query": "bogus", "result": {"error": "unknown query: bogus"}})
        self.assertEqual(self.events("system.query")[0]["payload"],
                         '{"args":null,"query":"bogus"}')

    def test_query_bad_input(self):
        self.assert_bad_bodies("/system/query", {"query": "uptime", "args": {}})
        self.assert_error("POST", "/system/query", 422, {"args": {}})
        for args in [{"limit": 10001}, {"limit": -1}, {"limit": "5"}, {"sort": "name"},
                     {"sort": 3}]:
            self.assert_error("POST", "/system/query", 422, {"query": "processes", "args": args})

    def test_discover(self):
        status, body = self.req("GET", "/system/discover")
        self.assertEqual(status, 200, body)
        self.assertEqual(list(body.keys()), ["found", "total_listening_ports",
                                             "total_systemd_services"])
        keys = ["name", "pid", "port", "protocol", "detected_as", "health_url", "systemd_unit",
                "memory_bytes", "cpu_usage"]
        for s in body["found"]:
            self.assertEqual(list(s.keys()), keys)
        ev = self.events("system.discover")[0]
        self.assertEqual(json.loads(ev["payload"]), {
            "listening_ports": body["total_listening_ports"],
            "services_found": len(body["found"]),
            "systemd_services": body["total_systemd_services"]})

    def test_discover_sees_our_listener(self):
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        try:
            status, body = self.req("GET", "/system/discover")
        finally:
            s.close()
        mine = [f for f in body["found"] if f["port"] == port]
        self.assertEqual(len(mine), 1, body)
        self.assertEqual(mine[0]["pid"], os.getpid())
        self.assertEqual(mine[0]["detected_as"], "python")
        self.assertEqual(mine[0]["protocol"], "tcp")


class CardTest(EndpointCase):
    def test_default_card(self):
        status, body = self.req("GET", "/agent/card")
        self.assertEqual(status, 200, body)
        self.assertEqual(list(body.keys()), ["type", "name", "description", "services", "active",
                                             "supportedTrust"])
        self.assertEqual(body["type"], "https://eips.ethereum.org/EIPS/eip-8004#registration-v1")
        self.assertEqual(body["name"], "osModa")
        self.assertEqual(body["services"], [])  # nothing but agentd runs: nothing to advertise
        self.assertEqual(body["supportedTrust"], ["eip-8004", "hash-chain-ledger"])

    def test_default_card_advertises_what_listens(self):
        watch = os.path.join(self.agentd.run_dir, "watch.sock")
        keyd = os.path.join(self.agentd.run_dir, "keyd.sock")
        open(keyd, "w").close()  # a file where a socket would be is not an endpoint
        s = socket.socket(socket.AF_UNIX)
        s.bind(watch)
        s.listen(1)
        try:
            status, body = self.req("GET", "/agent/card")
        finally:
            s.close()
        self.assertEqual(body["services"], [{"name": "safeswitch", "version": "1.0",
                                             "endpoint": "unix://" + watch}])

    def test_generate(self):
        services = [{"name": "x", "endpoint": "unix:///x.sock"}]
        status, body = self.req("POST", "/agent/card/generate",
                                {"name": "n", "description": "d", "services": services})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["services"], services)
        path = os.path.join(self.agentd.state_dir, "agent-card.json")
        with open(path) as f:
            text = f.read()
        self.assertEqual(json.loads(text), body)
        self.assertIn('\n  "name": "n"', text)
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o644)
        self.assertEqual(self.req("GET", "/agent/card")[1], body)
        ev = self.events("agent.card.generate")[0]
        self.assertEqual(ev["payload"], '{"name":"n","services":1}')
        status, body = self.req("POST", "/agent/card/generate", {"name": "m", "description": "d"})
        self.assertEqual(body["services"], [])  # the default: only what listens

    def test_broken_card_file_serves_default(self):
        with open(os.path.join(self.agentd.state_dir, "agent-card.json"), "w") as f:
            f.write('{"name": 1}')
        self.assertEqual(self.req("GET", "/agent/card")[1]["name"], "osModa")

    def test_generate_bad_input(self):
        self.assert_bad_bodies("/agent/card/generate", {"name": "n", "description": "d"})
        self.assert_error("POST", "/agent/card/generate", 422, {"name": "n"})
        self.assert_error("POST", "/agent/card/generate", 422,
                          {"name": "n", "description": "d", "services": [{"name": "x"}]})
        self.assertFalse(os.path.exists(os.path.join(self.agentd.state_dir, "agent-card.json")))


class ReceiptsTest(EndpointCase):
    def test_receipts(self):
        self.req("POST", "/memory/store", {"summary": "sum"})
        self.req("POST", "/memory/ingest", {"content": "cont"})
        status, body = self.req("GET", "/receipts?limit=2")
        self.assertEqual(status, 200, body)
        self.assertEqual(len(body), 2)
        keys = ["id", "event_id", "receipt_type", "actor", "summary", "detail", "timestamp",
                "reversible"]
        for r in body:
            self.assertEqual(list(r.keys()), keys)
            self.assertEqual(r["id"], "receipt-%d" % r["event_id"])
        self.assertEqual(body[0]["summary"], "cont")
        self.assertEqual(body[1]["summary"], "sum")
        self.assertEqual(body[1]["detail"], {"category": None, "detail": None, "summary": "sum",
                                             "tags": None})
        status, body = self.req("GET", "/receipts?type=memory.store")
        self.assertEqual([r["receipt_type"] for r in body], ["memory.store"])

    def test_since_applies_before_limit(self):
        self.req("POST", "/memory/store", {"summary": "old"})
        since = self.events()[0]["ts"]
        for i in range(3):
            self.req("POST", "/memory/store", {"summary": "new %d" % i})
        status, body = self.req("GET", "/receipts?since=" + since + "&limit=500")
        self.assertTrue(all(r["timestamp"] >= since for r in body))
        self.assertIn("old", [r["summary"] for r in body])
        status, body = self.req("GET", "/receipts?type=memory.store&since=" + since + "&limit=2")
        self.assertEqual(len(body), 2)
        status, body = self.req("GET", "/receipts?since=9999&limit=5")
        self.assertEqual(body, [])

    def test_bad_limit(self):
        for q in ["limit=-1", "limit=abc", "limit=99999999999999999999", "limit=1e400"]:
            self.assert_error("GET", "/receipts?" + q, 422)
        status, body = self.req("GET", "/receipts?limit=100000")
        self.assertEqual(status, 200)


class IncidentTest(EndpointCase):
    def create(self, name="db down"):
        status, body = self.req("POST", "/incident/create", {"name": name})
        self.assertEqual(status, 200, body)
        return body

    def test_lifecycle(self):
        inc = self.create()
        self.assertEqual(list(inc.keys()), ["id", "name", "status", "steps", "created_at"])
        self.assertRegex(inc["id"], r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                                    r"[0-9a-f]{12}$")
        self.assertEqual((inc["status"], inc["steps"]), ("open", []))
        ev = self.events("incident.create")[0]
        self.assertEqual(json.loads(ev["payload"]), {"incident_id": inc["id"], "name": "db down"})
        status, body = self.req("POST", "/incident/%s/step" % inc["id"],
                                {"action": "look", "result": "saw", "receipt_id": "receipt-1"})
        self.assertEqual(status, 200, body)
        status, body = self.req("POST", "/incident/%s/step" % inc["id"],
                                {"action": "fix", "result": "ok"})
        steps = body["steps"]
        self.assertEqual(list(steps[0].keys()), ["step_number", "action", "result", "receipt_id",
                                                 "timestamp"])
        self.assertEqual(list(steps[1].keys()), ["step_number", "action", "result", "timestamp"])
        self.assertEqual([s["step_number"] for s in steps], [1, 2])
        self.assertEqual(json.loads(self.events("incident.step")[0]["payload"]), {
            "action": "fix", "incident_id": inc["id"], "result": "ok", "step_number": 2})
        self.assertEqual(self.req("GET", "/incident/" + inc["id"])[1], body)
        status, body = self.req("POST", "/incident/%s/resolve" % inc["id"], {"resolution": "fixed"})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["status"], "resolved")
        self.assertEqual(list(body.keys())[-1], "resolved_at")
        self.assertEqual(json.loads(self.events("incident.resolve")[0]["payload"]),
                         {"incident_id": inc["id"], "resolution": "fixed"})
        self.assert_error("POST", "/incident/%s/resolve" % inc["id"], 409, raw=b"")

    def test_list_and_filter(self):
        a = self.create("a")
        b = self.create("b")
        self.req("POST", "/incident/%s/resolve" % a["id"])
        status, body = self.req("GET", "/incidents")
        self.assertEqual([i["name"] for i in body], ["b", "a"])
        status, body = self.req("GET", "/incidents?status=open")
        self.assertEqual([i["id"] for i in body], [b["id"]])
        status, body = self.req("GET", "/incidents?status=resolved")
        self.assertEqual([i["id"] for i in body], [a["id"]])

    def test_unknown_incident(self):
        self.assert_error("GET", "/incident/nope", 404)
        self.assert_error("POST", "/incident/nope/step", 404, {"action": "a", "result": "r"})
        self.assert_error("POST", "/incident/nope/resolve", 404, {})

    def test_bad_input(self):
        self.assert_bad_bodies("/incident/create", {"name": "n"})
        self.assert_error("POST", "/incident/create", 422, {})
        inc = self.create()
        path = "/incident/%s/step" % inc["id"]
        self.assert_bad_bodies(path, {"action": "a", "result": "r", "receipt_id": "x"})
        self.assert_error("POST", path, 422, {"action": "a"})
        self.assert_error("POST", "/incident/%s/resolve" % inc["id"], 422, {"resolution": 5})
        self.assertEqual(self.req("GET", "/incident/" + inc["id"])[1]["steps"], [])


if __name__ == "__main__":
    unittest.main()
