/* keyd's signing policy: the file (ours and osModa's), the checks, the daily counters in keyd.db
 * (boundaries, the UTC day, threads racing a limit, kill -9 in a commit) and the nonce guard. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kpolicy.h"
#include "kstore.h"

#define WEI ((amount_t)1)
#define ETH ((amount_t)1000000000000000000ULL)
#define SOL ((amount_t)1000000000ULL)
/* EIP-55's own example, and its lower-case form */
#define ADDR_EIP55 "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
#define ADDR_LOWER "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
#define ADDR_OTHER "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
#define SOL_ADDR "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"

static char dir[] = "/tmp/test-keyd-policy-XXXXXX";
static char policy_path[256], db_path[256];
static struct kstore *store;
static struct kpolicy *policy;
static char err[512], reason[256];

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    snprintf(policy_path, sizeof(policy_path), "%s/policy.json", dir);
    snprintf(db_path, sizeof(db_path), "%s/keyd.db", dir);
    cr_assert_eq(kstore_open(db_path, &store), 0);
    cr_assert_eq(kpolicy_store_init(store), 0);
}

static void teardown(void)
{
    char cmd[300];

    kpolicy_free(policy);
    policy = NULL;
    kstore_close(store);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(kpolicy, .init = setup, .fini = teardown);

static void write_file(const char *text, mode_t mode)
{
    int fd;

    unlink(policy_path);
    fd = open(policy_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    cr_assert_eq(fchmod(fd, mode), 0);
    close(fd);
}

/* Loads text as the policy (mode 0600): the result of kpolicy_load. */
static int load_text(const char *text)
{
    kpolicy_free(policy);
    policy = NULL;
    err[0] = '\0';
    write_file(text, 0600);
    return kpolicy_load(policy_path, &policy, err, sizeof(err));
}

static void load_ok(const char *text)
{
    int r = load_text(text);

    cr_assert_eq(r, 0, "load failed (%d): %s", r, err);
}

static struct kp_request send_eth(const char *to, amount_t amount)
{
    return (struct kp_request){KP_SEND, "ethereum", "w1", to, amount, 1};
}

static enum kp_verdict check(struct kp_request r)
{
    return kpolicy_check(policy, &r, reason, sizeof(reason));
}

static int commit_at(struct kp_request r, time_t now)
{
    return kpolicy_commit(policy, store, &r, NULL, now, NULL, NULL, reason, sizeof(reason));
}

static time_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};

    return timegm(&tm);
}

#define NOON utc(2024, 3, 10, 12, 0, 0)

/* Today's usage of a chain, a field as text ("sent") or integer ("sends"). */
static json_t *usage_of(const char *chain, time_t now)
{
    json_t *u = kpolicy_usage(policy, store, now), *c;

    cr_assert_not_null(u);
    c = json_incref(json_object_get(json_object_get(u, "chains"), chain));
    json_decref(u);
    cr_assert_not_null(c);
    return c;
}

static void assert_sent(const char *chain, time_t now, const char *sent, long long sends)
{
    json_t *c = usage_of(chain, now);

    cr_assert_str_eq(json_string_value(json_object_get(c, "sent")), sent);
    cr_assert_eq(json_integer_value(json_object_get(c, "sends")), sends);
    json_decref(c);
}

/* ---- defaults and the unit regression ----------------------------------------------------- */

Test(kpolicy, missing_file_gives_osmodas_defaults)
{
    json_t *j, *eth, *sol;

    cr_assert_eq(kpolicy_load(policy_path, &policy, err, sizeof(err)), 0);
    j = kpolicy_json(policy);
    eth = json_object_get(json_object_get(j, "chains"), "ethereum");
    sol = json_object_get(json_object_get(j, "chains"), "solana");
    cr_assert_str_eq(json_string_value(json_object_get(eth, "max_per_day")), "1");
    cr_assert_eq(json_integer_value(json_object_get(eth, "max_sends_per_day")), 10);
    cr_assert_str_eq(json_string_value(json_object_get(eth, "approval_above")), "0.1");
    cr_assert(json_is_null(json_object_get(eth, "max_per_tx")));
    cr_assert(json_is_null(json_object_get(eth, "allowed_destinations")));
    cr_assert_str_eq(json_string_value(json_object_get(sol, "max_per_day")), "10");
    cr_assert_eq(json_integer_value(json_object_get(sol, "max_sends_per_day")), 20);
    cr_assert_str_eq(json_string_value(json_object_get(sol, "approval_above")), "1");
    cr_assert_eq(json_integer_value(json_object_get(j, "messages_per_day")), 100);
    cr_assert(json_is_false(json_object_get(j, "sign_raw")));
    cr_assert(!kpolicy_import_allowed(policy) && !kpolicy_export_allowed(policy));
    json_decref(j);
}

