/* Chat over /ws (gw-chat.h): the upgrade and its authentication, the per-token socket limit, the
 * client's messages (on the ws thread, which never waits), chat sessions, and the turns, which run
 * one at a time per session on a small pool of chat threads. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "crypto/encoding.h"
#include "crypto/sha256.h"
#include "gw-agents.h"
#include "gw-auth.h"
#include "gw-chat.h"
#include "gw-credstore.h"
#include "gw-ws.h"

#define GW_CHAT_THREADS 4         /* turns running at once; more wait in the queue */
#define GW_CHAT_SESSIONS_MAX 1024 /* chat sessions remembered */
#define GW_CHAT_SESSION_KEY_MAX 128
#define GW_CHAT_PROMPT_MAX 10000 /* osModa's system prompt cap */
#define CHAT_HANDOFF_S 10        /* a 101 not yet handed over counts this long */
#define CHAT_DEFAULT_MODEL "claude-sonnet-4-6"
#define CHAT_DEFAULT_PROMPT                                                                        \
    "You are osModa, the administrator of this Linux server. Act only through the osmoda tools: "  \
    "each call is checked by policy, may wait for a person's approval, and is recorded in the "    \
    "ledger."

struct chat_sock {
    struct gw_chat *chat;
    struct gw_ws_conn *conn;
    char token_id[17];
    char user[64];
    char own_key[32];                           /* this client's session */
    char last_key[GW_CHAT_SESSION_KEY_MAX + 8]; /* the session of its last chat */
    bool adopted;
    time_t reserved_at;
    struct chat_sock *prev, *next;
};

struct session {
    char key[GW_CHAT_SESSION_KEY_MAX + 8];
    char resume_id[128];
    time_t last_used;
    bool orphan; /* its socket is gone: forget it when its turn ends */
    struct turn *turn;
    struct session *next;
};

struct turn {
    struct gw_turn t; /* first: drivers see only this */
    struct gw_chat *chat;
    struct session *session;
    struct gw_ws_conn *conn;        /* a reference */
    const struct chat_sock *origin; /* identity only; NULL once that socket is gone */
    char *text, *agent_id, *model, *prompt, *secret, *cred_type, *base_url;
    char runtime[32];
    atomic_bool error_sent; /* the driver said what went wrong */
    struct turn *qnext;
};

struct fallback {
    char *runtime; /* NULL: none */
    char *claude, *secret, *type, *model, *base_url;
};

struct gw_chat {
    struct gateway *gw;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct chat_sock *socks;
    struct session *sessions;
    size_t n_sessions;
    struct turn *q_head, *q_tail;
    size_t running;
    bool stop;
    pthread_t threads[GW_CHAT_THREADS];
    size_t n_threads;
    uint64_t next_id, turns, aborted;
    struct fallback fb;
    char *claude_path, *bridge_path;
};

/* ---- messages to a client ------------------------------------------------------------------ */

/* Sends {"type": type, ...fields (stolen)} on conn. */
static int send_msg(struct gw_ws_conn *conn, const char *type, json_t *fields)
{
    json_t *o = fields ? fields : json_object();
    char *s;
    int r;

    if (!o)
        return -ENOMEM;
    json_object_set_new(o, "type", json_string(type));
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s)
        return -ENOMEM;
    /* the end of a turn and its errors reach a paused client too */
    r = strcmp(type, "done") == 0 || strcmp(type, "error") == 0
            ? gw_ws_send_text_always(conn, s, strlen(s))
            : gw_ws_send_text(conn, s, strlen(s));
    free(s);
    return r;
}

static void send_error(struct gw_ws_conn *conn, const char *code, const char *text)
{
    send_msg(conn, "error", json_pack("{s:s, s:s}", "code", code, "text", text));
}

static void turn_emit(struct gw_turn *t, const char *type, json_t *fields)
{
    struct turn *tn = (struct turn *)t;

    if (strcmp(type, "error") == 0)
        atomic_store(&tn->error_sent, true);
    send_msg(tn->conn, type, fields);
}

/* ---- sessions (lock held) ------------------------------------------------------------------ */

static void session_unlink(struct gw_chat *c, struct session *s)
{
    for (struct session **p = &c->sessions; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            c->n_sessions--;
            free(s);
            return;
        }
}

