"""The sandbox's one way out, end to end with real components: agentd and osmoda-egress in a
network namespace of the test's, joined by a veth to an upstream namespace (EgressNet of
tests/integration/egress_net.py: a TLS server of the test's on public-looking addresses, a
certificate made by openssl, a hosts file naming allowed.test and denied.test). osmoda-egress
resolves the names from that hosts file, its ACL lets the "agent" principal reach
allowed.test:443 only, and nftables in the test namespace drop every direct connection to the
upstream except egress's own (it runs with a group of its own, matched with meta skgid). Then,
through agentd's shell_exec (ring 2: its own network namespace, the egress socket bound in and
relayed by osmoda-sandbox-init):
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
import unittest
import uuid

from egress_net import ADDR_A, EgressNet
from egress_net import available as net_available
from osmtest import Agentd, Egress, binary, wait_for

EGRESS_GID = 47219  # the group egress runs under; nftables lets only it reach the upstream
UPSTREAM_NET = "11.0.0.0/24"  # EgressNet's addresses


def run(*argv, check=True, timeout=60):
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          check=check)


def missing_requirement():
    """Why this machine cannot run the test, or None."""
    why = net_available()
    if why:
        return why
    for tool in ("bwrap", "nft", "curl", "setpriv"):
        if not shutil.which(tool):
            return "%s is not installed" % tool
    probe = "osmt-probe-" + uuid.uuid4().hex[:8]
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


class TestNet:
    """The namespace of agentd and egress: a veth to the upstream namespace, a route to its
    addresses, and the nftables rule."""

    def __init__(self, upstream, tmp):
        tag = uuid.uuid4().hex[:6]
        self.name, self.upstream, self.tmp = "osm-es-" + tag, upstream, tmp
        self.veth, self.peer = "osmes" + tag, "osmeu" + tag
        n = int(tag[:2], 16)
        self.addr, self.peer_addr = "10.98.%d.1" % n, "10.98.%d.2" % n

    def up(self):
        run("ip", "netns", "add", self.name)
        run("ip", "-n", self.name, "link", "set", "lo", "up")
        run("ip", "link", "add", self.veth, "netns", self.name, "type", "veth", "peer", "name",
            self.peer, "netns", self.upstream.name)
        run("ip", "-n", self.name, "addr", "add", self.addr + "/30", "dev", self.veth)
        run("ip", "-n", self.upstream.name, "addr", "add", self.peer_addr + "/30", "dev",
            self.peer)
        run("ip", "-n", self.name, "link", "set", self.veth, "up")
        run("ip", "-n", self.upstream.name, "link", "set", self.peer, "up")
        run("ip", "-n", self.name, "route", "add", UPSTREAM_NET, "via", self.peer_addr)
        rules = os.path.join(self.tmp, "rules.nft")
        with open(rules, "w") as f:
            f.write("table inet osmt {\n chain out {\n  type filter hook output priority 0;"
                    " policy accept;\n  ip daddr %s meta skgid != %d counter drop\n }\n}\n"
                    % (UPSTREAM_NET, EGRESS_GID))
        run("ip", "netns", "exec", self.name, "nft", "-f", rules)

    def prefix(self):
        return ["nsenter", "--net=/run/netns/" + self.name]

    def down(self):
        run("ip", "netns", "del", self.name, check=False)


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
        try:
            cls.upstream = EgressNet().start()
            cls.net = TestNet(cls.upstream, cls.tmp)
            cls.net.up()
            cls.start_daemons()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def start_daemons(cls):
        prefix = cls.net.prefix()
        cls.agentd = NsAgentd(prefix, args=["--sandbox-cgroups", "optional"]).start()
        acl = os.path.join(cls.tmp, "acl.json")
        with open(acl, "w") as f:
            json.dump({"principals": {"agent": {"mode": "enforce",
                                                "rules": [{"host": "allowed.test"}]}}}, f)
        cls.egress = NsEgress(cls.agentd, prefix, ["--acl-file", acl, "--hosts-file",
                                                   cls.upstream.hosts_file, "--listen", "none"])
        cls.egress.start()
        cls.principal_sock = os.path.join(cls.agentd.run_dir, "egress-proxy", "agent.sock")
        wait_for(lambda: os.path.exists(cls.principal_sock), "egress's socket for the agent")
        ws = os.path.join(cls.agentd.state_dir, "workspace")
        shutil.copy(cls.upstream.cert, os.path.join(ws, "ca.pem"))
        os.chmod(os.path.join(ws, "ca.pem"), 0o644)

    @classmethod
    def tearDownClass(cls):
        for d in ("egress", "agentd"):
            if getattr(cls, d, None):
                getattr(cls, d).stop()
        if getattr(cls, "net", None):
            cls.net.down()
        if getattr(cls, "upstream", None):
            cls.upstream.stop()
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
        self.assertIn("host=allowed.test", res["output"])  # the upstream's answer

        res = self.shell("curl -sS --max-time 20 --cacert /workspace/ca.pem "
                         "https://denied.test/; echo curl=$?")
        self.assertNotIn("host=", res["output"])
        self.assertIn("403", res["output"])  # the proxy's answer to CONNECT
        self.assertNotIn("curl=0", res["output"])

        res = self.shell("curl -sS --noproxy '*' --max-time 5 --cacert /workspace/ca.pem "
                         "--resolve allowed.test:443:%s https://allowed.test/; echo curl=$?"
                         % ADDR_A)
        self.assertNotIn("host=", res["output"])
        self.assertNotIn("curl=0", res["output"])

        def decided(etype, host):
            return [e for e in self.egress_events(etype)
                    if e.get("principal") == "agent" and e.get("host") == host]
        allow = wait_for(lambda: decided("egress.allow", "allowed.test"), "egress.allow")
        deny = wait_for(lambda: decided("egress.deny", "denied.test"), "egress.deny")
        self.assertEqual(allow[0].get("port"), 443, allow)
        self.assertEqual(allow[0].get("address"), ADDR_A, allow)  # from the hosts file
        self.assertGreater(allow[0].get("bytes_down", 0), 0, allow)  # the TLS answer came back
        self.assertEqual(deny[0].get("port"), 443, deny)
        self.assertEqual(deny[0].get("decision"), "deny", deny)
        self.assertEqual(decided("egress.allow", "denied.test"), [])

    def test_nftables_lets_only_egress_reach_the_upstream(self):
        curl = ["curl", "-sS", "--max-time", "5", "--cacert", self.upstream.cert, "--resolve",
                "allowed.test:443:" + ADDR_A, "https://allowed.test/"]
        r = run(*self.net.prefix(), *curl, check=False)
        self.assertNotEqual(r.returncode, 0, r.stdout)  # dropped
        r = run(*self.net.prefix(), "setpriv", "--regid", str(EGRESS_GID), "--clear-groups",
                "--", *curl, check=False)
        self.assertEqual(r.returncode, 0, r.stderr)  # egress's group gets through
        self.assertIn("host=allowed.test", r.stdout)


if __name__ == "__main__":
    unittest.main()
