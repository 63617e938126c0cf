"""osmoda-egress's operator side: agentd's batch append (the door egress's events go through),
the operator API on egress.sock, the tools on egress-agent.sock with their approvals, decisions
reaching the ledger, and failing closed while agentd is away."""
import json
import os
import unittest

from osmtest import AgentdTestCase, request, run_ctl


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
