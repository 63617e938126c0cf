"""osmoda-gateway's HTTP core: where it listens, the token it never runs without, login and
sessions with CSRF, request ids and the error envelope, the dashboard's files."""
import os
import re
import stat
import subprocess
import unittest

from osmtest import Gateway, binary, free_port, wait_for

REQ_ID = re.compile(r"^req_[0-9A-HJKMNP-TV-Z]{26}$")


class GatewayCore(unittest.TestCase):
    def setUp(self):
        self.gw = Gateway().start()

    def tearDown(self):
        alive = self.gw.alive()
        report = self.gw.sanitizer_errors()
        self.gw.cleanup()
        self.assertTrue(alive, "osmoda-gateway died during the test")
        self.assertEqual(report, "")

    def login(self, user=None):
        body = {"token": self.gw.token}
        if user:
            body["user"] = user
        st, h, b = self.gw.http("POST", "/auth/login", body, auth=False)
        self.assertEqual(st, 200, b)
        cookie = h["set-cookie"].split(";")[0]
        return cookie, b["csrf"]

    def test_token_file_is_made_private(self):
        st = os.stat(self.gw.token_path)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(self.gw.token_path)).st_mode),
                         0o700)
        self.assertGreaterEqual(len(self.gw.token), 32)

    def test_no_credentials_is_401_with_the_envelope(self):
        st, h, b = self.gw.http("GET", "/auth/check", auth=False)
        self.assertEqual(st, 401)
        self.assertEqual(b["code"], "unauthorized")
        self.assertEqual(b["error"], "unauthorized")
        self.assertEqual(b["request_id"], h["x-request-id"])
        self.assertRegex(h["x-request-id"], REQ_ID)

    def test_bearer_checked_exactly(self):
        tok = self.gw.token
        for bad in (tok[:-1], tok + "x", tok.upper() if tok != tok.upper() else tok.lower(), "",
                    "Bearer"):
            st, _, b = self.gw.http("GET", "/auth/check", headers={"Authorization":
                                                                   "Bearer " + bad})
            self.assertEqual(st, 401, bad)
        st, _, b = self.gw.http("GET", "/auth/check")
        self.assertEqual((st, b["via"], b["user"]), (200, "bearer", "operator"))

    def test_request_id_echoed_only_when_well_formed(self):
        _, h, _ = self.gw.http("GET", "/auth/check", headers={"X-Request-Id": "client-id-1234"})
        self.assertEqual(h["x-request-id"], "client-id-1234")
        for bad in ("short", "has space in it", "x" * 65, "semi;colon-123"):
            _, h, _ = self.gw.http("GET", "/auth/check", headers={"X-Request-Id": bad})
            self.assertRegex(h["x-request-id"], REQ_ID, bad)

    def test_login_sets_a_strict_http_only_cookie(self):
        st, h, b = self.gw.http("POST", "/auth/login", {"token": self.gw.token, "user": "ana"},
                                auth=False)
        self.assertEqual(st, 200, b)
        cookie = h["set-cookie"]
        for attr in ("HttpOnly", "SameSite=Strict", "Path=/"):
            self.assertIn(attr, cookie)
        self.assertEqual(b["user"], "ana")
        jar = cookie.split(";")[0]
        st, _, b2 = self.gw.http("GET", "/auth/session", auth=False, headers={"Cookie": jar})
        self.assertEqual((st, b2["user"], b2["csrf"]), (200, "ana", b["csrf"]))
        st, _, b3 = self.gw.http("GET", "/auth/check", auth=False, headers={"Cookie": jar})
        self.assertEqual((st, b3["via"]), (200, "session"))

    def test_wrong_token_login_refused_then_rate_limited(self):
        for i in range(10):
            st, _, b = self.gw.http("POST", "/auth/login", {"token": "nope-%d" % i}, auth=False)
            self.assertEqual(st, 401, b)
        st, h, b = self.gw.http("POST", "/auth/login", {"token": self.gw.token}, auth=False)
        self.assertEqual(st, 429, b)
        self.assertEqual(h["retry-after"], "60")
        self.assertEqual(b["code"], "rate_limited")

    def test_cookie_change_needs_csrf_token_and_own_origin(self):
        jar, csrf = self.login()
        base = {"Cookie": jar}
        st, _, b = self.gw.http("POST", "/auth/logout-all", auth=False, headers=base)
        self.assertEqual((st, b["code"]), (403, "forbidden"))
        st, _, b = self.gw.http("POST", "/auth/logout-all", auth=False,
                                headers=dict(base, **{"X-CSRF-Token": "0" * len(csrf)}))
        self.assertEqual(st, 403)
        st, _, b = self.gw.http("POST", "/auth/logout-all", auth=False,
                                headers=dict(base, **{"X-CSRF-Token": csrf,
                                                      "Origin": "http://evil.example"}))
        self.assertEqual(st, 403)
        # the session still works for reads after the refused changes
        self.assertEqual(self.gw.http("GET", "/auth/check", auth=False, headers=base)[0], 200)
        origin = "http://127.0.0.1:%d" % self.gw.port
        st, _, b = self.gw.http("POST", "/auth/logout-all", auth=False,
                                headers=dict(base, **{"X-CSRF-Token": csrf, "Origin": origin}))
        self.assertEqual((st, b["sessions_ended"]), (200, 1))
        self.assertEqual(self.gw.http("GET", "/auth/check", auth=False, headers=base)[0], 401)

    def test_forged_or_stale_cookie_is_401(self):
        jar, _ = self.login()
        name, value = jar.split("=", 1)
        forged = name + "=" + ("0" if value[0] != "0" else "1") + value[1:]
        self.assertEqual(self.gw.http("GET", "/auth/check", auth=False,
                                      headers={"Cookie": forged})[0], 401)
        self.assertEqual(self.gw.http("POST", "/auth/logout", auth=False,
                                      headers={"Cookie": jar})[0], 200)
        self.assertEqual(self.gw.http("GET", "/auth/check", auth=False,
                                      headers={"Cookie": jar})[0], 401)

    def test_bad_bodies(self):
        cases = [(b"{", 400), (b"[1]", 400), (b'{"token": "a", "token": "b"}', 400),
                 (b'{"token": "\xff\xfe"}', 400), (b'{"token": 5}', 400),
                 (b'{"token": "x", "user": ""}', 400)]
        for raw, want in cases:
            st, h, b = self.gw.http("POST", "/auth/login", raw=raw, auth=False)
            self.assertEqual(st, want, raw)
            self.assertEqual(b["request_id"], h["x-request-id"])
        st, _, _ = self.gw.http("POST", "/auth/login", raw=b'{"token":"' + b"a" * 300000 + b'"}',
                                auth=False)
        self.assertEqual(st, 413)

    def test_unknown_path_and_method(self):
        st, _, b = self.gw.http("GET", "/nope")
        self.assertEqual((st, b["code"]), (404, "not_found"))
        st, _, b = self.gw.http("DELETE", "/auth/login")
        self.assertEqual((st, b["code"]), (405, "method_not_allowed"))

    def test_dashboard_files(self):
        st, h, body = self.gw.http("GET", "/", auth=False)
        self.assertEqual(st, 200)
        self.assertTrue(h["content-type"].startswith("text/html"))
        self.assertIn("script-src 'self'", h["content-security-policy"])
        self.assertEqual(h["x-frame-options"], "DENY")
        self.assertEqual(h["x-content-type-options"], "nosniff")
        self.assertIn(b"osModa", body)
        for bad in ("/static/..%2Fgw-http.c", "/static/.hidden", "/static/../meson.build",
                    "/static/index.html%00.js", "/static/x.exe", "/static/nope.js"):
            st, _, _ = self.gw.http("GET", bad, auth=False)
            self.assertEqual(st, 404, bad)


