/* Plain C check of csrc/sse.c on every fixture stream: fed whole, one byte
   at a time, and split in two at every position, the parser must dispatch
   the same events. Prints "N passed, M failed". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../csrc/sse.h"

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *p;
  long n;
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  p = malloc((size_t)n + 1);
  if (fread(p, 1, (size_t)n, f) != (size_t)n) { free(p); fclose(f); return NULL; }
  fclose(f);
  *len = (size_t)n;
  return p;
}

/* Serialise the queue so runs compare with one memcmp. */
static void drain(sse_queue *q, sse_buf *out) {
  size_t i;
  for (i = 0; i < q->n; i++) {
    const sse_rec *r = &q->recs[i];
    size_t need = out->len + r->event_len + r->data_len + r->id_len + 64;
    if (need > out->cap) {
      out->cap = need * 2;
      out->p = realloc(out->p, out->cap);
    }
    size_t lens[3];
    lens[0] = r->event_len; lens[1] = r->data_len; lens[2] = r->id_len;
    memcpy(out->p + out->len, lens, sizeof lens);
    out->len += sizeof lens;
    memcpy(out->p + out->len, q->bytes.p + r->off, r->event_len + r->data_len + r->id_len);
    out->len += r->event_len + r->data_len + r->id_len;
  }
  sse_queue_clear(q);
}

/* Feed `s` cut at the given positions (sorted, ncuts of them). */
static size_t run(const char *s, size_t len, const size_t *cuts, int ncuts,
                  sse_buf *out) {
  sse_queue q;
  sse_parser p;
  size_t prev = 0, events = 0;
  int i;
  out->len = 0;
  sse_queue_init(&q);
  sse_init(&p, &q, 0);
  for (i = 0; i <= ncuts; i++) {
    size_t end = i < ncuts ? cuts[i] : len;
    if (sse_feed(&p, s + prev, end - prev)) { fprintf(stderr, "feed failed\n"); exit(1); }
    events += q.n;
    drain(&q, out);
    prev = end;
  }
  sse_free(&p);
  sse_queue_free(&q);
  return events;
}

int main(int argc, char **argv) {
  int passed = 0, failed = 0, a;
  for (a = 1; a < argc; a++) {
    size_t len, pos, *cuts, events;
    char *s = slurp(argv[a], &len);
    sse_buf ref = {0}, got = {0};
    int ok = 1;
    if (!s) { fprintf(stderr, "cannot read %s\n", argv[a]); failed++; continue; }
    events = run(s, len, NULL, 0, &ref);
    /* one byte at a time */
    cuts = malloc(len * sizeof *cuts);
    for (pos = 0; pos < len; pos++) cuts[pos] = pos;
    run(s, len, cuts, (int)len, &got);
    if (got.len != ref.len || memcmp(got.p, ref.p, ref.len)) { ok = 0; fprintf(stderr, "%s: bytewise differs\n", argv[a]); }
    /* two chunks, cut at every position */
    for (pos = 0; pos <= len && ok; pos++) {
      run(s, len, &pos, 1, &got);
      if (got.len != ref.len || memcmp(got.p, ref.p, ref.len)) {
        ok = 0;
        fprintf(stderr, "%s: split at %zu differs\n", argv[a], pos);
      }
    }
    printf("%-40s %zu events, %zu bytes, %zu splits: %s\n", strrchr(argv[a], '/') ? strrchr(argv[a], '/') + 1 : argv[a], events, len, len + 1, ok ? "ok" : "FAILED");
    if (ok) passed++; else failed++;
    free(cuts); free(s); free(ref.p); free(got.p);
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
