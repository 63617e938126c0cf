/* osmoda-sandbox-init: runs inside bubblewrap, after bwrap's mounts. In ring 2 with a way out
 * it first forks the egress relay (sandbox-relay.h: 127.0.0.1:PORT in the sandbox's network
 * namespace → the egress socket bound in). Then it applies Landlock (ring 2: workspace and /tmp
 * writable, the system read-only, nothing else, TCP connect to the relay's port only; ring 1:
 * scoping only), drops to the sandbox uid when started as root, applies the seccomp filter,
 * tells the runner it is confined, and execs /bin/sh -c COMMAND. Any failure before the exec ends
 * it with OSM_SANDBOX_EXIT_SETUP and without the ready byte: the command never runs unconfined.
 *
 * Usage: osmoda-sandbox-init --ring 1|2 [--ready-fd FD] [--uid UID] [--chdir DIR]
 *        [--ro PATH]... [--rw PATH]... [--tcp-port PORT]
 *        [--egress-socket PATH --egress-port PORT] -- COMMAND */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "sandbox-relay.h"
#include "sandbox/sandbox.h"

#define RULES_MAX (16 + 2 * OSM_SANDBOX_BINDS_MAX)

extern char **environ;

struct init_opts {
    int ring;
    int ready_fd;
    long uid;
    const char *chdir_to;
    int tcp_port;
    const char *egress_socket; /* inside the sandbox; relayed from 127.0.0.1:egress_port */
    int egress_port;
    struct osm_landlock_rule rules[RULES_MAX];
    size_t n_rules;
    const char *command;
};

static const char *const system_ro[] = {
    "/usr",
    "/etc",
    "/nix/store",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/proc",
    OSM_SANDBOX_INSIDE_INIT,
};

static int fail(const char *what, int err)
{
    fprintf(stderr, "osmoda-sandbox-init: sandbox_unavailable: %s: %s\n", what, strerror(err));
    return OSM_SANDBOX_EXIT_SETUP;
}

static int add_rule(struct init_opts *o, const char *path, unsigned access)
{
    if (o->n_rules >= RULES_MAX)
        return -E2BIG;
    o->rules[o->n_rules].path = path;
    o->rules[o->n_rules].access = access;
    o->n_rules++;
    return 0;
}

static int parse(int argc, char **argv, struct init_opts *o)
{
    int i;

    o->ready_fd = -1;
    o->uid = -1;
    o->tcp_port = -1;
    for (i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--") == 0)
            break;
        if (!v)
            return -EINVAL;
        if (strcmp(a, "--ring") == 0)
            o->ring = atoi(v);
        else if (strcmp(a, "--ready-fd") == 0)
            o->ready_fd = atoi(v);
        else if (strcmp(a, "--uid") == 0)
            o->uid = atol(v);
        else if (strcmp(a, "--chdir") == 0)
            o->chdir_to = v;
        else if (strcmp(a, "--tcp-port") == 0)
            o->tcp_port = atoi(v);
        else if (strcmp(a, "--egress-socket") == 0)
            o->egress_socket = v;
        else if (strcmp(a, "--egress-port") == 0)
            o->egress_port = atoi(v);
        else if (strcmp(a, "--ro") == 0 && add_rule(o, v, OSM_LL_READ) == 0)
            ;
        else if (strcmp(a, "--rw") == 0 && add_rule(o, v, OSM_LL_READ | OSM_LL_WRITE) == 0)
            ;
        else
            return -EINVAL;
    }
    if (i + 2 != argc || (o->ring != 1 && o->ring != 2) ||
        (o->egress_socket && (o->ring != 2 || o->egress_port <= 0 || o->egress_port > 65535)))
        return -EINVAL;
    o->command = argv[i + 1];
    return 0;
}

static int apply_landlock(struct init_opts *o)
{
    int r;

    if (o->ring == 1) {
        /* Host filesystem by design; still keep it from host abstract sockets and signals. */
        r = osm_landlock_apply(NULL, 0, -1);
        return r == -EOPNOTSUPP ? 0 : r;
    }
    for (size_t i = 0; i < sizeof(system_ro) / sizeof(system_ro[0]); i++)
        if ((r = add_rule(o, system_ro[i], OSM_LL_READ)) < 0)
            return r;
    if ((r = add_rule(o, "/dev", OSM_LL_DEV)) < 0 ||
        (r = add_rule(o, OSM_SANDBOX_INSIDE_WORKSPACE, OSM_LL_READ | OSM_LL_WRITE)) < 0 ||
        (r = add_rule(o, "/tmp", OSM_LL_READ | OSM_LL_WRITE)) < 0)
        return r;
    r = osm_landlock_apply(o->rules, o->n_rules, o->tcp_port);
    return r < 0 ? r : 0;
}

/* The sandbox's way out, when it has one: the relay listens before the command can run, and
 * is confined before the init goes on. */
static int start_relay(const struct init_opts *o)
{
    int fd, r;
    pid_t pid;

    if (!o->egress_socket)
        return 0;
    if ((r = sandbox_relay_listen(o->egress_port, &fd)) < 0)
        return r;
    r = sandbox_relay_spawn(fd, o->egress_socket, o->uid, &pid);
    close(fd);
    return r;
}

int main(int argc, char **argv)
{
    struct init_opts o = {0};
    char *sh_argv[] = {"sh", "-c", NULL, NULL};
    int r;

    if (parse(argc, argv, &o) < 0) {
        fprintf(stderr, "osmoda-sandbox-init: usage error\n");
        return OSM_SANDBOX_EXIT_SETUP;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return fail("no_new_privs", errno);
    if ((r = start_relay(&o)) < 0)
        return fail("egress relay", -r);
    if ((r = apply_landlock(&o)) < 0)
        return fail("landlock", -r);
    if (o.uid >= 0 && geteuid() == 0 && (r = osm_sandbox_drop_uid((uid_t)o.uid)) < 0)
        return fail("setuid", -r);
    if (o.chdir_to && chdir(o.chdir_to) < 0)
        return fail("chdir", errno);
    if ((r = osm_seccomp_apply()) < 0)
        return fail("seccomp", -r);
    if (o.ready_fd >= 0) {
        if (write(o.ready_fd, "1", 1) != 1)
            return fail("ready", errno);
        close(o.ready_fd);
    }
    sh_argv[2] = (char *)o.command;
    execve("/bin/sh", sh_argv, environ);
    fprintf(stderr, "osmoda-sandbox-init: exec /bin/sh: %s\n", strerror(errno));
    return 127;
}
