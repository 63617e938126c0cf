"""Jobs: a long command returns a handle and keeps running (only the activity timeout or job_kill
end it); its output streams by offset; job_kill kills the whole group; a silent job is killed by
the activity timeout; and a job survives agentd's SIGKILL and restart with its exit status and
output tail readable afterwards. Jobs that should run in the background are started through an
approval (the policy file sends commands marked "bg-job" to a person), which releases them
without an inline wait."""
import json
import os
import shutil
import signal
import sqlite3
import time
import unittest

from osmtest import Agentd, wait_for

POLICY = {"rules": [{"tool": "shell_exec", "command_pattern": "bg-job", "decision": "approve"}]}
ACTIVITY_S = 3


def cmdline(pid):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            return f.read()
    except OSError:
        return b""


def sleepers_in(procs):
    """The pids of the job's "sleep 300" and "sleep 301" once both run, else None."""
    with open(procs) as f:
        pids = f.read().split()
    found = [p for p in pids if cmdline(p) in (b"sleep\x00300\x00", b"sleep\x00301\x00")]
    return found if len(found) == 2 else None


class Jobs(unittest.TestCase):
    def setUp(self):
        if shutil.which("bwrap") is None:
            self.skipTest("bubblewrap is not installed (scripts/deps.sh)")
        if os.geteuid() != 0:
            self.skipTest("cgroup limits need root here (or --sandbox-cgroups=optional)")
        os.environ["OSMODA_JOB_ACTIVITY_TIMEOUT"] = str(ACTIVITY_S)
        self.agentd = Agentd()
        os.makedirs(self.agentd.state_dir, mode=0o700, exist_ok=True)
        path = os.path.join(self.agentd.state_dir, "policy.json")
        with open(path, "w") as f:
            json.dump(POLICY, f)
        os.chmod(path, 0o600)
        self.agentd.start()

    def tearDown(self):
        os.environ.pop("OSMODA_JOB_ACTIVITY_TIMEOUT", None)
        # no job outlives its test: end every runner still going (SIGTERM = job_kill)
        jobs = os.path.join(self.agentd.state_dir, "jobs")
        for name in os.listdir(jobs) if os.path.isdir(jobs) else ():
            if name.endswith(".run") and not os.path.exists(os.path.join(jobs, name[:-4] + ".exit")):
                try:
                    with open(os.path.join(jobs, name)) as f:
                        os.kill(json.load(f)["runner_pid"], signal.SIGTERM)
                except (OSError, ValueError, KeyError):
                    pass
        self.agentd.stop()
        self.agentd.cleanup()

    def tool(self, name, args):
        st, r = self.agentd.call_tool(name, args)
        self.assertEqual(st, 200, r)
        return r

    def start_bg(self, command):
        st, r = self.agentd.call_tool("shell_exec", {"command": command + " # bg-job"})
        self.assertEqual((st, r["status"]), (202, "pending"), r)
        aid, jid = r["result"]["approval_id"], r["result"]["job_id"]
        st, a = self.agentd.request("POST", "/approval/%s/approve" % aid, {"decided_by": "test"})
        self.assertEqual(st, 200, a)
        return jid

    def status(self, jid, **kw):
        r = self.tool("job_status", dict({"job_id": jid}, **kw))
        self.assertEqual(r["status"], "ok", r)
        return r["result"]

    def wait_status(self, jid, want, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.status(jid)
            if s["status"] in want:
                return s
            time.sleep(0.1)
        self.fail("job %s never reached %s: %s" % (jid, want, s))

    def wait_output(self, jid, text, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.status(jid)
            if text in s["output"]:
                return s
            time.sleep(0.1)
        self.fail("job %s never printed %r: %s" % (jid, text, s))

    def job_file(self, jid, ext):
        return os.path.join(self.agentd.state_dir, "jobs", "%s.%s" % (jid, ext))

    def runner_pid(self, jid):
        with open(self.job_file(jid, "run")) as f:
            return json.load(f)["runner_pid"]

    def test_short_command_answers_inline(self):
        st, r = self.agentd.call_tool("shell_exec", {"command": "echo out; echo err >&2; exit 4"})
        self.assertEqual(st, 200, r)
        res = r["result"]
        self.assertEqual((res["status"], res["exit_code"]), ("exited", 4), r)
        self.assertEqual(res["output"], "out\nerr\n")  # stdout and stderr merged, in order
        self.assertTrue(res["job_id"])
        st, rows = self.agentd.request("GET", "/events/log?type=job.end&limit=10")
        self.assertEqual(json.loads(rows[0]["payload"])["id"], res["job_id"])

    def test_streamed_output_by_offset_and_wait(self):
        jid = self.start_bg("for i in 1 2 3; do echo line$i; sleep 0.5; done; exit 5")
        s = self.wait_status(jid, ("running",))
        seen, offset = "", 0
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            s = self.status(jid, offset=offset)
            self.assertEqual(s["output_offset"], offset)
            seen += s["output"]
            offset = s["next_offset"]
            if s["status"] != "running" and not s["output_more"]:
                break
            time.sleep(0.2)
        self.assertEqual(seen, "line1\nline2\nline3\n")
        r = self.tool("job_wait", {"job_id": jid, "timeout_ms": 5000})
        self.assertEqual((r["result"]["status"], r["result"]["exit_code"]), ("exited", 5))
        self.assertFalse(r["result"]["timed_out"])

    def test_job_wait_is_bounded_and_does_not_kill(self):
        jid = self.start_bg("while true; do echo tick; sleep 1; done")
        t0 = time.monotonic()
        r = self.tool("job_wait", {"job_id": jid, "timeout_ms": 1500})
        self.assertLess(time.monotonic() - t0, 5)
        self.assertTrue(r["result"]["timed_out"])
        self.assertEqual(r["result"]["status"], "running")
        # a chatty job outlives the activity timeout: it still prints well after the point
        # where a timeout counted from its start would have killed it
        self.wait_output(jid, "tick\n" * (ACTIVITY_S + 2))
        self.assertEqual(self.status(jid)["status"], "running")
        self.tool("job_kill", {"job_id": jid})

    def test_job_kill_kills_the_whole_group(self):
        jid = self.start_bg("setsid sleep 300 & (sleep 301 &) ; while true; do echo x; "
                            "sleep 0.5; done")
        self.wait_status(jid, ("running",))
        with open(self.job_file(jid, "run")) as f:
            run = json.load(f)
        group = run["cgroup"].get("pids") or run["cgroup"]["unified"]  # v1, or pure v2
        procs = os.path.join(group, "cgroup.procs")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the runner, bwrap, the shell and its sleepers
            with open(procs) as f:
                if len(f.read().split()) >= 3:
                    break
            time.sleep(0.05)
        sleepers = wait_for(lambda: sleepers_in(procs), "the job's two sleepers")
        r = self.tool("job_kill", {"job_id": jid})
        self.assertEqual(r["result"]["status"], "killed", r)
        self.assertEqual(r["result"]["reason"], "job_kill")
        # every process of the job is gone, including those that left its session (this job's
        # own sleepers: other runs of this test may have theirs on the machine)
        self.assertFalse(os.path.exists(procs) and open(procs).read().split())
        survivors = [p for p in sleepers if cmdline(p) in (b"sleep\x00300\x00",
                                                          b"sleep\x00301\x00")]
        self.assertEqual(survivors, [], "sleepers survived job_kill")
        with open(self.job_file(jid, "exit")) as f:
            self.assertEqual(json.load(f)["status"], "killed")

    def test_activity_timeout_kills_a_silent_job(self):
        jid = self.start_bg("echo started; sleep 600")
        t0 = time.monotonic()
        s = self.wait_status(jid, ("killed", "exited"), timeout=ACTIVITY_S + 10)
        self.assertEqual(s["status"], "killed", s)
        self.assertEqual(s["reason"], "activity_timeout")
        self.assertGreaterEqual(time.monotonic() - t0, ACTIVITY_S - 1)
        self.assertEqual(s["output"], "started\n")

    def test_job_survives_agentd_sigkill_and_restart(self):
        jid = self.start_bg("echo begin; sleep 2; echo mid; sleep 2; echo the-end; exit 7")
        self.wait_status(jid, ("running",))
        runner = self.runner_pid(jid)
        self.agentd.kill()  # SIGKILL: no shutdown at all
        os.kill(runner, 0)  # the runner lives on
        deadline = time.monotonic() + 20
        while not os.path.exists(self.job_file(jid, "exit")) and time.monotonic() < deadline:
            time.sleep(0.1)  # the runner, not agentd, writes the exit status
        self.assertTrue(os.path.exists(self.job_file(jid, "exit")))
        self.agentd.start()
        s = self.wait_status(jid, ("exited",), timeout=10)
        self.assertEqual(s["exit_code"], 7)
        self.assertEqual(s["output"], "begin\nmid\nthe-end\n")
        # the record of the finish is in the ledger, made by the new agentd
        st, rows = self.agentd.request("GET", "/events/log?type=job.end&limit=50")
        self.assertIn(jid, [json.loads(e["payload"])["id"] for e in rows])

    def test_running_job_reattached_after_restart(self):
        jid = self.start_bg("echo a; sleep 2; echo b")
        self.wait_status(jid, ("running",))
        self.agentd.kill()
        self.agentd.start()
        s = self.status(jid)
        self.assertEqual(s["status"], "running")
        s = self.tool("job_wait", {"job_id": jid, "timeout_ms": 10000})["result"]
        self.assertEqual((s["status"], s["exit_code"], s["output"]), ("exited", 0, "a\nb\n"))

    def test_sandbox_unavailable_fails_closed(self):
        self.agentd.stop()
        os.environ["OSMODA_BWRAP"] = "/nonexistent/bwrap"
        try:
            self.agentd.start()
            marker = os.path.join(self.agentd.tmp, "ran")
            st, r = self.agentd.call_tool("shell_exec", {"command": "touch " + marker})
        finally:
            os.environ.pop("OSMODA_BWRAP")
        res = r.get("result", {})
        self.assertEqual(res.get("status"), "failed", r)
        self.assertEqual(res.get("error"), "sandbox_unavailable", r)
        self.assertFalse(os.path.exists(marker))
        db = sqlite3.connect(os.path.join(self.agentd.state_dir, "ledger.db"))
        row = db.execute("SELECT status, error FROM jobs WHERE id = ?", (res["job_id"],)).fetchone()
        self.assertEqual(row, ("failed", "sandbox_unavailable"))


if __name__ == "__main__":
    unittest.main()
