/* The host channel over stdio, the guest's virtio-serial port, or a listening unix socket: who is connected,
 * what is queued for them, and the frames they send. */
#define _GNU_SOURCE
#include "channel.h"
#include "log.h"
#include "loop.h"
#include "protocol.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* queued bytes above which requests are left unread: a host that does not read its replies is back-pressured */
#define CHANNEL_PAUSE (1024 * 1024)

enum mode { M_STDIO, M_PORT, M_LISTEN };

static struct {
  enum mode mode;
  int in, out, lfd;
  uint32_t armed_in, armed_out;  /* events registered now, to skip epoll_ctl calls that change nothing */
  char path[108];
  int connected, broken;         /* broken: a write failed; the read side will see the end of the connection */
  struct reader rd;
  uint8_t *q;
  size_t start, len, cap;
  size_t head_left;              /* q's first bytes finish a frame already partly written */
  struct watcher w_in, w_out, w_listen;
  struct channel_hooks hooks;
} ch = {.in = -1, .out = -1, .lfd = -1};

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static void arm(int fd, struct watcher *w, uint32_t ev, uint32_t *armed) {
  if (fd < 0 || *armed == ev) return;
  loop_watch(fd, w, ev);
  *armed = ev;
}

static void rearm(void) {
  uint32_t in = ch.len > CHANNEL_PAUSE ? 0 : EPOLLIN, out = ch.len ? EPOLLOUT : 0;
  if (ch.mode == M_STDIO) {
    arm(ch.in, &ch.w_in, in, &ch.armed_in);
    arm(ch.out, &ch.w_out, out, &ch.armed_out);
  } else if (ch.mode == M_PORT && !ch.connected) {
    /* no host: the port polls readable+hangup without pause. Edge-triggered, we wake only when its waitqueue is
       woken, which the driver does when a host connects (and the port turns writable) */
    arm(ch.in, &ch.w_in, EPOLLIN | EPOLLOUT | EPOLLET, &ch.armed_in);
  } else {
    arm(ch.in, &ch.w_in, in | out, &ch.armed_in);
  }
}

static void q_clear(void) {
  ch.start = ch.len = ch.head_left = 0;
  if (ch.cap > 4 * CHANNEL_LOW) { free(ch.q); ch.q = NULL; ch.cap = 0; }
}

/* n bytes were written: track where the next frame starts, so RESYNC never cuts a frame the host has begun to read. */
static void q_advance(size_t n) {
  const uint8_t *d = ch.q + ch.start;
  size_t p = 0, left = ch.head_left;
  while (p < n) {
    if (!left) left = 4 + (size_t)be32(d + p);
    size_t take = left < n - p ? left : n - p;
    p += take;
    left -= take;
  }
  ch.head_left = left;
  ch.start += n;
  ch.len -= n;
  if (!ch.len) q_clear();
}

static int q_append(const uint8_t *b, size_t n) {
  if (ch.start + ch.len + n > ch.cap) {
    if (ch.start) { memmove(ch.q, ch.q + ch.start, ch.len); ch.start = 0; }
    if (ch.len + n > ch.cap) {
      size_t cap = ch.cap ? ch.cap : 65536;
      while (cap < ch.len + n) cap *= 2;
      uint8_t *q = realloc(ch.q, cap);
      if (!q) return -1;
      ch.q = q;
      ch.cap = cap;
    }
  }
  memcpy(ch.q + ch.start + ch.len, b, n);
  ch.len += n;
  return 0;
}

