/*
 * sse.c - see sse.h for the contract. Pure C99/C11, no Lua, no curl.
 *
 * Control flow: sse_feed() skips the BOM, then feed_bytes() cuts the chunk
 * into lines. A line that ends inside the chunk is processed in place; the
 * tail of a chunk with no line end yet is copied into p->line and completed
 * by the next chunk. process_line() applies the field rules; dispatch()
 * copies the finished event into the queue.
 */
#include "sse.h"

#include <stdlib.h>
#include <string.h>

static const unsigned char BOM[3] = {0xEF, 0xBB, 0xBF};

/* Make room for `extra` more bytes. Returns 0 or SSE_ERR_NOMEM. */
static int buf_reserve(sse_buf *b, size_t extra) {
  size_t need = b->len + extra, cap;
  char *np;
  if (need < b->len) return SSE_ERR_NOMEM; /* overflow */
  if (need <= b->cap) return SSE_OK;
  cap = b->cap ? b->cap : 256;
  while (cap < need) {
    if (cap > ((size_t)-1) / 2) { cap = need; break; }
    cap *= 2;
  }
  np = realloc(b->p, cap);
  if (!np) return SSE_ERR_NOMEM;
  b->p = np;
  b->cap = cap;
  return SSE_OK;
}

int sse_buf_append(sse_buf *b, const char *s, size_t n) {
  if (n == 0) return SSE_OK;
  if (buf_reserve(b, n)) return SSE_ERR_NOMEM;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  return SSE_OK;
}

