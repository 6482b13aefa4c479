/*
 * lcore.c - llmstream.core: Lua bindings for the SSE parser, the JSON
 * picker and non-blocking HTTP transfers on libcurl's multi interface.
 *
 * Invariants
 *   - C never calls into Lua. curl's callbacks (write, header, socket,
 *     timer) only append bytes, queue SSE events or record what curl asked
 *     for; Lua pulls it after poll()/socket_action().
 *   - Ownership: a multi owns its CURLM; a transfer owns its CURL easy
 *     handle, header list, parser, event queue and body buffer. A transfer
 *     with a live easy handle sits in its multi's `live` list. The transfer
 *     keeps its multi alive from Lua through its user value; the multi
 *     holds no Lua reference to transfers (no pinning: a transfer nobody
 *     references is collected, and its __gc cancels it).
 *   - Release order (curl's docs): curl_multi_remove_handle, then
 *     curl_easy_cleanup, then our buffers. Finalizers may run in any order
 *     at lua_close, so whichever side goes first nulls the other's pointer.
 *   - Every userdata is created closed and only then opened (liolib), so a
 *     failure half-way leaves nothing for __gc to trip on.
 */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"
#include "jpick.h"
#include "sse.h"

#define LLMSTREAM_VERSION "0.1.0"
#define MULTI_MT "llmstream.multi"
#define TRANSFER_MT "llmstream.transfer"
#define PARSER_MT "llmstream.sse_parser"
#define HOTPATH_MT "llmstream.hotpath"

#define EXPORT __attribute__((visibility("default")))

/* Bounds (overridable per transfer). */
#define DEFAULT_MAX_BODY ((size_t)1 << 20)   /* non-SSE body kept */
#define MAX_HEADER_BYTES ((size_t)64 << 10)  /* response header block */
/* Undrained events past this pause the transfer (backpressure: the rest
   waits in the kernel and TCP slows the server) until Lua drains. */
#define DEFAULT_MAX_QUEUE ((size_t)256 << 10)

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ */
/* SSE parser userdata                                                  */

typedef struct lparser {
  sse_parser p;
  sse_queue q;
  int open;
} lparser;

/* Push the queued events as an array of {event=, data=, id=} tables. */
static void push_event_tables(lua_State *L, sse_queue *q) {
  size_t i;
  lua_createtable(L, (int)q->n, 0);
  for (i = 0; i < q->n; i++) {
    const sse_rec *r = &q->recs[i];
    const char *b = q->bytes.p + r->off;
    lua_createtable(L, 0, 3);
    lua_pushlstring(L, b, r->event_len);
    lua_setfield(L, -2, "event");
    lua_pushlstring(L, b + r->event_len, r->data_len);
    lua_setfield(L, -2, "data");
    if (r->id_len) {
      lua_pushlstring(L, b + r->event_len + r->data_len, r->id_len);
      lua_setfield(L, -2, "id");
    }
    lua_rawseti(L, -2, (int)i + 1);
  }
  sse_queue_clear(q);
}

static size_t opt_size(lua_State *L, int idx, size_t dflt) {
  lua_Number n;
  if (lua_isnoneornil(L, idx)) return dflt;
  n = luaL_checknumber(L, idx);
  luaL_argcheck(L, n >= 1 && n <= 1e15, idx, "size must be a positive number");
  return (size_t)n;
}

/* core.sse_parser([max_size]) */
static int l_sse_parser(lua_State *L) {
  size_t max = opt_size(L, 1, SSE_DEFAULT_MAX_SIZE);
  lparser *lp = lua_newuserdata(L, sizeof *lp);
  lp->open = 0;
  ls_setmetatable(L, PARSER_MT);
  sse_queue_init(&lp->q);
  sse_init(&lp->p, &lp->q, max);
  lp->open = 1;
  return 1;
}

static lparser *check_parser(lua_State *L) {
  lparser *lp = luaL_checkudata(L, 1, PARSER_MT);
  if (!lp->open) luaL_error(L, "attempt to use a closed SSE parser");
  return lp;
}

/* p:feed(chunk) -> events[, error message]. Events completed before an
   error are still returned; once failed, the parser stays failed. */
static int l_parser_feed(lua_State *L) {
  lparser *lp = check_parser(L);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  int rc = sse_feed(&lp->p, s, len);
  push_event_tables(L, &lp->q);
  if (rc == SSE_OK) return 1;
  lua_pushstring(L, sse_strerror(rc));
  return 2;
}

static int l_parser_last_id(lua_State *L) {
  lparser *lp = check_parser(L);
  if (lp->p.last_id.len == 0) return 0;
  lua_pushlstring(L, lp->p.last_id.p, lp->p.last_id.len);
  return 1;
}

static int l_parser_retry(lua_State *L) {
  lparser *lp = check_parser(L);
  if (lp->p.retry_ms < 0) return 0;
  lua_pushinteger(L, (lua_Integer)lp->p.retry_ms);
  return 1;
}