/* osModa checked "1" as 1 ETH and built it as 1 wei. One parse gives both the check and the
 * builder 10^18 wei. */
Test(kpolicy, one_eth_is_1e18_wei_in_the_check_and_the_build)
{
    amount_t from_text, from_wei;

    load_ok("{\"chains\": {\"ethereum\": {\"max_per_tx\": \"1\", \"approval_above\": \"1\"}}}");
    cr_assert_eq(amount_parse("1", AMOUNT_ETH_DECIMALS, &from_text), 0);
    cr_assert_eq(amount_parse_base("1000000000000000000", &from_wei), 0);
    cr_assert(from_text == ETH && from_wei == ETH);
    cr_assert_eq(check(send_eth(ADDR_EIP55, from_text)), KP_ALLOW, "%s", reason);
    cr_assert_eq(check(send_eth(ADDR_EIP55, from_wei)), KP_ALLOW, "%s", reason);
    cr_assert_eq(commit_at(send_eth(ADDR_EIP55, from_text), NOON), 0);
    assert_sent("ethereum", NOON, "1", 1);
    /* and 1e18 ETH (osModa's reading of the wei text) is refused */
    load_ok("{\"chains\": {\"ethereum\": {\"max_per_tx\": \"1\"}}}");
    cr_assert_eq(check(send_eth(ADDR_EIP55, from_wei * ETH)), KP_DENY);
}

/* ---- per-transaction, threshold, allowlist, permissions ----------------------------------- */

Test(kpolicy, max_per_tx_boundary)
{
    amount_t half;

    load_ok("{\"chains\": {\"ethereum\": {\"max_per_tx\": \"0.5\", \"approval_above\": null}}}");
    cr_assert_eq(amount_parse("0.5", 18, &half), 0);
    cr_assert_eq(check(send_eth(ADDR_EIP55, half)), KP_ALLOW, "%s", reason);
    cr_assert_eq(check(send_eth(ADDR_EIP55, half + WEI)), KP_DENY);
    cr_assert(strstr(reason, "max_per_tx 0.5"), "%s", reason);
    cr_assert(strstr(reason, "0.500000000000000001"), "%s", reason);
}

Test(kpolicy, threshold_asks_a_person)
{
    load_ok("{}");
    cr_assert_eq(check(send_eth(ADDR_EIP55, ETH / 10)), KP_ALLOW, "%s", reason);
    cr_assert_eq(check(send_eth(ADDR_EIP55, ETH / 10 + WEI)), KP_APPROVE);
    cr_assert(strstr(reason, "approval_above 0.1"), "%s", reason);
    /* a single send above the day's limit cannot be approved into passing */
    cr_assert_eq(check(send_eth(ADDR_EIP55, ETH + WEI)), KP_DENY);
}

Test(kpolicy, allowlist_compares_canonical_addresses)
{
    load_ok("{\"chains\": {\"ethereum\": {\"allowed_destinations\": [\"" ADDR_EIP55 "\"]}}}");
    cr_assert_eq(check(send_eth(ADDR_EIP55, WEI)), KP_ALLOW, "%s", reason);
    cr_assert_eq(check(send_eth(ADDR_LOWER, WEI)), KP_ALLOW, "%s", reason);
    cr_assert_eq(check(send_eth(ADDR_OTHER, WEI)), KP_DENY);
    cr_assert(strstr(reason, "allowed_destinations"), "%s", reason);

    load_ok("{\"chains\": {\"ethereum\": {\"allowed_destinations\": [\"" ADDR_LOWER "\"]}}}");
    cr_assert_eq(check(send_eth(ADDR_EIP55, WEI)), KP_ALLOW, "%s", reason);
    cr_assert_eq(check(send_eth(ADDR_OTHER, WEI)), KP_DENY);

    /* an empty list allows no destination; not an address is never a destination */
    load_ok("{\"chains\": {\"ethereum\": {\"allowed_destinations\": []}}}");
    cr_assert_eq(check(send_eth(ADDR_EIP55, WEI)), KP_DENY);
    load_ok("{}");
    cr_assert_eq(check(send_eth("0x1234", WEI)), KP_DENY);
    cr_assert_eq(check(send_eth(NULL, WEI)), KP_DENY);
}

