/* libFuzzer target: a health check as JSON (osModa §4), the bytes an agent or the operator
 * sends in watcher_add and safe_switch_begin, through check_parse. It must never crash; a
 * refused check comes with a message naming a field and yields nothing; an accepted one gives
 * back JSON that parses to the same check again, and obeys the rules that keep it safe to run. */
#include <assert.h>
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "checks-internal.h"
#include "fuzz.h"

static void accepted(const struct check *c)
{
    json_t *j = check_json(c);
    struct check *again = NULL;
    char err[256];

    assert(j);
    assert(check_parse(j, &again, err, sizeof(err)) == 0);
    assert(again->kind == c->kind);
    if (c->kind == CHECK_COMMAND) {
        assert(c->argv[0][0] == '/' && !strstr(c->argv[0], ".."));
        for (size_t i = 0; i <= c->n_args; i++)
            assert(strcspn(c->argv[i], "$`|;&(){}<>!\\\n\r") == strlen(c->argv[i]));
    }
    if (c->kind == CHECK_HTTP_GET)
        assert(strncmp(c->url, "http://", 7) == 0 || strncmp(c->url, "https://", 8) == 0);
    check_free(again);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = json_loadb((const char *)data, size, JSON_ALLOW_NUL, NULL);
    struct check *c = NULL;
    char err[256] = "";

    if (!j)
        return 0;
    if (check_parse(j, &c, err, sizeof(err)) == 0)
        accepted(c);
    else
        assert(!c && strchr(err, ':'));
    check_free(c);
    json_decref(j);
    return 0;
}
