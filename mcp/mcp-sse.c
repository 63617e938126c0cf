/* Resumable server-sent event streams of one Streamable HTTP session (MCP 2025-11-25): every
 * event gets an id "<stream>-<seq>" (unique within the session), is kept in a bounded per-session
 * buffer, and a connection reads a stream from a cursor. A client that lost its connection -
 * or whose connection the server closed to make it poll - sends GET with Last-Event-ID and gets
 * what it missed, then the rest. The id "<stream>-0" is the priming event (no data) sent first
 * on a stream of a session that speaks MCP_SSE_RESUMABLE_SINCE or later. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mcp.h"

struct sse_event {
    struct sse_event *next; /* the session's buffer, oldest first */
    struct mcp_sse_stream *stream;
    uint64_t seq;
    int refs; /* the buffer and readers copying it out */
    size_t len;
    char data[];
};

struct mcp_sse_stream {
    struct mcp_sse_stream *next; /* the session's list, oldest first */
    struct mcp_sse_log *log;
    uint64_t id;
    uint64_t last_seq;    /* of the newest event */
    uint64_t dropped_seq; /* newest event dropped from the buffer */
    bool primed;          /* events carry ids the client may resume from */
    bool done;            /* the final event is in: the stream ends after last_seq */
    bool standalone;      /* the GET stream, not a request's */
    unsigned gen;         /* bumped by a new reader and by close_connection */
    int refs;             /* the list, and each holder (a request's worker, a reader) */
};

/* Every holder of a stream (not the list) also holds a reference to the log, so the log goes
 * last. */
struct mcp_sse_log {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* any event, end, close */
    int refs;
    bool closed;
    long hold_ms;
    struct sse_event *head, *tail;
    size_t n_events, bytes;
    struct mcp_sse_stream *streams;
    size_t n_streams;
    uint64_t next_stream;
};

struct mcp_sse_reader {
    struct mcp_sse_stream *stream;
    uint64_t cursor; /* seq of the last event handed out */
    unsigned gen;
    struct timespec deadline; /* when a held connection is closed (resumable streams) */
    bool holds;               /* the deadline applies */
    struct sse_event *cur;    /* being copied out */
    size_t off;
    char note[96]; /* priming event or retry field */
    size_t note_len, note_off;
    bool ending; /* after the note: end of stream */
};

struct mcp_sse_log *mcp_sse_log_new(long hold_ms)
{
    struct mcp_sse_log *l = calloc(1, sizeof(*l));

    if (!l)
        return NULL;
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->cond, NULL);
    l->refs = 1;
    l->hold_ms = hold_ms > 0 ? hold_ms : MCP_SSE_HOLD_MS;
    l->next_stream = 1;
    return l;
}

struct mcp_sse_log *mcp_sse_log_ref(struct mcp_sse_log *l)
{
    pthread_mutex_lock(&l->lock);
    l->refs++;
    pthread_mutex_unlock(&l->lock);
    return l;
}

/* Locked: the buffer's and readers' references. */
static void event_unref_locked(struct sse_event *e)
{
    if (--e->refs == 0)
        free(e);
}

/* Locked: takes the oldest event out of the buffer. */
static void drop_head_locked(struct mcp_sse_log *l)
{
    struct sse_event *e = l->head;

    l->head = e->next;
    if (!l->head)
        l->tail = NULL;
    l->n_events--;
    l->bytes -= e->len;
    if (e->seq > e->stream->dropped_seq)
        e->stream->dropped_seq = e->seq;
    event_unref_locked(e);
}

/* Locked: drops every buffered event of st. */
static void drop_stream_events_locked(struct mcp_sse_log *l, struct mcp_sse_stream *st)
{
    struct sse_event **pp = &l->head, *prev = NULL;

    while (*pp) {
        struct sse_event *e = *pp;
        if (e->stream != st) {
            prev = e;
            pp = &e->next;
            continue;
        }
        *pp = e->next;
        if (l->tail == e)
            l->tail = prev;
        l->n_events--;
        l->bytes -= e->len;
        if (e->seq > st->dropped_seq)
            st->dropped_seq = e->seq;
        event_unref_locked(e);
    }
}

