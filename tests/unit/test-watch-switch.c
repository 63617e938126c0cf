/* daemons/watch/switch*.c: SafeSwitch transactions through their routes on a real files
 * backend and a real record store, with a recorder in place of agentd's ledger: begin →
 * probation → commit at TTL or rollback, 409s, a ledger that refuses (nothing changes), and
 * what a restart does with each persisted phase (resume, deadline passed, interrupted apply or
 * rollback). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"
#include "common/fileio.h"
#include "ipc/json_util.h"
#include "switch-internal.h"
#include "switch.h"

struct recorder {
    pthread_mutex_t lock;
    json_t *events;     /* [[type, payload], ...] */
    const char *refuse; /* a type the "ledger" refuses */
};

static struct recorder rec = {.lock = PTHREAD_MUTEX_INITIALIZER};
static char root[256], data_dir[300], state_dir[300], run_dir[300], conf[300];
static struct watch w;

static int record_event(void *ctx, const char *type, const json_t *payload)
{
    struct recorder *r = ctx;

    if (r->refuse && strcmp(r->refuse, type) == 0)
        return -ECONNREFUSED;
    pthread_mutex_lock(&r->lock);
    json_array_append_new(r->events, json_pack("[s, O]", type, payload));
    pthread_mutex_unlock(&r->lock);
    return 0;
}

static void setup(void)
{
    snprintf(root, sizeof(root), "/tmp/test-switch-XXXXXX");
    cr_assert(mkdtemp(root));
    snprintf(data_dir, sizeof(data_dir), "%s/data", root);
    snprintf(state_dir, sizeof(state_dir), "%s/state", root);
    snprintf(run_dir, sizeof(run_dir), "%s/run", root);
    snprintf(conf, sizeof(conf), "%s/app.conf", root);
    cr_assert_eq(mkdir(data_dir, 0700), 0);
    cr_assert_eq(mkdir(state_dir, 0700), 0);
    cr_assert_eq(mkdir(run_dir, 0700), 0);
    cr_assert_eq(osm_write_file_atomic(conf, "v1\n", 3, 0644), 0);
    rec.events = json_array();
    rec.refuse = NULL;
    w = (struct watch){.data_dir = data_dir,
                       .state_dir = state_dir,
                       .run_dir = run_dir,
                       .nixos_profile = "/nonexistent/system-profile",
                       .events = {.emit = record_event, .ctx = &rec}};
    cr_assert_eq(checks_new(NULL, &w.checks), 0);
    cr_assert_eq(switches_open(&w, &w.switches), 0);
}

