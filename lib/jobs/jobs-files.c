/* The files a runner leaves in the jobs directory: <id>.run while it runs (its pid, start time
 * and cgroups), <id>.out (merged output) and <id>.exit (the exit record, written atomically
 * before the runner ends). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "common/utf8.h"
#include "jobs-internal.h"
#include "sandbox/sandbox.h"

#define JOB_FILE_MAX 65536 /* .run and .exit records */

char *jobs_file(const struct osm_jobs *j, const char *id, const char *ext)
{
    char *p = NULL;

    return asprintf(&p, "%s/%s.%s", j->jobs_dir, id, ext) < 0 ? NULL : p;
}

json_t *jobs_file_json(const struct osm_jobs *j, const char *id, const char *ext)
{
    _cleanup_free_ char *path = jobs_file(j, id, ext);
    _cleanup_free_ char *text = NULL;

    if (!path || osm_read_file(path, JOB_FILE_MAX, &text, NULL) < 0)
        return NULL;
    return json_loads(text, 0, NULL);
}

int jobs_finish_from_exit(struct osm_jobs *j, const char *id)
{
    json_t *ex = jobs_file_json(j, id, "exit");
    const char *status;
    int r;

    if (!ex)
        return -EAGAIN;
    status = jobs_row_str(ex, "status");
    r = jobs_finish(j, id, status ? status : "failed", json_object_get(ex, "exit_code"),
                    jobs_row_str(ex, "error"), jobs_row_str(ex, "message"), ex);
    json_decref(ex);
    return r;
}

void jobs_kill_orphans(struct osm_jobs *j, const char *id)
{
    json_t *run = jobs_file_json(j, id, "run");
    json_t *cgj = json_object_get(run, "cgroup");
    struct osm_cgroup cg = {0};

    if (json_is_object(cgj)) {
        cg.memory = (char *)jobs_row_str(cgj, "memory");
        cg.pids = (char *)jobs_row_str(cgj, "pids");
        cg.cpu = (char *)jobs_row_str(cgj, "cpu");
        cg.freezer = (char *)jobs_row_str(cgj, "freezer");
        cg.unified = (char *)jobs_row_str(cgj, "unified");
        const char *dirs[] = {cg.memory, cg.pids, cg.cpu, cg.freezer, cg.unified};
        (void)osm_cgroup_kill(&cg);
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
            if (dirs[i])
                (void)rmdir(dirs[i]);
    }
    json_decref(run);
}

int jobs_read_output(const struct osm_jobs *j, const char *id, int64_t offset, json_t *o)
{
    _cleanup_free_ char *path = jobs_file(j, id, "out");
    _cleanup_close_ int fd = -1;
    _cleanup_free_ char *buf = NULL;
    struct stat st;
    int64_t size = 0, start;
    ssize_t n = 0;

    if (!path)
        return -ENOMEM;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0 && fstat(fd, &st) == 0)
        size = st.st_size;
    start = offset < 0 ? (size > OSM_JOB_OUTPUT_WINDOW ? size - OSM_JOB_OUTPUT_WINDOW : 0)
                       : (offset > size ? size : offset);
    buf = malloc(OSM_JOB_OUTPUT_WINDOW + 1);
    if (!buf)
        return -ENOMEM;
    if (fd >= 0 && size > start) {
        n = pread(fd, buf, OSM_JOB_OUTPUT_WINDOW, start);
        if (n < 0)
            n = 0;
    }
    buf[n] = '\0';
    osm_utf8_scrub(buf, (size_t)n);
    json_object_set_new(o, "output", json_stringn(buf, (size_t)n));
    json_object_set_new(o, "output_offset", json_integer(start));
    json_object_set_new(o, "next_offset", json_integer(start + n));
    json_object_set_new(o, "output_size", json_integer(size));
    json_object_set_new(o, "output_more", json_boolean(start + n < size));
    return 0;
}
