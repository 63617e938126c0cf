/* gw-drive: runs the gateway's API drivers (anthropic, openai) on the turns given as arguments,
 * in one process, so that a later turn resumes the conversation of the earlier ones, with the
 * gateway's LLM proxy in front. Every message a driver emits is printed as one JSON line
 * {"turn": i, "type": ..., fields...}; each turn ends with {"turn": i, "type": "end", "rc",
 * "resume_id"}, and the run with {"type": "stats", "llm": gw_llmproxy_stats}.
 *
 *   gw-drive --runtime anthropic|openai --base-url URL --run-dir DIR [--secret-file PATH]
 *            [--credential-type api_key|oauth] [--model M] [--agent ID] [--system TEXT]
 *            [--rpm N] [--abort-after-text N] TEXT...
 *   gw-drive --serve-llm SOCKET (same options, no TEXT)
 *
 * --serve-llm serves the LLM proxy's socket instead, with --agent (default osmoda) resolving to
 * the provider the options name, until stdin closes; then the stats line.
 * The secret is read from a file, never from argv. --abort-after-text N sets the turn's abort
 * flag when the Nth text message is emitted, as a chat client's abort does. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "common/log.h"
#include "drivers.h"
#include "gateway.h"

struct options {
    const char *runtime, *base_url, *run_dir, *secret_file, *type, *model, *agent, *system;
    const char *serve;
    unsigned rpm;
    int abort_after;
};

struct drive {
    pthread_mutex_t lock;
    int turn, texts, abort_after;
};

static void emit(struct gw_turn *t, const char *type, json_t *fields)
{
    struct drive *d = t->emit_ctx;
    char *line;

    if (!fields)
        fields = json_object();
    pthread_mutex_lock(&d->lock);
    json_object_set_new(fields, "turn", json_integer(d->turn));
    json_object_set_new(fields, "type", json_string(type));
    if ((line = json_dumps(fields, JSON_COMPACT | JSON_SORT_KEYS))) {
        printf("%s\n", line);
        fflush(stdout);
        free(line);
    }
    if (strcmp(type, "text") == 0 && ++d->texts == d->abort_after)
        atomic_store(&t->aborted, true);
    pthread_mutex_unlock(&d->lock);
    json_decref(fields);
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option opts[] = {{"runtime", required_argument, NULL, 'r'},
                                         {"base-url", required_argument, NULL, 'u'},
                                         {"run-dir", required_argument, NULL, 'd'},
                                         {"secret-file", required_argument, NULL, 's'},
                                         {"credential-type", required_argument, NULL, 't'},
                                         {"model", required_argument, NULL, 'm'},
                                         {"agent", required_argument, NULL, 'a'},
                                         {"system", required_argument, NULL, 'S'},
                                         {"rpm", required_argument, NULL, 'R'},
                                         {"abort-after-text", required_argument, NULL, 'A'},
                                         {"serve-llm", required_argument, NULL, 'L'},
                                         {NULL, 0, NULL, 0}};
    int c;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            o->runtime = optarg;
            break;
        case 'u':
            o->base_url = optarg;
            break;
        case 'd':
            o->run_dir = optarg;
            break;
        case 's':
            o->secret_file = optarg;
            break;
        case 't':
            o->type = optarg;
            break;
        case 'm':
            o->model = optarg;
            break;
        case 'a':
            o->agent = optarg;
            break;
        case 'S':
            o->system = optarg;
            break;
        case 'R':
            o->rpm = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'A':
            o->abort_after = atoi(optarg);
            break;
        case 'L':
            o->serve = optarg;
            break;
        default:
            return -EINVAL;
        }
    }
    return o->runtime && o->run_dir && (optind < argc || o->serve) ? optind : -EINVAL;
}

static char *read_secret(const char *path)
{
    char *s = NULL;
    size_t n = 0;

    if (!path)
        return strdup("");
    if (osm_read_file(path, 4096, &s, &n) < 0)
        return NULL;
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

static int run_turns(struct gateway *gw, const struct gw_driver *drv, const struct options *o,
                     const char *secret, char **texts, int n)
{
    struct drive d = {.lock = PTHREAD_MUTEX_INITIALIZER, .abort_after = o->abort_after};
    char resume[128] = "";

    for (int i = 0; i < n; i++) {
        struct gw_turn t = {.agent_id = o->agent ? o->agent : "osmoda",
                            .model = o->model,
                            .system_prompt = o->system,
                            .runtime = o->runtime,
                            .secret = secret,
                            .credential_type = o->type ? o->type : "api_key",
                            .base_url = o->base_url,
                            .text = texts[i],
                            .emit = emit,
                            .emit_ctx = &d};
        int r;

        d.turn = i;
        snprintf(t.resume_id, sizeof(t.resume_id), "%s", resume);
        r = drv->run(gw, &t);
        snprintf(resume, sizeof(resume), "%s", t.resume_id);
        emit(&t, "end", json_pack("{s:i,s:s}", "rc", r, "resume_id", t.resume_id));
    }
    return 0;
}

struct resolver {
    const struct options *o;
    const char *secret;
};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int resolve(void *ctx, const char *agent_id, struct gw_llm_target *ret)
{
    const struct resolver *r = ctx;

    if (strcmp(agent_id, r->o->agent ? r->o->agent : "osmoda") != 0)
        return -ENOENT;
    *ret = (struct gw_llm_target){.runtime = strdup(r->o->runtime),
                                  .base_url = dup_or_null(r->o->base_url),
                                  .secret = strdup(r->secret),
                                  .model = dup_or_null(r->o->model)};
    return 0;
}

/* Serves the proxy's socket until stdin closes. */
static int serve(struct gateway *gw, const struct options *o, const char *secret)
{
    struct resolver r = {.o = o, .secret = secret};
    struct gw_llm_server *srv = NULL;
    char buf[64];
    int rc = gw_llmproxy_serve(gw->llm, o->serve, 0600, resolve, &r, &srv);

    if (rc < 0) {
        fprintf(stderr, "gw-drive: cannot serve %s: %s\n", o->serve, strerror(-rc));
        return rc;
    }
    printf("{\"type\":\"serving\"}\n");
    fflush(stdout);
    while (fread(buf, 1, sizeof(buf), stdin) > 0)
        ;
    gw_llmproxy_serve_stop(srv);
    return 0;
}

