/* osmoda-watch (DESIGN §7): service supervision and watchers, SafeSwitch transactions, the file
 * integrity monitor and the emergency controls. One struct watch ties the parts together; each
 * part lives in its own files with its own header, and takes what it needs of the others from
 * here. Operator routes are on watch.sock (0600); agents reach the same operations only as tools
 * through watch's executor on watch-agent.sock. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define WATCH_CHECK_INTERVAL_S 30 /* osModa's --check-interval default: a watcher's interval */

struct osm_exec;
struct svc;
struct checks;
struct watchers;
struct switches;
struct fim;
struct emergency;
struct apps;

/* Where typed events go: agentd's ledger through its daemons socket in the daemon, a recorder
 * in unit tests. emit returns 0 once the event is durable, or -errno: the caller that cannot
 * record an action does not perform it. */
struct watch_events {
    int (*emit)(void *ctx, const char *type, const json_t *payload);
    void *ctx;
};

/* Records type with payload (stolen). 0 or -errno. */
int watch_emit(const struct watch_events *ev, const char *type, json_t *payload);
/* The events of the daemon: POST /events/append on agentd's daemons socket (the actor is
 * watch, named by agentd from our credentials). */
void watch_events_agentd(struct watch_events *ev, const char *daemons_socket);

struct watch {
    const char *data_dir;       /* --data-dir: watchers.json, switches/, apps.json, fim/ ... */
    const char *state_dir;      /* the suite's state dir: policy.json, the agent workspace */
    const char *run_dir;        /* every socket of the suite */
    const char *daemons_socket; /* agentd-daemons.sock */
    const char *nixos_profile;  /* --nixos-profile, or NULL: the default */
    int check_interval_s;       /* default interval of a watcher */
    struct watch_events events;
    struct svc *svc;
    struct checks *checks;
    struct watchers *watchers;
    struct switches *switches;
    struct fim *fim;
    struct emergency *emergency;
    struct apps *apps;
    struct osm_exec *exec;
};
