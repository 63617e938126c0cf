"""SafeSwitch's nix-profile and nixos backends through osmoda-watch's API, against the real Nix
of this host (nix-bin, single-user as root, offline): tiny derivations built with busybox as the
builder, profiles under a temporary directory (never /nix/var/nix/profiles). The nix store is
shared by the machine: the store paths are left in place and nothing is garbage collected."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from osmtest import WatchTestCase

NIX_ENV = dict(os.environ, NIX_CONFIG="substituters =\nbuild-users-group =\n")
WAIT_S = 30  # deadline of an awaited state; reached only on failure

# c1..c4: plain configurations; s1, s2: systems whose bin/switch-to-configuration appends
# "<its store path> <args>" to $OSMTEST_ACTIVATION_LOG; sbad does the same and fails.
GEN_NIX = r"""
let
  bb = builtins.path { path = ./bb; name = "busybox-static"; };
  mk = name: script: builtins.derivation {
    name = "osmoda-nixtest-${name}"; system = builtins.currentSystem;
    builder = "${bb}/busybox"; args = [ "sh" "-c" script ];
  };
  conf = v: mk "conf-${v}"
    "${bb}/busybox mkdir -p $out/etc && echo version=${v} > $out/etc/app.conf";
  sys = v: rc: mk "system-${v}" ''
    ${bb}/busybox mkdir -p $out/bin
    printf '#!${bb}/busybox sh\n[ -z "$OSMTEST_ACTIVATION_LOG" ] || echo "%s $*" >> "$OSMTEST_ACTIVATION_LOG"\nexit ${rc}\n' "$out" > $out/bin/switch-to-configuration
    ${bb}/busybox chmod 755 $out/bin/switch-to-configuration
  '';
in { c1 = conf "1"; c2 = conf "2"; c3 = conf "3"; c4 = conf "4";
     s1 = sys "1" "0"; s2 = sys "2" "0"; sbad = sys "bad" "1"; }
