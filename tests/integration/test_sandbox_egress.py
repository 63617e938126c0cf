"""The ring-2 sandbox's one way out, through agentd's real path (shell_exec / sandbox_exec on the
agent socket, the real job runner, bwrap, osmoda-sandbox-init and its relay). Here the agent
principal's socket <run>/egress-proxy/agent.sock is served by a small HTTP responder of the
test's own, a stand-in for osmoda-egress that records what reached it and who connected (the
real proxy and its ACL are tested end to end in tests/system/test_egress_sandbox.py): the command
sees HTTP(S)_PROXY, its requests arrive on the socket through the relay as the sandbox uid, the
relay dies with the sandbox, a direct connection to the host fails, and without egress a call
that needs the network fails with egress_unavailable while plain commands still run."""
import hashlib
import json
import os
import select
import shutil
import socket
import struct
import threading
import unittest

from osmtest import Agentd, wait_for

BULK = 2 * 1024 * 1024


class StandInProxy:
    """Answers every request on a unix socket with 200 and a body naming its request line (or,
    for /bulk, BULK bytes); remembers request lines and the peer uid of each connection."""

    def __init__(self, path):
        self.path = path
        self.lines, self.uids = [], []
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)  # as osmoda-egress: the directory decides who reaches it
        self.sock.listen(16)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def answer(self, conn):
        with conn:
            cred = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            self.uids.append(struct.unpack("3i", cred)[1])
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            line = head.split(b"\r\n", 1)[0].decode()
            self.lines.append(line)
            body = (bytes(range(256)) * (BULK // 256) if line.split()[1].endswith("/bulk")
                    else ("relayed: %s\n" % line).encode())
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                         % len(body) + body)

    def close(self):
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread: nothing is served
        self.sock.close()


def need_bwrap(test):
    if not shutil.which("bwrap"):
        test.skipTest("bubblewrap is not installed")


