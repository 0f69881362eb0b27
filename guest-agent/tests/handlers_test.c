/* Unit tests of the agent's handlers, driven through the dispatch table in host mode with pipes as the host channel
 * (make check). Processes are table entries with pipes the test writes into; only PS forks real (paused) processes to list. */
#define _GNU_SOURCE
#include "channel.h"
#include "handlers.h"
#include "loop.h"
#include "proctab.h"
#include "protocol.h"
#include "pump.h"
#include "stats.h"
#include "system.h"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int passed, failed;
static int to_agent[2], from_agent[2]; /* the host's side: writes requests to to_agent[1], reads from from_agent[0] */
static struct reader rd;

#define CHECK(cond, ...) check(!!(cond), __LINE__, __VA_ARGS__)
static void check(int ok, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("%s - line %d: ", ok ? "ok" : "not ok", line);
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  ok ? passed++ : failed++;
}

static void on_frame(const struct frame *f) { dispatch(f); pump_hold(0); }
static void on_new_host(void) {}

/* A request built from a writer, run through the dispatch table as if it had arrived on the channel. */
static void run(struct writer *w) {
  writer_end(w);
  struct frame f = {.type = w->buf[4], .id = (uint32_t)w->buf[5] << 24 | w->buf[6] << 16 | w->buf[7] << 8 | w->buf[8],
                    .body = w->buf + HYPER_FRAME_HEADER, .len = (uint32_t)(w->len - HYPER_FRAME_HEADER)};
  on_frame(&f);
  writer_free(w);
}

/* The next frame the agent sent; type 0 if none. The frame stays valid until the next call. */
static struct frame next_frame(void) {
  uint8_t buf[65536];
  ssize_t n;
  while ((n = read(from_agent[0], buf, sizeof buf)) > 0) reader_feed(&rd, buf, (size_t)n);
  struct frame f = {0};
  if (reader_next(&rd, &f) != READ_FRAME) f.type = 0;
  return f;
}

/* The reply to request id, skipping events; returns its error code (0 for OK). */
static int reply_code(uint32_t id, struct frame *out) {
  for (;;) {
    struct frame f = next_frame();
    if (!f.type) return -1;
    if (f.id != id || (f.type != MSG_OK && f.type != MSG_ERROR)) continue;
    if (out) *out = f;
    return f.type == MSG_OK ? 0 : (int)tlv_u64(f.body, f.len, TAG_ERROR, 99);
  }
}

static int request(uint8_t type, uint32_t id, const char *process, int stream, int64_t offset) {
  struct writer w = {0};
  writer_begin(&w, type, id);
  if (process) writer_str(&w, TAG_PROCESS, process);
  if (stream >= 0) writer_u64(&w, TAG_STREAM, (uint64_t)stream);
  if (offset >= 0) writer_u64(&w, TAG_OFFSET, (uint64_t)offset);
  run(&w);
  return reply_code(id, NULL);
}

static void drain(void) { while (next_frame().type) {} }

/* A table entry with a real pipe as its stdout (the test holds the write end); exited: reaped, output at EOF. */
static struct proc *fake(const char *name, int exited, int *stdout_w) {
  struct proc *p = proc_new(name);
  snprintf(p->container, sizeof p->container, "%s", name);
  p->is_main = 1;
  p->pid = 999999;
  if (exited) { p->reaped = 1; p->code = 7; p->exit_ms = 1234; return p; }
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) abort();
  fcntl(fds[0], F_SETPIPE_SZ, 1 << 20);
  p->out[0].fd = fds[0];
  *stdout_w = fds[1];
  pump_watch(p);
  return p;
}

static void pump_loop(void) { for (int i = 0; i < 50; i++) loop_once(0); }