/* Locked. */
static void stream_unref_locked(struct mcp_sse_stream *st)
{
    if (--st->refs == 0)
        free(st);
}

/* Locked: forgets st (no longer resumable) and its events. */
static void unlist_locked(struct mcp_sse_log *l, struct mcp_sse_stream *st)
{
    for (struct mcp_sse_stream **pp = &l->streams; *pp; pp = &(*pp)->next)
        if (*pp == st) {
            *pp = st->next;
            break;
        }
    l->n_streams--;
    drop_stream_events_locked(l, st);
    stream_unref_locked(st);
}

void mcp_sse_log_close(struct mcp_sse_log *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    l->closed = true;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->lock);
}

void mcp_sse_log_unref(struct mcp_sse_log *l)
{
    int left;

    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    left = --l->refs;
    if (left == 0)
        while (l->streams)
            unlist_locked(l, l->streams);
    pthread_mutex_unlock(&l->lock);
    if (left > 0)
        return;
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->cond);
    free(l);
}

/* Locked: makes room for one more stream by forgetting the oldest finished one. */
static int stream_room_locked(struct mcp_sse_log *l)
{
    if (l->n_streams < MCP_SSE_STREAMS_MAX)
        return 0;
    for (struct mcp_sse_stream *st = l->streams; st; st = st->next)
        if (st->done) {
            unlist_locked(l, st);
            return 0;
        }
    return -EBUSY;
}

/* Locked: a new stream, held by the list only. */
static int stream_new_locked(struct mcp_sse_log *l, bool primed, bool standalone,
                             struct mcp_sse_stream **ret)
{
    struct mcp_sse_stream *st, **pp;
    int r;

    if (l->closed)
        return -ECANCELED;
    r = stream_room_locked(l);
    if (r < 0)
        return r;
    st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->log = l;
    st->id = l->next_stream++;
    st->primed = primed;
    st->standalone = standalone;
    st->refs = 1;
    for (pp = &l->streams; *pp; pp = &(*pp)->next)
        ;
    *pp = st;
    l->n_streams++;
    *ret = st;
    return 0;
}

int mcp_sse_stream_open(struct mcp_sse_log *l, bool primed, struct mcp_sse_stream **ret)
{
    int r;

    pthread_mutex_lock(&l->lock);
    r = stream_new_locked(l, primed, false, ret);
    if (r == 0) {
        (*ret)->refs++;
        l->refs++;
    }
    pthread_mutex_unlock(&l->lock);
    return r;
}

void mcp_sse_stream_unref(struct mcp_sse_stream *st)
{
    struct mcp_sse_log *l;

    if (!st)
        return;
    l = st->log;
    pthread_mutex_lock(&l->lock);
    stream_unref_locked(st);
    pthread_mutex_unlock(&l->lock);
    mcp_sse_log_unref(l); /* the holder's reference to the log */
}

uint64_t mcp_sse_stream_id(const struct mcp_sse_stream *st)
{
    return st->id;
}

int mcp_sse_stream_append(struct mcp_sse_stream *st, const json_t *msg, bool final)
{
    struct mcp_sse_log *l = st->log;
    char *json = json_dumps(msg, JSON_COMPACT);
    char head[80];
    struct sse_event *e;
    size_t n, hn;
    int r = 0;

    if (!json)
        return -ENOMEM;
    pthread_mutex_lock(&l->lock);
    if (st->done) {
        r = -EPIPE;
        goto out;
    }
    hn = (size_t)snprintf(head, sizeof(head), "id: %" PRIu64 "-%" PRIu64 "\nevent: message\n",
                          st->id, st->last_seq + 1);
    n = hn + strlen("data: ") + strlen(json) + 2;
    e = malloc(sizeof(*e) + n + 1);
    if (!e) {
        r = -ENOMEM;
        goto out;
    }
    e->next = NULL;
    e->stream = st;
    e->seq = ++st->last_seq;
    e->refs = 1;
    e->len = (size_t)snprintf(e->data, n + 1, "%sdata: %s\n\n", head, json);
    if (l->tail)
        l->tail->next = e;
    else
        l->head = e;
    l->tail = e;
    l->n_events++;
    l->bytes += e->len;
    st->done = final;
    /* the newest event always stays, however large */
    while (l->head != e && (l->n_events > MCP_SSE_EVENTS_MAX || l->bytes > MCP_SSE_BUFFER_MAX))
        drop_head_locked(l);
    pthread_cond_broadcast(&l->cond);
out:
    pthread_mutex_unlock(&l->lock);
    free(json);
    return r;
}