static void teardown(void)
{
    char cmd[400];

    switches_free(w.switches);
    checks_free(w.checks);
    json_decref(rec.events);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(switch, .init = setup, .fini = teardown);

/* Calls handler h as the router would; body (may be NULL) is taken. */
static json_t *route(osm_handler_fn h, const char *id, json_t *body, int *status)
{
    struct osm_request req = {
        .method = "POST", .path = "/", .body = body, .userdata = &w, .status = 200};
    json_t *r;

    if (id) {
        req.param[0] = id;
        req.n_params = 1;
    }
    r = h(&req);
    *status = req.status;
    json_decref(body); /* the server lends the body to the handler and frees it after */
    return r;
}

static json_t *begin(const char *content, json_int_t ttl, int *status)
{
    json_t *body = json_pack("{s:{s:s, s:{s:s}}, s:I, s:[]}", "plan", "backend", "files", "files",
                             conf, content, "ttl_secs", ttl, "health_checks");
    return route(switch_route_begin, NULL, body, status);
}

static char *file_text(const char *path)
{
    char *d = NULL;
    size_t n;

    if (osm_read_file(path, 1 << 20, &d, &n) < 0)
        return strdup("absent");
    return d;
}

static void expect_file(const char *want)
{
    char *got = file_text(conf);

    cr_expect_str_eq(got, want);
    free(got);
}

static const char *state_of(const json_t *session)
{
    return json_string_value(json_object_get(json_object_get(session, "status"), "state"));
}

static char *status_state(const char *id)
{
    int st;
    json_t *j = route(switch_route_status, id, NULL, &st);
    char *s = strdup(st == 200 ? state_of(j) : "none");

    json_decref(j);
    return s;
}

/* Waits (bounded) for a state the probation thread reaches on its own. */
static bool wait_state(const char *id, const char *want, int timeout_ms)
{
    for (int t = 0; t < timeout_ms; t += 20) {
        char *s = status_state(id);
        bool ok = strcmp(s, want) == 0;
        free(s);
        if (ok)
            return true;
        nanosleep(&(struct timespec){0, 20 * 1000000}, NULL);
    }
    return false;
}

static char *types(void)
{
    char *out = calloc(1, 4096);
    size_t i;
    json_t *e;

    pthread_mutex_lock(&rec.lock);
    json_array_foreach(rec.events, i, e)
    {
        strcat(out, json_string_value(json_array_get(e, 0)));
        strcat(out, " ");
    }
    pthread_mutex_unlock(&rec.lock);
    return out;
}

static json_t *last_event(const char *type)
{
    json_t *found = NULL, *e;
    size_t i;

    pthread_mutex_lock(&rec.lock);
    json_array_foreach(rec.events, i, e) if (strcmp(json_string_value(json_array_get(e, 0)),
                                                    type) == 0) found = json_array_get(e, 1);
    pthread_mutex_unlock(&rec.lock);
    return found;
}

static void reopen(void)
{
    switches_free(w.switches);
    w.switches = NULL;
    cr_assert_eq(switches_open(&w, &w.switches), 0);
}

Test(switch, begin_applies_and_commits_at_ttl)
{
    int st;
    json_auto_t *j = begin("v2\n", 1, &st);
    char *t;

    cr_assert_eq(st, 200, "%s", json_dumps(j, 0));
    cr_expect_str_eq(json_string_value(json_object_get(j, "status")), "probation");
    cr_expect_str_eq(json_string_value(json_object_get(j, "backend")), "files");
    cr_expect_str_eq(json_string_value(json_object_get(j, "previous_generation")), "unknown");
    expect_file("v2\n");
    cr_expect_eq(switches_active(w.switches), 1);
    cr_assert(wait_state(json_string_value(json_object_get(j, "id")), "committed", 15000));
    expect_file("v2\n");
    t = types();
    cr_expect_str_eq(t, "switch.begin switch.applied switch.check switch.committed ");
    free(t);
    cr_expect_eq(switches_active(w.switches), 0);
}

Test(switch, manual_rollback_restores_and_ends_the_session)
{
    int st;
    json_auto_t *j = begin("v2\n", 3600, &st), *r = NULL;
    const char *id = json_string_value(json_object_get(j, "id"));
    json_t *rb, *again;
    char *t;

    cr_assert_eq(st, 200);
    r = route(switch_route_rollback, id, NULL, &st);
    cr_assert_eq(st, 200, "%s", json_dumps(r, 0));
    cr_expect_str_eq(state_of(r), "rolled_back");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(r, "status"), "reason")),
                     "manual rollback");
    expect_file("v1\n");
    t = types();
    cr_expect_str_eq(t, "switch.begin switch.applied switch.rolled_back ");
    free(t);
    rb = last_event("switch.rolled_back");
    cr_expect(json_is_true(json_object_get(rb, "restored")));
    cr_expect_str_eq(json_string_value(json_object_get(rb, "reason")), "manual rollback");

    again = route(switch_route_rollback, id, NULL, &st);
    cr_expect_eq(st, 409, "only a switch in probation can be rolled back");
    json_decref(again);
    again = route(switch_route_commit, id, NULL, &st);
    cr_expect_eq(st, 409);
    json_decref(again);
    again = route(switch_route_commit, "00000000-0000-0000-0000-000000000000", NULL, &st);
    cr_expect_eq(st, 404);
    json_decref(again);
}

Test(switch, manual_commit_keeps_the_change)
{
    int st;
    json_auto_t *j = begin("v2\n", 3600, &st), *c = NULL, *r = NULL;
    const char *id = json_string_value(json_object_get(j, "id"));

    c = route(switch_route_commit, id, NULL, &st);
    cr_assert_eq(st, 200);
    cr_expect_str_eq(state_of(c), "committed");
    cr_expect(json_is_true(json_object_get(last_event("switch.committed"), "manual")));
    r = route(switch_route_rollback, id, NULL, &st);
    cr_expect_eq(st, 409);
    expect_file("v2\n");
}

