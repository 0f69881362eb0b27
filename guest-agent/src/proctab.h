/* The process table: every process the host started, from spawn until the host releases it after its exit. */
#ifndef HYPER_PROCTAB_H
#define HYPER_PROCTAB_H
#include <stdint.h>
#include <sys/types.h>
#include "loop.h"
#include "retain.h"

/* A RESYNC reply lists every process in one frame: 2048 entries of at most ~420 bytes stay under HYPER_MAX_FRAME. */
#define MAX_PROCS 2048
#define NAME_MAX_LEN 128
#define STDIN_LIMIT (1024 * 1024) /* bytes of stdin buffered per process before MSG_STDIN is refused */

struct proc {
  int used;
  char name[NAME_MAX_LEN];       /* process id on the wire (a container's main process: its name) */
  char container[NAME_MAX_LEN];
  int is_main;
  pid_t pid;
  int tty;
  struct stream out[2];          /* stdout, stderr; with a tty, out[0].fd is the pty master and in_fd a dup of it */
  int in_fd;                     /* -1 when closed */
  uint8_t *in_buf; size_t in_len; int in_close_pending;
  int reaped, code;              /* code: exit status, or 128+signal */
  uint64_t exit_ms;              /* CLOCK_REALTIME at reaping */
  int exit_sent;                 /* MSG_EXIT went to the current host */
  int mnt_ns;                    /* the container's mount namespace (main process only), for MSG_EXEC */
  uint64_t oom_base;             /* its container group's oom_kill count when it started; more at reaping: OOM killed */
  int oom;                       /* the kernel killed it for its container's memory limit */
  struct watcher w_out[2], w_in;
};

struct proc *proc_find(const char *name);
/* A running (not yet reaped) process by pid. */
struct proc *proc_by_pid(pid_t pid);
/* A fresh slot with this name, or NULL when the table is full. */
struct proc *proc_new(const char *name);
/* Slot i (0 <= i < proc_limit()), or NULL if unused. */
struct proc *proc_at(int i);
/* One past the highest slot in use. */
int proc_limit(void);
/* Reaped and every output fd at EOF: the process is over as far as the host is concerned. */
int proc_done(const struct proc *p);
/* Closes one of its fds (unregistering it from the loop). */
void proc_close_fd(int *fd);
/* Once done: frees what only a live process needs (stdin, the namespace); retained output stays. */
void proc_retire(struct proc *p);
/* Forgets the process: closes everything and frees its slot. */
void proc_release(struct proc *p);

#endif
