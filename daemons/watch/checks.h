/* Health checks (osModa §4): systemd_unit, tcp_port, http_get, command, with osModa's
 * validation, and the engine that runs them: many at once, each with its own time-out, without
 * a thread per check (1,000 watchers at 1 s intervals must cost under 5% of a core).
 *
 *   {"type":"systemd_unit","unit":U}            active in the service backend (10 s)
 *   {"type":"tcp_port","host":H,"port":P}       a TCP connection succeeds (5 s)
 *   {"type":"http_get","url":U,"expect_status":N} GET answers N (http/https only, 10 s)
 *   {"type":"command","cmd":C,"args":[...]}     exits 0, run without a shell (30 s)
 *
 * Validation at registration and before each run: unit names [A-Za-z0-9@._-]{1,256}; cmd
 * absolute, no "..", its basename not a shell or interpreter (sh bash zsh dash fish csh tcsh
 * env python python3 perl ruby node lua); no argument holds $ ` | ; & ( ) { } < > ! \ newline
 * CR NUL; URL scheme http or https. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "watch.h"

#define CHECK_UNIT_TIMEOUT_MS 10000
#define CHECK_TCP_TIMEOUT_MS 5000
#define CHECK_HTTP_TIMEOUT_MS 10000
#define CHECK_COMMAND_TIMEOUT_MS 30000
#define CHECK_DETAIL_MAX 256

struct check;
struct checks;
struct svc;

/* Parses and validates one check. -EINVAL with err saying which field and why. */
int check_parse(const json_t *j, struct check **ret, char *err, size_t errlen);
void check_free(struct check *c);
/* The check as it was given (new reference). */
json_t *check_json(const struct check *c);
/* "systemd_unit", ... */
const char *check_type(const struct check *c);

/* The result of one run: ok, and a short reason when not ("connection refused", "status 500",
 * "exit 1", "timed out after 5000 ms"). */
typedef void (*check_done_fn)(void *userdata, bool ok, const char *detail);

/* svc answers systemd_unit checks (any backend). */
int checks_new(struct svc *svc, struct checks **ret);
/* Ends the checks in flight (their done is called with ok false, "cancelled"). NULL-safe. */
void checks_free(struct checks *e);
/* Starts c; done is called exactly once, on the engine's thread, never from inside this call.
 * c must stay valid until then. */
int checks_start(struct checks *e, const struct check *c, check_done_fn done, void *userdata);

/* One check of a checks_start_many burst, with its done's userdata. */
struct check_start {
    const struct check *check;
    void *userdata;
};

/* Starts n checks as checks_start does each, handed to the engine's thread with one wake-up for
 * all (a scheduler starting a burst of due checks). 0, or -errno and none was started. */
int checks_start_many(struct checks *e, const struct check_start *s, size_t n, check_done_fn done);
/* Runs the n checks at once and waits for all: true when every one passed; otherwise detail
 * names the first that failed. For callers on their own thread (SafeSwitch probation). */
bool checks_run_all(struct checks *e, struct check *const *cs, size_t n, char *detail,
                    size_t detail_len);
