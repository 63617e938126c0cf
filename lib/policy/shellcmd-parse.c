/* The shell-command analyser's lexer and recursive-descent parser: they flatten a command line
 * into simple commands (words after quote removal, redirections, here-document bodies), the
 * contents of substitutions included. Nothing is executed or expanded. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "shellcmd-parse.h"

/* ---- the parsed form ------------------------------------------------------------------- */

/* Makes room for need more items in *items. */
int osm_shellcmd_reserve(void *items, size_t *cap, size_t n, size_t need, size_t size)
{
    void **p = items, *grown;
    size_t want = *cap ? *cap : 16;

    if (n + need <= *cap)
        return 0;
    while (want < n + need)
        want *= 2;
    grown = reallocarray(*p, want, size);
    if (!grown)
        return -ENOMEM;
    *p = grown;
    *cap = want;
    return 0;
}

void osm_shellcmd_analysis_free(struct sh_analysis *an)
{
    for (size_t i = 0; i < an->n_words; i++)
        free(an->words[i].text);
    for (size_t i = 0; i < an->n_strings; i++)
        free(an->strings[i].text);
    free(an->words);
    free(an->strings);
    free(an->redirs);
    free(an->cmds);
}

/* Takes text (also on failure); *ret gets its index in strings. */
static int string_add(struct sh_analysis *an, char *text, unsigned flags, size_t *ret)
{
    if (!text || osm_shellcmd_reserve(&an->strings, &an->cap_strings, an->n_strings, 1,
                                      sizeof(struct sh_word))) {
        free(text);
        return -ENOMEM;
    }
    an->strings[an->n_strings] = (struct sh_word){text, flags};
    *ret = an->n_strings++;
    return 0;
}

static void mark(struct sh_analysis *an, size_t from, unsigned flags)
{
    for (size_t i = from; i < an->n_cmds; i++)
        an->cmds[i].flags |= flags;
}

/* ---- text buffers ----------------------------------------------------------------------- */

/* A growing string; a NULL buffer swallows what is put (for scanning without keeping). */
struct text {
    char *s;
    size_t n, cap;
};

static int text_put(struct text *t, const char *s, size_t n)
{
    char *grown;
    size_t want;

    if (!t)
        return 0;
    if (t->n + n + 1 > t->cap) {
        want = t->cap ? t->cap : 32;
        while (want < t->n + n + 1)
            want *= 2;
        if (want > 4 * (size_t)OSM_SHELLCMD_LEN_MAX)
            return -E2BIG;
        if (!(grown = realloc(t->s, want)))
            return -ENOMEM;
        t->s = grown;
        t->cap = want;
    }
    memcpy(t->s + t->n, s, n);
    t->n += n;
    t->s[t->n] = '\0';
    return 0;
}

static int text_putc(struct text *t, char c)
{
    return text_put(t, &c, 1);
}

/* Hands the string out ("" when nothing was put); NULL on ENOMEM. */
static char *text_take(struct text *t)
{
    char *s = t->s ? t->s : strdup("");

    *t = (struct text){0};
    return s;
}

static bool in_set(const char *set, char c)
{
    return c != '\0' && strchr(set, c) != NULL;
}

static bool is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

/* ---- the lexer -------------------------------------------------------------------------- */

enum tok_kind {
    T_EOF,
    T_NEWLINE,
    T_SEMI,
    T_AMP,
    T_AND,
    T_OR,
    T_PIPE,
    T_PIPE_AMP,
    T_LPAREN,
    T_RPAREN,
    T_DSEMI, /* ;; ;& ;;& */
    T_REDIR,
    T_WORD,
};

struct token {
    enum tok_kind kind;
    struct sh_word word; /* T_WORD, owned by the token until taken */
    int fd;              /* T_REDIR */
    enum osm_shellcmd_redir_op op;
    bool strip_tabs; /* T_REDIR <<- */
};

struct heredoc {
    size_t body; /* index into strings */
    char *delim;
    bool strip_tabs, expand;
};

struct lexer {
    struct sh_analysis *an;
    const char *s;
    size_t len, pos;
    unsigned depth;
    const char *function; /* the function whose body is being read */
    struct heredoc pending[OSM_SHELLCMD_HEREDOCS_MAX];
    size_t n_pending;
    struct token tok;
    bool peeked;
};

/* Where a list of commands ends. */
enum { STOP_EOF = 1, STOP_RPAREN = 2, STOP_BRACE = 4, STOP_CASE = 8 };

static int parse_list(struct lexer *lx, unsigned stop);
static void consume(struct lexer *lx);
static int lex_dquote(struct lexer *lx, struct text *t, unsigned *flags);
static int lex_dollar(struct lexer *lx, struct text *t, unsigned *flags, bool in_dq);

static void lexer_done(struct lexer *lx)
{
    if (lx->peeked && lx->tok.kind == T_WORD)
        free(lx->tok.word.text);
    lx->peeked = false;
    for (size_t i = 0; i < lx->n_pending; i++)
        free(lx->pending[i].delim);
    lx->n_pending = 0;
}

static char lx_at(const struct lexer *lx, size_t off)
{
    return lx->pos + off < lx->len ? lx->s[lx->pos + off] : '\0';
}

static bool lx_starts(const struct lexer *lx, const char *s)
{
    size_t n = strlen(s);

    return lx->len - lx->pos >= n && memcmp(lx->s + lx->pos, s, n) == 0;
}