Test(kpolicy, solana_allowlist_is_case_sensitive)
{
    struct kp_request r = {KP_SEND, "solana", "w2", SOL_ADDR, SOL / 2, 1};
    char lower[64];

    load_ok("{\"chains\": {\"solana\": {\"allowed_destinations\": [\"" SOL_ADDR "\"]}}}");
    cr_assert_eq(check(r), KP_ALLOW, "%s", reason);
    snprintf(lower, sizeof(lower), "%s", SOL_ADDR);
    lower[1] = 'w'; /* another address in base58 */
    r.to = lower;
    cr_assert_eq(check(r), KP_DENY);
    r.to = ADDR_EIP55;
    cr_assert_eq(check(r), KP_DENY, "an Ethereum address is no Solana destination");
}

Test(kpolicy, sign_raw_off_denies_on_always_asks)
{
    struct kp_request r = {KP_SIGN_RAW, "ethereum", "w1", NULL, 0, 1};

    load_ok("{}");
    cr_assert_eq(check(r), KP_DENY);
    cr_assert(strstr(reason, "sign_raw"), "%s", reason);
    load_ok("{\"sign_raw\": true}");
    cr_assert_eq(check(r), KP_APPROVE, "%s", reason);
    r.chain = "solana";
    cr_assert_eq(check(r), KP_APPROVE);
}

Test(kpolicy, min_key_version)
{
    struct kp_request r = send_eth(ADDR_EIP55, WEI);
    struct kp_request m = {KP_SIGN_MESSAGE, "ethereum", "w1", NULL, 0, 1};

    load_ok("{\"chains\": {\"ethereum\": {\"min_key_version\": 2}}}");
    cr_assert_eq(check(r), KP_DENY);
    cr_assert(strstr(reason, "min_key_version 2"), "%s", reason);
    cr_assert_eq(check(m), KP_DENY);
    r.key_version = m.key_version = 2;
    cr_assert_eq(check(r), KP_ALLOW, "%s", reason);
    cr_assert_eq(check(m), KP_ALLOW, "%s", reason);
    cr_assert_eq(load_text("{\"chains\": {\"ethereum\": {\"min_key_version\": 0}}}"), -EINVAL);
}

Test(kpolicy, import_and_export_are_off_then_approvals)
{
    struct kp_request imp = {KP_IMPORT, "ethereum", NULL, NULL, 0, 1};
    struct kp_request exp = {KP_EXPORT, "ethereum", "w1", NULL, 0, 1};

    load_ok("{}");
    cr_assert_eq(check(imp), KP_DENY);
    cr_assert_eq(check(exp), KP_DENY);
    load_ok("{\"allow_import\": true, \"allow_export\": true}");
    cr_assert(kpolicy_import_allowed(policy) && kpolicy_export_allowed(policy));
    cr_assert_eq(check(imp), KP_APPROVE);
    cr_assert_eq(check(exp), KP_APPROVE);
}

Test(kpolicy, unknown_chain_is_denied)
{
    struct kp_request r = {KP_SEND, "bitcoin", "w1", ADDR_EIP55, 1, 1};

    load_ok("{}");
    cr_assert_eq(check(r), KP_DENY);
    r.chain = NULL;
    cr_assert_eq(check(r), KP_DENY);
}

/* ---- daily counters ----------------------------------------------------------------------- */

Test(kpolicy, max_per_day_exactly_then_one_wei_more)
{
    amount_t a4, a6;

    load_ok("{\"chains\": {\"ethereum\": {\"max_per_day\": \"1.0\", \"approval_above\": null,"
            " \"max_sends_per_day\": 100}}}");
    cr_assert_eq(amount_parse("0.4", 18, &a4), 0);
    cr_assert_eq(amount_parse("0.6", 18, &a6), 0);
    cr_assert_eq(commit_at(send_eth(ADDR_EIP55, a4), NOON), 0, "%s", reason);
    cr_assert_eq(commit_at(send_eth(ADDR_EIP55, a6), NOON), 0, "%s", reason);
    assert_sent("ethereum", NOON, "1", 2);
    cr_assert_eq(commit_at(send_eth(ADDR_EIP55, WEI), NOON), -EDQUOT);
    cr_assert(strstr(reason, "max_per_day 1"), "%s", reason);
    /* the refusal counted nothing, and a zero send still fits */
    assert_sent("ethereum", NOON, "1", 2);
    cr_assert_eq(commit_at(send_eth(ADDR_EIP55, 0), NOON), 0, "%s", reason);
    assert_sent("ethereum", NOON, "1", 3);
}