Test(switch, a_second_switch_on_the_same_file_is_refused)
{
    int st;
    json_auto_t *a = begin("v2\n", 3600, &st), *b = NULL;
    const char *id = json_string_value(json_object_get(a, "id"));

    cr_assert_eq(st, 200);
    b = begin("v3\n", 3600, &st);
    cr_expect_eq(st, 409);
    cr_expect_str_eq(json_string_value(json_object_get(b, "error")), "conflict");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(b, "detail"), "switch")),
                     id);
    expect_file("v2\n");
    char *s = status_state(id);
    cr_expect_str_eq(s, "probation");
    free(s);
}

Test(switch, a_ledger_that_refuses_begin_means_nothing_changes)
{
    int st;
    json_auto_t *j = NULL, *list = NULL;

    rec.refuse = "switch.begin";
    j = begin("v2\n", 3600, &st);
    cr_expect_eq(st, 503);
    expect_file("v1\n");
    list = route(switch_route_list, NULL, NULL, &st);
    cr_expect_eq(json_array_size(list), 0, "the refused switch is not kept");
}

Test(switch, a_ledger_that_refuses_applied_rolls_back)
{
    int st;
    json_auto_t *j = NULL;

    rec.refuse = "switch.applied";
    j = begin("v2\n", 3600, &st);
    cr_expect_eq(st, 503);
    expect_file("v1\n");
    cr_expect_str_eq(state_of(json_object_get(j, "detail")), "rolled_back");
}

Test(switch, bad_requests_change_nothing)
{
    int st;
    json_t *r;

    r = route(switch_route_begin, NULL, json_pack("{s:s, s:i}", "plan", "x", "ttl_secs", 5), &st);
    cr_expect_eq(st, 422, "health_checks is required, as in osModa");
    json_decref(r);
    r = route(switch_route_begin, NULL,
              json_pack("{s:s, s:i, s:[]}", "plan", "x", "ttl_secs", 0, "health_checks"), &st);
    cr_expect_eq(st, 422);
    json_decref(r);
    r = route(
        switch_route_begin, NULL,
        json_pack("{s:{s:s}, s:i, s:[]}", "plan", "backend", "zfs", "ttl_secs", 5, "health_checks"),
        &st);
    cr_expect_eq(st, 400);
    cr_expect(strstr(json_string_value(json_object_get(r, "message")), "unknown backend"));
    json_decref(r);
    r = route(switch_route_begin, NULL,
              json_pack("{s:{s:s, s:{s:s}}, s:i, s:[]}", "plan", "backend", "files", "files",
                        "/etc/../etc/x", "a", "ttl_secs", 5, "health_checks"),
              &st);
    cr_expect_eq(st, 400);
    json_decref(r);
    r = route(switch_route_begin, NULL,
              json_pack("{s:{s:s, s:{s:s}}, s:i, s:[]}", "plan", "backend", "files", "files",
                        data_dir, "a", "ttl_secs", 5, "health_checks"),
              &st);
    cr_expect_eq(st, 403, "watch's own data dir is out of reach");
    json_decref(r);
    expect_file("v1\n");
    char *t = types();
    cr_expect_str_eq(t, "");
    free(t);
}

Test(switch, a_text_plan_records_and_restores_nothing)
{
    int st;
    json_auto_t *j = route(switch_route_begin, NULL,
                           json_pack("{s:s, s:i, s:[]}", "plan", "nixos-rebuild switch", "ttl_secs",
                                     3600, "health_checks"),
                           &st),
                *r = NULL, *second = NULL;

    cr_assert_eq(st, 200);
    cr_expect(json_is_null(json_object_get(j, "backend")));
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(j, "target"), 0)),
                     "/nonexistent/system-profile");
    second =
        route(switch_route_begin, NULL,
              json_pack("{s:s, s:i, s:[]}", "plan", "again", "ttl_secs", 60, "health_checks"), &st);
    cr_expect_eq(st, 409, "text plans share the system profile as their target");
    r = route(switch_route_rollback, json_string_value(json_object_get(j, "id")), NULL, &st);
    cr_expect_eq(st, 200);
    cr_expect(json_is_false(json_object_get(last_event("switch.rolled_back"), "restored")));
}

