/* libFuzzer target: the shell-command analyser (lib/policy/shellcmd.c) and the destructive-command
 * early warning on hostile command lines. Neither may crash, read out of bounds or run away; every
 * command visited must be well formed (argv NULL-terminated with a basename first, depth within
 * the limit, every redirection with a target), and a line the analyser gives up on must count as
 * destructive. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "policy/policy.h"
#include "policy/shellcmd.h"

static int check(const struct osm_shellcmd *c, void *userdata)
{
    size_t *visits = userdata, total = 0;

    assert(c->argv[c->argc] == NULL);
    assert(c->depth <= OSM_SHELLCMD_DEPTH_MAX);
    assert(c->argc == 0 || !strchr(c->argv[0], '/'));
    for (size_t i = 0; i < c->argc; i++)
        total += strlen(c->argv[i]);
    for (size_t i = 0; i < c->n_redirs; i++) {
        assert(c->redirs[i].target);
        assert(c->redirs[i].op <= OSM_SHELLCMD_REDIR_HERESTRING);
        total += strlen(c->redirs[i].target);
    }
    assert(!c->function || strlen(c->function) <= 4 * (size_t)OSM_SHELLCMD_LEN_MAX);
    assert(total <= 4 * (size_t)OSM_SHELLCMD_LEN_MAX);
    (*visits)++;
    osm_shellcmd_has_option(c, 'r', "recursive");
    osm_shellcmd_operand(c, 1, "ab", NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = malloc(size + 1);
    const char *rule = NULL;
    size_t visits = 0;
    bool destructive;
    int r;

    if (!line)
        return 0;
    memcpy(line, data, size);
    line[size] = '\0';
    r = osm_shellcmd_walk(line, check, &visits);
    assert(r == 0 || r == -EINVAL || r == -E2BIG || r == -ELOOP || r == -ENOMEM);
    destructive = osm_policy_destructive(line, &rule);
    assert(!destructive || (rule && *rule));
    assert(r == 0 || destructive); /* fail closed */
    free(line);
    return 0;
}
