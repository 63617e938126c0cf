/* The drivers other than claude-code, each in a file of its own, for the table in gw-drivers.c,
 * and what those that speak to a model API themselves share (gw-driver-api.c). */
#pragma once

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>

#include "gw-chat.h"

#define GW_API_STEPS_MAX 16           /* model calls in one turn (tool rounds) */
#define GW_API_MAX_TOKENS 4096        /* what one model call may answer */
#define GW_API_RESULT_MAX (64 * 1024) /* a tool result as the model sees it */

extern const struct gw_driver gw_driver_anthropic; /* gw-driver-anthropic.c */
extern const struct gw_driver gw_driver_openai;    /* gw-driver-openai.c */

/* The registry's tools a model may call: [{name, description, input_schema}] (lent; built once;
 * NULL when out of memory). Tools no agent may call (approval_approve) are not offered. */
const json_t *gw_api_tools(void);
/* Runs one tool call on its daemon's agent socket, given up when the turn is aborted: the
 * daemon's answer, or an {error} object (new reference). *ret_status: ok, pending, denied or
 * error; *ret_error unless ok or pending. */
json_t *gw_api_tool_call(struct gateway *gw, struct gw_turn *t, const char *name,
                         const json_t *input, bool *ret_error, const char **ret_status);
/* A tool's answer as text for the model, capped at GW_API_RESULT_MAX (new string). */
char *gw_api_result_text(const json_t *out);

/* The conversation kept as id (a copy, new reference), or an empty one. */
json_t *gw_api_conversation_get(const char *id);
/* Keeps messages (stolen) as conversation id, trimmed to its last messages. */
void gw_api_conversation_put(const char *id, json_t *messages);
/* prefix + 24 random hex digits. */
void gw_api_new_id(const char *prefix, char *out, size_t len);

struct gw_api_reply {
    long status;     /* HTTP status, 0 when none came */
    char error[512]; /* a non-2xx answer's error.message */
};

typedef void (*gw_api_event_fn)(void *ud, const char *data);
/* POSTs body to url and hands the data of each server-sent event to on_event as it arrives
 * (2xx answers only). 0; -ECANCELED when the turn was aborted; -E2BIG for an event over 4 MiB;
 * -EIO. reply says the status and a refusal's message. */
int gw_api_post(struct gw_turn *t, const char *url, struct curl_slist *headers, const char *body,
                gw_api_event_fn on_event, void *ud, struct gw_api_reply *reply);
/* Tells the client why a model call failed (aborted, http_<status>, model_error with
 * model_error, driver_unavailable); the -errno to return. */
int gw_api_fail(struct gw_turn *t, int r, const struct gw_api_reply *reply,
                const char *model_error);
