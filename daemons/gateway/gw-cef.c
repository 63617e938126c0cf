/* --syslog-cef: every ledger event written after the gateway started, as one CEF line
 * (ArcSight Common Event Format 0) in an RFC 3164 syslog datagram on the local syslog socket,
 * so a SIEM receives the audit trail through the syslog it already runs.
 *
 * agentd offers no way to wait for new events, so the follower waits on the ledger's files
 * instead: inotify on the state directory wakes it when ledger.db or its WAL is written (each
 * commit writes the WAL), then it reads the events after the last one it sent. Nothing polls.
 * Events written while the gateway was down are not sent again at start (the SIEM can ask
 * /api/v1/events for them). A datagram that cannot be sent is dropped and counted in the log. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "gw-api-internal.h"

#define CEF_MSG_MAX 1024 /* payload bytes put into msg= */
#define CEF_BATCH 256    /* events read per query */
#define CEF_FACILITY LOG_AUTHPRIV

#ifndef OSMODA_VERSION
#define OSMODA_VERSION "0"
#endif

struct gw_cef {
    char *db_path, *socket_path;
    int inotify_fd, stop_fd, sock;
    pthread_t thread;
    bool running;
    int64_t last_id; /* newest event sent (or skipped at start) */
    uint64_t dropped;
};

/* ---- the line ---------------------------------------------------------------------------- */

/* Appends s escaped for a CEF header (\ and |) or an extension value (\, = and newlines). */
static void put_escaped(FILE *f, const char *s, bool header, size_t max)
{
    for (size_t n = 0; *s && n < max; s++, n++) {
        if (*s == '\\' || (header && *s == '|') || (!header && *s == '='))
            fputc('\\', f);
        if (*s == '\n' || *s == '\r')
            fputs(header ? " " : "\\n", f);
        else
            fputc(*s, f);
    }
}

/* CEF severity (0-10) of an event type. */
static int severity_of(const char *type, const char *payload)
{
    static const struct {
        const char *type;
        int severity;
    } table[] = {
        {"switch.rollback_failed", 9},
        {"emergency.", 8},
        {"approval.denied", 6},
        {"switch.rolled_back", 6},
        {"egress.denied", 5},
        {"approval.", 4},
        {"tool.call", 3},
        {"gateway.", 3},
    };

    if (strcmp(type, "tool.call") == 0 && strstr(payload, "\"decision\":\"deny\""))
        return 5;
    for (size_t i = 0; i < ELEMENTSOF(table); i++)
        if (strncmp(type, table[i].type, strlen(table[i].type)) == 0)
            return table[i].severity;
    return 2;
}

char *gw_cef_line(int64_t id, const char *ts, const char *type, const char *actor,
                  const char *payload, const char *hash, int *ret_severity)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int sev = severity_of(type, payload);

    if (!f)
        return NULL;
    fputs("CEF:0|osModa|osmoda-gateway|" OSMODA_VERSION "|", f);
    put_escaped(f, type, true, 128);
    fputc('|', f);
    put_escaped(f, type, true, 128);
    fprintf(f, "|%d|externalId=%" PRId64 " rt=", sev, id);
    put_escaped(f, ts, false, 64);
    fputs(" suser=", f);
    put_escaped(f, actor, false, 128);
    fputs(" cs1Label=hash cs1=", f);
    put_escaped(f, hash, false, 64);
    fputs(" msg=", f);
    put_escaped(f, payload, false, CEF_MSG_MAX);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *ret_severity = sev;
    return buf;
}

/* ---- sending ----------------------------------------------------------------------------- */

static int syslog_level(int cef_severity)
{
    return cef_severity >= 9   ? LOG_CRIT
           : cef_severity >= 6 ? LOG_WARNING
           : cef_severity >= 4 ? LOG_NOTICE
                               : LOG_INFO;
}

static void send_line(struct gw_cef *c, const char *line, int sev)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char head[96], stamp[32];
    struct iovec iov[2];
    struct msghdr msg = {
        .msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = iov, .msg_iovlen = 2};
    time_t now = time(NULL);
    struct tm tm;

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", c->socket_path);
    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
    snprintf(head, sizeof(head), "<%d>%s osmoda-gateway[%d]: ", CEF_FACILITY | syslog_level(sev),
             stamp, (int)getpid());
    iov[0] = (struct iovec){head, strlen(head)};
    iov[1] = (struct iovec){(void *)line, strlen(line)};
    if (sendmsg(c->sock, &msg, MSG_NOSIGNAL) < 0 && c->dropped++ == 0)
        log_warn("gateway.cef", "socket=%s error=%d reason=\"%s\" what=\"lines are dropped\"",
                 c->socket_path, errno, strerror(errno));
}

/* ---- following the ledger ---------------------------------------------------------------- */

