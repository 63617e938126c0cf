"""A real systemd to test against: a Debian bookworm root built once with debootstrap and cached
as a tarball outside the clone, booted with systemd-nspawn (one boot per test class), commands run
inside with nsenter, torn down with PowerOff.

The host's PID 1 is not systemd, so nspawn runs with --register=no --keep-unit inside wrapper
cgroups of its own under the name=systemd and unified hierarchies (otherwise it would create
payload/ and supervisor/ at their roots). The build directory is bound read-only and a scratch
directory read-write, both at the same paths as on the host, so a socket created inside the
container is reachable from the host test at the same path (filesystem sockets cross the
container's private network namespace).

    reason = nspawn.unavailable()          # None, or why the suite must skip
    with nspawn.Container(ro_binds=[build], binds=[scratch]) as c:
        c.run(["systemctl", "is-active", "dbus"])
"""
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time

# The recipe: changing anything here changes the tarball's name, so it is rebuilt.
RECIPE_VERSION = 2
SUITE = "bookworm"
MIRROR = os.environ.get("OSMODA_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PACKAGES = (
    # systemd as PID 1 and its bus
    "systemd", "systemd-sysv", "dbus",
    # what agentd and osmoda-watch link (ldd build/daemons/{agentd/agentd,watch/osmoda-watch})
    "libmicrohttpd12", "libcurl4", "libjansson4", "libssl3", "libsodium23", "libsqlite3-0",
    "libseccomp2", "libsystemd0",
    # the sanitizer runtimes of `make test SANITIZE=1` (gcc 12)
    "libasan8", "libubsan1",
    # agentd's sandbox, and the language of the test services
    "bubblewrap", "python3-minimal",
)
CACHE_DIR = os.environ.get("OSMODA_TEST_CACHE", "/var/cache/osmoda-test")
WORK_DIR = os.environ.get("OSMODA_NSPAWN_WORK", "/var/tmp")
CGROUP_HIERARCHIES = ("/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified")
BUILD_TIMEOUT = 900  # debootstrap over the network
BOOT_TIMEOUT = 180  # a loaded 2-core machine has taken over 60 s to boot the container
STOP_TIMEOUT = 30


def recipe_id():
    text = "%d %s %s %s" % (RECIPE_VERSION, SUITE, MIRROR, " ".join(sorted(PACKAGES)))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def tarball_path():
    return os.path.join(CACHE_DIR, "%s-root-%s.tar" % (SUITE, recipe_id()))


def unavailable():
    """None when a container can be booted here, else the reason (for a skip)."""
    if os.geteuid() != 0:
        return "not root: systemd-nspawn and debootstrap need root"
    for tool in ("systemd-nspawn", "debootstrap", "nsenter"):
        if not shutil.which(tool):
            return "%s missing (systemd-container / debootstrap / util-linux)" % tool
    for h in CGROUP_HIERARCHIES:
        if not os.path.isdir(h):
            return "%s missing: the nspawn wrapper cgroups need it" % h
    return None


