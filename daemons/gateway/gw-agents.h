/* agents.json (osModa §10.2): {version: 1, agents: [{id, display_name, runtime, credential_id,
 * model, channels[], profile_dir?, system_prompt_file?, enabled, updated_at}], bindings:
 * [{channel, agent_id}]}, 0640, written atomically, reloaded on SIGHUP and after /config writes
 * (turns in flight keep what they hold). Selection: an explicit agentId (enabled) → the
 * channel's binding → for "web" the first enabled agent listing "web" → the first enabled.
 * Validation as osModa's PUT /config/agents (credential exists, runtime known, profile paths
 * under the state directory without ".."), plus ids [a-z0-9_-]{1,64}. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct gw_agents;

#define GW_AGENTS_FILE "agents.json"
#define GW_AGENTS_MAX 64
#define GW_AGENT_ID_MAX 64
#define GW_AGENT_CHANNELS_MAX 16
#define GW_AGENTS_FILE_MAX (256 * 1024)

/* Opens (and reads, when present) <config>/agents.json; a file that does not validate is refused
 * with the reason. */
int gw_agents_open(const char *config_dir, const char *state_dir, struct gw_agents **ret, char *err,
                   size_t errlen);
void gw_agents_free(struct gw_agents *a);
/* How each change is recorded before it is made (as gw_credstore_set_recorder): without a
 * recorder, or when it fails, nothing changes and the change returns -ENOTCONN. */
typedef int (*gw_agents_record_fn)(void *ud, const char *type, const json_t *payload);
void gw_agents_set_recorder(struct gw_agents *a, gw_agents_record_fn record, void *ud);
/* Re-reads agents.json; on an error the agents in memory stay. */
int gw_agents_reload(struct gw_agents *a, char *err, size_t errlen);
/* Counts for /config/health. */
void gw_agents_counts(struct gw_agents *a, int *ret_total, int *ret_enabled);
/* The runtimes agents may name (until the drivers' table is linked, a local list). */
bool gw_agents_runtime_known(const char *runtime);
json_t *gw_agents_json(struct gw_agents *a); /* the whole file (new reference) */
/* Replaces the file after validation (known: a credential id exists): 0, -EINVAL + err. */
int gw_agents_put(struct gw_agents *a, const json_t *doc,
                  int (*credential_exists)(const char *id, void *ud), void *ud, char *err,
                  size_t errlen);
/* Changes some fields of one agent (the same checks per field; credential_id not checked here):
 * 0 with the agent, -ENOENT, -EINVAL + err. */
int gw_agents_patch(struct gw_agents *a, const char *id, const json_t *fields, json_t **ret,
                    char *err, size_t errlen);
int gw_agents_delete(struct gw_agents *a, const char *id);
/* The agent for a chat (new reference) or NULL when none is configured and enabled. */
json_t *gw_agents_select(struct gw_agents *a, const char *agent_id, const char *channel);