Test(kpolicy, sends_count_limit)
{
    load_ok("{\"chains\": {\"ethereum\": {\"max_sends_per_day\": 3}}}");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(commit_at(send_eth(ADDR_EIP55, WEI), NOON), 0, "%s", reason);
    cr_assert_eq(commit_at(send_eth(ADDR_EIP55, WEI), NOON), -EDQUOT);
    cr_assert(strstr(reason, "max_sends_per_day is 3"), "%s", reason);
    assert_sent("ethereum", NOON, "0.000000000000000003", 3);
    /* the other chain counts on its own */
    struct kp_request sol = {KP_SEND, "solana", "w2", SOL_ADDR, SOL, 1};
    cr_assert_eq(commit_at(sol, NOON), 0, "%s", reason);
}

/* The day is the UTC date, whatever the local zone: 23:59:59(.999, which time_t truncates to
 * :59) is still the full day, 00:00:00 the next day starts from zero. */
Test(kpolicy, day_boundary_in_utc)
{
    time_t last = utc(2024, 3, 10, 23, 59, 59), next = utc(2024, 3, 11, 0, 0, 0);
    json_t *u;

    setenv("TZ", "Pacific/Kiritimati", 1); /* UTC+14: its local date differs all day */
    tzset();
    load_ok("{\"chains\": {\"ethereum\": {\"max_per_day\": \"1\", \"approval_above\": null}}}");
    cr_assert_eq(commit_at(send_eth(ADDR_EIP55, ETH), utc(2024, 3, 10, 0, 0, 0)), 0);
    cr_assert_eq(commit_at(send_eth(ADDR_EIP55, WEI), last), -EDQUOT);
    cr_assert_eq(commit_at(send_eth(ADDR_EIP55, ETH), next), 0, "%s", reason);
    cr_assert_eq(commit_at(send_eth(ADDR_EIP55, WEI), next + 86399), -EDQUOT);
    u = kpolicy_usage(policy, store, next);
    cr_assert_str_eq(json_string_value(json_object_get(u, "day")), "2024-03-11");
    json_decref(u);
    assert_sent("ethereum", last, "1", 1);
    assert_sent("ethereum", next + 86400, "0", 0);
}

Test(kpolicy, messages_per_day_all_chains)
{
    struct kp_request m = {KP_SIGN_MESSAGE, "ethereum", "w1", NULL, 0, 1};
    json_t *u;

    load_ok("{\"messages_per_day\": 2}");
    cr_assert_eq(commit_at(m, NOON), 0);
    m.chain = "solana";
    cr_assert_eq(commit_at(m, NOON), 0);
    cr_assert_eq(commit_at(m, NOON), -EDQUOT);
    m.chain = "ethereum";
    cr_assert_eq(commit_at(m, NOON), -EDQUOT);
    u = kpolicy_usage(policy, store, NOON);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(u, "messages"), "count")), 2);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(u, "messages"), "limit")), 2);
    json_decref(u);
}

Test(kpolicy, usage_shows_counters_and_limits)
{
    json_t *c;
    amount_t a;

    load_ok("{\"chains\": {\"ethereum\": {\"max_per_day\": \"0.5\"}}}");
    cr_assert_eq(amount_parse("0.2", 18, &a), 0);
    cr_assert_eq(commit_at(send_eth(ADDR_EIP55, a), NOON), 0);
    c = usage_of("ethereum", NOON);
    cr_assert_str_eq(json_string_value(json_object_get(c, "sent")), "0.2");
    cr_assert_str_eq(json_string_value(json_object_get(c, "max_per_day")), "0.5");
    cr_assert_str_eq(json_string_value(json_object_get(c, "remaining")), "0.3");
    cr_assert_eq(json_integer_value(json_object_get(c, "sends")), 1);
    cr_assert_eq(json_integer_value(json_object_get(c, "max_sends_per_day")), 10);
    json_decref(c);
}

