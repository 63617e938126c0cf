/* The safety_* tools (osModa §2 rows 57-60), executed by watch instead of osModa's shell loops
 * in the bridge:
 *   safety_rollback  the newest SafeSwitch that can still be rolled back, rolled back;
 *   safety_status    the generations of the SafeSwitch backends and the NixOS system profile;
 *   safety_panic     stops the osModa services, the gateway (the caller's chain) last, never
 *                    watch (it is doing this) nor agentd (the ledger stays);
 *   safety_restart   restarts them in the same order, then watch itself: under systemd through
 *                    a transient timer systemd runs after this answer has gone out (so the
 *                    restart completes without watch), under the process backend not at all —
 *                    nothing above watch would start it again, and the answer says so.
 * Each records its safety.* event before acting and refuses (503) when it cannot. */
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macro.h"
#include "emergency.h"
#include "ipc/errors.h"
#include "svc.h"
#include "switch.h"

#define NIXOS_SYSTEM_PROFILE "/nix/var/nix/profiles/system"
#define SELF_UNIT "osmoda-watch.service"

extern char **environ;

/* The services safety_panic stops and safety_restart restarts, in that order: the gateway,
 * through which an agent's call may have come, is last. */
static const char *const services[] = {
    "osmoda-keyd",   "osmoda-routines", "osmoda-mesh",   "osmoda-mcpd",
    "osmoda-teachd", "osmoda-voice",    "osmoda-egress", "osmoda-gateway",
};

static json_t *record_first(struct osm_request *req, const char *type, json_t *payload)
{
    struct watch *w = req->userdata;
    int r = watch_emit(&w->events, type, payload);

    if (r == 0)
        return NULL;
    return osm_error(req, 503, "ledger_unavailable", json_pack("{s:s}", "event", type),
                     "%s could not be recorded in the ledger, so nothing was done: %s", type,
                     strerror(-r));
}

json_t *safety_route_rollback(struct osm_request *req)
{
    struct watch *w = req->userdata;
    json_t *err, *out = NULL;
    int r;

    if ((err = record_first(req, "safety.rollback", json_pack("{s:i}", "by", (int)req->peer.uid))))
        return err;
    r = switches_rollback_latest(w->switches, "safety_rollback", &out);
    if (r == -ENOENT)
        return osm_error(req, 404, "nothing_to_roll_back", NULL,
                         "no SafeSwitch can be rolled back");
    if (r == -ENOSYS)
        return osm_error(req, 503, "not_enabled", NULL, "SafeSwitch is not available");
    if (r < 0)
        return osm_error_errno(req, r, "the rollback failed: %s", strerror(-r));
    return out ? out : json_pack("{s:b}", "rolled_back", true);
}

json_t *safety_route_status(struct osm_request *req)
{
    struct watch *w = req->userdata;
    char target[PATH_MAX];
    ssize_t n = readlink(NIXOS_SYSTEM_PROFILE, target, sizeof(target) - 1);
    json_t *gens = switches_generations(w->switches);

    if (n >= 0)
        target[n] = '\0';
    return json_pack(
        "{s:o, s:o, s:b, s:b}", "switches", gens ? gens : json_null(), "nixos",
        n >= 0 ? json_pack("{s:s, s:s}", "profile", NIXOS_SYSTEM_PROFILE, "current", target)
               : json_null(),
        "lockdown", emergency_locked(w->emergency), "frozen", emergency_frozen(w->emergency));
}

static const char *unit_result(int r, const char *done)
{
    return r == 0 ? done : r == -ENOENT ? "absent" : "failed";
}

/* Runs op on every service in order; {unit: result} (new). */
static json_t *each_service(struct svc *s, int (*op)(struct svc *, const char *), const char *done)
{
    json_t *o = json_object();

    for (size_t i = 0; o && i < ELEMENTSOF(services); i++) {
        int r = op(s, services[i]);
        if (r < 0 && r != -ENOENT)
            log_error("safety.service", "unit=%s error=%d reason=\"%s\"", services[i], r,
                      strerror(-r));
        json_object_set_new(o, services[i], json_string(unit_result(r, done)));
    }
    return o;
}

static json_t *service_names(void)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < ELEMENTSOF(services); i++)
        json_array_append_new(a, json_string(services[i]));
    return a;
}

json_t *safety_route_panic(struct osm_request *req)
{
    struct watch *w = req->userdata;
    json_t *err;

    if ((err = record_first(
             req, "safety.panic",
             json_pack("{s:i, s:o}", "by", (int)req->peer.uid, "services", service_names()))))
        return err;
    return json_pack("{s:o, s:s}", "services", each_service(w->svc, svc_stop, "stopped"), "note",
                     "watch and agentd keep running: the ledger and the emergency controls stay");
}

/* Under systemd: a transient timer that restarts watch's unit one second from now, run by
 * systemd whether or not watch is still there. */
static const char *restart_self(struct svc *s)
{
    char *const argv[] = {"systemd-run", "--on-active=1", "--timer-property=AccuracySec=100ms",
                          "systemctl",   "restart",       SELF_UNIT,
                          NULL};
    pid_t pid;
    int status;

    if (svc_kind(s) != SVC_BACKEND_SYSTEMD)
        return "not restarted: under the process backend nothing would start watch again";
    if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
        return "failed: systemd-run could not be started";
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return "failed: systemd-run refused";
    return "restarting";
}

json_t *safety_route_restart(struct osm_request *req)
{
    struct watch *w = req->userdata;
    json_t *err, *done;

    if ((err = record_first(
             req, "safety.restart",
             json_pack("{s:i, s:o}", "by", (int)req->peer.uid, "services", service_names()))))
        return err;
    done = each_service(w->svc, svc_restart, "restarted");
    return json_pack("{s:o, s:s}", "services", done, "watch", restart_self(w->svc));
}
