/* The host channel: its fds and connection state, the outgoing queue, the frame reader, and replies. */
#ifndef HYPER_CHANNEL_H
#define HYPER_CHANNEL_H
#include <stddef.h>
#include <stdint.h>
#include "wire.h"

struct channel_hooks {
  void (*frame)(const struct frame *f); /* a complete request from the host */
  void (*new_host)(void);               /* a new host connection (reader and queue already reset) */
  void (*room)(void);                   /* the outgoing queue drained below CHANNEL_LOW */
};

/* The output pump fills the queue only up to here: output waits in retention, not in the queue. */
#define CHANNEL_LOW (128 * 1024)

void channel_init(const struct channel_hooks *h);
/* stdin/stdout (--host): always connected; EOF on in ends the agent. */
void channel_stdio(int in, int out);
/* The guest's virtio-serial port: read() returning 0 means no host is attached (the virtio_console driver's way). */
void channel_port(int fd);
/* A unix socket (--host --listen): one connection at a time, as QEMU's server chardev; -1 with errno on failure. */
int channel_listen(const char *path);
/* The socket path of listen mode (NULL otherwise), so an exiting agent can remove it. */
const char *channel_path(void);

int channel_connected(void);
/* Connected, and the queue is short enough to take more output. */
int channel_has_room(void);
size_t channel_queued(void);

/* Queues a finished frame for the current host (dropped while none is connected). */
void send_frame(struct writer *w);
void reply_ok(uint32_t id, struct writer *w);
void reply_error(uint32_t id, int code, int err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* RESYNC: drops the queued events (OUTPUT, EXIT, READY) not yet begun; replies and the rest of a frame half-written stay. */
void channel_drop_events(void);

#endif