static void sessions_prune(struct gw_chat *c, time_t now)
{
    for (struct session **p = &c->sessions, *s; (s = *p);) {
        if (!s->turn && now - s->last_used >= GW_CHAT_SESSION_IDLE_S) {
            *p = s->next;
            c->n_sessions--;
            free(s);
        } else {
            p = &s->next;
        }
    }
}

static struct session *session_find(struct gw_chat *c, const char *key)
{
    for (struct session *s = c->sessions; s; s = s->next)
        if (strcmp(s->key, key) == 0)
            return s;
    return NULL;
}

static struct session *session_get(struct gw_chat *c, const char *key, time_t now)
{
    struct session *s;

    sessions_prune(c, now);
    if ((s = session_find(c, key)))
        return s;
    if (c->n_sessions >= GW_CHAT_SESSIONS_MAX || !(s = calloc(1, sizeof(*s))))
        return NULL;
    snprintf(s->key, sizeof(s->key), "%s", key);
    s->last_used = now;
    s->next = c->sessions;
    c->sessions = s;
    c->n_sessions++;
    return s;
}

/* ---- turns --------------------------------------------------------------------------------- */

static void turn_free(struct turn *tn)
{
    if (!tn)
        return;
    if (tn->secret) {
        sodium_memzero(tn->secret, strlen(tn->secret));
        free(tn->secret);
    }
    free(tn->text);
    free(tn->agent_id);
    free(tn->model);
    free(tn->prompt);
    free(tn->cred_type);
    free(tn->base_url);
    if (tn->t.abort_fd >= 0)
        close(tn->t.abort_fd);
    gw_ws_conn_unref(tn->conn);
    free(tn);
}

static void turn_abort(struct turn *tn)
{
    uint64_t one = 1;

    if (atomic_exchange(&tn->t.aborted, true))
        return;
    if (write(tn->t.abort_fd, &one, sizeof(one)) < 0)
        log_debug("chat.abort", "error=%d", -errno);
}

static struct turn *turn_new(struct gw_chat *c, struct chat_sock *sock, const char *text,
                             const char *agent_id)
{
    struct turn *tn = calloc(1, sizeof(*tn));

    if (!tn)
        return NULL;
    tn->t.abort_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    tn->text = strdup(text);
    tn->agent_id = agent_id ? strdup(agent_id) : NULL;
    if (tn->t.abort_fd < 0 || !tn->text || (agent_id && !tn->agent_id)) {
        turn_free(tn);
        return NULL;
    }
    tn->chat = c;
    tn->origin = sock;
    tn->conn = sock->conn;
    gw_ws_conn_ref(tn->conn);
    tn->t.text = tn->text;
    tn->t.emit = turn_emit;
    tn->t.emit_ctx = tn;
    tn->t.program = c->claude_path;
    tn->t.mcp_bridge = c->bridge_path;
    return tn;
}

/* ---- which agent and driver answer (on a chat thread) -------------------------------------- */

/* How to set up each runtime, for the drivers this gateway has. */
static const struct {
    const char *runtime, *how;
} driver_help[] = {
    {"claude-code", "Claude Code (install the claude CLI, add an Anthropic credential with POST "
                    "/config/credentials, then an agent with runtime \"claude-code\" with PUT "
                    "/config/agents)"},
    {"anthropic", "an Anthropic API key (the same credential, an agent with runtime "
                  "\"anthropic\")"},
    {"openai", "an OpenAI-compatible URL (runtime \"openai\", a credential with base_url)"},
};

/* The text that tells the operator how to set up a driver. */
static void no_driver_text(struct gw_chat *c, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len,
                                "No agent is configured, so there is nobody to chat "
                                "with yet. Configure one of: ");
    bool first = true;

    for (size_t i = 0; i < ELEMENTSOF(driver_help) && o < len; i++) {
        if (!gw_driver_find(driver_help[i].runtime))
            continue;
        o += (size_t)snprintf(buf + o, len - o, "%s%s", first ? "" : "; or ", driver_help[i].how);
        first = false;
    }
    if (o < len)
        snprintf(buf + o, len - o,
                 ". The gateway keeps them in %s/agents.json and %s/credentials.json.enc; "
                 "docs/gateway.md has the steps.",
                 c->gw->config_dir, c->gw->config_dir);
}

