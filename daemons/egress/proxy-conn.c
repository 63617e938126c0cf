/* A proxied connection from admission to close: limits and the event slot, the request head
 * (bounded size and time), the decision (ACL, then the internal-address check of every resolved
 * address), dialling exactly the checked addresses, our own answers, timeouts and the events. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "addrcheck.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "proxy-internal.h"

static const char *status_text(int status)
{
    static const struct {
        int status;
        const char *text;
    } table[] = {{400, "Bad Request"},
                 {403, "Forbidden"},
                 {405, "Method Not Allowed"},
                 {408, "Request Timeout"},
                 {431, "Request Header Fields Too Large"},
                 {502, "Bad Gateway"},
                 {503, "Service Unavailable"},
                 {504, "Gateway Timeout"},
                 {505, "HTTP Version Not Supported"}};

    for (size_t i = 0; i < ELEMENTSOF(table); i++)
        if (table[i].status == status)
            return table[i].text;
    return "Error";
}

int buf_alloc(struct buf *b, size_t cap)
{
    if (!b->data && !(b->data = malloc(cap)))
        return -ENOMEM;
    return 0;
}

void buf_free(struct buf *b)
{
    free(b->data);
    *b = (struct buf){0};
}

int conn_ep_add(struct conn *c, struct side *s)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.ptr = &s->ref};

    return epoll_ctl(c->p->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0 ? -errno : 0;
}

void conn_touch(struct conn *c)
{
    c->active_ms = osm_monotonic_ms();
}

static struct pcount *pcount_get(struct proxy *p, const char *name)
{
    struct pcount **cs, *pc;

    for (size_t i = 0; i < p->n_counts; i++)
        if (strcmp(p->counts[i]->name, name) == 0)
            return p->counts[i];
    if (!(pc = calloc(1, sizeof(*pc))))
        return NULL;
    if (!(cs = realloc(p->counts, (p->n_counts + 1) * sizeof(*cs)))) {
        free(pc);
        return NULL;
    }
    snprintf(pc->name, sizeof(pc->name), "%s", name);
    p->counts = cs;
    p->counts[p->n_counts++] = pc;
    return pc;
}

int64_t conn_deadline(const struct conn *c)
{
    const struct acl_config *cfg = c->cfg;

    switch (c->state) {
    case CONN_HEAD:
        if (c->follow_up && c->in.len == c->in.off)
            return c->active_ms + (int64_t)cfg->idle_timeout_s * 1000;
        return c->phase_ms + (int64_t)cfg->header_timeout_s * 1000;
    case CONN_RESOLVING:
    case CONN_CONNECTING:
        return c->phase_ms + (int64_t)cfg->connect_timeout_s * 1000;
    case CONN_TUNNEL:
    case CONN_FORWARD:
        return c->active_ms + (int64_t)cfg->idle_timeout_s * 1000;
    case CONN_ANSWER:
        break;
    }
    return c->phase_ms + PROXY_LINGER_MS;
}

static void conn_set_state(struct conn *c, enum conn_state state)
{
    c->state = state;
    c->phase_ms = c->active_ms = osm_monotonic_ms();
    timer_set(c->p, c, conn_deadline(c));
}

void conn_record(struct conn *c)
{
    struct egress_decision d = {
        .principal = c->principal,
        .host = c->host,
        .port = c->port,
        .address = c->address[0] ? c->address : NULL,
        .method = c->method,
        .verdict = c->verdict,
        .rule = c->rule ? c->rule->host : NULL,
        .reason = c->verdict == EGRESS_ALLOW ? NULL : c->reason,
        .mode = c->pr && c->pr->mode == ACL_REPORT ? "report" : "enforce",
        .bytes_up = c->up,
        .bytes_down = c->down,
        .duration_ms = osm_monotonic_ms() - c->req_ms,
    };
    char rule[ACL_HOST_MAX + 48];

    if (c->rule && c->rule->grant_id) {
        snprintf(rule, sizeof(rule), "grant:%s", c->rule->grant_id);
        d.rule = rule;
    } else if (c->rule && c->rule->wildcard) {
        snprintf(rule, sizeof(rule), "*.%s", c->rule->host);
        d.rule = rule;
    }
    egress_events_record(c->p->eg->events, &d);
    stat_add(c->verdict == EGRESS_ALLOW  ? &c->p->st.allowed
             : c->verdict == EGRESS_DENY ? &c->p->st.denied
                                         : &c->p->st.would_deny,
             1);
    c->decided = c->reserved = false;
}

void conn_close_upstream(struct conn *c)
{
    if (c->upstream.fd >= 0) {
        close(c->upstream.fd); /* leaves the epoll set with it */
        c->upstream.fd = -1;
    }
}

