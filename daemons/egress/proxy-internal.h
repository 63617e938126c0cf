/* The proxy's parts and the state they share, all touched by the loop's thread only (except the
 * atomics: the stats and the wake-up requests of other threads). */
#pragma once

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "acl.h"
#include "egress.h"
#include "events.h"
#include "httpparse.h"
#include "proxy.h"
#include "resolve.h"

#define PROXY_EPOLL_EVENTS 256 /* events taken per epoll_wait */
#define PROXY_ACCEPT_BATCH 64  /* connections accepted per wake of one listener */
#define PROXY_BACKLOG 1024
#define PROXY_BUF_SIZE 16384   /* plain-HTTP bytes buffered per direction */
#define PROXY_LINGER_MS 2000   /* after our own answer, how long the client may still send */
#define PROXY_ANSWER_MAX 1024  /* our own answers: head and one line of text */
#define PROXY_REFUSED_MAX 1024 /* refused connections lingering at once (beyond the limits) */

enum ep_kind { EP_WAKE, EP_RESOLVER, EP_LOCKDOWN, EP_LISTENER, EP_CLIENT, EP_UPSTREAM };

/* What an epoll event points at: the first member of each registered object. */
struct ep_ref {
    enum ep_kind kind;
};

struct listener {
    struct ep_ref ref;
    int fd;
    char *principal;
    char *path; /* the unix socket, NULL for the TCP listener */
    bool keep;  /* reconcile: still in the configuration */
};

/* Open connections of one principal (kept while connections of a removed principal live). */
struct pcount {
    char name[ACL_NAME_MAX + 1];
    int n;
};

enum conn_state {
    CONN_HEAD,       /* reading a request head */
    CONN_RESOLVING,  /* waiting for the resolver */
    CONN_CONNECTING, /* dialling c->addrs[c->next_addr - 1] */
    CONN_TUNNEL,     /* CONNECT: bytes both ways */
    CONN_FORWARD,    /* plain HTTP: one request and its response in flight */
    CONN_ANSWER,     /* our own answer, then lingering until the client closes */
};

struct side {
    struct ep_ref ref;
    int fd;
    struct conn *c;
};

struct buf {
    char *data; /* NULL until needed */
    size_t len, off;
};

/* One direction of a tunnel: a pipe for splice, or a buffer where splice cannot be used. */
struct flow {
    int rd, wr; /* the pipe */
    size_t len; /* bytes in the pipe (or buffered) */
    size_t cap; /* the pipe's size: what one splice may move */
    bool grown; /* a larger pipe was asked for */
    char *copy; /* the copy loop's buffer, when splice failed */
    size_t off; /* copy: first unsent byte */
    bool eof;   /* the source closed */
    bool shut;  /* the destination was shut down for writing */
};

/* Plain-HTTP forwarding of one request. */
struct forward {
    int64_t req_left;   /* request body bytes not yet framed; -1 chunked */
    size_t req_pending; /* framed body bytes at c->in.off not yet sent */
    struct http_chunked req_chunks;
    bool req_done;
    bool head_request; /* HEAD: the response has no body */
    bool req_keep_alive;
    bool resp_head;      /* the response head was parsed */
    int64_t resp_left;   /* -1 chunked, -2 until close */
    size_t resp_pending; /* framed response bytes at c->resp.off not yet sent */
    struct http_chunked resp_chunks;
    bool resp_last; /* the response ends once resp_pending is sent */
    bool resp_done;
    bool resp_keep_alive;
    char up_host[ACL_HOST_MAX + 1]; /* what the upstream connection was dialled for */
    uint16_t up_port;
    struct sockaddr_storage up_addr;
};

struct conn {
    struct side client, upstream;
    struct proxy *p;
    struct conn *prev, *next;       /* p->conns */
    struct acl_config *cfg;         /* the configuration it was admitted under (a reference) */
    const struct acl_principal *pr; /* NULL when the principal is not in cfg */
    struct pcount *count;
    char principal[ACL_NAME_MAX + 1];
    enum conn_state state;
    bool refused;   /* admitted only to carry a refusal (not counted in the limits) */
    bool reserved;  /* holds an event slot */
    bool decided;   /* a decision waits to be recorded */
    bool resolving; /* the resolver holds this connection as its cookie */
    bool zombie;    /* closed while resolving: freed when the answer comes */
    bool closed;    /* waits on p->dead to be freed after this batch of events */
    bool follow_up; /* a kept-alive connection waiting for its next request */
    size_t heap_idx;
    int64_t deadline_ms;
    int64_t phase_ms;  /* when the current phase began */
    int64_t active_ms; /* the last byte either way */
    int64_t req_ms;    /* when the current request was decided */