static void flush(void) {
  while (ch.len && ch.connected && !ch.broken) {
    ssize_t n = write(ch.out, ch.q + ch.start, ch.len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break; /* a slow host, or (virtio port) none attached: the read side tells which */
    if (n <= 0) { ch.broken = 1; q_clear(); break; }
    q_advance((size_t)n);
  }
  rearm();
}

static void host_left(void) {
  if (ch.mode == M_STDIO) exit(0); /* tests close stdin to stop the agent */
  if (!ch.connected) return;
  if (ch.mode == M_PORT) say("hyper-agent: host disconnected (%zu bytes unsent dropped)", ch.len);
  ch.connected = 0;
  q_clear();
  reader_free(&ch.rd);
  reader_init(&ch.rd);
  if (ch.mode == M_LISTEN) {
    loop_unwatch(ch.in);
    close(ch.in);
    ch.in = ch.out = -1;
    loop_watch(ch.lfd, &ch.w_listen, EPOLLIN);
  }
  rearm();
}

static void host_arrived(void) {
  if (ch.mode == M_PORT) say("hyper-agent: host connected");
  ch.connected = 1;
  ch.broken = 0;
  q_clear();
  reader_free(&ch.rd); /* half a request from the previous host must not prefix this one's */
  reader_init(&ch.rd);
  rearm();
  if (ch.hooks.new_host) ch.hooks.new_host();
}

static void process(void) {
  struct frame f;
  enum read_result r;
  while ((r = reader_next(&ch.rd, &f)) != READ_NONE) {
    if (r == READ_FRAME) { if (ch.hooks.frame) ch.hooks.frame(&f); }
    else if (r == READ_TOO_BIG) reply_error(f.id, E_TOO_BIG, 0, "frame larger than %u bytes refused", HYPER_MAX_FRAME);
    else reply_error(0, E_MALFORMED, 0, "frame length below the header size");
  }
}

static void channel_read(void) {
  static uint8_t buf[65536];
  for (int i = 0; i < 4 && ch.in >= 0; i++) {
    ssize_t n = read(ch.in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) { /* a virtio port with a host attached and nothing to read */
      if (!ch.connected && ch.mode == M_PORT) host_arrived();
      return;
    }
    if (n <= 0) { host_left(); return; } /* virtio port: no host attached; socket: the host closed */
    if (!ch.connected) host_arrived();
    if (reader_feed(&ch.rd, buf, (size_t)n) < 0) {
      say("hyper-agent: out of memory reading the channel");
      reader_free(&ch.rd);
      reader_init(&ch.rd);
      return;
    }
    process();
    if (ch.len > CHANNEL_PAUSE) return;
  }
}

static void on_in(struct watcher *w, uint32_t ev) {
  (void)w;
  if (!ch.connected || (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))) channel_read();
  if (ch.connected && (ev & EPOLLOUT)) flush();
  if (ch.hooks.room && channel_has_room()) ch.hooks.room();
}

static void on_out(struct watcher *w, uint32_t ev) {
  (void)w; (void)ev;
  flush();
  if (ch.hooks.room && channel_has_room()) ch.hooks.room();
}

static void on_listen(struct watcher *w, uint32_t ev) {
  (void)w; (void)ev;
  if (ch.in >= 0) return;
  int c = accept4(ch.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (c < 0) return;
  /* one host at a time: later connections wait in the backlog until this one ends, as with QEMU's server chardev */
  loop_watch(ch.lfd, &ch.w_listen, 0);
  ch.in = ch.out = c;
  ch.armed_in = (uint32_t)-1;
  host_arrived();
}

void channel_init(const struct channel_hooks *h) {
  ch.hooks = *h;
  ch.w_in.fn = on_in;
  ch.w_out.fn = on_out;
  ch.w_listen.fn = on_listen;
  reader_init(&ch.rd);
}

void channel_stdio(int in, int out) {
  ch.mode = M_STDIO;
  ch.in = in;
  ch.out = out;
  ch.connected = 1;
  ch.armed_in = ch.armed_out = (uint32_t)-1;
  rearm();
}

void channel_port(int fd) {
  ch.mode = M_PORT;
  ch.in = ch.out = fd;
  ch.connected = 1; /* QEMU's chardev is usually connected before the guest boots; the first read tells */
  ch.armed_in = (uint32_t)-1;
  rearm();
}

int channel_listen(const char *path) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof a.sun_path) { errno = ENAMETOOLONG; return -1; }
  memcpy(a.sun_path, path, strlen(path) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  unlink(path);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 8) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  snprintf(ch.path, sizeof ch.path, "%s", path);
  ch.mode = M_LISTEN;
  ch.lfd = fd;
  ch.connected = 0;
  loop_watch(fd, &ch.w_listen, EPOLLIN);
  return 0;
}

const char *channel_path(void) { return ch.mode == M_LISTEN ? ch.path : NULL; }

int channel_connected(void) { return ch.connected && !ch.broken; }
int channel_has_room(void) { return channel_connected() && ch.len < CHANNEL_LOW; }
size_t channel_queued(void) { return ch.len; }

void send_frame(struct writer *w) {
  size_t n = writer_end(w);
  if (!n || !channel_connected()) return;
  if (q_append(w->buf, n) < 0) { say("hyper-agent: out of memory queueing a frame for the host"); return; }
  flush();
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

void channel_drop_events(void) {
  uint8_t *d = ch.q + ch.start;
  size_t keep = ch.head_left, p = ch.head_left;
  while (p < ch.len) {
    size_t flen = 4 + (size_t)be32(d + p);
    if (d[p + 4] == MSG_OK || d[p + 4] == MSG_ERROR) {
      memmove(d + keep, d + p, flen);
      keep += flen;
    }
    p += flen;
  }
  ch.len = keep;
  if (!ch.len) q_clear();
}
