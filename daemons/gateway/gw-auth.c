/* The token, the dashboard's sessions and the login. Tokens are compared as SHA-256 digests with
 * sodium_memcmp, so neither their bytes nor their length show in the time taken. */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "crypto/encoding.h"
#include "crypto/sha256.h"
#include "gw-auth.h"

#define TOKEN_BYTES 32
#define TOKEN_TEXT_MAX 256
#define SESSION_ID_BYTES 32
#define CSRF_BYTES 16
#define FAIL_TRACKED 256 /* addresses whose failed logins are counted */

struct session {
    char id[SESSION_ID_BYTES * 2 + 1]; /* "" for a free slot */
    char csrf[CSRF_BYTES * 2 + 1];
    char user[64];
    time_t created, last_used;
};

struct failures {
    char addr[64];
    time_t minute;
    unsigned count;
};

struct gw_auth {
    char *token_path;
    uint8_t token_digest[OSM_SHA256_LEN];
    pthread_mutex_t lock;
    struct session sessions[GW_SESSIONS_MAX];
    struct failures fails[FAIL_TRACKED];
};

/* ---- the token --------------------------------------------------------------------------- */

static int token_create(const char *path)
{
    uint8_t b[TOKEN_BYTES];
    char hex[TOKEN_BYTES * 2 + 2];
    int r;

    randombytes_buf(b, sizeof(b));
    osm_hex_encode(b, sizeof(b), hex);
    strcat(hex, "\n");
    r = osm_write_file_atomic(path, hex, strlen(hex), 0600);
    sodium_memzero(b, sizeof(b));
    sodium_memzero(hex, sizeof(hex));
    return r;
}