/* ---- restarts ---- */

static char *record_path(const char *id)
{
    char *p = NULL;

    cr_assert(asprintf(&p, "%s/switches/%s.json", data_dir, id) > 0);
    return p;
}

/* Stops the switches, edits a key of the record as a crash at that point would have left it,
 * starts again. */
static void crash_with(const char *id, const char *key, json_t *value)
{
    char *p = record_path(id), *d = NULL, *text;
    size_t n;
    json_t *j;

    switches_free(w.switches);
    w.switches = NULL;
    cr_assert_eq(osm_read_file(p, 1 << 24, &d, &n), 0);
    j = json_loads(d, 0, NULL);
    cr_assert(j);
    if (key)
        json_object_set_new(j, key, value);
    text = json_dumps(j, 0);
    cr_assert_eq(osm_write_file_atomic(p, text, strlen(text), 0600), 0);
    json_decref(j);
    free(text);
    free(d);
    free(p);
    cr_assert_eq(switches_open(&w, &w.switches), 0);
}

Test(switch, a_restart_mid_probation_resumes_with_its_deadline)
{
    int st;
    json_auto_t *j = begin("v2\n", 3600, &st), *after = NULL;
    const char *id = json_string_value(json_object_get(j, "id"));

    reopen();
    after = route(switch_route_status, id, NULL, &st);
    cr_assert_eq(st, 200);
    cr_expect_str_eq(state_of(after), "probation");
    cr_expect_str_eq(json_string_value(json_object_get(after, "deadline_at")),
                     json_string_value(json_object_get(j, "deadline_at")));
    expect_file("v2\n");
    cr_expect_eq(switches_active(w.switches), 1);
    json_decref(route(switch_route_rollback, id, NULL, &st));
    cr_expect_eq(st, 200);
    expect_file("v1\n");
}

Test(switch, a_deadline_that_passed_while_down_rolls_back)
{
    int st;
    json_auto_t *j = begin("v2\n", 3600, &st);
    const char *id = json_string_value(json_object_get(j, "id"));
    char *s;

    crash_with(id, "deadline_ms", json_integer(1000));
    s = status_state(id);
    cr_expect_str_eq(s, "rolled_back");
    free(s);
    expect_file("v1\n");
    cr_expect(strstr(json_string_value(json_object_get(last_event("switch.rolled_back"), "reason")),
                     "deadline passed"));
}

Test(switch, an_interrupted_apply_or_rollback_is_finished_at_start)
{
    static const char *const phases[] = {"applying", "rolling_back"};

    for (size_t i = 0; i < 2; i++) {
        int st;
        json_auto_t *j = begin("v2\n", 3600, &st);
        const char *id = json_string_value(json_object_get(j, "id"));
        char *s;

        cr_assert_eq(st, 200);
        expect_file("v2\n");
        crash_with(id, "phase", json_string(phases[i]));
        s = status_state(id);
        cr_expect_str_eq(s, "rolled_back", "%s", phases[i]);
        free(s);
        expect_file("v1\n");
    }
}

Test(switch, a_crash_before_apply_leaves_nothing_to_undo)
{
    int st;
    json_auto_t *j = begin("v2\n", 3600, &st);
    const char *id = json_string_value(json_object_get(j, "id"));
    char *s;

    /* as if it had stopped right after the {begin} record: the file was still v1 */
    cr_assert_eq(osm_write_file_atomic(conf, "v1\n", 3, 0644), 0);
    crash_with(id, "phase", json_string("begin"));
    s = status_state(id);
    cr_expect_str_eq(s, "rolled_back");
    free(s);
    expect_file("v1\n");
}

