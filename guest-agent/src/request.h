/* Required fields of a request: each getter answers the request with the error itself when the field is unusable. */
#ifndef HYPER_REQUEST_H
#define HYPER_REQUEST_H
#include <stdint.h>
#include "proctab.h"
#include "wire.h"

/* The process named by PROCESS; NULL (answered E_MISSING or E_NOT_FOUND) if absent or unknown. */
struct proc *need_proc(const struct frame *f);
/* An 8-byte integer field; -1 (answered E_MISSING or E_MALFORMED) if absent or of another size. */
int need_u64(const struct frame *f, uint8_t tag, const char *what, uint64_t *out);

#endif
