/* Small file helpers: capped reads, atomic writes, directory creation, path checks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Reads the whole file into a NUL-terminated heap buffer. -EFBIG past max bytes. */
int osm_read_file(const char *path, size_t max, char **ret_data, size_t *ret_len);
/* The same from an open fd, read to its end (the fd stays open). */
int osm_read_fd(int fd, size_t max, char **ret_data, size_t *ret_len);
/* Reads a secret (key, token) of at most size - 1 bytes into buf, NUL-terminated: refuses a
 * symlink (-ELOOP), anything but a regular file (-EINVAL), a file group or others may access
 * (-EPERM) and a longer file (-EFBIG). The caller wipes buf. */
int osm_read_secret_file(const char *path, char *buf, size_t size, size_t *ret_len);
/* Writes all of data to fd (retrying short writes and EINTR): 0 or -errno. */
int osm_write_all(int fd, const void *data, size_t len);
/* Writes data to path through a temporary file, fsync and rename, with the given mode. */
int osm_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* The same without fsync: readers see the old file or the new one, never a part, and a crash of
 * the writer loses nothing; a power loss may. For records other processes read back soon (a
 * job's .run and .exit files), not for state that must outlive the machine. */
int osm_replace_file(const char *path, const void *data, size_t len, mode_t mode);
/* Appends data to path (created with mode if missing) and fsyncs it. */
int osm_append_file_sync(const char *path, const void *data, size_t len, mode_t mode);
/* mkdir -p with mode for each created component. */
int osm_mkdir_p(const char *path, mode_t mode);
/* True when name is one plain file name: non-empty, no '/', not "." or "..", no NUL/control. */
bool osm_filename_valid(const char *name);
/* Joins dir and name into a new string (NULL on ENOMEM). */
char *osm_path_join(const char *dir, const char *name);
