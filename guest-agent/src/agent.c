/* hyper-agent: PID 1 of the guest (or, with --host, an unprivileged process on the host for tests).
 * One epoll loop: the host channel, SIGCHLD through a signalfd, and every process's stdio. */
#define _GNU_SOURCE
#include "agent.h"
#include "protocol.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

int host_mode;
struct proc procs[MAX_PROCS];
static int epfd, chan_in = -1, chan_out = -1, sigfd;
static struct reader rd;
static uint8_t *outq; static size_t outq_len, outq_cap; /* bytes for the host not yet written */

/* epoll data: which fd of which process (or the channel/signal fd) */
enum { EV_CHAN = 1, EV_SIG, EV_OUT, EV_ERR, EV_IN, EV_CHAN_OUT };
static uint64_t key(int kind, int idx) { return (uint64_t)kind << 32 | (uint32_t)idx; }

void say(const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
  buf[n++] = '\n';
  (void)!write(2, buf, (size_t)n);
}

static void flush_out(void) {
  while (outq_len) {
    ssize_t n = write(chan_out, outq, outq_len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      outq_len = 0; /* the host went away: drop, it will ping again */
      break;
    }
    memmove(outq, outq + n, outq_len - (size_t)n);
    outq_len -= (size_t)n;
  }
  struct epoll_event ev = {.events = outq_len ? EPOLLOUT : 0, .data.u64 = key(EV_CHAN_OUT, 0)};
  if (chan_out != chan_in) epoll_ctl(epfd, EPOLL_CTL_MOD, chan_out, &ev);
  else {
    ev.events = EPOLLIN | (outq_len ? EPOLLOUT : 0);
    ev.data.u64 = key(EV_CHAN, 0);
    epoll_ctl(epfd, EPOLL_CTL_MOD, chan_in, &ev);
  }
}

void send_frame(struct writer *w) {
  size_t n = writer_end(w);
  if (!n) return;
  if (outq_len + n > outq_cap) {
    size_t cap = outq_cap ? outq_cap : 65536;
    while (cap < outq_len + n) cap *= 2;
    uint8_t *b = realloc(outq, cap);
    if (!b) return;
    outq = b; outq_cap = cap;
  }
  memcpy(outq + outq_len, w->buf, n);
  outq_len += n;
  flush_out();
}

void reply_ok(uint32_t id, struct writer *w) {
  struct writer own = {0};
  if (!w) { writer_begin(&own, MSG_OK, id); w = &own; }
  send_frame(w);
  writer_free(&own);
}

void reply_error(uint32_t id, int code, int err, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  struct writer w = {0};
  writer_begin(&w, MSG_ERROR, id);
  writer_u64(&w, TAG_ERROR, (uint64_t)code);
  writer_str(&w, TAG_MESSAGE, msg);
  if (err) writer_u64(&w, TAG_ERRNO, (uint64_t)err);
  send_frame(&w);
  writer_free(&w);
}

struct proc *proc_find(const char *name) {
  for (int i = 0; i < MAX_PROCS; i++) if (procs[i].used && !strcmp(procs[i].name, name)) return &procs[i];
  return NULL;
}

struct proc *proc_by_pid(pid_t pid) {
  for (int i = 0; i < MAX_PROCS; i++) if (procs[i].used && procs[i].pid == pid && !procs[i].exited) return &procs[i];
  return NULL;
}

struct proc *proc_new(const char *name) {
  for (int i = 0; i < MAX_PROCS; i++) {
    if (procs[i].used) continue;
    struct proc *p = &procs[i];
    memset(p, 0, sizeof *p);
    p->used = 1;
    snprintf(p->name, sizeof p->name, "%s", name);
    p->in_fd = p->out_fd = p->err_fd = p->mnt_ns = -1;
    p->window = OUTPUT_WINDOW;
    return p;
  }
  return NULL;
}

static void watch_fd(int fd, int kind, int idx, uint32_t events) {
  if (fd < 0) return;
  struct epoll_event ev = {.events = events, .data.u64 = key(kind, idx)};
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) < 0 && errno == ENOENT) epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

void proc_watch(struct proc *p) {
  int idx = (int)(p - procs);
  uint32_t out = p->window > 0 ? EPOLLIN : 0; /* flow control: stop reading when the host has not caught up */
  watch_fd(p->out_fd, EV_OUT, idx, out);
  watch_fd(p->err_fd, EV_ERR, idx, out);
  if (!p->tty) watch_fd(p->in_fd, EV_IN, idx, p->in_len || p->in_close_pending ? EPOLLOUT : 0);
}

static void close_fd(int *fd) {
  if (*fd < 0) return;
  epoll_ctl(epfd, EPOLL_CTL_DEL, *fd, NULL);
  close(*fd);
  *fd = -1;
}

