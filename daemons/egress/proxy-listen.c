/* The proxy's listeners: the TCP port of the principal "default" and one unix socket per other
 * principal (<run>/egress-proxy/<name>.sock), kept in step with the configuration, and accept. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "proxy-internal.h"

/* "ADDR:PORT" or "[V6]:PORT" → a socket address. */
static int parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *colon = strrchr(spec, ':'), *h = spec;
    size_t hl;
    char *end;
    long port;

    if (!colon)
        return -EINVAL;
    hl = (size_t)(colon - spec);
    if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']')
        h = spec + 1, hl -= 2;
    if (hl == 0 || hl >= sizeof(host))
        return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || port < 1 || port > 65535)
        return -EINVAL;
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        *len = sizeof(*in);
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*in6);
    } else {
        return -EINVAL;
    }
    return 0;
}

static int open_tcp(const char *spec)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1, r = parse_listen(spec, &ss, &len);
    _cleanup_close_ int fd = -1;

    if (r < 0)
        return r;
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, PROXY_BACKLOG) < 0)
        return -errno;
    return TAKE_FD(fd);
}

static int open_unix(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    _cleanup_close_ int fd = -1;

    if (strlen(path) >= sizeof(sun.sun_path))
        return -ENAMETOOLONG;
    strcpy(sun.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (unlink(path) < 0 && errno != ENOENT)
        return -errno;
    /* the directory (0700) decides who reaches it; a sandbox gets it by a bind mount */
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || chmod(path, 0666) < 0 ||
        listen(fd, PROXY_BACKLOG) < 0)
        return -errno;
    return TAKE_FD(fd);
}

static void listener_free(struct proxy *p, struct listener *l)
{
    if (l->fd >= 0) {
        epoll_ctl(p->epfd, EPOLL_CTL_DEL, l->fd, NULL);
        close(l->fd);
    }
    if (l->path)
        unlink(l->path);
    free(l->principal);
    free(l->path);
    free(l);
}

static int listener_add(struct proxy *p, const char *principal, const char *path, int fd)
{
    struct listener *l = calloc(1, sizeof(*l)), **ls;
    struct epoll_event ev = {.events = EPOLLIN};
    int r = 0;

    if (!l) {
        close(fd);
        return -ENOMEM;
    }
    *l = (struct listener){.ref = {EP_LISTENER}, .fd = fd, .keep = true};
    ev.data.ptr = &l->ref;
    l->principal = strdup(principal);
    l->path = path ? strdup(path) : NULL;
    ls = realloc(p->listeners, (p->n_listeners + 1) * sizeof(*ls));
    if (ls)
        p->listeners = ls;
    if (!l->principal || (path && !l->path) || !ls) {
        r = -ENOMEM;
    } else if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        r = -errno;
    }
    if (r < 0) {
        free(l->path); /* not ours to unlink when half made */
        l->path = NULL;
        listener_free(p, l);
        return r;
    }
    p->listeners[p->n_listeners++] = l;
    return 0;
}

static struct listener *listener_find(struct proxy *p, const char *principal)
{
    for (size_t i = 0; i < p->n_listeners; i++)
        if (p->listeners[i]->path && strcmp(p->listeners[i]->principal, principal) == 0)
            return p->listeners[i];
    return NULL;
}

static int open_principal(struct proxy *p, const char *name, char *err, size_t errlen)
{
    char file[ACL_NAME_MAX + 8];
    _cleanup_free_ char *path = NULL;
    int fd;

    snprintf(file, sizeof(file), "%s.sock", name);
    path = osm_path_join(p->eg->principal_dir, file);
    if (!path)
        return -ENOMEM;
    fd = open_unix(path);
    if (fd < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(-fd));
        return fd;
    }
    return listener_add(p, name, path, fd);
}

/* Opens the TCP listener the first time, then a socket for every principal of the
 * configuration in force but "default", and closes those of principals that are gone. */
int proxy_listen_sync(struct proxy *p, char *err, size_t errlen)
{
    struct acl_config *cfg = egress_acl(p->eg);
    size_t i, kept = 0;
    int r = 0, fd;

    if (p->n_listeners == 0 && p->eg->listen) {
        if ((fd = open_tcp(p->eg->listen)) < 0) {
            snprintf(err, errlen, "cannot listen on %s: %s", p->eg->listen, strerror(-fd));
            acl_config_unref(cfg);
            return fd;
        }
        if ((r = listener_add(p, EGRESS_DEFAULT_PRINCIPAL, NULL, fd)) < 0) {
            acl_config_unref(cfg);
            return r;
        }
    }
    for (i = 0; i < p->n_listeners; i++)
        p->listeners[i]->keep = !p->listeners[i]->path;
    for (i = 0; cfg && i < cfg->n_principals && r == 0; i++) {
        const char *name = cfg->principals[i].name;
        struct listener *l;

        if (strcmp(name, EGRESS_DEFAULT_PRINCIPAL) == 0)
            continue;
        if ((l = listener_find(p, name)))
            l->keep = true;
        else
            r = open_principal(p, name, err, errlen);
    }
    acl_config_unref(cfg);
    for (i = 0; i < p->n_listeners; i++) {
        if (p->listeners[i]->keep)
            p->listeners[kept++] = p->listeners[i];
        else
            listener_free(p, p->listeners[i]);
    }
    p->n_listeners = kept;
    return r;
}

void proxy_listen_close_all(struct proxy *p)
{
    for (size_t i = 0; i < p->n_listeners; i++)
        listener_free(p, p->listeners[i]);
    free(p->listeners);
    p->listeners = NULL;
    p->n_listeners = 0;
}

/* Out of descriptors: the listener stays readable, so take the waiting connection with the
 * spare descriptor and close it, instead of spinning on it. */
static void refuse_one(struct proxy *p, struct listener *l)
{
    int fd;

    stat_add(&p->st.refused_limit, 1);
    if (p->spare_fd >= 0)
        close(p->spare_fd);
    fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0)
        close(fd);
    p->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    log_debug("egress.accept", "principal=%s refused=descriptors", l->principal);
}

void proxy_listen_accept(struct proxy *p, struct listener *l)
{
    for (int i = 0; i < PROXY_ACCEPT_BATCH; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
            refuse_one(p, l);
            return;
        }
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                log_debug("egress.accept", "principal=%s error=%d", l->principal, errno);
            return;
        }
        conn_admit(p, fd, l->principal);
    }
}
