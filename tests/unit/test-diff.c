/* lib/common/diff.c: exact unified output for small cases (GNU diff's format), and on random
 * pairs that applying the diff to the old text gives the new one, with a minimal script while
 * the edit distance is in bounds and a correct one past it; output caps cut at a line end. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diff.h"

static char *diff(const char *a, const char *b, size_t max, bool *cut)
{
    char *out = NULL;
    bool dummy;
    int r =
        osm_diff_unified(a, strlen(a), b, strlen(b), "old", "new", max, &out, cut ? cut : &dummy);

    cr_assert_eq(r, 0, "%d", r);
    return out;
}

static void expect_diff(const char *a, const char *b, const char *want)
{
    char *got = diff(a, b, 1 << 20, NULL);

    cr_expect_str_eq(got, want);
    free(got);
}

Test(diff, small_cases_in_gnu_format)
{
    expect_diff("a\nb\nc\n", "a\nb\nc\n", "");
    expect_diff("", "", "");
    expect_diff("a\nb\nc\n", "a\nB\nc\n", "--- old\n+++ new\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
    expect_diff("", "x\ny\n", "--- old\n+++ new\n@@ -0,0 +1,2 @@\n+x\n+y\n");
    expect_diff("x\ny\n", "", "--- old\n+++ new\n@@ -1,2 +0,0 @@\n-x\n-y\n");
    expect_diff("a\n", "a",
                "--- old\n+++ new\n@@ -1 +1 @@\n-a\n+a\n\\ No newline at end of file\n");
    expect_diff("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n",
                "--- old\n+++ new\n@@ -7,3 +7,4 @@\n 7\n 8\n 9\n+10\n");
}

Test(diff, hunks_merge_within_twice_the_context)
{
    const char *a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n17\n18\n19\n20\n";
    char *near = diff(a, "1\nX\n3\n4\n5\n6\n7\n8\nY\n10\n11\n12\n13\n14\n15\n16\n17\n18\n19\n20\n",
                      1 << 20, NULL);
    char *far = diff(a, "1\nX\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n17\nY\n19\n20\n",
                     1 << 20, NULL);

    cr_expect_str_eq(near, "--- old\n+++ new\n@@ -1,12 +1,12 @@\n 1\n-2\n+X\n 3\n 4\n 5\n 6\n 7\n "
                           "8\n-9\n+Y\n 10\n 11\n 12\n");
    cr_expect_str_eq(far, "--- old\n+++ new\n@@ -1,5 +1,5 @@\n 1\n-2\n+X\n 3\n 4\n 5\n@@ -15,6 "
                          "+15,6 @@\n 15\n 16\n 17\n-18\n+Y\n 19\n 20\n");
    free(near);
    free(far);
}

/* Applies a unified diff made by osm_diff_unified to old; NULL when it does not fit. */
static char *apply(const char *old, const char *patch)
{
    size_t cap = strlen(old) + strlen(patch) + 1, o = 0, oi = 0; /* oi: offset in old */
    char *out = calloc(1, cap);
    const char *p = strstr(patch, "@@");
    size_t line_no = 1;

    while (p && *p) {
        unsigned long os, ol, ns, nl;
        char o_range[32], n_range[32];
        if (sscanf(p, "@@ -%31s +%31s @@", o_range, n_range) != 2)
            return NULL;
        ol = nl = 1;
        sscanf(o_range, "%lu,%lu", &os, &ol);
        sscanf(n_range, "%lu,%lu", &ns, &nl);
        size_t start = ol ? os : os + 1;
        while (line_no < start) { /* copy unchanged lines */
            const char *nlp = strchr(old + oi, '\n');
            size_t len = nlp ? (size_t)(nlp - old - oi) + 1 : strlen(old + oi);
            memcpy(out + o, old + oi, len);
            o += len, oi += len, line_no++;
        }
        p = strchr(p, '\n') + 1;
        while (*p == ' ' || *p == '-' || *p == '+') {
            const char *end = strchr(p, '\n');
            size_t len = (size_t)(end - p) - 1;
            bool no_eol = strncmp(end + 1, "\\ No newline", 12) == 0;
            if (*p != '-') {
                memcpy(out + o, p + 1, len);
                o += len;
                if (!no_eol)
                    out[o++] = '\n';
            }
            if (*p != '+') {
                if (strncmp(old + oi, p + 1, len) != 0)
                    return NULL;
                oi += len + (no_eol ? 0 : 1), line_no++;
            }
            p = end + 1;
            if (no_eol)
                p = strchr(p, '\n') + 1;
        }
    }
    strcpy(out + o, old + oi);
    return out;
}

static char *random_text(unsigned *seed, int lines, int alphabet)
{
    char *t = calloc((size_t)lines * 4 + 2, 1);
    size_t n = 0;

    for (int i = 0; i < lines; i++) {
        t[n++] = (char)('a' + rand_r(seed) % alphabet);
        if (i < lines - 1 || rand_r(seed) % 2)
            t[n++] = '\n';
    }
    return t;
}

Test(diff, applying_the_diff_gives_the_new_text)
{
    unsigned seed = 12345;

    for (int round = 0; round < 400; round++) {
        int alphabet = round < 200 ? 3 : 26;
        char *a = random_text(&seed, rand_r(&seed) % 40, alphabet);
        char *b = random_text(&seed, rand_r(&seed) % 40, alphabet);
        char *d = diff(a, b, 1 << 20, NULL);
        char *back = apply(a, d);
        cr_assert_not_null(back, "round %d:\n%s", round, d);
        cr_assert_str_eq(back, b, "round %d:\n%s", round, d);
        free(a), free(b), free(d), free(back);
    }
}

Test(diff, past_the_edit_bound_still_correct)
{
    size_t n = OSM_DIFF_EDIT_MAX * 2;
    char *a = calloc(n * 8, 1), *b = calloc(n * 8, 1), *d, *back;

    for (size_t i = 0; i < n; i++) {
        sprintf(a + strlen(a), "a%zu\n", i);
        sprintf(b + strlen(b), "b%zu\n", i);
    }
    strcat(a, "same\n");
    strcat(b, "same\n");
    d = diff(a, b, 1 << 22, NULL);
    back = apply(a, d);
    cr_assert_not_null(back);
    cr_expect_str_eq(back, b);
    free(a), free(b), free(d), free(back);
}

Test(diff, output_cap_cuts_at_a_line_end)
{
    bool cut = false;
    char *d = diff("a\nb\nc\n", "x\ny\nz\n", 30, &cut);

    cr_expect(cut);
    cr_expect_lt(strlen(d), 30);
    cr_expect_eq(d[strlen(d) - 1], '\n');
    free(d);
    d = diff("a\n", "b\n", 4096, &cut);
    cr_expect_not(cut);
    free(d);
    char *out = NULL;
    cr_expect_eq(osm_diff_unified("a", 1, "b", 1, "o", "n", 0, &out, &cut), -EINVAL);
}

Test(diff, too_many_lines_refused)
{
    size_t n = OSM_DIFF_LINES_MAX + 1;
    char *a = malloc(n + 1), *out = NULL;
    bool cut;

    memset(a, '\n', n);
    a[n] = '\0';
    cr_expect_eq(osm_diff_unified(a, n, "x\n", 2, "o", "n", 4096, &out, &cut), -E2BIG);
    cr_expect_null(out);
    free(a);
}