/* ---- concurrency and crashes -------------------------------------------------------------- */

#define RACERS 8
#define TRIES 6

static int racer_ok[RACERS];
static amount_t racer_amount;

static void *racer(void *arg)
{
    int id = (int)(intptr_t)arg;
    char why[128];

    for (int i = 0; i < TRIES; i++) {
        struct kp_request r = send_eth(ADDR_EIP55, racer_amount);
        int rc = kpolicy_commit(policy, store, &r, NULL, NOON, NULL, NULL, why, sizeof(why));

        cr_assert(rc == 0 || rc == -EDQUOT, "commit returned %d", rc);
        racer_ok[id] += rc == 0;
    }
    return NULL;
}

static int race(void)
{
    pthread_t t[RACERS];
    int total = 0;

    memset(racer_ok, 0, sizeof(racer_ok));
    for (int i = 0; i < RACERS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, racer, (void *)(intptr_t)i), 0);
    for (int i = 0; i < RACERS; i++) {
        pthread_join(t[i], NULL);
        total += racer_ok[i];
    }
    return total;
}

Test(kpolicy, threads_racing_the_sends_limit)
{
    load_ok("{\"chains\": {\"ethereum\": {\"max_sends_per_day\": 10}}}");
    racer_amount = WEI;
    cr_assert_eq(race(), 10);
    assert_sent("ethereum", NOON, "0.00000000000000001", 10);
}

Test(kpolicy, threads_racing_the_amount_limit)
{
    load_ok("{\"chains\": {\"ethereum\": {\"max_per_day\": \"1\", \"max_sends_per_day\": null}}}");
    cr_assert_eq(amount_parse("0.3", 18, &racer_amount), 0);
    cr_assert_eq(race(), 3);
    assert_sent("ethereum", NOON, "0.9", 3);
}

/* A child commits in a loop and reports each 0 on a pipe; it is SIGKILLed mid-stream. After
 * reopening, the counter holds every reported commit, plus at most the one in flight. */
Test(kpolicy, kill_9_during_commits_never_loses_a_count)
{
    int fds[2], status, reported = 0;
    char byte;
    pid_t pid;
    json_t *c;

    load_ok("{\"chains\": {\"ethereum\": {\"max_sends_per_day\": null, \"max_per_day\": null}}}");
    cr_assert_eq(pipe(fds), 0);
    kstore_close(store);
    store = NULL;
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        struct kstore *s;
        struct kp_request r = send_eth(ADDR_EIP55, WEI);

        close(fds[0]);
        if (kstore_open(db_path, &s) < 0)
            _exit(2);
        for (;;) {
            if (kpolicy_commit(policy, s, &r, NULL, NOON, NULL, NULL, NULL, 0) != 0)
                _exit(3);
            if (write(fds[1], "c", 1) != 1)
                _exit(4);
        }
    }
    close(fds[1]);
    while (reported < 40 && read(fds[0], &byte, 1) == 1)
        reported++;
    cr_assert_eq(reported, 40, "the child stopped early");
    kill(pid, SIGKILL);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    while (read(fds[0], &byte, 1) == 1)
        reported++;
    close(fds[0]);
    cr_assert_eq(kstore_open(db_path, &store), 0);
    c = usage_of("ethereum", NOON);
    long long counted = json_integer_value(json_object_get(c, "sends"));
    json_decref(c);
    cr_assert(counted == reported || counted == reported + 1,
              "counted %lld, the child saw %d commits", counted, reported);
}

/* ---- the nonce guard ---------------------------------------------------------------------- */

static int commit_nonce(const char *chain_key, uint64_t nonce, uint8_t hash_byte, const char *raw,
                        uint8_t **prev, size_t *prev_len)
{
    uint8_t hash[32];
    struct kp_request r = send_eth(ADDR_EIP55, WEI);
    struct kp_nonce n = {chain_key, ADDR_OTHER, nonce, hash, (const uint8_t *)raw, strlen(raw)};

    memset(hash, hash_byte, sizeof(hash));
    return kpolicy_commit(policy, store, &r, &n, NOON, prev, prev_len, reason, sizeof(reason));
}

