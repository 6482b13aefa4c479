/*
 * jpick.c - see jpick.h. One recursive-descent pass; `alive` is the bit
 * set of paths whose segments matched every key/index on the way down to
 * the current value, so unrelated subtrees are only validated, never
 * recorded.
 */
#include "jpick.h"

#include <string.h>

typedef struct ctx {
  const char *p, *end, *start;
  const jp_path *paths;
  jp_val *out;
  int npaths;
} ctx;

static void skip_ws(ctx *c) {
  while (c->p < c->end &&
         (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
    c->p++;
}

static int hexval(int ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* At the opening quote. On success c->p is past the closing quote and
   s, len and esc describe the inside. */
static int scan_string(ctx *c, const char **s, size_t *len, int *esc) {
  const char *q = ++c->p;
  *esc = 0;
  for (;;) {
    unsigned char ch;
    if (q >= c->end) { c->p = q; return -1; }
    ch = (unsigned char)*q;
    if (ch == '"') break;
    if (ch < 0x20) { c->p = q; return -1; }
    if (ch == '\\') {
      *esc = 1;
      if (q + 1 >= c->end) { c->p = q; return -1; }
      switch (q[1]) {
      case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r':
      case 't':
        q += 2;
        break;
      case 'u':
        if (q + 6 > c->end || hexval(q[2]) < 0 || hexval(q[3]) < 0 ||
            hexval(q[4]) < 0 || hexval(q[5]) < 0) {
          c->p = q;
          return -1;
        }
        q += 6;
        break;
      default:
        c->p = q;
        return -1;
      }
    } else {
      q++;
    }
  }
  *s = c->p;
  *len = (size_t)(q - c->p);
  c->p = q + 1;
  return 0;
}

static int digits(ctx *c) {
  const char *s = c->p;
  while (c->p < c->end && *c->p >= '0' && *c->p <= '9') c->p++;
  return c->p > s ? 0 : -1;
}

static int scan_number(ctx *c) {
  if (c->p < c->end && *c->p == '-') c->p++;
  if (c->p >= c->end) return -1;
  if (*c->p == '0') c->p++;
  else if (digits(c)) return -1;
  if (c->p < c->end && *c->p == '.') {
    c->p++;
    if (digits(c)) return -1;
  }
  if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
    c->p++;
    if (c->p < c->end && (*c->p == '+' || *c->p == '-')) c->p++;
    if (digits(c)) return -1;
  }
  return 0;
}

static int scan_lit(ctx *c, const char *lit, size_t n) {
  if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0) return -1;
  c->p += n;
  return 0;
}

static int key_equals(const char *k, size_t klen, int kesc, const jp_seg *sg) {
  char tmp[64];
  if (!kesc)
    return klen == sg->len && (klen == 0 || k[0] == sg->key[0]) &&
           memcmp(k, sg->key, klen) == 0;
  if (klen > sizeof tmp) return 0; /* escaped keys this long never match */
  klen = jp_unescape(k, klen, tmp);
  return klen == sg->len && memcmp(tmp, sg->key, klen) == 0;
}

static int scan_value(ctx *c, int depth, unsigned alive);

const char *jp_scan_string(const char *p, const char *end, jp_val *out) {
  ctx c;
  memset(&c, 0, sizeof c);
  c.p = c.start = p;
  c.end = end;
  if (p >= end || *p != '"') return NULL;
  if (scan_string(&c, &out->s, &out->len, &out->escaped)) return NULL;
  out->type = JP_STRING;
  return c.p;
}

/* Paths in `alive` that continue below `depth` with this key / index. */
static unsigned child_mask(ctx *c, int depth, unsigned alive, const char *k,
                           size_t klen, int kesc, size_t index) {
  unsigned m = 0;
  int i;
  for (i = 0; i < c->npaths; i++) {
    const jp_path *pt = &c->paths[i];
    const jp_seg *sg;
    if (!(alive & (1u << i)) || pt->n <= depth) continue;
    sg = &pt->seg[depth];
    if (k ? (sg->key && key_equals(k, klen, kesc, sg))
          : (!sg->key && sg->len == index))
      m |= 1u << i;
  }
  return m;
}

static int scan_value(ctx *c, int depth, unsigned alive) {
  const char *vstart, *s = NULL;
  size_t slen = 0;
  int type, esc = 0, i;
  if (depth > JP_MAX_DEPTH) return -1;
  skip_ws(c);
  if (c->p >= c->end) return -1;
  vstart = c->p;
  switch (*c->p) {
  case '{': {
    type = JP_OBJECT;
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') { c->p++; break; }
    for (;;) {
      const char *k;
      size_t klen;
      int kesc;
      unsigned m = 0;
      skip_ws(c);
      if (c->p >= c->end || *c->p != '"') return -1;
      if (scan_string(c, &k, &klen, &kesc)) return -1;
      skip_ws(c);
      if (c->p >= c->end || *c->p != ':') return -1;
      c->p++;
      if (alive) m = child_mask(c, depth, alive, k, klen, kesc, 0);
      if (scan_value(c, depth + 1, m)) return -1;
      skip_ws(c);
      if (c->p < c->end && *c->p == ',') { c->p++; continue; }
      if (c->p < c->end && *c->p == '}') { c->p++; break; }
      return -1;
    }
    break;
  }
  case '[': {
    size_t idx = 0;
    type = JP_ARRAY;
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == ']') { c->p++; break; }
    for (;; idx++) {
      unsigned m = alive ? child_mask(c, depth, alive, NULL, 0, 0, idx) : 0;
      if (scan_value(c, depth + 1, m)) return -1;
      skip_ws(c);
      if (c->p < c->end && *c->p == ',') { c->p++; continue; }
      if (c->p < c->end && *c->p == ']') { c->p++; break; }
      return -1;
    }
    break;
  }
  case '"':
    type = JP_STRING;
    if (scan_string(c, &s, &slen, &esc)) return -1;
    break;
  case 't': type = JP_TRUE; if (scan_lit(c, "true", 4)) return -1; break;
  case 'f': type = JP_FALSE; if (scan_lit(c, "false", 5)) return -1; break;
  case 'n': type = JP_NULL; if (scan_lit(c, "null", 4)) return -1; break;
  default:
    type = JP_NUMBER;
    if (scan_number(c)) return -1;
    break;
  }
  if (alive) {
    for (i = 0; i < c->npaths; i++) {
      if ((alive & (1u << i)) && c->paths[i].n == depth) {
        jp_val *v = &c->out[i];
        v->type = type;
        v->escaped = esc;
        if (type == JP_STRING) { v->s = s; v->len = slen; }
        else { v->s = vstart; v->len = (size_t)(c->p - vstart); }
      }
    }
  }
  return 0;
}

