/* Frame reassembly and TLV encoding/decoding: bounds-checked everywhere, since every byte comes from an untrusted peer. */
#include "wire.h"
#include "protocol.h"
#include <stdlib.h>
#include <string.h>

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }

void reader_init(struct reader *r) { memset(r, 0, sizeof *r); }
void reader_free(struct reader *r) { free(r->buf); memset(r, 0, sizeof *r); }

int reader_feed(struct reader *r, const uint8_t *data, size_t n) {
  if (r->skip) { /* still discarding an oversized frame */
    size_t d = n < r->skip ? n : r->skip;
    r->skip -= d; data += d; n -= d;
    if (!n) return 0;
  }
  if (r->len + n > r->cap) {
    size_t cap = r->cap ? r->cap : 4096;
    while (cap < r->len + n) cap *= 2;
    uint8_t *b = realloc(r->buf, cap);
    if (!b) return -1;
    r->buf = b; r->cap = cap;
  }
  memcpy(r->buf + r->len, data, n);
  r->len += n;
  return 0;
}

static void consume(struct reader *r, size_t n) {
  memmove(r->buf, r->buf + n, r->len - n);
  r->len -= n;
}

enum read_result reader_next(struct reader *r, struct frame *f) {
  if (r->taken) { consume(r, r->taken); r->taken = 0; }
  if (r->len < 4) return READ_NONE;
  uint32_t len = be32(r->buf);
  if (len < 5) { /* cannot even hold type and id: drop the length word and resynchronise on what follows */
    consume(r, 4);
    f->id = 0; f->type = 0;
    return READ_MALFORMED;
  }
  if (len > HYPER_MAX_FRAME) {
    f->id = r->len >= 9 ? be32(r->buf + 5) : 0;
    f->type = r->len >= 5 ? r->buf[4] : 0;
    size_t have = r->len - 4 < len ? r->len - 4 : len;
    r->skip = len - (uint32_t)have;
    consume(r, 4 + have);
    return READ_TOO_BIG;
  }
  if (r->len < 4 + (size_t)len) return READ_NONE;
  f->type = r->buf[4];
  f->id = be32(r->buf + 5);
  f->body = r->buf + HYPER_FRAME_HEADER;
  f->len = len - 5;
  r->taken = 4 + len;
  return READ_FRAME;
}

int tlv_check(const uint8_t *body, uint32_t len) {
  uint32_t off = 0;
  while (off < len) {
    if (len - off < 5) return -1;
    uint32_t flen = be32(body + off + 1);
    if (flen > len - off - 5) return -1;
    off += 5 + flen;
  }
  return 0;
}

int tlv_find(const uint8_t *body, uint32_t len, uint8_t tag, unsigned nth, struct field *out) {
  uint32_t off = 0;
  while (off + 5 <= len) {
    uint32_t flen = be32(body + off + 1);
    if (flen > len - off - 5) return 0;
    if (body[off] == tag && nth-- == 0) {
      out->tag = tag; out->len = flen; out->val = body + off + 5;
      return 1;
    }
    off += 5 + flen;
  }
  return 0;
}

unsigned tlv_count(const uint8_t *body, uint32_t len, uint8_t tag) {
  struct field f;
  unsigned n = 0;
  while (tlv_find(body, len, tag, n, &f)) n++;
  return n;
}

char *tlv_str(const uint8_t *body, uint32_t len, uint8_t tag, unsigned nth) {
  struct field f;
  if (!tlv_find(body, len, tag, nth, &f) || memchr(f.val, 0, f.len)) return NULL;
  char *s = malloc(f.len + 1);
  if (!s) return NULL;
  memcpy(s, f.val, f.len);
  s[f.len] = 0;
  return s;
}

uint64_t tlv_u64(const uint8_t *body, uint32_t len, uint8_t tag, uint64_t dflt) {
  struct field f;
  if (!tlv_find(body, len, tag, 0, &f) || f.len != 8) return dflt;
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | f.val[i];
  return v;
}

static void reserve(struct writer *w, size_t n) {
  if (w->oom || w->len + n <= w->cap) return;
  size_t cap = w->cap ? w->cap : 256;
  while (cap < w->len + n) cap *= 2;
  uint8_t *b = realloc(w->buf, cap);
  if (!b) { w->oom = 1; return; }
  w->buf = b; w->cap = cap;
}

void writer_begin(struct writer *w, uint8_t type, uint32_t id) {
  w->len = 0; w->oom = 0;
  reserve(w, HYPER_FRAME_HEADER);
  if (w->oom) return;
  w->buf[4] = type;
  put32(w->buf + 5, id);
  w->len = HYPER_FRAME_HEADER;
}

void writer_reset(struct writer *w) { w->len = 0; w->oom = 0; }

void writer_bytes(struct writer *w, uint8_t tag, const void *data, uint32_t n) {
  reserve(w, 5 + (size_t)n);
  if (w->oom) return;
  w->buf[w->len] = tag;
  put32(w->buf + w->len + 1, n);
  if (n) memcpy(w->buf + w->len + 5, data, n);
  w->len += 5 + n;
}

void writer_str(struct writer *w, uint8_t tag, const char *s) { writer_bytes(w, tag, s, (uint32_t)strlen(s)); }

void writer_u64(struct writer *w, uint8_t tag, uint64_t v) {
  uint8_t b[8];
  for (int i = 7; i >= 0; i--) { b[i] = v & 0xff; v >>= 8; }
  writer_bytes(w, tag, b, 8);
}

size_t writer_end(struct writer *w) {
  if (w->oom) return 0;
  put32(w->buf, (uint32_t)(w->len - 4));
  return w->len;
}

void writer_free(struct writer *w) { free(w->buf); memset(w, 0, sizeof *w); }
