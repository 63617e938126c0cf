"""osmoda-egress's proxy against a real upstream in a network namespace of the test's own
(egress_net.py): CONNECT and plain HTTP, ACL decisions with their ledger events in agentd,
wildcards, ports, internal addresses, IPv6, keep-alive, reload, limits, timeouts, LOCKDOWN."""
import os
import signal
import socket
import threading
import unittest

import egress_net
import osmtest

WHY_NOT = egress_net.available()

ALLOW = {"host": "allowed.test", "ports": [443, 80, 7000]}


def acl_of(rules, mode="enforce", **top):
    acl = {"principals": {"default": {"mode": mode, "rules": rules}}}
    acl.update(top)
    return acl


def read_response(s):
    """(status, head text, body bytes) of one HTTP response on s ((0, '', b'') on EOF)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return 0, data.decode("latin-1"), b""
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    head = head.decode("latin-1")
    status = int(head.split(" ", 2)[1])
    length = 0
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v)
        if k.strip().lower() == "transfer-encoding":
            while not body.endswith(b"0\r\n\r\n"):
                body += s.recv(65536)
            return status, head, body
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, head, body


def get(s, url, host, extra=""):
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (url, host, extra)).encode())
    return read_response(s)


def connect_tunnel(s, authority):
    s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (authority, authority)).encode())
    return read_response(s)


def closed(s):
    """True once the peer closed s (EOF or reset); waits for it (the socket's timeout)."""
    try:
        while s.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True


@unittest.skipIf(WHY_NOT, WHY_NOT)
class EgressProxyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.net = egress_net.EgressNet().start()

    @classmethod
    def tearDownClass(cls):
        cls.net.stop()

    def setUp(self):
        self.agentd = osmtest.Agentd().start()
        self.eg = None

    def tearDown(self):
        alive = self.eg.alive() if self.eg else True
        if self.eg:
            self.eg.stop()
        self.agentd.stop()
        reports = (self.agentd.sanitizer_errors(), self.eg.sanitizer_errors() if self.eg else "")
        self.agentd.cleanup()
        self.assertTrue(alive, "osmoda-egress died during the test")
        self.assertEqual(reports, ("", ""), "sanitizer reports")

    def start(self, acl, args=()):
        self.eg = self.net.egress(self.agentd, acl, args).start()
        return self.eg

    def decision(self, host, n=1):
        """The n-th decision event about host, waited for."""
        return osmtest.wait_for(
            lambda: ([p for t, p in self.eg.decisions() if p["host"] == host] + [None] * n)[n - 1],
            "the decision about " + host)

    def curl(self, url, *extra):
        return self.net.run(["curl", "-sS", "-m", "20", "--proxy", "http://127.0.0.1:19999",
                             "--cacert", self.net.cert] + list(extra) + [url])

    # --- decisions

    def test_connect_allowed_and_denied_with_ledger_events(self):
        self.start(acl_of([ALLOW]))
        ok = self.curl("https://allowed.test/hello")
        self.assertEqual(ok.returncode, 0, ok.stderr)
        self.assertIn("host=allowed.test addr=11.0.0.1 port=443 path=/hello", ok.stdout)
        bad = self.curl("https://denied.test/")
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("403", bad.stderr)

        allow = self.decision("allowed.test")
        self.assertEqual((allow["decision"], allow["principal"], allow["port"], allow["address"],
                          allow["method"], allow["rule"], allow["mode"]),
                         ("allow", "default", 443, "11.0.0.1", "CONNECT", "allowed.test",
                          "enforce"))
        self.assertGreater(allow["bytes_up"], 200)  # a TLS handshake went through
        self.assertGreater(allow["bytes_down"], 200)
        deny = self.decision("denied.test")
        self.assertEqual((deny["decision"], deny["reason"], deny["bytes_up"]),
                         ("deny", "not in the allowlist", 0))
        types = [t for t, p in self.eg.decisions()]
        self.assertEqual(sorted(types), ["egress.allow", "egress.deny"])

    def test_report_mode_lets_a_denial_through_as_would_deny(self):
        self.start(acl_of([ALLOW], mode="report"))
        r = self.curl("https://report.test/r")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("host=report.test", r.stdout)
        ev = self.decision("report.test")
        self.assertEqual((ev["decision"], ev["mode"], ev["reason"]),
                         ("would_deny", "report", "not in the allowlist"))
        self.assertGreater(ev["bytes_down"], 0)
        self.assertEqual(self.curl("https://allowed.test/").returncode, 0)
        self.assertEqual(self.decision("allowed.test")["decision"], "allow")

    def test_wildcard_edges(self):
        self.start(acl_of([{"host": "*.example.com", "ports": [80]}]))
        with self.eg.connect() as s:
            status, _, body = get(s, "http://x.example.com/w", "x.example.com")
            self.assertEqual(status, 200)
            self.assertIn(b"host=x.example.com", body)
        for host in ("example.com", "example.com.evil", "evilexample.com"):
            with self.subTest(host=host), self.eg.connect() as s:
                status, _, body = get(s, "http://%s/" % host, host)
                self.assertEqual(status, 403, body)
                self.assertIn(b"not in the allowlist", body)

    def test_ports(self):
        self.start(acl_of([{"host": "allowed.test"}, {"host": "other.test", "ports": [8443]}]))
        with self.eg.connect() as s:  # ports default to [443]
            self.assertEqual(connect_tunnel(s, "allowed.test:443")[0], 200)
        with self.eg.connect() as s:
            status, _, body = connect_tunnel(s, "allowed.test:8443")
            self.assertEqual(status, 403)
            self.assertIn(b"port 8443 not allowed", body)
        with self.eg.connect() as s:
            self.assertEqual(connect_tunnel(s, "other.test:8443")[0], 200)
        with self.eg.connect() as s:
            self.assertEqual(connect_tunnel(s, "other.test:443")[0], 403)
        denials = osmtest.wait_for(
            lambda: (lambda d: len(d) == 2 and d)(
                [p for t, p in self.eg.decisions() if p["decision"] == "deny"]),
            "the two denials")
        self.assertEqual([(p["host"], p["port"], p["reason"]) for p in denials],
                         [("allowed.test", 8443, "port 8443 not allowed"),
                          ("other.test", 443, "port 443 not allowed")])

    def test_internal_addresses_refused_unless_a_rule_names_them(self):
        self.start(acl_of([
            {"host": "loop.test", "ports": [80]},
            {"host": "meta.test", "ports": [80]},
            {"host": "mapped.test", "ports": [80]},
            {"host": "127.0.0.1", "ports": [8080]},
        ]))
        cases = (("loop.test", "loopback", "127.0.0.1"),
                 ("meta.test", "link-local", "169.254.169.254"),
                 ("mapped.test", "ipv4-mapped loopback", "::ffff:127.0.0.1"))
        for host, why, addr in cases:
            with self.subTest(host=host), self.eg.connect() as s:
                status, _, body = get(s, "http://%s/" % host, host)
                self.assertEqual(status, 403, body)
                self.assertIn(("internal address (%s)" % why).encode(), body)
                ev = self.decision(host)
                self.assertEqual((ev["decision"], ev["address"], ev["reason"]),
                                 ("deny", addr, "internal address (%s)" % why))
        # an address literal rule names the address: allowed
        with self.eg.connect() as s:
            status, _, body = get(s, "http://127.0.0.1:8080/lit", "127.0.0.1:8080")
            self.assertEqual(status, 200, body)
            self.assertIn(b"addr=127.0.0.1 port=8080", body)
        # a rule naming the network lets the name reach it
        self.eg.write_acl(acl_of([{"host": "meta.test", "ports": [80],
                                   "addresses": ["169.254.0.0/16"]}]))
        self.eg.proc.send_signal(signal.SIGHUP)

        def meta_allowed():
            with self.eg.connect() as s:
                return get(s, "http://meta.test/m", "meta.test")[0] == 200
        osmtest.wait_for(meta_allowed, "the reload naming 169.254.0.0/16")
        self.assertEqual(self.decision("meta.test", 2)["address"], "169.254.169.254")

    def test_ipv6_upstream(self):
        self.start(acl_of([{"host": "v6.test", "ports": [80, 443]},
                           {"host": "2a00:1450::1", "ports": [8080]}]))
        r = self.curl("https://v6.test/six")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("addr=2a00:1450::1 port=443", r.stdout)
        with self.eg.connect() as s:
            status, _, body = get(s, "http://[2a00:1450::1]:8080/", "[2a00:1450::1]:8080")
            self.assertEqual(status, 200, body)
        self.assertEqual(self.decision("v6.test")["address"], "2a00:1450::1")

    def test_keep_alive_each_request_decided(self):
        self.start(acl_of([ALLOW, {"host": "other.test", "ports": [80]}]))
        with self.eg.connect() as s:
            st1, _, b1 = get(s, "http://allowed.test/1", "allowed.test")
            st2, _, b2 = get(s, "http://allowed.test/chunked", "allowed.test")
            st3, _, b3 = get(s, "http://other.test/3", "other.test")
            st4, _, b4 = get(s, "http://denied.test/4", "denied.test")
            self.assertEqual((st1, st2, st3, st4), (200, 200, 200, 403))
            self.assertIn(b"n=1", b1)
            self.assertIn(b"n=2", b2)  # the same upstream connection served the second
            self.assertIn(b"host=other.test addr=11.0.0.2 port=80 path=/3 n=1", b3)
            self.assertTrue(closed(s))  # our own answer closes
        evs = osmtest.wait_for(lambda: len(self.eg.decisions()) == 4 and self.eg.decisions(),
                               "four decisions")
        self.assertEqual([(p["host"], p["decision"], p["method"]) for _, p in evs],
                         [("allowed.test", "allow", "GET"), ("allowed.test", "allow", "GET"),
                          ("other.test", "allow", "GET"), ("denied.test", "deny", "GET")])
        self.assertEqual(evs[1][1]["bytes_down"] > 0, True)

    def test_kept_upstream_closed_by_the_upstream_is_dialled_again(self):
        self.start(acl_of([ALLOW]))
        marker = os.path.join(self.net.tmp, "dropped-" + self.id().rsplit(".", 1)[1])
        with self.eg.connect() as s:
            self.assertEqual(get(s, "http://allowed.test/drop?" + os.path.basename(marker),
                                 "allowed.test")[0], 200)
            osmtest.wait_for(lambda: os.path.exists(marker), "the upstream closing")
            status, _, body = get(s, "http://allowed.test/again", "allowed.test")
            self.assertEqual(status, 200, body)
            self.assertIn(b"path=/again n=1", body)  # a new upstream connection

    def test_request_body_forwarded(self):
        self.start(acl_of([ALLOW]))
        with self.eg.connect() as s:
            s.sendall(b"POST http://allowed.test/p HTTP/1.1\r\nHost: allowed.test\r\n"
                      b"Content-Length: 5000\r\n\r\n" + b"y" * 5000)
            status, _, body = read_response(s)
            self.assertEqual(status, 200)
            self.assertIn(b"body=5000", body)
            status, _, body = get(s, "http://allowed.test/big?n=300000", "allowed.test")
            self.assertEqual((status, len(body)), (200, 300000))

    def test_bulk_through_a_tunnel_intact(self):
        self.start(acl_of([ALLOW]))
        data = os.urandom(8 << 20)  # enough to fill a pipe many times over
        got = bytearray()
        with self.eg.connect() as s:
            self.assertEqual(connect_tunnel(s, "allowed.test:7000")[0], 200)
            sender = threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)))
            sender.start()
            while chunk := s.recv(1 << 20):
                got += chunk
            sender.join()
        self.assertEqual(len(got), len(data))
        self.assertTrue(got == data, "the echo differs from what was sent")
        ev = self.decision("allowed.test")
        self.assertEqual((ev["bytes_up"], ev["bytes_down"]), (len(data), len(data)))

    def test_principal_socket(self):
        acl = acl_of([ALLOW])
        acl["principals"]["agent"] = {"rules": [{"host": "other.test", "ports": [80]}]}
        self.start(acl)
        path = os.path.join(self.eg.principal_dir, "agent.sock")
        self.assertEqual(oct(os.stat(self.eg.principal_dir).st_mode & 0o777), "0o700")
        with self.eg.connect_principal("agent") as s:
            self.assertEqual(get(s, "http://other.test/", "other.test")[0], 200)
        with self.eg.connect_principal("agent") as s:
            self.assertEqual(get(s, "http://allowed.test/", "allowed.test")[0], 403)
        self.assertEqual(self.decision("other.test")["principal"], "agent")
        self.assertEqual(self.decision("allowed.test")["principal"], "agent")
        # a principal removed by a reload loses its socket
        self.eg.write_acl(acl_of([ALLOW]))
        self.eg.proc.send_signal(signal.SIGHUP)
        osmtest.wait_for(lambda: not os.path.exists(path), "the agent socket removed")

    # --- reload, load

    def test_reload_under_load_keeps_tunnels(self):
        self.start(acl_of([ALLOW]))
        tunnels = []
        for _ in range(20):
            s = self.eg.connect()
            self.assertEqual(connect_tunnel(s, "allowed.test:7000")[0], 200)
            tunnels.append(s)
        stop = threading.Event()
        errors = []

        def pump(s, i):
            n = 0
            try:
                while not stop.is_set():
                    msg = b"%d:%d;" % (i, n)
                    s.sendall(msg)
                    got = b""
                    while len(got) < len(msg):
                        chunk = s.recv(len(msg) - len(got))
                        if not chunk:
                            raise ConnectionError("tunnel closed")
                        got += chunk
                    if got != msg:
                        raise AssertionError("echo mismatch")
                    n += 1
            except Exception as e:  # reported below
                errors.append(repr(e))
        threads = [threading.Thread(target=pump, args=(s, i)) for i, s in enumerate(tunnels)]
        for t in threads:
            t.start()
        self.eg.write_acl(acl_of([{"host": "other.test", "ports": [7000]}]))
        self.eg.proc.send_signal(signal.SIGHUP)

        def new_rules():
            with self.eg.connect() as s:
                return connect_tunnel(s, "allowed.test:7000")[0] == 403
        osmtest.wait_for(new_rules, "the reloaded ACL refusing allowed.test")
        with self.eg.connect() as s:
            self.assertEqual(connect_tunnel(s, "other.test:7000")[0], 200)
        stop.set()
        for t in threads:
            t.join(30)
        self.assertEqual(errors, [])
        for s in tunnels:  # still open, still under the old rules
            s.sendall(b"after")
            self.assertEqual(s.recv(5), b"after")
            s.close()

    def test_thousand_concurrent_tunnels(self):
        import asyncio
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
        self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        acl = acl_of([ALLOW], max_connections=2000)
        acl["principals"]["default"]["max_connections"] = 1500
        self.start(acl)
        n = 1000
        all_open = None

        async def one(i):
            sock = self.net.socket()
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", 19999))
            r, w = await asyncio.open_connection(sock=sock)
            w.write(b"CONNECT allowed.test:7000 HTTP/1.1\r\nHost: allowed.test:7000\r\n\r\n")
            head = await r.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            await all_open.wait_open(i)
            msg = b"tunnel %d" % i
            w.write(msg)
            assert await r.readexactly(len(msg)) == msg
            w.close()
            await w.wait_closed()

        class Barrier:
            def __init__(self):
                self.count = 0
                self.ev = asyncio.Event()

            async def wait_open(self, i):
                self.count += 1
                if self.count == n:
                    self.ev.set()
                await self.ev.wait()

        async def main():
            nonlocal all_open
            all_open = Barrier()
            await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), 240)
        asyncio.run(main())
        osmtest.wait_for(lambda: len(self.eg.decisions()) >= n, "%d allow events" % n, 240)
        self.assertEqual({p["decision"] for _, p in self.eg.decisions()}, {"allow"})

    # --- hostile clients

    def test_slowloris_times_out_others_unaffected(self):
        self.start(acl_of([ALLOW], header_timeout_s=1))
        slow = self.eg.connect()
        slow.sendall(b"GET http://allowed.test/ HTTP/1.1\r\nHost: allo")
        with self.eg.connect() as s:
            self.assertEqual(get(s, "http://allowed.test/", "allowed.test")[0], 200)
        status, _, body = read_response(slow)  # waits for the header timeout
        self.assertEqual(status, 408, body)
        self.assertTrue(closed(slow))
        slow.close()
        with self.eg.connect() as s:
            self.assertEqual(get(s, "http://allowed.test/", "allowed.test")[0], 200)

    def test_oversized_and_garbage_requests(self):
        self.start(acl_of([ALLOW]))
        cases = (
            (b"GET http://allowed.test/ HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431),
            (b"GET http://allowed.test/" + b"p" * 20000 + b" HTTP/1.1\r\n\r\n", 431),
            (b"HELLO\r\n\r\n", 400),
            (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64) + b"\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n", 400),
            (b"GET http://allowed.test/ HTTP/1.1\nHost: allowed.test\n\n", 400),
            (b"CONNECT allowed.test:99999 HTTP/1.1\r\n\r\n", 400),
        )
        for raw, want in cases:
            with self.subTest(raw=raw[:40]), self.eg.connect() as s:
                try:
                    s.sendall(raw)
                except ConnectionResetError:
                    pass
                status, head, _ = read_response(s)
                self.assertEqual(status, want, head)
        with self.eg.connect() as s:
            self.assertEqual(get(s, "http://allowed.test/", "allowed.test")[0], 200)
        self.decision("allowed.test")
        self.assertEqual([p["host"] for _, p in self.eg.decisions()], ["allowed.test"])

    def test_connection_limits(self):
        acl = acl_of([ALLOW], max_connections=3)
        acl["principals"]["default"]["max_connections"] = 2
        self.start(acl)
        held = [self.eg.connect() for _ in range(2)]
        for s in held:
            self.assertEqual(connect_tunnel(s, "allowed.test:7000")[0], 200)
        with self.eg.connect() as s:
            status, _, body = connect_tunnel(s, "allowed.test:7000")
            self.assertEqual(status, 503)
            self.assertIn(b"connection limit reached (2 for principal default)", body)
        acl["principals"]["agent"] = {"rules": [ALLOW]}
        self.eg.write_acl(acl)
        self.eg.proc.send_signal(signal.SIGHUP)
        osmtest.wait_for(lambda: os.path.exists(os.path.join(self.eg.principal_dir, "agent.sock")),
                         "the agent socket")
        a = self.eg.connect_principal("agent")
        self.assertEqual(connect_tunnel(a, "allowed.test:7000")[0], 200)
        with self.eg.connect_principal("agent") as s:
            status, _, body = connect_tunnel(s, "allowed.test:7000")
            self.assertEqual(status, 503)
            self.assertIn(b"connection limit reached (3 overall)", body)
        held[0].close()
        a.close()

        def room():
            with self.eg.connect() as s:
                return connect_tunnel(s, "allowed.test:7000")[0] == 200
        osmtest.wait_for(room, "a slot freed by closing a tunnel")
        for s in held[1:]:
            s.close()

    # --- LOCKDOWN

    def test_lockdown_closes_tunnels_and_refuses(self):
        self.start(acl_of([ALLOW]))
        s = self.eg.connect()
        self.assertEqual(connect_tunnel(s, "allowed.test:7000")[0], 200)
        s.sendall(b"ping")
        self.assertEqual(s.recv(4), b"ping")
        st, body = self.eg.request("POST", "/lockdown", {})
        self.assertEqual(st, 200, body)
        self.assertTrue(closed(s))
        s.close()
        with self.eg.connect() as s:
            status, _, body = connect_tunnel(s, "allowed.test:7000")
            self.assertEqual(status, 503)
            self.assertIn(b"lockdown", body)
        st, body = self.eg.request("POST", "/unlock", {})
        self.assertEqual(st, 200, body)
        with self.eg.connect() as s:
            self.assertEqual(connect_tunnel(s, "allowed.test:7000")[0], 200)

    def test_lockdown_file_appearing(self):
        self.start(acl_of([ALLOW]))
        s = self.eg.connect()
        self.assertEqual(connect_tunnel(s, "allowed.test:7000")[0], 200)
        path = os.path.join(self.agentd.state_dir, "lockdown")
        with open(path + ".tmp", "w") as f:
            f.write('{"reason": "test"}')
        os.rename(path + ".tmp", path)  # as osmoda-watch writes it, without telling egress
        self.assertTrue(closed(s))
        s.close()
        with self.eg.connect() as s:
            self.assertEqual(connect_tunnel(s, "allowed.test:7000")[0], 503)

    def test_lockdown_file_present_at_start(self):
        os.makedirs(self.agentd.state_dir, exist_ok=True)
        path = os.path.join(self.agentd.state_dir, "lockdown")
        with open(path, "w") as f:
            f.write('{"reason": "test"}')
        self.start(acl_of([ALLOW]))
        with self.eg.connect() as s:
            status, _, body = connect_tunnel(s, "allowed.test:7000")
            self.assertEqual(status, 503)
            self.assertIn(b"lockdown", body)
        st, _ = self.eg.request("POST", "/unlock", {})
        self.assertNotEqual(st, 200)  # the file is still there
        os.unlink(path)
        self.assertEqual(self.eg.request("POST", "/unlock", {})[0], 200)
        with self.eg.connect() as s:
            self.assertEqual(connect_tunnel(s, "allowed.test:7000")[0], 200)


if __name__ == "__main__":
    unittest.main()
