/* libFuzzer harness: arbitrary bytes, split at arbitrary points, through the frame reader, every TLV accessor, and the
 * real dispatch table for the requests that spawn nothing (a table of fake processes to ack, resync and release). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "channel.h"
#include "handlers.h"
#include "loop.h"
#include "proctab.h"
#include "protocol.h"
#include "pump.h"
#include "system.h"

static void on_frame(const struct frame *f) { (void)f; }
static void on_new_host(void) {}

/* Replies go to /dev/null through the real channel; the table holds one running and one exited process. */
static void setup(void) {
  static int done;
  if (!done) {
    done = 1;
    host_mode = 1;
    loop_init();
    int p[2];
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) abort();
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    struct channel_hooks hooks = {.frame = on_frame, .new_host = on_new_host, .room = pump_kick};
    channel_init(&hooks);
    channel_stdio(p[0], null);
  }
  for (int i = 0; i < proc_limit(); i++) if (proc_at(i)) proc_release(proc_at(i));
  struct proc *run = proc_new("p-run"), *gone = proc_new("p-done");
  snprintf(run->container, sizeof run->container, "p-run");
  snprintf(gone->container, sizeof gone->container, "p-run");
  run->is_main = 1;
  run->pid = gone->pid = 999999; /* never signalled: see below */
  memset(stream_reserve(&run->out[0], 1000), 'x', 1000);
  stream_commit(&run->out[0], 1000);
  memset(stream_reserve(&gone->out[1], 10), 'y', 10);
  stream_commit(&gone->out[1], 10);
  gone->reaped = 1;
  gone->code = 3;
  pump_hold(0);
}

/* Requests to a live process would reach real pids (SIGNAL) or fds: only missing or exited targets are fuzzed. */
static int safe(const struct frame *f) {
  const struct handler *h = handler_for(f->type);
  if (h && h->system) return 0; /* START_*, EXEC, SHUTDOWN, RESEED */
  if (f->type != MSG_SIGNAL && f->type != MSG_STDIN && f->type != MSG_RESIZE) return 1;
  if (tlv_check(f->body, f->len) < 0) return 1;
  char *name = tlv_str(f->body, f->len, TAG_PROCESS, 0);
  struct proc *p = name ? proc_find(name) : NULL;
  free(name);
  return !p || p->reaped;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  setup();
  struct reader r;
  reader_init(&r);
  size_t off = 0;
  /* the first byte picks the chunk size, so frames arrive split as they do from a real channel */
  size_t chunk = size ? (data[0] % 64) + 1 : 1;
  while (off < size) {
    size_t n = size - off < chunk ? size - off : chunk;
    if (reader_feed(&r, data + off, n) < 0) break;
    off += n;
    struct frame f;
    enum read_result res;
    while ((res = reader_next(&r, &f)) != READ_NONE) {
      if (res != READ_FRAME) continue;
      if (tlv_check(f.body, f.len) == 0) {
        for (uint8_t tag = 0; tag < 48; tag++) {
          unsigned count = tlv_count(f.body, f.len, tag);
          for (unsigned i = 0; i < count && i < 4; i++) free(tlv_str(f.body, f.len, tag, i));
          (void)tlv_u64(f.body, f.len, tag, 0);
        }
      }
      if (safe(&f)) dispatch(&f);
    }
  }
  reader_free(&r);
  return 0;
}
