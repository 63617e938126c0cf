/* SafeSwitch files backend round trip: N files of SIZE bytes in DIR are switched to new content
 * and rolled back (prepare + apply + rollback of the real backend: snapshot into the store,
 * temp file, fsync, rename, fsync of the directory, and the same back), ROUNDS times. Prints
 * {"files":N,"rounds":R,"median_ms":M,"min_ms":m} for bench/switch-files. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/fileio.h"
#include "switch-backend.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static json_t *make_plan(const char *dir, int n, size_t size)
{
    json_t *files = json_object();
    char *content = malloc(size + 1);

    for (size_t i = 0; i < size; i++)
        content[i] = (i % 64 == 63) ? '\n' : (char)('a' + i % 26);
    content[size] = '\0';
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/f%03d.conf", dir, i);
        if (osm_write_file_atomic(path, content, size, 0644) < 0)
            return NULL;
        content[0] = 'B'; /* the new content differs in its first byte */
        json_object_set_new(files, path, json_string(content));
        content[0] = 'a';
    }
    free(content);
    return json_pack("{s:s, s:o}", "backend", "files", "files", files);
}

int main(int argc, char **argv)
{
    char store[4096], err[512] = "";
    json_t *plan;
    double *ms;
    int n, rounds;

    if (argc != 5)
        return fprintf(stderr, "usage: switch_files DIR FILES SIZE ROUNDS\n"), 2;
    n = atoi(argv[2]);
    rounds = atoi(argv[4]);
    snprintf(store, sizeof(store), "%s/store", argv[1]);
    struct switch_env env = {.store_dir = store};
    if (n < 1 || n > SWITCH_FILES_MAX || rounds < 1 ||
        !(plan = make_plan(argv[1], n, (size_t)atol(argv[3]))) || !(ms = calloc(rounds, 8)))
        return fprintf(stderr, "switch_files: bad arguments or setup failed\n"), 1;
    for (int r = 0; r < rounds; r++) {
        json_t *record = NULL;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        if (switch_backend_files.prepare(&env, plan, &record, err, sizeof(err)) < 0 ||
            switch_backend_files.apply(&env, plan, record, err, sizeof(err)) < 0 ||
            switch_backend_files.rollback(&env, plan, record, err, sizeof(err)) < 0)
            return fprintf(stderr, "switch_files: %s\n", err), 1;
        clock_gettime(CLOCK_MONOTONIC, &b);
        ms[r] = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
        json_decref(record);
    }
    qsort(ms, rounds, sizeof(*ms), cmp);
    printf("{\"files\":%d,\"rounds\":%d,\"median_ms\":%.3f,\"min_ms\":%.3f}\n", n, rounds,
           ms[rounds / 2], ms[0]);
    json_decref(plan);
    free(ms);
    return 0;
}
