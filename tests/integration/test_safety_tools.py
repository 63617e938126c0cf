"""The safety_* tools on watch: each records its safety.* event before acting; panic stops the
osModa services with the gateway last and never watch or agentd (absent units are reported,
not failures); status answers on the agent socket; under the process backend restart says
that watch does not restart itself."""
import unittest

from osmtest import WatchTestCase

ORDER = ["osmoda-keyd", "osmoda-routines", "osmoda-mesh", "osmoda-mcpd", "osmoda-teachd",
         "osmoda-voice", "osmoda-egress", "osmoda-gateway"]


class SafetyTools(WatchTestCase):
    watch_args = ("--fim-path", "/nonexistent-fim-root")

    def test_panic_records_first_and_keeps_watch_and_agentd(self):
        st, ans = self.watch.request("POST", "/safety/panic")
        self.assertEqual(st, 200, ans)
        self.assertEqual(list(ans["services"]), ORDER)
        self.assertEqual(set(ans["services"].values()), {"absent"})
        (t, p), = self.watch.events("safety.panic")
        self.assertEqual(p["services"], ORDER)
        self.assertNotIn("osmoda-watch", p["services"])
        self.assertEqual(self.watch.request("GET", "/health")[0], 200)
        self.assertEqual(self.agentd.request("GET", "/health")[0], 200)

    def test_restart_under_the_process_backend(self):
        st, ans = self.watch.request("POST", "/safety/restart")
        self.assertEqual(st, 200, ans)
        self.assertIn("not restarted", ans["watch"])
        self.assertEqual([t for t, _ in self.watch.events("safety.")], ["safety.restart"])

    def test_status_is_a_read_tool_for_agents(self):
        st, ans = self.watch.call("safety_status")
        self.assertEqual(st, 200, ans)
        self.assertFalse(ans["result"]["lockdown"])
        self.assertFalse(ans["result"]["frozen"])

    def test_panic_by_an_agent_waits_for_a_person(self):
        st, ans = self.watch.call("safety_panic")
        self.assertEqual((st, ans["status"]), (202, "pending"), ans)
        self.assertEqual(self.watch.events("safety."), [])

    def test_nothing_happens_when_the_ledger_is_down(self):
        self.agentd.stop()
        st, ans = self.watch.request("POST", "/safety/panic")
        self.assertEqual(st, 503, ans)
        self.assertEqual(ans["error"], "ledger_unavailable")
        self.agentd.start()


if __name__ == "__main__":
    unittest.main()
