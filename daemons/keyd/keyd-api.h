/* keyd.sock's routes, and what the tools share with them. */
#pragma once

#include "ipc/http_server.h"
#include "wallets.h"

/* The route table (static storage). */
const struct osm_route *keyd_api_routes(size_t *ret_n);
/* Loads <data>/policy.json again; a bad file keeps the policy in force (-errno, err). */
int keyd_policy_reload(struct keyd *k, char *err, size_t len);
/* Delivers secret name as {version?, path?, uid?, gid?, mode?} says (a file under a delivery
 * directory, or a systemd credential): the vault's answer (new reference) or NULL with e. */
json_t *keyd_deliver(struct keyd *k, const struct keyd_caller *c, const char *name,
                     const json_t *body, struct kerr *e);