static int nest_in(struct lexer *lx)
{
    if (lx->depth >= OSM_SHELLCMD_DEPTH_MAX)
        return -ELOOP;
    lx->depth++;
    return 0;
}

static int lex_squote(struct lexer *lx, struct text *t, unsigned *flags)
{
    const char *end = memchr(lx->s + lx->pos + 1, '\'', lx->len - lx->pos - 1);
    size_t start = lx->pos + 1;

    if (!end)
        return -EINVAL;
    *flags |= W_QUOTED;
    lx->pos = (size_t)(end - lx->s) + 1;
    return text_put(t, lx->s + start, lx->pos - 1 - start);
}

/* Appends code point u as UTF-8. */
static int put_utf8(struct text *t, uint32_t u)
{
    char b[4];

    if (u < 0x80)
        return text_putc(t, (char)u);
    if (u < 0x800) {
        b[0] = (char)(0xC0 | u >> 6), b[1] = (char)(0x80 | (u & 0x3F));
        return text_put(t, b, 2);
    }
    if (u < 0x10000) {
        b[0] = (char)(0xE0 | u >> 12), b[1] = (char)(0x80 | (u >> 6 & 0x3F));
        b[2] = (char)(0x80 | (u & 0x3F));
        return text_put(t, b, 3);
    }
    if (u > 0x10FFFF)
        return 0;
    b[0] = (char)(0xF0 | u >> 18), b[1] = (char)(0x80 | (u >> 12 & 0x3F));
    b[2] = (char)(0x80 | (u >> 6 & 0x3F)), b[3] = (char)(0x80 | (u & 0x3F));
    return text_put(t, b, 4);
}

/* Reads up to max digits of base at lx->pos into *ret; returns how many. */
static int read_digits(struct lexer *lx, unsigned base, int max, uint32_t *ret)
{
    int n = 0;

    *ret = 0;
    for (; n < max && lx->pos < lx->len; n++, lx->pos++) {
        char c = lx->s[lx->pos];
        unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 99;
        if (d >= base)
            break;
        *ret = *ret * base + d;
    }
    return n;
}

/* One escape of $'...' (lx->pos after the backslash). A NUL ends the string, as in bash. */
static int ansi_c_escape(struct lexer *lx, struct text *t, bool *cut)
{
    static const char from[] = "abeEfnrtv\\'\"?", to[] = "\a\b\033\033\f\n\r\t\v\\'\"?";
    char e = lx->s[lx->pos++];
    uint32_t v = 0;

    if (in_set(from, e))
        return text_putc(t, to[strchr(from, e) - from]);
    if (e >= '0' && e <= '7') {
        lx->pos--;
        read_digits(lx, 8, 3, &v);
    } else if (e == 'x' || e == 'u' || e == 'U') {
        if (read_digits(lx, 16, e == 'x' ? 2 : e == 'u' ? 4 : 8, &v) == 0)
            return text_put(t, (char[]){'\\', e}, 2);
    } else if (e == 'c' && lx->pos < lx->len) {
        v = (uint32_t)(lx->s[lx->pos++] & 0x1F);
    } else {
        return text_put(t, (char[]){'\\', e}, 2);
    }
    if (e != 'u' && e != 'U')
        v &= 0xFF;
    if (v == 0) {
        *cut = true;
        return 0;
    }
    return e == 'u' || e == 'U' ? put_utf8(t, v) : text_putc(t, (char)v);
}

/* $'...': ANSI-C quoting. */
static int lex_ansi_c(struct lexer *lx, struct text *t, unsigned *flags)
{
    bool cut = false;
    int r = 0;

    *flags |= W_QUOTED;
    lx->pos += 2;
    while (r == 0) {
        char c = lx_at(lx, 0);
        if (lx->pos >= lx->len)
            return -EINVAL;
        if (c == '\'') {
            lx->pos++;
            return 0;
        }
        if (c == '\\' && lx->pos + 1 < lx->len) {
            lx->pos++;
            r = ansi_c_escape(lx, cut ? NULL : t, &cut);
        } else {
            r = cut ? 0 : text_putc(t, c);
            lx->pos++;
        }
    }
    return r;
}

/* $( ), <( ) and >( ): the commands inside, then the raw text into the word. The commands of
 * >( ) read what the outer command writes there. */
static int lex_subst(struct lexer *lx, struct text *t, unsigned *flags, unsigned extra)
{
    size_t start = lx->pos, from = lx->an->n_cmds;
    bool reads = lx->s[start] == '>';
    int r;

    if ((r = nest_in(lx)) < 0)
        return r;
    lx->pos += 2;
    r = parse_list(lx, STOP_RPAREN);
    if (r == 0 && lx->tok.kind != T_RPAREN) /* parse_list left its stop peeked */
        r = -EINVAL;
    consume(lx);
    lx->depth--;
    if (r < 0)
        return r;
    if (reads)
        mark(lx->an, from, OSM_SHELLCMD_PIPE_IN);
    *flags |= W_SUBST | extra;
    return text_put(t, lx->s + start, lx->pos - start);
}

