"""A network namespace with a local upstream for osmoda-egress's tests and benchmarks.

EgressNet() creates a namespace (`ip netns add`) with loopback up holding public-looking
addresses that exist nowhere but there, starts an upstream of the test's own
inside it (plain HTTP on 80 and 8080, TLS on 443 and 8443 with a certificate made by
`openssl req`, an echo service on 7000), and writes a hosts file for egress's --hosts-file.

    net = EgressNet().start()
    egress = net.egress(agentd, acl={...})  # osmoda-egress inside the namespace
    s = net.socket()                         # a client socket of the namespace
    net.run(["curl", ...])                   # a program inside the namespace
    net.stop()

Run as a script (`python3 egress_net.py serve DIR`) it is the upstream itself."""
import asyncio
import ctypes
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import osmtest  # noqa: E402

CLONE_NEWNET = 0x40000000

# public-looking addresses of the namespace's loopback (nothing outside sees them)
ADDR_A = "11.0.0.1"
ADDR_B = "11.0.0.2"
ADDR_V6 = "2a00:1450::1"
METADATA = "169.254.169.254"

HOSTS = """\
# names of the tests' upstream
11.0.0.1 allowed.test api.allowed.test deep.api.allowed.test denied.test example.com
11.0.0.1 x.example.com example.com.evil evilexample.com report.test
11.0.0.2 other.test
2a00:1450::1 v6.test
127.0.0.1 loop.test
169.254.169.254 meta.test
::ffff:127.0.0.1 mapped.test
"""

HTTP_PORTS = (80, 8080)
TLS_PORTS = (443, 8443)
ECHO_PORT = 7000


def available():
    """Why the namespace cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root for ip netns"
    for tool in ("ip", "nsenter", "openssl"):
        if not shutil.which(tool):
            return tool + " is not installed"
    return None


def free_port():
    return 19000 + (uuid.uuid4().int % 20000)


class EgressNet:
    def __init__(self):
        self.name = "osm-eg-" + uuid.uuid4().hex[:8]
        self.path = "/run/netns/" + self.name
        self.tmp = tempfile.mkdtemp(prefix="osmoda-egress-net-")
        self.hosts_file = os.path.join(self.tmp, "hosts")
        self.cert = os.path.join(self.tmp, "cert.pem")
        self.key = os.path.join(self.tmp, "key.pem")
        self.upstream = None
        self.upstream_log = os.path.join(self.tmp, "upstream.log")

    def _ip(self, *args):
        subprocess.run(["ip", "-n", self.name] + list(args), check=True, capture_output=True)

    def start(self):
        subprocess.run(["ip", "netns", "add", self.name], check=True, capture_output=True)
        try:
            self._ip("link", "set", "lo", "up")
            for a in (ADDR_A + "/32", ADDR_B + "/32", METADATA + "/32"):
                self._ip("addr", "add", a, "dev", "lo")
            self._ip("-6", "addr", "add", ADDR_V6 + "/128", "dev", "lo")
            with open(self.hosts_file, "w") as f:
                f.write(HOSTS)
            names = ["allowed.test", "*.allowed.test", "other.test", "v6.test", "meta.test",
                     "report.test", "x.example.com", "example.com"]
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-keyout", self.key, "-out",
                            self.cert, "-days", "2", "-subj", "/CN=allowed.test", "-addext",
                            "subjectAltName=" + ",".join("DNS:" + n for n in names)],
                           check=True, capture_output=True)
            log = open(self.upstream_log, "ab")
            self.upstream = subprocess.Popen(
                ["nsenter", "--net=" + self.path, sys.executable, os.path.abspath(__file__),
                 "serve", self.tmp], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            log.close()
            osmtest.wait_for(self._upstream_ready, "the upstream of the namespace")
        except Exception:
            self.stop()
            raise
        return self

    def _upstream_ready(self):
        if self.upstream.poll() is not None:
            raise RuntimeError("upstream exited: " + open(self.upstream_log).read())
        return os.path.exists(os.path.join(self.tmp, "ready"))

    def stop(self):
        if self.upstream and self.upstream.poll() is None:
            self.upstream.terminate()
            try:
                self.upstream.wait(10)
            except subprocess.TimeoutExpired:
                self.upstream.kill()
                self.upstream.wait()
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- inside the namespace

    def enter(self):
        """A context manager: the calling thread is in the namespace while it is open (sockets
        made there stay in it)."""
        return _InNetns(self.path)

    def socket(self, family=socket.AF_INET):
        with self.enter():
            return socket.socket(family, socket.SOCK_STREAM)

    def connect(self, port, host="127.0.0.1", timeout=20):
        s = self.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        s.settimeout(timeout)
        s.connect((host, port))
        return s

    def command(self, argv):
        return ["nsenter", "--net=" + self.path] + list(argv)

    def run(self, argv, timeout=60, **kw):
        return subprocess.run(self.command(argv), capture_output=True, text=True,
                              timeout=timeout, **kw)

    def egress(self, agentd, acl=None, args=(), port=None):
        """An osmoda-egress inside the namespace listening on 127.0.0.1:port, with the hosts
        file and (when given) an ACL file of the test's."""
        return NetEgress(self, agentd, acl, args, port or 19999)