static void test_basics(void) {
  struct frame f;
  struct writer w = {0};
  writer_begin(&w, MSG_PING, 1);
  run(&w);
  CHECK(reply_code(1, &f) == 0 && tlv_u64(f.body, f.len, TAG_VERSION, 0) == HYPER_PROTOCOL_VERSION, "PING answers OK with version %d", HYPER_PROTOCOL_VERSION);
  CHECK(request(200, 2, NULL, -1, -1) == E_UNKNOWN, "an unknown type is E_UNKNOWN");
  w = (struct writer){0};
  writer_begin(&w, MSG_RETIRED_WINDOW, 3);
  run(&w);
  int code = reply_code(3, &f);
  char *msg = tlv_str(f.body, f.len, TAG_MESSAGE, 0);
  CHECK(code == E_UNKNOWN && msg && strstr(msg, "retired"), "the retired WINDOW is E_UNKNOWN, saying it was retired (%s)", msg ? msg : "-");
  free(msg);
  w = (struct writer){0};
  writer_begin(&w, MSG_ACK, 4);
  writer_str(&w, TAG_PROCESS, "x");
  w.buf[w.len - 2] = 0x7f; /* the field's length now overruns the body */
  run(&w);
  CHECK(reply_code(4, NULL) == E_MALFORMED, "overrunning fields are E_MALFORMED");
  CHECK(handler_for(MSG_START_CONTAINER)->system && handler_for(MSG_SHUTDOWN)->system && !handler_for(MSG_ACK)->system, "the table marks what spawns or touches the machine");
}

static void test_ack(void) {
  int wfd;
  struct proc *p = fake("acked", 0, &wfd);
  static uint8_t chunk[100000];
  memset(chunk, 'a', sizeof chunk);
  for (int i = 0; i < 4; i++) CHECK(write(wfd, chunk, sizeof chunk) == sizeof chunk, "the process writes 100000 bytes (%d)", i);
  pump_loop();
  CHECK(p->out[0].read == HYPER_OUTPUT_WINDOW, "the agent read exactly the window (%llu bytes) and left the rest in the pipe", (unsigned long long)p->out[0].read);
  uint64_t last = 0, offsets_ok = 1;
  struct frame f;
  while ((f = next_frame()).type == MSG_OUTPUT) {
    struct field d;
    tlv_find(f.body, f.len, TAG_DATA, 0, &d);
    offsets_ok &= tlv_u64(f.body, f.len, TAG_OFFSET, 1) == last;
    last += d.len;
  }
  CHECK(offsets_ok && last == HYPER_OUTPUT_WINDOW, "OUTPUT frames carry consecutive offsets up to %llu", (unsigned long long)last);
  CHECK(request(MSG_ACK, 10, NULL, 1, 0) == E_MISSING, "ACK without PROCESS is E_MISSING");
  CHECK(request(MSG_ACK, 11, "nobody", 1, 0) == E_NOT_FOUND, "ACK of an unknown process is E_NOT_FOUND");
  CHECK(request(MSG_ACK, 12, "acked", 3, 0) == E_MALFORMED, "ACK of stream 3 is E_MALFORMED");
  CHECK(request(MSG_ACK, 13, "acked", 1, -1) == E_MISSING, "ACK without OFFSET is E_MISSING");
  CHECK(request(MSG_ACK, 14, "acked", 1, HYPER_OUTPUT_WINDOW + 1) == E_STATE, "ACK beyond what was read is E_STATE");
  CHECK(request(MSG_ACK, 15, "acked", 1, 100000) == 0 && p->out[0].acked == 100000, "ACK frees the bytes below it");
  pump_loop();
  CHECK(p->out[0].read == 100000 + HYPER_OUTPUT_WINDOW, "the window reopened: %llu bytes read", (unsigned long long)p->out[0].read);
  CHECK(request(MSG_ACK, 16, "acked", 1, 50) == 0 && p->out[0].acked == 100000, "a late, lower ACK changes nothing");
  drain();
  pump_hold(1); /* as after a new host: nothing is sent until it speaks */
  pump_rewind_all();
  CHECK(p->out[0].next == 100000, "a rewind sends again from the acknowledged offset");
  CHECK(request(MSG_ACK, 17, "acked", 1, 200000) == 0 && p->out[0].next >= 200000, "an ACK beyond the send position moves it up (the host had those bytes)");
  drain();
  close(wfd);
  pump_loop();
  request(MSG_ACK, 18, "acked", 1, (int64_t)p->out[0].read);
  CHECK(p->out[0].fd < 0 && !p->out[0].buf, "at EOF, with everything acknowledged, the retention buffer is freed");
  p->reaped = 1;
  CHECK(request(MSG_RELEASE, 19, "acked", -1, -1) == 0, "released once reaped and at EOF");
  drain();
}

static int count_entries(const struct frame *f) { return (int)tlv_count(f->body, f->len, TAG_ENTRY); }