/* `...`: the inner text with its backslashes undone is a command line of its own. */
static int lex_backtick(struct lexer *lx, struct text *t, unsigned *flags, bool in_dq)
{
    struct text inner = {0};
    size_t start = lx->pos++;
    int r = 0;

    while (r == 0 && lx->pos < lx->len && lx->s[lx->pos] != '`') {
        char n = lx_at(lx, 1);
        if (lx->s[lx->pos] == '\\' && (in_set("`\\$", n) || (in_dq && n == '"')))
            lx->pos++;
        r = text_putc(&inner, lx->s[lx->pos++]);
    }
    if (r == 0 && lx->pos >= lx->len)
        r = -EINVAL;
    if (r == 0) {
        lx->pos++;
        r = osm_shellcmd_parse(lx->an, inner.s ? inner.s : "", inner.n, lx->depth + 1,
                               lx->function);
    }
    free(inner.s);
    if (r < 0)
        return r;
    *flags |= W_SUBST;
    return text_put(t, lx->s + start, lx->pos - start);
}

/* Skips what a quoted or substituted part holds, for ${...}, $((...)) and arrays: the
 * substitutions inside are still parsed. Returns 1 when lx->pos was not at such a part. */
static int skip_part(struct lexer *lx, unsigned *flags, bool in_dq)
{
    char c = lx->s[lx->pos];

    if (c == '\\') {
        lx->pos += lx->pos + 1 < lx->len ? 2 : 1;
        return 0;
    }
    if (c == '\'' && !in_dq)
        return lex_squote(lx, NULL, flags);
    if (c == '"')
        return lex_dquote(lx, NULL, flags);
    if (c == '$')
        return lex_dollar(lx, NULL, flags, in_dq);
    if (c == '`')
        return lex_backtick(lx, NULL, flags, in_dq);
    return 1;
}

/* ${...}. */
static int lex_braced(struct lexer *lx, struct text *t, unsigned *flags, bool in_dq)
{
    size_t start = lx->pos;
    int r;

    if ((r = nest_in(lx)) < 0)
        return r;
    lx->pos += 2;
    for (r = 0; r >= 0 && lx->pos < lx->len && lx->s[lx->pos] != '}';)
        if ((r = skip_part(lx, flags, in_dq)) == 1)
            lx->pos++;
    lx->depth--;
    if (r < 0)
        return r;
    if (lx->pos >= lx->len)
        return -EINVAL;
    lx->pos++;
    return text_put(t, lx->s + start, lx->pos - start);
}

/* At "$((": true when the parentheses close as "))", so that it is arithmetic and not
 * "$( (...) )". A scan of quotes and parentheses only, so that trying costs no parse. */
static bool arith_closes(const struct lexer *lx)
{
    const char *s = lx->s;
    size_t i = lx->pos + 3, len = lx->len;
    int parens = 0;

    while (i < len) {
        char c = s[i++];
        if (c == '\\') {
            i++;
        } else if (c == '\'' || c == '"') {
            while (i < len && s[i] != c)
                i += c == '"' && s[i] == '\\' ? 2 : 1;
            i++;
        } else if (c == '(') {
            parens++;
        } else if (c == ')' && parens-- == 0) {
            return i < len && s[i] == ')';
        }
    }
    return false;
}

/* $((...)). */
static int lex_arith(struct lexer *lx, struct text *t, unsigned *flags)
{
    size_t start = lx->pos;
    int parens = 0, r = 0;

    if ((r = nest_in(lx)) < 0)
        return r;
    lx->pos += 3;
    while (r >= 0 && lx->pos < lx->len) {
        char c = lx->s[lx->pos];
        if (c == ')' && parens == 0)
            break;
        if (c == '(' || c == ')') {
            parens += c == '(' ? 1 : -1;
            lx->pos++;
        } else if ((r = skip_part(lx, flags, false)) == 1) {
            lx->pos++;
        }
    }
    lx->depth--;
    if (r < 0)
        return r;
    if (lx->pos + 1 >= lx->len || lx->s[lx->pos + 1] != ')')
        return -EINVAL;
    lx->pos += 2;
    return text_put(t, lx->s + start, lx->pos - start);
}

/* NAME=( ... ): a bash array, kept as text. */
static int lex_array(struct lexer *lx, struct text *t, unsigned *flags)
{
    size_t start = lx->pos++;
    int r = 0;

    while (r >= 0 && lx->pos < lx->len && lx->s[lx->pos] != ')')
        if ((r = skip_part(lx, flags, false)) == 1)
            lx->pos++;
    if (r < 0)
        return r;
    if (lx->pos >= lx->len)
        return -EINVAL;
    lx->pos++;
    return text_put(t, lx->s + start, lx->pos - start);
}

/* At a '$'. */
static int lex_dollar(struct lexer *lx, struct text *t, unsigned *flags, bool in_dq)
{
    char n = lx_at(lx, 1);
    size_t start = lx->pos;

    if (n == '\'' && !in_dq)
        return lex_ansi_c(lx, t, flags);
    if (n == '"' && !in_dq) {
        lx->pos++;
        return lex_dquote(lx, t, flags);
    }
    if (n == '(' && lx_at(lx, 2) == '(' && arith_closes(lx))
        return lex_arith(lx, t, flags);
    if (n == '(')
        return lex_subst(lx, t, flags, 0);
    if (n == '{')
        return lex_braced(lx, t, flags, in_dq);
    lx->pos++;
    if (is_name_start(n))
        while (lx->pos < lx->len && is_name_char(lx->s[lx->pos]))
            lx->pos++;
    else if ((n >= '0' && n <= '9') || in_set("@*#?$!-", n))
        lx->pos++;
    return text_put(t, lx->s + start, lx->pos - start);
}

