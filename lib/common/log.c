/* key=value logging to stderr. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "timeutil.h"

static const char *log_ident = "osmoda";
static enum osm_log_level log_level = OSM_LOG_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void osm_log_set_ident(const char *ident)
{
    log_ident = ident;
}

void osm_log_set_level(enum osm_log_level level)
{
    log_level = level;
}

int osm_log_parse_level(const char *name)
{
    for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
        if (strcmp(name, level_names[i]) == 0)
            return (int)i;
    return -EINVAL;
}

bool osm_log_enabled(enum osm_log_level level)
{
    return level <= log_level;
}

void osm_log(enum osm_log_level level, const char *event, const char *fmt, ...)
{
    char ts[OSM_TS_LEN + 1], line[4096];
    va_list ap;
    int n;

    if (!osm_log_enabled(level))
        return;
    osm_now_ts(ts);
    n = snprintf(line, sizeof(line), "ts=%s level=%s ident=%s event=%s ", ts, level_names[level],
                 log_ident, event);
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    /* One write per line so lines from different threads do not interleave. */
    fprintf(stderr, "%s\n", line);
}

const char *osm_log_quote(const char *s, char *buf, size_t size)
{
    size_t o = 0;

    if (size < 3)
        return "\"\"";
    buf[o++] = '"';
    for (; s && *s && o + 3 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            buf[o++] = '?';
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}
