/* agentd start-up and shut-down: paths, signing key, ledger, writer thread, read pool. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agentd.h"
#include "common/fileio.h"
#include "common/log.h"

#define DEFAULT_BACKUP_DIR "/var/backups/osmoda"

static void count_problem(void *ud, enum osm_ledger_problem p, int64_t id, const char *a,
                          const char *b)
{
    log_error("ledger.verify", "problem=%d at=%lld expected=%s found=%s", (int)p, (long long)id, a,
              b);
}

/* osModa verifies the chain at start and keeps running if it is broken; so do we, but in the
 * background (a large ledger must not delay start-up) and with the checkpoint checks. */
static void *verify_at_start(void *arg)
{
    struct agentd *ad = arg;
    _cleanup_free_ char *pub = osm_path_join(ad->paths.state_dir, OSM_LEDGER_PUB_NAME);
    struct osm_ledger_verify_opts opts = {
        .pub_path = pub, .checkpoint_log = ad->checkpoint_log, .problem = count_problem};
    struct osm_ledger_verify_report rep = {0};
    struct osm_ledger *l = NULL;
    int r;

    pthread_setname_np(pthread_self(), "ledger-verify");
    r = osm_ledger_open(ad->ledger_path, OSM_LEDGER_RDONLY, &l);
    if (r == 0)
        r = osm_ledger_verify(l, &opts, &rep);
    osm_ledger_close(l);
    if (r < 0)
        log_error("ledger.verify", "error=%d reason=\"%s\"", r, strerror(-r));
    else if (rep.errors > 0)
        log_error("ledger.verify", "events=%lld errors=%lld result=corrupt", (long long)rep.events,
                  (long long)rep.errors);
    else
        log_info("ledger.verify", "events=%lld checkpoints=%lld result=intact",
                 (long long)rep.events, (long long)rep.checkpoints);
    return NULL;
}

static int resolve_paths(struct agentd *ad)
{
    const char *env = getenv("OSMODA_BACKUP_DIR");
    int r;

    r = osm_daemon_paths_resolve("agentd", ad->cfg.state_flag, ad->cfg.socket_flag, &ad->paths);
    if (r < 0) {
        log_error("daemon.paths", "socket=%s state_dir=%s error=%d reason=\"%s\"",
                  ad->cfg.socket_flag ? ad->cfg.socket_flag : "(default)",
                  ad->cfg.state_flag ? ad->cfg.state_flag : "(default)", r, strerror(-r));
        return r;
    }
    ad->ledger_path = osm_path_join(ad->paths.state_dir, OSM_LEDGER_DB_NAME);
    ad->checkpoint_log = osm_path_join(ad->paths.state_dir, OSM_LEDGER_CHECKPOINT_LOG);
    ad->backup_dir = strdup(ad->cfg.backup_dir ? ad->cfg.backup_dir
                            : env && *env      ? env
                                               : DEFAULT_BACKUP_DIR);
    return ad->ledger_path && ad->checkpoint_log && ad->backup_dir ? 0 : -ENOMEM;
}

static int record_start(struct agentd *ad)
{
    json_t *payload =
        json_pack("{s:s, s:s}", "socket", ad->paths.socket, "state_dir", ad->paths.state_dir);
    int r =
        payload ? agentd_record(ad, "daemon.start", "agentd", payload, NULL, NULL, NULL) : -ENOMEM;

    json_decref(payload);
    return r;
}

static int open_ledger(struct agentd *ad)
{
    unsigned flags = OSM_LEDGER_RDWR | (ad->cfg.unsafe_no_fsync ? OSM_LEDGER_NO_FSYNC : 0);
    struct osm_ledger *l = NULL;
    int r;

    r = osm_ledger_signer_load(ad->paths.state_dir, &ad->signer);
    if (r < 0) {
        log_error("ledger.key", "state_dir=%s error=%d reason=\"%s\"", ad->paths.state_dir, r,
                  strerror(-r));
        return r;
    }
    r = osm_ledger_open(ad->ledger_path, flags, &l);
    if (r < 0) {
        log_error("ledger.open", "path=%s error=%d reason=\"%s\"", ad->ledger_path, r,
                  l ? osm_ledger_errmsg(l) : strerror(-r));
        osm_ledger_close(l);
        return r;
    }
    r = agentd_writer_start(ad, l);
    if (r < 0)
        osm_ledger_close(l);
    return r;
}

int agentd_init(struct agentd *ad, const struct agentd_config *cfg)
{
    int r;

    memset(ad, 0, sizeof(*ad));
    ad->cfg = *cfg;
    if (ad->cfg.checkpoint_every <= 0)
        ad->cfg.checkpoint_every = OSM_CHECKPOINT_EVERY_EVENTS;
    if (ad->cfg.checkpoint_interval <= 0)
        ad->cfg.checkpoint_interval = OSM_CHECKPOINT_EVERY_SECONDS;
    ad->started_ms = osm_monotonic_ms();
    r = resolve_paths(ad);
    if (r == 0)
        r = agentd_readers_new(ad);
    if (r == 0)
        r = open_ledger(ad);
    if (r == 0)
        r = record_start(ad);
    if (r == 0 && !cfg->no_listen)
        ad->verify_started = pthread_create(&ad->verify_thread, NULL, verify_at_start, ad) == 0;
    if (r < 0)
        agentd_shutdown(ad);
    return r;
}

void agentd_shutdown(struct agentd *ad)
{
    if (ad->verify_started)
        pthread_join(ad->verify_thread, NULL);
    ad->verify_started = false;
    agentd_writer_stop(ad);
    agentd_readers_free(ad);
    osm_ledger_signer_free(ad->signer);
    ad->signer = NULL;
    free(ad->ledger_path);
    free(ad->checkpoint_log);
    free(ad->backup_dir);
    ad->ledger_path = ad->checkpoint_log = ad->backup_dir = NULL;
    osm_daemon_paths_clear(&ad->paths);
}