/* EXIT goes out once the process is reaped and its output drained, so the host sees all output first. */
void proc_maybe_finish(struct proc *p) {
  if (!p->exited || p->out_fd >= 0 || p->err_fd >= 0) return;
  struct writer w = {0};
  writer_begin(&w, MSG_EXIT, 0);
  writer_str(&w, TAG_PROCESS, p->name);
  writer_u64(&w, TAG_EXIT_CODE, (uint64_t)p->code);
  send_frame(&w);
  writer_free(&w);
  close_fd(&p->in_fd);
  free(p->in_buf);
  if (p->mnt_ns >= 0) close(p->mnt_ns);
  p->used = 0;
}

static void pump_output(struct proc *p, int *fd, int stream) {
  uint8_t buf[32768];
  while (p->window > 0) {
    size_t want = (size_t)p->window < sizeof buf ? (size_t)p->window : sizeof buf;
    ssize_t n = read(*fd, buf, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) { /* EOF, or EIO from a pty master once every holder of the slave exited */
      close_fd(fd);
      if (p->tty) close_fd(&p->in_fd);
      proc_maybe_finish(p);
      return;
    }
    struct writer w = {0};
    writer_begin(&w, MSG_OUTPUT, 0);
    writer_str(&w, TAG_PROCESS, p->name);
    writer_u64(&w, TAG_STREAM, (uint64_t)stream);
    writer_bytes(&w, TAG_DATA, buf, (uint32_t)n);
    send_frame(&w);
    writer_free(&w);
    p->window -= n;
  }
  proc_watch(p);
}

static void pump_input(struct proc *p) {
  int fd = p->tty ? p->out_fd : p->in_fd;
  while (p->in_len) {
    ssize_t n = write(fd, p->in_buf, p->in_len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0) { p->in_len = 0; break; } /* the reader is gone: drop what is left */
    memmove(p->in_buf, p->in_buf + n, p->in_len - (size_t)n);
    p->in_len -= (size_t)n;
  }
  if (!p->in_len && p->in_close_pending) {
    if (p->tty) { static const char eot = 4; (void)!write(fd, &eot, 1); } /* ^D: end of input on a terminal */
    else close_fd(&p->in_fd);
    p->in_close_pending = 0;
  }
  proc_watch(p);
}

static void reap(void) {
  struct signalfd_siginfo si;
  while (read(sigfd, &si, sizeof si) == sizeof si) {}
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) { /* every orphan is ours too: drain them all */
    struct proc *p = proc_by_pid(pid);
    if (!p) continue;
    p->exited = 1;
    p->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    proc_maybe_finish(p);
  }
}

static struct proc *need_proc(const struct frame *f) {
  char *name = tlv_str(f->body, f->len, TAG_PROCESS, 0);
  struct proc *p = name ? proc_find(name) : NULL;
  if (!name) reply_error(f->id, E_MISSING, 0, "PROCESS missing");
  else if (!p) reply_error(f->id, E_NOT_FOUND, 0, "no process \"%s\"", name);
  free(name);
  return p;
}

static void handle(const struct frame *f) {
  if (tlv_check(f->body, f->len) < 0) { reply_error(f->id, E_MALFORMED, 0, "fields overrun the frame body"); return; }
  struct proc *p;
  struct field data;
  switch (f->type) {
  case MSG_PING: {
    struct writer w = {0};
    writer_begin(&w, MSG_OK, f->id);
    writer_u64(&w, TAG_VERSION, HYPER_PROTOCOL_VERSION);
    reply_ok(f->id, &w);
    writer_free(&w);
    return;
  }
  case MSG_START_POD: handle_start_pod(f); return;
  case MSG_START_CONTAINER: handle_start_container(f); return;
  case MSG_EXEC: handle_exec(f); return;
  case MSG_STATS: handle_stats(f); return;
  case MSG_RESEED: handle_reseed(f); return;
  case MSG_SHUTDOWN: handle_shutdown(f); return;
  case MSG_SIGNAL:
    if (!(p = need_proc(f))) return;
    {
      uint64_t sig = tlv_u64(f->body, f->len, TAG_SIGNAL, 0);
      if (sig < 1 || sig > 64) { reply_error(f->id, E_MALFORMED, 0, "SIGNAL must be 1..64"); return; }
      if (p->exited || kill(p->pid, (int)sig) < 0) { reply_error(f->id, E_STATE, p->exited ? 0 : errno, "process \"%s\" has exited", p->name); return; }
    }
    reply_ok(f->id, NULL);
    return;
  case MSG_STDIN:
    if (!(p = need_proc(f))) return;
    if (!tlv_find(f->body, f->len, TAG_DATA, 0, &data)) { reply_error(f->id, E_MISSING, 0, "DATA missing"); return; }
    if (p->in_fd < 0 || p->in_close_pending) { reply_error(f->id, E_STATE, 0, "stdin of \"%s\" is closed", p->name); return; }
    if (p->in_len + data.len > STDIN_LIMIT) { reply_error(f->id, E_STATE, EAGAIN, "stdin of \"%s\" is full (%u bytes buffered); retry", p->name, (unsigned)p->in_len); return; }
    if (data.len == 0) p->in_close_pending = 1;
    else {
      uint8_t *b = realloc(p->in_buf, p->in_len + data.len);
      if (!b) { reply_error(f->id, E_SYSTEM, ENOMEM, "out of memory"); return; }
      memcpy(b + p->in_len, data.val, data.len);
      p->in_buf = b;
      p->in_len += data.len;
    }
    pump_input(p);
    reply_ok(f->id, NULL);
    return;
  case MSG_RESIZE:
    if (!(p = need_proc(f))) return;
    if (!p->tty || p->out_fd < 0) { reply_error(f->id, E_STATE, 0, "process \"%s\" has no terminal", p->name); return; }
    {
      struct winsize ws = {.ws_row = (unsigned short)tlv_u64(f->body, f->len, TAG_ROWS, 24), .ws_col = (unsigned short)tlv_u64(f->body, f->len, TAG_COLS, 80)};
      if (ioctl(p->out_fd, TIOCSWINSZ, &ws) < 0) { reply_error(f->id, E_SYSTEM, errno, "resize: %s", strerror(errno)); return; }
    }
    reply_ok(f->id, NULL);
    return;
  case MSG_WINDOW:
    if (!(p = need_proc(f))) return;
    p->window += (int64_t)tlv_u64(f->body, f->len, TAG_BYTES, 0);
    if (p->window > OUTPUT_WINDOW) p->window = OUTPUT_WINDOW;
    proc_watch(p);
    reply_ok(f->id, NULL);
    return;
  default:
    reply_error(f->id, E_UNKNOWN, 0, "unknown message type %u", f->type);
  }
}

