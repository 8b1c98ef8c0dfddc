/* palette.h - the command palette's fuzzy filter and ranking (no curses; unit-tested by
 * tests/test_layout.c). A query matches a text when its characters appear in order
 * (case-insensitive); the score rewards exact names, prefixes, consecutive runs and
 * matches at word starts, and penalises gaps. Names outrank aliases, which outrank help.
 */
#ifndef LT_TUI_PALETTE_H
#define LT_TUI_PALETTE_H

typedef struct lt_palette_item {
    const char *name;  /* "load" */
    const char *alias; /* may be NULL */
    const char *usage;
    const char *help;  /* may be NULL */
} lt_palette_item;

/* Score of query against text: < 0 = no match; an empty query scores 0. */
int lt_fuzzy_score(const char *query, const char *text);

/* Score of an item (best of name, alias, usage and help, weighted); < 0 = no match. */
int lt_palette_score(const char *query, const lt_palette_item *it);

/* Indices of the items matching query, best first (ties keep the original order), up to
 * cap; returns how many were written. An empty query lists every item in order. */
int lt_palette_filter(const char *query, const lt_palette_item *items, int n, int *out, int cap);

#endif
