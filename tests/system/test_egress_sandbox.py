"""The sandbox's one way out, end to end with real components: agentd and osmoda-egress in a
network namespace of the test's, joined by a veth to an upstream namespace that holds a TLS
server (python ssl, a CA and certificate made by openssl for allowed.test, denied.test and the
upstream address). osmoda-egress resolves the two names from a hosts file, its ACL lets the
"agent" principal reach allowed.test:443 only, and nftables in the test namespace drop every
direct connection to the upstream except egress's own (it runs with a group of its own, matched
with meta skgid). Then, through agentd's shell_exec (ring 2: its own network namespace, the
egress socket bound in and relayed by osmoda-sandbox-init):
  curl --cacert ... https://allowed.test   succeeds through the proxy;
  curl ... https://denied.test             fails with the proxy's 403;
  curl --noproxy '*' https://<upstream>    fails (no route out of the sandbox);
and agentd's ledger holds egress.allow and egress.deny for principal "agent". Outside the
sandbox the nftables rule is shown to be what lets egress through: root in the test namespace
cannot reach the upstream directly, root with egress's group can. Skips with the reason when
bwrap, nft, ip netns, openssl or curl cannot run."""
import json
import os
import shutil
import subprocess
import tempfile
import textwrap
import unittest

from osmtest import Agentd, Egress, binary, wait_for

EGRESS_GID = 47219  # the group egress runs under; nftables lets only it reach the upstream

UPSTREAM_SERVER = textwrap.dedent("""\
    import socket, ssl, sys, threading
    cert, key, addr, ready = sys.argv[1:5]
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, 443))
    srv.listen(16)
    open(ready, "w").close()
    def serve(c):
        try:
            with ctx.wrap_socket(c, server_side=True) as s:
                head = b""
                while b"\\r\\n\\r\\n" not in head:
                    d = s.recv(4096)
                    if not d:
                        return
                    head += d
                host = [l.split(b":", 1)[1].strip() for l in head.split(b"\\r\\n")
                        if l.lower().startswith(b"host:")]
                body = b"hello from upstream " + (host[0] if host else b"?") + b"\\n"
                s.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\n"
                          b"Connection: close\\r\\n\\r\\n" % len(body) + body)
        except (OSError, ssl.SSLError):
            pass
    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
""")


def run(*argv, check=True, timeout=30):
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          check=check)