int jp_pick(const char *json, size_t len, const jp_path *paths, int npaths,
            jp_val *out, size_t *errpos) {
  ctx c;
  int i;
  unsigned all;
  if (npaths > JP_MAX_PATHS) npaths = JP_MAX_PATHS;
  all = npaths >= 32 ? ~0u : ((1u << npaths) - 1u);
  for (i = 0; i < npaths; i++) memset(&out[i], 0, sizeof out[i]);
  c.p = c.start = json;
  c.end = json + len;
  c.paths = paths;
  c.out = out;
  c.npaths = npaths;
  if (scan_value(&c, 0, all) == 0) {
    skip_ws(&c);
    if (c.p == c.end) return 0;
  }
  for (i = 0; i < npaths; i++) memset(&out[i], 0, sizeof out[i]);
  if (errpos) *errpos = (size_t)(c.p - c.start);
  return -1;
}

int jp_parse_path(const char *s, size_t len, jp_path *out) {
  size_t i = 0;
  out->n = 0;
  if (len == 0) return 0; /* the root */
  while (i <= len) {
    size_t j = i, k;
    int num = 1;
    jp_seg *sg;
    while (j < len && s[j] != '.') j++;
    if (j == i || out->n == JP_MAX_SEGS) return -1;
    for (k = i; k < j; k++)
      if (s[k] < '0' || s[k] > '9') num = 0;
    sg = &out->seg[out->n++];
    if (num && j - i < 10) {
      size_t v = 0;
      for (k = i; k < j; k++) v = v * 10 + (size_t)(s[k] - '0');
      sg->key = NULL;
      sg->len = v;
    } else {
      sg->key = s + i;
      sg->len = j - i;
    }
    i = j + 1;
  }
  return 0;
}

static size_t put_utf8(char *o, unsigned long cp) {
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

static unsigned long hex4(const char *p) {
  return (unsigned long)((hexval(p[0]) << 12) | (hexval(p[1]) << 8) |
                         (hexval(p[2]) << 4) | hexval(p[3]));
}

/* The slice was validated by scan_string: every escape is complete. */
size_t jp_unescape(const char *s, size_t len, char *out) {
  const char *end = s + len;
  char *o = out;
  while (s < end) {
    const char *bs = memchr(s, '\\', (size_t)(end - s));
    if (!bs) bs = end;
    memmove(o, s, (size_t)(bs - s));
    o += bs - s;
    s = bs;
    if (s >= end) break;
    switch (s[1]) {
    case 'b': *o++ = '\b'; s += 2; break;
    case 'f': *o++ = '\f'; s += 2; break;
    case 'n': *o++ = '\n'; s += 2; break;
    case 'r': *o++ = '\r'; s += 2; break;
    case 't': *o++ = '\t'; s += 2; break;
    case 'u': {
      unsigned long cp = hex4(s + 2);
      s += 6;
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (end - s >= 6 && s[0] == '\\' && s[1] == 'u') {
          unsigned long lo = hex4(s + 2);
          if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            s += 6;
          } else {
            cp = 0xFFFD;
          }
        } else {
          cp = 0xFFFD;
        }
      } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        cp = 0xFFFD;
      }
      o += put_utf8(o, cp); /* at most 4 bytes for >= 6 input bytes */
      break;
    }
    default: *o++ = s[1]; s += 2; break; /* \" \\ \/ */
    }
  }
  return (size_t)(o - out);
}
