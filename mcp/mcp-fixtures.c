/* The fixtures the official MCP conformance suite (@modelcontextprotocol/conformance) calls by
 * name: test_* tools, prompts, test:// resources and completion. Registered only with
 * --conformance-fixtures, so that the suite can check the protocol and both transports against
 * the real bridge; a normal run never lists them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mcp.h"

/* A 1x1 PNG and a minimal WAV file. */
static const char png_b64[] = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHw"
                              "AFBQIAX8jx0gAAAABJRU5ErkJggg==";
static const char wav_b64[] = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static json_t *text_result(const char *text)
{
    return json_pack("{s:[{s:s,s:s}]}", "content", "type", "text", "text", text);
}

static json_t *error_result(const char *text)
{
    return json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text", "text", text, "isError", 1);
}

static json_t *t_simple_text(struct mcp_call *c, const json_t *args)
{
    return text_result("This is a simple text response for testing.");
}

static json_t *t_image(struct mcp_call *c, const json_t *args)
{
    return json_pack("{s:[{s:s,s:s,s:s}]}", "content", "type", "image", "data", png_b64, "mimeType",
                     "image/png");
}

static json_t *t_audio(struct mcp_call *c, const json_t *args)
{
    return json_pack("{s:[{s:s,s:s,s:s}]}", "content", "type", "audio", "data", wav_b64, "mimeType",
                     "audio/wav");
}

static json_t *t_embedded(struct mcp_call *c, const json_t *args)
{
    return json_pack("{s:[{s:s,s:{s:s,s:s,s:s}}]}", "content", "type", "resource", "resource",
                     "uri", "test://embedded-resource", "mimeType", "text/plain", "text",
                     "This is an embedded resource content.");
}

static json_t *t_mixed(struct mcp_call *c, const json_t *args)
{
    return json_pack("{s:[{s:s,s:s},{s:s,s:s,s:s},{s:s,s:{s:s,s:s,s:s}}]}", "content", "type",
                     "text", "text", "Multiple content types test:", "type", "image", "data",
                     png_b64, "mimeType", "image/png", "type", "resource", "resource", "uri",
                     "test://mixed-content-resource", "mimeType", "application/json", "text",
                     "{\"test\":\"data\",\"value\":123}");
}

static json_t *t_logging(struct mcp_call *c, const json_t *args)
{
    mcp_call_log(c, MCP_LOG_INFO, "conformance", json_string("Tool execution started"));
    sleep_ms(50);
    mcp_call_log(c, MCP_LOG_INFO, "conformance", json_string("Tool processing data"));
    sleep_ms(50);
    mcp_call_log(c, MCP_LOG_INFO, "conformance", json_string("Tool execution completed"));
    return text_result("Tool with logging executed successfully");
}

static json_t *t_progress(struct mcp_call *c, const json_t *args)
{
    mcp_call_progress(c, 0, 100, "started");
    sleep_ms(50);
    mcp_call_progress(c, 50, 100, "halfway");
    sleep_ms(50);
    mcp_call_progress(c, 100, 100, "done");
    return text_result("Tool with progress executed successfully");
}

/* SEP-1699: closes the connection of its own event stream before answering; the client polls
 * (Last-Event-ID) and gets the result from the session's replay buffer. */
static json_t *t_reconnection(struct mcp_call *c, const json_t *args)
{
    if (mcp_call_close_stream(c) < 0)
        return text_result("Reconnection test completed (this transport keeps one connection).");
    return text_result("Reconnection test completed successfully. If you received this, the "
                       "client properly reconnected after stream closure.");
}

static json_t *t_error(struct mcp_call *c, const json_t *args)
{
    return error_result("This tool intentionally returns an error for testing");
}

/* Asks the client something and words the outcome as text; errors become tool errors. */
static json_t *ask_client(struct mcp_call *c, const char *cap, const char *method, json_t *params,
                          const char *prefix)
{
    json_t *answer = NULL, *r;
    char *dump, *text = NULL;
    int rc;

    if (!mcp_call_client_capability(c, cap)) {
        json_decref(params);
        return error_result("the client did not declare this capability");
    }
    rc = mcp_call_request(c, method, params, 0, &answer);
    if (rc < 0 && rc != -EPROTO) {
        char msg[128];
        snprintf(msg, sizeof(msg), "%s failed: %s", method, strerror(-rc));
        return error_result(msg);
    }
    dump = json_dumps(answer, JSON_COMPACT);
    if (dump && asprintf(&text, "%s%s", prefix, dump) < 0)
        text = NULL;
    r = rc == 0 ? text_result(text ? text : prefix) : error_result(text ? text : prefix);
    free(dump);
    free(text);
    json_decref(answer);
    return r;
}