Test(kpolicy, nonce_guard)
{
    uint8_t *prev = NULL;
    size_t prev_len = 0;

    load_ok("{\"chains\": {\"ethereum\": {\"max_sends_per_day\": 3}}}");
    cr_assert_eq(commit_nonce("ethereum:1", 7, 0xaa, "raw-one", &prev, &prev_len), 0, "%s", reason);
    cr_assert_null(prev);
    /* the same transaction again: the first raw back, nothing counted */
    cr_assert_eq(commit_nonce("ethereum:1", 7, 0xaa, "raw-two", &prev, &prev_len), 1);
    cr_assert_eq(prev_len, strlen("raw-one"));
    cr_assert_eq(memcmp(prev, "raw-one", prev_len), 0);
    free(prev);
    prev = NULL;
    assert_sent("ethereum", NOON, "0.000000000000000001", 1);
    /* another transaction on that nonce: a double sign, refused, nothing counted */
    cr_assert_eq(commit_nonce("ethereum:1", 7, 0xbb, "raw-evil", &prev, &prev_len), -EEXIST);
    cr_assert_null(prev);
    cr_assert(strstr(reason, "nonce 7"), "%s", reason);
    assert_sent("ethereum", NOON, "0.000000000000000001", 1);
    /* other nonces and other chain ids are independent */
    cr_assert_eq(commit_nonce("ethereum:1", 8, 0xbb, "raw-8", &prev, &prev_len), 0, "%s", reason);
    cr_assert_eq(commit_nonce("ethereum:5", 7, 0xbb, "raw-goerli", &prev, &prev_len), 0, "%s",
                 reason);
    /* the limit is now reached, and a replay of a signed transaction still answers */
    cr_assert_eq(commit_nonce("ethereum:1", 9, 0xcc, "raw-9", &prev, &prev_len), -EDQUOT);
    cr_assert_eq(commit_nonce("ethereum:5", 7, 0xbb, "x", &prev, &prev_len), 1);
    cr_assert_eq(memcmp(prev, "raw-goerli", prev_len), 0);
    free(prev);
    prev = NULL;
    /* a refused send leaves no nonce behind: nonce 9 is still free the next day */
    struct kp_request r = send_eth(ADDR_EIP55, WEI);
    uint8_t hash[32];
    struct kp_nonce n = {"ethereum:1", ADDR_OTHER, 9, hash, (const uint8_t *)"r9", 2};
    memset(hash, 0xdd, sizeof(hash));
    cr_assert_eq(kpolicy_commit(policy, store, &r, &n, NOON + 86400, &prev, &prev_len, reason,
                                sizeof(reason)),
                 0, "%s", reason);
    assert_sent("ethereum", NOON, "0.000000000000000003", 3);
}

/* The sender's EIP-55 and lower-case texts are one signer to the guard. */
Test(kpolicy, nonce_sender_case_is_one_signer)
{
    struct kp_request r = send_eth(ADDR_EIP55, WEI);
    uint8_t a[32], b[32], *prev = NULL;
    struct kp_nonce first = {"ethereum:1", ADDR_EIP55, 3, a, (const uint8_t *)"one", 3};
    struct kp_nonce second = {"ethereum:1", ADDR_LOWER, 3, b, (const uint8_t *)"two", 3};
    size_t len;

    memset(a, 1, sizeof(a));
    memset(b, 2, sizeof(b));
    load_ok("{}");
    cr_assert_eq(kpolicy_commit(policy, store, &r, &first, NOON, &prev, &len, NULL, 0), 0);
    cr_assert_eq(kpolicy_commit(policy, store, &r, &second, NOON, &prev, &len, NULL, 0), -EEXIST);
    cr_assert_null(prev);
}

Test(kpolicy, nonce_bad_arguments)
{
    struct kp_request r = send_eth(ADDR_EIP55, WEI);
    struct kp_nonce n = {"ethereum:1", ADDR_OTHER, 1, NULL, (const uint8_t *)"x", 1};
    uint8_t *prev = NULL;
    size_t len;

    load_ok("{}");
    cr_assert_eq(kpolicy_commit(policy, store, &r, &n, NOON, &prev, &len, NULL, 0), -EINVAL);
    cr_assert_eq(kpolicy_commit(policy, store, &r, NULL, -1, NULL, NULL, NULL, 0), -EINVAL);
    assert_sent("ethereum", NOON, "0", 0);
}

/* ---- the file ----------------------------------------------------------------------------- */