/* "...". */
static int lex_dquote(struct lexer *lx, struct text *t, unsigned *flags)
{
    int r = 0;

    *flags |= W_QUOTED;
    lx->pos++;
    while (r == 0) {
        char c = lx_at(lx, 0), n = lx_at(lx, 1);
        if (lx->pos >= lx->len)
            return -EINVAL;
        if (c == '"') {
            lx->pos++;
            return 0;
        }
        if (c == '\\' && in_set("$`\"\\\n", n)) {
            r = n == '\n' ? 0 : text_putc(t, n);
            lx->pos += 2;
        } else if (c == '$') {
            r = lex_dollar(lx, t, flags, true);
        } else if (c == '`') {
            r = lex_backtick(lx, t, flags, true);
        } else {
            r = text_putc(t, c);
            lx->pos++;
        }
    }
    return r;
}

static bool is_meta(char c)
{
    return in_set(" \t\n;&|()<>", c);
}

/* Tracks whether the word so far is NAME or NAME+ (so that '=' makes an assignment). */
enum name_state { NAME_START, NAME_CHARS, NAME_PLUS, NAME_NO };

static enum name_state name_next(enum name_state s, char c)
{
    if (s == NAME_START)
        return is_name_start(c) ? NAME_CHARS : NAME_NO;
    if (s == NAME_CHARS)
        return is_name_char(c) ? NAME_CHARS : c == '+' ? NAME_PLUS : NAME_NO;
    return NAME_NO;
}

/* An unquoted character outside any quoting or substitution. */
static int lex_plain(struct lexer *lx, struct text *t, unsigned *flags, enum name_state *name,
                     size_t *assign_end)
{
    char c = lx->s[lx->pos++];

    if (c == '=' && !(*flags & W_ASSIGN) && (*name == NAME_CHARS || *name == NAME_PLUS)) {
        *flags |= W_ASSIGN;
        *assign_end = t->n + 1;
    }
    *name = name_next(*name, c);
    return text_putc(t, c);
}

static int lex_word(struct lexer *lx, struct sh_word *ret)
{
    struct text t = {0};
    enum name_state name = NAME_START;
    size_t assign_end = SIZE_MAX;
    unsigned flags = 0;
    int r = 0;

    while (r == 0 && lx->pos < lx->len) {
        char c = lx->s[lx->pos], n = lx_at(lx, 1);
        if ((c == '<' || c == '>') && n == '(')
            r = lex_subst(lx, &t, &flags, W_PROCSUB);
        else if (c == '(' && t.n == assign_end)
            r = lex_array(lx, &t, &flags);
        else if (is_meta(c))
            break;
        else if (c == '\\' && n == '\n')
            lx->pos += 2;
        else if (c == '\\' && lx->pos + 1 < lx->len)
            flags |= W_QUOTED, lx->pos += 2, r = text_putc(&t, n);
        else if (c == '\'')
            r = lex_squote(lx, &t, &flags);
        else if (c == '"')
            r = lex_dquote(lx, &t, &flags);
        else if (c == '$')
            r = lex_dollar(lx, &t, &flags, false);
        else if (c == '`')
            r = lex_backtick(lx, &t, &flags, false);
        else {
            r = lex_plain(lx, &t, &flags, &name, &assign_end);
            continue;
        }
        name = NAME_NO;
    }
    if (r == 0 && ++lx->an->n_made > OSM_SHELLCMD_WORDS_MAX)
        r = -E2BIG;
    if (r == 0 && !(ret->text = text_take(&t)))
        r = -ENOMEM;
    free(t.s);
    ret->flags = flags;
    return r;
}

/* A here-document body with expansions: the substitutions in it are commands too. */
static int scan_heredoc(struct lexer *lx, const char *body, unsigned *flags)
{
    struct lexer sub = {
        .an = lx->an, .s = body, .len = strlen(body), .depth = lx->depth, .function = lx->function};
    int r = nest_in(&sub);

    while (r >= 0 && sub.pos < sub.len) {
        char c = body[sub.pos];
        if (c == '\\')
            sub.pos += sub.pos + 1 < sub.len ? 2 : 1;
        else if (c == '$')
            r = lex_dollar(&sub, NULL, flags, true);
        else if (c == '`')
            r = lex_backtick(&sub, NULL, flags, true);
        else
            sub.pos++;
    }
    lexer_done(&sub);
    return r < 0 ? r : 0;
}

/* Moves lx->pos past the body of h (up to its delimiter line, or the end) and returns it. */
static char *heredoc_body(struct lexer *lx, const struct heredoc *h)
{
    size_t start = lx->pos, end = lx->len, dlen = strlen(h->delim);

    while (lx->pos < lx->len) {
        const char *nl = memchr(lx->s + lx->pos, '\n', lx->len - lx->pos);
        size_t line = lx->pos, line_end = nl ? (size_t)(nl - lx->s) : lx->len, p = line;

        lx->pos = nl ? line_end + 1 : lx->len;
        while (h->strip_tabs && p < line_end && lx->s[p] == '\t')
            p++;
        if (line_end - p == dlen && memcmp(lx->s + p, h->delim, dlen) == 0) {
            end = line;
            break;
        }
    }
    return strndup(lx->s + start, end - start);
}

