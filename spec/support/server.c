/*
 * llmstream-testserver: the local HTTP/1.1 server behind the specs, the
 * benchmarks and the offline demo. One process per connection (fork), so a
 * paced or stalled stream never holds up another; counters live in shared
 * memory so GET /stats can report them.
 *
 *   llmstream-testserver [--port N] [--fixtures DIR] [--max-seconds S]
 *   prints "PORT <n>" on stdout once listening.
 *
 * Routes
 *   GET  /stats                           {"connections","requests","closed_early"}
 *   POST [/<options>]/v1/messages         Anthropic-style stream
 *   POST [/<options>]/chat/completions    OpenAI-style stream
 * With no f= option the stream is the generated demo reply.
 *
 * Options: the first path segment, comma-separated key=value pairs:
 *   f=NAME     serve fixture NAME: NAME.sse as a 200 event stream, or an
 *              HTTP error fixture NAME.json (status, headers, body)
 *   rate=N     N events per second (default: as fast as possible;
 *              demo default 30-80 tokens/s)
 *   drop=K     close the connection after K body bytes
 *   stall=K    after K body bytes send nothing more (connection held open)
 *   bytewise=1 one byte per write
 *   nohead=1   accept the request and never answer
 *   fail=N:NAME  the first N requests with the same option string get the
 *              HTTP error fixture NAME instead (retry tests; add t=TAG to
 *              make the string unique)
 *   ra=S / ram=MS  replace retry-after / add retry-after-ms
 *   ct=TYPE    content-type of a 200 stream (e.g. text/html)
 *   tokens=N   demo: reply length in tokens
 *   first=N    drop/stall/nohead apply only to the first N requests with
 *              the same option string (later ones are served whole)
 *   status=N   serve an HTTP error fixture with status N instead
 *   as200=1    serve an HTTP error fixture's JSON body with status 200
 *   bigline=N  a 200 event stream whose first line is N bytes long
 *   redirect=1 answer 307 to the same path without this option
 *   stamp=1    put the send time into each event (see stamp_event)
 *   blk=N      send the stream in N-byte chunks, ignoring event boundaries
 *              (benchmarks: the server must not be the bottleneck)
 *   --fixtures may be given up to 4 times: the first folder with the file wins
 * Every loop is bounded: a connection lives at most 300 s, the server
 * --max-seconds (default 3600), and it exits when its parent goes away.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <strings.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "../../csrc/jpick.h"

#define MAX_REQ_HEAD (64 << 10)
#define MAX_REQ_BODY (16 << 20)
#define NKEYS 1024

typedef struct stats {
  long connections, requests, closed_early;
  long long last_close_us; /* CLOCK_MONOTONIC of the last early close */
  struct { unsigned long hash; long count; } keys[NKEYS];
} stats;

static stats *S;
static const char *fixdirs[4] = {"."};
static int nfixdirs = 1;

typedef struct opts {
  char f[128], failname[128], ra[32], ram[32], ct[128];
  double rate;
  long drop, stall, failn, tokens, first, status, bigline, blk;
  int bytewise, nohead, rate_set, as200, redirect, stamp;
} opts;

typedef struct buf { char *p; size_t len, cap; } buf;

static void die(const char *m) { perror(m); exit(1); }

static void bput(buf *b, const void *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1) cap *= 2;
    b->p = realloc(b->p, cap);
    if (!b->p) die("realloc");
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

static void bputs(buf *b, const char *s) { bput(b, s, strlen(s)); }

