/* The process table: a fixed array of slots, looked up by name or pid; slots are freed only by proc_release. */
#include "proctab.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct proc procs[MAX_PROCS];
static int limit;

struct proc *proc_find(const char *name) {
  for (int i = 0; i < limit; i++) if (procs[i].used && !strcmp(procs[i].name, name)) return &procs[i];
  return NULL;
}

struct proc *proc_by_pid(pid_t pid) {
  for (int i = 0; i < limit; i++) if (procs[i].used && procs[i].pid == pid && !procs[i].reaped) return &procs[i];
  return NULL;
}

struct proc *proc_new(const char *name) {
  for (int i = 0; i < MAX_PROCS; i++) {
    if (procs[i].used) continue;
    struct proc *p = &procs[i];
    memset(p, 0, sizeof *p);
    p->used = 1;
    snprintf(p->name, sizeof p->name, "%s", name);
    p->in_fd = p->mnt_ns = -1;
    stream_init(&p->out[0]);
    stream_init(&p->out[1]);
    if (i >= limit) limit = i + 1;
    return p;
  }
  return NULL;
}

struct proc *proc_at(int i) { return i >= 0 && i < limit && procs[i].used ? &procs[i] : NULL; }

int proc_limit(void) { return limit; }

int proc_done(const struct proc *p) { return p->reaped && p->out[0].fd < 0 && p->out[1].fd < 0; }

void proc_close_fd(int *fd) {
  if (*fd < 0) return;
  loop_unwatch(*fd);
  close(*fd);
  *fd = -1;
}

void proc_retire(struct proc *p) {
  proc_close_fd(&p->in_fd);
  free(p->in_buf);
  p->in_buf = NULL;
  p->in_len = 0;
  p->in_close_pending = 0;
  if (p->mnt_ns >= 0) close(p->mnt_ns);
  p->mnt_ns = -1;
}

void proc_release(struct proc *p) {
  proc_retire(p);
  for (int s = 0; s < 2; s++) {
    proc_close_fd(&p->out[s].fd);
    stream_free(&p->out[s]);
  }
  p->used = 0;
  while (limit > 0 && !procs[limit - 1].used) limit--;
}
