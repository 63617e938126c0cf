/* The skeleton every daemon shares: where its socket and state live, signals, readiness. */
#pragma once

#include <signal.h>

#define OSM_DEFAULT_STATE_DIR "/var/lib/osmoda"
#define OSM_DEFAULT_RUN_DIR "/run/osmoda"

struct osm_daemon_paths {
    char *state_dir; /* --state-dir, else $OSMODA_STATE_DIR, else /var/lib/osmoda */
    char *run_dir;   /* the directory of --socket, else $OSMODA_RUN_DIR, else /run/osmoda:
                        every other socket of the daemon lives there */
    char *socket;    /* --socket, else <run_dir>/<name>.sock */
};

/* Fills paths from the flags (NULL when not given), the environment and the defaults. Creates
 * the state directory (0700) and the default run directory (0755) when missing; the directory
 * of a --socket flag must exist (-ENOENT). */
int osm_daemon_paths_resolve(const char *name, const char *state_flag, const char *socket_flag,
                             struct osm_daemon_paths *ret);
void osm_daemon_paths_clear(struct osm_daemon_paths *p);

/* Gives the unix socket at path to group, mode 0660, when that group exists (packaging creates
 * it with groupadd --system; /etc/group is read directly, not through NSS, which would map its
 * modules into the daemon for good). 1 when it did, 0 when there is no such group (dev mode
 * runs everything as one user: the socket stays 0600), -errno. */
int osm_daemon_socket_group(const char *path, const char *group);

/* A flag's integer: decimal digits (a sign allowed) making a value in [min, max], else -EINVAL. */
int osm_daemon_parse_int(const char *s, int min, int max, int *ret);

/* Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (call before starting threads, so
 * they inherit the mask) and ignores SIGPIPE. */
void osm_daemon_block_signals(sigset_t *ret_set);
/* Waits for one of the blocked signals; returns its number. */
int osm_daemon_wait_signal(const sigset_t *set);
/* Tells a supervisor we are ready: "READY=1" to $NOTIFY_SOCKET (systemd) and a line "READY=1\n"
 * to ready_fd when >= 0 (then closes it). */
void osm_daemon_notify_ready(int ready_fd);
