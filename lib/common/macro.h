/* Cleanup helpers and small macros shared by all of osModa-C (systemd style). */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

static inline void osm_freep(void *p)
{
    free(*(void **)p);
}

static inline void osm_closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}

static inline void osm_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

#define _cleanup_free_ _cleanup_(osm_freep)
#define _cleanup_close_ _cleanup_(osm_closep)
#define _cleanup_fclose_ _cleanup_(osm_fclosep)

/* Hand ownership out of a _cleanup_ variable. */
#define TAKE_PTR(p)                                                                                \
    ({                                                                                             \
        __typeof__(p) _p_ = (p);                                                                   \
        (p) = NULL;                                                                                \
        _p_;                                                                                       \
    })

#define TAKE_FD(fd)                                                                                \
    ({                                                                                             \
        int _fd_ = (fd);                                                                           \
        (fd) = -1;                                                                                 \
        _fd_;                                                                                      \
    })

#define OSM_PRINTF(a, b) __attribute__((format(printf, a, b)))
