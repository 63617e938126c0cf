/* Daemon skeleton: paths, signals, readiness notification. */
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stddef.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "daemon.h"

static const char *env_or(const char *var, const char *def)
{
    const char *v = getenv(var);

    return v && *v ? v : def;
}

int osm_daemon_paths_resolve(const char *name, const char *state_flag, const char *socket_flag,
                             struct osm_daemon_paths *ret)
{
    int r;

    memset(ret, 0, sizeof(*ret));
    ret->state_dir =
        strdup(state_flag ? state_flag : env_or("OSMODA_STATE_DIR", OSM_DEFAULT_STATE_DIR));
    if (socket_flag) {
        _cleanup_free_ char *copy = strdup(socket_flag);
        ret->socket = strdup(socket_flag);
        ret->run_dir = copy ? strdup(dirname(copy)) : NULL;
    } else {
        ret->run_dir = strdup(env_or("OSMODA_RUN_DIR", OSM_DEFAULT_RUN_DIR));
        if (ret->run_dir && asprintf(&ret->socket, "%s/%s.sock", ret->run_dir, name) < 0)
            ret->socket = NULL;
    }
    if (!ret->state_dir || !ret->run_dir || !ret->socket) {
        osm_daemon_paths_clear(ret);
        return -ENOMEM;
    }
    r = osm_mkdir_p(ret->state_dir, 0700);
    /* A run directory named by --socket is the caller's to create; the default one is ours.
     * It is searchable by all: each socket's own mode and group decide who may connect. */
    if (r == 0 && !socket_flag)
        r = osm_mkdir_p(ret->run_dir, 0755);
    else if (r == 0 && access(ret->run_dir, F_OK) < 0)
        r = -errno;
    return r;
}

void osm_daemon_paths_clear(struct osm_daemon_paths *p)
{
    free(p->state_dir);
    free(p->run_dir);
    free(p->socket);
    memset(p, 0, sizeof(*p));
}

static bool group_gid(const char *name, gid_t *ret)
{
    _cleanup_fclose_ FILE *f = fopen("/etc/group", "re");
    struct group *g;

    while (f && (g = fgetgrent(f)))
        if (strcmp(g->gr_name, name) == 0) {
            *ret = g->gr_gid;
            return true;
        }
    return false;
}

int osm_daemon_socket_group(const char *path, const char *group)
{
    gid_t gid = 0;

    if (!group_gid(group, &gid))
        return 0;
    if (chown(path, (uid_t)-1, gid) < 0 || chmod(path, 0660) < 0)
        return -errno;
    return 1;
}

void osm_daemon_block_signals(sigset_t *ret_set)
{
    sigemptyset(ret_set);
    sigaddset(ret_set, SIGINT);
    sigaddset(ret_set, SIGTERM);
    sigaddset(ret_set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, ret_set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int osm_daemon_wait_signal(const sigset_t *set)
{
    int sig;

    while (sigwait(set, &sig) != 0)
        ;
    return sig;
}

static void notify_systemd(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    socklen_t len;
    int fd;

    if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sa.sun_path))
        return;
    strcpy(sa.sun_path, path);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract namespace */
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
    close(fd);
}

void osm_daemon_notify_ready(int ready_fd)
{
    notify_systemd();
    if (ready_fd >= 0) {
        ssize_t n = write(ready_fd, "READY=1\n", 8);
        (void)n;
        close(ready_fd);
    }
}

int osm_daemon_parse_int(const char *s, int min, int max, int *ret)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno || v < min || v > max)
        return -EINVAL;
    *ret = (int)v;
    return 0;
}
