#define _POSIX_C_SOURCE 200809L
/* Parser throughput in C alone: a 64 MiB Anthropic-style stream fed in
   16 KiB chunks; prints MB/s and events/s (best of 5). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../csrc/sse.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(void) {
  const char *ev = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" the\"}}\n\n";
  size_t evlen = strlen(ev), size = (size_t)64 << 20, n = size / evlen, i;
  char *s = malloc(n * evlen);
  double best = 1e9;
  int run;
  for (i = 0; i < n; i++) memcpy(s + i * evlen, ev, evlen);
  size = n * evlen;
  for (run = 0; run < 5; run++) {
    sse_queue q;
    sse_parser p;
    size_t off, events = 0;
    double t0;
    sse_queue_init(&q);
    sse_init(&p, &q, 0);
    t0 = now();
    for (off = 0; off < size; off += 16384) {
      size_t k = size - off < 16384 ? size - off : 16384;
      if (sse_feed(&p, s + off, k)) return 1;
      events += q.n;
      sse_queue_clear(&q); /* a drain */
    }
    t0 = now() - t0;
    if (t0 < best) best = t0;
    if (events != n) { fprintf(stderr, "events %zu != %zu\n", events, n); return 1; }
    sse_free(&p);
    sse_queue_free(&q);
  }
  printf("%.0f %.0f\n", (double)size / best / 1e6, (double)n / best);
  free(s);
  return 0;
}
