/* MSG_START_CONTAINER and MSG_EXEC: mount a container's root filesystem, start its main process, exec more into it. */
#define _GNU_SOURCE
#include "container.h"
#include "channel.h"
#include "proctab.h"
#include "protocol.h"
#include "pump.h"
#include "spawn.h"
#include "limits.h"
#include "system.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

struct strv { char **v; unsigned n; };

static void strv_free(struct strv *s) {
  for (unsigned i = 0; i < s->n; i++) free(s->v[i]);
  free(s->v);
}

/* Every field with this tag as a NULL-terminated array; -1 if one is not a valid string. */
static int strv_get(const struct frame *f, uint8_t tag, struct strv *out) {
  unsigned n = tlv_count(f->body, f->len, tag);
  out->v = calloc(n + 1, sizeof(char *));
  out->n = 0;
  if (!out->v) return -1;
  for (unsigned i = 0; i < n; i++) {
    char *s = tlv_str(f->body, f->len, tag, i);
    if (!s) return -1;
    out->v[out->n++] = s;
  }
  return 0;
}

static int valid_name(const char *s) {
  if (!s || !*s || strlen(s) >= NAME_MAX_LEN) return 0;
  for (const char *c = s; *c; c++) if (*c == '/' || (*c == '.' && c == s)) return 0;
  return 1;
}

