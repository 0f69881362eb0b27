/* Output retention for one stream of one process: every byte read from the process is kept until the host acknowledges it. */
#ifndef HYPER_RETAIN_H
#define HYPER_RETAIN_H
#include <stddef.h>
#include <stdint.h>

/* Offsets count the stream's bytes from 0. Invariant: acked <= next <= read, and read - acked <= HYPER_OUTPUT_WINDOW.
 * The bytes [acked, read) are held at buf[start ..]. */
struct stream {
  int fd;             /* the read end of the process's pipe (or pty master), -1 once at EOF */
  uint8_t *buf;
  size_t cap, start;
  uint64_t read;      /* bytes read from the process so far (SENT on the wire) */
  uint64_t acked;     /* the host stored everything below this; those bytes are freed */
  uint64_t next;      /* the offset the next OUTPUT frame starts at */
};

void stream_init(struct stream *s);
void stream_free(struct stream *s);
/* Bytes that may still be read from the process before the host must acknowledge some. */
size_t stream_room(const struct stream *s);
/* Space for up to n (<= stream_room) more bytes at the tail, or NULL when out of memory; then stream_commit what was read. */
uint8_t *stream_reserve(struct stream *s, size_t n);
void stream_commit(struct stream *s, size_t n);
/* The host stored [0, off): frees those bytes, and moves next up to off. -1 (nothing changed) if off > read. */
int stream_ack(struct stream *s, uint64_t off);
/* Bytes from next to read: where they start and how many. */
const uint8_t *stream_unsent(const struct stream *s, size_t *n);
void stream_advance(struct stream *s, size_t n);
/* A new host: send again from the acknowledged offset. */
void stream_rewind(struct stream *s);

#endif
