"""osmoda-gateway's /config/...: the credential store (osModa's envelope, a key kept away from
it, migration, bootstrap), agents.json, bad input that changes nothing, and every change in
agentd's ledger before it is made (refused with 503 when agentd is not there)."""
import http.server
import json
import os
import signal
import stat
import subprocess
import threading
import unittest

from osmtest import Agentd, Gateway, binary, free_port, wait_for

SECRET = "sk-ant-api03-" + "Q7xw" * 20  # an Anthropic-shaped key, never to be seen again
OAI = {"provider": "openai", "type": "api_key", "secret": "sk-local-0123456789"}


def read(path, mode="rb"):
    with open(path, mode) as f:
        return f.read()


def cred(**kw):
    body = {"label": "main", "provider": "anthropic", "type": "api_key", "secret": SECRET}
    body.update(kw)
    return body


class Models(http.server.BaseHTTPRequestHandler):
    """A model server on 127.0.0.1 answering GET /v1/models for one key."""
    seen = []

    def do_GET(self):
        Models.seen.append((self.path, dict(self.headers)))
        key = self.headers.get("x-api-key") or self.headers.get("authorization", "")[7:]
        ok = self.path == "/v1/models" and key == SECRET
        body = json.dumps({"data": [{"id": "claude-test-1"}, {"id": "claude-test-2"}]} if ok
                          else {"error": "no"}).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class ConfigBase(unittest.TestCase):
    with_agentd = True

    def setUp(self):
        self.agentd = Agentd().start() if self.with_agentd else None
        self.gw = Gateway(self.agentd).start()
        self.config = os.path.join(self.gw.state_dir, "config")

    def tearDown(self):
        alive = self.gw.alive()
        report = self.gw.sanitizer_errors()
        self.gw.cleanup()
        if self.agentd:
            self.agentd.cleanup()
        self.assertTrue(alive, "osmoda-gateway died during the test")
        self.assertEqual(report, "")

    def events(self):
        st, log = self.agentd.request("GET", "/events/log?limit=10000")
        self.assertEqual(st, 200)
        return [(e["type"], json.loads(e["payload"])) for e in reversed(log)
                if e["type"].startswith("gateway.")]

    def ledger_text(self):
        return json.dumps(self.agentd.request("GET", "/events/log?limit=10000")[1])

    def files(self):
        out = {}
        for name in ("credentials.json.enc", "agents.json"):
            p = os.path.join(self.config, name)
            out[name] = read(p) if os.path.exists(p) else None
        return out

    def add(self, **kw):
        st, _, b = self.gw.http("POST", "/config/credentials", cred(**kw))
        self.assertEqual(st, 201, b)
        return b["credential"]


