/* hyper-agent: PID 1 of the guest, or with --host an unprivileged process on the host for tests
 * (over stdin/stdout, or with --listen PATH on a unix socket, one host connection at a time). */
#define _GNU_SOURCE
#include "channel.h"
#include "handlers.h"
#include "log.h"
#include "loop.h"
#include "pump.h"
#include "session.h"
#include "system.h"
#include "tools.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

static int sigfd;

static void on_frame(const struct frame *f) {
  dispatch(f);
  pump_hold(0); /* the host has spoken: output flows (after a RESYNC, from the offsets it just listed) */
}

static void on_new_host(void) {
  pump_rewind_all();
  pump_hold(1);
  send_ready();
}

static void on_signal(struct watcher *w, uint32_t ev) {
  (void)w; (void)ev;
  struct signalfd_siginfo si;
  int stop = 0;
  while (read(sigfd, &si, sizeof si) == sizeof si) stop |= si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT;
  if (stop) power_off();
  pump_reap();
}

static int usage(void) {
  say("usage: hyper-agent             (as the guest's init)\n       hyper-agent --host [--listen PATH]\n       hyper-agent --tool tar-out DIR NAME | tar-in DEST");
  return 2;
}

int main(int argc, char **argv) {
  const char *listen_path = NULL;
  /* a built-in tool on its own (what an exec with BUILTIN runs in a container), for tests and by hand */
  if (argc > 2 && !strcmp(argv[1], "--tool")) {
    tool_fn *tool = tool_for(argv[2]);
    return tool ? tool(argc - 2, argv + 2) : usage();
  }
  host_mode = argc > 1 && !strcmp(argv[1], "--host");
  if (host_mode && argc == 4 && !strcmp(argv[2], "--listen")) listen_path = argv[3];
  else if (argc > (host_mode ? 2 : 1)) return usage();
  if (!host_mode && getpid() != 1) { say("hyper-agent: run as the guest's init, or with --host for tests"); return 2; }
  signal(SIGPIPE, SIG_IGN);
  if (host_mode) prctl(PR_SET_CHILD_SUBREAPER, 1); /* orphans of our processes come back to us, as they do to PID 1 */
  else guest_init();

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  if (host_mode) { sigaddset(&mask, SIGTERM); sigaddset(&mask, SIGINT); }
  sigprocmask(SIG_BLOCK, &mask, NULL);
  sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (loop_init() < 0 || sigfd < 0) { say("hyper-agent: epoll/signalfd: %s", strerror(errno)); return 1; }
  static struct watcher sigw = {.fn = on_signal};
  loop_watch(sigfd, &sigw, EPOLLIN);

  struct channel_hooks hooks = {.frame = on_frame, .new_host = on_new_host, .room = pump_kick};
  channel_init(&hooks);
  if (listen_path) {
    if (channel_listen(listen_path) < 0) { say("hyper-agent: listen on %s: %s", listen_path, strerror(errno)); return 1; }
  } else {
    int in = host_mode ? 0 : open_port(), out = host_mode ? 1 : in;
    fcntl(in, F_SETFL, fcntl(in, F_GETFL) | O_NONBLOCK);
    fcntl(out, F_SETFL, fcntl(out, F_GETFL) | O_NONBLOCK);
    if (host_mode) channel_stdio(in, out);
    else channel_port(in);
    send_ready();
  }
  for (;;) loop_once(-1);
}
