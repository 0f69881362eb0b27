/* A host's view of the processes across reconnects: the resync listing, acknowledgements that free retained output,
 * and the release that ends a process's life in the table. */
#include "session.h"
#include "channel.h"
#include "proctab.h"
#include "protocol.h"
#include "pump.h"
#include "request.h"
#include "system.h"

#ifndef HYPER_AGENT_BUILD
#define HYPER_AGENT_BUILD "dev"
#endif

/* the longest entry: two 127-byte names, six integers per stream pair, five others, a 7-byte state, the headers */
#define ENTRY_MAX (2 * (5 + 127) + 11 * 13 + (5 + 7) + 5)
_Static_assert(MAX_PROCS * ENTRY_MAX + 1024 < HYPER_MAX_FRAME, "a RESYNC reply listing a full table must fit one frame");

void write_hello(struct writer *w) {
  writer_u64(w, TAG_VERSION, HYPER_PROTOCOL_VERSION);
  writer_str(w, TAG_MESSAGE, "hyper-agent " HYPER_AGENT_BUILD);
  writer_str(w, TAG_BOOT_ID, boot_id());
}

void send_ready(void) {
  struct writer w = {0};
  writer_begin(&w, MSG_READY, 0);
  write_hello(&w);
  send_frame(&w);
  writer_free(&w);
}

static void entry(struct writer *e, const struct proc *p) {
  int done = proc_done(p);
  writer_reset(e);
  writer_str(e, TAG_PROCESS, p->name);
  writer_str(e, TAG_CONTAINER, p->container);
  writer_u64(e, TAG_MAIN, (uint64_t)p->is_main);
  writer_u64(e, TAG_PID, (uint64_t)p->pid);
  writer_str(e, TAG_STATE, done ? "exited" : "running");
  if (done) {
    writer_u64(e, TAG_EXIT_CODE, (uint64_t)p->code);
    writer_u64(e, TAG_TIME_MS, p->exit_ms);
  }
  for (int s = 0; s < 2; s++) {
    writer_u64(e, TAG_STREAM, (uint64_t)s + 1);
    writer_u64(e, TAG_SENT, p->out[s].read);
    writer_u64(e, TAG_ACKED, p->out[s].acked);
  }
}

void handle_resync(const struct frame *f) {
  /* what is queued may be for a host that is gone: events go (the rewind sends their bytes again), replies stay */
  channel_drop_events();
  pump_rewind_all();
  struct writer w = {0}, e = {0};
  writer_begin(&w, MSG_OK, f->id);
  write_hello(&w);
  int oom = 0;
  for (int i = 0; i < proc_limit() && !oom; i++) {
    struct proc *p = proc_at(i);
    if (!p) continue;
    entry(&e, p);
    if (!(oom = e.oom)) writer_bytes(&w, TAG_ENTRY, e.buf, (uint32_t)e.len);
  }
  if (oom || !writer_end(&w)) reply_error(f->id, E_SYSTEM, 12, "out of memory listing processes");
  else reply_ok(f->id, &w);
  writer_free(&w);
  writer_free(&e);
  pump_kick();
}

void handle_ack(const struct frame *f) {
  struct proc *p = need_proc(f);
  uint64_t stream, off;
  if (!p || need_u64(f, TAG_STREAM, "STREAM", &stream) < 0 || need_u64(f, TAG_OFFSET, "OFFSET", &off) < 0) return;
  if (stream != 1 && stream != 2) { reply_error(f->id, E_MALFORMED, 0, "STREAM must be 1 (stdout) or 2 (stderr)"); return; }
  struct stream *s = &p->out[stream - 1];
  if (stream_ack(s, off) < 0) {
    reply_error(f->id, E_STATE, 0, "ack of %s of \"%s\" at offset %llu: only %llu bytes were read", stream == 1 ? "stdout" : "stderr",
                p->name, (unsigned long long)off, (unsigned long long)s->read);
    return;
  }
  reply_ok(f->id, NULL);
  pump_watch(p); /* the window may have reopened */
  pump_kick();
}

void handle_release(const struct frame *f) {
  struct proc *p = need_proc(f);
  if (!p) return;
  if (!proc_done(p)) {
    reply_error(f->id, E_STATE, 0, "process \"%s\" %s", p->name, p->reaped ? "has exited but its output is still open" : "is still running");
    return;
  }
  proc_release(p);
  reply_ok(f->id, NULL);
}
