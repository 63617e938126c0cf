"""spec_kit_init / spec_kit_run through the real tool path: sandboxed jobs in the workspace, the
exact command recorded, values quoted so that arguments cannot inject shell."""
import json
import os
import shutil
import socket
import sqlite3
import time
import unittest

from osmtest import AgentdTestCase


class SpecKit(AgentdTestCase):
    def job_commands(self):
        db = sqlite3.connect(os.path.join(self.agentd.state_dir, "ledger.db"))
        # the exact command each sandboxed process ran, recorded with its job
        rows = [c for (c,) in db.execute("SELECT command FROM jobs WHERE tool LIKE 'spec_kit_%'"
                                         " AND command IS NOT NULL ORDER BY created_at")]
        db.close()
        return rows

    def test_init_makes_the_project_in_the_workspace(self):
        st, r = self.agentd.call_tool("spec_kit_init",
                                      {"project_name": "My App! v2", "integration": "codex"})
        self.assertEqual(st, 200, r)
        res = r["result"]
        self.assertEqual(res["project_path"], "/workspace/my-app-v2")
        ws = os.path.join(self.agentd.state_dir, "workspace")
        self.assertTrue(os.path.isdir(os.path.join(ws, "my-app-v2")))  # made inside the sandbox
        if shutil.which("specify") is None:  # the real CLI is not on this host: an honest failure
            self.assertEqual(res["exit_code"], 127, res)
            self.assertIn("specify", res["output"])
        self.assertEqual(self.job_commands(),
                         ["mkdir -p /workspace/my-app-v2 && cd /workspace/my-app-v2 && "
                          "specify init --here --integration 'codex' --no-git --force"])

    def test_bad_project_names_and_paths_are_refused(self):
        st, r = self.agentd.call_tool("spec_kit_init", {"project_name": "!!!"})
        self.assertEqual((st, r["status"]), (200, "error"), r)
        self.assertIn("invalid_arguments", json.dumps(r))
        st, r = self.agentd.call_tool("spec_kit_init", {"project_name": "x", "integration": "vim"})
        self.assertEqual(st, 422, r)

    def egress_socket(self):
        """A listening socket where osmoda-egress serves the agent principal: the run's coding
        agent needs the network, so without one it does not start."""
        d = os.path.join(self.agentd.run_dir, "egress-proxy")
        os.makedirs(d, mode=0o700, exist_ok=True)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(os.path.join(d, "agent.sock"))
        s.listen(4)
        self.addCleanup(s.close)

    def approved_run(self, prompt):
        st, r = self.agentd.call_tool("spec_kit_run", {"project_path": "/workspace/p",
                                                      "command": "specify", "prompt": prompt})
        self.assertEqual(st, 202, r)  # privileged: waits for a person
        self.assertEqual(r["status"], "pending")
        jid = r["job_id"]
        st, a = self.req("POST", "/approval/%s/approve" % r["approval_id"], {})
        self.assertEqual(st, 200, a)
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline and status is None:
            st, rows = self.req("GET", "/events/log?type=job.end&limit=20")
            ends = [json.loads(e["payload"]) for e in rows]
            status = next((e for e in ends if e["id"] == jid), None)
            time.sleep(0.2)
        self.assertIsNotNone(status, "the approved job did not finish")
        return status

    def test_run_without_egress_does_not_start(self):
        self.agentd.call_tool("spec_kit_init", {"project_name": "p"})
        end = self.approved_run("hello")
        self.assertEqual(end.get("error"), "egress_unavailable", end)
        self.assertEqual(len(self.job_commands()), 1)  # only the init ran

    def test_run_is_approved_first_and_its_prompt_cannot_inject(self):
        self.agentd.call_tool("spec_kit_init", {"project_name": "p"})
        self.egress_socket()
        evil = "'; touch /workspace/pwned; echo '"
        self.approved_run(evil)
        self.assertFalse(os.path.exists(os.path.join(self.agentd.state_dir, "workspace", "pwned")))
        quoted = "'/speckit-specify " + evil.replace("'", "'\\''") + "'"
        self.assertTrue(self.job_commands()[-1].endswith("-- " + quoted), self.job_commands())
        st, r = self.agentd.call_tool("spec_kit_run", {"project_path": "/etc", "command": "plan"})
        self.assertIn(r["status"], ("pending", "error"))


if __name__ == "__main__":
    unittest.main()