class GatewayConfig(ConfigBase):
    def test_credential_lifecycle_is_recorded_and_never_shows_the_secret(self):
        answers = []
        c1 = self.add()
        answers.append(c1)
        self.assertRegex(c1["id"], r"^cred_[0-9a-f]{24}$")
        self.assertNotIn("secret", c1)
        self.assertEqual(c1["secret_preview"], SECRET[:12] + "\u2026" + SECRET[-4:])
        enc = read(os.path.join(self.config, "credentials.json.enc"))
        self.assertTrue(enc.startswith(b"ENC:"))
        self.assertNotIn(SECRET.encode(), enc)
        st = os.stat(os.path.join(self.config, "credentials.json.enc"))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        c2 = self.add(label="local", **{k: v for k, v in OAI.items()},
                      base_url="http://127.0.0.1:9/v1")
        st, _, lst = self.gw.http("GET", "/config/credentials")
        answers.append(lst)
        self.assertEqual(lst["default_credential_id"], c1["id"])
        self.assertEqual([c["id"] for c in lst["credentials"]], [c1["id"], c2["id"]])
        st, _, b = self.gw.http("POST", "/config/credentials/%s/default" % c2["id"])
        self.assertEqual((st, b), (200, {"default_credential_id": c2["id"]}))
        st, _, b = self.gw.http("PATCH", "/config/credentials/" + c1["id"], {"label": "renamed"})
        self.assertEqual((st, b["credential"]["label"]), (200, "renamed"))
        answers.append(b)
        st, _, b = self.gw.http("DELETE", "/config/credentials/" + c2["id"])
        self.assertEqual(st, 204)
        st, _, lst = self.gw.http("GET", "/config/credentials")
        answers.append(lst)
        self.assertEqual(lst["default_credential_id"], c1["id"])
        st, _, h = self.gw.http("GET", "/config/health")
        self.assertEqual((h["credentials_count"], h["default_credential_id"]), (1, c1["id"]))
        self.assertIn("key file", h["credstore_key_source"])
        types = [t for t, _ in self.events()]
        self.assertEqual(types, ["gateway.credential.add", "gateway.credential.add",
                                 "gateway.credential.default", "gateway.credential.relabel",
                                 "gateway.credential.delete"])
        for t, p in self.events():
            self.assertEqual(p["by"], "operator")
        for a in answers:
            self.assertNotIn(SECRET, json.dumps(a))
            self.assertNotIn(SECRET[:20], json.dumps(a))
        self.assertNotIn(SECRET[:20], self.ledger_text())
        self.assertNotIn(OAI["secret"], self.ledger_text())
        self.assertNotIn(SECRET[:20], self.gw.text())

    def test_short_secret_preview_does_not_reveal_it(self):
        c = self.add(secret="abcdefghij")
        self.assertNotIn("abcdefghij", c["secret_preview"])
        self.assertLessEqual(len(c["secret_preview"].replace("\u2026", "")), 5)

    def test_bad_credential_bodies_change_nothing(self):
        c = self.add()
        before, n_events = self.files(), len(self.events())
        bad = [
            ({"provider": "anthropic", "type": "api_key"}, 400),
            (cred(secret="short"), 400),
            (cred(secret="x" * 4097), 400),
            (cred(secret="sk-with space-123"), 400),
            (cred(label="l" * 61), 400),
            (cred(label=""), 400),
            (cred(label="tab\there"), 400),
            (cred(provider="mistral"), 400),
            (cred(provider="openai", type="oauth"), 400),
            (cred(type=1), 400),
            (cred(extra="field"), 400),
            (cred(base_url="http://example.com"), 400),
            (cred(base_url="https://169.254.169.254/latest"), 400),
            (cred(base_url="https://metadata.google.internal/"), 400),
            (cred(base_url="https://[fe80::1]/"), 400),
            (cred(base_url="https://2852039166/"), 400),
            (cred(base_url="https://user@example.com/"), 400),
            (cred(base_url="ftp://example.com/"), 400),
            (cred(base_url="https://example.com/?q=1"), 400),
            (cred(base_url="https://" + "a" * 600 + ".com/"), 400),
        ]
        for body, status in bad:
            st, _, b = self.gw.http("POST", "/config/credentials", body)
            self.assertEqual((st, b["code"], b["error"]), (status, "validation_failed",
                                                           "validation_failed"), body)
            self.assertTrue(b["message"])
        raws = [b"[1,2]", b"{\"label\":\"a\",\"label\":\"b\"}", b"\xff\xfe{}", b"{",
                b"{\"secret\":\"\\u0000abcdefghijk\"}"]
        for raw in raws:
            st, _, b = self.gw.http("POST", "/config/credentials", raw=raw)
            self.assertEqual((st, b["code"]), (400, "validation_failed"), raw)
        st, _, b = self.gw.http("POST", "/config/credentials", raw=b"{\"a\":\"" + b"x" * 300000
                                + b"\"}")
        self.assertEqual(st, 413, b)
        for method, path, body in (("PATCH", "/config/credentials/" + c["id"], {"label": 5}),
                                   ("PATCH", "/config/credentials/" + c["id"],
                                    {"label": "ok", "x": 1}),
                                   ("PATCH", "/config/credentials/" + c["id"], {"label": ""})):
            st, _, b = self.gw.http(method, path, body)
            self.assertEqual((st, b["code"]), (400, "validation_failed"), body)
        for path in ("/config/credentials/cred_000000000000000000000000",
                     "/config/credentials/..", "/config/credentials/%2e%2e",
                     "/config/credentials/a%2Fb", "/config/credentials/a/b"):
            st, _, b = self.gw.http("DELETE", path)
            self.assertIn(st, (404, 405), path)
            self.assertIn(b["code"], ("not_found", "method_not_allowed"), path)
        st, _, b = self.gw.http("POST", "/config/credentials/cred_nope/default")
        self.assertEqual((st, b["code"]), (404, "not_found"))
        st, _, b = self.gw.http("GET", "/config/credentials", auth=False)
        self.assertEqual((st, b["code"]), (401, "unauthorized"))
        st, _, b = self.gw.http("POST", "/config/credentials", cred(), auth=False)
        self.assertEqual(st, 401)
        self.assertEqual(self.files(), before)
        self.assertEqual(len(self.events()), n_events)

    def test_store_holds_64_then_conflict(self):
        for i in range(64):
            self.add(label="k%d" % i, secret=SECRET[:-3] + "%03d" % i)
        before = self.files()
        st, _, b = self.gw.http("POST", "/config/credentials", cred(label="one too many"))
        self.assertEqual((st, b["code"]), (409, "conflict"))
        self.assertEqual(self.files(), before)
        self.assertEqual(len(self.gw.http("GET", "/config/credentials")[2]["credentials"]), 64)

    def test_credential_test_against_a_local_model_server(self):
        srv = http.server.HTTPServer(("127.0.0.1", 0), Models)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        try:
            Models.seen = []
            base = "http://127.0.0.1:%d" % srv.server_port
            good = self.add(base_url=base)
            wrong = self.add(label="wrong", secret=SECRET[:-1] + "Z", base_url=base + "/")
            badfmt = self.add(label="badfmt", secret="sk-ant-oat-not-an-api-key-x",
                              base_url=base)
            remote = self.add(label="remote", base_url="https://api.example.com")
            st, _, b = self.gw.http("POST", "/config/credentials/%s/test" % good["id"])
            self.assertEqual((st, b["ok"], b["checked"]), (200, True, "request"), b)
            self.assertEqual(b["model_list"], ["claude-test-1", "claude-test-2"])
            path, headers = Models.seen[-1]
            self.assertEqual(headers.get("anthropic-version"), "2023-06-01")
            st, _, b = self.gw.http("POST", "/config/credentials/%s/test" % wrong["id"])
            self.assertEqual((b["ok"], b["checked"]), (False, "request"))
            self.assertIn("401", b["error"])
            self.assertIn("invalid credential", b["error"])
            n = len(Models.seen)
            st, _, b = self.gw.http("POST", "/config/credentials/%s/test" % badfmt["id"])
            self.assertEqual((b["ok"], b["checked"]), (False, "format"))
            self.assertIn("sk-ant-api", b["error"])
            st, _, b = self.gw.http("POST", "/config/credentials/%s/test" % remote["id"])
            self.assertEqual((b["ok"], b["checked"]), (True, "format"))
            self.assertEqual(len(Models.seen), n, "no request for a bad format or off-machine")
            lst = {c["id"]: c for c in self.gw.http("GET", "/config/credentials")[2]["credentials"]}
            self.assertIs(lst[good["id"]]["last_test_ok"], True)
            self.assertIs(lst[wrong["id"]]["last_test_ok"], False)
            self.assertIn("invalid credential", lst[wrong["id"]]["last_test_error"])
            self.assertRegex(lst[good["id"]]["last_tested_at"], r"^\d{4}-\d\d-\d\dT")
            self.assertNotIn(SECRET[:20], json.dumps(lst))
            st, _, b = self.gw.http("POST", "/config/credentials/cred_none/test")
            self.assertEqual(st, 404)
        finally:
            srv.shutdown()
            srv.server_close()

    def agents_doc(self, cred_id):
        prof = os.path.join(self.gw.state_dir, "workspace-osmoda")
        return {"agents": [
            {"id": "osmoda", "display_name": "osModa", "runtime": "claude-code",
             "credential_id": cred_id, "model": "claude-opus-4-6", "channels": ["web", "api"],
             "profile_dir": prof, "enabled": True},
            {"id": "mobile", "runtime": "anthropic", "model": "claude-sonnet-4-6",
             "channels": ["telegram"], "enabled": False}],
            "bindings": [{"channel": "telegram", "agent_id": "mobile"}]}

    def test_agents_put_patch_delete(self):
        c = self.add()
        st, _, b = self.gw.http("PUT", "/config/agents", self.agents_doc(c["id"]))
        self.assertEqual(st, 200, b)
        self.assertEqual(b["version"], 1)
        self.assertEqual([a["id"] for a in b["agents"]], ["osmoda", "mobile"])
        self.assertEqual(b["agents"][1]["display_name"], "mobile")
        self.assertRegex(b["agents"][0]["updated_at"], r"Z$")
        path = os.path.join(self.config, "agents.json")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o640)
        self.assertEqual(json.loads(read(path)), b)
        st, _, b = self.gw.http("PATCH", "/config/agents/mobile", {"enabled": True,
                                                                    "model": "m2"})
        self.assertEqual((st, b["enabled"], b["model"]), (200, True, "m2"))
        st, _, h = self.gw.http("GET", "/config/health")
        self.assertEqual((h["agents_count"], h["enabled_agents_count"]), (2, 2))
        st, _, b = self.gw.http("DELETE", "/config/agents/mobile")
        self.assertEqual(st, 204)
        st, _, b = self.gw.http("GET", "/config/agents")
        self.assertEqual(([a["id"] for a in b["agents"]], b["bindings"]), (["osmoda"], []))
        st, _, b = self.gw.http("DELETE", "/config/agents/mobile")
        self.assertEqual((st, b["code"]), (404, "not_found"))
        types = [t for t, _ in self.events() if t.startswith("gateway.agents")]
        self.assertEqual(types, ["gateway.agents.put", "gateway.agents.patch",
                                 "gateway.agents.delete"])

    def test_bad_agents_change_nothing(self):
        c = self.add()
        self.assertEqual(self.gw.http("PUT", "/config/agents", self.agents_doc(c["id"]))[0], 200)
        before, n_events = self.files(), len(self.events())

        def doc(**kw):
            d = self.agents_doc(c["id"])
            d["agents"][0].update(kw)
            return d
        outside = doc(profile_dir="/etc/osmoda")
        dotdot = doc(profile_dir=os.path.join(self.gw.state_dir, "a/../../etc"))
        bad = [doc(runtime="openclaw"), doc(runtime=7), doc(credential_id="cred_missing"),
               doc(enabled="yes"), doc(id="Bad/Id"), doc(id=".."), doc(id="x" * 65),
               doc(model=""), doc(model="m" * 200), doc(channels="web"),
               doc(channels=["web", "web"]), doc(unknown=1), outside, dotdot,
               doc(system_prompt_file="relative/soul.md"),
               {"agents": "no"}, {"agents": [], "extra": 1}, {"version": 2, "agents": []},
               {"agents": [], "bindings": [{"channel": "web", "agent_id": "nobody"}]}]
        d = self.agents_doc(c["id"])
        del d["agents"][0]["model"]
        bad.append(d)
        d = self.agents_doc(c["id"])
        d["agents"].append(dict(d["agents"][0]))
        bad.append(d)
        for body in bad:
            st, _, b = self.gw.http("PUT", "/config/agents", body)
            self.assertEqual((st, b["code"]), (400, "validation_failed"), body)
        for body in ({"id": "other"}, {"runtime": "nope"}, {"credential_id": "cred_missing"},
                     {"enabled": 1}, {"profile_dir": "/tmp"}, {}, {"updated_at": "x"}):
            st, _, b = self.gw.http("PATCH", "/config/agents/osmoda", body)
            self.assertEqual((st, b["code"]), (400, "validation_failed"), body)
        st, _, b = self.gw.http("PATCH", "/config/agents/nobody", {"enabled": True})
        self.assertEqual((st, b["code"]), (404, "not_found"))
        self.assertEqual(self.files(), before)
        self.assertEqual(len(self.events()), n_events)

    def test_sighup_and_reload_reread_agents_json(self):
        path = os.path.join(self.config, "agents.json")
        with open(path, "w") as f:
            json.dump({"version": 1, "agents": [{"id": "hup", "runtime": "openai", "model": "m",
                                                 "enabled": True}], "bindings": []}, f)
        self.gw.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: [a["id"] for a in self.gw.http("GET", "/config/agents")[2]["agents"]]
                 == ["hup"], "the gateway to reload agents.json")
        with open(path, "w") as f:
            json.dump({"version": 1, "agents": [], "bindings": []}, f)
        st, _, b = self.gw.http("POST", "/config/reload")
        self.assertEqual((st, b), (200, {"ok": True}))
        self.assertEqual(self.gw.http("GET", "/config/agents")[2]["agents"], [])
        with open(path, "w") as f:
            f.write("{not json")
        st, _, b = self.gw.http("POST", "/config/reload")
        self.assertEqual((st, b["code"]), (500, "internal_error"))
        self.assertEqual(self.gw.http("GET", "/config/agents")[2]["agents"], [])
        sources = [p["source"] for t, p in self.events() if t == "gateway.config.reload"]
        self.assertEqual(sources, ["sighup", "api", "api"])

    def test_drivers(self):
        st, _, b = self.gw.http("GET", "/config/drivers")
        self.assertEqual(st, 200)
        names = [d["name"] for d in b["drivers"]]
        self.assertEqual(names, ["claude-code", "anthropic", "openai"])
        for d in b["drivers"]:
            self.assertTrue({"display_name", "description", "supported_providers",
                             "supported_auth_types", "default_models"} <= set(d))


