/* The guest as a whole: early mounts as init, the virtio port, the boot id, pod-wide settings, RNG reseeding and power-off. */
#define _GNU_SOURCE
#include "system.h"
#include "channel.h"
#include "log.h"
#include "proctab.h"
#include "protocol.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#define CHANNEL_NAME "hyper.agent"
#ifndef GRND_INSECURE
#define GRND_INSECURE 0x0004 /* Linux 5.6 */
#endif

int host_mode;

static void loopback_up(void);

/* from <linux/random.h>, which musl's toolchain does not ship */
struct rand_pool_info { int entropy_count; int buf_size; uint32_t buf[]; };
#define RNDADDENTROPY _IOW('R', 0x03, int[2])

static void must_mount(const char *src, const char *dst, const char *type, unsigned long flags, const char *data) {
  mkdir(dst, 0755);
  if (mount(src, dst, type, flags, data) < 0 && errno != EBUSY) say("hyper-agent: mount %s on %s: %s", type, dst, strerror(errno));
}

void guest_init(void) {
  /* an initramfs gets no devtmpfs automatically */
  must_mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
  int con = open("/dev/console", O_RDWR | O_CLOEXEC);
  if (con >= 0) { dup2(con, 0); dup2(con, 1); dup2(con, 2); if (con > 2) close(con); }
  must_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  must_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  must_mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
  unlink("/dev/ptmx");
  if (symlink("pts/ptmx", "/dev/ptmx") < 0) say("hyper-agent: /dev/ptmx: %s", strerror(errno));
  must_mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  must_mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  must_mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
  must_mount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  loopback_up();
}

static void loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return;
  struct ifreq ifr = {0};
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  close(s);
}

/* The virtio-serial port named hyper.agent (QEMU: virtserialport,name=hyper.agent); vport0p1 if names are unavailable. */
int open_port(void) {
  for (int tries = 0; ; tries++) {
    DIR *d = opendir("/sys/class/virtio-ports");
    struct dirent *e;
    char path[512], name[128];
    while (d && (e = readdir(d))) {
      if (e->d_name[0] == '.') continue;
      snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
      FILE *f = fopen(path, "r");
      if (!f) continue;
      int ok = fgets(name, sizeof name, f) && !strncmp(name, CHANNEL_NAME, strlen(CHANNEL_NAME));
      fclose(f);
      if (!ok) continue;
      snprintf(path, sizeof path, "/dev/%s", e->d_name);
      closedir(d);
      int fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
      if (fd >= 0) return fd;
      say("hyper-agent: open %s: %s", path, strerror(errno));
      d = NULL;
      break;
    }
    if (d) closedir(d);
    if (tries == 500) say("hyper-agent: still no virtio port named " CHANNEL_NAME " after 5 s");
    usleep(10000);
  }
}

void handle_start_pod(const struct frame *f) {
  char *hostname = tlv_str(f->body, f->len, TAG_HOSTNAME, 0);
  if (hostname && sethostname(hostname, strlen(hostname)) < 0 && !host_mode) {
    reply_error(f->id, E_SYSTEM, errno, "sethostname %s: %s", hostname, strerror(errno));
    free(hostname);
    return;
  }
  free(hostname);
  unsigned n = tlv_count(f->body, f->len, TAG_DNS);
  if (n && !host_mode) {
    mkdir("/run/hyper", 0755);
    FILE *r = fopen("/run/hyper/resolv.conf", "w");
    for (unsigned i = 0; r && i < n; i++) {
      char *ns = tlv_str(f->body, f->len, TAG_DNS, i);
      if (ns && !strpbrk(ns, "\n\r")) fprintf(r, "nameserver %s\n", ns);
      free(ns);
    }
    if (r) fclose(r);
  }
  reply_ok(f->id, NULL);
}

/* Clones of one VM snapshot start with the same pool: the host sends fresh bytes, which are mixed in and credited. */
void handle_reseed(const struct frame *f) {
  struct field d;
  if (!tlv_find(f->body, f->len, TAG_DATA, 0, &d) || d.len == 0 || d.len > 4096) { reply_error(f->id, E_MISSING, 0, "DATA of 1..4096 bytes needed"); return; }
  static uint32_t storage[(sizeof(struct rand_pool_info) + 4096) / 4 + 1];
  struct rand_pool_info *info = (struct rand_pool_info *)storage;
  info->entropy_count = (int)d.len * 8;
  info->buf_size = (int)d.len;
  memcpy(info->buf, d.val, d.len);
  int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
  int rc = fd >= 0 ? ioctl(fd, RNDADDENTROPY, info) : -1;
  int e = errno;
  if (fd >= 0) close(fd);
  if (rc < 0) { reply_error(f->id, E_SYSTEM, e, "RNDADDENTROPY: %s", strerror(e)); return; }
  reply_ok(f->id, NULL);
}

/* The kernel's boot id (/proc/sys/kernel/random/boot_id, CONFIG_PROC_SYSCTL) when it has one; a kernel without /proc/sys
   gets one of the agent's: it is PID 1 and lives exactly as long as the boot, so a random id drawn once names it as well. */
static void random_uuid(char *out, size_t n) {
  uint8_t b[16];
  ssize_t got = getrandom(b, sizeof b, GRND_INSECURE); /* early in boot: never wait for the pool */
  if (got != (ssize_t)sizeof b) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 32;
    for (int i = 0; i < 16; i++) { x = x * 6364136223846793005u + 1442695040888963407u; b[i] = (uint8_t)(x >> 56); }
  }
  b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
  b[8] = (b[8] & 0x3f) | 0x80; /* RFC 4122 variant */
  snprintf(out, n, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
           b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

const char *boot_id(void) {
  static char id[64];
  if (id[0]) return id;
  FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
  if (f && fgets(id, sizeof id, f)) id[strcspn(id, " \t\r\n")] = 0;
  else id[0] = 0;
  if (f) fclose(f);
  if (!id[0]) random_uuid(id, sizeof id);
  return id;
}

void handle_shutdown(const struct frame *f) {
  reply_ok(f->id, NULL);
  power_off();
}

static void signal_all(int sig) {
  for (int i = 0; i < proc_limit(); i++) {
    struct proc *p = proc_at(i);
    if (p && !p->reaped) kill(p->pid, sig);
  }
}

/* Orderly: SIGTERM to every process, up to 2 s for them to exit, then SIGKILL whatever is left. */
void power_off(void) {
  signal_all(SIGTERM);
  if (!host_mode) kill(-1, SIGTERM);
  /* every process in the guest descends from us (orphans are reparented to PID 1): ECHILD means all have exited */
  for (int waited = 0; waited < 2000; waited += 10) {
    pid_t r;
    while ((r = waitpid(-1, NULL, WNOHANG)) > 0) {
      struct proc *p = proc_by_pid(r);
      if (p) p->reaped = 1; /* so the SIGKILL below cannot hit a recycled pid */
    }
    if (r < 0 && errno == ECHILD) break;
    usleep(10000);
  }
  signal_all(SIGKILL);
  if (host_mode) {
    if (channel_path()) unlink(channel_path());
    exit(0);
  }
  kill(-1, SIGKILL);
  sync();
  /* microvm without ACPI cannot power off: reset instead (reboot=t), which QEMU run with -no-reboot turns into an exit */
  reboot(RB_AUTOBOOT);
  for (;;) pause();
}
