/* tar-out and tar-in, the agent's built-in tools for hyper cp: a POSIX (ustar + pax) tar writer and a reader that also takes
 * GNU long names, run in a container's mount namespace by an exec, so copying works in images without tar. */
#define _GNU_SOURCE
#include "tools.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 512
#define PATH_CAP 4096

static int problems; /* entries skipped: the tool exits 1 */

static void warn(const char *fmt, ...) {
  char msg[PATH_CAP + 256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof msg - 2) n = (int)sizeof msg - 2;
  msg[n++] = '\n';
  (void)!write(2, msg, (size_t)n);
}

static int write_all(int fd, const void *buf, size_t n) {
  const uint8_t *p = buf;
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* 0 on a full read, 1 at a clean end of input (nothing read), -1 on a short read or an error */
static int read_all(int fd, void *buf, size_t n) {
  uint8_t *p = buf;
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, p + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) return got == 0 ? 1 : -1;
    got += (size_t)r;
  }
  return 0;
}

/* ---------- writing ---------- */

static uint8_t obuf[64 * 1024];
static size_t olen;

static void out_flush(void) {
  if (olen && write_all(1, obuf, olen) < 0) { warn("tar-out: writing the stream: %s", strerror(errno)); _exit(2); }
  olen = 0;
}

static void out(const void *data, size_t n) {
  const uint8_t *p = data;
  while (n) {
    size_t k = sizeof obuf - olen < n ? sizeof obuf - olen : n;
    memcpy(obuf + olen, p, k);
    olen += k;
    p += k;
    n -= k;
    if (olen == sizeof obuf) out_flush();
  }
}

static void pad(uint64_t size) {
  static const uint8_t zeros[BLOCK];
  if (size % BLOCK) out(zeros, BLOCK - size % BLOCK);
}

/* An octal field of `width` bytes (digits, then NUL); 0 if the value does not fit. */
static int octal(char *field, size_t width, uint64_t v) {
  char tmp[32];
  snprintf(tmp, sizeof tmp, "%0*llo", (int)(width - 1), (unsigned long long)v);
  if (strlen(tmp) > width - 1) return 0;
  memcpy(field, tmp, width);
  return 1;
}

struct ustar {
  char name[100], mode[8], uid[8], gid[8], size[12], mtime[12], chksum[8], type, link[100], magic[6], version[2], uname[32], gname[32],
      devmajor[8], devminor[8], prefix[155], pad[12];
};

static void checksum(struct ustar *h) {
  memset(h->chksum, ' ', sizeof h->chksum);
  unsigned sum = 0;
  for (size_t i = 0; i < BLOCK; i++) sum += ((uint8_t *)h)[i];
  snprintf(h->chksum, sizeof h->chksum, "%06o", sum);
  h->chksum[7] = ' ';
}

/* One pax record "LEN key=value\n", LEN counting the whole record, itself included. */
static size_t pax_record(char *dst, size_t cap, const char *key, const char *value) {
  size_t body = strlen(key) + strlen(value) + 3; /* ' ' '=' '\n' */
  size_t len = body + 1;
  for (;;) {
    char digits[24];
    size_t d = (size_t)snprintf(digits, sizeof digits, "%zu", len);
    if (body + d == len) break;
    len = body + d;
  }
  return (size_t)snprintf(dst, cap, "%zu %s=%s\n", len, key, value);
}