static int l_parser_close(lua_State *L) {
  lparser *lp = luaL_checkudata(L, 1, PARSER_MT);
  if (lp->open) {
    lp->open = 0;
    sse_free(&lp->p);
    sse_queue_free(&lp->q);
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* JSON picker: core.jpick(json, path1, ...) -> true, v1, ... | false, err */

static void push_jval(lua_State *L, const jp_val *v) {
  switch (v->type) {
  case JP_STRING:
    if (!v->escaped) {
      lua_pushlstring(L, v->s, v->len);
    } else {
      /* unescaping never grows; a userdata scratch buffer cannot leak */
      char small[256], *out = small;
      size_t n;
      if (v->len > sizeof small) out = lua_newuserdata(L, v->len);
      n = jp_unescape(v->s, v->len, out);
      lua_pushlstring(L, out, n);
      if (out != small) lua_remove(L, -2);
    }
    break;
  case JP_NUMBER: {
    char tmp[64];
    size_t n = v->len < sizeof tmp - 1 ? v->len : sizeof tmp - 1;
    memcpy(tmp, v->s, n);
    tmp[n] = 0;
    /* integers stay integers on 5.4 (token counts compare with ==) */
    if (n < 16 && !strpbrk(tmp, ".eE"))
      lua_pushinteger(L, (lua_Integer)strtoll(tmp, NULL, 10));
    else
      lua_pushnumber(L, strtod(tmp, NULL));
    break;
  }
  case JP_TRUE: case JP_OBJECT: case JP_ARRAY: lua_pushboolean(L, 1); break;
  case JP_FALSE: lua_pushboolean(L, 0); break;
  default: lua_pushnil(L); break; /* missing or null */
  }
}

static int l_jpick(lua_State *L) {
  size_t len, errpos = 0;
  const char *s = luaL_checklstring(L, 1, &len);
  int n = lua_gettop(L) - 1, i;
  jp_path paths[JP_MAX_PATHS];
  jp_val vals[JP_MAX_PATHS];
  luaL_argcheck(L, n >= 1 && n <= JP_MAX_PATHS, 2, "1 to 16 paths expected");
  for (i = 0; i < n; i++) {
    size_t plen;
    const char *ps = luaL_checklstring(L, i + 2, &plen);
    if (jp_parse_path(ps, plen, &paths[i]))
      return luaL_argerror(L, i + 2, "bad path");
  }
  luaL_checkstack(L, n + 1, "too many results");
  if (jp_pick(s, len, paths, n, vals, &errpos)) {
    lua_pushboolean(L, 0);
    lua_pushfstring(L, "invalid JSON at byte %d", (int)errpos + 1);
    return 2;
  }
  lua_pushboolean(L, 1);
  for (i = 0; i < n; i++) push_jval(L, &vals[i]);
  return n + 1;
}

/* ------------------------------------------------------------------ */
/* Hot path: which events drain() hands over as (index, text) pairs     */

/* The providers (Lua) say which events are plain text deltas; the core
   recognises them while draining, so the common event costs Lua one
   number and one string instead of a name, a JSON text and a jpick call.
   Paths are parsed once, into the userdata's own copy of the strings. */
typedef struct hotpath {
  char event[64];
  size_t event_len;
  char strs[1024]; /* path strings and the match value, NUL-separated */
  jp_path paths[JP_MAX_PATHS];
  int npaths;
  int text_i, index_i, match_i; /* -1: none */
  const char *match_val;
  size_t match_len;
  int text_optional; /* a missing or null text is an empty delta */
  char tmpl[256];    /* optional exact shape: literal text, %d, %s */
  size_t tmpl_len;
} hotpath;

static int hot_add_path(lua_State *L, hotpath *h, size_t *used, const char *s,
                        size_t n) {
  char *dst;
  if (h->npaths == JP_MAX_PATHS || *used + n + 1 > sizeof h->strs)
    return luaL_error(L, "(llmstream) hotpath: too many or too long paths");
  dst = h->strs + *used;
  memcpy(dst, s, n);
  dst[n] = 0;
  *used += n + 1;
  if (jp_parse_path(dst, n, &h->paths[h->npaths]))
    return luaL_error(L, "(llmstream) hotpath: bad path '%s'", dst);
  return h->npaths++;
}

static int hot_field_path(lua_State *L, hotpath *h, size_t *used, const char *k) {
  size_t n;
  const char *v;
  int i = -1;
  lua_getfield(L, 1, k);
  if (lua_type(L, -1) == LUA_TSTRING) {
    v = lua_tolstring(L, -1, &n);
    i = hot_add_path(L, h, used, v, n);
  }
  lua_pop(L, 1);
  return i;
}

/* core.hotpath{ event=, text=, index=, match={path, value}, absent={paths},
   text_optional= } */
static int l_hotpath(lua_State *L) {
  hotpath *h;
  size_t n, used = 0;
  const char *ev;
  luaL_checktype(L, 1, LUA_TTABLE);
  h = lua_newuserdata(L, sizeof *h);
  memset(h, 0, sizeof *h);
  ls_setmetatable(L, HOTPATH_MT);
  lua_getfield(L, 1, "event");
  ev = luaL_checklstring(L, -1, &n);
  luaL_argcheck(L, n < sizeof h->event, 1, "event name too long");
  memcpy(h->event, ev, n);
  h->event_len = n;
  lua_pop(L, 1);
  h->text_i = hot_field_path(L, h, &used, "text");
  if (h->text_i < 0) return luaL_error(L, "(llmstream) hotpath: 'text' path is required");
  h->index_i = hot_field_path(L, h, &used, "index");
  h->match_i = -1;
  lua_getfield(L, 1, "match");
  if (lua_istable(L, -1)) {
    size_t vn;
    const char *v;
    lua_rawgeti(L, -1, 1);
    v = luaL_checklstring(L, -1, &n);
    h->match_i = hot_add_path(L, h, &used, v, n);
    lua_pop(L, 1);
    lua_rawgeti(L, -1, 2);
    v = luaL_checklstring(L, -1, &vn);
    if (used + vn + 1 > sizeof h->strs) return luaL_error(L, "(llmstream) hotpath: too long");
    memcpy(h->strs + used, v, vn);
    h->strs[used + vn] = 0;
    h->match_val = h->strs + used;
    h->match_len = vn;
    used += vn + 1;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_getfield(L, 1, "absent");
  if (lua_istable(L, -1)) {
    int i, len = (int)lua_rawlen(L, -1);
    for (i = 1; i <= len; i++) {
      lua_rawgeti(L, -1, i);
      {
        const char *v = luaL_checklstring(L, -1, &n);
        hot_add_path(L, h, &used, v, n);
      }
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  lua_getfield(L, 1, "text_optional");
  h->text_optional = lua_toboolean(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, 1, "template");
  if (lua_type(L, -1) == LUA_TSTRING) {
    const char *t = lua_tolstring(L, -1, &n);
    luaL_argcheck(L, n < sizeof h->tmpl, 1, "template too long");
    memcpy(h->tmpl, t, n);
    h->tmpl_len = n;
  }
  lua_pop(L, 1);
  return 1;
}

/* The fast shape check: data must be the template with %d replaced by a
   JSON integer and %s by a JSON string, then only whitespace. Such a text
   is valid JSON by construction, so no general scan is needed. */
static int tmpl_match(const hotpath *h, const char *d, size_t dl, jp_val *text,
                      const char **idx) {
  const char *t = h->tmpl, *te = h->tmpl + h->tmpl_len, *de = d + dl;
  while (t < te) {
    if (*t == '%' && t + 1 < te && t[1] == 'd') {
      const char *s = d;
      if (d < de && *d == '-') d++;
      if (d >= de || *d < '0' || *d > '9') return 0;
      if (*d == '0') d++;
      else while (d < de && *d >= '0' && *d <= '9') d++;
      *idx = s;
      t += 2;
    } else if (*t == '%' && t + 1 < te && t[1] == 's') {
      d = jp_scan_string(d, de, text);
      if (!d) return 0;
      t += 2;
    } else {
      const char *lit = t;
      while (t < te && *t != '%') t++;
      if ((size_t)(de - d) < (size_t)(t - lit) || memcmp(d, lit, (size_t)(t - lit))) return 0;
      d += t - lit;
    }
  }
  while (d < de && (*d == ' ' || *d == '\n' || *d == '\r' || *d == '\t')) d++;
  return d == de;
}

/* Is this event a plain text delta? vals then hold the picked values. */
static int hot_match(const hotpath *h, const char *ev, size_t evlen,
                     const char *data, size_t dlen, jp_val *vals) {
  int i;
  if (evlen != h->event_len || memcmp(ev, h->event, evlen) != 0) return 0;
  if (h->tmpl_len) {
    const char *idx = NULL;
    for (i = 0; i < h->npaths; i++) vals[i].type = JP_MISSING;
    if (tmpl_match(h, data, dlen, &vals[h->text_i], &idx)) {
      if (h->index_i >= 0 && idx) {
        vals[h->index_i].type = JP_NUMBER;
        vals[h->index_i].s = idx;
      }
      return 1;
    }
  }
  if (jp_pick(data, dlen, h->paths, h->npaths, vals, NULL)) return 0;
  for (i = 0; i < h->npaths; i++) {
    const jp_val *v = &vals[i];
    if (i == h->text_i) {
      if (v->type != JP_STRING &&
          !(h->text_optional && (v->type == JP_MISSING || v->type == JP_NULL)))
        return 0;
    } else if (i == h->match_i) {
      if (v->type != JP_STRING || v->escaped || v->len != h->match_len ||
          memcmp(v->s, h->match_val, v->len) != 0)
        return 0;
    } else if (i == h->index_i) {
      if (v->type != JP_NUMBER && v->type != JP_MISSING) return 0;
    } else if (v->type != JP_MISSING && v->type != JP_NULL) {
      return 0; /* an "absent" path is present: not a plain delta */
    }
  }
  return 1;
}

/* ------------------------------------------------------------------ */
/* Multi and transfers                                                  */

enum { RES_NONE = 0, RES_OK, RES_HTTP, RES_NETWORK, RES_TIMEOUT, RES_STALLED,
       RES_CANCELLED, RES_PROTOCOL };
static const char *const RESULT_NAMES[] = {
    NULL, "ok", "http", "network", "timeout", "stalled", "cancelled",
    "protocol"};

struct multi;

typedef struct transfer {
  CURL *easy;                   /* NULL once finished, cancelled or closed */
  struct multi *multi;          /* NULL once detached */
  struct transfer *prev, *next; /* in multi->live while easy != NULL */
  struct curl_slist *req_headers;
  int open;
  int result;
  char errbuf[CURL_ERROR_SIZE];
  char message[CURL_ERROR_SIZE + 96];
  long status;
  int classified; /* status line + headers seen, body kind decided */
  int is_sse;     /* 2xx text/event-stream: body goes through the parser */
  int paused;
  long connects;  /* new connections this transfer made (0 = reused) */
  double idle_timeout, last_byte;
  size_t max_body, max_queue;
  sse_buf headers; /* "name: value\r\n" lines of the final response */
  sse_buf body;    /* non-SSE body, first max_body bytes */
  int body_truncated;
  sse_parser parser;
  sse_queue q;
} transfer;

typedef struct sockchg {
  curl_socket_t fd;
  int what;
} sockchg;

typedef struct multi {
  CURLM *m;
  transfer *live;
  int nlive;
  sockchg *chg; /* socket changes not yet read by the host (one per fd) */
  size_t nchg, capchg;
  double curl_deadline; /* absolute time curl wants a timeout action; <0 none */
} multi;

static void set_message(transfer *t, int result, const char *msg) {
  t->result = result;
  snprintf(t->message, sizeof t->message, "%s", msg);
}

static void live_unlink(transfer *t) {
  multi *mu = t->multi;
  if (!mu) return;
  if (t->prev) t->prev->next = t->next;
  else if (mu->live == t) mu->live = t->next;
  if (t->next) t->next->prev = t->prev;
  t->prev = t->next = NULL;
  mu->nlive--;
}

/* Take the easy handle out of the multi and release it. For a transfer
   that has not finished, removal closes its connection (HTTP/1.1) in this
   very call: the server sees the close at once. */
static void release_easy(transfer *t) {
  if (!t->easy) return;
  if (t->multi) {
    curl_multi_remove_handle(t->multi->m, t->easy);
    live_unlink(t);
  }
  curl_easy_cleanup(t->easy);
  t->easy = NULL;
  curl_slist_free_all(t->req_headers);
  t->req_headers = NULL;
}

static int has_ci(const char *hay, size_t n, const char *needle) {
  size_t k = strlen(needle), i, j;
  for (i = 0; i + k <= n; i++) {
    for (j = 0; j < k; j++) {
      char a = hay[i + j], b = needle[j];
      if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
      if (a != b) break;
    }
    if (j == k) return 1;
  }
  return 0;
}

/* Decide where the body goes, once the final header block is complete. */
static void classify(transfer *t) {
  char *ct = NULL;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
  curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &ct);
  t->is_sse = t->status >= 200 && t->status < 300 && ct &&
              has_ci(ct, strlen(ct), "text/event-stream");
  t->classified = 1;
}

static size_t on_header(char *ptr, size_t size, size_t n, void *ud) {
  transfer *t = ud;
  size_t len = size * n;
  t->last_byte = now_s();
  if (len >= 5 && memcmp(ptr, "HTTP/", 5) == 0) { /* a new response block */
    t->headers.len = 0;
    t->classified = 0;
    return len;
  }
  if (len <= 2 && (len == 0 || ptr[0] == '\r' || ptr[0] == '\n')) {
    long code = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200) classify(t);
    return len;
  }
  if (t->headers.len + len > MAX_HEADER_BYTES) {
    set_message(t, RES_PROTOCOL, "response headers larger than 64 KiB");
    return 0;
  }
  if (sse_buf_append(&t->headers, ptr, len)) {
    set_message(t, RES_PROTOCOL, "out of memory");
    return 0;
  }
  return len;
}

static size_t on_write(char *ptr, size_t size, size_t n, void *ud) {
  transfer *t = ud;
  size_t len = size * n;
  t->last_byte = now_s();
  if (!t->classified) classify(t);
  if (t->is_sse) {
    int rc;
    if (t->q.bytes.len > t->max_queue) { /* Lua is not draining: wait */
      t->paused = 1;
      return CURL_WRITEFUNC_PAUSE;
    }
    rc = sse_feed(&t->parser, ptr, len);
    if (rc) {
      set_message(t, RES_PROTOCOL, sse_strerror(rc));
      return 0; /* abort the transfer; the events so far stay queued */
    }
    return len;
  }
  /* error or non-SSE body: keep the first max_body bytes, drop the rest */
  if (t->body.len < t->max_body) {
    size_t take = t->max_body - t->body.len;
    if (take > len) take = len;
    if (sse_buf_append(&t->body, ptr, take)) {
      set_message(t, RES_PROTOCOL, "out of memory");
      return 0;
    }
    if (take < len) t->body_truncated = 1;
  } else {
    t->body_truncated = 1;
  }
  return len;
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *ud,
                     void *sockp) {
  multi *mu = ud;
  size_t i;
  (void)e;
  (void)sockp;
  for (i = 0; i < mu->nchg; i++)
    if (mu->chg[i].fd == fd) { mu->chg[i].what = what; return 0; }
  if (mu->nchg == mu->capchg) {
    size_t cap = mu->capchg ? mu->capchg * 2 : 16;
    sockchg *nc = realloc(mu->chg, cap * sizeof *nc);
    if (!nc) return -1;
    mu->chg = nc;
    mu->capchg = cap;
  }
  mu->chg[mu->nchg].fd = fd;
  mu->chg[mu->nchg].what = what;
  mu->nchg++;
  return 0;
}

static int on_timer(CURLM *m, long ms, void *ud) {
  multi *mu = ud;
  (void)m;
  mu->curl_deadline = ms < 0 ? -1.0 : now_s() + (double)ms / 1000.0;
  return 0;
}

static void classify_done(transfer *t, CURLcode rc) {
  const char *msg = t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc);
  if (t->result != RES_NONE) return; /* protocol or cancel decided earlier */
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
  curl_easy_getinfo(t->easy, CURLINFO_NUM_CONNECTS, &t->connects);
  switch (rc) {
  case CURLE_OK:
    if (t->status >= 200 && t->status < 300) t->result = RES_OK;
    else {
      t->result = RES_HTTP;
      snprintf(t->message, sizeof t->message, "HTTP status %ld", t->status);
    }
    return;
  case CURLE_OPERATION_TIMEDOUT:
    set_message(t, RES_TIMEOUT, msg);
    return;
  default:
    set_message(t, RES_NETWORK, msg);
    return;
  }
}

/* Drain curl's completion messages (after every perform/socket action). */
static void process_done(multi *mu) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(mu->m, &left))) {
    transfer *t = NULL;
    CURLcode rc;
    if (msg->msg != CURLMSG_DONE) continue;
    rc = msg->data.result; /* read before the handle is removed */
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
    if (!t) continue;
    classify_done(t, rc);
    release_easy(t);
  }
}