static void test_resync_release(void) {
  int wfd;
  struct proc *run_p = fake("runs", 0, &wfd);
  struct proc *gone = fake("gone", 1, NULL);
  memcpy(stream_reserve(&gone->out[0], 5), "hello", 5); /* as if "hello" had been read and never acknowledged */
  stream_commit(&gone->out[0], 5);
  CHECK(write(wfd, "abc", 3) == 3, "the running process writes");
  pump_loop();
  drain();
  /* fill the channel's pipe so frames queue in the agent, then queue an event and a reply */
  int filled = 0;
  static uint8_t junk[4096];
  while (write(from_agent[1], junk, sizeof junk) > 0) filled++;
  CHECK(write(wfd, "def", 3) == 3, "more output while the host does not read");
  pump_loop();
  size_t queued_output = channel_queued();
  struct writer w = {0};
  writer_begin(&w, MSG_PING, 20);
  run(&w);
  size_t with_reply = channel_queued();
  CHECK(queued_output > 0 && with_reply > queued_output, "an OUTPUT event (%zu bytes) and a PING reply are queued", queued_output);
  w = (struct writer){0};
  writer_begin(&w, MSG_RESYNC, 21);
  run(&w);
  /* read the junk, then the frames */
  uint8_t buf[4096];
  for (int i = 0; i < filled; i++) while (read(from_agent[0], buf, sizeof buf) < 0 && errno == EAGAIN) loop_once(10);
  for (int i = 0; i < 20; i++) loop_once(5);
  struct frame f = next_frame();
  CHECK(f.type == MSG_OK && f.id == 20, "the PING reply queued before RESYNC survives it (type %d id %u)", f.type, f.id);
  f = next_frame();
  CHECK(f.type == MSG_OK && f.id == 21, "then the RESYNC reply, with no stale OUTPUT before it (type %d id %u)", f.type, f.id);
  char *boot = tlv_str(f.body, f.len, TAG_BOOT_ID, 0);
  CHECK(count_entries(&f) == 2 && boot && strlen(boot) == 36, "it lists both processes and a boot id (%s)", boot ? boot : "-");
  free(boot);
  for (unsigned i = 0; i < 2; i++) {
    struct field e;
    tlv_find(f.body, f.len, TAG_ENTRY, i, &e);
    CHECK(tlv_check(e.val, e.len) == 0, "entry %u is a valid TLV body", i);
    char *name = tlv_str(e.val, e.len, TAG_PROCESS, 0), *state = tlv_str(e.val, e.len, TAG_STATE, 0);
    int exited = !strcmp(name, "gone");
    CHECK(!strcmp(state, exited ? "exited" : "running"), "%s is %s", name, state);
    CHECK(exited ? tlv_u64(e.val, e.len, TAG_EXIT_CODE, 0) == 7 && tlv_u64(e.val, e.len, TAG_TIME_MS, 0) == 1234 : !tlv_find(e.val, e.len, TAG_EXIT_CODE, 0, &(struct field){0}),
          "%s: exit code and time only if exited", name);
    /* per stream, in order: STREAM, SENT, ACKED */
    struct field s1, sent1, s2, sent2;
    tlv_find(e.val, e.len, TAG_STREAM, 0, &s1);
    tlv_find(e.val, e.len, TAG_SENT, 0, &sent1);
    tlv_find(e.val, e.len, TAG_STREAM, 1, &s2);
    tlv_find(e.val, e.len, TAG_SENT, 1, &sent2);
    CHECK(s1.val < sent1.val && sent1.val < s2.val && s2.val < sent2.val, "%s: STREAM 1, SENT, ACKED, then STREAM 2, SENT, ACKED", name);
    uint64_t sent = 0;
    for (int k = 0; k < 8; k++) sent = sent << 8 | sent1.val[k];
    CHECK(sent == (exited ? 5u : 6u), "%s: stdout SENT is %llu", name, (unsigned long long)sent);
    free(name);
    free(state);
  }
  /* after the reply, every unacknowledged byte again */
  uint64_t gone_bytes = 0, runs_bytes = 0;
  int exit_seen = 0;
  while ((f = next_frame()).type) {
    char *name = tlv_str(f.body, f.len, TAG_PROCESS, 0);
    struct field d;
    if (f.type == MSG_OUTPUT && tlv_find(f.body, f.len, TAG_DATA, 0, &d)) *(strcmp(name, "gone") ? &runs_bytes : &gone_bytes) += d.len;
    if (f.type == MSG_EXIT && !strcmp(name, "gone")) exit_seen = gone_bytes == 5;
    free(name);
  }
  CHECK(gone_bytes == 5 && runs_bytes == 6 && exit_seen, "after RESYNC: all unacknowledged output again, then the exit after its output");
  CHECK(request(MSG_RELEASE, 30, NULL, -1, -1) == E_MISSING, "RELEASE without PROCESS is E_MISSING");
  CHECK(request(MSG_RELEASE, 31, "nobody", -1, -1) == E_NOT_FOUND, "RELEASE of an unknown process is E_NOT_FOUND");
  CHECK(request(MSG_RELEASE, 32, "runs", -1, -1) == E_STATE, "RELEASE of a running process is E_STATE");
  w = (struct writer){0};
  writer_begin(&w, MSG_START_CONTAINER, 33);
  writer_str(&w, TAG_CONTAINER, "gone");
  writer_str(&w, TAG_ROOTFS_KIND, "host");
  writer_str(&w, TAG_ARG, "true");
  run(&w);
  CHECK(reply_code(33, NULL) == E_EXISTS, "START with the name of an exited, unreleased process is E_EXISTS");
  CHECK(request(MSG_RELEASE, 34, "gone", -1, -1) == 0 && !proc_find("gone"), "RELEASE forgets an exited process");
  w = (struct writer){0};
  writer_begin(&w, MSG_RESYNC, 35);
  run(&w);
  CHECK(reply_code(35, &f) == 0 && count_entries(&f) == 1, "a second RESYNC no longer lists it");
  CHECK(request(MSG_SIGNAL, 36, "nobody", -1, -1) == E_NOT_FOUND, "SIGNAL to a missing process is E_NOT_FOUND");
  CHECK(request(MSG_STDIN, 37, "runs", -1, -1) == E_MISSING, "STDIN without DATA is E_MISSING");
  CHECK(request(MSG_RESIZE, 38, "runs", -1, -1) == E_STATE, "RESIZE without a tty is E_STATE");
  close(wfd);
  pump_loop();
  run_p->reaped = 1;
  CHECK(request(MSG_RELEASE, 39, "runs", -1, -1) == 0, "once reaped and at EOF it can be released");
  drain();
}