static void header(const char *name, const char *link, const struct stat *st, char type, uint64_t size) {
  struct ustar h;
  memset(&h, 0, sizeof h);
  char pax[3 * PATH_CAP + 256];
  size_t paxlen = 0;
  size_t n = strlen(name);
  if (n <= sizeof h.name) memcpy(h.name, name, n);
  else {
    /* ustar splits a long name at a '/' into prefix (155) and name (100); else a pax record carries it */
    const char *cut = NULL;
    for (const char *s = name + n - sizeof h.name - 1; s && *s; s = strchr(s + 1, '/')) {
      if (*s == '/' && (size_t)(s - name) <= sizeof h.prefix && strlen(s + 1) <= sizeof h.name && s > name) { cut = s; break; }
    }
    if (cut) {
      memcpy(h.prefix, name, (size_t)(cut - name));
      memcpy(h.name, cut + 1, strlen(cut + 1));
    } else {
      paxlen += pax_record(pax + paxlen, sizeof pax - paxlen, "path", name);
      memcpy(h.name, name, sizeof h.name);
    }
  }
  if (link) {
    size_t l = strlen(link);
    if (l > sizeof h.link) {
      paxlen += pax_record(pax + paxlen, sizeof pax - paxlen, "linkpath", link);
      l = sizeof h.link;
    }
    memcpy(h.link, link, l);
  }
  if (!octal(h.size, sizeof h.size, size)) {
    char v[24];
    snprintf(v, sizeof v, "%llu", (unsigned long long)size);
    paxlen += pax_record(pax + paxlen, sizeof pax - paxlen, "size", v);
  }
  octal(h.mode, sizeof h.mode, st->st_mode & 07777);
  if (!octal(h.uid, sizeof h.uid, st->st_uid)) octal(h.uid, sizeof h.uid, 0);
  if (!octal(h.gid, sizeof h.gid, st->st_gid)) octal(h.gid, sizeof h.gid, 0);
  octal(h.mtime, sizeof h.mtime, st->st_mtime > 0 ? (uint64_t)st->st_mtime : 0);
  h.type = type;
  memcpy(h.magic, "ustar", 6);
  memcpy(h.version, "00", 2);
  if (type == '3' || type == '4') {
    octal(h.devmajor, sizeof h.devmajor, major(st->st_rdev));
    octal(h.devminor, sizeof h.devminor, minor(st->st_rdev));
  }
  if (paxlen) {
    struct ustar x;
    memset(&x, 0, sizeof x);
    snprintf(x.name, sizeof x.name, "PaxHeaders/entry");
    octal(x.mode, sizeof x.mode, 0644);
    octal(x.uid, sizeof x.uid, 0);
    octal(x.gid, sizeof x.gid, 0);
    octal(x.size, sizeof x.size, paxlen);
    octal(x.mtime, sizeof x.mtime, 0);
    x.type = 'x';
    memcpy(x.magic, "ustar", 6);
    memcpy(x.version, "00", 2);
    checksum(&x);
    out(&x, BLOCK);
    out(pax, paxlen);
    pad(paxlen);
  }
  checksum(&h);
  out(&h, BLOCK);
}

/* Files seen with more than one link: later names become hard links to the first. */
struct seen { dev_t dev; ino_t ino; char *name; };
static struct seen *seen;
static size_t nseen, capseen;

static const char *first_name(const struct stat *st, const char *name) {
  for (size_t i = 0; i < nseen; i++) if (seen[i].dev == st->st_dev && seen[i].ino == st->st_ino) return seen[i].name;
  if (nseen == capseen) {
    struct seen *more = realloc(seen, sizeof *seen * (capseen = capseen ? capseen * 2 : 64));
    if (!more) return NULL;
    seen = more;
  }
  seen[nseen++] = (struct seen){st->st_dev, st->st_ino, strdup(name)};
  return NULL;
}

static void add_file(const char *path, const struct stat *st) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) { warn("tar-out: %s: %s", path, strerror(errno)); problems++; return; }
  header(path, NULL, st, '0', (uint64_t)st->st_size);
  uint64_t left = (uint64_t)st->st_size;
  static uint8_t buf[64 * 1024];
  while (left) {
    ssize_t r = read(fd, buf, left < sizeof buf ? (size_t)left : sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) { /* it shrank while we read: zeros keep the stream well formed */
      warn("tar-out: %s: changed while being read", path);
      problems++;
      memset(buf, 0, sizeof buf);
      while (left) { size_t k = left < sizeof buf ? (size_t)left : sizeof buf; out(buf, k); left -= k; }
      break;
    }
    out(buf, (size_t)r);
    left -= (uint64_t)r;
  }
  close(fd);
  pad((uint64_t)st->st_size);
}

static void add(const char *path) {
  struct stat st;
  if (lstat(path, &st) < 0) { warn("tar-out: %s: %s", path, strerror(errno)); problems++; return; }
  if (S_ISDIR(st.st_mode)) {
    char name[PATH_CAP];
    size_t n = strlen(path);
    if (n + 2 > sizeof name) { warn("tar-out: %s: path too long", path); problems++; return; }
    snprintf(name, sizeof name, "%s%s", path, path[n - 1] == '/' ? "" : "/");
    header(name, NULL, &st, '5', 0);
    DIR *d = opendir(path);
    if (!d) { warn("tar-out: %s: %s", path, strerror(errno)); problems++; return; }
    struct dirent *e;
    while ((e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      char child[PATH_CAP];
      if (snprintf(child, sizeof child, "%s%s", name, e->d_name) >= (int)sizeof child) { warn("tar-out: %s%s: path too long", name, e->d_name); problems++; continue; }
      add(child);
    }
    closedir(d);
  } else if (S_ISREG(st.st_mode)) {
    const char *first = st.st_nlink > 1 ? first_name(&st, path) : NULL;
    if (first) header(path, first, &st, '1', 0);
    else add_file(path, &st);
  } else if (S_ISLNK(st.st_mode)) {
    char target[PATH_CAP];
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0) { warn("tar-out: %s: %s", path, strerror(errno)); problems++; return; }
    target[n] = 0;
    header(path, target, &st, '2', 0);
  } else if (S_ISFIFO(st.st_mode)) header(path, NULL, &st, '6', 0);
  else if (S_ISCHR(st.st_mode)) header(path, NULL, &st, '3', 0);
  else if (S_ISBLK(st.st_mode)) header(path, NULL, &st, '4', 0);
  else { warn("tar-out: %s: a socket, skipped", path); problems++; }
}

