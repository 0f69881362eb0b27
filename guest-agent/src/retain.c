/* The retention buffer of one stream: a linear buffer that grows up to the output window and compacts as acks free its head. */
#include "retain.h"
#include "protocol.h"
#include <stdlib.h>
#include <string.h>

void stream_init(struct stream *s) {
  memset(s, 0, sizeof *s);
  s->fd = -1;
}

void stream_free(struct stream *s) {
  free(s->buf);
  s->buf = NULL;
  s->cap = s->start = 0;
}

static size_t held(const struct stream *s) { return (size_t)(s->read - s->acked); }

size_t stream_room(const struct stream *s) { return HYPER_OUTPUT_WINDOW - held(s); }

uint8_t *stream_reserve(struct stream *s, size_t n) {
  size_t h = held(s);
  if (n > stream_room(s)) n = stream_room(s);
  if (s->start + h + n <= s->cap) return s->buf + s->start + h;
  if (s->start) { /* slide the held bytes to the front before growing */
    memmove(s->buf, s->buf + s->start, h);
    s->start = 0;
    if (h + n <= s->cap) return s->buf + h;
  }
  size_t cap = s->cap ? s->cap : 16384;
  while (cap < h + n) cap *= 2;
  if (cap > HYPER_OUTPUT_WINDOW) cap = HYPER_OUTPUT_WINDOW;
  uint8_t *b = realloc(s->buf, cap);
  if (!b) return NULL;
  s->buf = b;
  s->cap = cap;
  return s->buf + h;
}

void stream_commit(struct stream *s, size_t n) { s->read += n; }

int stream_ack(struct stream *s, uint64_t off) {
  if (off > s->read) return -1;
  if (off <= s->acked) return 0; /* an older ack arriving late */
  s->start += (size_t)(off - s->acked);
  s->acked = off;
  if (s->next < off) s->next = off; /* the host already had those bytes */
  if (s->acked == s->read) {
    s->start = 0;
    if (s->fd < 0) stream_free(s); /* nothing more will come: give the memory back */
  }
  return 0;
}

const uint8_t *stream_unsent(const struct stream *s, size_t *n) {
  *n = (size_t)(s->read - s->next);
  return *n ? s->buf + s->start + (size_t)(s->next - s->acked) : NULL;
}

void stream_advance(struct stream *s, size_t n) { s->next += n; }

void stream_rewind(struct stream *s) { s->next = s->acked; }
