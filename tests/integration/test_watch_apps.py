"""Apps on osmoda-watch's process backend, with real processes: app_deploy held for a person by
the default policy and run after the approval on agentd (never as root), the app tools, the
registry in apps.json surviving a restart of watch, and bad input refused with nothing changed."""
import json
import os
import pwd
import unittest

from osmtest import WatchTestCase
from test_watch_process import pid_alive, wait_until


def uid_of(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    raise AssertionError("no Uid line")


class Apps(WatchTestCase):
    def tearDown(self):
        """WatchTestCase's, reading watch's stderr after it exited (leak reports come then)."""
        alive = self.watch.alive()
        self.watch.stop()
        self.agentd.stop()
        reports = (self.agentd.sanitizer_errors(), self.watch.sanitizer_errors())
        self.agentd.cleanup()
        self.assertTrue(alive, "osmoda-watch died during the test")
        self.assertEqual(reports, ("", ""), "sanitizer reports")

    def deploy(self, name, command="/bin/sleep", args=("3600",), **extra):
        body = {"name": name, "command": command, "args": list(args)}
        body.update(extra)
        return self.watch.request("POST", "/app/deploy", body)

    def apps(self):
        st, r = self.watch.request("GET", "/app/list")
        self.assertEqual(st, 200, r)
        return {a["name"]: a for a in r}

    def registry(self):
        path = os.path.join(self.watch.data_dir, "apps.json")
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return {a["name"]: a for a in json.load(f)}

    def test_deploy_through_the_agent_is_held_then_runs_unprivileged(self):
        st, r = self.watch.call("app_deploy", {"name": "web", "command": "/bin/sleep",
                                               "args": ["3600"]})
        self.assertEqual(st, 202, r)
        self.assertEqual(r["status"], "pending", r)
        self.assertEqual(self.apps(), {})
        self.assertEqual(self.watch.events("app."), [])
        st, a = self.agentd.request("POST", "/approval/%s/approve" % r["approval_id"], {})
        self.assertEqual(st, 200, a)
        app = wait_until("the app to run", lambda: self.apps().get("web", {}).get("main_pid"))
        self.assertTrue(pid_alive(app))
        with open(f"/proc/{app}/cmdline", "rb") as f:
            self.assertEqual(f.read(), b"/bin/sleep\x003600\x00")
        if os.geteuid() == 0:
            self.assertEqual(uid_of(app), pwd.getpwnam("nobody").pw_uid)
        else:
            self.assertEqual(uid_of(app), os.geteuid())
        deploys = self.watch.events("app.deploy")
        self.assertEqual([p["name"] for t, p in deploys], ["web"])
        self.assertEqual(deploys[0][1]["unit"], "osmoda-app-web")
        st, r = self.watch.call("app_list")
        self.assertEqual((st, r["status"]), (200, "ok"), r)
        self.assertEqual([a["name"] for a in r["result"]["items"]], ["web"])

    def test_stop_restart_logs_remove(self):
        st, r = self.deploy("echo", "/bin/sh", ["-c", "echo hello from $0; exec sleep 3600"],
                            env={"GREETING": "hi"})
        self.assertEqual(st, 200, r)
        pid = wait_until("echo running", lambda: self.apps()["echo"].get("main_pid"))
        st, r = self.watch.call("app_logs", {"name": "echo", "lines": 10})
        self.assertEqual((st, r["status"]), (200, "ok"), r)
        wait_until("the greeting in the log", lambda: any(
            "hello from" in l for l in self.watch.request(
                "GET", "/app/logs?name=echo&lines=10")[1]["lines"]))
        st, r = self.watch.request("POST", "/app/echo/stop")
        self.assertEqual((st, r["status"]), (200, "stopped"), r)
        self.assertFalse(pid_alive(pid))
        self.assertEqual(self.apps()["echo"]["status"], "stopped")
        self.assertEqual(self.registry()["echo"]["status"], "stopped")
        st, r = self.watch.request("POST", "/app/echo/restart")
        self.assertEqual((st, r["status"]), (200, "running"), r)
        pid2 = self.apps()["echo"]["main_pid"]
        self.assertTrue(pid2 and pid2 != pid and pid_alive(pid2))
        st, r = self.watch.request("POST", "/app/echo/remove")
        self.assertEqual((st, r["status"]), (200, "removed"), r)
        self.assertFalse(pid_alive(pid2))
        self.assertEqual(self.apps(), {})
        self.assertEqual(self.registry()["echo"]["status"], "removed")
        st, r = self.watch.request("POST", "/app/echo/remove")  # idempotent
        self.assertEqual(st, 200, r)
        self.assertEqual([t for t, p in self.watch.events("app.")],
                         ["app.deploy", "app.stop", "app.restart", "app.remove"])
        self.assertEqual(self.watch.events("app.deploy")[0][1]["env_keys"], ["GREETING"])
        self.assertNotIn("hi", json.dumps(self.watch.events("app.deploy")))
        # a removed name can be deployed again
        st, r = self.deploy("echo")
        self.assertEqual(st, 200, r)

    def test_registry_survives_a_restart_of_watch(self):
        self.assertEqual(self.deploy("keep")[0], 200)
        self.assertEqual(self.deploy("idle")[0], 200)
        self.assertEqual(self.watch.request("POST", "/app/idle/stop")[0], 200)
        keep = self.apps()["keep"]["main_pid"]
        self.watch.stop()
        self.assertFalse(pid_alive(keep))
        reg = self.registry()
        self.assertEqual({n: a["status"] for n, a in reg.items()},
                         {"keep": "running", "idle": "stopped"})
        self.assertEqual(reg["keep"]["command"], "/bin/sleep")
        self.assertRegex(reg["keep"]["deployed_at"], r"^\d{4}-\d\d-\d\dT")
        self.watch.start()
        apps = self.apps()
        self.assertEqual(apps["keep"]["active_state"], "active")
        self.assertTrue(pid_alive(apps["keep"]["main_pid"]))
        self.assertNotEqual(apps["keep"]["main_pid"], keep)
        self.assertEqual((apps["idle"]["status"], apps["idle"]["active_state"]),
                         ("stopped", "inactive"))
        st, r = self.watch.request("POST", "/app/idle/restart")
        self.assertEqual(st, 200, r)
        self.assertTrue(pid_alive(self.apps()["idle"]["main_pid"]))

    def test_bad_input_changes_nothing(self):
        self.assertEqual(self.deploy("one")[0], 200)
        before = self.registry()
        not_exec = os.path.join(self.agentd.tmp, "data.txt")
        with open(not_exec, "w") as f:
            f.write("not a program\n")
        os.chmod(not_exec, 0o644)
        cases = [
            ({"name": "a b"}, 422), ({"name": "x" * 65}, 422), ({"name": "../x"}, 422),
            ({"name": ""}, 422),
            ({"name": "ok", "command": "sleep"}, 422),
            ({"name": "ok", "command": "/no/such/program"}, 422),
            ({"name": "ok", "command": not_exec}, 422),
            ({"name": "ok", "args": ["a\u0000b"]}, 400),
            ({"name": "ok", "env": {"BAD KEY": "v"}}, 422),
            ({"name": "ok", "env": {"K": "v\u0000"}}, 400),
            ({"name": "ok", "working_dir": "relative"}, 422),
            ({"name": "ok", "restart_policy": "sometimes"}, 422),
            ({"name": "ok", "unknown_field": 1}, 422),
            ({"name": "ok", "memory_max": "64M"}, 422),
            ({"name": "one"}, 409),
        ]
        for fields, code in cases:
            body = {"command": "/bin/sleep", "args": ["3600"]}
            body.update(fields)
            st, r = self.watch.request("POST", "/app/deploy", body)
            self.assertEqual(st, code, (fields, r))
        for path, code in (("/app/nosuch/stop", 404), ("/app/nosuch/restart", 404),
                           ("/app/nosuch/remove", 404), ("/app/bad%20name/stop", 422)):
            st, r = self.watch.request("POST", path)
            self.assertEqual(st, code, (path, r))
        st, r = self.watch.request("GET", "/app/logs?name=nosuch")
        self.assertEqual(st, 404, r)
        self.assertEqual(self.registry(), before)
        self.assertEqual(list(self.apps()), ["one"])
        self.assertEqual([p["name"] for t, p in self.watch.events("app.deploy")], ["one"])
        self.assertEqual(self.watch.events("app.deploy_failed"), [])


if __name__ == "__main__":
    unittest.main()
