/* Field getters shared by the handlers, so every handler refuses a bad field with the same words. */
#include "request.h"
#include "channel.h"
#include "protocol.h"
#include <stdlib.h>

struct proc *need_proc(const struct frame *f) {
  char *name = tlv_str(f->body, f->len, TAG_PROCESS, 0);
  struct proc *p = name ? proc_find(name) : NULL;
  if (!name) reply_error(f->id, E_MISSING, 0, "PROCESS missing");
  else if (!p) reply_error(f->id, E_NOT_FOUND, 0, "no process \"%s\"", name);
  free(name);
  return p;
}

int need_u64(const struct frame *f, uint8_t tag, const char *what, uint64_t *out) {
  struct field fl;
  if (!tlv_find(f->body, f->len, tag, 0, &fl)) { reply_error(f->id, E_MISSING, 0, "%s missing", what); return -1; }
  if (fl.len != 8) { reply_error(f->id, E_MALFORMED, 0, "%s must be an 8-byte integer, not %u bytes", what, (unsigned)fl.len); return -1; }
  *out = tlv_u64(f->body, f->len, tag, 0);
  return 0;
}
