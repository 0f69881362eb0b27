/* The dispatch table, and the small requests on one process: PING, SIGNAL, STDIN, RESIZE. */
#define _GNU_SOURCE
#include "handlers.h"
#include "channel.h"
#include "container.h"
#include "protocol.h"
#include "pump.h"
#include "request.h"
#include "session.h"
#include "stats.h"
#include "system.h"
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>

static void handle_ping(const struct frame *f) {
  struct writer w = {0};
  writer_begin(&w, MSG_OK, f->id);
  writer_u64(&w, TAG_VERSION, HYPER_PROTOCOL_VERSION);
  reply_ok(f->id, &w);
  writer_free(&w);
}

static void handle_signal(const struct frame *f) {
  struct proc *p = need_proc(f);
  uint64_t sig;
  if (!p || need_u64(f, TAG_SIGNAL, "SIGNAL", &sig) < 0) return;
  if (sig < 1 || sig > 64) { reply_error(f->id, E_MALFORMED, 0, "SIGNAL must be 1..64"); return; }
  if (p->reaped) { reply_error(f->id, E_STATE, 0, "process \"%s\" has exited", p->name); return; }
  if (kill(p->pid, (int)sig) < 0) { reply_error(f->id, E_SYSTEM, errno, "signal %d to \"%s\": %s", (int)sig, p->name, strerror(errno)); return; }
  reply_ok(f->id, NULL);
}

static void handle_stdin(const struct frame *f) {
  struct proc *p = need_proc(f);
  struct field data;
  if (!p) return;
  if (!tlv_find(f->body, f->len, TAG_DATA, 0, &data)) { reply_error(f->id, E_MISSING, 0, "DATA missing"); return; }
  if (p->in_fd < 0 || p->in_close_pending) { reply_error(f->id, E_STATE, 0, "stdin of \"%s\" is closed", p->name); return; }
  if (p->in_len + data.len > STDIN_LIMIT) {
    reply_error(f->id, E_STATE, EAGAIN, "stdin of \"%s\" is full (%u bytes buffered); retry", p->name, (unsigned)p->in_len);
    return;
  }
  if (data.len == 0) p->in_close_pending = 1;
  else {
    uint8_t *b = realloc(p->in_buf, p->in_len + data.len);
    if (!b) { reply_error(f->id, E_SYSTEM, ENOMEM, "out of memory"); return; }
    memcpy(b + p->in_len, data.val, data.len);
    p->in_buf = b;
    p->in_len += data.len;
  }
  pump_stdin(p);
  reply_ok(f->id, NULL);
}

static void handle_resize(const struct frame *f) {
  struct proc *p = need_proc(f);
  if (!p) return;
  if (!p->tty || p->out[0].fd < 0) { reply_error(f->id, E_STATE, 0, "process \"%s\" has no terminal", p->name); return; }
  struct winsize ws = {.ws_row = (unsigned short)tlv_u64(f->body, f->len, TAG_ROWS, 24), .ws_col = (unsigned short)tlv_u64(f->body, f->len, TAG_COLS, 80)};
  if (ioctl(p->out[0].fd, TIOCSWINSZ, &ws) < 0) { reply_error(f->id, E_SYSTEM, errno, "resize: %s", strerror(errno)); return; }
  reply_ok(f->id, NULL);
}

static const struct handler table[] = {
  {MSG_PING, "PING", handle_ping, 0},
  {MSG_START_POD, "START_POD", handle_start_pod, 1},
  {MSG_START_CONTAINER, "START_CONTAINER", handle_start_container, 1},
  {MSG_EXEC, "EXEC", handle_exec, 1},
  {MSG_SIGNAL, "SIGNAL", handle_signal, 0},
  {MSG_STDIN, "STDIN", handle_stdin, 0},
  {MSG_RESIZE, "RESIZE", handle_resize, 0},
  {MSG_STATS, "STATS", handle_stats, 0},
  {MSG_SHUTDOWN, "SHUTDOWN", handle_shutdown, 1},
  {MSG_RESEED, "RESEED", handle_reseed, 1},
  {MSG_RETIRED_WINDOW, "WINDOW (retired in protocol 2: output is acknowledged with ACK)", NULL, 0},
  {MSG_RESYNC, "RESYNC", handle_resync, 0},
  {MSG_ACK, "ACK", handle_ack, 0},
  {MSG_RELEASE, "RELEASE", handle_release, 0},
  {MSG_PS, "PS", handle_ps, 0},
  {MSG_RESTORED, "RESTORED", handle_restored, 1},
};

const struct handler *handler_for(uint8_t type) {
  for (size_t i = 0; i < sizeof table / sizeof *table; i++) if (table[i].type == type) return &table[i];
  return NULL;
}

void dispatch(const struct frame *f) {
  if (tlv_check(f->body, f->len) < 0) { reply_error(f->id, E_MALFORMED, 0, "fields overrun the frame body"); return; }
  const struct handler *h = handler_for(f->type);
  if (!h) reply_error(f->id, E_UNKNOWN, 0, "unknown message type %u", f->type);
  else if (!h->fn) reply_error(f->id, E_UNKNOWN, 0, "message type %u, %s", f->type, h->name);
  else h->fn(f);
}