def ensure_root():
    """The cached root tarball, built when missing (one builder at a time, across processes)."""
    path = tarball_path()
    if os.path.exists(path):
        return path
    os.makedirs(CACHE_DIR, exist_ok=True)
    with open(os.path.join(CACHE_DIR, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(path):
            _build_root(path)
    return path


def _build_root(path):
    work = tempfile.mkdtemp(prefix="build-", dir=CACHE_DIR)
    try:
        root = os.path.join(work, "root")
        log = os.path.join(work, "debootstrap.log")
        with open(log, "wb") as f:
            p = subprocess.run(["debootstrap", "--variant=minbase",
                                "--include=" + ",".join(PACKAGES), SUITE, root, MIRROR],
                               stdout=f, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT)
        if p.returncode != 0:
            with open(log, errors="replace") as f:
                raise RuntimeError("debootstrap failed:\n" + f.read()[-3000:])
        _configure_root(root)
        tmp = path + ".tmp"
        subprocess.run(["tar", "--numeric-owner", "-C", root, "-cf", tmp, "."], check=True,
                       timeout=BUILD_TIMEOUT)
        os.rename(tmp, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _configure_root(root):
    """Quiet, quick boots: no console login, no network wait, a machine id made at boot."""
    for unit in ("console-getty.service", "getty@.service", "systemd-networkd-wait-online.service",
                 "apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer",
                 "fstrim.timer", "systemd-tmpfiles-clean.timer"):
        link = os.path.join(root, "etc/systemd/system", unit)
        if not os.path.lexists(link):
            os.symlink("/dev/null", link)
    open(os.path.join(root, "etc/machine-id"), "w").close()
    with open(os.path.join(root, "etc/hostname"), "w") as f:
        f.write("osmoda-test\n")


class Container:
    """One booted container. ro_binds and binds are host paths mounted at the same paths."""

    def __init__(self, ro_binds=(), binds=(), name="osmoda-test", env=None):
        self.ro_binds = list(ro_binds)
        self.binds = list(binds)
        self.name = name
        self.env = dict(env or {})
        self.work = None
        self.proc = None
        self.leader = None
        self.cgroup = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self):
        tarball = ensure_root()
        self.work = tempfile.mkdtemp(prefix="osmoda-nspawn-", dir=WORK_DIR)
        root = os.path.join(self.work, "root")
        os.mkdir(root)
        subprocess.run(["tar", "--numeric-owner", "-C", root, "-xf", tarball], check=True,
                       timeout=300)
        for p in self.ro_binds + self.binds:
            os.makedirs(root + p, exist_ok=True)
        self.cgroup = "osmoda-nspawn-%d-%s" % (os.getpid(), os.path.basename(self.work)[-8:])
        for h in CGROUP_HIERARCHIES:
            os.mkdir(os.path.join(h, self.cgroup))
        argv = ["systemd-nspawn", "-D", root, "-b", "--register=no", "--keep-unit",
                "-M", self.name, "--console=pipe", "--private-network"]
        argv += ["--bind-ro=" + p for p in self.ro_binds]
        argv += ["--bind=" + p for p in self.binds]
        self.log_path = os.path.join(self.work, "nspawn.log")
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         preexec_fn=self._enter_cgroup,
                                         env=dict(os.environ, **self.env))
        finally:
            log.close()
        try:
            self._wait_booted()
        except Exception:
            self.stop()
            raise
        return self

    def _enter_cgroup(self):
        # runs in the child between fork and exec: its own session, in the wrapper cgroups
        os.setsid()
        for h in CGROUP_HIERARCHIES:
            with open(os.path.join(h, self.cgroup, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

    def _wait_booted(self):
        deadline = time.monotonic() + BOOT_TIMEOUT
        state = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("systemd-nspawn exited %d: %s" % (self.proc.returncode,
                                                                    self.log()))
            if self.leader is None:
                self.leader = self._child_of(self.proc.pid)
            if self.leader is not None:
                # the documented readiness check of a booted systemd
                p = self.run(["systemctl", "is-system-running"], check=False, timeout=10)
                state = p.stdout.strip()
                if state in ("running", "degraded"):
                    return
            time.sleep(0.05)
        raise RuntimeError("container did not boot (state %r): %s" % (state, self.log()))

    @staticmethod
    def _child_of(pid):
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                kids = f.read().split()
        except OSError:
            return None
        return int(kids[0]) if kids else None

    def stop(self):
        """PowerOff, wait for nspawn, remove the wrapper cgroups and the root. Idempotent."""
        if self.proc is not None and self.proc.poll() is None:
            if self.leader is not None:
                os.kill(self.leader, signal.SIGRTMIN + 4)  # systemd: poweroff
            else:
                self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.leader = None
        if self.cgroup:
            for h in CGROUP_HIERARCHIES:
                _rmdir_tree(os.path.join(h, self.cgroup))
            self.cgroup = None
        if self.work:
            shutil.rmtree(self.work, ignore_errors=True)
            self.work = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- inside ------------------------------------------------------------------------------
    def run(self, argv, check=True, input=None, timeout=60):
        """Runs argv in every namespace of the container (as its root). CompletedProcess, text."""
        p = subprocess.run(["nsenter", "-t", str(self.leader), "-a"] + list(argv), input=input,
                           capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError("%s: exit %d\n%s%s" % (" ".join(argv), p.returncode, p.stdout,
                                                      p.stderr))
        return p

    def systemctl(self, *args, check=True):
        return self.run(["systemctl"] + list(args), check=check)

    def write(self, path, text, mode=0o644):
        """Writes a file inside the container's root (path as seen inside)."""
        host = self.host_path(path)
        os.makedirs(os.path.dirname(host), exist_ok=True)
        with open(host, "w") as f:
            f.write(text)
        os.chmod(host, mode)

    def read(self, path):
        with open(self.host_path(path), "rb") as f:
            return f.read()

    def host_path(self, path):
        """Where a path of the container is seen from the host (through its root mount)."""
        return "/proc/%d/root%s" % (self.leader, path)

    def bus_address(self):
        """The container's system bus, reachable from the host."""
        return "unix:path=" + self.host_path("/run/dbus/system_bus_socket")

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-3000:]
        except (OSError, AttributeError):
            return ""


def _rmdir_tree(path):
    """Removes an empty cgroup directory tree, children first."""
    if not os.path.isdir(path):
        return
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            _rmdir_tree(entry.path)
    try:
        os.rmdir(path)
    except OSError:
        pass