static void test_retention(void) {
  struct stream s;
  stream_init(&s);
  for (int i = 0; i < 100; i++) {
    size_t room = stream_room(&s), n = room < 7000 ? room : 7000;
    uint8_t *d = stream_reserve(&s, n);
    for (size_t k = 0; k < n; k++) d[k] = (uint8_t)((s.read + k) % 251);
    stream_commit(&s, n);
    size_t m;
    const uint8_t *u = stream_unsent(&s, &m);
    int same = 1;
    for (size_t k = 0; k < m; k++) same &= u[k] == (uint8_t)((s.next + k) % 251);
    if (!same) { CHECK(0, "unsent bytes are the bytes read, in order (round %d)", i); return; }
    stream_advance(&s, m / 2);
    if (i % 3 == 0) stream_ack(&s, s.next);
    if (i % 10 == 0) stream_rewind(&s);
  }
  CHECK(s.read - s.acked <= HYPER_OUTPUT_WINDOW && s.acked <= s.next && s.next <= s.read, "100 rounds of read/send/ack/rewind keep acked <= next <= read within the window");
  CHECK(stream_ack(&s, s.read + 1) < 0, "an ack beyond read is refused");
  stream_free(&s);
}

/* The nested ENTRY bodies of a PS reply whose PID is pid; 1 found (fields copied out), 0 not. */
static int ps_entry(const struct frame *f, pid_t pid, uint64_t *ppid, uint64_t *rss, char **container, char **command) {
  struct field e;
  for (unsigned i = 0; tlv_find(f->body, f->len, TAG_PS_ENTRY, i, &e); i++) {
    if (tlv_check(e.val, e.len) < 0 || tlv_u64(e.val, e.len, TAG_PID, 0) != (uint64_t)pid) continue;
    *ppid = tlv_u64(e.val, e.len, TAG_PPID, 0);
    *rss = tlv_u64(e.val, e.len, TAG_RSS, 0);
    *container = tlv_str(e.val, e.len, TAG_CONTAINER, 0);
    *command = tlv_str(e.val, e.len, TAG_COMMAND, 0);
    return 1;
  }
  return 0;
}

