/* The file integrity monitor: an inotify thread over the critical paths against a SHA-256
 * baseline in <data_dir>/fim/baseline (built at first start: fim.baseline_created).
 *
 * A change (IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE, IN_DELETE, IN_ATTRIB, IN_MOVED_FROM) marks
 * its path dirty; a path is looked at FIM_DEBOUNCE_MS after its last event (the epoll timeout
 * is the nearest such deadline: no polling), so an editor's burst of writes is one change.
 * Then the file is hashed and compared with the baseline:
 *   - announced by fim_expect (path and that digest; SafeSwitch) → fim.baseline_updated
 *     {reason: "safeswitch"} and the baseline moves;
 *   - written by an approved tool call → fim.baseline_updated {reason: "approved-tool"}. We
 *     read agentd's ledger read-only (<state_dir>/ledger.db) for a tool.result in the last
 *     FIM_APPROVED_WINDOW_S carrying an approval id that has an approval.approved event (a
 *     person decided it, or gave the allow-always grant), whose tool.call's arguments.path is
 *     this path as written (a path spelled differently by the agent is not matched: alert);
 *   - anything else → fim.unexpected_change {path, old_sha256, new_sha256 (null: deleted),
 *     old/new mode, uid, gid}. The baseline does not move: the alert stays in GET /fim/status
 *     and in every POST /fim/verify until the operator accepts it (POST /fim/verify
 *     {"accept": [paths]}) or the file is put back.
 * Watched directories are recursive (new subdirectories are added) up to FIM_FILES_MAX files;
 * a file root is watched through its directory. Start-up compares the disk with the baseline
 * as POST /fim/verify does, catching what changed while watch was down. */
#include <errno.h>
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/timeutil.h"
#include "fim-internal.h"
#include "fim.h"
#include "ipc/errors.h"

#define FIM_DEBOUNCE_MS 200       /* quiet time after a path's last event before it is read */
#define FIM_EXPECT_TTL_MS 120000  /* an announced change must happen within this */
#define FIM_APPROVED_WINDOW_S 600 /* an approved tool call explains a change this long after */
#define FIM_EXPECT_MAX 1024       /* announced changes waiting */
#define FIM_EVENT_BUF (64 * 1024) /* bytes of inotify events read at once */
#define FIM_ALERTS_SHOWN 1000     /* alerts listed in the status */
#define IN_MASK                                                                                    \
    (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB | IN_MOVED_FROM |            \
     IN_DELETE_SELF | IN_ONLYDIR)

struct fim {
    struct watch *w;
    char **roots; /* NULL-terminated, canonical */
    size_t n_roots;
    char *baseline_path, *ledger_path;
    pthread_mutex_t lock;
    json_t *baseline; /* path → state */
    json_t *alerts;   /* path → the fim.unexpected_change payload */
    json_t *expected; /* [{path, sha256 (null: removal), deadline}] */
    json_t *dirty;    /* path → deadline (monotonic ms); the thread's own */
    json_t *wds;      /* "wd" → directory; the thread's own */
    size_t files;
    bool truncated;
    int ino, ep, stop;
    pthread_t thread;
    bool started;
};

/* ---- roots ------------------------------------------------------------------------------ */