/* Fail every live transfer that received nothing for idle_timeout.
   Returns seconds until the next idle deadline (or -1: none). */
static double check_idle(multi *mu) {
  double now = now_s(), next = -1;
  transfer *t = mu->live, *nx;
  for (; t; t = nx) {
    double left;
    nx = t->next;
    if (t->idle_timeout <= 0 || t->paused) continue;
    left = t->last_byte + t->idle_timeout - now;
    if (left <= 0) {
      snprintf(t->message, sizeof t->message,
               "no data received for %g seconds (idle timeout)",
               t->idle_timeout);
      t->result = RES_STALLED;
      release_easy(t);
    } else if (next < 0 || left < next) {
      next = left;
    }
  }
  return next;
}

static multi *check_multi(lua_State *L, int idx) {
  multi *mu = luaL_checkudata(L, idx, MULTI_MT);
  if (!mu->m) luaL_error(L, "attempt to use a closed multi");
  return mu;
}

/* core.multi() */
static int l_multi(lua_State *L) {
  multi *mu = lua_newuserdata(L, sizeof *mu);
  memset(mu, 0, sizeof *mu);
  mu->curl_deadline = -1;
  ls_setmetatable(L, MULTI_MT);
  mu->m = curl_multi_init();
  if (!mu->m) return luaL_error(L, "curl_multi_init failed");
  curl_multi_setopt(mu->m, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(mu->m, CURLMOPT_SOCKETDATA, mu);
  curl_multi_setopt(mu->m, CURLMOPT_TIMERFUNCTION, on_timer);
  curl_multi_setopt(mu->m, CURLMOPT_TIMERDATA, mu);
  return 1;
}

/* Close: every live transfer is cancelled and detached, then the multi
   is cleaned up (curl_multi_cleanup's documented order). */
static int l_multi_close(lua_State *L) {
  multi *mu = luaL_checkudata(L, 1, MULTI_MT);
  if (!mu->m) return 0;
  while (mu->live) {
    transfer *t = mu->live;
    if (t->result == RES_NONE) set_message(t, RES_CANCELLED, "cancelled");
    release_easy(t);
  }
  curl_multi_cleanup(mu->m);
  mu->m = NULL;
  free(mu->chg);
  mu->chg = NULL;
  mu->nchg = mu->capchg = 0;
  return 0;
}

static void after_action(lua_State *L, multi *mu) {
  process_done(mu);
  check_idle(mu);
  lua_pushinteger(L, mu->nlive);
}

static int events_queued(const multi *mu) {
  const transfer *t;
  for (t = mu->live; t; t = t->next)
    if (t->q.n) return 1;
  return 0;
}

/* m:poll([timeout_ms]) -> number of transfers still running.
   Performs I/O; if transfers still run, waits at most timeout_ms for
   activity (never past the next idle deadline) and performs again.
   poll(0) never blocks; with nothing running it returns at once. */
static int l_multi_poll(lua_State *L) {
  multi *mu = check_multi(L, 1);
  lua_Number tmo = luaL_optnumber(L, 2, 0);
  int running;
  curl_multi_perform(mu->m, &running);
  process_done(mu);
  /* wait only while something runs and Lua has nothing to drain: a
     transfer that finished, or events queued (maybe pausing their
     transfer), must not cost the caller its whole timeout */
  if (tmo > 0 && mu->nlive > 0 && !events_queued(mu)) {
    double idle = check_idle(mu);
    int wait = tmo > 86400000 ? 86400000 : (int)tmo;
    if (idle >= 0 && idle * 1000 < wait) wait = (int)(idle * 1000) + 1;
    /* curl_multi_poll also wakes for curl's own timeouts; an interrupted
       poll (a signal) just returns early. */
    curl_multi_poll(mu->m, NULL, 0, wait, NULL);
    curl_multi_perform(mu->m, &running);
  }
  after_action(L, mu);
  return 1;
}

static int l_multi_running(lua_State *L) {
  multi *mu = check_multi(L, 1);
  lua_pushinteger(L, mu->nlive);
  return 1;
}

/* --- host event loop integration (curl's multi_socket pattern) --- */

/* m:socket_action(fd, events): events "in", "out", "inout" (or nil). */
static int l_multi_socket_action(lua_State *L) {
  multi *mu = check_multi(L, 1);
  curl_socket_t fd = (curl_socket_t)luaL_checkinteger(L, 2);
  const char *ev = luaL_optstring(L, 3, "");
  int mask = 0, running;
  if (strstr(ev, "in")) mask |= CURL_CSELECT_IN;
  if (strstr(ev, "out")) mask |= CURL_CSELECT_OUT;
  if (strstr(ev, "err")) mask |= CURL_CSELECT_ERR;
  curl_multi_socket_action(mu->m, fd, mask, &running);
  after_action(L, mu);
  return 1;
}

static int l_multi_timeout_action(lua_State *L) {
  multi *mu = check_multi(L, 1);
  int running;
  mu->curl_deadline = -1;
  curl_multi_socket_action(mu->m, CURL_SOCKET_TIMEOUT, 0, &running);
  after_action(L, mu);
  return 1;
}

/* m:sockets() -> { fd, "in"|"out"|"inout"|"remove", ... } changes since the
   last call (the latest state per fd). */
static int l_multi_sockets(lua_State *L) {
  multi *mu = check_multi(L, 1);
  size_t i;
  lua_createtable(L, (int)mu->nchg * 2, 0);
  for (i = 0; i < mu->nchg; i++) {
    const char *w;
    switch (mu->chg[i].what) {
    case CURL_POLL_IN: w = "in"; break;
    case CURL_POLL_OUT: w = "out"; break;
    case CURL_POLL_INOUT: w = "inout"; break;
    default: w = "remove"; break;
    }
    lua_pushinteger(L, (lua_Integer)mu->chg[i].fd);
    lua_rawseti(L, -2, (int)(2 * i + 1));
    lua_pushstring(L, w);
    lua_rawseti(L, -2, (int)(2 * i + 2));
  }
  mu->nchg = 0;
  return 1;
}

/* m:timeout() -> milliseconds until the host must call timeout_action()
   (curl's timer or the next idle deadline, whichever is first), or nil. */
static int l_multi_timeout(lua_State *L) {
  multi *mu = check_multi(L, 1);
  double next = 0, now = now_s();
  int any = mu->curl_deadline >= 0;
  transfer *t;
  if (any) next = mu->curl_deadline - now;
  for (t = mu->live; t; t = t->next) {
    double left;
    if (t->idle_timeout <= 0 || t->paused) continue;
    left = t->last_byte + t->idle_timeout - now;
    if (!any || left < next) next = left;
    any = 1;
  }
  if (!any) return 0;
  if (next < 0) next = 0; /* already due */
  lua_pushinteger(L, (lua_Integer)(next * 1000 + 0.999));
  return 1;
}

/* --- transfers --- */

static int has_crlf(const char *s, size_t n) {
  return memchr(s, '\r', n) || memchr(s, '\n', n) || memchr(s, '\0', n);
}

static double opt_field_num(lua_State *L, int t, const char *k, double d) {
  double v;
  lua_getfield(L, t, k);
  if (lua_isnil(L, -1)) { lua_pop(L, 1); return d; }
  if (!lua_isnumber(L, -1)) luaL_error(L, "(llmstream) option '%s' must be a number", k);
  v = lua_tonumber(L, -1);
  lua_pop(L, 1);
  if (v < 0) luaL_error(L, "(llmstream) option '%s' must not be negative", k);
  return v;
}

static const char *opt_field_str(lua_State *L, int t, const char *k,
                                 size_t *len) {
  const char *s;
  lua_getfield(L, t, k);
  if (lua_isnil(L, -1)) { lua_pop(L, 1); return NULL; }
  if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "(llmstream) option '%s' must be a string", k);
  s = lua_tolstring(L, -1, len);
  lua_pop(L, 1); /* still referenced by the options table */
  if (has_crlf(s, *len)) luaL_error(L, "(llmstream) option '%s' contains CR, LF or NUL", k);
  return s;
}