/* The bodies of the here-documents whose redirections were on the line just ended. */
static int read_heredocs(struct lexer *lx)
{
    int r = 0;

    for (size_t i = 0; i < lx->n_pending && r == 0; i++) {
        const struct heredoc *h = &lx->pending[i];
        char *body = heredoc_body(lx, h);
        unsigned flags = 0;
        struct sh_word *dst;

        if (!body)
            r = -ENOMEM;
        else if (h->expand && (r = scan_heredoc(lx, body, &flags)) < 0)
            free(body);
        else { /* looked up only now: the scan may have moved the array */
            dst = &lx->an->strings[h->body];
            free(dst->text);
            *dst = (struct sh_word){body, flags};
        }
    }
    for (size_t i = 0; i < lx->n_pending; i++)
        free(lx->pending[i].delim);
    lx->n_pending = 0;
    return r;
}

/* Operators that start with '<' or '>' (lx->pos there); fd < 0: the operator's own. */
static void lex_redir(struct lexer *lx, struct token *t, int fd)
{
    static const struct {
        const char *op;
        enum osm_shellcmd_redir_op kind;
        int fd;
    } ops[] = {
        {"<<<", OSM_SHELLCMD_REDIR_HERESTRING, 0}, {"<<-", OSM_SHELLCMD_REDIR_HEREDOC, 0},
        {"<<", OSM_SHELLCMD_REDIR_HEREDOC, 0},     {"<>", OSM_SHELLCMD_REDIR_RDWR, 0},
        {"<&", OSM_SHELLCMD_REDIR_DUP_IN, 0},      {"<", OSM_SHELLCMD_REDIR_IN, 0},
        {">>", OSM_SHELLCMD_REDIR_APPEND, 1},      {">|", OSM_SHELLCMD_REDIR_OUT, 1},
        {">&", OSM_SHELLCMD_REDIR_DUP_OUT, 1},     {">", OSM_SHELLCMD_REDIR_OUT, 1},
    };

    for (size_t i = 0; i < ELEMENTSOF(ops); i++)
        if (lx_starts(lx, ops[i].op)) {
            t->kind = T_REDIR;
            t->op = ops[i].kind;
            t->fd = fd >= 0 ? fd : ops[i].fd;
            t->strip_tabs = strcmp(ops[i].op, "<<-") == 0;
            lx->pos += strlen(ops[i].op);
            return;
        }
}

static void skip_blanks(struct lexer *lx)
{
    while (lx->pos < lx->len) {
        char c = lx->s[lx->pos];
        if (c == ' ' || c == '\t')
            lx->pos++;
        else if (c == '\\' && lx_at(lx, 1) == '\n')
            lx->pos += 2;
        else if (c == '#')
            while (lx->pos < lx->len && lx->s[lx->pos] != '\n')
                lx->pos++;
        else
            break;
    }
}

/* Operators made of ; & | ( ). Returns false when lx->pos is not at one. */
static bool lex_operator(struct lexer *lx, struct token *t)
{
    static const struct {
        const char *op;
        enum tok_kind kind;
    } ops[] = {
        {";;&", T_DSEMI}, {";;", T_DSEMI}, {";&", T_DSEMI}, {";", T_SEMI},
        {"&&", T_AND},    {"&", T_AMP},    {"||", T_OR},    {"|&", T_PIPE_AMP},
        {"|", T_PIPE},    {"(", T_LPAREN}, {")", T_RPAREN},
    };

    for (size_t i = 0; i < ELEMENTSOF(ops); i++)
        if (lx_starts(lx, ops[i].op)) {
            t->kind = ops[i].kind;
            lx->pos += strlen(ops[i].op);
            return true;
        }
    return false;
}

static int lex_next(struct lexer *lx, struct token *t)
{
    size_t digits = 0;
    char c;

    *t = (struct token){.kind = T_EOF};
    skip_blanks(lx);
    if (lx->pos >= lx->len)
        return 0;
    c = lx->s[lx->pos];
    if (c == '\n') {
        lx->pos++;
        t->kind = T_NEWLINE;
        return read_heredocs(lx);
    }
    if (lx_starts(lx, "&>")) { /* &> and &>>: standard output and error */
        lx->pos++;
        lex_redir(lx, t, 0);
        t->fd = -1;
        return 0;
    }
    if (lex_operator(lx, t))
        return 0;
    while (lx->pos + digits < lx->len && lx->s[lx->pos + digits] >= '0' &&
           lx->s[lx->pos + digits] <= '9')
        digits++;
    if (digits <= 4 && lx_at(lx, digits + 1) != '(' &&
        (lx_at(lx, digits) == '<' || lx_at(lx, digits) == '>')) {
        int fd = digits ? atoi(lx->s + lx->pos) : -1;
        lx->pos += digits;
        lex_redir(lx, t, fd);
        return 0;
    }
    t->kind = T_WORD;
    return lex_word(lx, &t->word);
}

static int peek(struct lexer *lx, struct token **ret)
{
    struct token t;
    int r;

    if (!lx->peeked) {
        if ((r = lex_next(lx, &t)) < 0) {
            if (t.kind == T_WORD)
                free(t.word.text);
            return r;
        }
        lx->tok = t;
        lx->peeked = true;
    }
    *ret = &lx->tok;
    return 0;
}

