/*
 * subject.c — subject and filter syntax and matching.
 *
 * A subject is '.'-separated non-empty tokens. A token may hold any byte except '.',
 * space, tab, CR, LF and NUL; in a concrete subject it may not be exactly "*" or ">".
 * In a filter "*" matches one token and ">" (last only) matches one or more.
 *
 * System subjects: a subject whose first token begins with '$' ($SYS statistics, the
 * MQTT broker's "$mqtt#" records) is not matched by a filter whose first token is a
 * wildcard, only by one that names that token ("$SYS.>"). It is MQTT's rule for '$'
 * topics (MQTT-4.7.2-1) made the core's, so that ">" means "every application
 * subject" for every subscriber, stream and consumer, and internal records never leak
 * to a REST, SSE or embedded subscriber on ">". Permission patterns (auth.c) are not
 * filters in that sense and use ob_subject_matches_all.
 */
#include <omnibus.h>

#include <stdbool.h>
#include <string.h>

#define OB_SUBJECT_MAX 4096

static bool bad_byte(uint8_t c)
{
    return c == '.' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0;
}

/* Walks the tokens of s; returns false on an empty token or bad byte. For each token
 * calls check(token, is_last) which may reject it. */
static bool walk(struct ob_slice s, bool (*check)(struct ob_slice tok, bool last))
{
    if (s.n == 0 || s.n > OB_SUBJECT_MAX) return false;
    size_t start = 0;
    for (size_t i = 0; i <= s.n; i++) {
        if (i < s.n && s.p[i] != '.') {
            if (bad_byte(s.p[i])) return false;
            continue;
        }
        struct ob_slice tok = {s.p + start, i - start};
        if (tok.n == 0 || !check(tok, i == s.n)) return false;
        start = i + 1;
    }
    return true;
}

static bool is_wild(struct ob_slice tok)
{
    return tok.n == 1 && (tok.p[0] == '*' || tok.p[0] == '>');
}

static bool concrete_token(struct ob_slice tok, bool last)
{
    (void)last;
    return !is_wild(tok);
}

static bool filter_token(struct ob_slice tok, bool last)
{
    return !(tok.n == 1 && tok.p[0] == '>' && !last);
}

bool ob_subject_valid(struct ob_slice subject)
{
    return walk(subject, concrete_token);
}

bool ob_filter_valid(struct ob_slice filter)
{
    return walk(filter, filter_token);
}

/* Length of the token starting at p[i] in s. */
static size_t token_len(struct ob_slice s, size_t i)
{
    size_t j = i;
    while (j < s.n && s.p[j] != '.')
        j++;
    return j - i;
}

bool ob_subject_is_system(struct ob_slice subject)
{
    return subject.n && subject.p[0] == '$';
}

static bool wild_first(struct ob_slice filter)
{
    return filter.n && (filter.p[0] == '*' || filter.p[0] == '>') &&
           (filter.n == 1 || filter.p[1] == '.');
}

bool ob_subject_matches(struct ob_slice filter, struct ob_slice subject)
{
    if (ob_subject_is_system(subject) && wild_first(filter)) return false;
    return ob_subject_matches_all(filter, subject);
}

bool ob_subject_matches_all(struct ob_slice filter, struct ob_slice subject)
{
    size_t fi = 0, si = 0;
    while (fi < filter.n && si < subject.n) {
        size_t fl = token_len(filter, fi), sl = token_len(subject, si);
        if (fl == 1 && filter.p[fi] == '>') return true;
        bool star = fl == 1 && filter.p[fi] == '*';
        if (!star && (fl != sl || memcmp(filter.p + fi, subject.p + si, fl) != 0)) return false;
        fi += fl + 1;
        si += sl + 1;
    }
    /* Both fully consumed: each index stepped past its last token. */
    return fi > filter.n && si > subject.n;
}