static char *read_prompt(const char *path)
{
    char *data = NULL;
    size_t n = 0;

    if (!path || !*path || osm_read_file(path, 1024 * 1024, &data, &n) < 0)
        return strdup(CHAT_DEFAULT_PROMPT);
    if (n > GW_CHAT_PROMPT_MAX)
        data[GW_CHAT_PROMPT_MAX] = '\0';
    return data;
}

static int dup_field(const json_t *o, const char *key, char **ret)
{
    const char *v = json_string_value(json_object_get(o, key));

    *ret = v && *v ? strdup(v) : NULL;
    return v && *v && !*ret ? -ENOMEM : 0;
}

/* From agents.json and the credential store. */
static int resolve_agent(struct turn *tn, json_t *agent)
{
    struct gateway *gw = tn->chat->gw;
    const char *id = json_string_value(json_object_get(agent, "id"));
    const char *runtime = json_string_value(json_object_get(agent, "runtime"));
    const char *cred_id = json_string_value(json_object_get(agent, "credential_id"));
    json_t *cred = NULL;
    char msg[256];
    int r;

    snprintf(tn->runtime, sizeof(tn->runtime), "%s", runtime ? runtime : "");
    if (!gw_driver_find(tn->runtime)) {
        snprintf(msg, sizeof(msg), "Unknown runtime %s", tn->runtime);
        send_error(tn->conn, "unknown_runtime", msg);
        return -ENOENT;
    }
    if (!cred_id || !*cred_id) {
        snprintf(msg, sizeof(msg), "Agent %s has no credential configured", id ? id : "?");
        send_error(tn->conn, "no_credential", msg);
        return -ENOENT;
    }
    if (!gw->creds || gw_credstore_get(gw->creds, cred_id, &cred) < 0) {
        snprintf(msg, sizeof(msg), "Credential %s not found", cred_id);
        send_error(tn->conn, "credential_not_found", msg);
        return -ENOENT;
    }
    r = dup_field(cred, "secret", &tn->secret);
    if (r == 0)
        r = dup_field(cred, "type", &tn->cred_type);
    if (r == 0)
        r = dup_field(cred, "base_url", &tn->base_url);
    if (r == 0)
        r = dup_field(agent, "model", &tn->model);
    gw_credstore_forget(cred); /* wipes the secret and releases cred */
    if (r == 0 && !(tn->prompt = read_prompt(
                        json_string_value(json_object_get(agent, "system_prompt_file")))))
        r = -ENOMEM;
    if (r < 0)
        send_error(tn->conn, "internal_error", "out of memory");
    return r;
}

/* From the gateway's environment, when agents.json names no agent. */
static int resolve_fallback(struct turn *tn)
{
    struct fallback *fb = &tn->chat->fb;

    snprintf(tn->runtime, sizeof(tn->runtime), "%s", fb->runtime);
    tn->model = strdup(fb->model);
    tn->prompt = strdup(CHAT_DEFAULT_PROMPT);
    tn->secret = fb->secret ? strdup(fb->secret) : NULL;
    tn->cred_type = strdup(fb->type);
    tn->base_url = fb->base_url ? strdup(fb->base_url) : NULL;
    if (!tn->model || !tn->prompt || (fb->secret && !tn->secret) || !tn->cred_type ||
        (fb->base_url && !tn->base_url)) {
        send_error(tn->conn, "internal_error", "out of memory");
        return -ENOMEM;
    }
    if (fb->claude)
        tn->t.program = fb->claude;
    return 0;
}

static int turn_resolve(struct turn *tn)
{
    struct gw_chat *c = tn->chat;
    bool agents = c->gw->agents != NULL;
    json_t *agent = agents ? gw_agents_select(c->gw->agents, tn->agent_id, "web") : NULL;
    char msg[1536];
    int r;

    if (agent) {
        r = resolve_agent(tn, agent);
        json_decref(agent);
    } else if (tn->agent_id && agents) {
        snprintf(msg, sizeof(msg), "Agent %.64s is not configured or not enabled", tn->agent_id);
        send_error(tn->conn, "unknown_agent", msg);
        return -ENOENT;
    } else if (c->fb.runtime) {
        r = resolve_fallback(tn);
    } else {
        no_driver_text(c, msg, sizeof(msg));
        send_error(tn->conn, "no_driver", msg);
        return -ENOENT;
    }
    if (r < 0)
        return r;
    tn->t.agent_id = tn->agent_id ? tn->agent_id : "default";
    tn->t.model = tn->model ? tn->model : CHAT_DEFAULT_MODEL;
    tn->t.system_prompt = tn->prompt;
    tn->t.runtime = tn->runtime;
    tn->t.secret = tn->secret;
    tn->t.credential_type = tn->cred_type ? tn->cred_type : "api_key";
    tn->t.base_url = tn->base_url;
    return 0;
}

