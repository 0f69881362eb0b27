/* epoll registration and one round of waiting; the callbacks live with the modules that own the fds. */
#include "loop.h"
#include <errno.h>
#include <stddef.h>
#include <sys/epoll.h>

static int epfd = -1;

int loop_init(void) {
  if (epfd < 0) epfd = epoll_create1(EPOLL_CLOEXEC);
  return epfd;
}

void loop_watch(int fd, struct watcher *w, uint32_t events) {
  if (fd < 0) return;
  struct epoll_event ev = {.events = events, .data.ptr = w};
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) < 0 && errno == ENOENT) epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

void loop_unwatch(int fd) {
  if (fd >= 0) epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
}

void loop_once(int timeout_ms) {
  struct epoll_event evs[64];
  int n = epoll_wait(epfd, evs, 64, timeout_ms);
  /* a callback may close another fd of this batch: watchers live in static tables (process slots, the channel),
     so a stale pointer still points at a watcher, whose callback finds its fd closed (-1) and does nothing */
  for (int i = 0; i < n; i++) {
    struct watcher *w = evs[i].data.ptr;
    if (w && w->fn) w->fn(w, evs[i].events);
  }
}
