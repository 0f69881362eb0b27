/* cgroup v2 groups for containers with limits: the agent (PID 1 in the root group) enables the memory and cpu controllers
 * for its children, gives each limited container a group, and reads memory.events to tell an OOM kill from a plain SIGKILL. */
#define _GNU_SOURCE
#include "limits.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CGROOT "/sys/fs/cgroup"

static int write_str(const char *path, const char *s) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = write(fd, s, strlen(s));
  int e = errno;
  close(fd);
  errno = e;
  return n == (ssize_t)strlen(s) ? 0 : -1;
}

const char *limits_group(const char *container, char *buf, size_t cap) {
  snprintf(buf, cap, CGROOT "/hyper-%s", container);
  struct stat st;
  return stat(buf, &st) == 0 ? buf : NULL;
}

int limits_prepare(const char *container, uint64_t memory_bytes, uint64_t cpu_millis, char *err, size_t errlen) {
  char group[256], path[320], v[64];
  if (!memory_bytes && !cpu_millis) return 0;
  if (write_str(CGROOT "/cgroup.subtree_control", "+memory +cpu") < 0 && write_str(CGROOT "/cgroup.subtree_control", "+memory") < 0) {
    snprintf(err, errlen, "enable the memory controller: %s", strerror(errno));
    return -1;
  }
  snprintf(group, sizeof group, CGROOT "/hyper-%s", container);
  if (mkdir(group, 0755) < 0 && errno != EEXIST) { snprintf(err, errlen, "make %s: %s", group, strerror(errno)); return -1; }
  if (memory_bytes) {
    snprintf(path, sizeof path, "%s/memory.max", group);
    snprintf(v, sizeof v, "%llu", (unsigned long long)memory_bytes);
    if (write_str(path, v) < 0) { snprintf(err, errlen, "memory.max %s: %s", v, strerror(errno)); return -1; }
    snprintf(path, sizeof path, "%s/memory.swap.max", group);
    write_str(path, "0"); /* absent without swap accounting: nothing to limit then */
  }
  if (cpu_millis) {
    snprintf(path, sizeof path, "%s/cpu.max", group);
    snprintf(v, sizeof v, "%llu 100000", (unsigned long long)cpu_millis * 100);
    if (write_str(path, v) < 0) { snprintf(err, errlen, "cpu.max %s: %s", v, strerror(errno)); return -1; }
  }
  return 0;
}

int limits_join(const char *group) {
  char path[320];
  snprintf(path, sizeof path, "%s/cgroup.procs", group);
  return write_str(path, "0");
}

uint64_t limits_oom_kills(const char *container) {
  char group[256], path[320], line[128];
  if (!limits_group(container, group, sizeof group)) return 0;
  snprintf(path, sizeof path, "%s/memory.events", group);
  FILE *f = fopen(path, "r");
  uint64_t n = 0;
  while (f && fgets(line, sizeof line, f)) if (!strncmp(line, "oom_kill ", 9)) n = strtoull(line + 9, NULL, 10);
  if (f) fclose(f);
  return n;
}
