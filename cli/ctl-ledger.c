/* agentctl: opening the ledger read-only and the small SQLite helpers the verbs share. */
#include <errno.h>
#include <string.h>

#include "common/fileio.h"
#include "ctl.h"

char *ctl_state_path(const struct ctl *c, const char *name)
{
    return osm_path_join(c->state_dir, name);
}

int ctl_ledger_open(const struct ctl *c, struct osm_ledger **ret)
{
    _cleanup_free_ char *path = ctl_state_path(c, OSM_LEDGER_DB_NAME);
    struct osm_ledger *l = NULL;
    int r;

    if (!path)
        return ctl_fail("out of memory");
    r = osm_ledger_open(path, OSM_LEDGER_RDONLY, &l);
    if (r == -ENOENT)
        return ctl_fail("no ledger at %s (wrong --state-dir, or agentd never ran)", path);
    if (r < 0) {
        r = ctl_fail("cannot open ledger %s: %s", path, ctl_ledger_strerror(l, r));
        osm_ledger_close(l);
        return r;
    }
    *ret = l;
    return CTL_OK;
}

const char *ctl_ledger_strerror(struct osm_ledger *l, int r)
{
    return r == -EIO && l ? osm_ledger_errmsg(l) : strerror(-r);
}

int ctl_ledger_error(struct osm_ledger *l)
{
    return ctl_fail("cannot read the ledger: %s", sqlite3_errmsg(osm_ledger_sqlite(l)));
}

int ctl_ledger_prepare(struct osm_ledger *l, const char *sql, sqlite3_stmt **ret)
{
    if (sqlite3_prepare_v2(osm_ledger_sqlite(l), sql, -1, ret, NULL) != SQLITE_OK)
        return ctl_ledger_error(l);
    return CTL_OK;
}

const char *ctl_column_text(sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);

    return t ? (const char *)t : "";
}