class SandboxEgress(unittest.TestCase):
    def setUp(self):
        need_bwrap(self)
        self.agentd = Agentd(args=["--sandbox-cgroups", "optional"]).start()
        self.sock_path = os.path.join(self.agentd.run_dir, "egress-proxy", "agent.sock")
        self.proxy = None

    def tearDown(self):
        if self.proxy:
            self.proxy.close()
        alive = self.agentd.alive()
        self.agentd.stop()
        report = self.agentd.sanitizer_errors()
        self.agentd.cleanup()
        self.assertTrue(alive, "agentd died during the test")
        self.assertEqual(report, "", "sanitizer report from agentd")

    def shell(self, command, **args):
        st, r = self.agentd.call_tool("shell_exec", dict({"command": command}, **args))
        self.assertEqual(st, 200, r)
        self.assertEqual(r["status"], "ok", r)
        return r["result"]

    def test_requests_leave_through_the_relay_as_the_sandbox_uid(self):
        self.proxy = StandInProxy(self.sock_path)
        res = self.shell("env | grep -i _proxy | sort; "
                         "curl -sS --max-time 20 http://example.test/hello")
        out = res["output"]
        self.assertEqual(res["exit_code"], 0, res)
        for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            self.assertIn("%s=http://127.0.0.1:19999" % var, out)
        self.assertIn("relayed: GET http://example.test/hello HTTP/1.1", out)
        self.assertEqual(self.proxy.lines, ["GET http://example.test/hello HTTP/1.1"])
        if os.geteuid() == 0:
            self.assertEqual(self.proxy.uids, [65534])  # the relay dropped root

    def test_bulk_download_arrives_whole(self):
        self.proxy = StandInProxy(self.sock_path)
        res = self.shell("curl -sS --max-time 60 -o /workspace/bulk http://example.test/bulk "
                         "&& sha256sum /workspace/bulk")
        want = hashlib.sha256(bytes(range(256)) * (BULK // 256)).hexdigest()
        self.assertEqual(res["exit_code"], 0, res)
        self.assertIn(want, res["output"])

    def test_no_other_way_out(self):
        self.proxy = StandInProxy(self.sock_path)
        host = socket.socket()
        host.bind(("127.0.0.1", 0))
        host.listen(4)
        port = host.getsockname()[1]
        try:
            res = self.shell(
                "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '; "
                "curl -sS --noproxy '*' --max-time 5 http://127.0.0.1:%d/; echo curl=$?; "
                "python3 -c \"import socket; socket.socket().bind(('127.0.0.1', 0))\" 2>&1 "
                "| tail -1; echo end" % port)
            host.setblocking(False)
            with self.assertRaises(BlockingIOError):
                host.accept()  # nothing from the sandbox reached the host's loopback
        finally:
            host.close()
        out = res["output"]
        self.assertIn("end", out)
        self.assertEqual(out.split("\n")[0], "lo")  # its own namespace: loopback only
        self.assertNotIn("\neth", out)
        self.assertIn("curl=7", out)  # refused: nothing listens there in the sandbox
        self.assertIn("PermissionError", out)  # Landlock: no TCP bind at all
        self.assertEqual(self.proxy.lines, [])

    def relay_pids(self, runner_child):
        """Host pids of processes named egress-relay below runner_child."""
        parents, names = {}, {}
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % p) as f:
                    stat = f.read()
            except OSError:
                continue
            names[int(p)] = stat[stat.index("(") + 1:stat.rindex(")")]
            parents[int(p)] = int(stat[stat.rindex(")") + 2:].split()[1])
        out = []
        for pid, name in names.items():
            q = pid
            while name == "egress-relay" and q in parents and q > 1:
                q = parents[q]
                if q == runner_child:
                    out.append(pid)
                    break
        return out

    def test_relay_dies_with_the_sandbox(self):
        self.proxy = StandInProxy(self.sock_path)
        st, r = self.agentd.call_tool("shell_exec", {"command": "sleep 60", "timeout": 200})
        self.assertEqual(r["status"], "ok", r)
        job = r["result"]["id"] if "id" in r["result"] else r["result"]["job_id"]
        with open(os.path.join(self.agentd.state_dir, "jobs", job + ".run")) as f:
            child = json.load(f)["child_pid"]
        pids = wait_for(lambda: self.relay_pids(child), "the relay of the job")
        self.assertEqual(len(pids), 1, pids)
        with open("/proc/%d/status" % pids[0]) as f:
            status = f.read()
        self.assertIn("NoNewPrivs:\t1", status)
        self.assertIn("Seccomp:\t2", status)
        if os.geteuid() == 0:
            self.assertRegex(status, r"Uid:\t65534\t65534\t65534\t65534")
            self.assertRegex(status, r"CapEff:\t0+\n")
        pidfd = os.pidfd_open(pids[0])
        st, r = self.agentd.call_tool("job_kill", {"job_id": job})
        self.assertEqual(st, 200, r)
        self.assertEqual(select.select([pidfd], [], [], 30)[0], [pidfd],
                         "the relay outlived its sandbox")
        os.close(pidfd)

    def test_without_egress(self):
        # plain commands still run, with no proxy and no network
        res = self.shell("env | grep -ci _proxy; echo end")
        self.assertEqual(res["output"].split(), ["0", "end"])
        # asking for the network fails before anything runs
        st, r = self.agentd.call_tool("sandbox_exec", {"command": "touch /workspace/ran",
                                                      "network": True}, operator=True)
        self.assertEqual(r.get("error"), "egress_unavailable", r)
        self.assertIn("osmoda-egress is not running", json.dumps(r))
        self.assertFalse(os.path.exists(os.path.join(self.agentd.state_dir, "workspace", "ran")))

    def test_egress_gone_answers_503(self):
        # a socket left behind by an osmoda-egress that died (bound, nobody listening): the
        # sandbox still gets it, and the relay says egress is down
        os.makedirs(os.path.dirname(self.sock_path), mode=0o700)
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(self.sock_path)
        stale.close()
        res = self.shell("curl -sS --max-time 10 -o /dev/null -w '%{http_code}\\n' "
                         "http://example.test/; echo curl=$?")
        self.assertIn("503", res["output"])

if __name__ == "__main__":
    unittest.main()