/* Drops the peeked token. */
static void consume(struct lexer *lx)
{
    if (lx->peeked && lx->tok.kind == T_WORD)
        free(lx->tok.word.text);
    lx->peeked = false;
}

/* Takes the peeked word out of the lexer. */
static struct sh_word take_word(struct lexer *lx)
{
    lx->peeked = false;
    return lx->tok.word;
}

/* Consumes the peeked token and takes the word after it (-EINVAL when it is not a word). */
static int next_word(struct lexer *lx, struct sh_word *ret)
{
    struct token *t;
    int r;

    consume(lx);
    if ((r = peek(lx, &t)) < 0)
        return r;
    if (t->kind != T_WORD)
        return -EINVAL;
    *ret = take_word(lx);
    return 0;
}

/* ---- the parser ------------------------------------------------------------------------- */

/* An unquoted word spelled kw: how reserved words are recognised. */
static bool word_is(const struct token *t, const char *kw)
{
    return t->kind == T_WORD && !(t->word.flags & W_QUOTED) && strcmp(t->word.text, kw) == 0;
}

static bool at_stop(const struct token *t, unsigned stop)
{
    return (t->kind == T_EOF && (stop & STOP_EOF)) ||
           (t->kind == T_RPAREN && (stop & STOP_RPAREN)) ||
           (t->kind == T_DSEMI && (stop & STOP_CASE)) || ((stop & STOP_BRACE) && word_is(t, "}")) ||
           ((stop & STOP_CASE) && word_is(t, "esac"));
}

static int skip_newlines(struct lexer *lx, struct token **t)
{
    int r;

    while ((r = peek(lx, t)) == 0 && (*t)->kind == T_NEWLINE)
        consume(lx);
    return r;
}

/* Peeks and checks the kind; consumes it when it matches. */
static int expect(struct lexer *lx, enum tok_kind kind, const char *kw)
{
    struct token *t;
    int r;

    if ((r = peek(lx, &t)) < 0)
        return r;
    if (t->kind != kind || (kw && !word_is(t, kw)))
        return -EINVAL;
    consume(lx);
    return 0;
}

/* A simple command being read: its words and redirections, moved into the analysis at the
 * end so that each command's words are contiguous (substitutions inside it come first). */
struct builder {
    struct sh_word *words;
    size_t n_words, cap_words;
    struct sh_redir *redirs;
    size_t n_redirs, cap_redirs;
};

static void builder_free(struct builder *b)
{
    for (size_t i = 0; i < b->n_words; i++)
        free(b->words[i].text);
    free(b->words);
    free(b->redirs);
}

static int builder_word(struct builder *b, struct sh_word w)
{
    if (osm_shellcmd_reserve(&b->words, &b->cap_words, b->n_words, 1, sizeof(*b->words)) < 0) {
        free(w.text);
        return -ENOMEM;
    }
    b->words[b->n_words++] = w;
    return 0;
}

static int commit(struct lexer *lx, struct builder *b)
{
    struct sh_analysis *an = lx->an;

    if (osm_shellcmd_reserve(&an->words, &an->cap_words, an->n_words, b->n_words,
                             sizeof(struct sh_word)) < 0 ||
        osm_shellcmd_reserve(&an->redirs, &an->cap_redirs, an->n_redirs, b->n_redirs,
                             sizeof(struct sh_redir)) < 0 ||
        osm_shellcmd_reserve(&an->cmds, &an->cap_cmds, an->n_cmds, 1, sizeof(struct sh_cmd)) < 0)
        return -ENOMEM;
    an->cmds[an->n_cmds++] = (struct sh_cmd){an->n_words,  b->n_words, an->n_redirs, b->n_redirs,
                                             lx->function, 0,          lx->depth};
    if (b->n_words > 0)
        memcpy(an->words + an->n_words, b->words, b->n_words * sizeof(struct sh_word));
    if (b->n_redirs > 0)
        memcpy(an->redirs + an->n_redirs, b->redirs, b->n_redirs * sizeof(struct sh_redir));
    an->n_words += b->n_words;
    an->n_redirs += b->n_redirs;
    b->n_words = b->n_redirs = 0;
    return 0;
}

static bool is_fd_word(const char *s)
{
    size_t n = strspn(s, "0123456789");

    return (n > 0 && (s[n] == '\0' || (s[n] == '-' && s[n + 1] == '\0'))) || strcmp(s, "-") == 0;
}

/* Queues the here-document whose delimiter is w (taken); its body is read at the next newline
 * into a string whose index goes to *ret. */
static int heredoc_add(struct lexer *lx, struct sh_word w, bool strip_tabs, size_t *ret)
{
    int r;

    if (lx->n_pending == OSM_SHELLCMD_HEREDOCS_MAX) {
        free(w.text);
        return -E2BIG;
    }
    if ((r = string_add(lx->an, strdup(""), 0, ret)) < 0) {
        free(w.text);
        return r;
    }
    lx->pending[lx->n_pending++] =
        (struct heredoc){*ret, w.text, strip_tabs, !(w.flags & W_QUOTED)};
    return 0;
}

