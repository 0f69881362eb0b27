/* Frame reassembly and TLV field access: pure functions over byte buffers, shared by the agent and its fuzzer. */
#ifndef HYPER_WIRE_H
#define HYPER_WIRE_H
#include <stddef.h>
#include <stdint.h>

struct frame {
  uint8_t type;
  uint32_t id;
  const uint8_t *body;
  uint32_t len;
};

/* Reassembles frames from a byte stream. Oversized frames are skipped, and reported once. */
struct reader {
  uint8_t *buf;
  size_t len, cap;
  uint32_t skip;      /* bytes of an oversized frame still to discard */
  size_t taken;       /* bytes of the frame handed out last, dropped on the next reader_next */
};

enum read_result { READ_NONE, READ_FRAME, READ_TOO_BIG, READ_MALFORMED };

void reader_init(struct reader *r);
void reader_free(struct reader *r);
/* Appends bytes; returns -1 when out of memory. */
int reader_feed(struct reader *r, const uint8_t *data, size_t n);
/* Takes the next complete frame (valid until the next call). READ_TOO_BIG/MALFORMED set f->id when known. */
enum read_result reader_next(struct reader *r, struct frame *f);

/* TLV iteration over a frame body. */
struct field { uint8_t tag; uint32_t len; const uint8_t *val; };
/* Validates that fields tile the body exactly: 0 ok, -1 malformed. */
int tlv_check(const uint8_t *body, uint32_t len);
/* Finds the nth (0-based) field with this tag; 1 found, 0 not. Body must have passed tlv_check. */
int tlv_find(const uint8_t *body, uint32_t len, uint8_t tag, unsigned nth, struct field *out);
unsigned tlv_count(const uint8_t *body, uint32_t len, uint8_t tag);
/* Copies a string field into a fresh NUL-terminated heap string; NULL if absent, contains NUL, or too long. */
char *tlv_str(const uint8_t *body, uint32_t len, uint8_t tag, unsigned nth);
/* Reads an 8-byte integer field; returns dflt when absent or of the wrong size. */
uint64_t tlv_u64(const uint8_t *body, uint32_t len, uint8_t tag, uint64_t dflt);

/* Builds outgoing frames. */
struct writer { uint8_t *buf; size_t len, cap; int oom; };
void writer_begin(struct writer *w, uint8_t type, uint32_t id);
/* Starts a bare TLV body (no frame header), e.g. one nested in a field of another frame. */
void writer_reset(struct writer *w);
void writer_bytes(struct writer *w, uint8_t tag, const void *data, uint32_t n);
void writer_str(struct writer *w, uint8_t tag, const char *s);
void writer_u64(struct writer *w, uint8_t tag, uint64_t v);
/* Patches the length; returns the frame size, or 0 if out of memory. */
size_t writer_end(struct writer *w);
void writer_free(struct writer *w);

#endif