static void bprintf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(buf *b, const char *fmt, ...) {
  char tmp[8192];
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n > 0) bput(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Read NAME+EXT from the first fixtures directory that has it. */
static int read_file(const char *name, const char *ext, buf *out) {
  char path[1024];
  FILE *fp = NULL;
  char tmp[65536];
  size_t n;
  int i;
  if (strchr(name, '/') || strstr(name, "..")) return -1;
  for (i = 0; i < nfixdirs && !fp; i++) {
    snprintf(path, sizeof path, "%s/%s%s", fixdirs[i], name, ext);
    fp = fopen(path, "rb");
  }
  if (!fp) return -1;
  while ((n = fread(tmp, 1, sizeof tmp, fp)) > 0) bput(out, tmp, n);
  fclose(fp);
  if (!out->p) bput(out, "", 0);
  return 0;
}

/* ---- socket output ---- */

static int client_gone(int fd) {
  char c;
  ssize_t r = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static int send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int send_chunk(int fd, const char *p, size_t n) {
  char head[32];
  int hl = snprintf(head, sizeof head, "%zx\r\n", n);
  buf b = {0};
  int rc;
  bput(&b, head, (size_t)hl);
  bput(&b, p, n);
  bput(&b, "\r\n", 2);
  rc = send_all(fd, b.p, b.len);
  free(b.p);
  return rc;
}

/* Wait `sec` seconds; returns -1 as soon as the client closes. */
static int wait_or_gone(int fd, double sec) {
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    struct pollfd pf = {fd, POLLIN, 0};
    double left;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    left = sec - ((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    if (left <= 0) return 0;
    if (poll(&pf, 1, (int)(left * 1000) + 1) > 0 && client_gone(fd)) return -1;
    if (pf.revents & (POLLHUP | POLLERR)) return -1;
  }
}

static long long mono_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static void note_closed_early(void) {
  __atomic_store_n(&S->last_close_us, mono_us(), __ATOMIC_SEQ_CST);
  __atomic_add_fetch(&S->closed_early, 1, __ATOMIC_SEQ_CST);
}

/* stamp=1: each "@@@@@@@@@@@@@@@@" in an event becomes the send time in
   microseconds (CLOCK_MONOTONIC, 16 digits): latency benchmarks. */
static void stamp_event(char *ev, size_t n) {
  char *p = ev, *end = ev + n;
  while ((p = memmem(p, (size_t)(end - p), "@@@@@@@@@@@@@@@@", 16))) {
    char tmp[17];
    snprintf(tmp, sizeof tmp, "%016lld", mono_us());
    memcpy(p, tmp, 16);
    p += 16;
  }
}

/* Stream `body` as a chunked event stream, event by event, honouring
   rate/drop/stall/bytewise. Returns -1 if the connection must close. */
static int stream_body(int fd, const opts *o, char *body, size_t len,
                       const char *ctype) {
  buf h = {0};
  size_t sent = 0, pos = 0;
  long limit = o->drop >= 0 ? o->drop : (o->stall >= 0 ? o->stall : -1);
  double interval = o->rate > 0 ? 1.0 / o->rate : 0;
  bprintf(&h, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nCache-Control: no-cache\r\n"
              "Transfer-Encoding: chunked\r\n\r\n", ctype);
  if (send_all(fd, h.p, h.len)) { free(h.p); note_closed_early(); return -1; }
  free(h.p);
  while (pos < len) {
    char *ev = body + pos;
    const char *end = o->blk > 0 ? NULL : memmem(ev, len - pos, "\n\n", 2);
    size_t n = end ? (size_t)(end - ev) + 2 : len - pos, i;
    if (o->blk > 0 && n > (size_t)o->blk) n = (size_t)o->blk;
    if (limit >= 0 && sent + n > (size_t)limit) n = (size_t)limit - sent;
    if (o->stamp) stamp_event(ev, n);
    if (o->bytewise) {
      for (i = 0; i < n; i++)
        if (send_chunk(fd, ev + i, 1)) { note_closed_early(); return -1; }
    } else if (n && send_chunk(fd, ev, n)) {
      note_closed_early();
      return -1;
    }
    sent += n;
    pos += n;
    if (limit >= 0 && sent >= (size_t)limit) {
      if (o->drop >= 0) return -1; /* drop: close without the last chunk */
      if (wait_or_gone(fd, 290) < 0) note_closed_early(); /* stall */
      return -1;
    }
    if (interval > 0 && pos < len && wait_or_gone(fd, interval) < 0) {
      note_closed_early();
      return -1;
    }
  }
  if (send_all(fd, "0\r\n\r\n", 5)) return -1;
  return 0;
}

/* A 200 event stream whose first data line is n bytes long. */
static int stream_bigline(int fd, long n) {
  static char chunk[65536];
  const char *head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n";
  long left = n;
  memset(chunk, 'x', sizeof chunk);
  memcpy(chunk, "data: ", 6);
  if (send_all(fd, head, strlen(head))) return -1;
  while (left > 0) {
    size_t k = left < (long)sizeof chunk ? (size_t)left : sizeof chunk;
    if (send_chunk(fd, chunk, k)) { note_closed_early(); return -1; }
    left -= (long)k;
    memset(chunk, 'x', 6);
  }
  if (send_chunk(fd, "\n\n", 2) || send_all(fd, "0\r\n\r\n", 5)) return -1;
  return 0;
}

static void add_header_line(buf *b, const char *name, size_t nlen,
                            const char *val, size_t vlen) {
  bput(b, name, nlen);
  bput(b, ": ", 2);
  bput(b, val, vlen);
  bput(b, "\r\n", 2);
}

/* An HTTP error fixture: {"status": N, "headers": {..}, "body": "..."} */
static int serve_http_fixture(int fd, const opts *o, const char *name) {
  buf f = {0}, out = {0}, bodyb = {0};
  jp_path paths[3];
  jp_val v[3];
  long status = 500;
  if (read_file(name, ".json", &f)) {
    const char *msg = "{\"error\":\"no such fixture\"}";
    bprintf(&out, "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                  "Content-Length: %zu\r\n\r\n%s", strlen(msg), msg);
    send_all(fd, out.p, out.len);
    free(out.p);
    return 0;
  }
  jp_parse_path("status", 6, &paths[0]);
  jp_parse_path("headers", 7, &paths[1]);
  jp_parse_path("body", 4, &paths[2]);
  if (jp_pick(f.p, f.len, paths, 3, v, NULL) == 0) {
    if (v[0].type == JP_NUMBER) status = strtol(v[0].s, NULL, 10);
    if (o->status) status = o->status;
    if (o->as200) status = 200;
    if (v[2].type == JP_STRING) {
      bodyb.p = malloc(v[2].len + 1);
      bodyb.len = jp_unescape(v[2].s, v[2].len, bodyb.p);
    }
  }
  bprintf(&out, "HTTP/1.1 %ld Error\r\n", status);
  if (v[1].type == JP_OBJECT) { /* flat object of string values */
    const char *p = v[1].s, *end = v[1].s + v[1].len;
    while (p < end) {
      const char *k0 = memchr(p, '"', (size_t)(end - p)), *k1, *v0, *v1;
      if (!k0) break;
      k1 = memchr(k0 + 1, '"', (size_t)(end - k0 - 1));
      if (!k1) break;
      v0 = memchr(k1 + 1, '"', (size_t)(end - k1 - 1));
      if (!v0) break;
      for (v1 = v0 + 1; v1 < end && *v1 != '"'; v1++)
        if (*v1 == '\\') v1++;
      if ((size_t)(k1 - k0 - 1) == 11 && !strncasecmp(k0 + 1, "retry-after", 11) && o->ra[0])
        add_header_line(&out, "retry-after", 11, o->ra, strlen(o->ra));
      else if (!((size_t)(k1 - k0 - 1) == 14 && !strncasecmp(k0 + 1, "content-length", 14)))
        add_header_line(&out, k0 + 1, (size_t)(k1 - k0 - 1), v0 + 1, (size_t)(v1 - v0 - 1));
      p = v1 + 1;
    }
  }
  if (o->ram[0]) add_header_line(&out, "retry-after-ms", 14, o->ram, strlen(o->ram));
  bprintf(&out, "Content-Length: %zu\r\n\r\n", bodyb.len);
  if (bodyb.len) bput(&out, bodyb.p, bodyb.len);
  send_all(fd, out.p, out.len);
  free(out.p);
  free(f.p);
  free(bodyb.p);
  return 0;
}

/* ---- demo replies ---- */

static const char *DEMO_TEXT =
    "This is the llmstream offline demo: no API key is set, so a local "
    "server answers instead of a real model. Every word you see arrives as "
    "its own streamed token, paced the way a real provider sends them, and "
    "the line under the reply shows the tokens and cost the server reported. "
    "Try pressing Ctrl+C while a reply like this one streams: the transfer "
    "stops at once, the partial reply is dropped, and your message is taken "
    "back out of the history, so /history shows the conversation exactly as "
    "it was before. Type /help for the commands, /usage for the session's "
    "totals, and Ctrl+D to leave. To talk to a real model, set "
    "ANTHROPIC_API_KEY, OPENAI_API_KEY or GROQ_API_KEY and start again; "
    "a local llama.cpp or Ollama server works too, with --provider "
    "openai-compatible and --base-url.";

static void json_escape(buf *b, const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') { bput(b, "\\", 1); bput(b, &s[i], 1); }
    else if (c == '\n') bputs(b, "\\n");
    else if (c < 0x20) bprintf(b, "\\u%04x", c);
    else bput(b, &s[i], 1);
  }
}

static void demo_stream(buf *out, int anthropic, long reqno, size_t in_chars,
                        long max_tokens) {
  const char *p = DEMO_TEXT;
  long ntok = 0, in_tok = (long)(in_chars / 4) + 8;
  char lead[128];
  snprintf(lead, sizeof lead, "(demo reply #%ld) ", reqno);
  if (anthropic)
    bprintf(out, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_demo%ld\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"demo\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":%ld,\"output_tokens\":1}}}\n\n"
                 "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n", reqno, in_tok);
  for (;;) {
    const char *tok;
    size_t n;
    if (ntok == 0) { tok = lead; n = strlen(lead); }
    else {
      const char *q = p;
      if (!*p) break;
      while (*q == ' ') q++;
      while (*q && *q != ' ') q++;
      tok = p; n = (size_t)(q - p); p = q;
    }
    if (max_tokens > 0 && ntok >= max_tokens) break;
    ntok++;
    if (anthropic) {
      bputs(out, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"");
      json_escape(out, tok, n);
      bputs(out, "\"}}\n\n");
    } else {
      bprintf(out, "data: {\"id\":\"chatcmpl-demo%ld\",\"object\":\"chat.completion.chunk\",\"model\":\"demo\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"", reqno);
      json_escape(out, tok, n);
      bputs(out, "\"},\"finish_reason\":null}]}\n\n");
    }
  }
  if (anthropic)
    bprintf(out, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
                 "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"%s\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":%ld}}\n\n"
                 "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
            *p ? "max_tokens" : "end_turn", ntok);
  else
    bprintf(out, "data: {\"id\":\"chatcmpl-demo%ld\",\"object\":\"chat.completion.chunk\",\"model\":\"demo\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"%s\"}]}\n\n"
                 "data: {\"id\":\"chatcmpl-demo%ld\",\"object\":\"chat.completion.chunk\",\"model\":\"demo\",\"choices\":[],\"usage\":{\"prompt_tokens\":%ld,\"completion_tokens\":%ld,\"total_tokens\":%ld}}\n\n"
                 "data: [DONE]\n\n",
            reqno, *p ? "length" : "stop", reqno, in_tok, ntok, in_tok + ntok);
}

/* ---- request handling ---- */

static void parse_opts(const char *seg, size_t n, opts *o) {
  char tmp[1024], *save = NULL, *kv;
  memset(o, 0, sizeof *o);
  o->drop = o->stall = -1;
  if (n >= sizeof tmp) n = sizeof tmp - 1;
  memcpy(tmp, seg, n);
  tmp[n] = 0;
  for (kv = strtok_r(tmp, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(kv, '=');
    const char *v;
    if (!eq) continue;
    *eq = 0;
    v = eq + 1;
    if (!strcmp(kv, "f")) snprintf(o->f, sizeof o->f, "%s", v);
    else if (!strcmp(kv, "rate")) { o->rate = atof(v); o->rate_set = 1; }
    else if (!strcmp(kv, "drop")) o->drop = atol(v);
    else if (!strcmp(kv, "stall")) o->stall = atol(v);
    else if (!strcmp(kv, "bytewise")) o->bytewise = atoi(v);
    else if (!strcmp(kv, "nohead")) o->nohead = atoi(v);
    else if (!strcmp(kv, "ra")) snprintf(o->ra, sizeof o->ra, "%s", v);
    else if (!strcmp(kv, "ram")) snprintf(o->ram, sizeof o->ram, "%s", v);
    else if (!strcmp(kv, "ct")) snprintf(o->ct, sizeof o->ct, "%s", v);
    else if (!strcmp(kv, "tokens")) o->tokens = atol(v);
    else if (!strcmp(kv, "first")) o->first = atol(v);
    else if (!strcmp(kv, "status")) o->status = atol(v);
    else if (!strcmp(kv, "as200")) o->as200 = atoi(v);
    else if (!strcmp(kv, "bigline")) o->bigline = atol(v);
    else if (!strcmp(kv, "redirect")) o->redirect = atoi(v);
    else if (!strcmp(kv, "blk")) o->blk = atol(v);
    else if (!strcmp(kv, "stamp")) o->stamp = atoi(v);
    else if (!strcmp(kv, "fail")) {
      const char *c = strchr(v, ':');
      o->failn = atol(v);
      if (c) snprintf(o->failname, sizeof o->failname, "%s", c + 1);
    }
  }
}

static unsigned long hash_str(const char *s, size_t n) {
  unsigned long h = 5381;
  size_t i;
  for (i = 0; i < n; i++) h = h * 33 + (unsigned char)s[i];
  return h ? h : 1;
}

/* How many requests with this option string came before this one. */
static long bump_key(const char *s, size_t n) {
  unsigned long h = hash_str(s, n);
  size_t i, slot = h % NKEYS;
  for (i = 0; i < NKEYS; i++, slot = (slot + 1) % NKEYS) {
    unsigned long cur = __atomic_load_n(&S->keys[slot].hash, __ATOMIC_SEQ_CST);
    if (cur == 0) {
      unsigned long zero = 0;
      if (!__atomic_compare_exchange_n(&S->keys[slot].hash, &zero, h, 0,
                                       __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) &&
          zero != h)
        continue;
      cur = h;
    }
    if (cur == h) return __atomic_fetch_add(&S->keys[slot].count, 1, __ATOMIC_SEQ_CST);
  }
  return 0;
}

static int respond_simple(int fd, int status, const char *ctype, const char *body) {
  buf out = {0};
  bprintf(&out, "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n%s",
          status, ctype, strlen(body), body);
  send_all(fd, out.p, out.len);
  free(out.p);
  return 0;
}

static int handle(int fd, const char *method, const char *path,
                  const char *body, size_t blen) {
  opts o;
  const char *seg = path + 1, *segend = strchr(seg, '/');
  size_t seglen = segend ? (size_t)(segend - seg) : strlen(seg);
  int anthropic = strstr(path, "/v1/messages") != NULL;
  int openai = strstr(path, "/chat/completions") != NULL;
  long reqno = __atomic_add_fetch(&S->requests, 1, __ATOMIC_SEQ_CST);
  buf sse = {0};
  int rc;
  if (!strcmp(path, "/stats")) {
    char js[256];
    snprintf(js, sizeof js, "{\"connections\":%ld,\"requests\":%ld,\"closed_early\":%ld,\"last_close_us\":%lld}",
             S->connections, S->requests, S->closed_early, S->last_close_us);
    return respond_simple(fd, 200, "application/json", js);
  }
  if (memchr(seg, '=', seglen)) parse_opts(seg, seglen, &o);
  else parse_opts("", 0, &o);
  (void)method;
  if (o.first > 0 && bump_key(seg, seglen) >= o.first) {
    o.drop = o.stall = -1; /* faults only for the first N requests */
    o.nohead = 0;
  }
  if (o.nohead) { wait_or_gone(fd, 290); return -1; }
  if (o.redirect) {
    buf r = {0};
    const char *rest = segend ? segend : "/";
    bprintf(&r, "HTTP/1.1 307 Temporary Redirect\r\nLocation: /f=%s%s\r\nContent-Length: 0\r\n\r\n", o.f, rest);
    send_all(fd, r.p, r.len);
    free(r.p);
    return 0;
  }
  if (o.bigline > 0) return stream_bigline(fd, o.bigline);
  if (o.failn > 0 && bump_key(seg, seglen) < o.failn)
    return serve_http_fixture(fd, &o, o.failname);
  if (o.f[0]) {
    if (read_file(o.f, ".sse", &sse)) return serve_http_fixture(fd, &o, o.f);
  } else if (anthropic || openai) {
    jp_path mp;
    jp_val mv;
    long max_tokens = o.tokens;
    jp_parse_path("max_tokens", 10, &mp);
    if (!max_tokens && jp_pick(body, blen, &mp, 1, &mv, NULL) == 0 && mv.type == JP_NUMBER)
      max_tokens = strtol(mv.s, NULL, 10);
    demo_stream(&sse, anthropic, reqno, blen, max_tokens);
    if (!o.rate_set) o.rate = 30 + rand() % 51;
  } else {
    return respond_simple(fd, 404, "application/json",
                          "{\"error\":{\"message\":\"unknown route\",\"type\":\"not_found\"}}");
  }
  rc = stream_body(fd, &o, sse.p, sse.len, o.ct[0] ? o.ct : "text/event-stream; charset=utf-8");
  free(sse.p);
  return rc;
}

/* One connection: requests until close (keep-alive). */
static void serve_conn(int fd) {
  buf in = {0};
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  alarm(300);
  for (;;) {
    char *hend, method[16], path[2048], *cl;
    size_t head_len, blen = 0;
    char tmp[65536];
    while (!(hend = in.p ? strstr(in.p, "\r\n\r\n") : NULL)) {
      ssize_t r = recv(fd, tmp, sizeof tmp, 0);
      if (r <= 0 || in.len > MAX_REQ_HEAD) goto out;
      bput(&in, tmp, (size_t)r);
    }
    head_len = (size_t)(hend - in.p) + 4;
    if (sscanf(in.p, "%15s %2047s", method, path) != 2) goto out;
    cl = strcasestr(in.p, "\r\ncontent-length:");
    if (cl && cl < hend) blen = strtoul(cl + 17, NULL, 10);
    if (blen > MAX_REQ_BODY) goto out;
    while (in.len < head_len + blen) {
      ssize_t r = recv(fd, tmp, sizeof tmp, 0);
      if (r <= 0) goto out;
      bput(&in, tmp, (size_t)r);
    }
    {
      char *body = malloc(blen + 1);
      int rc;
      memcpy(body, in.p + head_len, blen);
      body[blen] = 0;
      rc = handle(fd, method, path, body, blen);
      free(body);
      if (rc < 0) goto out;
    }
    memmove(in.p, in.p + head_len + blen, in.len - head_len - blen);
    in.len -= head_len + blen;
    in.p[in.len] = 0;
  }
out:
  free(in.p);
  close(fd);
}

static void on_term(int sig) {
  (void)sig;
  kill(-getpid(), SIGTERM);
  _exit(0);
}

int main(int argc, char **argv) {
  int port = 0, lfd, one = 1, i;
  long max_seconds = 3600;
  struct sockaddr_in a;
  socklen_t alen = sizeof a;
  pid_t parent = getppid();
  time_t start = time(NULL);
  for (i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--port") && i + 1 < argc) port = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--fixtures") && i + 1 < argc) {
      if (nfixdirs == 1 && !strcmp(fixdirs[0], ".")) nfixdirs = 0;
      if (nfixdirs < 4) fixdirs[nfixdirs++] = argv[++i];
    }
    else if (!strcmp(argv[i], "--max-seconds") && i + 1 < argc) max_seconds = atol(argv[++i]);
    else { fprintf(stderr, "usage: %s [--port N] [--fixtures DIR] [--max-seconds S]\n", argv[0]); return 2; }
  }
  setpgid(0, 0);
  signal(SIGCHLD, SIG_IGN); /* children are reaped automatically */
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  srand((unsigned)time(NULL));
  S = mmap(NULL, sizeof *S, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (S == MAP_FAILED) die("mmap");
  lfd = socket(AF_INET, SOCK_STREAM, 0);
  if (lfd < 0) die("socket");
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((unsigned short)port);
  if (bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 4096)) die("bind/listen");
  getsockname(lfd, (struct sockaddr *)&a, &alen);
  printf("PORT %d PID %d\n", ntohs(a.sin_port), (int)getpid());
  fflush(stdout);
  for (;;) {
    struct pollfd pf = {lfd, POLLIN, 0};
    int fd;
    if (getppid() != parent || time(NULL) - start > max_seconds) on_term(0);
    if (poll(&pf, 1, 1000) <= 0) continue;
    fd = accept(lfd, NULL, NULL);
    if (fd < 0) continue;
    __atomic_add_fetch(&S->connections, 1, __ATOMIC_SEQ_CST);
    if (fork() == 0) {
      close(lfd);
      signal(SIGTERM, SIG_DFL);
      signal(SIGINT, SIG_DFL);
      serve_conn(fd);
      _exit(0);
    }
    close(fd);
  }
}