/* A redirection (peeked) and its target word. */
static int parse_redir(struct lexer *lx, struct builder *b)
{
    struct sh_redir rd = {.fd = lx->tok.fd, .op = lx->tok.op};
    bool strip_tabs = lx->tok.strip_tabs;
    struct sh_word w;
    int r;

    if ((r = next_word(lx, &w)) < 0)
        return r;
    if ((rd.op == OSM_SHELLCMD_REDIR_DUP_OUT || rd.op == OSM_SHELLCMD_REDIR_DUP_IN) &&
        !is_fd_word(w.text)) { /* >& FILE is &> FILE */
        bool out = rd.op == OSM_SHELLCMD_REDIR_DUP_OUT;
        rd.fd = out && rd.fd == 1 ? -1 : rd.fd;
        rd.op = out ? OSM_SHELLCMD_REDIR_OUT : OSM_SHELLCMD_REDIR_IN;
    }
    if (rd.op == OSM_SHELLCMD_REDIR_HEREDOC)
        r = heredoc_add(lx, w, strip_tabs, &rd.target);
    else
        r = string_add(lx->an, w.text, w.flags, &rd.target);
    if (r < 0)
        return r;
    if (osm_shellcmd_reserve(&b->redirs, &b->cap_redirs, b->n_redirs, 1, sizeof(*b->redirs)) < 0)
        return -ENOMEM;
    b->redirs[b->n_redirs++] = rd;
    return 0;
}

/* Redirections after a compound command ( ... ) > f, { ...; } 2>&1: a command of their own. */
static int parse_trailing_redirs(struct lexer *lx)
{
    struct builder b = {0};
    struct token *t;
    int r;

    while ((r = peek(lx, &t)) == 0 && t->kind == T_REDIR)
        if ((r = parse_redir(lx, &b)) < 0)
            break;
    if (r == 0 && b.n_redirs > 0)
        r = commit(lx, &b);
    builder_free(&b);
    return r;
}

static int parse_command(struct lexer *lx);

/* The body of a function named name (a string of the analysis). */
static int parse_function_body(struct lexer *lx, const char *name)
{
    const char *outer = lx->function;
    struct token *t;
    int r;

    if ((r = skip_newlines(lx, &t)) < 0)
        return r;
    if (t->kind != T_LPAREN && !word_is(t, "{")) /* the body is a compound command */
        return -EINVAL;
    if ((r = nest_in(lx)) < 0)
        return r;
    lx->function = name;
    r = parse_command(lx);
    lx->function = outer;
    lx->depth--;
    return r;
}

/* After "NAME (": the ")" and the body; name is taken. */
static int parse_function(struct lexer *lx, char *name)
{
    size_t i;
    int r;

    if ((r = string_add(lx->an, name, 0, &i)) < 0)
        return r;
    if ((r = expect(lx, T_RPAREN, NULL)) < 0)
        return r;
    return parse_function_body(lx, lx->an->strings[i].text);
}

/* function NAME [()] BODY */
static int parse_function_keyword(struct lexer *lx)
{
    struct token *t;
    struct sh_word w;
    size_t i;
    int r;

    if ((r = next_word(lx, &w)) < 0 || (r = string_add(lx->an, w.text, 0, &i)) < 0 ||
        (r = peek(lx, &t)) < 0)
        return r;
    if (t->kind == T_LPAREN) {
        consume(lx);
        if ((r = expect(lx, T_RPAREN, NULL)) < 0)
            return r;
    }
    return parse_function_body(lx, lx->an->strings[i].text);
}

static int parse_simple(struct lexer *lx)
{
    struct builder b = {0};
    struct token *t;
    int r;

    while ((r = peek(lx, &t)) == 0) {
        if (t->kind == T_REDIR) {
            r = parse_redir(lx, &b);
        } else if (t->kind == T_WORD) {
            r = builder_word(&b, take_word(lx));
            if (r == 0 && b.n_words == 1 && b.n_redirs == 0 && (r = peek(lx, &t)) == 0 &&
                t->kind == T_LPAREN) { /* NAME () BODY */
                consume(lx);
                b.n_words = 0;
                r = parse_function(lx, b.words[0].text);
                builder_free(&b);
                return r;
            }
        } else {
            break;
        }
        if (r < 0)
            break;
    }
    if (r == 0)
        r = commit(lx, &b);
    builder_free(&b);
    return r;
}

/* ( LIST ) or { LIST; } with the opening token peeked. */
static int parse_group(struct lexer *lx, unsigned stop)
{
    int r;

    consume(lx);
    if ((r = nest_in(lx)) < 0)
        return r;
    r = parse_list(lx, stop);
    if (r == 0)
        r = stop == STOP_RPAREN ? expect(lx, T_RPAREN, NULL) : expect(lx, T_WORD, "}");
    lx->depth--;
    return r < 0 ? r : parse_trailing_redirs(lx);
}

/* One case item's patterns: [(] WORD [| WORD]... ) */
static int parse_case_patterns(struct lexer *lx)
{
    struct token *t;
    int r;

    if ((r = peek(lx, &t)) < 0)
        return r;
    if (t->kind == T_LPAREN)
        consume(lx);
    for (;;) {
        if ((r = expect(lx, T_WORD, NULL)) < 0 || (r = peek(lx, &t)) < 0)
            return r;
        if (t->kind == T_RPAREN) {
            consume(lx);
            return 0;
        }
        if (t->kind != T_PIPE)
            return -EINVAL;
        consume(lx);
    }
}