class GatewayStart(unittest.TestCase):
    def test_listens_on_loopback_only_by_default_port_form(self):
        port = free_port()
        gw = Gateway(args=["--listen", str(port)])
        gw.args = ["--listen", str(port)]
        gw.port = port
        gw.start()
        try:
            with open("/proc/net/tcp") as f:
                rows = [l.split() for l in f.readlines()[1:]]
            listening = [r[1] for r in rows if r[3] == "0A" and int(r[1].split(":")[1], 16) == port]
            self.assertEqual(listening, ["0100007F:%04X" % port])
        finally:
            gw.cleanup()

    def test_refuses_a_token_file_others_can_read(self):
        gw = Gateway()
        os.makedirs(os.path.dirname(gw.token_path), mode=0o700)
        with open(gw.token_path, "w") as f:
            f.write("a-token-long-enough-for-the-check\n")
        os.chmod(gw.token_path, 0o644)
        gw.start(wait=False)
        try:
            self.assertNotEqual(gw.proc.wait(20), 0)
            self.assertIn("0600", gw.text())
        finally:
            gw.cleanup()

    def test_refuses_a_short_token(self):
        gw = Gateway()
        os.makedirs(os.path.dirname(gw.token_path), mode=0o700)
        with open(gw.token_path, "w") as f:
            f.write("short\n")
        os.chmod(gw.token_path, 0o600)
        gw.start(wait=False)
        try:
            self.assertNotEqual(gw.proc.wait(20), 0)
            self.assertIn("shorter than 16", gw.text())
        finally:
            gw.cleanup()


if __name__ == "__main__":
    unittest.main()
