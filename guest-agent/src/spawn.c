/* Starting a process: pipes or a pty for its stdio, a new root for a container, user/group, and an exec error
 * reported back through a close-on-exec pipe (so a bad command fails the request instead of exiting 127). */
#define _GNU_SOURCE
#include "spawn.h"
#include "limits.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pty.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

static void child_fail(int errpipe, const char *what) {
  char msg[512];
  int e = errno;
  int n = snprintf(msg, sizeof msg, "%d %s: %s", e, what, strerror(e));
  if (n > 0) (void)!write(errpipe, msg, (size_t)n);
  _exit(127);
}

/* execvpe that searches PATH from the container's environment, not the agent's */
static void exec_in_path(char **argv, char **envp, int errpipe) {
  const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (char **e = envp; *e; e++) if (!strncmp(*e, "PATH=", 5)) path = *e + 5;
  if (strchr(argv[0], '/')) {
    execve(argv[0], argv, envp);
    child_fail(errpipe, argv[0]);
  }
  int saved = ENOENT;
  char buf[4096];
  for (const char *p = path; ; ) {
    const char *end = strchr(p, ':');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (snprintf(buf, sizeof buf, "%.*s/%s", (int)n, n ? p : ".", argv[0]) < (int)sizeof buf) {
      execve(buf, argv, envp);
      if (errno != ENOENT && errno != ENOTDIR) saved = errno;
    }
    if (!end) break;
    p = end + 1;
  }
  errno = saved;
  child_fail(errpipe, argv[0]);
}

/* mkdir -p of a path inside the new root (the overlay's upper layer makes the image's tree writable). */
static void make_dirs(char *path) {
  for (char *s = path + 1; *s; s++) if (*s == '/') { *s = 0; mkdir(path, 0755); *s = '/'; }
  mkdir(path, 0755);
}

/* The container's volumes, each "ro|rw:SOURCE:TARGET" mounted at TARGET in the new root: SOURCE a 9p tag (a host directory)
 * or a disk (/dev/vdX: a named volume, ext4). */
static void mount_volumes(const char *root, char **mounts, int errpipe) {
  for (char **m = mounts; m && *m; m++) {
    char spec[4200], path[4608];
    snprintf(spec, sizeof spec, "%s", *m);
    char *tag = strchr(spec, ':'), *target = tag ? strchr(tag + 1, ':') : NULL;
    if (!tag || !target) { errno = EINVAL; child_fail(errpipe, "a MOUNT field is not ro|rw:TAG:TARGET"); }
    *tag++ = 0;
    *target++ = 0;
    snprintf(path, sizeof path, "%s%s", root, target);
    make_dirs(path);
    unsigned long flags = MS_NOSUID | MS_NODEV | (strcmp(spec, "ro") == 0 ? MS_RDONLY : 0);
    /* a named volume is a disk (/dev/vdX, ext4); a host directory a 9p share by its tag */
    int block = !strncmp(tag, "/dev/", 5);
    /* read-only ext4 skips its journal (noload): a volume several pods share read-only is never written by any of them */
    const char *opts = block ? ((flags & MS_RDONLY) ? "noload" : NULL) : "trans=virtio,version=9p2000.L,msize=262144,access=client";
    if (mount(tag, path, block ? "ext4" : "9p", flags, opts) < 0) {
      char what[4400];
      snprintf(what, sizeof what, "mount the volume %s at %s", tag, target);
      child_fail(errpipe, what);
    }
  }
}

/* The spec's files, written under the new root (parents made), with their modes; owned by root. */
static void write_files(const char *root, const struct spawn_file *files, unsigned n, int errpipe) {
  for (unsigned i = 0; i < n; i++) {
    char path[4608];
    snprintf(path, sizeof path, "%s%s", root, files[i].path);
    char *slash = strrchr(path, '/');
    if (slash && slash != path) { *slash = 0; make_dirs(path); *slash = '/'; }
    unlink(path); /* a symlink in the image is replaced, never followed */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, files[i].mode & 07777);
    if (fd < 0) child_fail(errpipe, files[i].path);
    const uint8_t *p = files[i].data;
    uint32_t left = files[i].len;
    while (left) {
      ssize_t w = write(fd, p, left);
      if (w <= 0) child_fail(errpipe, files[i].path);
      p += w;
      left -= (uint32_t)w;
    }
    if (fchmod(fd, files[i].mode & 07777) < 0) child_fail(errpipe, files[i].path);
    close(fd);
  }
}

