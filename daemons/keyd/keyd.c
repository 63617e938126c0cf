/* What every part of keyd shares: ledger events through agentd (record, then act), the clock of
 * the daily limits, LOCKDOWN, and the health summary. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macro.h"
#include "ledger/ledger_client.h"
#include "wallets.h"

void *kerr_set(struct kerr *e, int status, const char *code, const char *fmt, ...)
{
    va_list ap;

    e->status = status;
    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return NULL;
}

int keyd_emit(struct keyd *k, const char *type, const json_t *payload)
{
    int r = osm_ledger_client_append(k->daemons_socket, type, "keyd", payload, NULL);

    if (r < 0)
        log_warn("ledger.append",
                 "type=%s error=%d note=\"not recorded: the action does not "
                 "happen\"",
                 type, r);
    return r;
}

time_t keyd_now(void)
{
    return time(NULL);
}

bool keyd_locked_down(struct keyd *k)
{
    return atomic_load(&k->lockdown) || access(k->lockdown_path, F_OK) == 0;
}

/* Locking comes first and always happens: a lockdown that cannot be recorded still locks. */
void keyd_lockdown(struct keyd *k, const char *who)
{
    json_auto_t *ev = json_pack("{s:s, s:s}", "action", "lockdown", "requested_by", who);

    atomic_store(&k->lockdown, true);
    vault_lock(k->vault);
    log_warn("keyd.lockdown", "by=%s note=\"vault locked, signing refused\"", who);
    if (ev)
        keyd_emit(k, "vault.lockdown", ev);
}

int keyd_unlock(struct keyd *k, const char *who)
{
    json_auto_t *ev = NULL;
    char err[256] = "";
    int r;

    if (access(k->lockdown_path, F_OK) == 0)
        return -EBUSY;
    ev = json_pack("{s:s, s:s}", "action", "unlock", "requested_by", who);
    if (!ev)
        return -ENOMEM;
    if ((r = keyd_emit(k, "vault.unlock", ev)) < 0)
        return r;
    atomic_store(&k->lockdown, false);
    r = vault_unlock_again(k->vault, err, sizeof(err));
    log_info("keyd.unlock", "by=%s vault=%s", who, r == 0 ? "unlocked" : "locked");
    return 0;
}

json_t *keyd_health(struct keyd *k)
{
    int n = wallet_count(k);

    return json_pack("{s:s, s:i, s:b, s:o?, s:b}", "status", n < 0 ? "degraded" : "ok",
                     "wallet_count", n < 0 ? 0 : n, "policy_loaded", k->policy_loaded, "vault",
                     vault_status_json(k->vault), "lockdown", keyd_locked_down(k));
}