static int opt_field_bool(lua_State *L, int t, const char *k) {
  int v;
  lua_getfield(L, t, k);
  v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* Append one "Name: value" header; raises on CR/LF (header injection). */
static void add_header(lua_State *L, transfer *t, const char *s, size_t n) {
  struct curl_slist *nl;
  if (has_crlf(s, n)) luaL_error(L, "(llmstream) header contains CR, LF or NUL");
  if (!memchr(s, ':', n)) luaL_error(L, "(llmstream) header '%s' has no ':'", s);
  nl = curl_slist_append(t->req_headers, s);
  if (!nl) luaL_error(L, "out of memory");
  t->req_headers = nl;
}

/* headers: an array of "Name: value" strings, or a map name -> value */
static void collect_headers(lua_State *L, transfer *t, int opts) {
  lua_getfield(L, opts, "headers");
  if (lua_istable(L, -1)) {
    int h = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, h)) {
      size_t n;
      const char *s;
      if (lua_type(L, -2) == LUA_TNUMBER) {
        s = luaL_checklstring(L, -1, &n);
        add_header(L, t, s, n);
      } else {
        lua_pushvalue(L, -2);
        lua_pushliteral(L, ": ");
        lua_pushvalue(L, -3);
        lua_concat(L, 3);
        s = lua_tolstring(L, -1, &n);
        add_header(L, t, s, n);
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
  } else if (!lua_isnil(L, -1)) {
    luaL_error(L, "(llmstream) option 'headers' must be a table");
  }
  lua_pop(L, 1);
}

/* m:start{url=, method=, headers=, body=, connect_timeout=, idle_timeout=,
   total_timeout=, proxy=, cainfo=, insecure=, follow_redirects=,
   max_body=, max_event=, max_queue=} -> transfer */
static int l_multi_start(lua_State *L) {
  multi *mu = check_multi(L, 1);
  transfer *t;
  size_t ulen = 0, blen = 0, mlen = 0, plen = 0, clen = 0;
  const char *url, *body, *method, *proxy, *cainfo;
  double ct, it, tt;
  CURL *e;
  luaL_checktype(L, 2, LUA_TTABLE);
  url = opt_field_str(L, 2, "url", &ulen);
  if (!url) return luaL_error(L, "(llmstream) option 'url' is required");
  lua_getfield(L, 2, "body");
  body = lua_isnil(L, -1) ? NULL : luaL_checklstring(L, -1, &blen);
  lua_pop(L, 1);
  method = opt_field_str(L, 2, "method", &mlen);
  proxy = opt_field_str(L, 2, "proxy", &plen);
  cainfo = opt_field_str(L, 2, "cainfo", &clen);
  ct = opt_field_num(L, 2, "connect_timeout", 10);
  it = opt_field_num(L, 2, "idle_timeout", 0);
  tt = opt_field_num(L, 2, "total_timeout", 0);

  /* created closed (liolib), opened below */
  t = ls_newuserdata(L, sizeof *t);
  memset(t, 0, sizeof *t);
  ls_setmetatable(L, TRANSFER_MT);
  lua_createtable(L, 1, 0); /* user value: keeps the multi alive */
  lua_pushvalue(L, 1);
  lua_rawseti(L, -2, 1);
  ls_setuservalue(L, -2);
  sse_queue_init(&t->q);
  sse_init(&t->parser, &t->q, 0);
  t->open = 1;
  t->max_body = (size_t)opt_field_num(L, 2, "max_body", (double)DEFAULT_MAX_BODY);
  t->max_queue = (size_t)opt_field_num(L, 2, "max_queue", (double)DEFAULT_MAX_QUEUE);
  t->parser.max_size = (size_t)opt_field_num(L, 2, "max_event", (double)SSE_DEFAULT_MAX_SIZE);
  if (t->parser.max_size == 0) t->parser.max_size = SSE_DEFAULT_MAX_SIZE;
  t->idle_timeout = it;
  collect_headers(L, t, 2);

  e = curl_easy_init();
  if (!e) return luaL_error(L, "curl_easy_init failed");
  t->easy = e;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)t);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* gzip etc. if offered */
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(ct * 1000));
  if (tt > 0) curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(tt * 1000));
  if (body) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body);
  }
  if (method) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  if (opt_field_bool(L, 2, "follow_redirects")) {
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
  }
  if (proxy) curl_easy_setopt(e, CURLOPT_PROXY, proxy);
  if (cainfo) curl_easy_setopt(e, CURLOPT_CAINFO, cainfo);
  if (opt_field_bool(L, 2, "insecure")) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  /* "Expect: 100-continue" only costs a round trip here */
  {
    struct curl_slist *nl = curl_slist_append(t->req_headers, "Expect:");
    if (nl) t->req_headers = nl;
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->req_headers);
  t->last_byte = now_s();
  if (curl_multi_add_handle(mu->m, e) != CURLM_OK) {
    curl_easy_cleanup(e);
    t->easy = NULL;
    return luaL_error(L, "curl_multi_add_handle failed");
  }
  t->multi = mu;
  t->next = mu->live;
  if (mu->live) mu->live->prev = t;
  mu->live = t;
  mu->nlive++;
  return 1;
}