static json_t *t_sampling(struct mcp_call *c, const json_t *args)
{
    const char *prompt = json_string_value(json_object_get(args, "prompt"));
    json_t *params = json_pack("{s:[{s:s,s:{s:s,s:s}}],s:i}", "messages", "role", "user", "content",
                               "type", "text", "text", prompt ? prompt : "", "maxTokens", 100);

    return ask_client(c, "sampling", "sampling/createMessage", params, "LLM response: ");
}

static json_t *t_elicitation(struct mcp_call *c, const json_t *args)
{
    const char *message = json_string_value(json_object_get(args, "message"));
    json_t *params = json_pack(
        "{s:s,s:{s:s,s:{s:{s:s,s:s},s:{s:s,s:s}},s:[s,s]}}", "message",
        message ? message : "Please provide your information", "requestedSchema", "type", "object",
        "properties", "username", "type", "string", "description", "User's response", "email",
        "type", "string", "description", "User's email address", "required", "username", "email");

    return ask_client(c, "elicitation", "elicitation/create", params, "User response: ");
}

static json_t *t_elicit_defaults(struct mcp_call *c, const json_t *args)
{
    json_t *params = json_pack(
        "{s:s,s:{s:s,s:{s:{s:s,s:s},s:{s:s,s:i},s:{s:s,s:f},s:{s:s,s:[s,s,s],s:s},"
        "s:{s:s,s:b}}}}",
        "message", "Please review and update the form fields with defaults", "requestedSchema",
        "type", "object", "properties", "name", "type", "string", "default", "John Doe", "age",
        "type", "integer", "default", 30, "score", "type", "number", "default", 95.5, "status",
        "type", "string", "enum", "active", "inactive", "pending", "default", "active", "verified",
        "type", "boolean", "default", 1);

    return ask_client(c, "elicitation", "elicitation/create", params, "Elicitation completed: ");
}

static json_t *t_elicit_enums(struct mcp_call *c, const json_t *args)
{
    json_t *params = json_pack(
        "{s:s,s:{s:s,s:{"
        "s:{s:s,s:[s,s,s]},"
        "s:{s:s,s:[{s:s,s:s},{s:s,s:s},{s:s,s:s}]},"
        "s:{s:s,s:[s,s,s],s:[s,s,s]},"
        "s:{s:s,s:{s:s,s:[s,s,s]}},"
        "s:{s:s,s:{s:[{s:s,s:s},{s:s,s:s},{s:s,s:s}]}}}}}",
        "message", "Please select options", "requestedSchema", "type", "object", "properties",
        "untitledSingle", "type", "string", "enum", "option1", "option2", "option3", "titledSingle",
        "type", "string", "oneOf", "const", "value1", "title", "First Option", "const", "value2",
        "title", "Second Option", "const", "value3", "title", "Third Option", "legacyEnum", "type",
        "string", "enum", "opt1", "opt2", "opt3", "enumNames", "Option One", "Option Two",
        "Option Three", "untitledMulti", "type", "array", "items", "type", "string", "enum",
        "option1", "option2", "option3", "titledMulti", "type", "array", "items", "anyOf", "const",
        "value1", "title", "First Choice", "const", "value2", "title", "Second Choice", "const",
        "value3", "title", "Third Choice");

    return ask_client(c, "elicitation", "elicitation/create", params, "Elicitation completed: ");
}

static json_t *t_schema_2020(struct mcp_call *c, const json_t *args)
{
    char *dump = json_dumps(args, JSON_COMPACT), *text = NULL;
    json_t *r;

    if (dump && asprintf(&text, "JSON Schema 2020-12 tool called with: %s", dump) < 0)
        text = NULL;
    r = text_result(text ? text : "JSON Schema 2020-12 tool called");
    free(dump);
    free(text);
    return r;
}

static const char no_args[] = "{\"type\":\"object\",\"properties\":{}}";