Test(switch, rollback_latest_takes_the_newest_and_respects_later_changes)
{
    char other[320];
    int st;
    json_auto_t *a = begin("v2\n", 3600, &st), *b = NULL, *c = NULL;
    json_t *got = NULL;

    snprintf(other, sizeof(other), "%s/other.conf", root);
    json_decref(route(switch_route_commit, json_string_value(json_object_get(a, "id")), NULL, &st));
    b = begin("v3\n", 3600, &st); /* the same file, after a was committed */
    cr_assert_eq(st, 200);
    c = route(switch_route_begin, NULL,
              json_pack("{s:{s:s, s:{s:s}}, s:i, s:[]}", "plan", "backend", "files", "files", other,
                        "o\n", "ttl_secs", 3600, "health_checks"),
              &st);
    cr_assert_eq(st, 200);

    cr_assert_eq(switches_rollback_latest(w.switches, "test", &got), 0);
    cr_expect_str_eq(json_string_value(json_object_get(got, "id")),
                     json_string_value(json_object_get(c, "id")));
    json_decref(got);
    cr_expect_eq(access(other, F_OK), -1);
    cr_assert_eq(switches_rollback_latest(w.switches, "test", &got), 0);
    cr_expect_str_eq(json_string_value(json_object_get(got, "id")),
                     json_string_value(json_object_get(b, "id")));
    json_decref(got);
    expect_file("v2\n");
    /* b is rolled back, so a (committed) is the newest change of the file again */
    cr_assert_eq(switches_rollback_latest(w.switches, "test", &got), 0);
    cr_expect_str_eq(json_string_value(json_object_get(got, "id")),
                     json_string_value(json_object_get(a, "id")));
    json_decref(got);
    expect_file("v1\n");
    cr_expect_eq(switches_rollback_latest(w.switches, "test", &got), -ENOENT);
}

Test(switch, generations_list_newest_first)
{
    int st;
    json_auto_t *a = begin("v2\n", 3600, &st), *g = NULL;

    g = switches_generations(w.switches);
    cr_expect_str_eq(json_string_value(json_object_get(g, "current")),
                     json_string_value(json_object_get(a, "id")));
    cr_expect_eq(json_array_size(json_object_get(g, "generations")), 1);
}

static json_t *begin_checked(const char *content, json_t *checks, int *status)
{
    json_t *body = json_pack("{s:{s:s, s:{s:s}}, s:i, s:o}", "plan", "backend", "files", "files",
                             conf, content, "ttl_secs", 3600, "health_checks", checks);
    return route(switch_route_begin, NULL, body, status);
}

Test(switch, a_failing_check_rolls_back_after_one_confirmation)
{
    char grep_arg[400];
    int st;
    json_auto_t *j = NULL;
    json_t *checks = json_array(), *ev;
    char *t;

    /* passes while the file says v1, fails once it says v2 */
    snprintf(grep_arg, sizeof(grep_arg), "%s", conf);
    json_array_append_new(checks, json_pack("{s:s, s:s, s:[s, s, s]}", "type", "command", "cmd",
                                            "/bin/grep", "args", "-qx", "v1", grep_arg));
    j = begin_checked("v2\n", checks, &st);
    cr_assert_eq(st, 200, "%s", json_dumps(j, 0));
    expect_file("v2\n");
    cr_assert(wait_state(json_string_value(json_object_get(j, "id")), "rolled_back", 20000));
    expect_file("v1\n");
    t = types();
    cr_expect_str_eq(t, "switch.begin switch.applied switch.check switch.rolled_back ",
                     "a failure and its confirmation are one receipt (no change between them)");
    free(t);
    ev = last_event("switch.rolled_back");
    cr_expect(strstr(json_string_value(json_object_get(ev, "reason")), "health check failed"), "%s",
              json_string_value(json_object_get(ev, "reason")));
    cr_expect_eq(json_integer_value(json_object_get(ev, "failures")), 2, "confirmed once");
}

Test(switch, an_invalid_check_is_refused_before_anything_changes)
{
    int st;
    json_auto_t *j =
        begin_checked("v2\n", json_pack("[{s:s, s:s}]", "type", "command", "cmd", "/bin/sh"), &st);

    cr_expect_eq(st, 400, "%s", json_dumps(j, 0));
    cr_expect(strstr(json_string_value(json_object_get(j, "message")), "health_checks[0]"));
    expect_file("v1\n");
}

Test(switch, a_text_plan_survives_a_restart)
{
    int st;
    json_auto_t *j = route(switch_route_begin, NULL,
                           json_pack("{s:s, s:i, s:[]}", "plan", "caller applied it", "ttl_secs",
                                     3600, "health_checks"),
                           &st);
    char *s;

    cr_assert_eq(st, 200);
    reopen();
    s = status_state(json_string_value(json_object_get(j, "id")));
    cr_expect_str_eq(s, "probation");
    free(s);
}