int main(int argc, char **argv)
{
    struct options o = {.rpm = GW_LLM_RPM_DEFAULT};
    struct gateway gw = {0};
    const struct gw_driver *drv;
    char *secret, *line;
    json_t *stats;
    int first;

    osm_log_set_level(OSM_LOG_DEBUG);
    if ((first = parse_args(argc, argv, &o)) < 0) {
        fprintf(stderr, "usage: gw-drive --runtime R --run-dir D [options] TEXT...\n");
        return 2;
    }
    drv = strcmp(o.runtime, "anthropic") == 0 ? &gw_driver_anthropic
          : strcmp(o.runtime, "openai") == 0  ? &gw_driver_openai
                                              : NULL;
    if (!drv || !(secret = read_secret(o.secret_file)) ||
        gw_llmproxy_new(GW_LLM_RPM_DEFAULT, &gw.llm) < 0) {
        fprintf(stderr, "gw-drive: unknown runtime, unreadable secret file or no memory\n");
        return 1;
    }
    if (o.rpm != GW_LLM_RPM_DEFAULT &&
        gw_llmproxy_set_rpm(gw.llm, o.agent ? o.agent : "osmoda", o.rpm) < 0) {
        fprintf(stderr, "gw-drive: bad --rpm\n");
        return 2;
    }
    gw.run_dir = o.run_dir;
    if (o.serve)
        serve(&gw, &o, secret);
    else
        run_turns(&gw, drv, &o, secret, argv + first, argc - first);
    stats = gw_llmproxy_stats(gw.llm);
    if ((line = json_dumps(stats, JSON_COMPACT | JSON_SORT_KEYS)))
        printf("{\"type\":\"stats\",\"llm\":%s}\n", line);
    free(line);
    json_decref(stats);
    gw_llmproxy_free(gw.llm);
    free(secret);
    return 0;
}