    /* the current request and its decision */
    char method[HTTP_METHOD_MAX + 1];
    char host[ACL_HOST_MAX + 1];
    uint16_t port;
    bool is_connect;
    const struct acl_rule *rule;
    enum egress_verdict verdict;
    char reason[160];
    char address[INET6_ADDRSTRLEN + 8];
    struct sockaddr_storage addrs[RESOLVE_ADDRS_MAX];
    size_t n_addrs, next_addr;
    int dial_error;
    uint64_t up, down;

    struct buf in;   /* from the client: request heads and bodies */
    struct buf out;  /* to the upstream (a forwarded head) or to the client (our answer) */
    struct buf resp; /* from the upstream, plain HTTP */
    struct flow fup, fdown;
    struct forward *fwd;
};

struct proxy {
    struct egress *eg;
    int epfd, wakefd;
    int spare_fd;   /* given up to accept and refuse a connection when out of descriptors */
    int inotify_fd; /* the state directory, for the lockdown file appearing */
    struct ep_ref wake_ref, resolver_ref, lockdown_ref;
    pthread_t thread;
    bool running;
    atomic_bool stop, reconcile, close_all;

    struct listener **listeners;
    size_t n_listeners;
    struct pcount **counts;
    size_t n_counts;
    struct conn *conns;   /* every open connection */
    struct conn *dead;    /* closed in this batch of events: freed after it */
    struct conn *zombies; /* closed, but the resolver still holds them */
    size_t n_active;      /* admitted (limits), refused ones excepted */
    size_t n_refused;
    struct conn **heap; /* timers: the earliest deadline first */
    size_t heap_len, heap_cap;

    struct {
        atomic_uint_fast64_t accepted, active, tunnels, allowed, denied, would_deny;
        atomic_uint_fast64_t bytes_up, bytes_down, refused_limit, refused_ledger;
        atomic_uint_fast64_t refused_lockdown, timeouts;
    } st;
};

/* proxy-listen.c */
int proxy_listen_sync(struct proxy *p, char *err, size_t errlen);
void proxy_listen_close_all(struct proxy *p);
void proxy_listen_accept(struct proxy *p, struct listener *l);

/* proxy-conn.c */
void conn_admit(struct proxy *p, int fd, const char *principal);
void conn_event(struct conn *c);
void conn_close(struct conn *c);
void conn_timeout(struct conn *c);
int64_t conn_deadline(const struct conn *c);
void conn_answer(struct conn *c, int status, const char *text);
void conn_decided(struct conn *c);
void conn_record(struct conn *c);
void conn_next_request(struct conn *c);
void conn_fail(struct conn *c, int status, const char *why);
void conn_resolved(const struct resolve_result *res, void *ud);
int conn_ep_add(struct conn *c, struct side *s);
void conn_touch(struct conn *c);
void conn_close_upstream(struct conn *c);
int buf_alloc(struct buf *b, size_t cap);
void buf_free(struct buf *b);

/* proxy-tunnel.c */
int tunnel_start(struct conn *c);
void tunnel_pump(struct conn *c);
void tunnel_free(struct conn *c);

/* proxy-http.c */
int forward_prepare(struct conn *c, const struct http_request *req);
void forward_begin(struct conn *c);
void forward_pump(struct conn *c);
bool forward_can_reuse(const struct conn *c);
void forward_free(struct conn *c);

/* proxy-timer.c */
void timer_set(struct proxy *p, struct conn *c, int64_t at_ms);
void timer_del(struct proxy *p, struct conn *c);
int timer_wait_ms(struct proxy *p, int64_t now);
void timer_run(struct proxy *p, int64_t now);

static inline void stat_add(atomic_uint_fast64_t *v, uint64_t n)
{
    atomic_fetch_add_explicit(v, n, memory_order_relaxed);
}