static void buf_free(sse_buf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

void sse_queue_init(sse_queue *q) { memset(q, 0, sizeof *q); }

void sse_queue_clear(sse_queue *q) {
  q->n = 0;
  q->bytes.len = 0;
}

void sse_queue_free(sse_queue *q) {
  buf_free(&q->bytes);
  free(q->recs);
  memset(q, 0, sizeof *q);
}

static int queue_push(sse_queue *q, const char *ev, size_t evlen,
                      const char *data, size_t dlen, const char *id,
                      size_t idlen) {
  sse_rec *r;
  if (q->n == q->cap) {
    size_t cap = q->cap ? q->cap * 2 : 64;
    sse_rec *nr = realloc(q->recs, cap * sizeof *nr);
    if (!nr) return SSE_ERR_NOMEM;
    q->recs = nr;
    q->cap = cap;
  }
  if (buf_reserve(&q->bytes, evlen + dlen + idlen)) return SSE_ERR_NOMEM;
  r = &q->recs[q->n++];
  r->off = q->bytes.len;
  r->event_len = evlen;
  r->data_len = dlen;
  r->id_len = idlen;
  sse_buf_append(&q->bytes, ev, evlen); /* cannot fail: reserved above */
  sse_buf_append(&q->bytes, data, dlen);
  sse_buf_append(&q->bytes, id, idlen);
  return SSE_OK;
}

void sse_init(sse_parser *p, sse_queue *out, size_t max_size) {
  memset(p, 0, sizeof *p);
  p->out = out;
  p->max_size = max_size ? max_size : SSE_DEFAULT_MAX_SIZE;
  p->retry_ms = -1;
}

void sse_free(sse_parser *p) {
  buf_free(&p->line);
  buf_free(&p->data);
  buf_free(&p->event);
  buf_free(&p->last_id);
}

const char *sse_strerror(int code) {
  switch (code) {
  case SSE_OK: return "ok";
  case SSE_ERR_TOO_LARGE: return "SSE line or event larger than the configured maximum";
  case SSE_ERR_NOMEM: return "out of memory while parsing the event stream";
  default: return "unknown SSE parser error";
  }
}

static int fail(sse_parser *p, int code) {
  p->error = code;
  return code;
}

/* A blank line: dispatch the pending event, if it has data. */
static int dispatch(sse_parser *p) {
  int rc = SSE_OK;
  if (p->has_data) {
    const char *ev = p->event.len ? p->event.p : "message";
    size_t evlen = p->event.len ? p->event.len : 7;
    rc = queue_push(p->out, ev, evlen, p->data.p, p->data.len, p->last_id.p,
                    p->last_id.len);
  }
  p->data.len = 0;
  p->has_data = 0;
  p->event.len = 0;
  return rc;
}

static int field_is(const char *f, size_t n, const char *name, size_t nlen) {
  return n == nlen && memcmp(f, name, n) == 0;
}

static int process_line(sse_parser *p, const char *l, size_t n) {
  const char *colon, *v;
  size_t flen, vlen;
  if (n == 0) return dispatch(p);
  if (l[0] == ':') return SSE_OK; /* comment */
  colon = memchr(l, ':', n);
  if (colon) {
    flen = (size_t)(colon - l);
    v = colon + 1;
    vlen = n - flen - 1;
    if (vlen && *v == ' ') { v++; vlen--; }
  } else {
    flen = n;
    v = l + n;
    vlen = 0;
  }
  if (field_is(l, flen, "data", 4)) {
    /* Joining with LF before each later line equals the spec's
       "append LF after each, strip the last one at dispatch". */
    if (p->data.len + vlen + 1 > p->max_size) return SSE_ERR_TOO_LARGE;
    if (p->has_data && sse_buf_append(&p->data, "\n", 1)) return SSE_ERR_NOMEM;
    if (sse_buf_append(&p->data, v, vlen)) return SSE_ERR_NOMEM;
    p->has_data = 1;
  } else if (field_is(l, flen, "event", 5)) {
    p->event.len = 0;
    if (sse_buf_append(&p->event, v, vlen)) return SSE_ERR_NOMEM;
  } else if (field_is(l, flen, "id", 2)) {
    if (!memchr(v, '\0', vlen)) {
      p->last_id.len = 0;
      if (sse_buf_append(&p->last_id, v, vlen)) return SSE_ERR_NOMEM;
    }
  } else if (field_is(l, flen, "retry", 5)) {
    size_t i;
    long ms = 0;
    for (i = 0; i < vlen; i++) {
      if (v[i] < '0' || v[i] > '9') break;
      if (ms < 100000000L) ms = ms * 10 + (v[i] - '0');
    }
    if (vlen && i == vlen) p->retry_ms = ms;
  }
  /* any other field is ignored */
  return SSE_OK;
}

/* Find the first CR or LF in [s, end). SSE from LLM providers uses LF, so
   look for LF with memchr and only then for a CR before it. */
static const char *find_eol(const char *s, const char *end) {
  const char *lf = memchr(s, '\n', (size_t)(end - s));
  const char *lim = lf ? lf : end;
  const char *cr = memchr(s, '\r', (size_t)(lim - s));
  return cr ? cr : lf;
}

static int feed_bytes(sse_parser *p, const char *s, size_t len) {
  const char *end = s + len;
  int rc;
  while (s < end) {
    const char *e;
    if (p->after_cr) {
      p->after_cr = 0;
      if (*s == '\n') { s++; continue; }
    }
    e = find_eol(s, end);
    if (!e) { /* no line end yet: keep the tail for the next chunk */
      size_t n = (size_t)(end - s);
      if (p->line.len + n > p->max_size) return fail(p, SSE_ERR_TOO_LARGE);
      if (sse_buf_append(&p->line, s, n)) return fail(p, SSE_ERR_NOMEM);
      break;
    }
    if (p->line.len + (size_t)(e - s) > p->max_size)
      return fail(p, SSE_ERR_TOO_LARGE);
    if (p->line.len) {
      if (sse_buf_append(&p->line, s, (size_t)(e - s))) return fail(p, SSE_ERR_NOMEM);
      rc = process_line(p, p->line.p, p->line.len);
      p->line.len = 0;
    } else {
      rc = process_line(p, s, (size_t)(e - s));
    }
    if (rc) return fail(p, rc);
    if (*e == '\r') {
      if (e + 1 == end) p->after_cr = 1;
      else if (e[1] == '\n') e++;
    }
    s = e + 1;
  }
  return SSE_OK;
}

int sse_feed(sse_parser *p, const char *chunk, size_t len) {
  const char *s = chunk, *end = chunk + len;
  if (p->error) return p->error;
  if (p->bom_seen < 4) {
    while (s < end && p->bom_seen < 3 && (unsigned char)*s == BOM[p->bom_seen]) {
      p->bom_seen++;
      s++;
    }
    if (p->bom_seen == 3) {
      p->bom_seen = 4;
    } else if (s < end) {
      /* not a BOM after all: the bytes matched so far are content */
      unsigned k = p->bom_seen;
      p->bom_seen = 4;
      if (k) {
        int rc = feed_bytes(p, (const char *)BOM, k);
        if (rc) return rc;
      }
    } else {
      return SSE_OK; /* chunk ended inside a possible BOM */
    }
  }
  return feed_bytes(p, s, (size_t)(end - s));
}