static int token_load(struct gw_auth *a, char *err, size_t errlen)
{
    char buf[TOKEN_TEXT_MAX];
    size_t len;
    int r = osm_read_secret_file(a->token_path, buf, sizeof(buf), &len);

    if (r == -ENOENT && (r = token_create(a->token_path)) == 0)
        r = osm_read_secret_file(a->token_path, buf, sizeof(buf), &len);
    if (r < 0) {
        snprintf(err, errlen, "cannot read the token file %s: %s%s", a->token_path, strerror(-r),
                 r == -EPERM ? " (it must be 0600 and not a symlink)" : "");
        return r;
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
        buf[--len] = '\0';
    if (len < 16) {
        sodium_memzero(buf, sizeof(buf));
        snprintf(err, errlen, "the token in %s is shorter than 16 characters", a->token_path);
        return -EINVAL;
    }
    r = osm_sha256(buf, len, a->token_digest);
    sodium_memzero(buf, sizeof(buf));
    return r;
}

int gw_auth_open(const char *config_dir, struct gw_auth **ret, char *err, size_t errlen)
{
    struct gw_auth *a = calloc(1, sizeof(*a));
    int r;

    if (!a || !(a->token_path = osm_path_join(config_dir, GW_TOKEN_FILE))) {
        gw_auth_free(a);
        return -ENOMEM;
    }
    pthread_mutex_init(&a->lock, NULL);
    if ((r = token_load(a, err, errlen)) < 0) {
        gw_auth_free(a);
        return r;
    }
    *ret = a;
    return 0;
}

void gw_auth_free(struct gw_auth *a)
{
    if (!a)
        return;
    sodium_memzero(a->sessions, sizeof(a->sessions));
    free(a->token_path);
    free(a);
}

const char *gw_auth_token_path(const struct gw_auth *a)
{
    return a->token_path;
}

bool gw_auth_token_ok(const struct gw_auth *a, const char *presented)
{
    uint8_t d[OSM_SHA256_LEN];

    if (!presented || osm_sha256(presented, strlen(presented), d) < 0)
        return false;
    return sodium_memcmp(d, a->token_digest, sizeof(d)) == 0;
}

/* ---- sessions ---------------------------------------------------------------------------- */

static bool session_live(const struct session *s, time_t now)
{
    return s->id[0] && now - s->last_used < GW_SESSION_IDLE_S &&
           now - s->created < GW_SESSION_MAX_S;
}

/* The session named by the request's cookie (lock held), or NULL. */
static struct session *session_of(struct gw_auth *a, const struct gw_req *req, time_t now)
{
    const char *cookie = gw_req_header(req, "Cookie");
    char id[SESSION_ID_BYTES * 2 + 1];
    const char *p;
    size_t n;

    for (p = cookie; p && (p = strstr(p, GW_SESSION_COOKIE "=")); p++)
        if (p == cookie || p[-1] == ' ' || p[-1] == ';')
            break;
    if (!p)
        return NULL;
    p += strlen(GW_SESSION_COOKIE "=");
    n = strcspn(p, "; ");
    if (n != sizeof(id) - 1)
        return NULL;
    memcpy(id, p, n);
    id[n] = '\0';
    for (size_t i = 0; i < GW_SESSIONS_MAX; i++) {
        struct session *s = &a->sessions[i];
        if (s->id[0] && sodium_memcmp(s->id, id, n) == 0)
            return session_live(s, now) ? s : NULL;
    }
    return NULL;
}

/* A free slot, else the least recently used session's. */
static struct session *session_slot(struct gw_auth *a, time_t now)
{
    struct session *oldest = &a->sessions[0];

    for (size_t i = 0; i < GW_SESSIONS_MAX; i++) {
        struct session *s = &a->sessions[i];
        if (!session_live(s, now))
            return s;
        if (s->last_used < oldest->last_used)
            oldest = s;
    }
    return oldest;
}

static void random_hex(char *out, size_t bytes)
{
    uint8_t b[SESSION_ID_BYTES];

    randombytes_buf(b, bytes);
    osm_hex_encode(b, bytes, out);
    sodium_memzero(b, sizeof(b));
}

/* ---- the check --------------------------------------------------------------------------- */

static const char *bearer_of(const struct gw_req *req)
{
    const char *h = gw_req_header(req, "Authorization");

    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    return h + 7;
}

/* A cookie-authenticated change must prove it comes from the dashboard itself. */
static bool csrf_ok(const struct gw_req *req, const struct session *s)
{
    const char *token = gw_req_header(req, "X-CSRF-Token");
    const char *origin = gw_req_header(req, "Origin");
    const char *host = gw_req_header(req, "Host");
    const char *o = origin;

    if (!token || strlen(token) != strlen(s->csrf) ||
        sodium_memcmp(token, s->csrf, strlen(s->csrf)) != 0)
        return false;
    if (!origin)
        return true;
    if (strncmp(o, "http://", 7) == 0)
        o += 7;
    else if (strncmp(o, "https://", 8) == 0)
        o += 8;
    else
        return false;
    return host && strcmp(o, host) == 0;
}

bool gw_auth_check(struct gw_auth *a, struct gw_req *req, struct gw_resp *resp, unsigned flags)
{
    const char *bearer = bearer_of(req);
    time_t now = time(NULL);
    struct session *s;
    uint8_t d[OSM_SHA256_LEN];

    if (bearer) {
        if (!gw_auth_token_ok(a, bearer)) {
            gw_error(req, resp, 401, "unauthorized", NULL, "the bearer token is not valid");
            return false;
        }
        req->who = (struct gw_who){.bearer = true};
        snprintf(req->who.user, sizeof(req->who.user), "operator");
        osm_sha256(bearer, strlen(bearer), d);
        osm_hex_encode(d, 8, req->who.token_id);
        return true;
    }
    pthread_mutex_lock(&a->lock);
    s = session_of(a, req, now);
    if (s && (!(flags & GW_MUTATING) || csrf_ok(req, s))) {
        s->last_used = now;
        req->who = (struct gw_who){.session = true};
        snprintf(req->who.user, sizeof(req->who.user), "%s", s->user);
        memcpy(req->who.token_id, s->id, sizeof(req->who.token_id) - 1);
        pthread_mutex_unlock(&a->lock);
        return true;
    }
    pthread_mutex_unlock(&a->lock);
    if (s)
        gw_error(req, resp, 403, "forbidden", NULL,
                 "a change from the dashboard needs its X-CSRF-Token header and the gateway's "
                 "own Origin");
    else
        gw_error(req, resp, 401, "unauthorized", NULL,
                 "log in with the token (POST /auth/login) or send Authorization: Bearer "
                 "<token>");
    return false;
}

/* ---- login throttling -------------------------------------------------------------------- */

/* Counts a failed login of addr; true when addr is over the limit this minute. */
static bool failures_over(struct gw_auth *a, const char *addr, bool count, time_t now)
{
    time_t minute = now / 60;
    struct failures *f = &a->fails[0];
    bool over;

    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < FAIL_TRACKED; i++) {
        if (strcmp(a->fails[i].addr, addr) == 0) {
            f = &a->fails[i];
            break;
        }
        if (a->fails[i].minute < f->minute)
            f = &a->fails[i];
    }
    if (strcmp(f->addr, addr) != 0 || f->minute != minute) {
        snprintf(f->addr, sizeof(f->addr), "%s", addr);
        f->minute = minute;
        f->count = 0;
    }
    if (count)
        f->count++;
    over = f->count >= GW_LOGIN_FAILURES_PER_MIN;
    pthread_mutex_unlock(&a->lock);
    return over;
}

