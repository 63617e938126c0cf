/* Watchers: the store and the routes. A watcher is {id, name, check, interval_secs, actions,
 * state}, osModa's shape, kept in <data_dir>/watchers.json (a pretty JSON array, written
 * atomically) and loaded at start; a file that does not parse stops the daemon rather than
 * dropping watchers silently. Every add and remove is recorded before it takes effect. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "common/log.h"
#include "ipc/errors.h"
#include "svc.h"
#include "watchers-internal.h"

static const char *const action_types[] = {"restart_service", "rollback_generation", "notify"};

const char *watcher_action_type(const struct watcher_action *a)
{
    return action_types[a->kind];
}

void watcher_free(struct watcher *w)
{
    if (!w)
        return;
    free(w->name);
    check_free(w->check);
    for (size_t i = 0; i < w->n_actions; i++)
        free(w->actions[i].arg);
    free(w->actions);
    free(w);
}

json_t *watcher_action_json(const struct watcher_action *a)
{
    switch (a->kind) {
    case ACTION_RESTART:
        return json_pack("{s:s, s:s}", "type", "restart_service", "unit", a->arg);
    case ACTION_NOTIFY:
        return json_pack("{s:s, s:s}", "type", "notify", "message", a->arg);
    default:
        return json_pack("{s:s}", "type", "rollback_generation");
    }
}

static int fail(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static int parse_action(const json_t *j, size_t i, struct watcher_action *a, char *err, size_t len)
{
    const char *type = json_string_value(json_object_get(j, "type"));
    const json_t *arg;

    if (!json_is_object(j) || !type)
        return fail(err, len, "actions[%zu].type: missing", i);
    if (strcmp(type, "rollback_generation") == 0) {
        a->kind = ACTION_ROLLBACK;
        return 0;
    }
    if (strcmp(type, "restart_service") == 0) {
        a->kind = ACTION_RESTART;
        arg = json_object_get(j, "unit");
        if (!json_is_string(arg) || !svc_name_valid(json_string_value(arg)) ||
            strlen(json_string_value(arg)) != json_string_length(arg))
            return fail(err, len,
                        "actions[%zu].unit: a unit name of 1 to %d of A-Z a-z 0-9 @ . _ "
                        ": -",
                        i, SVC_NAME_MAX);
    } else if (strcmp(type, "notify") == 0) {
        a->kind = ACTION_NOTIFY;
        arg = json_object_get(j, "message");
        if (!json_is_string(arg) || json_string_length(arg) == 0 ||
            json_string_length(arg) > WATCHER_MESSAGE_MAX ||
            strlen(json_string_value(arg)) != json_string_length(arg))
            return fail(err, len, "actions[%zu].message: a string of 1 to %d bytes", i,
                        WATCHER_MESSAGE_MAX);
    } else {
        return fail(err, len,
                    "actions[%zu].type: must be restart_service, rollback_generation "
                    "or notify",
                    i);
    }
    return (a->arg = strdup(json_string_value(arg))) ? 0 : -ENOMEM;
}

static int parse_actions(const json_t *j, struct watcher *w, char *err, size_t len)
{
    size_t i;
    const json_t *a;
    int r;

    if (!j)
        return fail(err, len, "actions: missing");
    if (!json_is_array(j))
        return fail(err, len, "actions: must be an array");
    if (json_array_size(j) > WATCHER_ACTIONS_MAX)
        return fail(err, len, "actions: more than %d", WATCHER_ACTIONS_MAX);
    if (!(w->actions = calloc(json_array_size(j) + 1, sizeof(*w->actions))))
        return -ENOMEM;
    json_array_foreach(j, i, a)
    {
        if ((r = parse_action(a, i, &w->actions[i], err, len)) < 0)
            return r;
        w->n_actions++;
    }
    return 0;
}

static int parse_name_interval(const json_t *j, int def_interval, struct watcher *w, char *err,
                               size_t len)
{
    const json_t *name = json_object_get(j, "name"), *iv = json_object_get(j, "interval_secs");

    if (!json_is_string(name) || json_string_length(name) == 0 ||
        json_string_length(name) > WATCHER_NAME_MAX ||
        strlen(json_string_value(name)) != json_string_length(name))
        return fail(err, len, "name: a string of 1 to %d bytes", WATCHER_NAME_MAX);
    if (iv && !json_is_null(iv) &&
        (!json_is_integer(iv) || json_integer_value(iv) < 1 ||
         json_integer_value(iv) > WATCHER_INTERVAL_MAX_S))
        return fail(err, len, "interval_secs: an integer from 1 to %d", WATCHER_INTERVAL_MAX_S);
    w->interval_s = iv && !json_is_null(iv) ? (int)json_integer_value(iv) : def_interval;
    return (w->name = strdup(json_string_value(name))) ? 0 : -ENOMEM;
}

/* A watcher from a request body or a stored entry (then with its id). err: "field: reason". */
static int watcher_parse(const json_t *j, int def_interval, struct watcher **ret, char *err,
                         size_t len)
{
    struct watcher *w = calloc(1, sizeof(*w));
    char cerr[256] = "";
    int r;

    if (!w)
        return -ENOMEM;
    w->refs = 1;
    w->step = -1;
    if (!json_is_object(j))
        r = fail(err, len, "body: must be an object");
    else if ((r = parse_name_interval(j, def_interval, w, err, len)) == 0 &&
             (r = check_parse(json_object_get(j, "check"), &w->check, cerr, sizeof(cerr))) < 0)
        fail(err, len, "check%s%s", strncmp(cerr, "check:", 6) == 0 ? "" : ".",
             strncmp(cerr, "check:", 6) == 0 ? cerr + 5 : cerr);
    if (r == 0)
        r = parse_actions(json_object_get(j, "actions"), w, err, len);
    if (r < 0) {
        watcher_free(w);
        return r;
    }
    *ret = w;
    return 0;
}

