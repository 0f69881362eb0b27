/* What the guest and its processes use, read from /proc: MSG_STATS for the VM as a whole, MSG_PS for each container's processes. */
#define _GNU_SOURCE
#include "stats.h"
#include "channel.h"
#include "proctab.h"
#include "protocol.h"
#include "request.h"
#include "system.h"
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define COMMAND_MAX 1024 /* bytes of a command line reported; longer ones are cut */
#define PS_MAX 4096      /* processes listed; the reply says when there were more */

static uint64_t meminfo(const char *field) {
  FILE *f = fopen("/proc/meminfo", "r");
  char line[256];
  uint64_t kb = 0;
  size_t n = strlen(field);
  while (f && fgets(line, sizeof line, f)) if (!strncmp(line, field, n) && line[n] == ':') { kb = strtoull(line + n + 1, NULL, 10); break; }
  if (f) fclose(f);
  return kb * 1024;
}

static uint64_t ticks_to_ms(unsigned long long ticks) {
  static long hz;
  if (!hz) hz = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
  return (uint64_t)(ticks * 1000ull / (unsigned long long)hz);
}

static uint64_t clock_ms(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* CPU time of all CPUs since boot from /proc/stat's first line: busy (all but idle and iowait) and total, in ms; and the CPU count. */
static void cpu_times(uint64_t *busy_ms, uint64_t *total_ms, uint64_t *cpus) {
  FILE *f = fopen("/proc/stat", "r");
  char line[512];
  *busy_ms = *total_ms = *cpus = 0;
  while (f && fgets(line, sizeof line, f)) {
    if (!strncmp(line, "cpu ", 4)) {
      unsigned long long v[10] = {0}, total = 0;
      sscanf(line + 4, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
      for (int i = 0; i < 8; i++) total += v[i]; /* guest and guest_nice are already in user and nice */
      *total_ms = ticks_to_ms(total);
      *busy_ms = ticks_to_ms(total - v[3] - v[4]);
    } else if (!strncmp(line, "cpu", 3) && isdigit((unsigned char)line[3])) (*cpus)++;
  }
  if (f) fclose(f);
}

void handle_stats(const struct frame *f) {
  uint64_t count = 0, busy, total, cpus;
  for (int i = 0; i < proc_limit(); i++) count += proc_at(i) && !proc_at(i)->reaped;
  cpu_times(&busy, &total, &cpus);
  struct writer w = {0};
  writer_begin(&w, MSG_OK, f->id);
  writer_u64(&w, TAG_MEM_TOTAL, meminfo("MemTotal"));
  writer_u64(&w, TAG_MEM_AVAILABLE, meminfo("MemAvailable"));
  writer_u64(&w, TAG_UPTIME_MS, clock_ms(CLOCK_BOOTTIME));
  writer_u64(&w, TAG_PROCESSES, count);
  writer_u64(&w, TAG_CPU_MS, busy);
  writer_u64(&w, TAG_CPU_TOTAL_MS, total);
  writer_u64(&w, TAG_CPUS, cpus);
  reply_ok(f->id, &w);
  writer_free(&w);
}

/* One process as /proc shows it. */
struct pinfo {
  pid_t pid, ppid;
  uid_t uid;
  uint64_t cpu_ms, rss, start_ticks;
  ino_t mnt;
  char comm[64];
};

static int read_file(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, cap - 1);
  close(fd);
  if (n < 0) return -1;
  buf[n] = 0;
  return (int)n;
}

static ino_t ns_inode(pid_t pid) {
  char path[64];
  struct stat st;
  snprintf(path, sizeof path, "/proc/%d/ns/mnt", (int)pid);
  return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* /proc/PID/stat and status; 0 ok, -1 gone (or a kernel thread: no memory map). */
static int read_proc(pid_t pid, struct pinfo *out) {
  char path[64], buf[2048];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  if (read_file(path, buf, sizeof buf) < 0) return -1;
  char *open_paren = strchr(buf, '('), *close_paren = strrchr(buf, ')');
  if (!open_paren || !close_paren) return -1;
  size_t n = (size_t)(close_paren - open_paren - 1);
  snprintf(out->comm, sizeof out->comm, "%.*s", (int)(n < sizeof out->comm ? n : sizeof out->comm - 1), open_paren + 1);
  /* fields after the comm, from 3 (state): ppid is 4, utime 14, stime 15, starttime 22, rss 24 (pages) */
  unsigned long long fld[25] = {0};
  char *s = close_paren + 2;
  for (int i = 3; i <= 24 && *s; i++) {
    while (*s == ' ') s++;
    fld[i] = strtoull(s, &s, 10);
    if (i == 3) { while (*s && *s != ' ') s++; } /* the state letter */
  }
  out->pid = pid;
  out->ppid = (pid_t)fld[4];
  out->cpu_ms = ticks_to_ms(fld[14] + fld[15]);
  out->start_ticks = fld[22];
  out->rss = fld[24] * (uint64_t)sysconf(_SC_PAGESIZE);
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  if (read_file(path, buf, sizeof buf) < 0) return -1;
  char *u = strstr(buf, "\nUid:");
  out->uid = u ? (uid_t)strtoul(u + 5, NULL, 10) : 0;
  out->mnt = ns_inode(pid);
  return 0;
}

/* The command line with its NULs as spaces, or [comm] for a process without one (a zombie). */
static void command_of(const struct pinfo *p, char *out, size_t cap) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/cmdline", (int)p->pid);
  int n = read_file(path, out, cap);
  if (n <= 0) { snprintf(out, cap, "[%s]", p->comm); return; }
  while (n > 0 && out[n - 1] == 0) n--;
  for (int i = 0; i < n; i++) if (out[i] == 0) out[i] = ' ';
  out[n] = 0;
}

/* The container a process belongs to: the nearest ancestor the host started (a main or exec'd process), else, in the guest, a
 * container whose mount namespace it shares (a daemon re-parented to PID 1). NULL for the agent itself and kernel threads. */
static const char *container_of(const struct pinfo *all, int n, const struct pinfo *p, ino_t own_ns) {
  const struct pinfo *q = p;
  for (int depth = 0; q && depth < 64; depth++) {
    struct proc *t = proc_by_pid(q->pid);
    if (t) return t->container;
    pid_t up = q->ppid;
    if (up <= 1) break;
    q = NULL;
    for (int i = 0; i < n; i++) if (all[i].pid == up) { q = &all[i]; break; }
  }
  if (host_mode || !p->mnt || p->mnt == own_ns) return NULL;
  for (int i = 0; i < proc_limit(); i++) {
    struct proc *t = proc_at(i);
    struct stat st;
    if (t && t->is_main && t->mnt_ns >= 0 && fstat(t->mnt_ns, &st) == 0 && st.st_ino == p->mnt) return t->container;
  }
  return NULL;
}

void handle_ps(const struct frame *f) {
  char *only = tlv_str(f->body, f->len, TAG_CONTAINER, 0);
  int cap = 256, n = 0;
  struct pinfo *all = malloc(sizeof *all * (size_t)cap);
  DIR *d = opendir("/proc");
  struct dirent *e;
  while (all && d && (e = readdir(d))) {
    if (!isdigit((unsigned char)e->d_name[0])) continue;
    if (n == cap) {
      struct pinfo *more = realloc(all, sizeof *all * (size_t)(cap *= 2));
      if (!more) { free(all); all = NULL; break; }
      all = more;
    }
    if (read_proc((pid_t)atoi(e->d_name), &all[n]) == 0) n++;
  }
  if (d) closedir(d);
  if (!all) { free(only); reply_error(f->id, E_SYSTEM, ENOMEM, "out of memory listing processes"); return; }
  uint64_t now = clock_ms(CLOCK_REALTIME), up = clock_ms(CLOCK_BOOTTIME);
  ino_t own = ns_inode(getpid());
  struct writer w = {0}, en = {0};
  writer_begin(&w, MSG_OK, f->id);
  writer_u64(&w, TAG_TIME_MS, now);
  int listed = 0, more = 0;
  char cmd[COMMAND_MAX + 1];
  for (int i = 0; i < n; i++) {
    const struct pinfo *p = &all[i];
    if (p->pid == getpid()) continue;
    const char *c = container_of(all, n, p, own);
    if (!c || (only && strcmp(only, c))) continue;
    if (listed == PS_MAX) { more++; continue; }
    command_of(p, cmd, sizeof cmd);
    writer_reset(&en);
    writer_u64(&en, TAG_PID, (uint64_t)p->pid);
    writer_u64(&en, TAG_PPID, (uint64_t)p->ppid);
    writer_u64(&en, TAG_UID, (uint64_t)p->uid);
    writer_str(&en, TAG_CONTAINER, c);
    writer_u64(&en, TAG_CPU_MS, p->cpu_ms);
    writer_u64(&en, TAG_RSS, p->rss);
    uint64_t started = ticks_to_ms(p->start_ticks);
    writer_u64(&en, TAG_TIME_MS, now - (up > started ? up - started : 0));
    writer_str(&en, TAG_COMMAND, cmd);
    if (en.oom) break;
    writer_bytes(&w, TAG_PS_ENTRY, en.buf, (uint32_t)en.len);
    listed++;
  }
  if (more) {
    char msg[96];
    snprintf(msg, sizeof msg, "%d more processes not listed", more);
    writer_str(&w, TAG_MESSAGE, msg);
  }
  free(all);
  free(only);
  if (en.oom || w.oom || !writer_end(&w)) reply_error(f->id, E_SYSTEM, ENOMEM, "out of memory listing processes");
  else reply_ok(f->id, &w);
  writer_free(&w);
  writer_free(&en);
}