static transfer *check_transfer(lua_State *L) {
  transfer *t = luaL_checkudata(L, 1, TRANSFER_MT);
  if (!t->open) luaL_error(L, "attempt to use a closed transfer");
  return t;
}

/* t:drain([tbl[, hotpath]]) -> tbl, n: the queued events as flat pairs
   tbl[2i-1] = event name, tbl[2i] = data. With a hotpath, an event it
   recognises comes as tbl[2i-1] = block index (a number), tbl[2i] = the
   unescaped text. One call returns everything queued; entries past 2n in
   a reused table are stale. */
static int l_transfer_drain(lua_State *L) {
  transfer *t = check_transfer(L);
  const hotpath *hot = lua_isnoneornil(L, 3) ? NULL : luaL_checkudata(L, 3, HOTPATH_MT);
  jp_val vals[JP_MAX_PATHS];
  char small[512];
  size_t i;
  if (lua_istable(L, 2)) lua_settop(L, 2);
  else { lua_settop(L, 1); lua_createtable(L, (int)t->q.n * 2, 0); }
  for (i = 0; i < t->q.n; i++) {
    const sse_rec *r = &t->q.recs[i];
    const char *b = t->q.bytes.p + r->off, *data = b + r->event_len;
    if (hot && hot_match(hot, b, r->event_len, data, r->data_len, vals)) {
      const jp_val *tv = &vals[hot->text_i];
      lua_Integer idx = 0;
      if (hot->index_i >= 0 && vals[hot->index_i].type == JP_NUMBER)
        idx = (lua_Integer)strtoll(vals[hot->index_i].s, NULL, 10);
      lua_pushinteger(L, idx);
      lua_rawseti(L, 2, (int)(2 * i + 1));
      if (tv->type != JP_STRING) lua_pushliteral(L, "");
      else if (!tv->escaped) lua_pushlstring(L, tv->s, tv->len);
      else { /* unescaping never grows */
        char *out = tv->len <= sizeof small ? small : lua_newuserdata(L, tv->len);
        size_t n = jp_unescape(tv->s, tv->len, out);
        lua_pushlstring(L, out, n);
        if (out != small) lua_remove(L, -2);
      }
      lua_rawseti(L, 2, (int)(2 * i + 2));
      continue;
    }
    lua_pushlstring(L, b, r->event_len);
    lua_rawseti(L, 2, (int)(2 * i + 1));
    lua_pushlstring(L, data, r->data_len);
    lua_rawseti(L, 2, (int)(2 * i + 2));
  }
  lua_pushinteger(L, (lua_Integer)t->q.n);
  sse_queue_clear(&t->q);
  if (t->paused && t->easy) { /* resume delivery; may call on_write now */
    t->paused = 0;
    t->last_byte = now_s();
    curl_easy_pause(t->easy, CURLPAUSE_CONT);
  }
  return 2;
}