/* Moves the calling process into a fresh mount namespace rooted at `root`, with proc, sys and the agent's /dev. */
static void enter_new_root(const char *root, char **mounts, const struct spawn_file *files, unsigned nfiles, int errpipe) {
  char path[4096];
  if (unshare(CLONE_NEWNS) < 0) child_fail(errpipe, "unshare mount namespace");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) child_fail(errpipe, "make / private");
  if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0) child_fail(errpipe, "bind the root");
  const char *dirs[] = {"proc", "sys", "dev", "tmp"};
  for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
    snprintf(path, sizeof path, "%s/%s", root, dirs[i]);
    mkdir(path, 0755); /* may fail on a read-only lower layer; the overlay makes it writable */
  }
  snprintf(path, sizeof path, "%s/proc", root);
  if (mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) child_fail(errpipe, "mount /proc");
  snprintf(path, sizeof path, "%s/proc/sys/kernel/random/boot_id", root);
  if (access(RESTORED_BOOT_ID, F_OK) == 0) mount(RESTORED_BOOT_ID, path, NULL, MS_BIND, NULL);
  snprintf(path, sizeof path, "%s/sys", root);
  if (mount("sysfs", path, "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL) < 0) child_fail(errpipe, "mount /sys");
  snprintf(path, sizeof path, "%s/dev", root);
  if (mount("/dev", path, NULL, MS_BIND | MS_REC, NULL) < 0) child_fail(errpipe, "bind /dev");
  /* the pod's resolv.conf and hosts over the image's (made first where the image has none: the upper layer is writable) */
  const char *pod_files[] = {"resolv.conf", "hosts"};
  for (size_t i = 0; i < sizeof pod_files / sizeof *pod_files; i++) {
    char src[64];
    snprintf(src, sizeof src, "/run/hyper/%s", pod_files[i]);
    if (access(src, F_OK) != 0) continue;
    snprintf(path, sizeof path, "%s/etc", root);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/etc/%s", root, pod_files[i]);
    if (access(path, F_OK) != 0) { int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644); if (fd >= 0) close(fd); }
    mount(src, path, NULL, MS_BIND, NULL);
  }
  mount_volumes(root, mounts, errpipe);
  write_files(root, files, nfiles, errpipe);
  if (chdir(root) < 0) child_fail(errpipe, "chdir to the root");
  if (syscall(SYS_pivot_root, ".", ".") == 0) {
    if (umount2(".", MNT_DETACH) < 0) child_fail(errpipe, "detach the old root");
  } else if (errno == EINVAL) {
    /* the agent runs from the initramfs, which pivot_root cannot leave: move the new root over / and chroot
       into it (switch_root's way). The VM, not the chroot, is the isolation boundary between tenants. */
    if (mount(".", "/", NULL, MS_MOVE, NULL) < 0) child_fail(errpipe, "move the root over /");
    if (chroot(".") < 0) child_fail(errpipe, "chroot");
  } else {
    child_fail(errpipe, "pivot_root");
  }
  if (chdir("/") < 0) child_fail(errpipe, "chdir /");
}

/* Looks a name up in an /etc/passwd- or /etc/group-style file: field 3 is the id, field 4 (passwd) the primary group. */
static int lookup(const char *file, const char *name, uint64_t *id, uint64_t *gid) {
  FILE *f = fopen(file, "r");
  char line[1024];
  int found = 0;
  size_t n = strlen(name);
  while (f && !found && fgets(line, sizeof line, f)) {
    if (strncmp(line, name, n) || line[n] != ':') continue;
    char *fields[5] = {0};
    char *save = NULL, *tok = strtok_r(line, ":", &save);
    for (int i = 0; tok && i < 5; i++, tok = strtok_r(NULL, ":", &save)) fields[i] = tok;
    if (fields[2]) { *id = strtoull(fields[2], NULL, 10); found = 1; }
    if (gid && fields[3]) *gid = strtoull(fields[3], NULL, 10);
  }
  if (f) fclose(f);
  return found;
}

static int numeric(const char *s) { return *s && strspn(s, "0123456789") == strlen(s); }

/* "user[:group]" with names or numbers; a named user without a group gets its primary group. */
static void resolve_user(const char *spec, uint64_t *uid, uint64_t *gid, int errpipe) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", spec);
  char *group = strchr(buf, ':');
  if (group) *group++ = 0;
  if (numeric(buf)) *uid = strtoull(buf, NULL, 10);
  else if (!lookup("/etc/passwd", buf, uid, group ? NULL : gid)) { errno = ENOENT; child_fail(errpipe, "user not found in the container's /etc/passwd"); }
  if (group) {
    if (numeric(group)) *gid = strtoull(group, NULL, 10);
    else if (!lookup("/etc/group", group, gid, NULL)) { errno = ENOENT; child_fail(errpipe, "group not found in the container's /etc/group"); }
  }
}

