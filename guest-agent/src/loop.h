/* The agent's one epoll set: each fd is registered with a watcher whose callback runs when the fd is ready. */
#ifndef HYPER_LOOP_H
#define HYPER_LOOP_H
#include <stdint.h>

struct watcher {
  void (*fn)(struct watcher *w, uint32_t events);
  void *ctx;
  int arg;
};

/* Creates the epoll set; -1 with errno on failure. */
int loop_init(void);
/* Registers fd, or changes its events; a negative fd is ignored. */
void loop_watch(int fd, struct watcher *w, uint32_t events);
void loop_unwatch(int fd);
/* Waits up to timeout_ms (-1: forever) and runs the callbacks of the fds that are ready. */
void loop_once(int timeout_ms);

#endif
