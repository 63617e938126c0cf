/* A small pool of read-only ledger connections shared by the request threads. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "agentd.h"
#include "common/limits.h"

struct agentd_readers {
    pthread_mutex_t mu;
    struct osm_ledger *idle[OSM_READ_POOL_MAX];
    size_t n_idle;
};

int agentd_readers_new(struct agentd *ad)
{
    struct agentd_readers *p = calloc(1, sizeof(*p));

    if (!p)
        return -ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    ad->readers = p;
    return 0;
}

void agentd_readers_free(struct agentd *ad)
{
    struct agentd_readers *p = ad->readers;

    if (!p)
        return;
    for (size_t i = 0; i < p->n_idle; i++)
        osm_ledger_close(p->idle[i]);
    pthread_mutex_destroy(&p->mu);
    free(p);
    ad->readers = NULL;
}

int agentd_reader_open(struct agentd *ad, struct agentd_reader *ret)
{
    struct agentd_readers *p = ad->readers;
    struct osm_ledger *l = NULL;

    ret->ad = ad;
    ret->ledger = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->n_idle > 0)
        l = p->idle[--p->n_idle];
    pthread_mutex_unlock(&p->mu);
    if (!l) {
        int r = osm_ledger_open(ad->ledger_path, OSM_LEDGER_RDONLY, &l);
        if (r < 0) {
            osm_ledger_close(l); /* set on -EIO so its message could be read */
            return r;
        }
    }
    ret->ledger = l;
    return 0;
}

void agentd_reader_close(struct agentd_reader *r)
{
    struct agentd_readers *p;

    if (!r->ledger)
        return;
    p = r->ad->readers;
    pthread_mutex_lock(&p->mu);
    if (p->n_idle < OSM_READ_POOL_MAX) {
        p->idle[p->n_idle++] = r->ledger;
        r->ledger = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    osm_ledger_close(r->ledger); /* pool full: NULL-safe when it was kept */
    r->ledger = NULL;
}