static json_t *state_json(const struct watcher *w)
{
    char at[OSM_TS_LEN + 1];
    json_t *s;

    if (!w->degraded)
        return json_pack("{s:s}", "state", "healthy");
    s = json_pack("{s:s, s:s, s:I, s:s, s:b}", "state", "degraded", "since", w->since, "retries",
                  (json_int_t)w->retries, "last_error", w->last_error, "exhausted", w->exhausted);
    if (s)
        json_object_set_new(s, "step", w->step >= 0 ? json_integer(w->step) : json_null());
    if (s && w->next_action_at_ms > 0 && !w->exhausted) {
        osm_format_ts(w->next_action_at_ms / 1000, w->next_action_at_ms % 1000, at);
        json_object_set_new(s, "next_action_at", json_string(at));
    }
    return s;
}

static json_t *actions_json(const struct watcher *w)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < w->n_actions; i++)
        if (json_array_append_new(a, watcher_action_json(&w->actions[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* {id, name, check, interval_secs, actions, state} (new reference). Under ws->lock. */
static json_t *watcher_json(const struct watcher *w)
{
    return json_pack("{s:s, s:s, s:o, s:i, s:o, s:o}", "id", w->id, "name", w->name, "check",
                     check_json(w->check), "interval_secs", w->interval_s, "actions",
                     actions_json(w), "state", state_json(w));
}

static json_t *list_json(struct watchers *ws)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < ws->n; i++)
        if (json_array_append_new(a, watcher_json(ws->list[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* Writes the list as it is now. Under store_lock. */
static int store_save(struct watchers *ws)
{
    json_t *a;
    char *text;
    int r;

    pthread_mutex_lock(&ws->lock);
    a = list_json(ws);
    pthread_mutex_unlock(&ws->lock);
    text = a ? json_dumps(a, JSON_INDENT(2)) : NULL;
    json_decref(a);
    if (!text)
        return -ENOMEM;
    r = osm_write_file_atomic(ws->path, text, strlen(text), 0600);
    free(text);
    return r;
}

static int list_add(struct watchers *ws, struct watcher *w)
{
    if (ws->n == ws->cap) {
        size_t cap = ws->cap ? ws->cap * 2 : 16;
        struct watcher **l = realloc(ws->list, cap * sizeof(*l));

        if (!l)
            return -ENOMEM;
        ws->list = l;
        ws->cap = cap;
    }
    ws->list[ws->n++] = w;
    return 0;
}

static struct watcher *list_take(struct watchers *ws, const char *id)
{
    for (size_t i = 0; i < ws->n; i++)
        if (strcmp(ws->list[i]->id, id) == 0) {
            struct watcher *w = ws->list[i];

            memmove(&ws->list[i], &ws->list[i + 1], (ws->n - i - 1) * sizeof(*ws->list));
            ws->n--;
            return w;
        }
    return NULL;
}

/* Adds w to the list and the schedule, its first check due at once. Under ws->lock. */
static int watcher_insert(struct watchers *ws, struct watcher *w)
{
    int r = list_add(ws, w);

    w->ws = ws;
    if (r == 0 && (r = watchers_schedule(ws, w, osm_monotonic_ms())) < 0)
        ws->n--;
    return r;
}

static void watcher_detach(struct watchers *ws, struct watcher *w)
{
    w->removed = true;
    watchers_unschedule(ws, w);
    watcher_unref(w);
}

static int load_one(struct watchers *ws, const json_t *j, size_t i)
{
    const char *id = json_string_value(json_object_get(j, "id"));
    struct watcher *w;
    char err[512];
    int r;

    if (!id || strlen(id) > OSM_JOB_ID_LEN || !osm_filename_valid(id))
        return log_error("watchers.load", "path=%s index=%zu reason=\"id: missing or invalid\"",
                         ws->path, i),
               -EBADMSG;
    if ((r = watcher_parse(j, ws->w->check_interval_s, &w, err, sizeof(err))) < 0) {
        char q[600];

        log_error("watchers.load", "path=%s index=%zu reason=%s", ws->path, i,
                  osm_log_quote(err, q, sizeof(q)));
        return r == -ENOMEM ? r : -EBADMSG;
    }
    snprintf(w->id, sizeof(w->id), "%s", id);
    pthread_mutex_lock(&ws->lock);
    r = watcher_insert(ws, w);
    pthread_mutex_unlock(&ws->lock);
    if (r < 0)
        watcher_free(w);
    return r;
}

static int store_load(struct watchers *ws)
{
    _cleanup_free_ char *text = NULL;
    json_error_t jerr;
    json_t *a, *j;
    size_t i;
    int r = osm_read_file(ws->path, WATCHERS_FILE_MAX, &text, NULL);

    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    if (!(a = json_loads(text, 0, &jerr)) || !json_is_array(a) ||
        json_array_size(a) > WATCHERS_MAX) {
        log_error("watchers.load", "path=%s reason=\"not a JSON array of at most %d watchers\"",
                  ws->path, WATCHERS_MAX);
        json_decref(a);
        return -EBADMSG;
    }
    json_array_foreach(a, i, j) if ((r = load_one(ws, j, i)) < 0) break;
    json_decref(a);
    return r;
}

int watchers_open(struct watch *w, struct watchers **ret)
{
    struct watchers *ws = calloc(1, sizeof(*ws));
    int r;

    if (!ws)
        return -ENOMEM;
    ws->w = w;
    ws->work_tail = &ws->work;
    pthread_mutex_init(&ws->lock, NULL);
    pthread_mutex_init(&ws->store_lock, NULL);
    if (!(ws->path = osm_path_join(w->data_dir, "watchers.json")))
        r = -ENOMEM;
    else if ((r = watchers_ladder_start(ws)) == 0)
        r = store_load(ws);
    if (r < 0) {
        watchers_free(ws);
        return r;
    }
    *ret = ws;
    return 0;
}

void watchers_free(struct watchers *ws)
{
    if (!ws)
        return;
    watchers_ladder_stop(ws);
    pthread_mutex_lock(&ws->lock);
    while (ws->n > 0)
        watcher_detach(ws, ws->list[--ws->n]);
    pthread_mutex_unlock(&ws->lock);
    /* checks still in flight hold their watchers: the ladder's done frees those */
    free(ws->list);
    free(ws->heap);
    free(ws->path);
    ws->list = ws->heap = NULL;
    ws->path = NULL;
    watchers_release(ws);
}

size_t watchers_count(struct watchers *ws)
{
    size_t n;

    if (!ws)
        return 0;
    pthread_mutex_lock(&ws->lock);
    n = ws->n;
    pthread_mutex_unlock(&ws->lock);
    return n;
}

static json_t *invalid(struct osm_request *req, const char *err)
{
    const char *colon = strstr(err, ": ");
    int flen = colon ? (int)(colon - err) : (int)strlen(err);

    return osm_error(
        req, 422, "invalid_field",
        json_pack("{s:s#, s:s}", "field", err, flen, "reason", colon ? colon + 2 : err), "%s", err);
}

static json_t *add_event(const struct watcher *w)
{
    return json_pack("{s:s, s:s, s:o, s:i, s:o}", "id", w->id, "name", w->name, "check",
                     check_json(w->check), "interval_secs", w->interval_s, "actions",
                     actions_json(w));
}

/* Records, stores and schedules w; on failure nothing changed. *ret_taken: the list took w
 * (and frees it), otherwise the caller does. */
static json_t *add_recorded(struct osm_request *req, struct watchers *ws, struct watcher *w,
                            bool *ret_taken)
{
    json_t *answer;
    int r;

    if ((r = watch_emit(&ws->w->events, "watcher.add", add_event(w))) < 0)
        return osm_error(req, 503, "ledger_unavailable", NULL,
                         "the ledger did not record watcher.add (%s): nothing was added",
                         strerror(-r));
    pthread_mutex_lock(&ws->lock);
    r = ws->n >= WATCHERS_MAX ? -E2BIG : watcher_insert(ws, w);
    pthread_mutex_unlock(&ws->lock);
    *ret_taken = r == 0;
    if (r < 0)
        return osm_error(req, r == -E2BIG ? 409 : 500, r == -E2BIG ? "limit_reached" : "internal",
                         NULL, "%s", r == -E2BIG ? "too many watchers" : strerror(-r));
    if ((r = store_save(ws)) < 0) {
        pthread_mutex_lock(&ws->lock);
        watcher_detach(ws, list_take(ws, w->id));
        pthread_mutex_unlock(&ws->lock);
        log_error("watchers.save", "path=%s error=%d reason=\"%s\"", ws->path, r, strerror(-r));
        return osm_error_errno(req, r, "watchers.json was not written: nothing was added");
    }
    pthread_mutex_lock(&ws->lock);
    answer = watcher_json(w);
    pthread_mutex_unlock(&ws->lock);
    return answer;
}

json_t *watchers_route_add(struct osm_request *req)
{
    struct watch *wt = req->userdata;
    struct watchers *ws = wt->watchers;
    struct watcher *w;
    char err[512];
    json_t *answer;
    bool taken = false;
    int r;

    if ((r = watcher_parse(req->body, wt->check_interval_s, &w, err, sizeof(err))) < 0)
        return r == -EINVAL ? invalid(req, err) : osm_error_errno(req, r, "watcher_add");
    if (watchers_count(ws) >= WATCHERS_MAX) {
        watcher_free(w);
        return osm_error(req, 409, "limit_reached", NULL, "at most %d watchers", WATCHERS_MAX);
    }
    osm_uuid(w->id);
    pthread_mutex_lock(&ws->store_lock);
    answer = add_recorded(req, ws, w, &taken);
    pthread_mutex_unlock(&ws->store_lock);
    if (!taken)
        watcher_free(w);
    return answer;
}

json_t *watchers_route_list(struct osm_request *req)
{
    struct watchers *ws = ((struct watch *)req->userdata)->watchers;
    json_t *a;

    pthread_mutex_lock(&ws->lock);
    a = list_json(ws);
    pthread_mutex_unlock(&ws->lock);
    return a ? a : osm_error_errno(req, -ENOMEM, "watcher_list");
}

json_t *watchers_route_remove(struct osm_request *req)
{
    struct watchers *ws = ((struct watch *)req->userdata)->watchers;
    const char *id = req->param[0];
    struct watcher *w;
    json_t *ev = NULL;
    int r;

    pthread_mutex_lock(&ws->store_lock);
    pthread_mutex_lock(&ws->lock);
    for (size_t i = 0; i < ws->n && !ev; i++)
        if (strcmp(ws->list[i]->id, id) == 0)
            ev = json_pack("{s:s, s:s}", "id", id, "name", ws->list[i]->name);
    pthread_mutex_unlock(&ws->lock);
    if (!ev) {
        pthread_mutex_unlock(&ws->store_lock);
        return osm_error(req, 404, "not_found", json_pack("{s:s}", "id", id), "no watcher %s", id);
    }
    if ((r = watch_emit(&ws->w->events, "watcher.remove", ev)) < 0) {
        pthread_mutex_unlock(&ws->store_lock);
        return osm_error(req, 503, "ledger_unavailable", NULL,
                         "the ledger did not record watcher.remove (%s): nothing was removed",
                         strerror(-r));
    }
    pthread_mutex_lock(&ws->lock);
    w = list_take(ws, id);
    pthread_mutex_unlock(&ws->lock);
    if ((r = store_save(ws)) < 0) {
        pthread_mutex_lock(&ws->lock);
        list_add(ws, w); /* the slot was just freed: cannot fail */
        pthread_mutex_unlock(&ws->lock);
        pthread_mutex_unlock(&ws->store_lock);
        return osm_error_errno(req, r, "watchers.json was not written: nothing was removed");
    }
    pthread_mutex_lock(&ws->lock);
    watcher_detach(ws, w);
    pthread_mutex_unlock(&ws->lock);
    pthread_mutex_unlock(&ws->store_lock);
    return json_pack("{s:s}", "removed", id);
}