/* Mounts the container's root under /run/hyper/c/<name>/root; returns its path (static buffer) or NULL with err set. */
static const char *mount_rootfs(const char *name, const char *kind, const char *source, const char *fstype, char *err, size_t errlen) {
  static char root[4096];
  char base[4096], lower[4096], upper[4096], work[4096], opts[16384];
  snprintf(base, sizeof base, "/run/hyper/c/%s", name);
  snprintf(root, sizeof root, "%s/root", base);
  mkdir("/run/hyper", 0755); mkdir("/run/hyper/c", 0755); mkdir(base, 0755); mkdir(root, 0755);
  /* a restarted container (restart policy) mounts its image once per VM and starts each run on a fresh writable layer,
     as a Kubernetes container restart does: the previous run's overlay and tmpfs are detached (an exec'd process that
     outlived its container keeps them alive in its own mount namespace until it ends) and the image's mount is reused */
  struct stat rs, bs, ls;
  int restarted = stat(root, &rs) == 0 && stat(base, &bs) == 0 && rs.st_dev != bs.st_dev;
  if (restarted && !strcmp(kind, "9p")) return root; /* a shared directory has no layer of its own: it is the host's */
  if (restarted) {
    char rw[4096];
    snprintf(rw, sizeof rw, "%s/rw", base);
    if (umount2(root, MNT_DETACH) < 0) { snprintf(err, errlen, "detach the previous run's root: %s", strerror(errno)); return NULL; }
    if (umount2(rw, MNT_DETACH) < 0 && errno != EINVAL) { snprintf(err, errlen, "detach the previous run's writable layer: %s", strerror(errno)); return NULL; }
  }
  if (!strcmp(kind, "9p")) {
    /* a virtio-9p channel can be mounted once: mount each tag under /run/hyper/9p and bind it into every container using it */
    char share[4096];
    snprintf(share, sizeof share, "/run/hyper/9p/%s", source);
    mkdir("/run/hyper/9p", 0755);
    if (mkdir(share, 0755) == 0 && mount(source, share, "9p", 0, "trans=virtio,version=9p2000.L,msize=262144,cache=mmap") < 0) {
      int e = errno;
      rmdir(share);
      errno = e;
      snprintf(err, errlen, "mount 9p share \"%s\": %s", source, strerror(errno));
      return NULL;
    }
    if (mount(share, root, NULL, MS_BIND, NULL) == 0) return root;
    snprintf(err, errlen, "bind 9p share \"%s\": %s", source, strerror(errno));
    return NULL;
  }
  if (!strcmp(kind, "block")) {
    snprintf(lower, sizeof lower, "%s/lower", base);
    snprintf(upper, sizeof upper, "%s/rw", base);
    mkdir(lower, 0755); mkdir(upper, 0755);
    int lower_mounted = stat(lower, &ls) == 0 && stat(base, &bs) == 0 && ls.st_dev != bs.st_dev;
    if (!lower_mounted && mount(source, lower, fstype ? fstype : "erofs", MS_RDONLY, NULL) < 0) {
      snprintf(err, errlen, "mount %s (%s) read-only: %s", source, fstype ? fstype : "erofs", strerror(errno));
      return NULL;
    }
    /* the writable layer lives in tmpfs: it dies with the VM, as a container's writable layer should */
    if (mount("tmpfs", upper, "tmpfs", 0, "mode=0755") < 0) { snprintf(err, errlen, "tmpfs for the writable layer: %s", strerror(errno)); return NULL; }
    snprintf(work, sizeof work, "%s/rw/work", base); mkdir(work, 0755);
    snprintf(upper, sizeof upper, "%s/rw/upper", base); mkdir(upper, 0755);
    snprintf(opts, sizeof opts, "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
    if (mount("overlay", root, "overlay", 0, opts) == 0) return root;
    snprintf(err, errlen, "overlay over %s: %s", source, strerror(errno));
    return NULL;
  }
  snprintf(err, errlen, "unknown rootfs kind \"%s\" (9p, block or host)", kind);
  return NULL;
}

static void start(const struct frame *f, int is_exec) {
  char *container = tlv_str(f->body, f->len, TAG_CONTAINER, 0);
  char *name = is_exec ? tlv_str(f->body, f->len, TAG_PROCESS, 0) : (container ? strdup(container) : NULL);
  char *kind = NULL, *source = NULL, *fstype = NULL, *cwd = tlv_str(f->body, f->len, TAG_CWD, 0), *user = tlv_str(f->body, f->len, TAG_USER, 0);
  struct strv argv = {0}, envp = {0}, mounts = {0};
  struct spawn_file files[64];
  unsigned nfiles = 0;
  char err[1024] = "";
  struct proc *main_proc = NULL;
  if (!valid_name(container) || !valid_name(name)) { reply_error(f->id, E_MISSING, 0, "%s needs a valid CONTAINER%s", is_exec ? "exec" : "start", is_exec ? " and PROCESS" : ""); goto out; }
  if (strv_get(f, TAG_ARG, &argv) < 0 || argv.n == 0) { reply_error(f->id, E_MISSING, 0, "no command: ARG fields missing or not strings"); goto out; }
  if (strv_get(f, TAG_ENV, &envp) < 0) { reply_error(f->id, E_MALFORMED, 0, "an ENV field is not a string"); goto out; }
  if (strv_get(f, TAG_MOUNT, &mounts) < 0) { reply_error(f->id, E_MALFORMED, 0, "a MOUNT field is not a string"); goto out; }
  for (unsigned i = 0, n = tlv_count(f->body, f->len, TAG_FILE); i < n; i++) {
    struct field e, d;
    if (nfiles == sizeof files / sizeof *files) { reply_error(f->id, E_MALFORMED, 0, "more than 64 FILE fields"); goto out; }
    tlv_find(f->body, f->len, TAG_FILE, i, &e);
    char *path = tlv_check(e.val, e.len) == 0 ? tlv_str(e.val, e.len, TAG_PATH, 0) : NULL;
    if (!path || path[0] != '/' || strstr(path, "/../") || !tlv_find(e.val, e.len, TAG_DATA, 0, &d)) { free(path); reply_error(f->id, E_MALFORMED, 0, "a FILE needs an absolute PATH (no ..) and DATA"); goto out; }
    files[nfiles++] = (struct spawn_file){path, d.val, d.len, (unsigned)tlv_u64(e.val, e.len, TAG_MODE, 0644)};
  }
  struct proc *old = proc_find(name);
  if (old) { reply_error(f->id, E_EXISTS, 0, "process \"%s\" exists%s", name, proc_done(old) ? " (exited, not yet released)" : ""); goto out; }
  struct spawn_spec s = {
    .argv = argv.v, .envp = envp.v, .cwd = cwd, .root = NULL, .join_ns = -1, .user = user,
    .uid = tlv_u64(f->body, f->len, TAG_UID, (uint64_t)-1), .gid = tlv_u64(f->body, f->len, TAG_GID, (uint64_t)-1),
    .tty = (int)tlv_u64(f->body, f->len, TAG_TTY, 0), .rows = (unsigned)tlv_u64(f->body, f->len, TAG_ROWS, 24), .cols = (unsigned)tlv_u64(f->body, f->len, TAG_COLS, 80),
    .unprivileged = host_mode, .mounts = mounts.n ? mounts.v : NULL, .files = files, .nfiles = nfiles,
  };
  if (tlv_u64(f->body, f->len, TAG_BUILTIN, 0)) {
    if (!is_exec || !(s.tool = tool_for(argv.v[0]))) { reply_error(f->id, E_MALFORMED, 0, "BUILTIN: no tool \"%s\" built into the agent (tar-out, tar-in), or not an exec", argv.v[0]); goto out; }
  }
  if (is_exec) {
    main_proc = proc_find(container);
    if (!main_proc || !main_proc->is_main) { reply_error(f->id, E_NOT_FOUND, 0, "no container \"%s\"", container); goto out; }
    if (main_proc->reaped) { reply_error(f->id, E_STATE, 0, "container \"%s\" has exited", container); goto out; }
    s.join_ns = main_proc->mnt_ns;
  } else {
    kind = tlv_str(f->body, f->len, TAG_ROOTFS_KIND, 0);
    source = tlv_str(f->body, f->len, TAG_ROOTFS_SOURCE, 0);
    fstype = tlv_str(f->body, f->len, TAG_ROOTFS_FSTYPE, 0);
    if (!kind) { reply_error(f->id, E_MISSING, 0, "ROOTFS_KIND missing"); goto out; }
    if (strcmp(kind, "host") != 0) {
      if (host_mode) { reply_error(f->id, E_STATE, 0, "rootfs kind \"%s\" needs the agent to run as the guest's init", kind); goto out; }
      if (!source) { reply_error(f->id, E_MISSING, 0, "ROOTFS_SOURCE missing"); goto out; }
      if (!(s.root = mount_rootfs(container, kind, source, fstype, err, sizeof err))) { reply_error(f->id, E_SYSTEM, errno, "%s", err); goto out; }
    }
  }
  /* limits: the container's own cgroup, made at its start; its execs (and restarts) join the same group */
  char group[256];
  if (!is_exec && !host_mode) {
    uint64_t mem = tlv_u64(f->body, f->len, TAG_MEMORY_MAX, 0), cpu = tlv_u64(f->body, f->len, TAG_CPU_MAX, 0);
    if (limits_prepare(container, mem, cpu, err, sizeof err) < 0) { reply_error(f->id, E_SYSTEM, errno, "limits of %s: %s", container, err); goto out; }
  }
  s.cgroup = host_mode ? NULL : limits_group(container, group, sizeof group);
  struct proc *p = proc_new(name);
  if (!p) { reply_error(f->id, E_SYSTEM, ENOMEM, "process table full"); goto out; }
  p->oom_base = limits_oom_kills(container);
  snprintf(p->container, sizeof p->container, "%s", container);
  p->is_main = !is_exec;
  struct spawned sp;
  if (spawn_process(&s, &sp, err, sizeof err) < 0) {
    int e = errno;
    proc_release(p);
    reply_error(f->id, E_SYSTEM, e, "starting %s in %s: %s", argv.v[0], container, err);
    goto out;
  }
  p->pid = sp.pid;
  p->tty = s.tty;
  p->in_fd = sp.in_fd;
  p->out[0].fd = sp.out_fd;
  p->out[1].fd = sp.err_fd;
  if (!is_exec && s.root) {
    char nspath[64];
    snprintf(nspath, sizeof nspath, "/proc/%d/ns/mnt", (int)p->pid);
    p->mnt_ns = open(nspath, O_RDONLY | O_CLOEXEC); /* taken after exec: the child has its namespace by then */
  }
  pump_watch(p);
  struct writer w = {0};
  writer_begin(&w, MSG_OK, f->id);
  writer_u64(&w, TAG_PID, (uint64_t)p->pid);
  reply_ok(f->id, &w);
  writer_free(&w);
out:
  free(container); free(name); free(kind); free(source); free(fstype); free(cwd); free(user);
  strv_free(&argv); strv_free(&envp); strv_free(&mounts);
  for (unsigned i = 0; i < nfiles; i++) free(files[i].path);
}

void handle_start_container(const struct frame *f) { start(f, 0); }
void handle_exec(const struct frame *f) { start(f, 1); }
