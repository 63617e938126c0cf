/* libFuzzer target: keyd's policy file as kpolicy_load reads it (ours and osModa's {"rules"}),
 * and the amount parser on the same bytes. A refused file must come with a message and no
 * policy; an accepted one must print as JSON that loads back to the same policy, and never let
 * arbitrary payloads, imports or exports run without a person. An amount that parses must
 * format back to text that parses to the same number. */
#include <assert.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "amount.h"
#include "fuzz.h"
#include "kpolicy.h"

#define AMOUNT_INPUT_MAX 128

static char dir[PATH_MAX], policy_path[PATH_MAX + 16];

static void cleanup(void)
{
    unlink(policy_path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char tmpl[] = "/tmp/fuzz-keyd-policy-XXXXXX";

    if (!mkdtemp(tmpl) || !realpath(tmpl, dir))
        abort();
    atexit(cleanup);
    snprintf(policy_path, sizeof(policy_path), "%s/policy.json", dir);
    return 0;
}

static void write_policy(const void *data, size_t size)
{
    int fd = open(policy_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    assert(fd >= 0);
    assert(write(fd, data, size) == (ssize_t)size);
    close(fd);
}

static void amounts(const uint8_t *data, size_t size)
{
    static const unsigned decimals[] = {0, AMOUNT_SOL_DECIMALS, AMOUNT_ETH_DECIMALS};
    char text[AMOUNT_INPUT_MAX + 1], out[AMOUNT_TEXT_MAX + 1];
    amount_t a, b;

    if (size > AMOUNT_INPUT_MAX)
        size = AMOUNT_INPUT_MAX;
    memcpy(text, data, size);
    text[size] = '\0';
    for (size_t i = 0; i < sizeof(decimals) / sizeof(decimals[0]); i++) {
        if (amount_parse(text, decimals[i], &a) < 0)
            continue;
        amount_format(a, decimals[i], out);
        assert(amount_parse(out, decimals[i], &b) == 0 && a == b);
        amount_format_base(a, out);
        assert(amount_parse_base(out, &b) == 0 && a == b);
    }
}

/* What no policy file can allow without a person. */
static void invariants(const struct kpolicy *p)
{
    static const enum kp_action held[] = {KP_SIGN_RAW, KP_IMPORT, KP_EXPORT};
    char reason[256];

    for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++) {
        struct kp_request r = {held[i], "ethereum", "w", NULL, 0, 1 << 30};

        assert(kpolicy_check(p, &r, reason, sizeof(reason)) != KP_ALLOW);
        assert(memchr(reason, '\0', sizeof(reason)));
    }
    struct kp_request send = {KP_SEND,      "solana", "w", "11111111111111111111111111111111",
                              ~(amount_t)0, 1 << 30};
    (void)kpolicy_check(p, &send, reason, sizeof(reason));
    assert(memchr(reason, '\0', sizeof(reason)));
}

static void policy(const uint8_t *data, size_t size)
{
    struct kpolicy *p = NULL, *again = NULL;
    json_t *first, *second;
    char err[512] = "", *text;

    write_policy(data, size);
    if (kpolicy_load(policy_path, &p, err, sizeof(err)) < 0) {
        assert(!p && err[0] && memchr(err, '\0', sizeof(err)));
        return;
    }
    invariants(p);
    first = kpolicy_json(p);
    assert(first);
    text = json_dumps(first, 0);
    assert(text);
    write_policy(text, strlen(text));
    assert(kpolicy_load(policy_path, &again, err, sizeof(err)) == 0);
    second = kpolicy_json(again);
    assert(second && json_equal(first, second));
    json_decref(first);
    json_decref(second);
    free(text);
    kpolicy_free(again);
    kpolicy_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    amounts(data, size);
    policy(data, size);
    return 0;
}