"""
NAMES = ("c1", "c2", "c3", "c4", "s1", "s2", "sbad")


def nix_missing():
    if os.geteuid() != 0:
        return "single-user Nix writes /nix as root only"
    for tool in ("nix-build", "nix-env", "nix-store"):
        if not shutil.which(tool):
            return "%s missing (nix-bin; scripts/deps.sh installs it)" % tool
    if not os.access("/bin/busybox", os.X_OK):
        return "/bin/busybox missing (busybox-static; scripts/deps.sh installs it)"
    return None


def nix_env(*args):
    subprocess.run(["nix-env"] + list(args), env=NIX_ENV, check=True, capture_output=True,
                   timeout=120)


def current(profile):
    """(generation, store path) the profile points at, or (0, None)."""
    try:
        link = os.readlink(profile)
    except FileNotFoundError:
        return 0, None
    gen = int(link[len(os.path.basename(profile)) + 1:-len("-link")])
    return gen, os.readlink("%s-%d-link" % (profile, gen))


@unittest.skipIf(nix_missing(), nix_missing())
class NixSwitchBase(WatchTestCase):
    @classmethod
    def setUpClass(cls):
        cls.build_dir = tempfile.mkdtemp(prefix="osm-nixbuild-")
        os.mkdir(os.path.join(cls.build_dir, "bb"))
        shutil.copy("/bin/busybox", os.path.join(cls.build_dir, "bb", "busybox"))
        with open(os.path.join(cls.build_dir, "gen.nix"), "w") as f:
            f.write(GEN_NIX)
        args = ["nix-build", os.path.join(cls.build_dir, "gen.nix"), "--no-out-link"]
        for n in NAMES:
            args += ["-A", n]
        out = subprocess.run(args, env=NIX_ENV, check=True, capture_output=True, text=True,
                             timeout=300).stdout.split()
        cls.store = dict(zip(NAMES, out))
        assert len(out) == len(NAMES), out

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.build_dir, ignore_errors=True)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="osm-nixprof-")
        self.profile = os.path.join(self.tmp, "app")
        self.system = os.path.join(self.tmp, "system")
        self.log = os.path.join(self.tmp, "activations")
        self.watch_args = ("--nixos-profile", self.system)
        os.environ["OSMTEST_ACTIVATION_LOG"] = self.log
        try:
            super().setUp()
        finally:
            del os.environ["OSMTEST_ACTIVATION_LOG"]

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def begin(self, plan, checks=(), ttl=3600):
        return self.watch.request("POST", "/switch/begin",
                                  {"plan": plan, "ttl_secs": ttl, "health_checks": list(checks)})

    def state(self, sid):
        st, s = self.watch.request("GET", "/switch/status/" + sid)
        self.assertEqual(st, 200, s)
        return s["status"]["state"]

    def await_state(self, sid, want):
        deadline = time.monotonic() + WAIT_S
        while self.state(sid) != want and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.state(sid), want)

    def activations(self):
        try:
            with open(self.log) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def receipts(self, sid):
        return [(t, p) for t, p in self.watch.events("switch.") if p.get("id") == sid]


class NixProfileSwitch(NixSwitchBase):
    def test_rollback_goes_to_the_recorded_generation(self):
        # generations 1..3, 1 current by hand: a relative --rollback from 4 would land on 3
        for n in ("c1", "c2", "c3"):
            nix_env("-p", self.profile, "--set", self.store[n])
        nix_env("-p", self.profile, "--switch-generation", "1")
        st, s = self.begin({"backend": "nix-profile", "profile": self.profile,
                            "store_path": self.store["c4"]})
        self.assertEqual(st, 200, s)
        self.assertEqual(s["status"], "probation")
        self.assertEqual(current(self.profile), (4, self.store["c4"]))
        with open(os.path.join(self.profile, "etc", "app.conf")) as f:
            self.assertEqual(f.read(), "version=4\n")

        st, r = self.watch.request("POST", "/switch/rollback/" + s["id"])
        self.assertEqual(st, 200, r)
        self.assertEqual(self.state(s["id"]), "rolled_back")
        self.assertEqual(current(self.profile), (1, self.store["c1"]))
        # a second rollback changes nothing
        self.watch.request("POST", "/switch/rollback/" + s["id"])
        self.assertEqual(current(self.profile), (1, self.store["c1"]))

        types = [t for t, _ in self.receipts(s["id"])]
        self.assertEqual(types, ["switch.begin", "switch.applied", "switch.rolled_back"])
        diff = dict(self.receipts(s["id"]))["switch.applied"]["diff"]
        self.assertEqual((diff["from_generation"], diff["to_generation"]), (1, 4))
        self.assertEqual((diff["from_store_path"], diff["to_store_path"]),
                         (self.store["c1"], self.store["c4"]))

    def test_rollback_after_watch_was_killed_in_probation(self):
        nix_env("-p", self.profile, "--set", self.store["c1"])
        st, s = self.begin({"backend": "nix-profile", "profile": self.profile,
                            "store_path": self.store["c2"]})
        self.assertEqual(st, 200, s)
        self.watch.stop(signal.SIGKILL)
        self.watch.start()
        self.assertEqual(self.state(s["id"]), "probation")
        st, r = self.watch.request("POST", "/switch/rollback/" + s["id"])
        self.assertEqual(st, 200, r)
        self.assertEqual(current(self.profile), (1, self.store["c1"]))

    def test_a_failing_check_removes_a_new_profile_again(self):
        st, s = self.begin({"backend": "nix-profile", "profile": self.profile,
                            "store_path": self.store["c1"]},
                           checks=[{"type": "command", "cmd": "/bin/false", "args": []}])
        self.assertEqual(st, 200, s)
        self.await_state(s["id"], "rolled_back")
        self.assertFalse(os.path.lexists(self.profile))
        self.assertFalse(os.path.lexists(self.profile + "-1-link"))

    def test_a_bad_store_path_is_refused_and_changes_nothing(self):
        nix_env("-p", self.profile, "--set", self.store["c1"])
        for path in ("/nix/store/00000000000000000000000000000000-osmoda-nixtest-missing",
                     self.store["c2"] + "/etc", "/tmp"):
            st, r = self.begin({"backend": "nix-profile", "profile": self.profile,
                                "store_path": path})
            self.assertEqual(st, 400, r)
            self.assertIn("store_path", r["message"])
        self.assertEqual(current(self.profile), (1, self.store["c1"]))
        self.assertEqual(self.watch.events("switch.applied"), [])


class NixosSwitch(NixSwitchBase):
    def test_apply_activates_the_new_system_and_commit_keeps_it(self):
        nix_env("-p", self.system, "--set", self.store["s1"])
        st, s = self.begin({"backend": "nixos", "store_path": self.store["s2"]})
        self.assertEqual(st, 200, s)
        self.assertEqual(self.activations(), [self.store["s2"] + " switch"])
        self.assertEqual(current(self.system), (2, self.store["s2"]))
        st, r = self.watch.request("POST", "/switch/commit/" + s["id"])
        self.assertEqual(st, 200, r)
        self.assertEqual(self.state(s["id"]), "committed")
        self.assertEqual(current(self.system), (2, self.store["s2"]))
        self.assertEqual(len(self.activations()), 1)

    def test_a_failing_activation_is_rolled_back_to_the_previous_system(self):
        nix_env("-p", self.system, "--set", self.store["s1"])
        st, r = self.begin({"backend": "nixos", "store_path": self.store["sbad"]})
        self.assertEqual(st, 422, r)
        self.assertIn("switch-to-configuration", r["message"])
        self.assertEqual(r["detail"]["status"]["state"], "rolled_back")
        self.assertEqual(self.activations(), [self.store["sbad"] + " switch",
                                              self.store["s1"] + " switch"])
        self.assertEqual(current(self.system), (1, self.store["s1"]))

    def test_a_system_profile_without_a_generation_is_refused(self):
        st, r = self.begin({"backend": "nixos", "store_path": self.store["s2"]})
        self.assertEqual(st, 400, r)
        self.assertIn("no generation to roll back to", r["message"])
        self.assertFalse(os.path.lexists(self.system))
        self.assertEqual(self.activations(), [])
        self.assertEqual(self.watch.events("switch."), [])

    def test_a_store_path_without_switch_to_configuration_is_refused(self):
        nix_env("-p", self.system, "--set", self.store["s1"])
        st, r = self.begin({"backend": "nixos", "store_path": self.store["c1"]})
        self.assertEqual(st, 400, r)
        self.assertIn("not a NixOS system", r["message"])
        self.assertEqual(current(self.system), (1, self.store["s1"]))
        self.assertEqual(self.activations(), [])


if __name__ == "__main__":
    unittest.main()