void conn_close(struct conn *c)
{
    struct proxy *p = c->p;

    if (c->closed)
        return;
    c->closed = true;
    if (c->decided)
        conn_record(c);
    else if (c->reserved)
        egress_events_release(p->eg->events);
    c->reserved = false;
    timer_del(p, c);
    if (c->prev)
        c->prev->next = c->next;
    else
        p->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->client.fd >= 0)
        close(c->client.fd);
    c->client.fd = -1;
    conn_close_upstream(c);
    if (c->state == CONN_TUNNEL)
        atomic_fetch_sub(&p->st.tunnels, 1);
    tunnel_free(c);
    forward_free(c);
    buf_free(&c->in);
    buf_free(&c->out);
    buf_free(&c->resp);
    if (c->refused) {
        p->n_refused--;
    } else {
        c->count->n--;
        p->n_active--;
        atomic_fetch_sub(&p->st.active, 1);
    }
    /* freed after this batch of events (which may still name it), or once the resolver has
     * answered for it */
    c->next = c->resolving ? p->zombies : p->dead;
    if (c->resolving)
        p->zombies = c, c->zombie = true;
    else
        p->dead = c;
}

static void answer_pump(struct conn *c)
{
    char sink[4096];
    ssize_t n;

    while (c->out.off < c->out.len) {
        n = send(c->client.fd, c->out.data + c->out.off, c->out.len - c->out.off, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0)
            return conn_close(c);
        c->out.off += (size_t)n;
        if (c->out.off == c->out.len)
            shutdown(c->client.fd, SHUT_WR);
    }
    /* linger: read what the client still sends, so that closing does not reset the answer */
    while ((n = read(c->client.fd, sink, sizeof(sink))) > 0)
        ;
    if (n == 0 || errno != EAGAIN)
        conn_close(c);
}

/* Our own answer: status, a line of text, "Connection: close"; then the connection lingers.
 * A decision not yet recorded is recorded now. */
void conn_answer(struct conn *c, int status, const char *text)
{
    int n;

    if (c->decided)
        conn_record(c);
    else if (c->reserved)
        egress_events_release(c->p->eg->events);
    c->reserved = false;
    conn_close_upstream(c);
    if (c->state == CONN_TUNNEL)
        atomic_fetch_sub(&c->p->st.tunnels, 1);
    tunnel_free(c);
    forward_free(c);
    buf_free(&c->resp);
    buf_free(&c->in);
    buf_free(&c->out);
    if (buf_alloc(&c->out, PROXY_ANSWER_MAX) < 0)
        return conn_close(c);
    n = snprintf(c->out.data, PROXY_ANSWER_MAX,
                 "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\n\r\n%s\n",
                 status, status_text(status), strlen(text) + 1, text);
    c->out.len = n < 0 ? 0 : (size_t)n >= PROXY_ANSWER_MAX ? PROXY_ANSWER_MAX - 1 : (size_t)n;
    conn_set_state(c, CONN_ANSWER);
    answer_pump(c);
}

/* A denial: recorded at once, then answered. */
static void conn_deny(struct conn *c, int status, const char *reason)
{
    char text[768];

    c->verdict = EGRESS_DENY;
    snprintf(c->reason, sizeof(c->reason), "%s", reason);
    c->decided = true;
    snprintf(text, sizeof(text), "egress: %s:%u denied for principal %s: %s", c->host, c->port,
             c->principal, reason);
    conn_answer(c, status, text);
}

/* The request went no further than the upstream: recorded as a denial with the reason (nothing
 * went out), or, when bytes were exchanged already, as what it was. */
void conn_fail(struct conn *c, int status, const char *why)
{
    char text[768];

    if (c->decided && c->up == 0 && c->down == 0) {
        c->verdict = EGRESS_DENY;
        snprintf(c->reason, sizeof(c->reason), "%s", why);
    }
    snprintf(text, sizeof(text), "egress: %s:%u: %s", c->host, c->port, why);
    conn_answer(c, status, text);
}

