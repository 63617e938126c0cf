/* The parsed form of a command line: what the parser (shellcmd-parse.c) hands the walk
 * (shellcmd.c). Internal to those two files. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "shellcmd.h"

enum {
    W_QUOTED = 1 << 0,  /* some of it was quoted or escaped */
    W_SUBST = 1 << 1,   /* holds a command or process substitution */
    W_PROCSUB = 1 << 2, /* holds a process substitution <( ) >( ) */
    W_ASSIGN = 1 << 3,  /* NAME=value or NAME+=value */
};

struct sh_word {
    char *text; /* after quote removal; expansions kept as written */
    unsigned flags;
};

struct sh_redir {
    int fd;
    enum osm_shellcmd_redir_op op;
    size_t target; /* index into strings */
};

/* A simple command: its words and redirections in the analysis's arrays. */
struct sh_cmd {
    size_t first_word, n_words;
    size_t first_redir, n_redirs;
    const char *function;  /* a string of the analysis, or NULL */
    unsigned flags, depth; /* OSM_SHELLCMD_* */
};

/* Everything found in one line and the lines nested in it; indices stay valid as it grows,
 * and texts never move. */
struct sh_analysis {
    struct sh_word *words; /* the words of the commands, each command's contiguous */
    size_t n_words, cap_words;
    struct sh_word *strings; /* redirection targets, here-document bodies, function names */
    size_t n_strings, cap_strings;
    struct sh_redir *redirs;
    size_t n_redirs, cap_redirs;
    struct sh_cmd *cmds;
    size_t n_cmds, cap_cmds;
    size_t n_made; /* words made, against OSM_SHELLCMD_WORDS_MAX */
};

/* Parses s (len bytes, no NUL) as a command line depth deep, inside function (or NULL), and
 * appends its commands to an. 0, or -EINVAL, -E2BIG, -ELOOP, -ENOMEM (see osm_shellcmd_walk). */
int osm_shellcmd_parse(struct sh_analysis *an, const char *s, size_t len, unsigned depth,
                       const char *function);
/* Frees what an holds (not an itself). */
void osm_shellcmd_analysis_free(struct sh_analysis *an);
/* Makes room for need more items of size bytes in the array *items of *cap, n used. */
int osm_shellcmd_reserve(void *items, size_t *cap, size_t n, size_t need, size_t size);