class _InNetns:
    libc = ctypes.CDLL(None, use_errno=True)

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        self.home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            if self.libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns " + self.path)
        finally:
            os.close(fd)

    def __exit__(self, *exc):
        try:
            if self.libc.setns(self.home, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
        finally:
            os.close(self.home)


class NetEgress(osmtest.Egress):
    """osmoda-egress in the namespace; acl (a dict) is written to its --acl-file."""

    def __init__(self, net, agentd, acl, args, port):
        self.net = net
        self.port = port
        extra = ["--hosts-file", net.hosts_file]
        self.acl_path = os.path.join(agentd.tmp, "egress-acl.json")
        if acl is not None:
            self.write_acl(acl)
            extra += ["--acl-file", self.acl_path]
        super().__init__(agentd, extra + list(args), listen="127.0.0.1:%d" % port)
        self.principal_dir = os.path.join(agentd.run_dir, "egress-proxy")

    def write_acl(self, acl):
        tmp = self.acl_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(acl, f)
        os.rename(tmp, self.acl_path)

    def command(self):
        return self.net.command(super().command())

    def connect(self, timeout=20):
        return self.net.connect(self.port, timeout=timeout)

    def connect_principal(self, principal, timeout=20):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(os.path.join(self.principal_dir, principal + ".sock"))
        return s

    def decisions(self):
        """egress.allow / egress.deny events in agentd's ledger: [(type, payload)]."""
        return [e for e in self.events("egress.") if e[0] in ("egress.allow", "egress.deny")]


# --- the upstream (run inside the namespace)

def _reply(status, body, keep_alive=True, extra=""):
    return ("HTTP/1.1 %d X\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s%s\r\n"
            % (status, len(body), "" if keep_alive else "Connection: close\r\n", extra)
            ).encode() + body


async def _http(reader, writer):
    """HTTP/1.1 with keep-alive: answers "host=H addr=A port=P path=X n=N" (N: the request's
    number on this connection); /chunked answers chunked, /big?n=BYTES a body that long,
    /close without keep-alive, /drop?NAME closes after answering. Request bodies are read and their length reported."""
    local = writer.get_extra_info("sockname")
    n = 0
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            n += 1
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            hdrs = {}
            for ln in lines[1:]:
                if ":" in ln:
                    k, v = ln.split(":", 1)
                    hdrs[k.strip().lower()] = v.strip()
            got = 0
            if "content-length" in hdrs:
                got = len(await reader.readexactly(int(hdrs["content-length"])))
            addr = local[0].replace("::ffff:", "")
            body = ("host=%s addr=%s port=%d path=%s n=%d body=%d\n" % (
                hdrs.get("host", ""), addr, local[1], path, n, got)).encode()
            if path.startswith("/big"):
                size = int(path.split("n=", 1)[1])
                writer.write(_reply(200, b"x" * size))
            elif path == "/chunked":
                writer.write(b"HTTP/1.1 200 X\r\nTransfer-Encoding: chunked\r\n\r\n")
                for part in (body[:10], body[10:]):
                    writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                writer.write(b"0\r\n\r\n")
            elif path.startswith("/drop"):
                # answers as if keeping the connection, then closes it (an upstream's idle
                # timeout) and says so in a file named by the query: /drop?NAME
                writer.write(_reply(200, body))
                await writer.drain()
                writer.close()
                await writer.wait_closed()
                open(os.path.join(sys.argv[2], path.split("?", 1)[1]), "w").close()
                break
            elif path == "/close":
                writer.write(_reply(200, body, keep_alive=False))
                await writer.drain()
                break
            else:
                writer.write(_reply(200, body if method != "HEAD" else b""))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def _echo(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


def _listener(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    s.listen(4096)
    s.setblocking(False)
    return s


async def _serve(tmp):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem"))
    servers = []
    for port in HTTP_PORTS:
        servers.append(await asyncio.start_server(_http, sock=_listener(port)))
    for port in TLS_PORTS:
        servers.append(await asyncio.start_server(_http, sock=_listener(port), ssl=ctx))
    servers.append(await asyncio.start_server(_echo, sock=_listener(ECHO_PORT)))
    open(os.path.join(tmp, "ready"), "w").close()
    await asyncio.Event().wait()


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "serve":
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(_serve(sys.argv[2]))
