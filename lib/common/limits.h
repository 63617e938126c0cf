/* Every size, count and time limit of osModa-C in one place, with osModa's value where it had one. */
#pragma once

/* IPC */
#define OSM_BODY_MAX (1024 * 1024)        /* request body cap (osModa DefaultBodyLimit 1 MiB) */
#define OSM_HTTP_MAX_CONNECTIONS 512      /* concurrent connections per daemon socket */
#define OSM_HTTP_CONNECTION_TIMEOUT_S 60  /* idle keep-alive connection timeout */
#define OSM_HTTP_CLIENT_TIMEOUT_MS 30000  /* bridge/daemon client timeout (osModa 30 s) */
#define OSM_HTTP_MAX_PATH_PARAMS 4
#define OSM_HTTP_MAX_QUERY_ARGS 16
#define OSM_JSON_MAX_DEPTH 64              /* deeper request bodies are refused */

/* Ledger */
#define OSM_LEDGER_NAME_MAX 128            /* type and actor length */
#define OSM_LEDGER_PAYLOAD_MAX OSM_BODY_MAX
#define OSM_LEDGER_BATCH_MAX 1024          /* events per group-commit transaction */
#define OSM_LEDGER_QUEUE_MAX 65536         /* waiting appends before callers get 503 */
#define OSM_CHECKPOINT_EVERY_EVENTS 1000   /* sign a checkpoint after this many new events */
#define OSM_CHECKPOINT_EVERY_SECONDS 60    /* ... or this long after the first unsigned one */
#define OSM_READ_POOL_MAX 16               /* read-only SQLite connections per daemon */

/* agentd endpoints (osModa §1.1) */
#define OSM_EVENTS_LOG_DEFAULT 50
#define OSM_EVENTS_LOG_MAX 1000
#define OSM_RECALL_DEFAULT 10
#define OSM_RECALL_MAX 100
#define OSM_RECALL_FALLBACK_SCAN 5000
#define OSM_RECEIPTS_DEFAULT 50
#define OSM_RECEIPTS_MAX 500
#define OSM_QUERY_PROCESSES_DEFAULT 50
#define OSM_BACKUP_KEEP 7
#define OSM_BACKUP_TIMEOUT_S 120
#define OSM_HEALTH_CACHE_MS 1000           /* /health recomputes system figures at most this often */

/* agentd endpoint groups (memory, system, card, backup) */
#define OSM_RECALL_TERMS_MAX 64            /* query terms kept for a recall search */
#define OSM_QUERY_PROCESSES_MAX 10000      /* largest args.limit of system/query processes */
#define OSM_PROC_SCAN_MAX 65536            /* processes read from /proc per request */
#define OSM_DISCOVER_CMD_TIMEOUT_S 5       /* systemctl list-units during /system/discover */
#define OSM_CMD_OUTPUT_MAX (4 * 1024 * 1024) /* captured stdout of a helper program */
#define OSM_AGENT_CARD_MAX (64 * 1024)     /* agent-card.json read cap */
#define OSM_BACKUP_FILES_MAX 100000        /* files in one backup snapshot or restore */

