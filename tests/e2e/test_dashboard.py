"""The dashboard in a real browser (Debian's chromium driven by the pinned playwright-core) against
a real osmoda-gateway, agentd and osmoda-watch: log in with the token, see the daemons healthy,
approve a call agentd holds and find the decision in agentd under the dashboard user, open the
ledger, a proof and the verification, watch a SafeSwitch whose health check fails roll back,
open the chat (no driver: the guidance), and look at it on a phone-sized screen. Screenshots of
each step are saved in the test's output directory (printed, kept after the run). Nothing is
fetched beyond 127.0.0.1."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from mcptest import RUNTIME_NODE
from osmtest import ROOT, Agentd, Gateway, Watch, request

HERE = os.path.dirname(os.path.abspath(__file__))
PLAYWRIGHT = os.path.join(ROOT, "tests", "node", "node_modules", "playwright-core", "package.json")
CHROMIUM = os.environ.get("OSMODA_CHROMIUM", "/usr/bin/chromium")
USER = "alice"
MINT_ARGS = {"granted_to": "helper", "permissions": ["system_health"]}


def node():
    return RUNTIME_NODE if os.access(RUNTIME_NODE, os.X_OK) else shutil.which("node")


@unittest.skipUnless(os.path.exists(PLAYWRIGHT), "playwright-core not installed in tests/node "
                     "(scripts/node-deps.sh installs the pinned version)")
@unittest.skipUnless(os.access(CHROMIUM, os.X_OK), "chromium missing (scripts/deps.sh installs it)")
class Dashboard(unittest.TestCase):
    """One browser session through every page; each test checks one part of what it saw."""

    @classmethod
    def setUpClass(cls):
        cls.out = tempfile.mkdtemp(prefix="osmoda-dashboard-shots-")
        print("\ndashboard screenshots: " + cls.out, flush=True)
        # checkpoints every 5 events: the oldest events have inclusion proofs
        cls.agentd = Agentd(args=["--checkpoint-every", "5"]).start()
        cls.watch = Watch(cls.agentd)
        cls.gateway = Gateway(cls.agentd)
        try:
            cls.watch.start()
            cls.gateway.start()
            cls.supervise_something()
            cls.approval = cls.hold_a_call()
            cls.switch_id = cls.begin_failing_switch()
            cls.seen = cls.drive()
        except BaseException:
            cls.stop_all()
            shutil.rmtree(cls.agentd.tmp, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.stop_all()
        # leak reports come when a daemon exits
        reports = [(type(d).__name__, d.sanitizer_errors()) for d in cls.daemons]
        shutil.rmtree(cls.agentd.tmp, ignore_errors=True)
        bad = [r for r in reports if r[1]]
        assert not bad, "sanitizer reports: %r" % bad

    @classmethod
    def stop_all(cls):
        cls.daemons = (cls.gateway, cls.watch, cls.agentd)
        for d in cls.daemons:
            d.stop()

    @classmethod
    def supervise_something(cls):
        """A service watch supervises and a watcher probing a port nobody listens on."""
        st, r = cls.watch.request("POST", "/app/deploy", {"name": "demo-web",
                                                          "command": "/bin/sleep", "args": ["3600"]})
        assert st == 200, r
        st, r = cls.watch.request("POST", "/watcher/add", {
            "name": "demo-port", "check": {"type": "tcp_port", "host": "127.0.0.1", "port": 9},
            "actions": [{"type": "notify", "message": "demo-port is down"}]})
        assert st == 200, r

    @classmethod
    def hold_a_call(cls):
        """capability_mint is privileged: agentd holds it for a person (test_approvals)."""
        st, r = cls.agentd.call_tool("capability_mint", MINT_ARGS)
        assert st == 202 and r["status"] == "pending", (st, r)
        return r

    @classmethod
    def begin_failing_switch(cls):
        """A files switch on watch.sock whose health check fails: watch rolls it back itself."""
        cls.conf = os.path.join(cls.agentd.tmp, "app.conf")
        with open(cls.conf, "w") as f:
            f.write("mode = old\n")
        st, b = cls.watch.request("POST", "/switch/begin", {
            "plan": {"backend": "files", "files": {cls.conf: "mode = broken\n"}},
            "ttl_secs": 3600,
            "health_checks": [{"type": "command", "cmd": "/bin/grep",
                               "args": ["-qx", "mode = old", cls.conf]}]})
        assert st == 200, b
        return b["id"]

    @classmethod
    def drive(cls):
        env = dict(os.environ, URL="http://127.0.0.1:%d/" % cls.gateway.port,
                   TOKEN=cls.gateway.token, LOGIN_USER=USER, APPROVAL_ID=cls.approval["approval_id"],
                   SWITCH_ID=cls.switch_id, OUT=cls.out, CHROMIUM=CHROMIUM,
                   HOME=cls.agentd.tmp)
        run = subprocess.run([node(), os.path.join(HERE, "dashboard.mjs")], env=env,
                             capture_output=True, text=True, timeout=900,
                             stdin=subprocess.DEVNULL, cwd=cls.agentd.tmp)
        lines = [l for l in run.stdout.splitlines() if l.startswith("{")]
        seen = json.loads(lines[-1]) if lines else {}
        if run.returncode == 3 and "chromium_error" in seen:
            raise unittest.SkipTest("chromium cannot start here: " + seen["chromium_error"])
        assert run.returncode == 0 and lines, (run.returncode, run.stdout[-2000:],
                                               run.stderr[-2000:])
        return seen

    def step(self, name):
        self.assertIn(name, self.seen["steps"], "the browser failed at %s: %s (screenshot "
                      "failed-%s.png in %s)" % (self.seen.get("failed_step"),
                                                self.seen.get("error"),
                                                self.seen.get("failed_step"), self.out))

    def test_login_once_with_an_http_only_cookie(self):
        self.step("login")
        self.assertTrue(self.seen["login_explains_token"], "the login page says where the token is")
        self.assertIn("not the gateway's token", self.seen["bad_login_error"])
        self.assertIn(USER, self.seen["who"])
        self.assertTrue(self.seen["cookie_http_only"])
        self.assertFalse(self.seen["cookie_visible_to_script"])

    def test_daemons_are_shown_healthy_with_what_they_are(self):
        self.step("health")
        for name in ("agentd", "watch"):
            d = self.seen["daemons"].get(name)
            self.assertTrue(d and d["up"], "%s not shown healthy: %r" % (name, d))
        self.assertIn("ledger", self.seen["daemons"]["agentd"]["text"])
        self.assertIn("SafeSwitch", self.seen["daemons"]["watch"]["text"])
        # egress and keyd are not started here: shown as down, not as healthy
        self.assertFalse(self.seen["daemons"]["egress"]["up"])

    def test_approval_is_decided_in_agentd_naming_the_dashboard_user(self):
        self.step("approve")
        self.assertIn("capability_mint", self.seen["approval_text"])
        self.assertIn("approved", self.seen["approval_decision"])
        aid = self.approval["approval_id"]
        st, a = request(self.agentd.sock, "GET", "/approval/" + aid)
        self.assertEqual(st, 200, a)
        self.assertEqual(a["status"], "approved")
        st, log = self.agentd.request("GET", "/events/log?type=approval.approved&limit=50")
        self.assertEqual(st, 200, log)
        decided = [json.loads(e["payload"]) for e in log]
        mine = [p for p in decided if p.get("id") == aid]
        self.assertEqual(len(mine), 1, decided)
        self.assertEqual(mine[0].get("on_behalf_of"), USER, "the decision names the dashboard user")

    def test_ledger_proof_and_verification(self):
        self.step("ledger")
        self.assertGreater(self.seen["ledger_rows"], 0)
        self.assertGreater(self.seen["search_rows"], 0, "the search finds the decision just made")
        self.assertLess(self.seen["search_rows"], self.seen["ledger_rows"])
        self.assertIn("Inclusion proof", self.seen["proof_text"])
        self.assertIn("good", self.seen["verify_class"], self.seen["verify_text"])
        self.assertIn("verified", self.seen["verify_text"])

    def test_safeswitch_rollback_is_in_the_history(self):
        self.step("switch")
        text = self.seen["switch_text"]
        self.assertIn("rolled back", text)
        self.assertIn("health check failed", text)
        self.assertIn(self.conf, text, "the plan's file and its check are shown")
        with open(self.conf) as f:
            self.assertEqual(f.read(), "mode = old\n")

    def test_services_page(self):
        self.step("services")
        self.assertFalse(self.seen["services_error"], self.seen["services_text"])
        self.assertIn("demo-web", self.seen["services_text"])
        self.assertIn("demo-port", self.seen["services_text"])

    def test_emergency_asks_before_acting(self):
        self.step("emergency")
        self.assertIn("Only root lifts it", self.seen["emergency_question"])
        self.assertEqual(self.seen["emergency_posts_after_cancel"], 0)

    def test_chat_without_a_driver_shows_how_to_configure_one(self):
        self.step("chat")
        self.assertTrue(self.seen["chat_guidance"], self.seen["chat_text"])
        self.assertIn("No agent is configured", self.seen["chat_text"])

    def test_phone_layout_has_no_sideways_scroll(self):
        self.step("phone")
        self.assertLessEqual(self.seen["phone_overflow_px"], 0)

    def test_only_loopback_no_csp_violation_no_script_error(self):
        self.step("phone")
        self.assertEqual(self.seen["outside"], [])
        self.assertEqual(self.seen["page_errors"], [])
        csp = [m for m in self.seen["console_errors"] if "Content Security Policy" in m]
        self.assertEqual(csp, [])

    def test_screenshots_saved(self):
        self.step("phone")
        shots = sorted(f for f in os.listdir(self.out) if f.endswith(".png"))
        self.assertGreaterEqual(len(shots), 11, shots)
        self.assertFalse([f for f in shots if f.startswith("failed-")])

    def test_daemons_survived_without_sanitizer_reports(self):
        # checked after the browser run: the daemons stayed up through every page
        self.assertTrue(self.gateway.alive() and self.watch.alive() and self.agentd.alive())
        for d in (self.agentd, self.watch, self.gateway):
            self.assertEqual(d.sanitizer_errors(), "")


if __name__ == "__main__":
    unittest.main()
