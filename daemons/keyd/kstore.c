/* keyd.db: one connection, one mutex. keyd's writes are a few per request; serialising them
 * is what makes a limit check and its counter update atomic across concurrent requests. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kstore.h"

#define BUSY_TIMEOUT_MS 5000

struct kstore {
    sqlite3 *db;
    pthread_mutex_t lock;
};

int kstore_open(const char *path, struct kstore **ret)
{
    struct kstore *s;
    int fd;

    /* created 0600 before SQLite opens it, so it is never readable by others */
    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
        return -errno;
    close(fd);
    if (!(s = calloc(1, sizeof(*s))))
        return -ENOMEM;
    pthread_mutex_init(&s->lock, NULL);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS) != SQLITE_OK ||
        sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL,
                     NULL) != SQLITE_OK) {
        kstore_close(s);
        return -EIO;
    }
    *ret = s;
    return 0;
}

void kstore_close(struct kstore *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int kstore_schema(struct kstore *s, const char *sql)
{
    int r;

    pthread_mutex_lock(&s->lock);
    r = sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
    pthread_mutex_unlock(&s->lock);
    return r;
}

int kstore_tx(struct kstore *s, int (*fn)(sqlite3 *db, void *ctx), void *ctx)
{
    int r;

    pthread_mutex_lock(&s->lock);
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        pthread_mutex_unlock(&s->lock);
        return -EIO;
    }
    r = fn(s->db, ctx);
    if (r >= 0 && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        r = -EIO;
    if (r < 0)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&s->lock);
    return r;
}

int kstore_read(struct kstore *s, int (*fn)(sqlite3 *db, void *ctx), void *ctx)
{
    int r;

    pthread_mutex_lock(&s->lock);
    r = fn(s->db, ctx);
    pthread_mutex_unlock(&s->lock);
    return r;
}