static int l_transfer_status(lua_State *L) {
  transfer *t = check_transfer(L);
  if (!t->classified && t->easy)
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
  lua_pushinteger(L, t->status);
  return 1;
}

/* t:headers() -> { [lowercase name] = value } of the final response;
   repeated names are joined with ", ". */
static int l_transfer_headers(lua_State *L) {
  transfer *t = check_transfer(L);
  const char *p = t->headers.p, *end = p + t->headers.len;
  lua_newtable(L);
  while (p && p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *le = eol ? eol : end, *colon, *v, *ve;
    size_t i, nlen;
    char name[128];
    if (le > p && le[-1] == '\r') le--;
    colon = memchr(p, ':', (size_t)(le - p));
    if (colon && (size_t)(colon - p) < sizeof name) {
      nlen = (size_t)(colon - p);
      for (i = 0; i < nlen; i++) {
        char c = p[i];
        name[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
      }
      v = colon + 1;
      while (v < le && (*v == ' ' || *v == '\t')) v++;
      ve = le;
      while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      lua_pushlstring(L, name, nlen);
      lua_pushvalue(L, -1);
      lua_rawget(L, -3);
      if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushlstring(L, v, (size_t)(ve - v));
      } else {
        lua_pushliteral(L, ", ");
        lua_pushlstring(L, v, (size_t)(ve - v));
        lua_concat(L, 3);
      }
      lua_rawset(L, -3);
    }
    p = eol ? eol + 1 : end;
  }
  return 1;
}

