/* The HTTP server and client over a real unix socket: permissions, stale sockets, body cap,
 * peer credentials, query arguments, keep-alive reuse. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ipc/errors.h"
#include "ipc/http_client.h"
#include "ipc/http_server.h"

static json_t *whoami(struct osm_request *req)
{
    return json_pack("{s:i, s:i, s:s?}", "pid", (int)req->peer.pid, "uid", (int)req->peer.uid, "q",
                     osm_request_query(req, "q"));
}

static json_t *echo(struct osm_request *req)
{
    return json_incref(req->body);
}

static const struct osm_route routes[] = {
    {"GET", "/whoami", whoami, 0},
    {"POST", "/echo", echo, OSM_ROUTE_BODY},
};

static char dir[64], sock[128];
static struct osm_http_server *server;

static void start(void)
{
    struct osm_http_server_config cfg = {.routes = routes, .n_routes = 2, .body_max = 1024};

    strcpy(dir, "/tmp/osm-http-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(sock, sizeof(sock), "%s/t.sock", dir);
    cr_assert_eq(osm_http_server_start_unix(&cfg, sock, 0600, &server), 0);
}

static void stop(void)
{
    osm_http_server_stop(server);
    rmdir(dir);
}

TestSuite(http, .init = start, .fini = stop);

Test(http, socket_is_private)
{
    struct stat st;

    cr_assert_eq(stat(sock, &st), 0);
    cr_assert(S_ISSOCK(st.st_mode));
    cr_assert_eq(st.st_mode & 0777, 0600);
}

Test(http, reports_peer_credentials_and_query)
{
    struct osm_http_reply r;

    cr_assert_eq(osm_http_call(sock, "GET", "/whoami?q=a%20b", NULL, 0, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "pid")), getpid());
    cr_assert_eq(json_integer_value(json_object_get(r.json, "uid")), (int)getuid());
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "q")), "a b");
    osm_http_reply_clear(&r);
}

Test(http, echoes_json_body)
{
    json_t *body = json_pack("{s:s, s:i}", "k", "v\u00e9", "n", 3);
    struct osm_http_reply r;

    cr_assert_eq(osm_http_call(sock, "POST", "/echo", body, 0, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert(json_equal(r.json, body));
    json_decref(body);
    osm_http_reply_clear(&r);
}

Test(http, oversized_body_is_413_and_server_stays_up)
{
    char big[4096];
    json_t *body;
    struct osm_http_reply r;

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    body = json_pack("{s:s}", "k", big);
    cr_assert_eq(osm_http_call(sock, "POST", "/echo", body, 0, &r), 0);
    cr_assert_eq(r.status, 413);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "error")), "too_large");
    osm_http_reply_clear(&r);
    json_decref(body);
    cr_assert_eq(osm_http_call(sock, "GET", "/whoami", NULL, 0, &r), 0);
    cr_assert_eq(r.status, 200);
    osm_http_reply_clear(&r);
}

Test(http, refuses_second_server_on_live_socket)
{
    struct osm_http_server_config cfg = {.routes = routes, .n_routes = 2};
    struct osm_http_server *other = NULL;

    cr_assert_eq(osm_http_server_start_unix(&cfg, sock, 0600, &other), -EADDRINUSE);
}

Test(http, missing_socket_is_enoent)
{
    struct osm_http_reply r;

    cr_assert_eq(osm_http_call("/nonexistent/x.sock", "GET", "/", NULL, 0, &r), -ENOENT);
}

Test(http_stale, removes_stale_socket_but_not_other_files)
{
    struct osm_http_server_config cfg = {.routes = routes, .n_routes = 2};
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct osm_http_server *s = NULL;
    char d[] = "/tmp/osm-stale-XXXXXX", path[128];
    int fd;

    cr_assert_not_null(mkdtemp(d));
    snprintf(path, sizeof(path), "%s/s.sock", d);
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd); /* a socket file nobody listens on */
    cr_assert_eq(osm_http_server_start_unix(&cfg, path, 0600, &s), 0);
    osm_http_server_stop(s);
    cr_assert_eq(access(path, F_OK), -1, "socket removed on stop");

    FILE *f = fopen(path, "w");
    fputs("not a socket", f);
    fclose(f);
    cr_assert_eq(osm_http_server_start_unix(&cfg, path, 0600, &s), -EEXIST);
    cr_assert_eq(access(path, F_OK), 0, "a regular file is never removed");
    unlink(path);
    rmdir(d);
}