static const char *col(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);

    return t ? (const char *)t : "";
}

/* Sends the events after c->last_id: the number sent, or -errno. */
static int send_new(struct gw_cef *c, struct osm_ledger *l)
{
    static const char sql[] = "SELECT id, ts, type, actor, payload, hash FROM events"
                              " WHERE id > ?1 ORDER BY id LIMIT ?2";
    sqlite3_stmt *s = NULL;
    int rc, n = 0, sev;

    if (sqlite3_prepare_v2(osm_ledger_sqlite(l), sql, -1, &s, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_int64(s, 1, c->last_id);
    sqlite3_bind_int(s, 2, CEF_BATCH);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        _cleanup_free_ char *line = gw_cef_line(sqlite3_column_int64(s, 0), col(s, 1), col(s, 2),
                                                col(s, 3), col(s, 4), col(s, 5), &sev);
        if (line)
            send_line(c, line, sev);
        c->last_id = sqlite3_column_int64(s, 0);
        n++;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? n : -EIO;
}

/* The ledger, opened when it exists (agentd may start after the gateway). */
static struct osm_ledger *ledger_open(struct gw_cef *c, bool at_start)
{
    struct osm_ledger *l = NULL;
    int64_t count;

    if (osm_ledger_open(c->db_path, OSM_LEDGER_RDONLY, &l) < 0) {
        osm_ledger_close(l);
        return NULL;
    }
    if (at_start && osm_ledger_stats(l, &count, &c->last_id) < 0)
        c->last_id = 0;
    return l;
}

/* True when the inotify events name the ledger's database or WAL. */
static bool ledger_touched(int fd)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;
    bool hit = false;

    while ((n = read(fd, buf, sizeof(buf))) > 0)
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            if (ev->len && (strcmp(ev->name, OSM_LEDGER_DB_NAME) == 0 ||
                            strcmp(ev->name, OSM_LEDGER_DB_NAME "-wal") == 0))
                hit = true;
            p += sizeof(*ev) + ev->len;
        }
    return hit;
}

static void *follow(void *arg)
{
    struct gw_cef *c = arg;
    struct osm_ledger *l = ledger_open(c, true);
    struct pollfd fds[2] = {{.fd = c->inotify_fd, .events = POLLIN},
                            {.fd = c->stop_fd, .events = POLLIN}};
    bool fresh = l == NULL; /* no ledger at start: every event is new */

    while (poll(fds, 2, -1) >= 0 || errno == EINTR) {
        if (fds[1].revents)
            break;
        if (!(fds[0].revents && ledger_touched(c->inotify_fd)))
            continue;
        if (!l && !(l = ledger_open(c, !fresh)))
            continue;
        while (send_new(c, l) == CEF_BATCH)
            ;
    }
    osm_ledger_close(l);
    return NULL;
}

/* ---- lifetime ---------------------------------------------------------------------------- */

int gw_cef_start(const char *state_dir, const char *socket_path, struct gw_cef **ret)
{
    struct gw_cef *c = calloc(1, sizeof(*c));
    int r;

    if (!c)
        return -ENOMEM;
    c->inotify_fd = c->stop_fd = c->sock = -1;
    c->db_path = osm_path_join(state_dir, OSM_LEDGER_DB_NAME);
    c->socket_path = strdup(socket_path);
    if (!c->db_path || !c->socket_path) {
        r = -ENOMEM;
        goto fail;
    }
    if (strlen(socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        r = -ENAMETOOLONG;
        goto fail;
    }
    c->inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    c->stop_fd = eventfd(0, EFD_CLOEXEC);
    c->sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (c->inotify_fd < 0 || c->stop_fd < 0 || c->sock < 0 ||
        inotify_add_watch(c->inotify_fd, state_dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0) {
        r = -errno;
        goto fail;
    }
    if ((r = -pthread_create(&c->thread, NULL, follow, c)) < 0)
        goto fail;
    c->running = true;
    pthread_setname_np(c->thread, "gw-cef");
    log_info("gateway.cef", "socket=%s ledger=%s", c->socket_path, c->db_path);
    *ret = c;
    return 0;
fail:
    gw_cef_stop(c);
    return r;
}

void gw_cef_stop(struct gw_cef *c)
{
    uint64_t one = 1;

    if (!c)
        return;
    if (c->running) {
        if (write(c->stop_fd, &one, sizeof(one)) < 0)
            log_warn("gateway.cef", "what=stop error=%d", errno);
        pthread_join(c->thread, NULL);
    }
    if (c->inotify_fd >= 0)
        close(c->inotify_fd);
    if (c->stop_fd >= 0)
        close(c->stop_fd);
    if (c->sock >= 0)
        close(c->sock);
    free(c->db_path);
    free(c->socket_path);
    free(c);
}