def missing_requirement():
    """Why this machine cannot run the test, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, nftables)"
    for tool in ("bwrap", "nft", "ip", "openssl", "curl", "setpriv"):
        if not shutil.which(tool):
            return "%s is not installed" % tool
    r = run(binary("osmoda-egress"), "--help", check=False)
    if r.returncode != 0 and not (r.stdout + r.stderr).strip():
        return ("osmoda-egress is still the placeholder main on this branch (the proxy has "
                "not landed)")
    probe = "osmt-probe-%d" % os.getpid()
    r = run("ip", "netns", "add", probe, check=False)
    if r.returncode != 0:
        return "ip netns cannot run here: " + r.stderr.strip()
    try:
        r = run("ip", "netns", "exec", probe, "nft", "add", "table", "inet", "probe", check=False)
        if r.returncode != 0:
            return "nftables cannot run in a network namespace: " + r.stderr.strip()
    finally:
        run("ip", "netns", "del", probe, check=False)
    return None


class Net:
    """Two namespaces joined by a veth: "test" (agentd, egress) and "up" (the TLS server)."""

    def __init__(self, tmp):
        n = os.getpid() % 200 + 20
        self.test_ns, self.up_ns = "osmt-es-%d" % os.getpid(), "osmt-eu-%d" % os.getpid()
        self.test_ip, self.up_ip = "10.98.%d.1" % n, "10.98.%d.2" % n
        self.tmp = tmp
        self.server = None

    def up(self):
        for ns in (self.test_ns, self.up_ns):
            run("ip", "netns", "add", ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
        va, vb = "osmt-a%d" % (os.getpid() % 100000), "osmt-b%d" % (os.getpid() % 100000)
        run("ip", "link", "add", va, "netns", self.test_ns, "type", "veth", "peer", "name", vb,
            "netns", self.up_ns)
        run("ip", "-n", self.test_ns, "addr", "add", self.test_ip + "/24", "dev", va)
        run("ip", "-n", self.up_ns, "addr", "add", self.up_ip + "/24", "dev", vb)
        run("ip", "-n", self.test_ns, "link", "set", va, "up")
        run("ip", "-n", self.up_ns, "link", "set", vb, "up")
        rules = os.path.join(self.tmp, "rules.nft")
        with open(rules, "w") as f:
            f.write("table inet osmt {\n chain out {\n  type filter hook output priority 0;"
                    " policy accept;\n  ip daddr %s meta skgid != %d counter drop\n }\n}\n"
                    % (self.up_ip, EGRESS_GID))
        run("ip", "netns", "exec", self.test_ns, "nft", "-f", rules)

    def certs(self):
        """A CA and a server certificate for the two names and the upstream address."""
        d = self.tmp
        self.ca = os.path.join(d, "ca.pem")
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=osmoda test CA", "-keyout", os.path.join(d, "ca.key"), "-out", self.ca)
        run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=allowed.test",
            "-keyout", os.path.join(d, "srv.key"), "-out", os.path.join(d, "srv.csr"))
        with open(os.path.join(d, "san.ext"), "w") as f:
            f.write("subjectAltName=DNS:allowed.test,DNS:denied.test,IP:%s\n" % self.up_ip)
        run("openssl", "x509", "-req", "-in", os.path.join(d, "srv.csr"), "-CA", self.ca,
            "-CAkey", os.path.join(d, "ca.key"), "-CAcreateserial", "-days", "2",
            "-extfile", os.path.join(d, "san.ext"), "-out", os.path.join(d, "srv.pem"))

    def serve(self):
        script = os.path.join(self.tmp, "upstream.py")
        ready = os.path.join(self.tmp, "upstream.ready")
        with open(script, "w") as f:
            f.write(UPSTREAM_SERVER)
        self.server = subprocess.Popen(
            ["ip", "netns", "exec", self.up_ns, "python3", script,
             os.path.join(self.tmp, "srv.pem"), os.path.join(self.tmp, "srv.key"), self.up_ip,
             ready], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(ready), "the upstream TLS server")

    def exec_prefix(self):
        return ["ip", "netns", "exec", self.test_ns]

    def down(self):
        if self.server:
            self.server.kill()
            self.server.wait()
        for ns in (self.test_ns, self.up_ns):
            run("ip", "netns", "del", ns, check=False)


class NsAgentd(Agentd):
    """agentd started inside the test namespace."""

    def __init__(self, prefix, **kw):
        super().__init__(**kw)
        self.prefix = prefix

    def start(self, wait=True):
        env = dict(os.environ, OSMODA_STATE_DIR=self.state_dir, OSMODA_RUN_DIR=self.run_dir)
        self.stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(self.prefix + [binary("agentd"), "--socket", self.sock,
                                                    "--state-dir", self.state_dir] + self.args,
                                     stdin=subprocess.DEVNULL, stdout=self.stderr,
                                     stderr=self.stderr, env=env)
        if wait:
            self.wait_ready()
        return self


class NsEgress(Egress):
    """osmoda-egress inside the test namespace, with a group of its own (root's uid, so that it
    reaches agentd's daemons socket as every daemon of a dev run does)."""

    def __init__(self, agentd, prefix, args):
        super().__init__(agentd, args)
        self.prefix = prefix

    def command(self):
        return self.prefix + ["setpriv", "--regid", str(EGRESS_GID), "--clear-groups",
                              "--"] + super().command()


class EgressSandbox(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = missing_requirement()
        if why:
            raise unittest.SkipTest(why)
        cls.tmp = tempfile.mkdtemp(prefix="osmoda-egress-sandbox-")
        cls.net = Net(cls.tmp)
        try:
            cls.net.up()
            cls.net.certs()
            cls.net.serve()
            cls.start_daemons()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def start_daemons(cls):
        prefix = cls.net.exec_prefix()
        cls.agentd = NsAgentd(prefix, args=["--sandbox-cgroups", "optional"]).start()
        hosts = os.path.join(cls.tmp, "hosts")
        with open(hosts, "w") as f:
            f.write("%s allowed.test\n%s denied.test\n" % (cls.net.up_ip, cls.net.up_ip))
        acl = os.path.join(cls.tmp, "acl.json")
        with open(acl, "w") as f:
            json.dump({"principals": {"agent": {"mode": "enforce", "rules": [
                {"host": "allowed.test", "ports": [443], "addresses": [cls.net.up_ip]}]}}}, f)
        cls.egress = NsEgress(cls.agentd, prefix, ["--acl-file", acl, "--hosts-file", hosts,
                                                   "--listen", "none"])
        cls.egress.start()
        cls.principal_sock = os.path.join(cls.agentd.run_dir, "egress-proxy", "agent.sock")
        wait_for(lambda: os.path.exists(cls.principal_sock), "egress's socket for the agent")
        ws = os.path.join(cls.agentd.state_dir, "workspace")
        shutil.copy(cls.net.ca, os.path.join(ws, "ca.pem"))
        os.chmod(os.path.join(ws, "ca.pem"), 0o644)

    @classmethod
    def tearDownClass(cls):
        for d in ("egress", "agentd"):
            if getattr(cls, d, None):
                getattr(cls, d).stop()
        if getattr(cls, "net", None):
            cls.net.down()
        if getattr(cls, "agentd", None):
            cls.agentd.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def shell(self, command):
        st, r = self.agentd.call_tool("shell_exec", {"command": command, "timeout": 60000})
        self.assertEqual(st, 200, r)
        self.assertEqual(r["status"], "ok", r)
        return r["result"]

    def egress_events(self, etype):
        st, log = self.agentd.request("GET", "/events/log?type=%s&limit=1000" % etype)
        self.assertEqual(st, 200, log)
        return [json.loads(e["payload"]) for e in log]

    def test_allowed_denied_direct_and_the_ledger(self):
        res = self.shell("curl -sS --max-time 20 --cacert /workspace/ca.pem "
                         "https://allowed.test/")
        self.assertEqual(res["exit_code"], 0, res)
        self.assertIn("hello from upstream allowed.test", res["output"])

        res = self.shell("curl -sS --max-time 20 --cacert /workspace/ca.pem "
                         "https://denied.test/; echo curl=$?")
        self.assertNotIn("hello from upstream", res["output"])
        self.assertIn("403", res["output"])  # the proxy's answer to CONNECT
        self.assertNotIn("curl=0", res["output"])

        res = self.shell("curl -sS --noproxy '*' --max-time 5 --cacert /workspace/ca.pem "
                         "https://%s/; echo curl=$?" % self.net.up_ip)
        self.assertNotIn("hello from upstream", res["output"])
        self.assertNotIn("curl=0", res["output"])

        def decided(etype, host):
            return [e for e in self.egress_events(etype)
                    if e.get("principal") == "agent" and e.get("host") == host]
        allow = wait_for(lambda: decided("egress.allow", "allowed.test"), "egress.allow")
        deny = wait_for(lambda: decided("egress.deny", "denied.test"), "egress.deny")
        self.assertEqual(allow[0].get("port"), 443, allow)
        self.assertEqual(deny[0].get("port"), 443, deny)
        self.assertEqual(decided("egress.allow", "denied.test"), [])

    def test_nftables_lets_only_egress_reach_the_upstream(self):
        url = "https://%s/" % self.net.up_ip
        curl = ["curl", "-sS", "--max-time", "5", "--cacert", self.net.ca, url]
        r = run(*self.net.exec_prefix(), *curl, check=False)
        self.assertNotEqual(r.returncode, 0, r.stdout)  # dropped
        r = run(*self.net.exec_prefix(), "setpriv", "--regid", str(EGRESS_GID), "--clear-groups",
                "--", *curl, check=False)
        self.assertEqual(r.returncode, 0, r.stderr)  # egress's group gets through
        self.assertIn("hello from upstream", r.stdout)


if __name__ == "__main__":
    unittest.main()
