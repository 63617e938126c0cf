/* The egress ACL: which principal may reach which host and port. Pure functions, no I/O but the
 * loader's file reads, so every rule is unit-tested.
 *
 * The operator's file (<state>/egress/acl.json, JSON, reloaded on SIGHUP):
 *   {"max_connections": 4096,            overall open connections (default EGRESS_.. below)
 *    "idle_timeout_s": 300,              a tunnel or keep-alive connection with no byte either
 *                                        way for this long is closed (no total limit)
 *    "header_timeout_s": 10,             the whole request head must arrive within this
 *    "connect_timeout_s": 10,
 *    "principals": {
 *      "<name>": {                       [a-z0-9][a-z0-9_.-]{0,62}; "default" is the TCP port's
 *        "mode": "enforce" | "report",   report: a denial is logged as would_deny and let through
 *        "max_connections": 256,         this principal's open connections
 *        "rules": [
 *          {"host": "github.com"},                  exact (case-insensitive, one trailing dot
 *                                                   ignored); ports default to [443]
 *          {"host": "*.nixos.org", "ports": [443, 80]},  any name strictly below nixos.org
 *                                                   (not nixos.org itself, not evilnixos.org)
 *          {"host": "10.0.0.5", "ports": [8080]},   an address literal (IPv6 without brackets):
 *                                                   names that address, so the internal-address
 *                                                   check lets it through
 *          {"host": "db.internal", "ports": [5432], "addresses": ["10.1.0.0/16"]}
 *                                                   a name allowed to resolve to these internal
 *                                                   networks (CIDR or single address)
 *        ]}}}
 * There is no rule that means "any": "*", "*.", "*.com"-style single-label suffixes, ports
 * outside 1..65535, an empty port list and unknown keys are errors naming the rule. A rule may
 * have "comment". At most ACL_RULES_MAX rules per principal, ACL_PRINCIPALS_MAX principals.
 *
 * The grants file (<data>/grants.json, written by osmoda-egress when the operator approves an
 * egress_request_access call or adds a grant on egress.sock):
 *   {"grants": [{"id": "<uuid>", "principal": "agent", "host": "api.example.com",
 *                "ports": [443], "expires_at": <unix seconds>, "reason": "...",
 *                "approval_id": "...", "created_at": <unix seconds>}]}
 * A grant is a rule of its principal that stops matching at expires_at (checked at match time,
 * so expiry needs no reload). A grant for a principal the ACL file does not name is an error.
 *
 * With no ACL file, the configuration is one principal "default" in enforce mode whose rules are
 * the --default-allow hosts on port 443 (osModa's behaviour), and no other principal. */
#pragma once

#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#define ACL_FILE_MAX (1024 * 1024)
#define ACL_PRINCIPALS_MAX 256
#define ACL_RULES_MAX 4096
#define ACL_PORTS_MAX 32
#define ACL_NETS_MAX 32
#define ACL_HOST_MAX 253
#define ACL_NAME_MAX 63
#define ACL_DEFAULT_MAX_CONNECTIONS 4096
#define ACL_DEFAULT_PRINCIPAL_MAX_CONNECTIONS 512
#define ACL_DEFAULT_IDLE_TIMEOUT_S 300
#define ACL_DEFAULT_HEADER_TIMEOUT_S 10
#define ACL_DEFAULT_CONNECT_TIMEOUT_S 10
#define ACL_GRANT_TTL_MAX_S (7 * 86400)

enum acl_mode { ACL_ENFORCE, ACL_REPORT };

/* An address range a rule names: family AF_INET or AF_INET6, the network in network byte order
 * (IPv4 in the first 4 bytes) and its prefix length. */
struct acl_net {
    int family;
    uint8_t addr[16];
    unsigned prefix;
};

struct acl_rule {
    char *host;    /* lower case, no trailing dot; for a wildcard the suffix without "*." */
    bool wildcard; /* "*.suffix" */
    bool literal;  /* host is an address literal (then nets[0] is that address, /32 or /128) */
    uint16_t ports[ACL_PORTS_MAX];
    size_t n_ports;
    struct acl_net nets[ACL_NETS_MAX]; /* internal addresses this rule may reach */
    size_t n_nets;
    int64_t expires_at; /* 0: never (file rules); a grant's expiry otherwise */
    char *grant_id;     /* NULL for file rules */
    char *comment;
};

struct acl_principal {
    char *name;
    enum acl_mode mode;
    int max_connections;
    struct acl_rule *rules;
    size_t n_rules;
};

struct acl_config {
    int refs; /* atomic: acl_config_ref/unref from any thread */
    int max_connections;
    int idle_timeout_s, header_timeout_s, connect_timeout_s;
    struct acl_principal *principals;
    size_t n_principals;
    uint64_t generation; /* set by the daemon: which load this is (for the log and /health) */
};

/* Loads acl_path (a missing file: the default configuration built from default_allow, a
 * NULL-terminated list or NULL) and grants_path (missing: no grants). A bad file: -EINVAL and
 * a message naming the file and the rule in err; -errno for I/O errors. refs = 1. */
int acl_config_load(const char *acl_path, const char *grants_path, const char *const *default_allow,
                    struct acl_config **ret, char *err, size_t errlen);
/* The same from JSON values (grants may be NULL): the loader's core, for tests and fuzzing. */
int acl_config_from_json(const json_t *acl, const json_t *grants, struct acl_config **ret,
                         char *err, size_t errlen);
struct acl_config *acl_config_ref(struct acl_config *c);
void acl_config_unref(struct acl_config *c); /* NULL-safe */

const struct acl_principal *acl_principal_find(const struct acl_config *c, const char *name);

/* Normalises a host as a request names it: lower case, one trailing dot removed, brackets of an
 * IPv6 literal removed. -EINVAL for anything that is not a DNS name (LDH labels of 1-63, total
 * ≤ 253) or an IPv4/IPv6 literal (no zone ids, no userinfo, no percent-encoding). */
int acl_host_normalize(const char *host, char out[static ACL_HOST_MAX + 1]);

/* The rule of p that lets (host, port) through at time now, or NULL. host is normalised. */
const struct acl_rule *acl_match(const struct acl_principal *p, const char *host, uint16_t port,
                                 time_t now);
/* True when rule names addr (a literal rule's address, or one of its nets): the internal-address
 * check does not apply to it. */
bool acl_rule_names_addr(const struct acl_rule *rule, const struct sockaddr *addr);

/* The configuration as JSON for GET /acl and egress_acl_list (new reference); principal NULL
 * for all of them. Expired grants are left out. */
json_t *acl_config_json(const struct acl_config *c, const char *principal, time_t now);