pid_t spawn_process(const struct spawn_spec *s, struct spawned *p, char *err, size_t errlen) {
  int inpipe[2] = {-1, -1}, outpipe[2] = {-1, -1}, errp[2] = {-1, -1}, ctl[2];
  int master = -1, slave = -1;
  if (pipe2(ctl, O_CLOEXEC) < 0) goto sysfail;
  if (s->tty) {
    struct winsize ws = {.ws_row = s->rows ? s->rows : 24, .ws_col = s->cols ? s->cols : 80};
    if (openpty(&master, &slave, NULL, NULL, &ws) < 0) goto sysfail;
    fcntl(master, F_SETFD, FD_CLOEXEC);
  } else if (pipe2(inpipe, O_CLOEXEC) < 0 || pipe2(outpipe, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
    goto sysfail;
  }
  pid_t pid = fork();
  if (pid < 0) goto sysfail;
  if (pid == 0) {
    close(ctl[0]);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    for (int sig = 1; sig < 32; sig++) signal(sig, SIG_DFL);
    setsid();
    if (s->tty) {
      ioctl(slave, TIOCSCTTY, 0);
      dup2(slave, 0); dup2(slave, 1); dup2(slave, 2);
    } else {
      dup2(inpipe[0], 0); dup2(outpipe[1], 1); dup2(errp[1], 2);
    }
    if (s->cgroup && limits_join(s->cgroup) < 0) child_fail(ctl[1], "join the container's cgroup");
    if (s->join_ns >= 0 && setns(s->join_ns, CLONE_NEWNS) < 0) child_fail(ctl[1], "join the container's mount namespace");
    if (s->root) enter_new_root(s->root, s->mounts, s->files, s->nfiles, ctl[1]);
    uint64_t uid = s->uid, gid = s->gid;
    if (s->user) resolve_user(s->user, &uid, &gid, ctl[1]);
    if (gid != (uint64_t)-1 && (setgroups(0, NULL) < 0 && !s->unprivileged)) child_fail(ctl[1], "setgroups");
    if (gid != (uint64_t)-1 && setgid((gid_t)gid) < 0) child_fail(ctl[1], "setgid");
    if (uid != (uint64_t)-1 && setuid((uid_t)uid) < 0) child_fail(ctl[1], "setuid");
    if (s->cwd && chdir(s->cwd) < 0) child_fail(ctl[1], s->cwd);
    if (s->tool) { /* a built-in tool runs here, in the forked agent: nothing from the image is needed */
      int argc = 0;
      while (s->argv[argc]) argc++;
      close(ctl[1]);
      _exit(s->tool(argc, s->argv));
    }
    exec_in_path(s->argv, s->envp, ctl[1]);
  }
  close(ctl[1]);
  char msg[512];
  ssize_t n;
  do n = read(ctl[0], msg, sizeof msg - 1); while (n < 0 && errno == EINTR);
  close(ctl[0]);
  if (s->tty) close(slave);
  else { close(inpipe[0]); close(outpipe[1]); close(errp[1]); }
  if (n > 0) { /* the child reported why it could not exec; it exits 127 and is reaped by the loop */
    msg[n] = 0;
    char *space = strchr(msg, ' ');
    errno = atoi(msg);
    snprintf(err, errlen, "%s", space ? space + 1 : msg);
    if (s->tty) close(master);
    else { close(inpipe[1]); close(outpipe[0]); close(errp[0]); }
    return -1;
  }
  if (s->tty) {
    p->out_fd = master;
    p->in_fd = dup(master);
    fcntl(p->in_fd, F_SETFD, FD_CLOEXEC);
    p->err_fd = -1;
  } else {
    p->in_fd = inpipe[1]; p->out_fd = outpipe[0]; p->err_fd = errp[0];
  }
  fcntl(p->in_fd, F_SETFL, O_NONBLOCK);
  fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
  if (p->err_fd >= 0) fcntl(p->err_fd, F_SETFL, O_NONBLOCK);
  p->pid = pid;
  return pid;

sysfail:
  snprintf(err, errlen, "%s", strerror(errno));
  int e = errno;
  int fds[] = {inpipe[0], inpipe[1], outpipe[0], outpipe[1], errp[0], errp[1], master, slave};
  for (size_t i = 0; i < sizeof fds / sizeof *fds; i++) if (fds[i] >= 0) close(fds[i]);
  errno = e;
  return -1;
}
