"""The test runner behind `make test`: Criterion unit binaries (TAP), then the Python integration,
system and e2e suites. Prints each failure, each skip with its reason, and one closing line
`N passed, N failed[, N skipped]`. Exit status 1 when anything failed."""
import glob
import os
import re
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


def run_unit(build, tally):
    binaries = sorted(glob.glob(os.path.join(build, "tests", "unit", "test-*")))
    binaries = [b for b in binaries if os.access(b, os.X_OK) and not b.endswith(".p")]
    for exe in binaries:
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


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
    os.environ["OSMODA_BUILD"] = build
    os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=1:exitcode=66")
    os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1:exitcode=67")
    tally = Tally()
    start = time.monotonic()
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
