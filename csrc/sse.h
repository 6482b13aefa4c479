/*
 * sse.h - incremental Server-Sent Events parser (pure C: no Lua, no curl).
 *
 * Contract
 *   - Implements the WHATWG HTML "Interpreting an event stream" algorithm:
 *     one UTF-8 BOM skipped at the very start; CR, LF and CRLF line ends
 *     (a CR ending one chunk and the LF starting the next are one line end);
 *     ':' comments; a field without a colon has an empty value; one leading
 *     space of the value is stripped; data lines are joined with LF; an
 *     event with no data line dispatches nothing; the event type resets
 *     after every blank line; the last event id persists across events and
 *     an id value containing NUL is ignored; `retry` is parsed and kept.
 *   - Chunks may be cut anywhere. An event is dispatched only at the blank
 *     line that closes it: a stream that ends mid-event never dispatches it.
 *   - Memory is bounded: a line longer than `max_size`, or an event whose
 *     data exceeds `max_size`, fails the parser with SSE_ERR_TOO_LARGE. A
 *     failed parser stays failed (every later feed returns the same code).
 *   - Nothing here aborts or exits: out of memory is SSE_ERR_NOMEM and the
 *     caller fails that one stream.
 *
 * Dispatched events go to an sse_queue: a compact store of
 * (event, data, id) records that the caller drains in one batch.
 */
#ifndef LLMSTREAM_SSE_H
#define LLMSTREAM_SSE_H

#include <stddef.h>

#define SSE_DEFAULT_MAX_SIZE ((size_t)8 << 20) /* 8 MiB per line / event */

enum {
  SSE_OK = 0,
  SSE_ERR_TOO_LARGE = 1, /* a line or an event's data passed max_size */
  SSE_ERR_NOMEM = 2
};

/* A growable byte buffer. */
typedef struct sse_buf {
  char *p;
  size_t len, cap;
} sse_buf;

/* One queued event: offsets into sse_queue.bytes. id_len == 0: no id. */
typedef struct sse_rec {
  size_t off, event_len, data_len, id_len;
} sse_rec;

/* Events dispatched and not yet drained, in order. */
typedef struct sse_queue {
  sse_buf bytes; /* event bytes, data bytes, id bytes, record after record */
  sse_rec *recs;
  size_t n, cap;
} sse_queue;

typedef struct sse_parser {
  sse_queue *out;     /* where dispatched events go (not owned) */
  size_t max_size;    /* bound on one line and on one event's data */
  sse_buf line;       /* the current line when it spans chunks */
  sse_buf data;       /* data buffer: each data line + LF */
  sse_buf event;      /* event type buffer */
  sse_buf last_id;    /* last event id buffer (persists) */
  long retry_ms;      /* last valid `retry` field, -1 if none */
  unsigned bom_seen;  /* BOM bytes matched so far (0..3); 4 = BOM check done */
  int after_cr;       /* the previous chunk ended with CR: skip one LF */
  int has_data;       /* at least one data line in the current event */
  int error;          /* sticky SSE_ERR_* */
} sse_parser;

/* Initialise; max_size 0 means SSE_DEFAULT_MAX_SIZE. Never fails. */
void sse_init(sse_parser *p, sse_queue *out, size_t max_size);
/* Feed a chunk; returns SSE_OK or the (sticky) error code. */
int sse_feed(sse_parser *p, const char *chunk, size_t len);
void sse_free(sse_parser *p);
const char *sse_strerror(int code);

/* Append n bytes to a growable buffer; returns SSE_OK or SSE_ERR_NOMEM. */
int sse_buf_append(sse_buf *b, const char *s, size_t n);

void sse_queue_init(sse_queue *q);
/* Forget every queued event, keeping the memory for reuse. */
void sse_queue_clear(sse_queue *q);
void sse_queue_free(sse_queue *q);

#endif