Test(kpolicy, file_writable_by_others_or_owned_by_another_user)
{
    write_file("{}", 0620);
    cr_assert_eq(kpolicy_load(policy_path, &policy, err, sizeof(err)), -EPERM);
    cr_assert_null(policy);
    write_file("{}", 0602);
    cr_assert_eq(kpolicy_load(policy_path, &policy, err, sizeof(err)), -EPERM);
    write_file("{}", 0644);
    cr_assert_eq(kpolicy_load(policy_path, &policy, err, sizeof(err)), 0);
    kpolicy_free(policy);
    policy = NULL;
    if (geteuid() != 0)
        cr_skip("changing the owner needs root");
    cr_assert_eq(chown(policy_path, 1, (gid_t)-1), 0);
    cr_assert_eq(kpolicy_load(policy_path, &policy, err, sizeof(err)), -EPERM);
    cr_assert(strstr(err, "owned by uid 0"), "%s", err);
}

Test(kpolicy, symlink_is_refused)
{
    char target[300];

    snprintf(target, sizeof(target), "%s/real.json", dir);
    write_file("{}", 0600);
    cr_assert_eq(rename(policy_path, target), 0);
    cr_assert_eq(symlink(target, policy_path), 0);
    cr_assert_lt(kpolicy_load(policy_path, &policy, err, sizeof(err)), 0);
    cr_assert_null(policy);
}

static void assert_bad(const char *text, const char *field)
{
    cr_assert_eq(load_text(text), -EINVAL, "accepted: %s", text);
    cr_assert_null(policy);
    cr_assert(strstr(err, field), "error \"%s\" does not name %s", err, field);
}

Test(kpolicy, malformed_names_the_field)
{
    assert_bad("{\"chains\": {\"ethereum\": {\"max_per_tx\": 0.5}}}", "chains.ethereum.max_per_tx");
    assert_bad("{\"chains\": {\"ethereum\": {\"max_per_tx\": \"1e18\"}}}",
               "chains.ethereum.max_per_tx");
    assert_bad("{\"chains\": {\"ethereum\": {\"max_per_day\": \"0.1234567890123456789\"}}}",
               "chains.ethereum.max_per_day");
    assert_bad("{\"chains\": {\"solana\": {\"approval_above\": \"0.0000000001\"}}}",
               "chains.solana.approval_above");
    assert_bad("{\"chains\": {\"ethereum\": {\"max_per_txx\": \"1\"}}}",
               "chains.ethereum.max_per_txx: unknown field");
    assert_bad("{\"chains\": {\"bitcoin\": {}}}", "chains.bitcoin: unknown chain");
    assert_bad("{\"chains\": {\"ethereum\": {\"max_sends_per_day\": -1}}}",
               "chains.ethereum.max_sends_per_day");
    assert_bad("{\"chains\": {\"ethereum\": {\"allowed_destinations\": [\"" ADDR_EIP55
               "\", \"0xnope\"]}}}",
               "chains.ethereum.allowed_destinations[1]");
    assert_bad("{\"messages_per_day\": \"100\"}", "messages_per_day");
    assert_bad("{\"sign_raw\": 1}", "sign_raw");
    assert_bad("{\"signraw\": true}", "signraw: unknown field");
    assert_bad("{\"chains\": []}", "chains");
    assert_bad("[]", "policy");
    assert_bad("{\"sign_raw\": true,\n \"sign_raw\": false}", "policy.json:2");
    assert_bad("{\"chains\": {\n", "policy.json:");
}

Test(kpolicy, json_round_trip)
{
    json_t *first, *second;
    char *text;

    load_ok("{\"comment\": \"ops\", \"chains\": {\"ethereum\": {\"max_per_tx\": \"0.25\","
            " \"max_per_day\": \"2.000000000000000001\", \"max_sends_per_day\": 4,"
            " \"approval_above\": null, \"allowed_destinations\": [\"" ADDR_EIP55 "\"],"
            " \"min_key_version\": 3}, \"solana\": {\"max_per_day\": null}},"
            " \"messages_per_day\": null, \"sign_raw\": true, \"allow_export\": true}");
    first = kpolicy_json(policy);
    text = json_dumps(first, 0);
    load_ok(text);
    second = kpolicy_json(policy);
    cr_assert(json_equal(first, second), "%s", text);
    cr_assert_str_eq(
        json_string_value(json_object_get(
            json_object_get(json_object_get(first, "chains"), "ethereum"), "max_per_day")),
        "2.000000000000000001");
    free(text);
    json_decref(first);
    json_decref(second);
}