/* ---- routes ------------------------------------------------------------------------------ */

static json_t *session_json(const struct session *s)
{
    return json_pack("{s:s, s:s, s:I}", "user", s->user, "csrf", s->csrf, "expires_at",
                     (json_int_t)(s->created + GW_SESSION_MAX_S));
}

static void login(struct gw_req *req, struct gw_resp *resp)
{
    struct gw_auth *a = req->gw->auth;
    const char *token = json_string_value(json_object_get(req->body, "token"));
    const char *user = json_string_value(json_object_get(req->body, "user"));
    time_t now = time(NULL);
    struct session *s;
    char cookie[160];

    if (failures_over(a, req->peer_addr, false, now)) {
        gw_resp_header(resp, "Retry-After", "60");
        gw_error(req, resp, 429, "rate_limited", NULL, "too many failed logins; wait a minute");
        return;
    }
    if (!token || (user && (strlen(user) == 0 || strlen(user) >= sizeof(s->user)))) {
        gw_error(req, resp, 400, "validation_failed",
                 json_pack("{s:s}", "field", token ? "user" : "token"),
                 "give the token (a string) and optionally a user name of 1-63 characters");
        return;
    }
    if (!gw_auth_token_ok(a, token)) {
        failures_over(a, req->peer_addr, true, now);
        gw_error(req, resp, 401, "unauthorized", NULL, "that is not the gateway's token");
        return;
    }
    pthread_mutex_lock(&a->lock);
    s = session_slot(a, now);
    random_hex(s->id, SESSION_ID_BYTES);
    random_hex(s->csrf, CSRF_BYTES);
    snprintf(s->user, sizeof(s->user), "%s", user ? user : "operator");
    s->created = s->last_used = now;
    snprintf(cookie, sizeof(cookie), "%s=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%d",
             GW_SESSION_COOKIE, s->id, GW_SESSION_MAX_S);
    resp->json = session_json(s);
    pthread_mutex_unlock(&a->lock);
    gw_resp_header(resp, "Set-Cookie", cookie);
}

static void logout(struct gw_req *req, struct gw_resp *resp)
{
    struct gw_auth *a = req->gw->auth;
    struct session *s;

    pthread_mutex_lock(&a->lock);
    s = session_of(a, req, time(NULL));
    if (s)
        sodium_memzero(s, sizeof(*s));
    pthread_mutex_unlock(&a->lock);
    gw_resp_header(resp, "Set-Cookie",
                   GW_SESSION_COOKIE "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    resp->json = json_pack("{s:b}", "logged_out", true);
}

static void session_get(struct gw_req *req, struct gw_resp *resp)
{
    struct gw_auth *a = req->gw->auth;
    struct session *s;

    pthread_mutex_lock(&a->lock);
    s = session_of(a, req, time(NULL));
    if (s)
        resp->json = session_json(s);
    pthread_mutex_unlock(&a->lock);
    if (!s)
        gw_error(req, resp, 401, "unauthorized", NULL, "no session: log in with the token");
}

static void check(struct gw_req *req, struct gw_resp *resp)
{
    resp->json = json_pack("{s:s, s:s}", "user", req->who.user, "via",
                           req->who.bearer ? "bearer" : "session");
}

/* Ends every session (after the token was changed, or a device was lost). */
static void logout_all(struct gw_req *req, struct gw_resp *resp)
{
    struct gw_auth *a = req->gw->auth;
    size_t n = 0;

    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < GW_SESSIONS_MAX; i++)
        if (a->sessions[i].id[0]) {
            sodium_memzero(&a->sessions[i], sizeof(a->sessions[i]));
            n++;
        }
    pthread_mutex_unlock(&a->lock);
    resp->json = json_pack("{s:I}", "sessions_ended", (json_int_t)n);
}

const struct gw_route gw_auth_routes[] = {
    {"GET", "/auth/check", check, 0},
    {"POST", "/auth/logout-all", logout_all, GW_MUTATING},
    {"POST", "/auth/login", login, GW_PUBLIC | GW_JSON_BODY},
    {"POST", "/auth/logout", logout, GW_PUBLIC},
    {"GET", "/auth/session", session_get, GW_PUBLIC},
};
const size_t gw_auth_n_routes = ELEMENTSOF(gw_auth_routes);