/* ---- the chat threads ---------------------------------------------------------------------- */

static void turn_run(struct turn *tn)
{
    const struct gw_driver *d;

    if (atomic_load(&tn->t.aborted)) {
        send_error(tn->conn, "aborted", "the turn was aborted");
    } else if (turn_resolve(tn) == 0 && (d = gw_driver_find(tn->runtime))) {
        send_msg(tn->conn, "status", json_pack("{s:s}", "text", "thinking"));
        d->run(tn->chat->gw, &tn->t);
        /* every driver's aborted turn ends the same way for the client */
        if (atomic_load(&tn->t.aborted) && !atomic_load(&tn->error_sent))
            send_error(tn->conn, "aborted", "the turn was aborted");
    }
}

/* done goes out once the session is free, so that a client may chat again as soon as it has it */
static void turn_done(struct turn *tn)
{
    json_t *done = json_object();

    if (done && tn->t.resume_id[0])
        json_object_set_new(done, "sessionId", json_string(tn->t.resume_id));
    send_msg(tn->conn, "done", done);
}

static void *chat_thread(void *arg)
{
    struct gw_chat *c = arg;
    struct turn *tn;

    for (;;) {
        pthread_mutex_lock(&c->lock);
        while (!c->q_head && !c->stop)
            pthread_cond_wait(&c->cond, &c->lock);
        if (!(tn = c->q_head)) {
            pthread_mutex_unlock(&c->lock);
            return NULL;
        }
        c->q_head = tn->qnext;
        if (!c->q_head)
            c->q_tail = NULL;
        c->running++;
        pthread_mutex_unlock(&c->lock);

        turn_run(tn);

        pthread_mutex_lock(&c->lock);
        c->running--;
        tn->session->turn = NULL;
        tn->session->last_used = time(NULL);
        snprintf(tn->session->resume_id, sizeof(tn->session->resume_id), "%s", tn->t.resume_id);
        if (atomic_load(&tn->t.aborted))
            c->aborted++;
        if (tn->session->orphan)
            session_unlink(c, tn->session);
        pthread_mutex_unlock(&c->lock);
        turn_done(tn);
        turn_free(tn);
    }
}

/* ---- the client's messages (ws thread: nothing here waits) --------------------------------- */

static bool session_key_valid(const char *k)
{
    size_t n = strlen(k);

    return n >= 1 && n <= GW_CHAT_SESSION_KEY_MAX &&
           strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-") == n;
}

