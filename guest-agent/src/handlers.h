/* The dispatch table: message type -> handler, used by the event loop, the unit tests and the fuzzer. */
#ifndef HYPER_HANDLERS_H
#define HYPER_HANDLERS_H
#include <stdint.h>
#include "wire.h"

typedef void handler_fn(const struct frame *f);

struct handler {
  uint8_t type;
  const char *name;
  handler_fn *fn;       /* NULL: a retired number, answered E_UNKNOWN with the reason */
  int system;           /* spawns processes, mounts, changes the machine or powers off: kept out of the fuzzer */
};

/* The entry for a message type, or NULL if the type was never defined. */
const struct handler *handler_for(uint8_t type);
/* Checks the body's TLV framing, then runs the handler; every request gets exactly one reply. */
void dispatch(const struct frame *f);

#endif
