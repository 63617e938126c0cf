/* lib/policy/preview.c: what the approver of a host write sees: a new file's head with the mode
 * and owner it will get, the diff against the current file (replace and append), binary content
 * summarised, bounds marked truncated, and terminal control sequences and bidirectional
 * overrides escaped wherever the agent's bytes are shown. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/utf8.h"
#include "policy/preview.h"

/* A memfd holding text, as the current file. */
static int current(const char *text, size_t len, mode_t mode, struct stat *st)
{
    int fd = memfd_create("current", 0);

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, len), (ssize_t)len);
    cr_assert_eq(fchmod(fd, mode), 0);
    cr_assert_eq(fstat(fd, st), 0);
    return fd;
}

static json_t *build(const struct osm_preview_input *in)
{
    json_t *p = NULL;

    cr_assert_eq(osm_preview_build(in, &p), 0);
    cr_assert_not_null(p);
    return p;
}

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* Every byte a terminal would act on is gone from s. */
static void expect_inert(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        cr_expect(*p >= 0x20 || *p == '\n' || *p == '\t', "raw control byte 0x%02x", *p);
    cr_expect_null(strstr(s, "\xe2\x80\xae"), "raw U+202E");
    cr_expect_null(strstr(s, "\xc2\x9b"), "raw CSI (U+009B)");
    cr_expect(osm_utf8_valid(s, strlen(s)));
}

Test(preview, new_file_head_mode_owner_and_dirs)
{
    const char *dirs[] = {"/etc/new", "/etc/new/sub"};
    struct osm_preview_input in = {.target = "/etc/new/sub/job",
                                   .fd = -1,
                                   .uid = 0,
                                   .gid = 4,
                                   .mode = 0644,
                                   .create_dirs = dirs,
                                   .n_create_dirs = 2,
                                   .content = "* * * * * root /bin/true\n",
                                   .len = 25};
    json_t *p = build(&in);

    cr_expect_str_eq(str(p, "target"), "/etc/new/sub/job");
    cr_expect_str_eq(str(p, "action"), "create");
    cr_expect_str_eq(str(p, "mode"), "0644");
    cr_expect_eq(json_integer_value(json_object_get(p, "gid")), 4);
    cr_expect_eq(json_integer_value(json_object_get(p, "size_after")), 25);
    cr_expect_str_eq(str(p, "head"), "* * * * * root /bin/true\n");
    cr_expect_null(json_object_get(p, "diff"));
    cr_expect_null(json_object_get(p, "size_before"));
    cr_expect(json_is_false(json_object_get(p, "truncated")));
    cr_expect(json_is_false(json_object_get(p, "binary")));
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(p, "create_dirs"), 1)),
                     "/etc/new/sub");
    json_decref(p);
}

Test(preview, long_new_file_head_is_bounded)
{
    size_t len = OSM_PREVIEW_HEAD_LINES * 3 * 10;
    char *text = malloc(len + 1);
    struct osm_preview_input in = {.target = "/x", .fd = -1, .mode = 0644};
    json_t *p;
    size_t lines = 0;

    for (size_t i = 0; i < len; i++)
        text[i] = i % 10 == 9 ? '\n' : 'a';
    text[len] = '\0';
    in.content = text;
    in.len = len;
    p = build(&in);
    for (const char *c = str(p, "head"); *c; c++)
        lines += *c == '\n';
    cr_expect_eq(lines, OSM_PREVIEW_HEAD_LINES);
    cr_expect(json_is_true(json_object_get(p, "truncated")));
    json_decref(p);
    free(text);
}

Test(preview, replace_and_append_show_the_diff_with_the_current_mode)
{
    struct osm_preview_input in = {.target = "/etc/app.conf", .content = "a=1\nb=3\n", .len = 8};
    json_t *p;

    in.fd = current("a=1\nb=2\n", 8, 04755, &in.st);
    p = build(&in);
    cr_expect_str_eq(str(p, "action"), "replace");
    cr_expect_str_eq(str(p, "mode"), "4755", "the setuid bit is shown");
    cr_expect_eq(json_integer_value(json_object_get(p, "size_before")), 8);
    cr_expect_str_eq(str(p, "diff"), "--- /etc/app.conf\n+++ /etc/app.conf (proposed)\n"
                                     "@@ -1,2 +1,2 @@\n a=1\n-b=2\n+b=3\n");
    cr_expect(json_is_false(json_object_get(p, "identical")));
    json_decref(p);
    in.append = true;
    in.content = "c=4\n";
    in.len = 4;
    p = build(&in);
    cr_expect_str_eq(str(p, "action"), "append");
    cr_expect_eq(json_integer_value(json_object_get(p, "size_after")), 12);
    cr_expect_str_eq(str(p, "diff"), "--- /etc/app.conf\n+++ /etc/app.conf (proposed)\n"
                                     "@@ -1,2 +1,3 @@\n a=1\n b=2\n+c=4\n");
    json_decref(p);
    in.append = false;
    in.content = "a=1\nb=2\n";
    in.len = 8;
    p = build(&in);
    cr_expect(json_is_true(json_object_get(p, "identical")));
    cr_expect_str_eq(str(p, "diff"), "");
    json_decref(p);
    close(in.fd);
}