static const struct fixture_tool {
    const char *name;
    const char *description;
    const char *schema;
    json_t *(*fn)(struct mcp_call *c, const json_t *args);
} fixture_tools[] = {
    {"test_simple_text", "Tests simple text content response", no_args, t_simple_text},
    {"test_image_content", "Tests image content response", no_args, t_image},
    {"test_audio_content", "Tests audio content response", no_args, t_audio},
    {"test_embedded_resource", "Tests embedded resource content response", no_args, t_embedded},
    {"test_multiple_content_types", "Tests response with text, image and resource content", no_args,
     t_mixed},
    {"test_tool_with_logging", "Tests a tool that emits log messages while it runs", no_args,
     t_logging},
    {"test_tool_with_progress", "Tests a tool that reports progress notifications", no_args,
     t_progress},
    {"test_error_handling", "Tests error response handling", no_args, t_error},
    {"test_reconnection",
     "Tests SSE stream disconnection and client reconnection (SEP-1699): the server closes the "
     "stream's connection mid-call and the result arrives after the client reconnects",
     no_args, t_reconnection},
    {"test_sampling", "Tests server-initiated sampling (LLM completion request)",
     "{\"type\":\"object\",\"properties\":{\"prompt\":{\"type\":\"string\",\"description\":"
     "\"The prompt to send to the LLM\"}},\"required\":[\"prompt\"]}",
     t_sampling},
    {"test_elicitation", "Tests server-initiated elicitation (user input request)",
     "{\"type\":\"object\",\"properties\":{\"message\":{\"type\":\"string\",\"description\":"
     "\"The message to show the user\"}},\"required\":[\"message\"]}",
     t_elicitation},
    {"test_elicitation_sep1034_defaults", "Tests elicitation with default values (SEP-1034)",
     no_args, t_elicit_defaults},
    {"test_elicitation_sep1330_enums", "Tests elicitation with enum schemas (SEP-1330)", no_args,
     t_elicit_enums},
    {"json_schema_2020_12_tool", "Tool with JSON Schema 2020-12 features (SEP-1613)",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"type\":\"object\","
     "\"$defs\":{\"address\":{\"type\":\"object\",\"properties\":{\"street\":{\"type\":"
     "\"string\"},\"city\":{\"type\":\"string\"}}}},\"properties\":{\"name\":{\"type\":"
     "\"string\"},\"address\":{\"$ref\":\"#/$defs/address\"}},\"additionalProperties\":false}",
     t_schema_2020},
};

int mcp_fixtures_tools(json_t *array)
{
    for (size_t i = 0; i < sizeof(fixture_tools) / sizeof(*fixture_tools); i++) {
        const struct fixture_tool *f = &fixture_tools[i];
        json_t *schema = json_loads(f->schema, 0, NULL);
        json_t *t = json_pack("{s:s,s:s,s:o}", "name", f->name, "description", f->description,
                              "inputSchema", schema);
        if (!t || json_array_append_new(array, t) < 0)
            return -ENOMEM;
    }
    return 0;
}

json_t *mcp_fixtures_call(struct mcp_call *c, const char *name, const json_t *args)
{
    json_t *empty = NULL, *r = NULL;

    if (!args)
        args = empty = json_object();
    for (size_t i = 0; i < sizeof(fixture_tools) / sizeof(*fixture_tools); i++)
        if (strcmp(fixture_tools[i].name, name) == 0) {
            r = fixture_tools[i].fn(c, args);
            break;
        }
    json_decref(empty);
    return r;
}

/* ---- prompts ---- */

json_t *mcp_fixtures_prompts(void)
{
    return json_pack(
        "{s:[{s:s,s:s},{s:s,s:s,s:[{s:s,s:s,s:b},{s:s,s:s,s:b}]},{s:s,s:s,s:[{s:s,s:s,s:b}]},"
        "{s:s,s:s}]}",
        "prompts", "name", "test_simple_prompt", "description", "A simple prompt without arguments",
        "name", "test_prompt_with_arguments", "description", "A prompt with required arguments",
        "arguments", "name", "arg1", "description", "First test argument", "required", 1, "name",
        "arg2", "description", "Second test argument", "required", 1, "name",
        "test_prompt_with_embedded_resource", "description",
        "A prompt that includes an embedded resource", "arguments", "name", "resourceUri",
        "description", "URI of the resource to embed", "required", 1, "name",
        "test_prompt_with_image", "description", "A prompt that includes image content");
}

static json_t *user_text(const char *text)
{
    return json_pack("{s:s,s:{s:s,s:s}}", "role", "user", "content", "type", "text", "text", text);
}