/* t:body() -> the non-SSE response body (first max_body bytes), truncated */
static int l_transfer_body(lua_State *L) {
  transfer *t = check_transfer(L);
  lua_pushlstring(L, t->body.p ? t->body.p : "", t->body.len);
  lua_pushboolean(L, t->body_truncated);
  return 2;
}

/* t:result() -> nil while running; else kind[, message] */
static int l_transfer_result(lua_State *L) {
  transfer *t = check_transfer(L);
  if (t->result == RES_NONE) return 0;
  lua_pushstring(L, RESULT_NAMES[t->result]);
  if (t->result == RES_OK) return 1;
  lua_pushstring(L, t->message[0] ? t->message : RESULT_NAMES[t->result]);
  return 2;
}

static int l_transfer_info(lua_State *L) {
  transfer *t = check_transfer(L);
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, t->status);
  lua_setfield(L, -2, "status");
  lua_pushinteger(L, (lua_Integer)t->q.bytes.len);
  lua_setfield(L, -2, "queued_bytes");
  lua_pushboolean(L, t->paused);
  lua_setfield(L, -2, "paused");
  lua_pushinteger(L, t->connects);
  lua_setfield(L, -2, "connects");
  lua_pushboolean(L, t->is_sse);
  lua_setfield(L, -2, "sse");
  lua_pushinteger(L, (lua_Integer)t->q.n);
  lua_setfield(L, -2, "queued");
  return 1;
}

/* t:cancel() -> true if it was running. Idempotent; the connection is
   closed before this returns. */
