/* What a host learns and acknowledges about the processes: READY, RESYNC, ACK and RELEASE. */
#ifndef HYPER_SESSION_H
#define HYPER_SESSION_H
#include "wire.h"

/* MSG_READY {VERSION, MESSAGE=build, BOOT_ID}: at boot and for every new host connection. */
void send_ready(void);
/* The agent's protocol version, build and boot id: in READY, and in the answer to RESTORED. */
void write_hello(struct writer *w);
void handle_resync(const struct frame *f);
void handle_ack(const struct frame *f);
void handle_release(const struct frame *f);

#endif
