/* Decisions as ledger events, without making the proxy wait on the ledger: a bounded queue and
 * a flusher thread that appends them to agentd's ledger in batches (POST /events/append_batch on
 * agentd-daemons.sock, EGRESS_EVENTS_BATCH at a time), and the recent denials kept for
 * egress_denials.
 *
 * Fail closed: a connection is admitted only after a slot was reserved for its event. When the
 * queue is full (agentd unreachable or not keeping up) egress_events_reserve() refuses and the
 * proxy answers 503 "ledger_unavailable": nothing goes out that cannot be recorded.
 *
 * Event types and payloads:
 *   egress.allow  {principal, host, port, address, method, decision: "allow", rule, bytes_up,
 *                  bytes_down, duration_ms, mode}
 *   egress.deny   {principal, host, port, address?, method, decision: "deny" | "would_deny",
 *                  reason, bytes_up, bytes_down, duration_ms, mode}
 * would_deny (report mode) was let through, so it carries bytes like an allow. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum egress_verdict { EGRESS_ALLOW, EGRESS_DENY, EGRESS_WOULD_DENY };

struct egress_decision {
    const char *principal;
    const char *host;
    uint16_t port;
    const char *address; /* the address dialled or refused, text; NULL when none */
    const char *method;  /* "CONNECT", "GET", ... */
    enum egress_verdict verdict;
    const char *rule;   /* the rule that allowed it ("github.com", "*.nixos.org", "grant:<id>") */
    const char *reason; /* why denied: "not in the allowlist", "internal address (loopback)",
                           "port 22 not allowed", "lockdown", ... */
    const char *mode;   /* "enforce" or "report" */
    uint64_t bytes_up, bytes_down;
    int64_t duration_ms;
};

struct egress_events;

/* daemons_socket: agentd's; capacity: slots (at least the overall connection limit plus room
 * for denials). Fails when agentd does not answer: without the ledger egress does not start. */
int egress_events_new(const char *daemons_socket, size_t capacity, struct egress_events **ret);
int egress_events_start(struct egress_events *ev); /* the flusher */
/* Flushes what is queued (waiting up to a few seconds for agentd) and joins the flusher. */
void egress_events_stop(struct egress_events *ev);
void egress_events_free(struct egress_events *ev);

/* Reserves a slot: 0, or -EAGAIN when the ledger is not keeping up. Non-blocking. */
int egress_events_reserve(struct egress_events *ev);
/* Gives a reserved slot back unused. */
void egress_events_release(struct egress_events *ev);
/* Queues d's event in a reserved slot (copies d; never blocks, never fails). Denials also go to
 * the recent-denials ring. */
void egress_events_record(struct egress_events *ev, const struct egress_decision *d);
/* A denial that found no slot (egress_events_reserve refused): it cannot reach the ledger, so it
 * is counted (dropped_denials) and kept in the recent-denials ring only. Never blocks. */
void egress_events_drop_denial(struct egress_events *ev, const struct egress_decision *d);
/* Records an event of the daemon's own (egress.grant, egress.reload, egress.lockdown, ...)
 * and waits until it is durable: 0 or -errno (then the change must not be made). */
int egress_events_record_sync(struct egress_events *ev, const char *type, const json_t *payload);

/* The newest denials (deny and would_deny), newest first, of one principal or all (NULL):
 * a JSON array of {ts, principal, host, port, address, decision, reason}. New reference. */
json_t *egress_events_denials(struct egress_events *ev, const char *principal, size_t limit);

struct egress_events_stats {
    uint64_t queued, written, dropped_denials; /* a deny that found no slot is not logged */
    uint64_t batches, failed_batches;
    bool agentd_ok; /* the last append succeeded */
    size_t pending;
};
void egress_events_get_stats(struct egress_events *ev, struct egress_events_stats *ret);
