/* Every size, count and time limit of osModa-C in one place, with osModa's value where it had one.
 */
#pragma once

/* IPC */
#define OSM_BODY_MAX (1024 * 1024)       /* request body cap (osModa DefaultBodyLimit 1 MiB) */
#define OSM_HTTP_MAX_CONNECTIONS 512     /* concurrent connections per daemon socket */
#define OSM_HTTP_CONNECTION_TIMEOUT_S 60 /* idle keep-alive connection timeout */
#define OSM_HTTP_CLIENT_TIMEOUT_MS 30000 /* bridge/daemon client timeout (osModa 30 s) */
#define OSM_HTTP_MAX_PATH_PARAMS 4
#define OSM_HTTP_MAX_QUERY_ARGS 16
#define OSM_HTTP_PATH_MAX 4096             /* longer request paths get 414 */
#define OSM_HTTP_POOL_THREADS_MAX 4        /* event threads per route server (one per CPU) */
#define OSM_HTTP_THREAD_STACK (256 * 1024) /* server and blocking-handler thread stacks */
#define OSM_HTTP_WORKER_IDLE_S 30          /* an idle blocking-handler thread exits after this */
#define OSM_JSON_MAX_DEPTH 64              /* deeper request bodies are refused */

/* Ledger */
#define OSM_LEDGER_NAME_MAX 128 /* type and actor length */
#define OSM_LEDGER_PAYLOAD_MAX OSM_BODY_MAX
#define OSM_LEDGER_BATCH_MAX 1024        /* events per group-commit transaction */
#define OSM_LEDGER_QUEUE_MAX 65536       /* waiting appends before callers get 503 */
#define OSM_EVENTS_APPEND_BATCH_MAX 256  /* events per POST /events/append_batch */
#define OSM_CHECKPOINT_EVERY_EVENTS 1000 /* sign a checkpoint after this many new events */
#define OSM_CHECKPOINT_EVERY_SECONDS 60  /* ... or this long after the first unsigned one */
#define OSM_READ_POOL_MAX 16             /* read-only SQLite connections per daemon */
#define OSM_INDEX_IDLE_MS 20             /* search indexing starts after this long idle */
#define OSM_INDEX_CHUNK 512              /* events indexed per idle step */
#define OSM_INDEX_MAX_LAG 10000          /* ... or, under steady load, once this far behind */

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
#define OSM_HEALTH_CACHE_MS 1000 /* /health recomputes system figures at most this often */

/* agentd endpoint groups (memory, system, card, backup) */
#define OSM_RECALL_TERMS_MAX 64              /* query terms kept for a recall search */
#define OSM_QUERY_PROCESSES_MAX 10000        /* largest args.limit of system/query processes */
#define OSM_PROC_SCAN_MAX 65536              /* processes read from /proc per request */
#define OSM_DISCOVER_CMD_TIMEOUT_S 5         /* systemctl list-units during /system/discover */
#define OSM_CMD_OUTPUT_MAX (4 * 1024 * 1024) /* captured stdout of a helper program */
#define OSM_AGENT_CARD_MAX (64 * 1024)       /* agent-card.json read cap */
#define OSM_BACKUP_FILES_MAX 100000          /* files in one backup snapshot or restore */

/* Tool registry and results (lib/tools). Plain integer literals where a tool's JSON Schema
 * quotes the value (the schema text is built with the preprocessor). */
#define OSM_TOOL_RESULT_MAX (64 * 1024) /* bytes of one tool result text (then marked cut) */
#define OSM_TOOL_RESULT_MIN 128         /* smallest cap osm_result_text honours (fits the marker) */
#define OSM_TOOL_LIST_DEFAULT 50        /* items per page when a list tool gets no limit */
#define OSM_TOOL_LIST_MAX 1000          /* largest limit of a list/log tool */
#define OSM_TOOL_OFFSET_MAX 1000000     /* largest offset of a list/log tool */
#define OSM_TOOL_ARG_LOG_MAX 4096       /* longer string arguments are cut in tool.call */
#define OSM_TOOL_GREP_MAX 256           /* grep filter length, characters */
#define OSM_TOOL_SHELL_TIMEOUT_MAX_MS 120000 /* shell_exec timeout cap (osModa 120 000 ms) */
#define OSM_TOOL_JOURNAL_LINES_MAX 500       /* journal_logs lines cap (osModa 500) */
#define OSM_TOOL_SPECKIT_TIMEOUT_MIN_S 60    /* spec_kit_run timeout_seconds (osModa 60..1800) */
#define OSM_TOOL_SPECKIT_TIMEOUT_MAX_S 1800
#define OSM_TOOL_ERROR_FIELD_MAX 256  /* JSON pointer of a validation error, with NUL */
#define OSM_TOOL_ERROR_REASON_MAX 512 /* reason of a validation error, with NUL */