static void on_channel(void) {
  uint8_t buf[65536];
  for (;;) {
    ssize_t n = read(chan_in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n == 0) {
      if (host_mode) exit(0); /* tests close stdin to stop the agent */
      usleep(10000); /* virtio port with no host attached: wait for one */
      break;
    }
    if (n < 0) break;
    if (reader_feed(&rd, buf, (size_t)n) < 0) { say("hyper-agent: out of memory reading the channel"); reader_free(&rd); reader_init(&rd); break; }
  }
  struct frame f;
  enum read_result r;
  while ((r = reader_next(&rd, &f)) != READ_NONE) {
    if (r == READ_FRAME) handle(&f);
    else if (r == READ_TOO_BIG) reply_error(f.id, E_TOO_BIG, 0, "frame larger than %u bytes refused", HYPER_MAX_FRAME);
    else reply_error(0, E_MALFORMED, 0, "frame length below the header size");
  }
}

int main(int argc, char **argv) {
  host_mode = argc > 1 && !strcmp(argv[1], "--host");
  if (!host_mode && getpid() != 1) { say("hyper-agent: run as the guest's init, or with --host for tests"); return 2; }
  signal(SIGPIPE, SIG_IGN);
  if (host_mode) {
    prctl(PR_SET_CHILD_SUBREAPER, 1); /* orphans of our processes come back to us, as they do to PID 1 */
    chan_in = 0; chan_out = 1;
  } else {
    guest_init();
    chan_in = chan_out = open_channel();
  }
  fcntl(chan_in, F_SETFL, fcntl(chan_in, F_GETFL) | O_NONBLOCK);
  fcntl(chan_out, F_SETFL, fcntl(chan_out, F_GETFL) | O_NONBLOCK);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = key(EV_CHAN, 0)};
  epoll_ctl(epfd, EPOLL_CTL_ADD, chan_in, &ev);
  if (chan_out != chan_in) { ev.events = 0; ev.data.u64 = key(EV_CHAN_OUT, 0); epoll_ctl(epfd, EPOLL_CTL_ADD, chan_out, &ev); }
  ev.events = EPOLLIN; ev.data.u64 = key(EV_SIG, 0);
  epoll_ctl(epfd, EPOLL_CTL_ADD, sigfd, &ev);
  reader_init(&rd);

  struct writer w = {0};
  writer_begin(&w, MSG_READY, 0);
  writer_u64(&w, TAG_VERSION, HYPER_PROTOCOL_VERSION);
  writer_str(&w, TAG_MESSAGE, "hyper-agent " HYPER_AGENT_BUILD);
  send_frame(&w);
  writer_free(&w);

  struct epoll_event evs[64];
  for (;;) {
    int n = epoll_wait(epfd, evs, 64, -1);
    for (int i = 0; i < n; i++) {
      int kind = (int)(evs[i].data.u64 >> 32), idx = (int)(uint32_t)evs[i].data.u64;
      struct proc *p = &procs[idx];
      switch (kind) {
      case EV_CHAN:
        if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_channel();
        if (evs[i].events & EPOLLOUT) flush_out();
        break;
      case EV_CHAN_OUT: flush_out(); break;
      case EV_SIG: reap(); break;
      case EV_OUT: if (p->used) pump_output(p, &p->out_fd, 1); break;
      case EV_ERR: if (p->used) pump_output(p, &p->err_fd, 2); break;
      case EV_IN: if (p->used) pump_input(p); break;
      }
    }
  }
}