static void test_stats_ps(void) {
  struct frame f;
  struct writer w = {0};
  writer_begin(&w, MSG_STATS, 40);
  run(&w);
  CHECK(reply_code(40, &f) == 0, "STATS answers OK");
  uint64_t busy = tlv_u64(f.body, f.len, TAG_CPU_MS, 0), total = tlv_u64(f.body, f.len, TAG_CPU_TOTAL_MS, 0);
  CHECK(total > 0 && busy <= total && tlv_u64(f.body, f.len, TAG_CPUS, 0) >= 1 && tlv_u64(f.body, f.len, TAG_MEM_TOTAL, 0) > 0,
        "STATS carries CPU time (busy %llu of %llu ms), the CPU count and memory", (unsigned long long)busy, (unsigned long long)total);
  /* a container main process (a real child, paused) with a child of its own */
  int ready[2];
  if (pipe(ready) < 0) abort();
  pid_t main_pid = fork();
  if (main_pid == 0) {
    if (fork() == 0) { close(ready[0]); if (write(ready[1], "g", 1) < 0) _exit(1); for (;;) pause(); }
    for (;;) pause();
  }
  close(ready[1]);
  char c;
  if (read(ready[0], &c, 1) != 1) abort();
  close(ready[0]);
  struct proc *p = proc_new("web");
  snprintf(p->container, sizeof p->container, "web");
  p->is_main = 1;
  p->pid = main_pid;
  w = (struct writer){0};
  writer_begin(&w, MSG_PS, 41);
  run(&w);
  CHECK(reply_code(41, &f) == 0, "PS answers OK");
  uint64_t ppid = 0, rss = 0;
  char *container = NULL, *command = NULL;
  CHECK(ps_entry(&f, main_pid, &ppid, &rss, &container, &command) && container && !strcmp(container, "web") && rss > 0 && command && strstr(command, "handlers-test"),
        "PS lists the main process under its container, with memory and command (%s: %s)", container ? container : "-", command ? command : "-");
  free(container);
  free(command);
  container = command = NULL;
  struct field e;
  pid_t grandchild = 0;
  for (unsigned i = 0; tlv_find(f.body, f.len, TAG_PS_ENTRY, i, &e); i++)
    if (tlv_u64(e.val, e.len, TAG_PPID, 0) == (uint64_t)main_pid) grandchild = (pid_t)tlv_u64(e.val, e.len, TAG_PID, 0);
  CHECK(grandchild > 0 && ps_entry(&f, grandchild, &ppid, &rss, &container, &command) && container && !strcmp(container, "web"),
        "a child of the main process belongs to its container");
  free(container);
  free(command);
  CHECK(!ps_entry(&f, getpid(), &ppid, &rss, &container, &command), "the agent itself is not listed");
  w = (struct writer){0};
  writer_begin(&w, MSG_PS, 42);
  writer_str(&w, TAG_CONTAINER, "other");
  run(&w);
  CHECK(reply_code(42, &f) == 0 && tlv_count(f.body, f.len, TAG_PS_ENTRY) == 0, "PS of a container with no processes lists none");
  if (grandchild > 0) kill(grandchild, SIGKILL);
  kill(main_pid, SIGKILL);
  waitpid(main_pid, NULL, 0);
  proc_release(p);
}

int main(void) {
  host_mode = 1;
  if (loop_init() < 0 || pipe2(to_agent, O_NONBLOCK | O_CLOEXEC) < 0 || pipe2(from_agent, O_NONBLOCK | O_CLOEXEC) < 0) return 2;
  fcntl(from_agent[1], F_SETPIPE_SZ, 1 << 20); /* room for a whole window of OUTPUT frames */
  reader_init(&rd);
  struct channel_hooks hooks = {.frame = on_frame, .new_host = on_new_host, .room = pump_kick};
  channel_init(&hooks);
  channel_stdio(to_agent[0], from_agent[1]);
  test_basics();
  test_ack();
  test_resync_release();
  test_retention();
  test_stats_ps();
  printf("# %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
