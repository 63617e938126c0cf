/* The dashboard's files: GET / is web/index.html, GET /static/NAME any other file of web/ (one
 * plain name: no directories, no dot files, so no path can leave the directory). The files are
 * read at each request: editing the dashboard needs no restart. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "gw-http.h"

#define STATIC_FILE_MAX (4 * 1024 * 1024)
#define NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

/* No inline script, no third-party origin: the dashboard loads only its own files and talks
 * only to this gateway (its WebSocket included). */
#define CSP                                                                                        \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

static const struct {
    const char *ext, *type;
} content_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".json", "application/json"},
    {".webmanifest", "application/manifest+json"},
    {".txt", "text/plain; charset=utf-8"},
};

static const char *content_type_of(const char *name)
{
    const char *dot = strrchr(name, '.');

    for (size_t i = 0; dot && i < ELEMENTSOF(content_types); i++)
        if (strcmp(dot, content_types[i].ext) == 0)
            return content_types[i].type;
    return NULL;
}

static bool name_ok(const char *name)
{
    size_t n = strlen(name);

    return n > 0 && n <= 128 && name[0] != '.' && strspn(name, NAME_CHARS) == n &&
           !strstr(name, "..");
}

static void serve(struct gw_req *req, struct gw_resp *resp, const char *name)
{
    const char *type = content_type_of(name);
    _cleanup_close_ int dir = -1, fd = -1;
    int r;

    if (!name_ok(name) || !type) {
        gw_error(req, resp, 404, "not_found", NULL, "no such file: %s", name);
        return;
    }
    dir = open(req->gw->web_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    fd = dir < 0 ? -1 : openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || (r = osm_read_fd(fd, STATIC_FILE_MAX, &resp->body, &resp->body_len)) < 0) {
        gw_error(req, resp, 404, "not_found", NULL, "no such file: %s", name);
        return;
    }
    resp->content_type = type;
    if (strncmp(type, "text/html", 9) == 0)
        gw_resp_header(resp, "Content-Security-Policy", CSP);
}

static void index_page(struct gw_req *req, struct gw_resp *resp)
{
    serve(req, resp, "index.html");
}

static void static_file(struct gw_req *req, struct gw_resp *resp)
{
    serve(req, resp, req->param[0]);
}

const struct gw_route gw_static_routes[] = {
    {"GET", "/", index_page, GW_PUBLIC},
    {"GET", "/static/{file}", static_file, GW_PUBLIC},
};
const size_t gw_static_n_routes = ELEMENTSOF(gw_static_routes);
