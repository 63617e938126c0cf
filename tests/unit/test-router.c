/* Routing and request validation of lib/ipc/router.c, without a socket. */
#include <criterion/criterion.h>
#include <string.h>

#include "ipc/errors.h"
#include "ipc/http_server.h"

static json_t *echo_params(struct osm_request *req)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < req->n_params; i++)
        json_array_append_new(arr, json_string(req->param[i]));
    return json_pack("{s:o, s:O*}", "params", arr, "body", req->body);
}

static json_t *created(struct osm_request *req)
{
    const char *name;
    json_t *err = osm_request_unpack(req, "{s:s}", "name", &name);

    if (err)
        return err;
    req->status = 201;
    return json_pack("{s:s}", "name", name);
}

static json_t *limited(struct osm_request *req)
{
    int64_t limit;
    json_t *err = osm_request_query_int(req, "limit", 50, 0, 500, &limit);

    return err ? err : json_pack("{s:I}", "limit", (json_int_t)limit);
}

static const struct osm_route routes[] = {
    {"GET", "/incident/{id}", echo_params, 0},
    {"POST", "/incident/{id}/step", echo_params, OSM_ROUTE_BODY},
    {"POST", "/create", created, OSM_ROUTE_BODY},
    {"POST", "/optional", echo_params, OSM_ROUTE_BODY_OPTIONAL},
    {"POST", "/admin", echo_params, OSM_ROUTE_OPERATOR},
    {"GET", "/list", limited, 0},
};
static const struct osm_http_server_config cfg = {.routes = routes, .n_routes = 6};

static int call(const char *method, const char *path, const char *ct, const char *body,
                json_t **ret)
{
    struct osm_request req = {.method = method, .path = path};
    char *out;
    size_t len;
    json_error_t err;
    int status;

    if (strchr(path, '?')) { /* test-only query parsing: "?k=v" */
        static char copy[256];
        strcpy(copy, path);
        char *q = strchr(copy, '?');
        *q++ = '\0';
        req.path = copy;
        char *eq = strchr(q, '=');
        *eq = '\0';
        req.query[0].key = q;
        req.query[0].value = eq + 1;
        req.n_query = 1;
    }
    status = osm_http_dispatch(&cfg, &req, ct, body, body ? strlen(body) : 0, &out, &len);
    *ret = out ? json_loads(out, 0, &err) : NULL;
    free(out);
    return status;
}

static void assert_envelope(json_t *j, const char *code)
{
    cr_assert(json_is_object(j));
    cr_assert_str_eq(json_string_value(json_object_get(j, "error")), code);
    cr_assert(json_is_string(json_object_get(j, "message")));
    cr_assert(json_object_get(j, "detail") != NULL);
}

Test(router, captures_path_parameters)
{
    json_auto_t *j = NULL;

    cr_assert_eq(call("GET", "/incident/abc-123", NULL, NULL, &j), 200);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "params"), 0)), "abc-123");
}

Test(router, captures_inner_parameter)
{
    json_auto_t *j = NULL;

    cr_assert_eq(call("POST", "/incident/x1/step", "application/json", "{\"a\":1}", &j), 200);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "params"), 0)), "x1");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "body"), "a")), 1);
}

Test(router, unknown_path_is_404_envelope)
{
    json_auto_t *j = NULL;

    cr_assert_eq(call("GET", "/nope", NULL, NULL, &j), 404);
    assert_envelope(j, "not_found");
    json_decref(j);
    cr_assert_eq(call("GET", "/incident/", NULL, NULL, &j), 404);
    json_decref(j);
    cr_assert_eq(call("GET", "/incident/a/b", NULL, NULL, &j), 404);
}

Test(router, wrong_method_is_405)
{
    json_auto_t *j = NULL;

    cr_assert_eq(call("DELETE", "/incident/abc", NULL, NULL, &j), 405);
    assert_envelope(j, "method_not_allowed");
}