static void chat_start(struct chat_sock *sock, const char *text, const char *key,
                       const char *agent_id)
{
    struct gw_chat *c = sock->chat;
    char full[GW_CHAT_SESSION_KEY_MAX + 8];
    struct session *s;
    struct turn *tn;

    if (key)
        snprintf(full, sizeof(full), "web:%s", key);
    else
        snprintf(full, sizeof(full), "%s", sock->own_key);
    if (!(tn = turn_new(c, sock, text, agent_id))) {
        send_error(sock->conn, "internal_error", "out of memory");
        return;
    }
    pthread_mutex_lock(&c->lock);
    s = session_get(c, full, time(NULL));
    if (!s || s->turn || c->stop) {
        pthread_mutex_unlock(&c->lock);
        send_error(sock->conn,
                   !s        ? "too_many_sessions"
                   : c->stop ? "shutting_down"
                             : "busy",
                   !s        ? "too many chat sessions; try again later"
                   : c->stop ? "the gateway is stopping"
                             : "a turn is already running in this session; wait for done or "
                               "send abort");
        turn_free(tn);
        return;
    }
    snprintf(tn->t.resume_id, sizeof(tn->t.resume_id), "%s", s->resume_id);
    snprintf(sock->last_key, sizeof(sock->last_key), "%s", full);
    s->turn = tn;
    s->last_used = time(NULL);
    tn->session = s;
    if (c->q_tail)
        c->q_tail->qnext = tn;
    else
        c->q_head = tn;
    c->q_tail = tn;
    c->turns++;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void chat_abort(struct chat_sock *sock)
{
    struct gw_chat *c = sock->chat;
    struct session *s;
    bool found = false;

    pthread_mutex_lock(&c->lock);
    s = sock->last_key[0] ? session_find(c, sock->last_key) : NULL;
    if (s && s->turn) {
        turn_abort(s->turn);
        found = true;
    }
    pthread_mutex_unlock(&c->lock);
    if (!found)
        send_error(sock->conn, "no_turn", "no turn is running in this socket's session");
}

static void on_text(struct gw_ws_conn *conn, const char *text, size_t len, void *ud)
{
    struct chat_sock *sock = ud;
    const char *type = NULL, *msg = NULL, *key = NULL, *agent = NULL;
    json_error_t e;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);

    (void)conn;
    if (!o || !json_is_object(o)) {
        send_error(sock->conn, "invalid_json", "Invalid JSON");
    } else if (json_unpack_ex(o, &e, 0, "{s:s}", "type", &type) < 0) {
        send_error(sock->conn, "invalid_message", "a message needs a string \"type\"");
    } else if (strcmp(type, "abort") == 0) {
        chat_abort(sock);
    } else if (strcmp(type, "chat") != 0) {
        send_error(sock->conn, "unknown_type", "known types: chat, abort");
    } else if (json_unpack_ex(o, &e, 0, "{s:s, s?s, s?s}", "text", &msg, "sessionKey", &key,
                              "agentId", &agent) < 0) {
        send_error(sock->conn, "invalid_message",
                   "chat needs a string \"text\"; sessionKey and agentId are strings");
    } else if (!*msg || strlen(msg) > GW_CHAT_TEXT_MAX) {
        send_error(sock->conn, "invalid_message", "text must have 1 to 32768 bytes");
    } else if (key && !session_key_valid(key)) {
        send_error(sock->conn, "invalid_message",
                   "sessionKey must be 1 to 128 characters of [A-Za-z0-9_.:-]");
    } else if (agent && (strlen(agent) > 64 || !*agent)) {
        send_error(sock->conn, "invalid_message", "agentId must have 1 to 64 characters");
    } else {
        chat_start(sock, msg, key, agent);
    }
    json_decref(o);
}

static void sock_unlink(struct gw_chat *c, struct chat_sock *sock)
{
    if (sock->prev)
        sock->prev->next = sock->next;
    else
        c->socks = sock->next;
    if (sock->next)
        sock->next->prev = sock->prev;
}

/* The socket is gone: its turns stop, its own session goes. */
static void on_close(struct gw_ws_conn *conn, void *ud)
{
    struct chat_sock *sock = ud;
    struct gw_chat *c = sock->chat;
    struct session *own;

    (void)conn;
    pthread_mutex_lock(&c->lock);
    for (struct session *s = c->sessions; s; s = s->next)
        if (s->turn && s->turn->origin == sock) {
            s->turn->origin = NULL;
            turn_abort(s->turn);
        }
    if ((own = session_find(c, sock->own_key))) {
        if (own->turn)
            own->orphan = true;
        else
            session_unlink(c, own);
    }
    sock_unlink(c, sock);
    pthread_mutex_unlock(&c->lock);
    free(sock);
}

static const struct gw_ws_handlers handlers = {on_text, on_close};

/* ---- the upgrade ----------------------------------------------------------------------------- */

/* Counts the sockets of a token (lock held): open ones, and answered ones not yet handed over. */
static size_t sockets_of(struct gw_chat *c, const char *token_id, time_t now)
{
    size_t n = 0;

    for (struct chat_sock *s = c->socks; s; s = s->next)
        if (strcmp(s->token_id, token_id) == 0 &&
            (s->adopted || now - s->reserved_at < CHAT_HANDOFF_S))
            n++;
    return n;
}

