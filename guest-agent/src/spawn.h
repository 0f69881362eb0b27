/* Process creation for containers and exec'd processes. */
#ifndef HYPER_SPAWN_H
#define HYPER_SPAWN_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "tools.h"

/* A restored clone's boot id (MSG_RESTORED), bound over every container's /proc/sys/kernel/random/boot_id. */
#define RESTORED_BOOT_ID "/run/hyper/boot_id"

/* A file to write in the new root before the command runs (data points into the request's frame). */
struct spawn_file { char *path; const uint8_t *data; uint32_t len; unsigned mode; };

struct spawn_spec {
  char **argv, **envp;
  const char *cwd;
  const char *root;   /* a new root (container start) or NULL */
  int join_ns;        /* a mount namespace fd to enter (exec) or -1 */
  uint64_t uid, gid;  /* (uint64_t)-1: unchanged */
  const char *user;   /* "user[:group]" resolved inside the new root, or NULL */
  int tty;
  unsigned rows, cols;
  int unprivileged;   /* --host: a failing setgroups is not fatal */
  tool_fn *tool;      /* run this tool built into the agent (argv[0] its name) instead of a program from the image, or NULL */
  const char *cgroup; /* a cgroup v2 group the process joins before anything else (container limits), or NULL */
  struct spawn_file *files; unsigned nfiles;
  char **mounts;      /* NULL-terminated "ro|rw:TAG:TARGET": 9p shares mounted in the new root before the command runs, or NULL */
};

/* The started process's end of things: nonblocking fds (with a tty, out_fd is the pty master, in_fd a dup of it, err_fd -1). */
struct spawned { pid_t pid; int in_fd, out_fd, err_fd; };

/* Forks and execs; fills out. On failure returns -1 with errno set and a message in err. */
pid_t spawn_process(const struct spawn_spec *s, struct spawned *out, char *err, size_t errlen);
#endif