int mcp_sse_stream_close_connection(struct mcp_sse_stream *st)
{
    struct mcp_sse_log *l = st->log;

    if (!st->primed)
        return -ENOTSUP; /* its client could not resume it */
    pthread_mutex_lock(&l->lock);
    st->gen++;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->lock);
    return 0;
}

/* ---- readers ---- */

static void deadline_after(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static bool past(const struct timespec *ts)
{
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    return now.tv_sec > ts->tv_sec || (now.tv_sec == ts->tv_sec && now.tv_nsec >= ts->tv_nsec);
}

/* Locked: a reader of st from cursor; it supersedes any reader st had. */
static struct mcp_sse_reader *reader_new_locked(struct mcp_sse_stream *st, uint64_t cursor,
                                                bool prime)
{
    struct mcp_sse_reader *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    st->refs++;
    st->log->refs++;
    r->stream = st;
    r->cursor = cursor;
    r->gen = ++st->gen;
    pthread_cond_broadcast(&st->log->cond); /* the superseded reader ends */
    /* a GET stream is always closed after a while (nothing may ever come); a request's stream
     * only where the client can resume it */
    r->holds = st->primed || st->standalone;
    deadline_after(&r->deadline, st->log->hold_ms);
    if (prime && st->primed)
        r->note_len =
            (size_t)snprintf(r->note, sizeof(r->note), "id: %" PRIu64 "-0\nretry: %d\ndata: \n\n",
                             st->id, MCP_SSE_RETRY_MS);
    return r;
}

int mcp_sse_reader_open(struct mcp_sse_stream *st, struct mcp_sse_reader **ret)
{
    struct mcp_sse_log *l = st->log;
    int r = 0;

    pthread_mutex_lock(&l->lock);
    *ret = reader_new_locked(st, 0, true);
    if (!*ret)
        r = -ENOMEM;
    pthread_mutex_unlock(&l->lock);
    return r;
}

int mcp_sse_reader_standalone(struct mcp_sse_log *l, bool primed, struct mcp_sse_reader **ret)
{
    struct mcp_sse_stream *st = NULL;
    int r = 0;

    *ret = NULL;
    pthread_mutex_lock(&l->lock);
    for (struct mcp_sse_stream *s = l->streams; s; s = s->next)
        if (s->standalone)
            st = s;
    if (l->closed) {
        r = -ECANCELED;
    } else if (!st) {
        r = stream_new_locked(l, primed, true, &st);
    }
    if (r == 0) {
        *ret = reader_new_locked(st, st->last_seq, true);
        if (!*ret)
            r = -ENOMEM;
    }
    pthread_mutex_unlock(&l->lock);
    return r;
}

/* "<stream>-<seq>", both decimal, stream > 0. */
static int parse_event_id(const char *s, uint64_t *ret_stream, uint64_t *ret_seq)
{
    uint64_t v[2] = {0, 0};
    int part = 0;
    size_t digits = 0;

    for (; *s; s++) {
        if (*s == '-' && part == 0 && digits > 0) {
            part = 1;
            digits = 0;
            continue;
        }
        if (*s < '0' || *s > '9' || digits == 19)
            return -EINVAL;
        v[part] = v[part] * 10 + (uint64_t)(*s - '0');
        digits++;
    }
    if (part != 1 || digits == 0 || v[0] == 0)
        return -EINVAL;
    *ret_stream = v[0];
    *ret_seq = v[1];
    return 0;
}

int mcp_sse_reader_resume(struct mcp_sse_log *l, const char *last_event_id,
                          struct mcp_sse_reader **ret)
{
    struct mcp_sse_stream *st = NULL;
    uint64_t sid, seq;
    int r;

    *ret = NULL;
    r = parse_event_id(last_event_id, &sid, &seq);
    if (r < 0)
        return r;
    pthread_mutex_lock(&l->lock);
    for (struct mcp_sse_stream *s = l->streams; s; s = s->next)
        if (s->id == sid)
            st = s;
    if (l->closed)
        r = -ECANCELED;
    else if (!st || seq > st->last_seq)
        r = -ENOENT; /* never sent in this session, or forgotten */
    else if (seq < st->dropped_seq)
        r = -ESTALE; /* what followed it is no longer buffered */
    else if (!(*ret = reader_new_locked(st, seq, false)))
        r = -ENOMEM;
    pthread_mutex_unlock(&l->lock);
    return r;
}

/* Locked: the buffered event of st with sequence seq, or NULL. */
static struct sse_event *find_locked(struct mcp_sse_log *l, struct mcp_sse_stream *st, uint64_t seq)
{
    for (struct sse_event *e = l->head; e; e = e->next)
        if (e->stream == st && e->seq == seq)
            return e;
    return NULL;
}

/* Locked: queues the retry field (the client should come back) and the end of the stream. */
static void end_locked(struct mcp_sse_reader *r, bool retry)
{
    r->ending = true;
    r->note_off = 0;
    r->note_len =
        retry ? (size_t)snprintf(r->note, sizeof(r->note), "retry: %d\n\n", MCP_SSE_RETRY_MS) : 0;
}

/* Locked: the next thing the reader can hand out, waiting for it. 1 when there is something to
 * copy (note or event), 0 at the end of the connection, -EPIPE when events were lost. */
static int next_locked(struct mcp_sse_reader *r)
{
    struct mcp_sse_stream *st = r->stream;
    struct mcp_sse_log *l = st->log;

    for (;;) {
        struct sse_event *e;

        if (r->note_off < r->note_len)
            return 1;
        if (r->ending)
            return 0;
        if (l->closed || r->gen != st->gen) {
            /* superseded or closed by the server: where it can, the client comes back */
            end_locked(r, st->primed && !l->closed);
            continue;
        }
        e = find_locked(l, st, r->cursor + 1);
        if (e) {
            e->refs++;
            r->cur = e;
            r->off = 0;
            r->cursor = e->seq;
            return 1;
        }
        if (r->cursor < st->last_seq)
            return -EPIPE; /* dropped from the buffer before this connection took it */
        if (st->done)
            return 0;
        if (r->holds && past(&r->deadline)) {
            end_locked(r, true);
            continue;
        }
        if (r->holds)
            pthread_cond_timedwait(&l->cond, &l->lock, &r->deadline);
        else
            pthread_cond_wait(&l->cond, &l->lock);
    }
}

ssize_t mcp_sse_reader_read(struct mcp_sse_reader *r, char *buf, size_t max)
{
    struct mcp_sse_log *l = r->stream->log;
    size_t n;
    int rc;

    if (max == 0)
        return 0;
    pthread_mutex_lock(&l->lock);
    if (!r->cur) {
        rc = next_locked(r);
        if (rc <= 0) {
            pthread_mutex_unlock(&l->lock);
            return rc == 0 ? MCP_SSE_END : MCP_SSE_ABORT;
        }
    }
    if (!r->cur) {
        n = r->note_len - r->note_off < max ? r->note_len - r->note_off : max;
        memcpy(buf, r->note + r->note_off, n);
        r->note_off += n;
    } else {
        n = r->cur->len - r->off < max ? r->cur->len - r->off : max;
        memcpy(buf, r->cur->data + r->off, n);
        r->off += n;
        if (r->off == r->cur->len) {
            event_unref_locked(r->cur);
            r->cur = NULL;
        }
    }
    pthread_mutex_unlock(&l->lock);
    return (ssize_t)n;
}

void mcp_sse_reader_free(struct mcp_sse_reader *r)
{
    struct mcp_sse_stream *st;

    if (!r)
        return;
    st = r->stream;
    pthread_mutex_lock(&st->log->lock);
    if (r->cur)
        event_unref_locked(r->cur);
    pthread_mutex_unlock(&st->log->lock);
    mcp_sse_stream_unref(st); /* and the log */
    free(r);
}
