/* /config/...: drivers, credentials, agents, reload and health (osModa §10.5), and the wiring of
 * the credential store and agents.json into the gateway: each change recorded through
 * gateway_emit before it is made (503 service_unavailable when it cannot be). */
#pragma once

#include <stddef.h>

#include "gateway.h"

/* Opens the credential store (key from key_file or the other sources) and agents.json, sets
 * their recorders, absorbs the bootstrap file: 0 or -errno with the reason in err. */
int gw_config_open(struct gateway *gw, const char *key_file, char *err, size_t errlen);
void gw_config_close(struct gateway *gw);
/* Re-reads agents.json after recording gateway.config.reload (source: "sighup", "api"):
 * 0, -ENOTCONN (not recorded, nothing re-read), -errno + err (the agents in memory stay). */
int gw_config_reload(struct gateway *gw, const char *source, char *err, size_t errlen);
