/* agentctl verify-ledger: walks the hash chain as osModa does (same lines, same exit codes) and
 * then checks every signed checkpoint against the events and against ledger.pub. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "ctl.h"

struct verify_out {
    const struct ctl *c;
    json_t *problems; /* --json: [{"kind", "id", "a", "b", "message"}] */
    int failed;       /* CTL_FAILED once a problem could not be recorded */
    bool no_key;      /* ledger.pub is missing: signatures were not checked */
};

/* How each problem is printed: "<label> at <where><id>: <a_label><a>, <b_label><b>", which
 * gives osModa's own lines for the first two kinds. */
static const struct {
    const char *kind; /* --json */
    const char *label, *where, *a_label, *b_label;
} problem_lines[] = {
    [OSM_LEDGER_CHAIN_BREAK] = {"chain_break", "CHAIN BREAK", "event #",
                                "expected prev_hash=", "got "},
    [OSM_LEDGER_HASH_MISMATCH] = {"hash_mismatch", "HASH MISMATCH", "event #",
                                  "computed=", "stored="},
    [OSM_LEDGER_ID_GAP] = {"id_gap", "ID GAP", "event #", "expected id=", "got id="},
    [OSM_LEDGER_CHECKPOINT_BAD_SIG] = {"checkpoint_bad_signature", "CHECKPOINT BAD SIGNATURE",
                                       "tree size ", "key=", "reason: "},
    [OSM_LEDGER_CHECKPOINT_MISMATCH] = {"checkpoint_mismatch", "CHECKPOINT MISMATCH", "tree size ",
                                        "signed root=", "computed root="},
    [OSM_LEDGER_TRUNCATED] = {"truncated", "TRUNCATION", "tree size ",
                              "signed tree size=", "events present="},
    [OSM_LEDGER_CHECKPOINT_LOG_MISMATCH] = {"checkpoint_log_mismatch", "CHECKPOINT LOG MISMATCH",
                                            "tree size ", "", ""},
};

static void on_problem(void *ud, enum osm_ledger_problem p, int64_t id, const char *a,
                       const char *b)
{
    struct verify_out *out = ud;
    _cleanup_free_ char *line = NULL;
    bool known = (size_t)p < ELEMENTSOF(problem_lines) && problem_lines[p].label;
    const char *kind = known ? problem_lines[p].kind : "unknown";

    a = a ? a : "";
    b = b ? b : "";
    if (asprintf(&line, "%s at %s%" PRId64 ": %s%s, %s%s",
                 known ? problem_lines[p].label : "LEDGER PROBLEM",
                 known ? problem_lines[p].where : "#", id, known ? problem_lines[p].a_label : "", a,
                 known ? problem_lines[p].b_label : "", b) < 0) {
        out->failed = ctl_fail("out of memory");
        return;
    }
    if (!out->c->json)
        fprintf(stderr, "%s\n", line);
    else if (json_array_append_new(out->problems,
                                   json_pack("{ss sI ss ss ss}", "kind", kind, "id", (json_int_t)id,
                                             "a", a, "b", b, "message", line)) < 0)
        out->failed = ctl_fail("out of memory");
}

/* Checkpoints exist but their signatures could not be checked (fail closed). */
static bool unchecked(const struct verify_out *out, const struct osm_ledger_verify_report *rep)
{
    return out->no_key && rep->latest_tree_size > 0;
}

static int print_text(const struct verify_out *out, const struct osm_ledger_verify_report *rep)
{
    if (rep->errors) {
        fprintf(stderr, "LEDGER CORRUPTION: %" PRId64 " error(s) found in %" PRId64 " events!\n",
                rep->errors, rep->events);
        return CTL_FAILED;
    }
    printf("Ledger verified: %" PRId64 " events, all hashes valid, chain intact.\n", rep->events);
    if (unchecked(out, rep))
        return ctl_fail("%s/%s is missing: the signatures of checkpoints up to tree size %" PRId64
                        " cannot be checked",
                        out->c->state_dir, OSM_LEDGER_PUB_NAME, rep->latest_tree_size);
    if (rep->checkpoints)
        printf("Checkpoints verified: %" PRId64 " signed, latest tree size %" PRId64 ".\n",
               rep->checkpoints, rep->latest_tree_size);
    else
        printf("Checkpoints: none.\n");
    if (rep->pruned_through)
        printf("Pruned: events 1 to %" PRId64 " removed behind a signed checkpoint.\n",
               rep->pruned_through);
    return CTL_OK;
}

static int print_json(const struct verify_out *out, const struct osm_ledger_verify_report *rep)
{
    bool ok = rep->errors == 0 && !unchecked(out, rep);
    json_auto_t *o = json_pack(
        "{sb sb sI sI sI sI sI sO}", "ok", ok, "signatures_checked", !out->no_key, "events",
        (json_int_t)rep->events, "errors", (json_int_t)rep->errors, "checkpoints",
        (json_int_t)rep->checkpoints, "latest_tree_size", (json_int_t)rep->latest_tree_size,
        "pruned_through", (json_int_t)rep->pruned_through, "problems", out->problems);
    int r = o ? ctl_print_json(o) : ctl_fail("out of memory");

    return r ? r : ok ? CTL_OK : CTL_FAILED;
}

static int run_verify(const struct ctl *c, struct osm_ledger *l, struct verify_out *out,
                      struct osm_ledger_verify_report *rep)
{
    _cleanup_free_ char *pub = ctl_state_path(c, OSM_LEDGER_PUB_NAME);
    _cleanup_free_ char *log = ctl_state_path(c, OSM_LEDGER_CHECKPOINT_LOG);
    struct osm_ledger_verify_opts opts = {
        .checkpoint_log = log,
        .problem = on_problem,
        .userdata = out,
    };
    int r;

    if (!pub || !log)
        return ctl_fail("out of memory");
    out->no_key = access(pub, F_OK) < 0 && errno == ENOENT;
    opts.pub_path = out->no_key ? NULL : pub;
    r = osm_ledger_verify(l, &opts, rep);
    if (r < 0)
        return ctl_fail("cannot verify the ledger: %s", ctl_ledger_strerror(l, r));
    return out->failed;
}

static int verify_exec(const struct ctl *c, const struct ctl_args *a)
{
    _cleanup_(ctl_ledger_closep) struct osm_ledger *l = NULL;
    json_auto_t *problems = json_array();
    struct verify_out out = {c, problems, CTL_OK, false};
    struct osm_ledger_verify_report rep = {0};
    int r;

    if (!problems)
        return ctl_fail("out of memory");
    if ((r = ctl_ledger_open(c, &l)) || (r = run_verify(c, l, &out, &rep)))
        return r;
    return c->json ? print_json(&out, &rep) : print_text(&out, &rep);
}

const struct ctl_verb ctl_verb_verify_ledger = {
    .name = "verify-ledger",
    .args = "",
    .summary = "Verify the hash chain, the event ids and every signed checkpoint",
    .exec = verify_exec,
};