static bool is_dir(const char *p)
{
    struct stat st;

    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* True when path is watched: under a directory root or one of the file roots. */
static bool covered(const struct fim *f, const char *path)
{
    for (size_t i = 0; i < f->n_roots; i++) {
        size_t n = strlen(f->roots[i]);
        if (strcmp(path, f->roots[i]) == 0 ||
            (strncmp(path, f->roots[i], n) == 0 && (path[n] == '/' || f->roots[i][n - 1] == '/') &&
             is_dir(f->roots[i])))
            return true;
    }
    return false;
}

static int add_root(struct fim *f, const char *p)
{
    char *canon = realpath(p, NULL);

    if (!canon && !(canon = strdup(p))) /* a file that does not exist yet is watched too */
        return -ENOMEM;
    if (canon[0] != '/' || f->n_roots >= FIM_PATHS_MAX) {
        int r = canon[0] != '/' ? -EINVAL : -E2BIG;
        free(canon);
        return r;
    }
    f->roots[f->n_roots++] = canon;
    return 0;
}

/* The defaults: /etc, the daemons' binaries (the directory of our executable) and the policy. */
static int default_roots(struct fim *f)
{
    _cleanup_free_ char *exe = realpath("/proc/self/exe", NULL);
    _cleanup_free_ char *policy = osm_path_join(f->w->state_dir, "policy.json");
    char *slash = exe ? strrchr(exe, '/') : NULL;
    int r = add_root(f, "/etc");

    if (slash)
        *slash = '\0';
    if (r == 0 && exe && exe[0])
        r = add_root(f, exe);
    if (r == 0 && policy)
        r = add_root(f, policy);
    return r;
}

/* ---- the baseline ----------------------------------------------------------------------- */

static int save_baseline(struct fim *f)
{
    _cleanup_free_ char *text = fim_baseline_format(f->baseline);
    int r = text ? osm_write_file_atomic(f->baseline_path, text, strlen(text), 0600) : -ENOMEM;

    if (r < 0)
        log_error("fim.baseline", "path=%s error=%d reason=\"%s\"", f->baseline_path, r,
                  strerror(-r));
    return r;
}

/* Every file of the roots now (new object). */
static json_t *scan_all(struct fim *f, bool *truncated)
{
    json_t *now = json_object();
    size_t budget = FIM_FILES_MAX;

    *truncated = false;
    for (size_t i = 0; now && i < f->n_roots; i++)
        fim_scan_root(f->roots[i], now, &budget, truncated);
    return now;
}

static int load_baseline(struct fim *f, bool *ret_created)
{
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    int r = osm_read_file(f->baseline_path, FIM_BASELINE_MAX, &text, &len);
    bool truncated;

    *ret_created = false;
    if (r == 0) {
        f->baseline = fim_baseline_parse(text, len);
        return f->baseline ? 0 : -EBADMSG;
    }
    if (r != -ENOENT)
        return r;
    if (!(f->baseline = scan_all(f, &truncated)))
        return -ENOMEM;
    f->truncated = truncated;
    *ret_created = true;
    return save_baseline(f);
}

/* ---- deciding about a change ------------------------------------------------------------ */

static const char *sha_of(const json_t *state)
{
    return state ? json_string_value(json_object_get(state, "sha256")) : NULL;
}

/* Takes the announcement of this change, if there is one. Caller holds lock. */
static bool take_expected(struct fim *f, const char *path, const char *sha)
{
    int64_t now = osm_monotonic_ms();
    size_t i;
    json_t *e;

    for (i = 0; i < json_array_size(f->expected);) {
        e = json_array_get(f->expected, i);
        if (json_integer_value(json_object_get(e, "deadline")) < now) {
            json_array_remove(f->expected, i);
            continue;
        }
        const char *esha = json_string_value(json_object_get(e, "sha256"));
        if (strcmp(json_string_value(json_object_get(e, "path")), path) == 0 &&
            ((!esha && !sha) || (esha && sha && strcmp(esha, sha) == 0))) {
            json_array_remove(f->expected, i);
            return true;
        }
        i++;
    }
    return false;
}

/* True when agentd's ledger shows an approved tool call on path recently. */
static bool approved_tool(struct fim *f, const char *path)
{
    /* the held call's tool.call comes before its approval exists: the approval id is on the
     * tool.result that answered "pending", which names the call */
    static const char sql[] =
        "SELECT 1 FROM events r JOIN events c ON c.id = json_extract(r.payload, '$.call_id') "
        "WHERE r.type = 'tool.result' AND r.ts >= ?2 AND c.type = 'tool.call' "
        "AND json_extract(c.payload, '$.arguments.path') = ?1 "
        "AND json_extract(r.payload, '$.approval_id') IS NOT NULL "
        "AND EXISTS (SELECT 1 FROM events d WHERE d.type = 'approval.approved' "
        "AND json_extract(d.payload, '$.id') = json_extract(r.payload, '$.approval_id')) LIMIT 1";
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char since[OSM_TS_LEN + 1];
    int64_t ms = osm_realtime_ms() - (int64_t)FIM_APPROVED_WINDOW_S * 1000;
    bool found = false;

    osm_format_ts((time_t)(ms / 1000), (unsigned)(ms % 1000), since);
    if (access(f->ledger_path, R_OK) == 0 &&
        sqlite3_open_v2(f->ledger_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_busy_timeout(db, 2000) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, since, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return found;
}

static json_t *alert_payload(const char *path, const json_t *old, const json_t *cur)
{
    json_t *o = json_pack("{s:s, s:s?, s:s?}", "path", path, "old_sha256", sha_of(old),
                          "new_sha256", sha_of(cur));
    static const char *const keys[] = {"mode", "uid", "gid"};

    if (!sha_of(old))
        json_object_set_new(o, "old_sha256", json_null());
    if (!sha_of(cur))
        json_object_set_new(o, "new_sha256", json_null());
    for (size_t i = 0; o && i < ELEMENTSOF(keys); i++) {
        char k[16];
        snprintf(k, sizeof(k), "old_%s", keys[i]);
        json_object_set(o, k, old ? json_object_get(old, keys[i]) : json_null());
        snprintf(k, sizeof(k), "new_%s", keys[i]);
        json_object_set(o, k, cur ? json_object_get(cur, keys[i]) : json_null());
    }
    return o;
}

/* Moves the baseline of path to cur (NULL: forgets it), recorded first. Caller holds lock. */
static int move_baseline(struct fim *f, const char *path, json_t *cur, const char *reason)
{
    int r = watch_emit(
        &f->w->events, "fim.baseline_updated",
        json_pack("{s:s, s:s, s:s?}", "path", path, "reason", reason, "sha256", sha_of(cur)));

    if (r < 0) {
        log_error("fim.baseline", "path=%s error=%d note=\"not recorded: baseline kept\"", path, r);
        return r;
    }
    if (cur)
        json_object_set(f->baseline, path, cur);
    else
        json_object_del(f->baseline, path);
    json_object_del(f->alerts, path);
    return save_baseline(f);
}

/* One path whose state may differ from the baseline: the three cases of the top comment.
 * Returns the alert (lent) when the change is unexpected. Caller holds lock. */
static json_t *judge(struct fim *f, const char *path, json_t *cur)
{
    json_t *old = json_object_get(f->baseline, path), *alert, *prev;

    if (fim_state_equal(old, cur)) {
        json_object_del(f->alerts, path); /* put back as it was */
        return NULL;
    }
    /* a change that cannot be recorded leaves the baseline as it was: a later verify sees it */
    if (take_expected(f, path, sha_of(cur))) {
        (void)move_baseline(f, path, cur, "safeswitch");
        return NULL;
    }
    if (approved_tool(f, path)) {
        (void)move_baseline(f, path, cur, "approved-tool");
        return NULL;
    }
    alert = alert_payload(path, old, cur);
    prev = json_object_get(f->alerts, path);
    if (prev &&
        json_equal(json_object_get(prev, "new_sha256"), json_object_get(alert, "new_sha256")) &&
        json_equal(json_object_get(prev, "new_mode"), json_object_get(alert, "new_mode"))) {
        json_decref(alert);
        return prev; /* already reported */
    }
    if (watch_emit(&f->w->events, "fim.unexpected_change", json_incref(alert)) < 0)
        log_error("fim.alert", "path=%s note=\"could not be recorded in the ledger\"", path);
    else
        log_warn("fim.alert", "path=%s", path);
    json_object_set_new(f->alerts, path, alert);
    return alert;
}

/* ---- fim_expect ------------------------------------------------------------------------- */

void fim_expect(struct fim *f, const char *path, const char *new_sha256)
{
    if (!f || !path)
        return;
    pthread_mutex_lock(&f->lock);
    if (json_array_size(f->expected) < FIM_EXPECT_MAX)
        json_array_append_new(f->expected,
                              json_pack("{s:s, s:s?, s:I}", "path", path, "sha256", new_sha256,
                                        "deadline",
                                        (json_int_t)(osm_monotonic_ms() + FIM_EXPECT_TTL_MS)));
    pthread_mutex_unlock(&f->lock);
}

/* ---- the inotify thread ----------------------------------------------------------------- */

static void mark(struct fim *f, const char *path)
{
    if (covered(f, path))
        json_object_set_new(f->dirty, path, json_integer(osm_monotonic_ms() + FIM_DEBOUNCE_MS));
}

/* Watches dir and, when recursive, its subdirectories; with mark_files, every file found is
 * marked dirty (it may have been written before its directory was watched). */
static void watch_dir(struct fim *f, const char *dir, bool recursive, bool mark_files, int depth)
{
    char key[16];
    int wd = inotify_add_watch(f->ino, dir, IN_MASK);
    DIR *d;
    struct dirent *e;

    if (wd < 0) {
        log_warn("fim.watch", "dir=%s error=%d reason=\"%s\"", dir, -errno, strerror(errno));
        return;
    }
    snprintf(key, sizeof(key), "%d", wd);
    json_object_set_new(f->wds, key, json_string(dir));
    if ((!recursive && !mark_files) || depth > 64 || !(d = opendir(dir)))
        return;
    while ((e = readdir(d))) {
        char path[PATH_MAX];
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
            continue;
        if (e->d_type == DT_DIR && recursive)
            watch_dir(f, path, true, mark_files, depth + 1);
        else if (mark_files)
            mark(f, path);
    }
    closedir(d);
}

static void watch_roots(struct fim *f)
{
    for (size_t i = 0; i < f->n_roots; i++) {
        if (is_dir(f->roots[i])) {
            watch_dir(f, f->roots[i], true, false, 0);
            continue;
        }
        _cleanup_free_ char *parent = strdup(f->roots[i]);
        char *slash = parent ? strrchr(parent, '/') : NULL;
        if (slash) {
            slash[slash == parent ? 1 : 0] = '\0';
            watch_dir(f, parent, false, false, 0);
        }
    }
}

/* Everything under the baseline's dir (a deleted or moved-away directory) marked dirty. */
static void mark_under(struct fim *f, const char *dir)
{
    size_t n = strlen(dir);
    const char *k;
    json_t *v;

    pthread_mutex_lock(&f->lock);
    json_object_foreach(f->baseline, k, v) if (strncmp(k, dir, n) == 0 && k[n] == '/')
        json_object_set_new(f->dirty, k, json_integer(osm_monotonic_ms() + FIM_DEBOUNCE_MS));
    pthread_mutex_unlock(&f->lock);
}

static void on_event(struct fim *f, const struct inotify_event *ev)
{
    char key[16], path[PATH_MAX];
    const char *dir;

    if (ev->mask & IN_Q_OVERFLOW) {
        mark_under(f, ""); /* every known file; new ones appear at the next verify */
        return;
    }
    snprintf(key, sizeof(key), "%d", ev->wd);
    dir = json_string_value(json_object_get(f->wds, key));
    if (!dir)
        return;
    if (ev->mask & IN_IGNORED) {
        json_object_del(f->wds, key);
        return;
    }
    if (!ev->len || snprintf(path, sizeof(path), "%s/%s", dir, ev->name) >= (int)sizeof(path))
        return;
    if (ev->mask & IN_ISDIR) {
        if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
            if (covered(f, path))
                watch_dir(f, path, true, true, 0);
        } else if (ev->mask & (IN_DELETE | IN_MOVED_FROM))
            mark_under(f, path);
        return;
    }
    mark(f, path);
}

static void read_events(struct fim *f)
{
    _cleanup_free_ char *buf = malloc(FIM_EVENT_BUF);
    ssize_t n;

    while (buf && (n = read(f->ino, buf, FIM_EVENT_BUF)) > 0)
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            on_event(f, ev);
            p += sizeof(*ev) + ev->len;
        }
}

/* Judges every dirty path whose quiet time is over; returns ms to the next deadline or -1. */
static int settle(struct fim *f)
{
    int64_t now = osm_monotonic_ms(), next = -1;
    const char *k;
    json_t *v;
    void *it;

    json_object_foreach_safe(f->dirty, it, k, v)
    {
        int64_t due = json_integer_value(v);
        if (due > now) {
            next = next < 0 || due - now < next ? due - now : next;
            continue;
        }
        _cleanup_free_ char *path = strdup(k);
        json_object_del(f->dirty, k);
        if (!path)
            continue;
        json_t *cur = fim_state(path);
        pthread_mutex_lock(&f->lock);
        (void)judge(f, path, cur);
        pthread_mutex_unlock(&f->lock);
        json_decref(cur);
    }
    return next < 0 ? -1 : next > INT32_MAX ? INT32_MAX : (int)next;
}

static json_t *verify(struct fim *f);

static void *fim_thread(void *arg)
{
    struct fim *f = arg;
    struct epoll_event ev[2];
    json_t *first;

    pthread_setname_np(pthread_self(), "watch-fim");
    watch_roots(f);
    first = verify(f); /* what changed while watch was not watching */
    json_decref(first);
    for (;;) {
        int timeout = settle(f), n = epoll_wait(f->ep, ev, 2, timeout);
        bool stop = false;
        for (int i = 0; i < n; i++) {
            if (ev[i].data.fd == f->stop)
                stop = true;
            else
                read_events(f);
        }
        if (stop)
            break;
    }
    return NULL;
}

/* ---- verify ----------------------------------------------------------------------------- */

/* Compares every root with the baseline: {checked, changed: [...], missing: [...], new:
 * [...], truncated} where each entry is the alert of that path (new). Changes that were
 * announced or approved move the baseline instead. */
static json_t *verify(struct fim *f)
{
    bool truncated;
    json_auto_t *now = scan_all(f, &truncated);
    json_t *changed = json_array(), *missing = json_array(), *fresh = json_array(), *alert;
    const char *k;
    json_t *v;
    size_t checked;

    if (!now)
        return NULL;
    pthread_mutex_lock(&f->lock);
    f->truncated = truncated;
    json_auto_t *known = json_deep_copy(f->baseline);
    checked = json_object_size(now);
    json_object_foreach(now, k, v)
    {
        if (!covered(f, k))
            continue;
        if ((alert = judge(f, k, v)))
            json_array_append(json_object_get(known, k) ? changed : fresh, alert);
    }
    json_object_foreach(known, k, v)
    {
        if (json_object_get(now, k) || !covered(f, k))
            continue;
        if ((alert = judge(f, k, NULL)))
            json_array_append(missing, alert);
    }
    f->files = json_object_size(f->baseline);
    pthread_mutex_unlock(&f->lock);
    return json_pack("{s:I, s:o, s:o, s:o, s:b}", "checked", (json_int_t)checked, "changed",
                     changed, "missing", missing, "new", fresh, "truncated", truncated);
}

/* ---- open and close --------------------------------------------------------------------- */

static int start_thread(struct fim *f)
{
    struct epoll_event a = {.events = EPOLLIN}, b = {.events = EPOLLIN};

    f->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    f->stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    f->ep = epoll_create1(EPOLL_CLOEXEC);
    if (f->ino < 0 || f->stop < 0 || f->ep < 0)
        return -errno;
    a.data.fd = f->ino;
    b.data.fd = f->stop;
    if (epoll_ctl(f->ep, EPOLL_CTL_ADD, f->ino, &a) < 0 ||
        epoll_ctl(f->ep, EPOLL_CTL_ADD, f->stop, &b) < 0)
        return -errno;
    if (pthread_create(&f->thread, NULL, fim_thread, f) != 0)
        return -EAGAIN;
    f->started = true;
    return 0;
}

static int init(struct fim *f, const char *const *paths)
{
    _cleanup_free_ char *dir = osm_path_join(f->w->data_dir, "fim");
    bool created = false;
    int r = 0;

    f->roots = calloc(FIM_PATHS_MAX + 1, sizeof(char *));
    f->alerts = json_object();
    f->expected = json_array();
    f->dirty = json_object();
    f->wds = json_object();
    f->baseline_path = dir ? osm_path_join(dir, "baseline") : NULL;
    f->ledger_path = osm_path_join(f->w->state_dir, "ledger.db");
    if (!f->roots || !f->alerts || !f->expected || !f->dirty || !f->wds || !f->baseline_path ||
        !f->ledger_path)
        return -ENOMEM;
    for (size_t i = 0; r == 0 && paths && paths[i]; i++)
        r = add_root(f, paths[i]);
    if (r == 0 && !paths)
        r = default_roots(f);
    if (r == 0)
        r = osm_mkdir_p(dir, 0700);
    if (r == 0)
        r = load_baseline(f, &created);
    if (r < 0)
        return r;
    f->files = json_object_size(f->baseline);
    if (created && watch_emit(&f->w->events, "fim.baseline_created",
                              json_pack("{s:I, s:b}", "count", (json_int_t)f->files, "truncated",
                                        f->truncated)) < 0)
        log_error("fim.baseline", "note=\"fim.baseline_created could not be recorded\"");
    return start_thread(f);
}

int fim_open(struct watch *w, const char *const *paths, struct fim **ret)
{
    struct fim *f = calloc(1, sizeof(*f));
    int r;

    *ret = NULL;
    if (!f)
        return -ENOMEM;
    f->w = w;
    f->ino = f->ep = f->stop = -1;
    pthread_mutex_init(&f->lock, NULL);
    if ((r = init(f, paths)) < 0) {
        fim_free(f);
        return r;
    }
    *ret = f;
    return 0;
}

void fim_free(struct fim *f)
{
    if (!f)
        return;
    if (f->started) {
        uint64_t one = 1;
        if (write(f->stop, &one, sizeof(one)) < 0)
            log_error("fim.stop", "error=%d", -errno);
        pthread_join(f->thread, NULL);
    }
    for (int *fd = &f->ino; fd <= &f->stop; fd++)
        if (*fd >= 0)
            close(*fd);
    for (size_t i = 0; i < f->n_roots; i++)
        free(f->roots[i]);
    free(f->roots);
    json_decref(f->baseline);
    json_decref(f->alerts);
    json_decref(f->expected);
    json_decref(f->dirty);
    json_decref(f->wds);
    free(f->baseline_path);
    free(f->ledger_path);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

/* ---- routes ----------------------------------------------------------------------------- */

static struct fim *of(struct osm_request *req)
{
    struct watch *w = req->userdata;

    return w ? w->fim : NULL;
}

json_t *fim_route_status(struct osm_request *req)
{
    struct fim *f = of(req);
    json_t *paths = json_array(), *alerts = json_array(), *v;
    const char *k;
    size_t n = 0;
    json_t *o;

    if (!f)
        return osm_error(req, 503, "not_enabled", NULL, "the integrity monitor is not running");
    for (size_t i = 0; i < f->n_roots; i++)
        json_array_append_new(paths, json_string(f->roots[i]));
    pthread_mutex_lock(&f->lock);
    json_object_foreach(f->alerts, k, v) if (n++ < FIM_ALERTS_SHOWN) json_array_append(alerts, v);
    o = json_pack("{s:o, s:I, s:o, s:I, s:b}", "paths", paths, "files",
                  (json_int_t)json_object_size(f->baseline), "alerts", alerts, "alert_count",
                  (json_int_t)json_object_size(f->alerts), "truncated", f->truncated);
    pthread_mutex_unlock(&f->lock);
    return o;
}

/* The operator accepts the current state of paths: the baseline moves (reason "operator"). */
static json_t *accept_paths(struct osm_request *req, struct fim *f, const json_t *list)
{
    json_t *done = json_array(), *p;
    size_t i;

    json_array_foreach(list, i, p)
    {
        const char *path = json_string_value(p);
        json_t *cur = fim_state(path);
        int r;
        pthread_mutex_lock(&f->lock);
        r = move_baseline(f, path, cur, "operator");
        pthread_mutex_unlock(&f->lock);
        json_decref(cur);
        if (r < 0) {
            json_decref(done);
            return osm_error(req, 503, "ledger_unavailable", json_pack("{s:s}", "path", path),
                             "accepting %s could not be recorded: %s", path, strerror(-r));
        }
        json_array_append(done, p);
    }
    return done;
}

json_t *fim_route_verify(struct osm_request *req)
{
    struct fim *f = of(req);
    json_t *accept = json_object_get(req->body, "accept"), *accepted = NULL, *p, *out;
    size_t i;

    if (!f)
        return osm_error(req, 503, "not_enabled", NULL, "the integrity monitor is not running");
    if (req->body && json_object_size(req->body) > (accept ? 1u : 0u))
        return osm_error(req, 422, "invalid_field", NULL, "the only field is \"accept\"");
    if (accept && !json_is_array(accept))
        return osm_error(req, 422, "invalid_field", json_pack("{s:s}", "field", "accept"),
                         "accept must be an array of watched paths");
    json_array_foreach(
        accept, i, p) if (!json_is_string(p) ||
                          !covered(f, json_string_value(
                                          p))) return osm_error(req, 422, "invalid_field",
                                                                json_pack("{s:s, s:O}", "field",
                                                                          "accept", "path", p),
                                                                "accept must list watched paths");
    if (accept && json_is_object(accepted = accept_paths(req, f, accept)) &&
        json_object_get(accepted, "error"))
        return accepted;
    if (!(out = verify(f))) {
        json_decref(accepted);
        return osm_error_errno(req, -ENOMEM, "out of memory");
    }
    json_object_set_new(out, "accepted", accepted ? accepted : json_array());
    return out;
}
