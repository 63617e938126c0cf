/* The error envelope and the errno → HTTP status table. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/macro.h"
#include "common/utf8.h"
#include "errors.h"
#include "http_server.h"

static const struct {
    int err;
    int status;
    const char *code;
} errno_table[] = {
    {ENOENT, 404, "not_found"},
    {ESRCH, 404, "not_found"},
    {EEXIST, 409, "conflict"},
    {EBUSY, 409, "conflict"},
    {EALREADY, 409, "conflict"},
    {EACCES, 403, "forbidden"},
    {EPERM, 403, "forbidden"},
    {E2BIG, 413, "too_large"},
    {EFBIG, 413, "too_large"},
    {EMSGSIZE, 413, "too_large"},
    {EINVAL, 422, "invalid_field"},
    {EBADMSG, 400, "bad_request"},
    {EAGAIN, 503, "busy"},
    {ENOBUFS, 503, "busy"},
    {ESHUTDOWN, 503, "shutting_down"},
    {EOPNOTSUPP, 503, "not_enabled"},
    {ECONNREFUSED, 503, "daemon_unavailable"},
    {ETIMEDOUT, 504, "timeout"},
    {ENODATA, 410, "gone"},
    {ENOSPC, 507, "insufficient_storage"},
};

int osm_errno_to_status(int neg_errno, const char **ret_code)
{
    int e = neg_errno < 0 ? -neg_errno : neg_errno;

    for (size_t i = 0; i < ELEMENTSOF(errno_table); i++)
        if (errno_table[i].err == e) {
            *ret_code = errno_table[i].code;
            return errno_table[i].status;
        }
    *ret_code = "internal_error";
    return 500;
}

/* The message as a JSON string. Messages may quote bytes from outside (a path, a field), which
 * need not be UTF-8, or may be cut inside a character: such bytes become '?'. */
static json_t *message_string(char *msg)
{
    json_t *s = json_string(msg);

    if (s)
        return s;
    osm_utf8_scrub(msg, strlen(msg));
    return json_string(msg);
}

static json_t *envelope(struct osm_request *req, int status, const char *code, json_t *detail,
                        const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static json_t *envelope(struct osm_request *req, int status, const char *code, json_t *detail,
                        const char *fmt, va_list ap)
{
    char msg[1024];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (req)
        req->status = status;
    return json_pack("{s:s, s:o, s:o}", "error", code, "message", message_string(msg), "detail",
                     detail ? detail : json_null());
}

json_t *osm_error(struct osm_request *req, int status, const char *code, json_t *detail,
                  const char *fmt, ...)
{
    va_list ap;
    json_t *r;

    va_start(ap, fmt);
    r = envelope(req, status, code, detail, fmt, ap);
    va_end(ap);
    return r;
}

json_t *osm_error_errno(struct osm_request *req, int neg_errno, const char *fmt, ...)
{
    const char *code;
    int status = osm_errno_to_status(neg_errno, &code);
    va_list ap;
    json_t *r;

    va_start(ap, fmt);
    r = envelope(req, status, code, NULL, fmt, ap);
    va_end(ap);
    return r;
}
