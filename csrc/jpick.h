/*
 * jpick.h - pick values at fixed paths out of one JSON text, without
 * building a tree (pure C: no Lua). Used on the hot path: a text delta
 * event is scanned once and its text comes back unescaped.
 *
 * Contract
 *   - The whole text is validated as one JSON value (RFC 8259 grammar,
 *     nesting bounded by JP_MAX_DEPTH) in a single pass; invalid text
 *     gives JP_INVALID and the byte offset of the fault. Invalid UTF-8
 *     inside strings is passed through untouched (not validated).
 *   - A path is a list of segments: an object key, or an array index
 *     (0-based). For each path the value found there is reported by type
 *     and raw slice; a path that does not exist is JP_MISSING. If a key
 *     repeats, the last occurrence wins (as lua-cjson does).
 */
#ifndef LLMSTREAM_JPICK_H
#define LLMSTREAM_JPICK_H

#include <stddef.h>

#define JP_MAX_DEPTH 256
#define JP_MAX_PATHS 16
#define JP_MAX_SEGS 8

enum { JP_MISSING = 0, JP_NULL, JP_FALSE, JP_TRUE, JP_NUMBER, JP_STRING,
       JP_OBJECT, JP_ARRAY };

typedef struct jp_seg {
  const char *key; /* NULL: array index */
  size_t len;      /* key length, or the index */
} jp_seg;

typedef struct jp_path {
  jp_seg seg[JP_MAX_SEGS];
  int n;
} jp_path;

typedef struct jp_val {
  int type;
  const char *s; /* raw slice: a string's bytes between its quotes (still
                    escaped), a number's text, a container's whole text */
  size_t len;
  int escaped;   /* strings: the slice holds a backslash */
} jp_val;

/* Parse "a.b.0.c" into a path (digits-only segments are indices).
   Returns 0, or -1 if it has too many or empty segments. */
int jp_parse_path(const char *s, size_t len, jp_path *out);

/* Returns 0 on success, -1 on invalid JSON (offset in *errpos). */
int jp_pick(const char *json, size_t len, const jp_path *paths, int npaths,
            jp_val *out, size_t *errpos);

/* Scan one JSON string starting at its opening quote p (< end). On
   success fills out (type JP_STRING) and returns the byte after the
   closing quote; NULL if the string is invalid or unterminated. */
const char *jp_scan_string(const char *p, const char *end, jp_val *out);

/* Unescape a JSON string slice (as reported in jp_val) into out, which
   must hold at least len bytes (unescaping never grows). Lone surrogates
   become U+FFFD. Returns the output length. */
size_t jp_unescape(const char *s, size_t len, char *out);

#endif