static int sock_reserve(struct gw_chat *c, const struct gw_who *who, struct chat_sock **ret)
{
    time_t now = time(NULL);
    struct chat_sock *sock;

    pthread_mutex_lock(&c->lock);
    if (sockets_of(c, who->token_id, now) >= GW_CHAT_SOCKETS_PER_TOKEN) {
        pthread_mutex_unlock(&c->lock);
        return -EUSERS;
    }
    if (!(sock = calloc(1, sizeof(*sock)))) {
        pthread_mutex_unlock(&c->lock);
        return -ENOMEM;
    }
    sock->chat = c;
    sock->reserved_at = now;
    snprintf(sock->token_id, sizeof(sock->token_id), "%s", who->token_id);
    snprintf(sock->user, sizeof(sock->user), "%s", who->user);
    snprintf(sock->own_key, sizeof(sock->own_key), "client:%llu", (unsigned long long)++c->next_id);
    sock->next = c->socks;
    if (c->socks)
        c->socks->prev = sock;
    c->socks = sock;
    pthread_mutex_unlock(&c->lock);
    *ret = sock;
    return 0;
}

/* On the HTTP connection's thread, after the 101: the socket goes to the ws thread. */
static void upgraded(void *cls, int fd, const char *extra, size_t extra_len)
{
    struct chat_sock *sock = cls;
    struct gw_chat *c = sock->chat;
    int r;

    /* adopted before the hand-off: once the ws thread has it, on_close may free it */
    pthread_mutex_lock(&c->lock);
    sock->adopted = true;
    pthread_mutex_unlock(&c->lock);
    r = fd < 0 ? -EBADF
               : gw_ws_adopt(c->gw->ws, fd, extra, extra_len, &handlers, sock, &sock->conn);
    if (r < 0) {
        log_warn("chat.adopt", "error=%d", r);
        pthread_mutex_lock(&c->lock);
        sock_unlink(c, sock);
        pthread_mutex_unlock(&c->lock);
        free(sock);
    }
}

/* The token of ?token= (for clients that cannot set headers), checked as the bearer is. */
static bool query_token_ok(struct gw_req *req, const char *token)
{
    uint8_t d[OSM_SHA256_LEN];

    if (!gw_auth_token_ok(req->gw->auth, token))
        return false;
    req->who = (struct gw_who){.bearer = true};
    snprintf(req->who.user, sizeof(req->who.user), "operator");
    osm_sha256(token, strlen(token), d);
    osm_hex_encode(d, 8, req->who.token_id);
    return true;
}

/* A cookie comes with any request the browser makes to this host, so a cookie-authenticated
 * upgrade must come from the dashboard's own origin. */
static bool origin_ok(const struct gw_req *req)
{
    const char *origin = gw_req_header(req, "Origin"), *host = gw_req_header(req, "Host");

    if (!origin)
        return true;
    if (strncmp(origin, "http://", 7) == 0)
        origin += 7;
    else if (strncmp(origin, "https://", 8) == 0)
        origin += 8;
    else
        return false;
    return host && strcmp(origin, host) == 0;
}

static bool ws_authenticate(struct gw_req *req, struct gw_resp *resp)
{
    const char *token = gw_req_query(req, "token");

    if (!gw_req_header(req, "Authorization") && token) {
        if (query_token_ok(req, token))
            return true;
        gw_error(req, resp, 401, "unauthorized", NULL, "the token is not valid");
        return false;
    }
    if (!gw_auth_check(req->gw->auth, req, resp, 0))
        return false;
    if (req->who.session && !origin_ok(req)) {
        gw_error(req, resp, 403, "forbidden", NULL,
                 "a dashboard session may open /ws only from the gateway's own origin");
        return false;
    }
    return true;
}

static bool header_has(const struct gw_req *req, const char *name, const char *word)
{
    const char *v = gw_req_header(req, name);

    return v && strcasestr(v, word);
}

