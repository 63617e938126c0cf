/* JSON helpers shared by daemons and clients. */
#include <stdio.h>
#include <string.h>

#include "common/limits.h"
#include "json_util.h"

char *osm_json_dumps_sorted(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

size_t osm_json_depth(const json_t *v)
{
    size_t max = 0;

    if (json_is_object(v)) {
        const char *k;
        json_t *child;
        json_object_foreach((json_t *)v, k, child)
        {
            size_t d = osm_json_depth(child);
            if (d > max)
                max = d;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child)
        {
            size_t d = osm_json_depth(child);
            if (d > max)
                max = d;
        }
    } else {
        return 1;
    }
    return max + 1;
}

json_t *osm_json_parse(const char *data, size_t len, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *v;

    /* jansson rejects invalid UTF-8, NUL in strings (without JSON_ALLOW_NUL) and integers that
     * do not fit json_int_t; duplicate keys are refused so no two readers see different values. */
    v = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!v) {
        snprintf(err, errlen, "%s at line %d column %d", jerr.text, jerr.line, jerr.column);
        return NULL;
    }
    if (osm_json_depth(v) > OSM_JSON_MAX_DEPTH) {
        snprintf(err, errlen, "nesting deeper than %d levels", OSM_JSON_MAX_DEPTH);
        json_decref(v);
        return NULL;
    }
    return v;
}

const char *osm_json_str(const json_t *obj, const char *key, const char *def)
{
    const json_t *v = json_object_get(obj, key);

    return json_is_string(v) ? json_string_value(v) : def;
}
