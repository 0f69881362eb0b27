/* The output path (pipe -> retention -> OUTPUT frame), the stdin path (buffer -> pipe), and the reaper. */
#define _GNU_SOURCE
#include "pump.h"
#include "limits.h"
#include "channel.h"
#include "protocol.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK 65536
#define FRAME_DATA 65536 /* DATA bytes per OUTPUT frame */

static int held;
static int rr; /* where the next round-robin pass starts */

static void on_output(struct watcher *w, uint32_t ev);
static void on_stdin(struct watcher *w, uint32_t ev) { (void)ev; pump_stdin(w->ctx); }

void pump_watch(struct proc *p) {
  for (int s = 0; s < 2; s++) {
    struct watcher *w = &p->w_out[s];
    *w = (struct watcher){.fn = on_output, .ctx = p, .arg = s};
    loop_watch(p->out[s].fd, w, stream_room(&p->out[s]) ? EPOLLIN : 0); /* no room: the pipe fills, the process blocks */
  }
  p->w_in = (struct watcher){.fn = on_stdin, .ctx = p};
  if (!p->tty) loop_watch(p->in_fd, &p->w_in, p->in_len || p->in_close_pending ? EPOLLOUT : 0);
}

static void finish_if_done(struct proc *p) {
  if (proc_done(p)) proc_retire(p);
}

static void read_output(struct proc *p, int s) {
  struct stream *st = &p->out[s];
  while (st->fd >= 0) {
    size_t want = stream_room(st);
    if (!want) break;
    if (want > READ_CHUNK) want = READ_CHUNK;
    uint8_t *dst = stream_reserve(st, want);
    if (!dst) break; /* out of memory: leave it in the pipe and try again on the next ack */
    ssize_t n = read(st->fd, dst, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n <= 0) { /* EOF, or EIO from a pty master once every holder of the slave exited */
      proc_close_fd(&st->fd);
      if (p->tty) proc_close_fd(&p->in_fd);
      if (st->read == st->acked) stream_free(st);
      finish_if_done(p);
      break;
    }
    stream_commit(st, (size_t)n);
  }
  pump_watch(p);
}

static void on_output(struct watcher *w, uint32_t ev) {
  (void)ev;
  struct proc *p = w->ctx;
  if (!p->used) return;
  read_output(p, w->arg);
  pump_kick();
}

static int send_output(struct proc *p, int s) {
  static struct writer w; /* reused: one OUTPUT frame buffer for the agent's lifetime */
  size_t n;
  const uint8_t *data = stream_unsent(&p->out[s], &n);
  if (!n) return 0;
  if (n > FRAME_DATA) n = FRAME_DATA;
  writer_begin(&w, MSG_OUTPUT, 0);
  writer_str(&w, TAG_PROCESS, p->name);
  writer_u64(&w, TAG_STREAM, (uint64_t)s + 1);
  writer_u64(&w, TAG_OFFSET, p->out[s].next);
  writer_bytes(&w, TAG_DATA, data, (uint32_t)n);
  send_frame(&w);
  stream_advance(&p->out[s], n);
  return 1;
}

static int send_exit(struct proc *p) {
  size_t a, b;
  if (p->exit_sent || !proc_done(p) || stream_unsent(&p->out[0], &a) || stream_unsent(&p->out[1], &b)) return 0;
  struct writer w = {0};
  writer_begin(&w, MSG_EXIT, 0);
  writer_str(&w, TAG_PROCESS, p->name);
  writer_u64(&w, TAG_EXIT_CODE, (uint64_t)p->code);
  writer_u64(&w, TAG_TIME_MS, p->exit_ms);
  if (p->oom) writer_str(&w, TAG_MESSAGE, "OOM killed");
  send_frame(&w);
  writer_free(&w);
  p->exit_sent = 1;
  return 1;
}

void pump_kick(void) {
  for (int progress = 1; progress && !held && channel_has_room();) {
    progress = 0;
    int lim = proc_limit();
    if (!lim) return;
    rr = (rr + 1) % lim;
    for (int k = 0; k < lim && channel_has_room(); k++) {
      struct proc *p = proc_at((rr + k) % lim);
      if (!p) continue;
      progress |= send_output(p, 0);
      progress |= send_output(p, 1);
      progress |= send_exit(p);
    }
  }
}

void pump_rewind_all(void) {
  for (int i = 0; i < proc_limit(); i++) {
    struct proc *p = proc_at(i);
    if (!p) continue;
    stream_rewind(&p->out[0]);
    stream_rewind(&p->out[1]);
    p->exit_sent = 0;
  }
}

void pump_hold(int h) {
  held = h;
  pump_kick();
}

void pump_stdin(struct proc *p) {
  if (!p->used) return;
  int fd = p->tty ? p->out[0].fd : p->in_fd;
  while (p->in_len && fd >= 0) {
    ssize_t n = write(fd, p->in_buf, p->in_len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0) { p->in_len = 0; break; } /* the reader is gone: drop what is left */
    memmove(p->in_buf, p->in_buf + n, p->in_len - (size_t)n);
    p->in_len -= (size_t)n;
  }
  if (!p->in_len && p->in_close_pending) {
    if (p->tty) { static const char eot = 4; if (fd >= 0) (void)!write(fd, &eot, 1); } /* ^D: end of input on a terminal */
    else proc_close_fd(&p->in_fd);
    p->in_close_pending = 0;
  }
  pump_watch(p);
}

static uint64_t realtime_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void pump_reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) { /* every orphan is ours too: drain them all */
    struct proc *p = proc_by_pid(pid);
    if (!p) continue;
    p->reaped = 1;
    p->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    p->exit_ms = realtime_ms();
    p->oom = p->code == 128 + 9 && limits_oom_kills(p->container) > p->oom_base;
    finish_if_done(p);
  }
  pump_kick();
}
