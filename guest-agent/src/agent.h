/* Shared state of the agent: the process table, the host channel's output queue, and the handlers' prototypes. */
#ifndef HYPER_AGENT_H
#define HYPER_AGENT_H
#include <stdint.h>
#include <sys/types.h>
#include "wire.h"

#define MAX_PROCS 4096
#define NAME_MAX_LEN 128
#define OUTPUT_WINDOW (256 * 1024) /* bytes of output the host may have unacknowledged per process */
#define STDIN_LIMIT (1024 * 1024)  /* bytes of stdin buffered per process before MSG_STDIN is refused */

struct proc {
  int used;
  char name[NAME_MAX_LEN];       /* process id on the wire (a container's main process: its name) */
  char container[NAME_MAX_LEN];
  int is_main;
  pid_t pid;
  int in_fd, out_fd, err_fd;     /* -1 when closed; with a tty, out_fd is the pty master and in_fd a dup of it */
  int tty;
  uint8_t *in_buf; size_t in_len; int in_close_pending;
  int64_t window;
  int exited, code;
  int mnt_ns;                    /* the container's mount namespace (main process only), for MSG_EXEC */
};

extern int host_mode; /* 1: unprivileged on the host over stdin/stdout (tests); 0: PID 1 in the guest */
extern struct proc procs[MAX_PROCS];

void say(const char *fmt, ...);
void send_frame(struct writer *w);
void reply_ok(uint32_t id, struct writer *w);
void reply_error(uint32_t id, int code, int err, const char *fmt, ...);

struct proc *proc_find(const char *name);
struct proc *proc_by_pid(pid_t pid);
struct proc *proc_new(const char *name);
void proc_watch(struct proc *p);     /* (re)register its fds with the event loop */
void proc_maybe_finish(struct proc *p);

/* container.c */
void handle_start_container(const struct frame *f);
void handle_exec(const struct frame *f);
/* system.c */
void guest_init(void);
int open_channel(void);
void handle_start_pod(const struct frame *f);
void handle_stats(const struct frame *f);
void handle_reseed(const struct frame *f);
void handle_shutdown(const struct frame *f);
void loopback_up(void);

#endif