static void ws_get(struct gw_req *req, struct gw_resp *resp)
{
    struct gw_chat *c = req->gw->chat;
    const char *version = gw_req_header(req, "Sec-WebSocket-Version");
    struct chat_sock *sock;
    char accept[29];
    int r;

    if (!ws_authenticate(req, resp))
        return;
    if (!c || !req->gw->ws) {
        gw_error(req, resp, 503, "service_unavailable", NULL, "chat is not running");
        return;
    }
    if (!header_has(req, "Upgrade", "websocket") || !header_has(req, "Connection", "upgrade") ||
        gw_ws_accept_key(gw_req_header(req, "Sec-WebSocket-Key"), accept) < 0) {
        gw_error(req, resp, 400, "validation_failed", NULL,
                 "/ws needs a WebSocket upgrade (Upgrade, Connection, Sec-WebSocket-Key)");
        return;
    }
    if (!version || strcmp(version, "13") != 0) {
        gw_error(req, resp, 426, "upgrade_required", NULL, "WebSocket version 13 only");
        gw_resp_header(resp, "Sec-WebSocket-Version", "13");
        return;
    }
    if ((r = sock_reserve(c, &req->who, &sock)) < 0) {
        if (r == -EUSERS) {
            gw_error(req, resp, 429, "rate_limited", NULL,
                     "at most %d chat sockets per token are open at once",
                     GW_CHAT_SOCKETS_PER_TOKEN);
            gw_resp_header(resp, "X-Auth-Reason", "too_many_connections");
        } else {
            gw_error(req, resp, 503, "service_unavailable", NULL, "out of memory");
        }
        return;
    }
    resp->status = 101;
    gw_resp_header(resp, "Upgrade", "websocket");
    gw_resp_header(resp, "Sec-WebSocket-Accept", accept);
    resp->upgrade = upgraded;
    resp->upgrade_cls = sock;
}

/* GET /chat/stats: what the chat and its sockets are doing. */
static void stats_get(struct gw_req *req, struct gw_resp *resp)
{
    resp->json = req->gw->chat ? gw_chat_stats(req->gw->chat) : NULL;
    if (!resp->json)
        gw_error(req, resp, 503, "service_unavailable", NULL, "chat is not running");
}

const struct gw_route gw_chat_routes[] = {
    {"GET", "/ws", ws_get, GW_PUBLIC},
    {"GET", "/chat/stats", stats_get, 0},
};
const size_t gw_chat_n_routes = ELEMENTSOF(gw_chat_routes);

/* ---- the part ------------------------------------------------------------------------------ */

static void wipe_free(char *secret)
{
    if (secret) {
        sodium_memzero(secret, strlen(secret));
        free(secret);
    }
}

static char *env_dup(const char *name)
{
    const char *v = getenv(name);

    return v && *v ? strdup(v) : NULL;
}