/* ---- osModa's {"rules": [...]} ------------------------------------------------------------ */

static const char *field(const char *chain, const char *key)
{
    static char out[AMOUNT_TEXT_MAX + 1];
    json_t *j = kpolicy_json(policy);
    json_t *v = chain ? json_object_get(json_object_get(json_object_get(j, "chains"), chain), key)
                      : json_object_get(j, key);

    if (json_is_string(v))
        snprintf(out, sizeof(out), "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, sizeof(out), "%lld", (long long)json_integer_value(v));
    else
        snprintf(out, sizeof(out), "%s", json_is_null(v) ? "null" : "?");
    json_decref(j);
    return out;
}

Test(kpolicy, osmoda_default_rules_equal_our_defaults)
{
    json_t *ours, *theirs;

    cr_assert_eq(kpolicy_load(policy_path, &policy, err, sizeof(err)), 0);
    ours = kpolicy_json(policy);
    load_ok("{\"rules\": ["
            "{\"action\": \"send\", \"chain\": \"ethereum\", \"max_amount\": \"1.0\","
            " \"period\": \"daily\", \"max_per_day\": 10},"
            "{\"action\": \"send\", \"chain\": \"solana\", \"max_amount\": \"10.0\","
            " \"period\": \"daily\", \"max_per_day\": 20},"
            "{\"action\": \"sign\", \"max_per_day\": 100}]}");
    theirs = kpolicy_json(policy);
    cr_assert(json_equal(ours, theirs));
    json_decref(ours);
    json_decref(theirs);
}

Test(kpolicy, osmoda_rules_all_must_pass)
{
    load_ok("{\"rules\": ["
            "{\"action\": \"send\", \"max_amount\": \"5\"},"
            "{\"action\": \"send\", \"chain\": \"ethereum\", \"max_amount\": \"2\","
            " \"max_per_day\": 3, \"allowed_destinations\": [\"" ADDR_EIP55 "\", \"" ADDR_OTHER
            "\"]},"
            "{\"action\": \"send\", \"chain\": \"ethereum\", \"max_amount\": \"7\","
            " \"allowed_destinations\": [\"" ADDR_LOWER "\"]},"
            "{\"action\": \"sign\", \"chain\": \"solana\", \"max_per_day\": 7}]}");
    cr_assert_str_eq(field("ethereum", "max_per_day"), "2");
    cr_assert_str_eq(field("ethereum", "max_sends_per_day"), "3");
    cr_assert_str_eq(field("solana", "max_per_day"), "5");
    cr_assert_str_eq(field("solana", "max_sends_per_day"), "null");
    cr_assert_str_eq(field("solana", "approval_above"), "1");
    cr_assert_str_eq(field(NULL, "messages_per_day"), "7");
    cr_assert_eq(check(send_eth(ADDR_EIP55, WEI)), KP_ALLOW, "%s", reason);
    cr_assert_eq(check(send_eth(ADDR_OTHER, WEI)), KP_DENY, "not in the third rule's list");
    /* a rule without a chain is for both: its Ethereum addresses are no Solana destinations */
    assert_bad("{\"rules\": [{\"action\": \"send\", \"allowed_destinations\": [\"" ADDR_EIP55
               "\"]}]}",
               "rules[0].allowed_destinations[0]");
}

Test(kpolicy, osmoda_rules_malformed)
{
    assert_bad("{\"rules\": [{\"action\": \"sned\"}]}", "rules[0].action");
    assert_bad("{\"rules\": [{\"action\": \"send\"}, {\"action\": \"send\", \"chain\": \"btc\"}]}",
               "rules[1].chain");
    assert_bad("{\"rules\": [{\"action\": \"send\", \"max_amount\": 1}]}", "rules[0].max_amount");
    assert_bad("{\"rules\": [{\"action\": \"sign\", \"max_amount\": \"1\"}]}",
               "rules[0].max_amount: only for send rules");
    assert_bad("{\"rules\": [{\"action\": \"send\", \"limit\": 1}]}", "rules[0].limit");
    assert_bad("{\"rules\": [{\"action\": \"send\", \"max_per_day\": 1.5}]}",
               "rules[0].max_per_day");
    assert_bad("{\"rules\": [], \"sign_raw\": true}", "rules");
    assert_bad("{\"rules\": {}}", "rules");
    assert_bad("{\"rules\": [7]}", "rules[0]");
}
