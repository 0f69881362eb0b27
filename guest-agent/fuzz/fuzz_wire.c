/* libFuzzer harness: arbitrary bytes, split at arbitrary points, through the frame reader and every TLV accessor. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "protocol.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct reader r;
  reader_init(&r);
  size_t off = 0;
  /* the first byte picks the chunk size, so frames arrive split as they do from a real channel */
  size_t chunk = size ? (data[0] % 64) + 1 : 1;
  while (off < size) {
    size_t n = size - off < chunk ? size - off : chunk;
    if (reader_feed(&r, data + off, n) < 0) break;
    off += n;
    struct frame f;
    enum read_result res;
    while ((res = reader_next(&r, &f)) != READ_NONE) {
      if (res != READ_FRAME || tlv_check(f.body, f.len) < 0) continue;
      for (uint8_t tag = 0; tag < 32; tag++) {
        unsigned count = tlv_count(f.body, f.len, tag);
        for (unsigned i = 0; i < count && i < 4; i++) free(tlv_str(f.body, f.len, tag, i));
        (void)tlv_u64(f.body, f.len, tag, 0);
      }
      /* echo a reply, as the agent would */
      struct writer w = {0};
      writer_begin(&w, MSG_OK, f.id);
      writer_bytes(&w, TAG_DATA, f.body, f.len);
      writer_end(&w);
      writer_free(&w);
    }
  }
  reader_free(&r);
  return 0;
}