/* tar-out DIR NAME: entries named NAME/… (NAME "." for DIR's contents), read from DIR. */
static int tar_out(int argc, char **argv) {
  if (argc != 3) { warn("usage: tar-out DIR NAME"); return 2; }
  struct stat st;
  const char *sep = strcmp(argv[1], "/") ? "/" : "";
  if (chdir(argv[1]) < 0 || lstat(argv[2], &st) < 0) { warn("%s%s%s: %s", argv[1], sep, argv[2], strerror(errno)); return 2; }
  add(argv[2]);
  static const uint8_t end[2 * BLOCK];
  out(end, sizeof end);
  out_flush();
  return problems ? 1 : 0;
}

/* ---------- reading ---------- */

static uint64_t parse_number(const char *f, size_t width) {
  if ((uint8_t)f[0] & 0x80) { /* GNU base-256 */
    uint64_t v = (uint8_t)f[0] & 0x3f;
    for (size_t i = 1; i < width; i++) v = v << 8 | (uint8_t)f[i];
    return v;
  }
  uint64_t v = 0;
  size_t i = 0;
  while (i < width && (f[i] == ' ' || f[i] == 0)) i++;
  for (; i < width && f[i] >= '0' && f[i] <= '7'; i++) v = v * 8 + (uint64_t)(f[i] - '0');
  return v;
}

static int header_ok(const struct ustar *h) {
  unsigned sum = 0;
  for (size_t i = 0; i < BLOCK; i++) sum += (i >= 148 && i < 156) ? ' ' : ((const uint8_t *)h)[i];
  return sum == parse_number(h->chksum, sizeof h->chksum);
}

/* Reads `size` bytes of an entry's data (and its padding) into a fresh string, or skips them (dst NULL). */
static int take(uint64_t size, char **dst) {
  uint64_t padded = (size + BLOCK - 1) / BLOCK * BLOCK;
  char *buf = dst ? malloc((size_t)padded + 1) : NULL;
  if (dst && (!buf || size > (1u << 20))) { free(buf); return -1; }
  static uint8_t scratch[64 * 1024];
  uint64_t done = 0;
  while (done < padded) {
    size_t k = padded - done < sizeof scratch ? (size_t)(padded - done) : sizeof scratch;
    if (read_all(0, buf ? (uint8_t *)buf + done : scratch, k) != 0) { free(buf); return -1; }
    done += k;
  }
  if (dst) { buf[size] = 0; *dst = buf; }
  return 0;
}

/* The value of `key` in pax records, or NULL. */
static char *pax_value(const char *recs, const char *key) {
  const char *p = recs;
  size_t klen = strlen(key);
  while (*p) {
    char *end;
    unsigned long len = strtoul(p, &end, 10);
    if (len == 0 || *end != ' ') break;
    const char *kv = end + 1, *next = p + len;
    if ((size_t)(next - kv) > klen + 1 && !strncmp(kv, key, klen) && kv[klen] == '=') return strndup(kv + klen + 1, (size_t)(next - kv - klen - 2));
    p = next;
  }
  return NULL;
}

/* A member's name made relative and safe: leading '/' and "./" gone; NULL if it climbs with "..". */
static char *clean(const char *name) {
  while (*name == '/') name++;
  while (name[0] == '.' && name[1] == '/') { name += 2; while (*name == '/') name++; }
  if (!strcmp(name, ".")) name = "";
  char *c = strdup(name);
  size_t n = strlen(c);
  while (n && c[n - 1] == '/') c[--n] = 0;
  for (char *s = c; s && *s; s = strchr(s, '/') ? strchr(s, '/') + 1 : NULL) {
    if (s[0] == '.' && s[1] == '.' && (s[2] == '/' || s[2] == 0)) { free(c); return NULL; }
  }
  return c;
}

