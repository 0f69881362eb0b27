/* The guest as a whole: early mounts as init, the virtio port, the boot id, pod-wide settings, RNG reseeding and power-off. */
#define _GNU_SOURCE
#include "system.h"
#include "channel.h"
#include "log.h"
#include "proctab.h"
#include "protocol.h"
#include "net.h"
#include "session.h"
#include "spawn.h"
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
#define RNDRESEEDCRNG _IO('R', 0x07)

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

/* Writes one of the files containers get bound over theirs (/run/hyper/resolv.conf, /run/hyper/hosts). */
static int write_run_file(const char *name, const char *text) {
  mkdir("/run/hyper", 0755);
  char path[64], tmp[72];
  snprintf(path, sizeof path, "/run/hyper/%s", name);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) return -1;
  int ok = fputs(text, f) >= 0;
  ok = fclose(f) == 0 && ok;
  return ok && rename(tmp, path) == 0 ? 0 : -1;
}

/* Fields of one tag as lines (each checked to be one line), "prefix field\n" each. */
static int lines_of(const struct frame *f, uint8_t tag, const char *prefix, char *out, size_t cap) {
  size_t len = strlen(out);
  for (unsigned i = 0, n = tlv_count(f->body, f->len, tag); i < n; i++) {
    char *v = tlv_str(f->body, f->len, tag, i);
    if (!v || strpbrk(v, "\n\r")) { free(v); return -1; }
    int w = snprintf(out + len, cap - len, "%s%s\n", prefix, v);
    free(v);
    if (w < 0 || (size_t)w >= cap - len) return -1;
    len += (size_t)w;
  }
  return 0;
}

void handle_start_pod(const struct frame *f) {
  char *hostname = tlv_str(f->body, f->len, TAG_HOSTNAME, 0);
  if (hostname && sethostname(hostname, strlen(hostname)) < 0 && !host_mode) {
    reply_error(f->id, E_SYSTEM, errno, "sethostname %s: %s", hostname, strerror(errno));
    free(hostname);
    return;
  }
  char *address = tlv_str(f->body, f->len, TAG_ADDRESS, 0), *gateway = tlv_str(f->body, f->len, TAG_GATEWAY, 0), *mac = tlv_str(f->body, f->len, TAG_MAC, 0);
  char err[256] = "";
  if (address && !host_mode && net_configure("eth0", address, gateway, (unsigned)tlv_u64(f->body, f->len, TAG_MTU, 0), mac, err, sizeof err) < 0) {
    int e = errno;
    reply_error(f->id, E_SYSTEM, e, "network: %s", err);
    free(hostname); free(address); free(gateway); free(mac);
    return;
  }
  free(address); free(gateway); free(mac);
  static char text[64 * 1024];
  text[0] = 0;
  if (tlv_count(f->body, f->len, TAG_DNS) && !host_mode) {
    if (lines_of(f, TAG_DNS, "nameserver ", text, sizeof text) < 0) { reply_error(f->id, E_MALFORMED, 0, "a DNS field is not one line"); free(hostname); return; }
    char search[2048] = "";
    if (lines_of(f, TAG_SEARCH, "", search, sizeof search) < 0) { reply_error(f->id, E_MALFORMED, 0, "a SEARCH field is not one line"); free(hostname); return; }
    if (search[0]) {
      for (char *c = search; *c; c++) if (*c == '\n') *c = ' ';
      size_t n = strlen(text);
      snprintf(text + n, sizeof text - n, "search %s\n", search);
    }
    if (write_run_file("resolv.conf", text) < 0) say("hyper-agent: /run/hyper/resolv.conf: %s", strerror(errno));
  }
  if (tlv_count(f->body, f->len, TAG_HOSTS) && !host_mode) {
    snprintf(text, sizeof text, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    if (lines_of(f, TAG_HOSTS, "", text, sizeof text) < 0) { reply_error(f->id, E_MALFORMED, 0, "a HOSTS field is not one line, or they are too long"); free(hostname); return; }
    if (write_run_file("hosts", text) < 0) say("hyper-agent: /run/hyper/hosts: %s", strerror(errno));
  }
  free(hostname);
  reply_ok(f->id, NULL);
}

/* Mixes DATA into the kernel's pool, credited, and reseeds the CRNG from it now (not at its next interval, up to a minute
   away): 0, or -1 having replied the error. */
static int mix_entropy(const struct frame *f) {
  struct field d;
  if (!tlv_find(f->body, f->len, TAG_DATA, 0, &d) || d.len == 0 || d.len > 4096) { reply_error(f->id, E_MISSING, 0, "DATA of 1..4096 bytes needed"); return -1; }
  static uint32_t storage[(sizeof(struct rand_pool_info) + 4096) / 4 + 1];
  struct rand_pool_info *info = (struct rand_pool_info *)storage;
  info->entropy_count = (int)d.len * 8;
  info->buf_size = (int)d.len;
  memcpy(info->buf, d.val, d.len);
  int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
  int rc = fd >= 0 ? ioctl(fd, RNDADDENTROPY, info) : -1;
  const char *what = "RNDADDENTROPY";
  if (rc == 0) { rc = ioctl(fd, RNDRESEEDCRNG); what = "RNDRESEEDCRNG"; }
  int e = errno;
  if (fd >= 0) close(fd);
  if (rc < 0) { reply_error(f->id, E_SYSTEM, e, "%s: %s", what, strerror(e)); return -1; }
  return 0;
}

/* Clones of one VM snapshot start with the same pool: the host sends fresh bytes. */
void handle_reseed(const struct frame *f) {
  if (mix_entropy(f) == 0) reply_ok(f->id, NULL);
}

static char boot_id_given[64];

/* A clone restored from a template: fresh randomness, the host's time, and a boot id of its own. */
void handle_restored(const struct frame *f) {
  char *id = tlv_str(f->body, f->len, TAG_BOOT_ID, 0);
  if (!id || !id[0] || strlen(id) >= sizeof boot_id_given || !tlv_count(f->body, f->len, TAG_TIME_MS)) {
    reply_error(f->id, E_MISSING, 0, "TIME_MS and a BOOT_ID of 1..63 characters needed");
    free(id);
    return;
  }
  if (mix_entropy(f) < 0) { free(id); return; }
  uint64_t ms = tlv_u64(f->body, f->len, TAG_TIME_MS, 0);
  struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
  if (!host_mode && clock_settime(CLOCK_REALTIME, &ts) < 0) {
    reply_error(f->id, E_SYSTEM, errno, "clock_settime: %s", strerror(errno));
    free(id);
    return;
  }
  snprintf(boot_id_given, sizeof boot_id_given, "%s", id);
  free(id);
  /* programs read the kernel's file, which is the template's: every container's /proc shows this one instead */
  if (!host_mode) {
    mkdir("/run/hyper", 0755);
    int fd = open(RESTORED_BOOT_ID, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
    if (fd >= 0) {
      dprintf(fd, "%s\n", boot_id_given);
      close(fd);
      mount(RESTORED_BOOT_ID, "/proc/sys/kernel/random/boot_id", NULL, MS_BIND, NULL);
    }
  }
  struct writer w = {0};
  writer_begin(&w, MSG_OK, f->id);
  write_hello(&w);
  reply_ok(f->id, &w);
  writer_free(&w);
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
  if (boot_id_given[0]) return boot_id_given;
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