Test(preview, binary_is_summarised_not_dumped)
{
    static const char bin[] = "ELF\0\1\2\3secret-bytes";
    struct osm_preview_input in = {
        .target = "/usr/local/bin/tool", .fd = -1, .mode = 0644, .content = bin, .len = 19};
    json_t *p = build(&in);

    cr_expect(json_is_true(json_object_get(p, "binary")));
    cr_expect_not_null(strstr(str(p, "summary"), "19 bytes"));
    cr_expect_not_null(strstr(str(p, "summary"), "sha256 "));
    cr_expect_null(json_object_get(p, "head"));
    cr_expect_null(json_object_get(p, "diff"));
    json_decref(p);
    /* a binary current file replaced by text: summarised too, the new text's head shown */
    in.fd = current(bin, sizeof(bin) - 1, 0755, &in.st);
    in.content = "#!/bin/sh\n";
    in.len = 10;
    p = build(&in);
    cr_expect(json_is_true(json_object_get(p, "binary")));
    cr_expect_null(json_object_get(p, "diff"));
    cr_expect_str_eq(str(p, "head"), "#!/bin/sh\n");
    json_decref(p);
    close(in.fd);
}

Test(preview, control_sequences_and_bidi_overrides_escaped)
{
    const char *evil = "ok\n\x1b[2K\x1b[1A\rinnocent\n\xe2\x80\xae"
                       "txt.exe\n\xc2\x9b"
                       "31m\x07\n";
    struct osm_preview_input in = {.target = "/etc/x", .content = evil, .len = strlen(evil)};
    json_t *p;

    in.fd = -1;
    p = build(&in);
    expect_inert(str(p, "head"));
    cr_expect_not_null(strstr(str(p, "head"), "\\x1b[2K\\x1b[1A\\x0dinnocent"));
    cr_expect_not_null(strstr(str(p, "head"), "\\u202etxt.exe"));
    cr_expect_not_null(strstr(str(p, "head"), "\\u009b31m\\x07"));
    json_decref(p);
    in.fd = current("ok\n", 3, 0644, &in.st);
    p = build(&in);
    expect_inert(str(p, "diff"));
    cr_expect_not_null(strstr(str(p, "diff"), "+\\x1b[2K"));
    json_decref(p);
    close(in.fd);
}

Test(preview, long_lines_and_large_files)
{
    size_t len = OSM_PREVIEW_LINE_MAX + 100;
    char *line = malloc(len + 2);
    struct osm_preview_input in = {.target = "/x", .fd = -1, .mode = 0600};
    json_t *p;
    char *big;

    memset(line, 'q', len);
    line[len] = '\n';
    line[len + 1] = '\0';
    in.content = line;
    in.len = len + 1;
    p = build(&in);
    cr_expect_not_null(strstr(str(p, "head"), "…[+100 bytes]"));
    json_decref(p);
    big = malloc(OSM_PREVIEW_OLD_MAX + 10);
    memset(big, 'z', OSM_PREVIEW_OLD_MAX + 10);
    in.fd = current(big, OSM_PREVIEW_OLD_MAX + 10, 0644, &in.st);
    p = build(&in);
    cr_expect_null(json_object_get(p, "diff"));
    cr_expect_not_null(strstr(str(p, "summary"), "too large to compare"));
    cr_expect_not_null(json_object_get(p, "head"), "the new content is still shown");
    json_decref(p);
    close(in.fd);
    free(big);
    free(line);
}

Test(preview, target_shown_escaped_and_named_exactly_by_its_hash)
{
    struct osm_preview_input in = {
        .target = "/etc/cron.d/a\x1b[2Kb\nc", .fd = -1, .mode = 0644, .content = "", .len = 0};
    char want[65];
    json_t *p = build(&in);

    cr_expect_str_eq(str(p, "target"), "/etc/cron.d/a\\x1b[2Kb?c");
    osm_preview_target_hash(in.target, want);
    cr_expect_str_eq(str(p, "target_sha256"), want);
    cr_expect_eq(strlen(want), 64);
    osm_preview_target_hash("/etc/cron.d/a\\x1b[2Kb?c", want);
    cr_expect_str_neq(str(p, "target_sha256"), want, "what is shown is not what is compared");
    json_decref(p);
}

Test(preview, not_a_regular_file)
{
    struct osm_preview_input in = {.target = "/dev/sda", .content = "x", .len = 1};
    json_t *p;

    in.fd = open("/", O_RDONLY | O_DIRECTORY);
    cr_assert_geq(in.fd, 0);
    cr_assert_eq(fstat(in.fd, &in.st), 0);
    p = build(&in);
    cr_expect_str_eq(str(p, "error"), "not_a_regular_file");
    json_decref(p);
    close(in.fd);
}

Test(preview, escape_caps_whole_lines)
{
    bool cut = false;
    char *s = osm_preview_escape("aaaa\nbbbb\ncccc\n", 15, 11, &cut);

    cr_expect_str_eq(s, "aaaa\nbbbb\n");
    cr_expect(cut);
    free(s);
    s = osm_preview_escape("\xff\xfe", 2, 100, &cut);
    cr_expect_str_eq(s, "\\xff\\xfe", "invalid UTF-8 shown as bytes");
    cr_expect_not(cut);
    free(s);
}