static int l_transfer_cancel(lua_State *L) {
  transfer *t = check_transfer(L);
  int was = t->easy != NULL && t->result == RES_NONE;
  if (was) set_message(t, RES_CANCELLED, "cancelled");
  release_easy(t);
  lua_pushboolean(L, was);
  return 1;
}

/* close, __gc and __close: one idempotent function */
static int l_transfer_close(lua_State *L) {
  transfer *t = luaL_checkudata(L, 1, TRANSFER_MT);
  if (!t->open) return 0;
  if (t->easy && t->result == RES_NONE) set_message(t, RES_CANCELLED, "cancelled");
  release_easy(t);
  t->open = 0;
  t->multi = NULL;
  sse_free(&t->parser);
  sse_queue_free(&t->q);
  free(t->headers.p);
  free(t->body.p);
  memset(&t->headers, 0, sizeof t->headers);
  memset(&t->body, 0, sizeof t->body);
  return 0;
}

/* ------------------------------------------------------------------ */
/* Module-level helpers                                                 */

static int l_now(lua_State *L) {
  lua_pushnumber(L, now_s());
  return 1;
}

static int l_sleep(lua_State *L) {
  lua_Number s = luaL_checknumber(L, 1);
  struct timespec ts;
  if (s <= 0) return 0;
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (lua_Number)ts.tv_sec) * 1e9);
  nanosleep(&ts, NULL);
  return 0;
}

/* SIGINT as a flag, for terminal hosts (Lua has no signals). The handler
   is installed without SA_RESTART so a blocking read or poll wakes up. */
static volatile sig_atomic_t sigint_seen = 0;
static void on_sigint(int sig) { (void)sig; sigint_seen = 1; }

static int l_catch_sigint(lua_State *L) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = lua_toboolean(L, 1) ? on_sigint : SIG_DFL;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigint_seen = 0;
  return 0;
}

static int l_sigint(lua_State *L) {
  lua_pushboolean(L, sigint_seen);
  sigint_seen = 0;
  return 1;
}

/* core.isatty(fd) -> boolean (0 stdin, 1 stdout, 2 stderr) */
static int l_isatty(lua_State *L) {
  lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
  return 1;
}

static int l_version(lua_State *L) {
  const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
  lua_createtable(L, 0, 6);
  lua_pushstring(L, LLMSTREAM_VERSION);
  lua_setfield(L, -2, "llmstream");
  lua_pushstring(L, v->version);
  lua_setfield(L, -2, "curl");
  lua_pushstring(L, v->ssl_version ? v->ssl_version : "none");
  lua_setfield(L, -2, "ssl");
  lua_pushboolean(L, (v->features & CURL_VERSION_HTTP2) != 0);
  lua_setfield(L, -2, "http2");
  lua_pushinteger(L, LUA_VERSION_NUM);
  lua_setfield(L, -2, "lua_version_num");
#ifdef LUAJIT_VERSION
  lua_pushstring(L, LUAJIT_VERSION);
#else
  lua_pushstring(L, LUA_RELEASE);
#endif
  lua_setfield(L, -2, "lua");
  return 1;
}

static const luaL_Reg parser_methods[] = {
    {"feed", l_parser_feed},   {"last_id", l_parser_last_id},
    {"retry", l_parser_retry}, {"close", l_parser_close},
    {NULL, NULL}};

static const luaL_Reg multi_methods[] = {
    {"start", l_multi_start},
    {"poll", l_multi_poll},
    {"running", l_multi_running},
    {"socket_action", l_multi_socket_action},
    {"timeout_action", l_multi_timeout_action},
    {"sockets", l_multi_sockets},
    {"timeout", l_multi_timeout},
    {"close", l_multi_close},
    {NULL, NULL}};

static const luaL_Reg transfer_methods[] = {
    {"drain", l_transfer_drain},   {"status", l_transfer_status},
    {"headers", l_transfer_headers}, {"body", l_transfer_body},
    {"result", l_transfer_result}, {"info", l_transfer_info},
    {"cancel", l_transfer_cancel}, {"close", l_transfer_close},
    {NULL, NULL}};

static const luaL_Reg module_funcs[] = {
    {"sse_parser", l_sse_parser}, {"multi", l_multi},
    {"hotpath", l_hotpath},
    {"jpick", l_jpick},           {"now", l_now},
    {"sleep", l_sleep},           {"catch_sigint", l_catch_sigint},
    {"sigint", l_sigint},         {"version", l_version},
    {"isatty", l_isatty},
    {NULL, NULL}};

static void new_class(lua_State *L, const char *name, const luaL_Reg *methods,
                      lua_CFunction gc) {
  luaL_newmetatable(L, name);
  lua_newtable(L);
  ls_setfuncs(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, gc);
  lua_setfield(L, -2, "__gc");
#if LUA_VERSION_NUM >= 504
  lua_pushcfunction(L, gc);
  lua_setfield(L, -2, "__close");
#endif
  lua_pushstring(L, name);
  lua_setfield(L, -2, "__name");
  lua_pop(L, 1);
}

EXPORT int luaopen_llmstream_core(lua_State *L);
EXPORT int luaopen_llmstream_core(lua_State *L) {
  /* curl_global_init is not thread-safe before 7.84; Debian's 7.88 makes
     curl_easy_init do it lazily and safely, so nothing to do here. */
  new_class(L, PARSER_MT, parser_methods, l_parser_close);
  new_class(L, MULTI_MT, multi_methods, l_multi_close);
  new_class(L, TRANSFER_MT, transfer_methods, l_transfer_close);
  luaL_newmetatable(L, HOTPATH_MT); /* plain data: no methods, no __gc */
  lua_pop(L, 1);
  lua_newtable(L);
  ls_setfuncs(L, module_funcs);
  lua_pushstring(L, LLMSTREAM_VERSION);
  lua_setfield(L, -2, "_VERSION");
  return 1;
}