Test(router, body_requires_json_content_type)
{
    json_auto_t *j = NULL;

    cr_assert_eq(call("POST", "/create", "text/plain", "{\"name\":\"x\"}", &j), 415);
    assert_envelope(j, "unsupported_media_type");
    json_decref(j);
    cr_assert_eq(call("POST", "/create", "application/json; charset=utf-8", "{\"name\":\"x\"}", &j),
                 201);
    json_decref(j);
    cr_assert_eq(call("POST", "/create", "application/jsonx", "{\"name\":\"x\"}", &j), 415);
}

Test(router, malformed_and_wrong_shapes)
{
    static const struct {
        const char *body;
        int status;
        const char *code;
    } cases[] = {
        {"", 400, "invalid_json"},
        {"{", 400, "invalid_json"},
        {"{\"name\":\"\xff\xfe\"}", 400, "invalid_json"},         /* invalid UTF-8 */
        {"{\"name\":\"a\\u0000b\"}", 400, "invalid_json"},        /* NUL in a string */
        {"{\"name\":1e400}", 400, "invalid_json"},                /* real overflow */
        {"{\"n\":99999999999999999999999}", 400, "invalid_json"}, /* integer overflow */
        {"{\"name\":\"a\",\"name\":\"b\"}", 400, "invalid_json"}, /* duplicate key */
        {"[1,2]", 422, "invalid_body"},
        {"\"str\"", 422, "invalid_body"},
        {"{}", 422, "invalid_field"},
        {"{\"name\":5}", 422, "invalid_field"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j = NULL;
        int status = call("POST", "/create", "application/json", cases[i].body, &j);
        cr_assert_eq(status, cases[i].status, "case %zu: status %d", i, status);
        assert_envelope(j, cases[i].code);
        json_decref(j);
    }
}

Test(router, deep_nesting_is_refused)
{
    char body[512] = "{\"a\":";
    json_auto_t *j = NULL;

    for (int i = 0; i < 100; i++)
        strcat(body, "[");
    for (int i = 0; i < 100; i++)
        strcat(body, "]");
    strcat(body, "}");
    cr_assert_eq(call("POST", "/create", "application/json", body, &j), 400);
    assert_envelope(j, "invalid_json");
}

Test(router, optional_body_may_be_empty)
{
    json_auto_t *j = NULL;

    cr_assert_eq(call("POST", "/optional", NULL, NULL, &j), 200);
    cr_assert(json_is_null(json_object_get(j, "body")) || !json_object_get(j, "body"));
}

Test(router, operator_routes_refused_elsewhere)
{
    json_auto_t *j = NULL;

    cr_assert_eq(call("POST", "/admin", NULL, NULL, &j), 403);
    assert_envelope(j, "forbidden");
}

Test(router, query_integers_are_checked)
{
    json_t *j = NULL;

    cr_assert_eq(call("GET", "/list?limit=7", NULL, NULL, &j), 200);
    cr_assert_eq(json_integer_value(json_object_get(j, "limit")), 7);
    json_decref(j);
    cr_assert_eq(call("GET", "/list", NULL, NULL, &j), 200);
    cr_assert_eq(json_integer_value(json_object_get(j, "limit")), 50);
    json_decref(j);
    const char *bad[] = {"/list?limit=abc", "/list?limit=-1", "/list?limit=501",
                         "/list?limit=99999999999999999999", "/list?limit="};
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq(call("GET", bad[i], NULL, NULL, &j), 422, "%s", bad[i]);
        assert_envelope(j, "invalid_field");
        json_decref(j);
    }
}

Test(router, invalid_utf8_in_path_still_gets_an_envelope)
{
    json_auto_t *j = NULL;

    cr_assert_eq(call("GET", "/no\xff\xfepe", NULL, NULL, &j), 404);
    assert_envelope(j, "not_found");
    cr_assert_not_null(strstr(json_string_value(json_object_get(j, "message")), "/no??pe"));
}