void conn_admit(struct proxy *p, int fd, const char *principal)
{
    struct conn *c = calloc(1, sizeof(*c));
    struct acl_config *cfg = egress_acl(p->eg);
    char why[160] = "";
    int max;

    stat_add(&p->st.accepted, 1);
    if (!c || !cfg) {
        free(c);
        acl_config_unref(cfg);
        close(fd);
        return;
    }
    *c = (struct conn){.client = {{EP_CLIENT}, fd, c},
                       .upstream = {{EP_UPSTREAM}, -1, c},
                       .p = p,
                       .cfg = cfg,
                       .heap_idx = SIZE_MAX,
                       .fup = {.rd = -1, .wr = -1},
                       .fdown = {.rd = -1, .wr = -1}};
    snprintf(c->principal, sizeof(c->principal), "%s", principal);
    c->pr = acl_principal_find(cfg, principal);
    max = c->pr ? c->pr->max_connections : ACL_DEFAULT_PRINCIPAL_MAX_CONNECTIONS;
    c->next = p->conns;
    if (p->conns)
        p->conns->prev = c;
    p->conns = c;
    c->refused = true;
    p->n_refused++;
    if (conn_ep_add(c, &c->client) < 0 || !(c->count = pcount_get(p, principal)))
        return conn_close(c);
    if (atomic_load(&p->eg->lockdown)) {
        stat_add(&p->st.refused_lockdown, 1);
        snprintf(why, sizeof(why), "egress: lockdown: all traffic is refused");
    } else if (p->n_active >= (size_t)cfg->max_connections) {
        stat_add(&p->st.refused_limit, 1);
        snprintf(why, sizeof(why), "egress: connection limit reached (%d overall)",
                 cfg->max_connections);
    } else if (c->count->n >= max) {
        stat_add(&p->st.refused_limit, 1);
        snprintf(why, sizeof(why), "egress: connection limit reached (%d for principal %s)", max,
                 principal);
    } else if (egress_events_reserve(p->eg->events) < 0) {
        stat_add(&p->st.refused_ledger, 1);
        snprintf(why, sizeof(why), "egress: ledger_unavailable: decisions cannot be recorded");
    }
    if (why[0]) {
        if (p->n_refused > PROXY_REFUSED_MAX)
            return conn_close(c);
        return conn_answer(c, 503, why);
    }
    c->refused = false;
    p->n_refused--;
    c->reserved = true;
    c->count->n++;
    p->n_active++;
    stat_add(&p->st.active, 1);
    conn_set_state(c, CONN_HEAD);
}

static void dial_next(struct conn *c);

static void format_addr(const struct sockaddr_storage *ss, char *out, size_t len)
{
    const void *a = ss->ss_family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;

    if (!inet_ntop(ss->ss_family, a, out, (socklen_t)len))
        snprintf(out, len, "?");
}

static void connected(struct conn *c)
{
    if (c->is_connect) {
        if (tunnel_start(c) < 0)
            conn_fail(c, 502, "out of resources for a tunnel");
        return;
    }
    forward_begin(c);
}

