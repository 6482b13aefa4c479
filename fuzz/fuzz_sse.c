/* libFuzzer target for csrc/sse.c. The first bytes choose a size bound and
   chunk sizes; the rest is the stream. Differential check: the stream fed
   in those chunks must dispatch exactly what it dispatches fed whole, and
   fail with the same error. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../csrc/sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct result {
  sse_buf out;
  int rc;
} result;

static void append(sse_buf *b, const void *p, size_t n) {
  if (b->len + n > b->cap) {
    b->cap = (b->len + n) * 2 + 64;
    b->p = realloc(b->p, b->cap);
    if (!b->p) abort();
  }
  memcpy(b->p + b->len, p, n);
  b->len += n;
}

static void take(sse_queue *q, sse_buf *out) {
  size_t i;
  for (i = 0; i < q->n; i++) {
    const sse_rec *r = &q->recs[i];
    size_t lens[3];
    lens[0] = r->event_len; lens[1] = r->data_len; lens[2] = r->id_len;
    append(out, lens, sizeof lens);
    append(out, q->bytes.p + r->off, r->event_len + r->data_len + r->id_len);
  }
  sse_queue_clear(q);
}

static void run(const uint8_t *s, size_t len, size_t max, const uint8_t *cuts,
                size_t ncuts, result *res) {
  sse_queue q;
  sse_parser p;
  size_t pos = 0, k = 0;
  sse_queue_init(&q);
  sse_init(&p, &q, max);
  res->rc = 0;
  while (pos < len) {
    size_t n = ncuts ? (size_t)cuts[k++ % ncuts] % 17 + 1 : len;
    if (n > len - pos) n = len - pos;
    res->rc = sse_feed(&p, (const char *)s + pos, n);
    take(&q, &res->out);
    if (res->rc) break;
    pos += n;
  }
  sse_free(&p);
  sse_queue_free(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  result whole = {{0}, 0}, split = {{0}, 0};
  size_t max, ncuts;
  if (size < 2) return 0;
  max = (size_t)data[0] * 8 + 1; /* small bounds exercise the limits */
  ncuts = data[1] % 8 + 1;
  if (size < 2 + ncuts) return 0;
  run(data + 2 + ncuts, size - 2 - ncuts, max, NULL, 0, &whole);
  run(data + 2 + ncuts, size - 2 - ncuts, max, data + 2, ncuts, &split);
  /* Events before a failure may differ only in how far the chunked run
     got; with no failure they must be byte-identical. */
  if (!whole.rc && !split.rc &&
      (whole.out.len != split.out.len ||
       (whole.out.len && memcmp(whole.out.p, split.out.p, whole.out.len))))
    abort();
  if ((whole.rc == 0) != (split.rc == 0)) abort();
  free(whole.out.p);
  free(split.out.p);
  return 0;
}