class GatewayConfigWithoutLedger(ConfigBase):
    with_agentd = False

    def test_changes_refused_when_they_cannot_be_recorded(self):
        before = self.files()
        st, _, b = self.gw.http("POST", "/config/credentials", cred())
        self.assertEqual((st, b["code"]), (503, "service_unavailable"))
        st, _, b = self.gw.http("PUT", "/config/agents", {"agents": []})
        self.assertEqual(st, 503)
        st, _, b = self.gw.http("POST", "/config/reload")
        self.assertEqual(st, 503)
        self.assertEqual(self.files(), before)
        self.assertEqual(self.gw.http("GET", "/config/credentials")[2]["credentials"], [])


class GatewayCredstoreStart(unittest.TestCase):
    """How the store's key and files are found at start."""

    def setUp(self):
        self.agentd = Agentd().start()
        self.config = os.path.join(self.agentd.state_dir, "config")
        os.makedirs(self.config, mode=0o700, exist_ok=True)
        self.gw = None

    def tearDown(self):
        if self.gw:
            report = self.gw.sanitizer_errors()
            self.gw.cleanup()
            self.assertEqual(report, "")
        self.agentd.cleanup()

    def refused(self, args, reason):
        self.gw = Gateway(self.agentd, args=args)
        self.gw.start(wait=False)
        self.gw.proc.wait(30)
        self.assertNotEqual(self.gw.proc.returncode, 0)
        self.assertIn(reason, self.gw.text())

    def test_default_key_file_is_made_and_said(self):
        self.gw = Gateway(self.agentd).start()
        key = os.path.join(self.agentd.state_dir, "gateway", "credstore.key")
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        self.assertRegex(read(key, "r"), r"^[0-9a-f]{64}\n$")
        self.assertIn("created=yes", self.gw.text())
        st, _, h = self.gw.http("GET", "/config/health")
        self.assertEqual(h["credstore_key_source"], "the key file %s (made on this start)" % key)

    def test_key_file_inside_config_is_refused(self):
        self.refused(["--credstore-key-file", os.path.join(self.config, "k")],
                     "inside the config directory")

    def test_readable_or_symlinked_key_file_is_refused(self):
        key = os.path.join(self.agentd.tmp, "k")
        with open(key, "w") as f:
            f.write("ab" * 32)
        os.chmod(key, 0o640)
        self.refused(["--credstore-key-file", key], "group or others may access it")
        self.gw.cleanup()
        os.chmod(key, 0o600)
        link = os.path.join(self.agentd.tmp, "link")
        os.symlink(key, link)
        self.refused(["--credstore-key-file", link], "is a symlink")

    def test_osmoda_plaintext_store_is_migrated_and_bootstrap_absorbed(self):
        store = {"version": 1, "default_credential_id": "cred_" + "a" * 24, "credentials": [
            {"id": "cred_" + "a" * 24, "created_at": "2025-01-01T00:00:00.000Z",
             "label": "old", "provider": "anthropic", "type": "api_key", "secret": SECRET}]}
        with open(os.path.join(self.config, "credentials.json.enc"), "w") as f:
            json.dump(store, f)
        with open(os.path.join(self.config, ".credstore-key"), "wb") as f:
            f.write(os.urandom(32))
        boot = {"credentials": [
            {"label": "old", "provider": "anthropic", "type": "api_key", "secret": SECRET},
            {"label": "boot", "provider": "openai", "type": "api_key",
             "secret": "sk-boot-0123456789"},
            {"label": "boot", "provider": "openai", "type": "api_key",
             "secret": "sk-boot-0123456789"},
            {"label": "bad", "provider": "nope", "type": "api_key", "secret": "x" * 20}]}
        boot_path = os.path.join(self.config, "bootstrap-credentials.json")
        with open(boot_path, "w") as f:
            json.dump(boot, f)
        key = os.path.join(self.agentd.tmp, "keys", "gw.key")
        self.gw = Gateway(self.agentd, args=["--credstore-key-file", key]).start()
        wait_for(lambda: "bootstrap_file=deleted" in self.gw.text(), "the bootstrap")
        self.assertFalse(os.path.exists(boot_path))
        enc = read(os.path.join(self.config, "credentials.json.enc"))
        self.assertTrue(enc.startswith(b"ENC:"))
        self.assertNotIn(SECRET.encode(), enc)
        self.assertIn("delete the old key file", self.gw.text())
        self.assertTrue(os.path.exists(os.path.join(self.config, ".credstore-key")))
        lst = self.gw.http("GET", "/config/credentials")[2]
        self.assertEqual([c["label"] for c in lst["credentials"]], ["old", "boot"])
        self.assertEqual(lst["default_credential_id"], "cred_" + "a" * 24)
        st, log = self.agentd.request("GET", "/events/log?limit=1000")
        adds = [json.loads(e["payload"]) for e in log if e["type"] == "gateway.credential.add"]
        self.assertEqual([(a["label"], a["source"]) for a in adds], [("boot", "bootstrap")])
        self.assertNotIn("sk-boot-0123456789", json.dumps(log))
        # the rewritten store opens again with the same key, and not with another
        self.gw.stop()
        self.gw = Gateway(self.agentd, args=["--credstore-key-file", key]).start()
        self.assertEqual(len(self.gw.http("GET", "/config/credentials")[2]["credentials"]), 2)
        self.gw.cleanup()
        os.remove(os.path.join(self.config, ".credstore-key"))
        other = os.path.join(self.agentd.tmp, "keys", "other.key")
        self.refused(["--credstore-key-file", other], "wrong key?")


if __name__ == "__main__":
    unittest.main()