/* The dial in progress finished (or not yet): a failure tries the next checked address. */
static void dial_check(struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    struct sockaddr_storage peer;
    socklen_t plen = sizeof(peer);

    if (getsockopt(c->upstream.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == 0 && getpeername(c->upstream.fd, (struct sockaddr *)&peer, &plen) == 0)
        return connected(c);
    if (err == 0 && errno == ENOTCONN)
        return; /* still connecting */
    c->dial_error = err ? err : errno;
    conn_close_upstream(c);
    dial_next(c);
}

static void dial_next(struct conn *c)
{
    while (c->next_addr < c->n_addrs) {
        const struct sockaddr_storage *sa = &c->addrs[c->next_addr++];
        socklen_t len =
            sa->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
        int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

        format_addr(sa, c->address, sizeof(c->address));
        if (fd < 0) {
            c->dial_error = errno;
            continue;
        }
        if (connect(fd, (const struct sockaddr *)sa, len) < 0 && errno != EINPROGRESS) {
            c->dial_error = errno;
            close(fd);
            continue;
        }
        c->upstream.fd = fd;
        if (conn_ep_add(c, &c->upstream) < 0) {
            c->dial_error = errno;
            conn_close_upstream(c);
            continue;
        }
        if (c->fwd)
            c->fwd->up_addr = *sa;
        conn_set_state(c, CONN_CONNECTING);
        return dial_check(c);
    }
    if (c->dial_error == ETIMEDOUT) {
        stat_add(&c->p->st.timeouts, 1);
        return conn_fail(c, 504, "connect timed out");
    }
    char why[96];
    snprintf(why, sizeof(why), "upstream unreachable (%s)", strerror(c->dial_error));
    conn_fail(c, 502, why);
}

static bool addr_allowed(const struct conn *c, const struct sockaddr_storage *ss,
                         const char **ret_reason)
{
    if (c->rule && acl_rule_names_addr(c->rule, (const struct sockaddr *)ss))
        return true;
    return !(*ret_reason = addrcheck_internal((const struct sockaddr *)ss));
}

/* The resolver's answer: keep the addresses that pass the internal-address check, dial them in
 * order. */
void conn_resolved(const struct resolve_result *res, void *ud)
{
    struct conn *c = res->cookie;
    const char *internal = NULL;
    size_t n = 0;

    (void)ud;
    c->resolving = false;
    if (c->zombie || c->state != CONN_RESOLVING)
        return; /* a zombie is freed by the caller */
    if (res->error) {
        return conn_fail(c, 502,
                         res->error == -ENOENT ? "name resolution failed: no such name"
                                               : "name resolution failed");
    }
    if (res->n == 0)
        return conn_fail(c, 502, "name resolution failed: no address");
    for (size_t i = 0; i < res->n; i++) {
        const char *why = NULL;

        if (addr_allowed(c, &res->addrs[i], &why))
            c->addrs[n++] = res->addrs[i];
        else if (!internal)
            internal = why, format_addr(&res->addrs[i], c->address, sizeof(c->address));
    }
    if (n == 0 && internal) {
        char reason[96];

        snprintf(reason, sizeof(reason), "internal address (%s)", internal);
        if (c->pr->mode != ACL_REPORT)
            return conn_deny(c, 403, reason);
        if (c->verdict == EGRESS_ALLOW) {
            c->verdict = EGRESS_WOULD_DENY;
            snprintf(c->reason, sizeof(c->reason), "%s", reason);
        }
        memcpy(c->addrs, res->addrs, res->n * sizeof(res->addrs[0]));
        n = res->n;
    }
    c->n_addrs = n;
    c->next_addr = 0;
    c->dial_error = ENOENT;
    dial_next(c);
}

/* Why no rule lets (host, port) through: the port when some rule names the host. */
static void deny_reason(const struct conn *c, char *out, size_t len)
{
    time_t now = time(NULL);

    for (size_t i = 0; i < c->pr->n_rules; i++)
        for (size_t j = 0; j < c->pr->rules[i].n_ports; j++)
            if (acl_match(c->pr, c->host, c->pr->rules[i].ports[j], now)) {
                snprintf(out, len, "port %u not allowed", c->port);
                return;
            }
    snprintf(out, len, "not in the allowlist");
}

static void decide(struct conn *c)
{
    struct proxy *p = c->p;
    char why[96];

    c->req_ms = osm_monotonic_ms();
    c->up = c->down = 0;
    c->rule = NULL;
    c->reason[0] = c->address[0] = '\0';
    if (!c->reserved && egress_events_reserve(p->eg->events) < 0) {
        struct egress_decision d = {.principal = c->principal,
                                    .host = c->host,
                                    .port = c->port,
                                    .method = c->method,
                                    .verdict = EGRESS_DENY,
                                    .reason = "ledger_unavailable",
                                    .mode = "enforce"};

        egress_events_drop_denial(p->eg->events, &d);
        stat_add(&p->st.refused_ledger, 1);
        return conn_answer(c, 503, "egress: ledger_unavailable: decisions cannot be recorded");
    }
    c->reserved = true;
    if (atomic_load(&p->eg->lockdown)) {
        stat_add(&p->st.refused_lockdown, 1);
        return conn_deny(c, 503, "lockdown");
    }
    if (!c->pr)
        return conn_deny(c, 403, "principal not in the configuration");
    c->verdict = EGRESS_ALLOW;
    if (!(c->rule = acl_match(c->pr, c->host, c->port, time(NULL)))) {
        deny_reason(c, why, sizeof(why));
        if (c->pr->mode != ACL_REPORT)
            return conn_deny(c, 403, why);
        c->verdict = EGRESS_WOULD_DENY;
        snprintf(c->reason, sizeof(c->reason), "%s", why);
    }
    c->decided = true;
    if (!c->is_connect && forward_can_reuse(c)) {
        format_addr(&c->fwd->up_addr, c->address, sizeof(c->address));
        return forward_begin(c);
    }
    conn_close_upstream(c);
    if (resolver_submit(p->eg->resolver, c->host, c->port, c) < 0)
        return conn_fail(c, 503, "resolver busy");
    c->resolving = true;
    conn_set_state(c, CONN_RESOLVING);
}

static void head_error(struct conn *c, ssize_t r)
{
    if (r == -E2BIG)
        return conn_answer(c, 431, "egress: request head too large");
    if (r == -EPROTONOSUPPORT)
        return conn_answer(c, 400, "egress: unsupported scheme or HTTP version");
    if (r == -ENOTSUP)
        return conn_answer(c, 400, "egress: not a proxy request (absolute-form or CONNECT)");
    conn_answer(c, 400, "egress: malformed request");
}

static void head_done(struct conn *c, const struct http_request *req, size_t n)
{
    int r;

    snprintf(c->method, sizeof(c->method), "%s", req->method);
    c->is_connect = req->is_connect;
    c->port = req->port;
    c->follow_up = false;
    if (acl_host_normalize(req->host, c->host) < 0) {
        snprintf(c->host, sizeof(c->host), "-");
        return conn_answer(c, 400, "egress: malformed host");
    }
    if (!req->is_connect && (r = forward_prepare(c, req)) < 0)
        return conn_answer(c, r == -E2BIG ? 431 : 503, "egress: cannot forward this request");
    c->in.off += n;
    decide(c);
}

static void head_read(struct conn *c)
{
    struct http_request req;
    ssize_t n;

    if (buf_alloc(&c->in, HTTP_HEAD_MAX) < 0)
        return conn_close(c);
    for (;;) {
        if (c->in.len > c->in.off) {
            n = http_parse_request(c->in.data + c->in.off, c->in.len - c->in.off, &req);
            if (n > 0)
                return head_done(c, &req, (size_t)n);
            if (n < 0)
                return head_error(c, n);
        }
        if (c->in.off > 0) {
            memmove(c->in.data, c->in.data + c->in.off, c->in.len - c->in.off);
            c->in.len -= c->in.off;
            c->in.off = 0;
        }
        if (c->in.len >= HTTP_HEAD_MAX)
            return head_error(c, -E2BIG);
        n = read(c->client.fd, c->in.data + c->in.len, HTTP_HEAD_MAX - c->in.len);
        if (n == 0 || (n < 0 && errno != EAGAIN))
            return conn_close(c);
        if (n < 0)
            return;
        if (c->follow_up && c->in.len == 0)
            c->phase_ms = osm_monotonic_ms(); /* the next head's time starts */
        c->in.len += (size_t)n;
    }
}

/* After a plain-HTTP exchange on a kept-alive connection: record it, wait for the next. */
void conn_next_request(struct conn *c)
{
    if (c->decided)
        conn_record(c);
    c->follow_up = true;
    conn_set_state(c, CONN_HEAD);
    head_read(c);
}

void conn_event(struct conn *c)
{
    switch (c->state) {
    case CONN_HEAD:
        return head_read(c);
    case CONN_RESOLVING:
        return;
    case CONN_CONNECTING:
        return dial_check(c);
    case CONN_TUNNEL:
        return tunnel_pump(c);
    case CONN_FORWARD:
        return forward_pump(c);
    case CONN_ANSWER:
        return answer_pump(c);
    }
}

void conn_timeout(struct conn *c)
{
    switch (c->state) {
    case CONN_HEAD:
        if (c->follow_up && c->in.len == c->in.off)
            return conn_close(c);
        stat_add(&c->p->st.timeouts, 1);
        return conn_answer(c, 408, "egress: request head not received in time");
    case CONN_RESOLVING:
        stat_add(&c->p->st.timeouts, 1);
        return conn_fail(c, 504, "name resolution timed out");
    case CONN_CONNECTING:
        c->dial_error = ETIMEDOUT;
        conn_close_upstream(c);
        return dial_next(c);
    case CONN_TUNNEL:
    case CONN_FORWARD:
        stat_add(&c->p->st.timeouts, 1);
        return conn_close(c);
    case CONN_ANSWER:
        return conn_close(c);
    }
}
