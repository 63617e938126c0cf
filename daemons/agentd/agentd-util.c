/* Helpers shared by agentd's endpoint groups (see agentd-util.h). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agentd-util.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "ipc/errors.h"

extern char **environ;

static const char *const field_type_names[] = {
    [AGENTD_FIELD_STRING] = "must be a string",
    [AGENTD_FIELD_STRING_ARRAY] = "must be an array of strings",
    [AGENTD_FIELD_OBJECT] = "must be an object",
    [AGENTD_FIELD_COUNT] = "must be a non-negative integer",
    [AGENTD_FIELD_ANY] = "",
};

bool agentd_string_array_valid(const json_t *v)
{
    size_t i;
    json_t *item;

    if (!json_is_array(v))
        return false;
    json_array_foreach(v, i, item) if (!json_is_string(item)) return false;
    return true;
}

static bool field_type_ok(enum agentd_field_type t, const json_t *v)
{
    switch (t) {
    case AGENTD_FIELD_STRING:
        return json_is_string(v);
    case AGENTD_FIELD_STRING_ARRAY:
        return agentd_string_array_valid(v);
    case AGENTD_FIELD_OBJECT:
        return json_is_object(v);
    case AGENTD_FIELD_COUNT:
        return json_is_integer(v) && json_integer_value(v) >= 0;
    case AGENTD_FIELD_ANY:
        return true;
    }
    return false;
}

json_t *agentd_field_error(struct osm_request *req, const char *field, const char *why)
{
    return osm_error(req, 422, "invalid_field", json_pack("{s:s}", "field", field), "%s %s", field,
                     why);
}

json_t *agentd_body_fields(struct osm_request *req, const struct agentd_field *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct agentd_field *f = &fields[i];
        json_t *v = req->body ? json_object_get(req->body, f->key) : NULL;

        if (json_is_null(v))
            v = NULL;
        if (!v && f->required)
            return agentd_field_error(req, f->key, "is required");
        if (v && !field_type_ok(f->type, v))
            return agentd_field_error(req, f->key, field_type_names[f->type]);
        *f->ret = v;
    }
    return NULL;
}

json_t *agentd_record_error(struct osm_request *req, int r, const char *type)
{
    log_error("ledger.record_failed", "type=%s error=%d", type, r);
    return osm_error_errno(req, r, "could not record %s: %s", type, strerror(-r));
}

json_t *agentd_read_error(struct osm_request *req, int r, const char *what)
{
    log_error("ledger.read_failed", "what=%s error=%d", what, r);
    return osm_error_errno(req, r, "could not read %s: %s", what, strerror(-r));
}

json_t *agentd_or_null(json_t *v)
{
    return v ? json_incref(v) : json_null();
}

json_t *agentd_column_json(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);

    return s ? json_string((const char *)s) : json_null();
}

json_t *agentd_payload_parse(const char *text)
{
    json_t *v = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;

    return v ? v : json_object();
}

const char *agentd_payload_text(const json_t *obj, const char *const keys[], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_object_get(obj, keys[i]);
        if (json_is_string(v))
            return json_string_value(v);
    }
    return NULL;
}

/* ---- helper programs -------------------------------------------------------------------- */

static int spawn_setup(posix_spawn_file_actions_t *fa, posix_spawnattr_t *attr, int out_fd)
{
    sigset_t none, dfl;

    sigemptyset(&none);
    sigfillset(&dfl);
    sigdelset(&dfl, SIGKILL);
    sigdelset(&dfl, SIGSTOP);
    if (posix_spawn_file_actions_init(fa) != 0)
        return -ENOMEM;
    if (posix_spawnattr_init(attr) != 0) {
        posix_spawn_file_actions_destroy(fa);
        return -ENOMEM;
    }
    posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(fa, out_fd, 1);
    posix_spawn_file_actions_addopen(fa, 2, "/dev/null", O_WRONLY, 0);
    /* The daemon blocks its shutdown signals and ignores SIGPIPE; the child must not. */
    posix_spawnattr_setsigmask(attr, &none);
    posix_spawnattr_setsigdefault(attr, &dfl);
    posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    return 0;
}

static int spawn(const char *const argv[], int out_fd, pid_t *ret_pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int r = spawn_setup(&fa, &attr, out_fd);

    if (r < 0)
        return r;
    r = posix_spawnp(ret_pid, argv[0], &fa, &attr, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return -r;
}

/* Appends what is readable on fd to the capture; 0 at EOF, 1 for more, -errno. */
static int capture_some(int fd, char **buf, size_t *len, size_t max)
{
    char chunk[16384];
    ssize_t n = read(fd, chunk, sizeof(chunk));
    char *nb;

    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 1 : -errno;
    if (n == 0)
        return 0;
    if (*len + (size_t)n > max)
        return -EFBIG;
    nb = realloc(*buf, *len + (size_t)n + 1);
    if (!nb)
        return -ENOMEM;
    memcpy(nb + *len, chunk, (size_t)n);
    *len += (size_t)n;
    nb[*len] = '\0';
    *buf = nb;
    return 1;
}

/* Reads fd until EOF or the deadline. */
static int capture_until(int fd, int64_t deadline, size_t max, char **buf)
{
    size_t len = 0;

    for (;;) {
        int64_t left = deadline - osm_monotonic_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r;

        if (left <= 0)
            return -ETIMEDOUT;
        r = poll(&p, 1, (int)left);
        if (r < 0 && errno != EINTR)
            return -errno;
        if (r <= 0)
            continue;
        r = capture_some(fd, buf, &len, max);
        if (r <= 0)
            return r;
    }
}

/* Waits for pid until the deadline; kills it past the deadline or when abort_r < 0. */
static int reap(pid_t pid, int64_t deadline, int abort_r)
{
    int status = 0;

    while (abort_r == 0) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
        if (w < 0 && errno != EINTR)
            return -errno;
        if (osm_monotonic_ms() >= deadline)
            abort_r = -ETIMEDOUT;
        else
            usleep(10000);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return abort_r;
}

int agentd_run(const char *const argv[], const struct agentd_run_opts *opts, char **ret_out)
{
    int64_t deadline = osm_monotonic_ms() + (int64_t)opts->timeout_s * 1000;
    _cleanup_free_ char *out = NULL;
    int pipefd[2] = {-1, -1};
    pid_t pid;
    int r;

    if (opts->stdout_fd < 0 && pipe2(pipefd, O_CLOEXEC) < 0)
        return -errno;
    r = spawn(argv, opts->stdout_fd >= 0 ? opts->stdout_fd : pipefd[1], &pid);
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    if (r < 0) {
        if (pipefd[0] >= 0)
            close(pipefd[0]);
        return r;
    }
    if (pipefd[0] >= 0) {
        r = capture_until(pipefd[0], deadline, opts->out_max, &out);
        close(pipefd[0]);
    }
    r = reap(pid, deadline, r);
    if (r == 0 && ret_out)
        *ret_out = out ? TAKE_PTR(out) : strdup("");
    return r == 0 && ret_out && !*ret_out ? -ENOMEM : r;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

int agentd_remove_tree(const char *path)
{
    int r = nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);

    if (r < 0 && errno == ENOENT)
        return 0;
    return r < 0 ? -errno : r;
}