static void mkdirs(const char *path) {
  char tmp[PATH_CAP];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *s = tmp + 1; *s; s++) if (*s == '/') { *s = 0; mkdir(tmp, 0755); *s = '/'; }
}

/* Copies an entry's data to fd (or drops it if fd < 0); returns fd (-1 once a write failed), or -2 if the stream ended. */
static int copy_data(int fd, uint64_t size, const char *path) {
  static uint8_t buf[64 * 1024];
  uint64_t padded = (size + BLOCK - 1) / BLOCK * BLOCK, done = 0;
  while (done < padded) {
    size_t k = padded - done < sizeof buf ? (size_t)(padded - done) : sizeof buf;
    if (read_all(0, buf, k) != 0) { warn("tar-in: the stream ended inside %s", path); if (fd >= 0) close(fd); return -2; }
    uint64_t useful = done >= size ? 0 : (size - done < k ? size - done : k);
    if (fd >= 0 && useful && write_all(fd, buf, (size_t)useful) < 0) { warn("tar-in: %s: %s", path, strerror(errno)); problems++; close(fd); fd = -1; }
    done += k;
  }
  return fd;
}

/* tar-in DEST: into DEST if it is a directory; else the stream's top entry becomes DEST (docker cp's rule). */
static int tar_in(int argc, char **argv) {
  if (argc != 2) { warn("usage: tar-in DEST"); return 2; }
  char base[PATH_CAP], rename_to[PATH_CAP] = "";
  struct stat st;
  int dest_exists = stat(argv[1], &st) == 0, dest_dir = dest_exists && S_ISDIR(st.st_mode);
  if (dest_dir) snprintf(base, sizeof base, "%s", argv[1]);
  else {
    char a[PATH_CAP], b[PATH_CAP];
    snprintf(a, sizeof a, "%s", argv[1]);
    snprintf(b, sizeof b, "%s", argv[1]);
    snprintf(base, sizeof base, "%s", dirname(a));
    snprintf(rename_to, sizeof rename_to, "%s", basename(b));
    struct stat pst;
    if (stat(base, &pst) < 0 || !S_ISDIR(pst.st_mode)) { warn("%s: no such directory", base); return 2; }
  }
  char *long_name = NULL, *long_link = NULL, *pax_path = NULL, *pax_link = NULL, *pax_size = NULL;
  int first = 1, zero_blocks = 0;
  for (;;) {
    struct ustar h;
    int r = read_all(0, &h, BLOCK);
    if (r == 1) break;
    if (r < 0) { warn("tar-in: not a tar stream, or one cut short (it ends inside a header)"); return 2; }
    int zero = 1;
    for (size_t i = 0; i < BLOCK && zero; i++) zero = ((uint8_t *)&h)[i] == 0;
    if (zero) { if (++zero_blocks == 2) break; continue; }
    zero_blocks = 0;
    if (!header_ok(&h)) { warn("tar-in: not a tar stream (a header's checksum is wrong)"); return 2; }
    uint64_t size = parse_number(h.size, sizeof h.size);
    if (h.type == 'x' || h.type == 'g' || h.type == 'L' || h.type == 'K') {
      char *data = NULL;
      if (take(size, h.type == 'g' ? NULL : &data) < 0) { warn("tar-in: a %c header could not be read", h.type); return 2; }
      if (h.type == 'L') { free(long_name); long_name = data; }
      else if (h.type == 'K') { free(long_link); long_link = data; }
      else if (h.type == 'x') {
        free(pax_path); free(pax_link); free(pax_size);
        pax_path = pax_value(data, "path");
        pax_link = pax_value(data, "linkpath");
        pax_size = pax_value(data, "size");
        free(data);
      }
      continue;
    }
    if (pax_size) size = strtoull(pax_size, NULL, 10);
    char raw[PATH_CAP];
    if (pax_path) snprintf(raw, sizeof raw, "%s", pax_path);
    else if (long_name) snprintf(raw, sizeof raw, "%s", long_name);
    else if (h.prefix[0] && !memcmp(h.magic, "ustar", 5)) snprintf(raw, sizeof raw, "%.155s/%.100s", h.prefix, h.name);
    else snprintf(raw, sizeof raw, "%.100s", h.name);
    char linkname[PATH_CAP];
    if (pax_link) snprintf(linkname, sizeof linkname, "%s", pax_link);
    else if (long_link) snprintf(linkname, sizeof linkname, "%s", long_link);
    else snprintf(linkname, sizeof linkname, "%.100s", h.link);
    free(long_name); free(long_link); free(pax_path); free(pax_link); free(pax_size);
    long_name = long_link = pax_path = pax_link = pax_size = NULL;
    char type = h.type ? h.type : '0';
    mode_t mode = (mode_t)parse_number(h.mode, sizeof h.mode) & 07777;
    char *rel = clean(raw);
    if (!rel) { warn("tar-in: %s: climbs out with \"..\", skipped", raw); problems++; if (take(size, NULL) < 0) return 2; continue; }
    if (first) {
      first = 0;
      /* "./…" (a directory's contents): DEST is that directory, made if it is missing */
      if (!rel[0] && rename_to[0]) {
        if (dest_exists) { warn("%s: not a directory", argv[1]); return 2; }
        if (mkdir(argv[1], mode ? mode : 0755) < 0 && errno != EEXIST) { warn("%s: %s", argv[1], strerror(errno)); return 2; }
        snprintf(base, sizeof base, "%s", argv[1]);
        rename_to[0] = 0;
      } else if (rename_to[0] && dest_exists && type == '5') {
        warn("cannot overwrite non-directory %s with a directory", argv[1]);
        return 2;
      }
    }
    /* the top component becomes DEST's name */
    char named[PATH_CAP];
    if (rename_to[0] && rel[0]) {
      const char *rest = strchr(rel, '/');
      snprintf(named, sizeof named, "%s%s", rename_to, rest ? rest : "");
    } else snprintf(named, sizeof named, "%s", rel);
    free(rel);
    char path[2 * PATH_CAP];
    snprintf(path, sizeof path, "%s%s%s", base, named[0] ? "/" : "", named);
    if (named[0]) mkdirs(path);
    struct stat old;
    int exists = lstat(path, &old) == 0;
    switch (type) {
    case '5':
      if (exists && !S_ISDIR(old.st_mode)) unlink(path);
      if (mkdir(path, mode) < 0 && errno != EEXIST) { warn("tar-in: %s: %s", path, strerror(errno)); problems++; }
      else chmod(path, mode);
      if (take(size, NULL) < 0) return 2;
      break;
    case '0': case '7': {
      if (exists && !S_ISREG(old.st_mode)) { if (S_ISDIR(old.st_mode)) rmdir(path); else unlink(path); }
      int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
      if (fd < 0) { warn("tar-in: %s: %s", path, strerror(errno)); problems++; }
      fd = copy_data(fd, size, path);
      if (fd == -2) return 2;
      if (fd >= 0) {
        fchmod(fd, mode);
        struct timespec t[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = (time_t)parse_number(h.mtime, sizeof h.mtime)}};
        futimens(fd, t);
        close(fd);
      }
      break;
    }
    case '2':
      if (exists) { if (S_ISDIR(old.st_mode)) rmdir(path); else unlink(path); }
      if (symlink(linkname, path) < 0) { warn("tar-in: %s -> %s: %s", path, linkname, strerror(errno)); problems++; }
      if (take(size, NULL) < 0) return 2;
      break;
    case '1': {
      char *target = clean(linkname);
      char from[2 * PATH_CAP] = "";
      if (target && rename_to[0] && target[0]) {
        const char *rest = strchr(target, '/');
        snprintf(from, sizeof from, "%s/%s%s", base, rename_to, rest ? rest : "");
      } else if (target) snprintf(from, sizeof from, "%s/%s", base, target);
      if (exists) unlink(path);
      if (!target || link(from, path) < 0) { warn("tar-in: %s => %s: %s", path, linkname, target ? strerror(errno) : "climbs out with \"..\""); problems++; }
      free(target);
      if (take(size, NULL) < 0) return 2;
      break;
    }
    case '3': case '4': case '6': {
      if (exists) unlink(path);
      dev_t dev = makedev((unsigned)parse_number(h.devmajor, sizeof h.devmajor), (unsigned)parse_number(h.devminor, sizeof h.devminor));
      mode_t kind = type == '3' ? S_IFCHR : type == '4' ? S_IFBLK : S_IFIFO;
      if (mknod(path, kind | mode, type == '6' ? 0 : dev) < 0) { warn("tar-in: %s: %s", path, strerror(errno)); problems++; }
      if (take(size, NULL) < 0) return 2;
      break;
    }
    default:
      warn("tar-in: %s: entry type '%c' is not supported, skipped", path, type);
      problems++;
      if (take(size, NULL) < 0) return 2;
    }
  }
  return problems ? 1 : 0;
}

tool_fn *tool_for(const char *name) {
  if (!name) return NULL;
  if (!strcmp(name, "tar-out")) return tar_out;
  if (!strcmp(name, "tar-in")) return tar_in;
  return NULL;
}