/* case WORD in [PATTERNS) LIST ;;]... esac */
static int parse_case(struct lexer *lx)
{
    struct token *t;
    int r;

    consume(lx);
    if ((r = expect(lx, T_WORD, NULL)) < 0 || (r = skip_newlines(lx, &t)) < 0 ||
        (r = expect(lx, T_WORD, "in")) < 0 || (r = nest_in(lx)) < 0)
        return r;
    for (;;) {
        if ((r = skip_newlines(lx, &t)) < 0)
            break;
        if (word_is(t, "esac")) {
            consume(lx);
            break;
        }
        if ((r = parse_case_patterns(lx)) < 0 || (r = parse_list(lx, STOP_CASE)) < 0 ||
            (r = peek(lx, &t)) < 0)
            break;
        if (t->kind != T_DSEMI && !word_is(t, "esac")) {
            r = -EINVAL;
            break;
        }
        if (t->kind == T_DSEMI)
            consume(lx);
    }
    lx->depth--;
    return r < 0 ? r : parse_trailing_redirs(lx);
}

/* Reserved words that only open or close a part of if/while/until/for: the commands between
 * them are what matters here, so they are read past. */
static bool is_passed_keyword(const struct token *t)
{
    static const char *const kws[] = {"!",  "if",    "then",  "else", "elif",
                                      "do", "while", "until", "fi",   "done"};

    for (size_t i = 0; i < ELEMENTSOF(kws); i++)
        if (word_is(t, kws[i]))
            return true;
    return false;
}

static bool ends_command(const struct token *t)
{
    return (t->kind != T_WORD && t->kind != T_REDIR && t->kind != T_LPAREN) || word_is(t, "}") ||
           word_is(t, "esac") || is_passed_keyword(t);
}

static int parse_command(struct lexer *lx)
{
    struct token *t;
    int r;

    if ((r = peek(lx, &t)) < 0)
        return r;
    if (is_passed_keyword(t)) {
        do {
            consume(lx);
            if ((r = peek(lx, &t)) < 0)
                return r;
        } while (is_passed_keyword(t));
        if (ends_command(t))
            return 0;
    }
    if (t->kind == T_LPAREN)
        return parse_group(lx, STOP_RPAREN);
    if (word_is(t, "{"))
        return parse_group(lx, STOP_BRACE);
    if (word_is(t, "case"))
        return parse_case(lx);
    if (word_is(t, "function"))
        return parse_function_keyword(lx);
    if (t->kind == T_WORD || t->kind == T_REDIR)
        return parse_simple(lx);
    return -EINVAL;
}

static int parse_pipeline(struct lexer *lx)
{
    size_t start = lx->an->n_cmds, stage;
    unsigned stages = 0;
    struct token *t;
    int r;

    for (;;) {
        stage = lx->an->n_cmds;
        if ((r = parse_command(lx)) < 0)
            return r;
        if (stages++ > 0)
            mark(lx->an, stage, OSM_SHELLCMD_PIPE_IN);
        if ((r = peek(lx, &t)) < 0)
            return r;
        if (t->kind != T_PIPE && t->kind != T_PIPE_AMP)
            break;
        consume(lx);
        if ((r = skip_newlines(lx, &t)) < 0)
            return r;
    }
    if (stages > 1)
        mark(lx->an, start, OSM_SHELLCMD_PIPED);
    return 0;
}

static int parse_and_or(struct lexer *lx)
{
    struct token *t;
    int r;

    for (;;) {
        if ((r = parse_pipeline(lx)) < 0 || (r = peek(lx, &t)) < 0)
            return r;
        if (t->kind != T_AND && t->kind != T_OR)
            return 0;
        consume(lx);
        if ((r = skip_newlines(lx, &t)) < 0)
            return r;
    }
}

/* Commands separated by ; & and newlines, up to a token in stop (left peeked). */
static int parse_list(struct lexer *lx, unsigned stop)
{
    struct token *t;
    size_t start;
    int r;

    for (;;) {
        if ((r = skip_newlines(lx, &t)) < 0)
            return r;
        if (at_stop(t, stop))
            return 0;
        if (t->kind == T_EOF)
            return -EINVAL; /* an unclosed ( { $( or case */
        start = lx->an->n_cmds;
        if ((r = parse_and_or(lx)) < 0 || (r = peek(lx, &t)) < 0)
            return r;
        if (t->kind == T_SEMI || t->kind == T_AMP) {
            if (t->kind == T_AMP)
                mark(lx->an, start, OSM_SHELLCMD_BACKGROUND);
            consume(lx);
        } else if (t->kind != T_NEWLINE && !at_stop(t, stop)) {
            return -EINVAL;
        }
    }
}

int osm_shellcmd_parse(struct sh_analysis *an, const char *s, size_t len, unsigned depth,
                       const char *function)
{
    struct lexer lx = {.an = an, .s = s, .len = len, .depth = depth, .function = function};
    int r;

    if (depth > OSM_SHELLCMD_DEPTH_MAX)
        return -ELOOP;
    if (len > OSM_SHELLCMD_LEN_MAX)
        return -E2BIG;
    r = parse_list(&lx, STOP_EOF);
    lexer_done(&lx);
    return r;
}
