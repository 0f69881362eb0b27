/* Process creation for containers and exec'd processes. */
#ifndef HYPER_SPAWN_H
#define HYPER_SPAWN_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
struct proc;

struct spawn_spec {
  char **argv, **envp;
  const char *cwd;
  const char *root;   /* a new root (container start) or NULL */
  int join_ns;        /* a mount namespace fd to enter (exec) or -1 */
  uint64_t uid, gid;  /* (uint64_t)-1: unchanged */
  const char *user;   /* "user[:group]" resolved inside the new root, or NULL */
  int tty;
  unsigned rows, cols;
};

/* Forks and execs; fills p's fds and pid. On failure returns -1 with errno set and a message in err. */
pid_t spawn_process(const struct spawn_spec *s, struct proc *p, char *err, size_t errlen);
#endif