json_t *mcp_fixtures_prompt_get(const char *name, const json_t *args, struct mcp_error *e)
{
    if (strcmp(name, "test_simple_prompt") == 0)
        return json_pack("{s:[o]}", "messages", user_text("This is a simple prompt for testing."));
    if (strcmp(name, "test_prompt_with_arguments") == 0) {
        const char *a1 = json_string_value(json_object_get(args, "arg1"));
        const char *a2 = json_string_value(json_object_get(args, "arg2"));
        char text[512];
        if (!a1 || !a2)
            return mcp_fail(e, MCP_ERR_INVALID_PARAMS, "arguments arg1 and arg2 are required");
        snprintf(text, sizeof(text), "Prompt with arguments: arg1='%s', arg2='%s'", a1, a2);
        return json_pack("{s:[o]}", "messages", user_text(text));
    }
    if (strcmp(name, "test_prompt_with_embedded_resource") == 0) {
        const char *uri = json_string_value(json_object_get(args, "resourceUri"));
        if (!uri)
            return mcp_fail(e, MCP_ERR_INVALID_PARAMS, "argument resourceUri is required");
        return json_pack("{s:[{s:s,s:{s:s,s:{s:s,s:s,s:s}}},o]}", "messages", "role", "user",
                         "content", "type", "resource", "resource", "uri", uri, "mimeType",
                         "text/plain", "text", "Embedded resource content for testing.",
                         user_text("Please process the embedded resource above."));
    }
    if (strcmp(name, "test_prompt_with_image") == 0)
        return json_pack("{s:[{s:s,s:{s:s,s:s,s:s}},o]}", "messages", "role", "user", "content",
                         "type", "image", "data", png_b64, "mimeType", "image/png",
                         user_text("Please analyze the image above."));
    return mcp_fail(e, MCP_ERR_INVALID_PARAMS, "unknown prompt: %s", name);
}

/* ---- resources ---- */

json_t *mcp_fixtures_resources(void)
{
    return json_pack("{s:[{s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s}]}", "resources",
                     "uri", "test://static-text", "name", "static-text", "description",
                     "A static text resource for testing", "mimeType", "text/plain", "uri",
                     "test://static-binary", "name", "static-binary", "description",
                     "A static binary resource (image) for testing", "mimeType", "image/png", "uri",
                     "test://watched-resource", "name", "watched-resource", "description",
                     "A resource clients may subscribe to", "mimeType", "text/plain");
}

json_t *mcp_fixtures_resource_templates(void)
{
    return json_pack("{s:[{s:s,s:s,s:s,s:s}]}", "resourceTemplates", "uriTemplate",
                     "test://template/{id}/data", "name", "template", "description",
                     "A resource template with parameter substitution", "mimeType",
                     "application/json");
}

static json_t *one_text(const char *uri, const char *mime, const char *text)
{
    return json_pack("{s:[{s:s,s:s,s:s}]}", "contents", "uri", uri, "mimeType", mime, "text", text);
}

json_t *mcp_fixtures_resource_read(const char *uri, struct mcp_error *e)
{
    static const char tpl_prefix[] = "test://template/", tpl_suffix[] = "/data";
    size_t n = strlen(uri);

    if (strcmp(uri, "test://static-text") == 0)
        return one_text(uri, "text/plain", "This is the content of the static text resource.");
    if (strcmp(uri, "test://watched-resource") == 0)
        return one_text(uri, "text/plain", "Watched resource content");
    if (strcmp(uri, "test://static-binary") == 0)
        return json_pack("{s:[{s:s,s:s,s:s}]}", "contents", "uri", uri, "mimeType", "image/png",
                         "blob", png_b64);
    if (n > strlen(tpl_prefix) + strlen(tpl_suffix) &&
        strncmp(uri, tpl_prefix, strlen(tpl_prefix)) == 0 &&
        strcmp(uri + n - strlen(tpl_suffix), tpl_suffix) == 0) {
        int len = (int)(n - strlen(tpl_prefix) - strlen(tpl_suffix));
        const char *id = uri + strlen(tpl_prefix);
        json_t *body = json_pack("{s:s%,s:b}", "id", id, (size_t)len, "templateTest", 1);
        char data[256], *text;
        json_t *r;
        if (!body || memchr(id, '/', (size_t)len))
            return json_decref(body),
                   mcp_fail(e, MCP_ERR_RESOURCE_NOT_FOUND, "resource not found: %s", uri);
        snprintf(data, sizeof(data), "Data for ID: %.*s", len, id);
        json_object_set_new(body, "data", json_string(data));
        text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(body);
        r = text ? one_text(uri, "application/json", text) : NULL;
        free(text);
        return r;
    }
    return mcp_fail(e, MCP_ERR_RESOURCE_NOT_FOUND, "resource not found: %s", uri);
}

json_t *mcp_fixtures_complete(const json_t *params)
{
    const json_t *arg = json_object_get(params, "argument");
    const char *value = json_string_value(json_object_get(arg, "value"));
    static const char *const words[] = {"paris", "park", "party"};
    json_t *values = json_array();

    for (size_t i = 0; value && i < sizeof(words) / sizeof(*words); i++)
        if (strncmp(words[i], value, strlen(value)) == 0)
            json_array_append_new(values, json_string(words[i]));
    return json_pack("{s:{s:o,s:I,s:b}}", "completion", "values", values, "total",
                     (json_int_t)json_array_size(values), "hasMore", 0);
}
