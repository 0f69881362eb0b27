/* Per-container limits inside the guest: a cgroup v2 group per limited container (memory.max, cpu.max), joined by its
 * processes before they run, and whether the kernel OOM-killed in it. */
#ifndef HYPER_LIMITS_H
#define HYPER_LIMITS_H
#include <stddef.h>
#include <stdint.h>

/* Makes (or reuses) /sys/fs/cgroup/hyper-<container> with the limits (0: none); 0 ok, -1 with a message in err. */
int limits_prepare(const char *container, uint64_t memory_bytes, uint64_t cpu_millis, char *err, size_t errlen);
/* The group's path if the container has one (for a process to join before exec), else NULL. */
const char *limits_group(const char *container, char *buf, size_t cap);
/* Moves the calling process into the group (from the forked child, before exec); -1 on failure. */
int limits_join(const char *group);
/* How many OOM kills the group has seen (0 without a group). */
uint64_t limits_oom_kills(const char *container);

#endif