/* The MCP bridge beside this program (installed) or in the build tree. */
static char *bridge_find(void)
{
    char exe[PATH_MAX], path[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;

    if (getenv("OSMODA_MCP_BRIDGE_PATH") && *getenv("OSMODA_MCP_BRIDGE_PATH"))
        return strdup(getenv("OSMODA_MCP_BRIDGE_PATH"));
    if (n > 0) {
        exe[n] = '\0';
        if ((slash = strrchr(exe, '/')))
            *slash = '\0';
        snprintf(path, sizeof(path), "%s/osmoda-mcp-bridge", exe);
        if (access(path, X_OK) == 0)
            return strdup(path);
        snprintf(path, sizeof(path), "%s/../../mcp/osmoda-mcp-bridge", exe);
        if (access(path, X_OK) == 0)
            return realpath(path, NULL);
    }
    return strdup("osmoda-mcp-bridge");
}

/* Where the programs are, and the configuration used while agents.json names no agent:
 * OSMODA_GATEWAY_DRIVER ("claude-code", the default when OSMODA_GATEWAY_CLAUDE names the claude
 * CLI, "anthropic" or "openai"), the key in ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN
 * (OPENAI_API_KEY for openai), ANTHROPIC_BASE_URL / OPENAI_BASE_URL, OSMODA_GATEWAY_MODEL. Read
 * once, here. */
static int chat_config(struct gw_chat *c)
{
    struct fallback *fb = &c->fb;
    char *oauth = env_dup("CLAUDE_CODE_OAUTH_TOKEN");

    fb->claude = env_dup("OSMODA_GATEWAY_CLAUDE");
    fb->runtime = env_dup("OSMODA_GATEWAY_DRIVER");
    if (!fb->runtime && fb->claude)
        fb->runtime = strdup("claude-code");
    fb->model = env_dup("OSMODA_GATEWAY_MODEL");
    fb->secret = env_dup("ANTHROPIC_API_KEY");
    fb->type = strdup(fb->secret || !oauth ? "api_key" : "oauth");
    if (!fb->secret)
        fb->secret = TAKE_PTR(oauth);
    free(oauth);
    if (fb->runtime && strcmp(fb->runtime, "anthropic") == 0)
        fb->base_url = env_dup("ANTHROPIC_BASE_URL");
    if (fb->runtime && strcmp(fb->runtime, "openai") == 0) {
        wipe_free(fb->secret);
        fb->secret = env_dup("OPENAI_API_KEY");
        free(fb->type);
        fb->type = strdup("api_key");
        fb->base_url = env_dup("OPENAI_BASE_URL");
    }
    if (fb->runtime && !gw_driver_find(fb->runtime)) {
        log_warn("chat.config", "what=OSMODA_GATEWAY_DRIVER value=\"%s\" reason=\"unknown\"",
                 fb->runtime);
        free(fb->runtime);
        fb->runtime = NULL;
    }
    if (!fb->model)
        fb->model = strdup(CHAT_DEFAULT_MODEL);
    c->claude_path = env_dup("CLAUDE_PATH");
    if (!c->claude_path)
        c->claude_path =
            strdup(access("/usr/local/bin/claude", X_OK) == 0 ? "/usr/local/bin/claude" : "claude");
    c->bridge_path = bridge_find();
    if (!fb->model || !fb->type || !c->claude_path || !c->bridge_path)
        return -ENOMEM;
    if (fb->runtime)
        log_info("chat.config", "fallback_driver=%s model=%s key=%s", fb->runtime, fb->model,
                 fb->secret ? "given" : "none");
    return 0;
}

int gw_chat_new(struct gateway *gw, struct gw_chat **ret)
{
    struct gw_chat *c = calloc(1, sizeof(*c));
    int r;

    if (!c)
        return -ENOMEM;
    c->gw = gw;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    if ((r = chat_config(c)) < 0) {
        gw_chat_free(c);
        return r;
    }
    for (; c->n_threads < GW_CHAT_THREADS; c->n_threads++) {
        if ((r = pthread_create(&c->threads[c->n_threads], NULL, chat_thread, c)) != 0) {
            gw_chat_free(c);
            return -r;
        }
        pthread_setname_np(c->threads[c->n_threads], "gw-chat");
    }
    *ret = c;
    return 0;
}

void gw_chat_free(struct gw_chat *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->stop = true;
    for (struct session *s = c->sessions; s; s = s->next)
        if (s->turn)
            turn_abort(s->turn);
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; i < c->n_threads; i++)
        pthread_join(c->threads[i], NULL);
    while (c->sessions)
        session_unlink(c, c->sessions);
    while (c->socks) { /* answered upgrades never handed over */
        struct chat_sock *s = c->socks;
        sock_unlink(c, s);
        free(s);
    }
    wipe_free(c->fb.secret);
    free(c->fb.claude);
    free(c->fb.runtime);
    free(c->fb.base_url);
    free(c->fb.type);
    free(c->fb.model);
    free(c->claude_path);
    free(c->bridge_path);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

json_t *gw_chat_stats(struct gw_chat *c)
{
    struct gw_ws_stats ws = {0};
    size_t socks = 0, queued = 0;
    json_t *o;

    if (c->gw->ws)
        gw_ws_get_stats(c->gw->ws, &ws);
    pthread_mutex_lock(&c->lock);
    for (struct chat_sock *s = c->socks; s; s = s->next)
        socks += s->adopted;
    for (struct turn *t = c->q_head; t; t = t->qnext)
        queued++;
    o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:{s:I, s:I, s:I, s:I, s:I, s:I}}",
                  "sockets", (json_int_t)socks, "sessions", (json_int_t)c->n_sessions,
                  "turns_running", (json_int_t)c->running, "turns_queued", (json_int_t)queued,
                  "turns", (json_int_t)c->turns, "turns_aborted", (json_int_t)c->aborted,
                  "fallback_driver", c->fb.runtime != NULL, "ws", "open", (json_int_t)ws.open,
                  "opened", (json_int_t)ws.opened, "closed_idle", (json_int_t)ws.closed_idle,
                  "dropped_paused", (json_int_t)ws.dropped_paused, "messages_in",
                  (json_int_t)ws.messages_in, "messages_out", (json_int_t)ws.messages_out);
    pthread_mutex_unlock(&c->lock);
    return o;
}
