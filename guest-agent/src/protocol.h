/* hyper guest-agent wire protocol, version 2: the one definition, mirrored by src/guest/wire.ts on the host.
 *
 * Frame:  u32 length (big-endian; counts the bytes after it) | u8 type | u32 id (big-endian) | body
 *   - the host picks id > 0 for each request; the agent answers every request with exactly one
 *     MSG_OK or MSG_ERROR carrying the same id; events from the agent carry id 0.
 *   - a frame whose length exceeds HYPER_MAX_FRAME (or is below 5) is refused with MSG_ERROR
 *     E_TOO_BIG / E_MALFORMED and its bytes are skipped; the channel stays usable.
 * Body: TLV fields, each  u8 tag | u32 length (big-endian) | value
 *   - integers are 8 bytes big-endian; strings are UTF-8 without NUL; lists repeat the tag.
 *   - unknown tags are ignored (so newer hosts can add fields); a field that overruns the body is E_MALFORMED.
 * Message and tag numbers are forever: retire a number, never reuse it.
 *
 * Output (v2). Offsets count the bytes of one stream (1 stdout, 2 stderr) of one process from 0. The agent keeps
 * every byte it read from a process until the host acknowledges it (MSG_ACK), and reads a stream's pipe only while
 * (read - acked) < HYPER_OUTPUT_WINDOW: a slow or absent host back-pressures the process, nothing is dropped.
 * A host connection may end at any time (hyperd killed, restarted); processes keep running. A new host sends
 * MSG_RESYNC and learns every process's state and per-stream positions; the agent then sends again every
 * unacknowledged byte (MSG_OUTPUT with OFFSET), and the host keeps only the bytes beyond what it stored.
 * A process that exited stays in the table (code, time, retained output) until MSG_RELEASE.
 */
#ifndef HYPER_PROTOCOL_H
#define HYPER_PROTOCOL_H

#define HYPER_PROTOCOL_VERSION 2
#define HYPER_MAX_FRAME (1u << 20)
#define HYPER_FRAME_HEADER 9 /* length + type + id */
#define HYPER_OUTPUT_WINDOW (256u * 1024) /* bytes per (process, stream) read but not yet acknowledged */

enum hyper_msg {
  /* requests (host -> agent) */
  MSG_PING = 1,            /* -> OK {VERSION} */
  MSG_START_POD = 2,       /* {HOSTNAME, DNS*, SEARCH*, ADDRESS?, GATEWAY?, MTU?, MAC?, HOSTS*} -> OK: with ADDRESS, eth0 gets it (and the
                            * default route via GATEWAY); DNS and SEARCH make /etc/resolv.conf and HOSTS ("ip name…" lines)
                            * /etc/hosts, both bound into every container started after */
  MSG_START_CONTAINER = 3, /* {CONTAINER, ROOTFS_KIND, ROOTFS_SOURCE, ROOTFS_FSTYPE?, ARG+, ENV*, CWD?, USER? | UID?, GID?, TTY?, ROWS?, COLS?, MOUNT*, MEMORY_MAX?, CPU_MAX?, FILE*} -> OK {PID}; E_EXISTS while a process of that name is in the table (even exited: RELEASE it first) */
  MSG_EXEC = 4,            /* {CONTAINER, PROCESS, ARG+, ENV*, CWD?, USER? | UID?, GID?, TTY?, ROWS?, COLS?, BUILTIN?} -> OK {PID};
                            * with BUILTIN=1, ARG[0] names a tool built into the agent, run in the container's namespace
                            * instead of a program from its image: "tar-out DIR NAME" writes a tar of DIR/NAME to stdout,
                            * "tar-in DEST" extracts one from stdin into DEST (a directory) or as DEST (docker cp's rule) */
  MSG_SIGNAL = 5,          /* {PROCESS, SIGNAL} -> OK */
  MSG_STDIN = 6,           /* {PROCESS, DATA} -> OK once buffered; DATA of length 0 closes stdin */
  MSG_RESIZE = 7,          /* {PROCESS, ROWS, COLS} -> OK */
  MSG_STATS = 8,           /* -> OK {MEM_TOTAL, MEM_AVAILABLE, UPTIME_MS, PROCESSES, CPU_MS, CPU_TOTAL_MS, CPUS} (bytes, ms; CPU time of
                            * all CPUs since boot: busy and in all, so that two samples give the share of the VM in use) */
  MSG_SHUTDOWN = 9,        /* -> OK, then SIGTERM to every process, SIGKILL after 2 s, sync, and the VM resets (QEMU exits) */
  MSG_RESEED = 10,         /* {DATA} -> OK: mixed into the kernel RNG and credited */
  MSG_RETIRED_WINDOW = 11, /* v1 credit-based flow control {PROCESS, BYTES}; retired in v2 (answered E_UNKNOWN), replaced by MSG_ACK */
  MSG_RESYNC = 12,         /* {} -> OK {VERSION, MESSAGE=agent build, BOOT_ID, ENTRY*}, then every unacknowledged byte again.
                            * Before replying, the agent drops the unsent events of its outgoing queue (replies stay) and
                            * rewinds every stream to its acknowledged offset. ENTRY (one per process) is a nested body:
                            *   PROCESS, CONTAINER, MAIN, PID, STATE ("running" | "exited"), EXIT_CODE and TIME_MS (exited only),
                            *   then per stream, in this order: STREAM=1, SENT, ACKED, STREAM=2, SENT, ACKED
                            *   (SENT: bytes read from the process on that stream so far; ACKED: the host's acknowledged offset).
                            * "exited" means reaped and its output at EOF, as for MSG_EXIT. */
  MSG_ACK = 13,            /* {PROCESS, STREAM, OFFSET} -> OK: the host stored that stream up to OFFSET; retained bytes below it are
                            * freed, and the send position moves up to OFFSET if it was behind. E_STATE if OFFSET is beyond SENT. */
  MSG_RELEASE = 14,        /* {PROCESS} -> OK: the host recorded the exit; the process is forgotten. E_STATE if it has not exited. */
  MSG_PS = 15,             /* {CONTAINER?} -> OK {TIME_MS=now, PS_ENTRY*, MESSAGE? (how many were left out past 4096)}: every process of
                            * every container (or of one), each PS_ENTRY a nested body: PID, PPID, UID, CONTAINER, CPU_MS (user+system),
                            * RSS (bytes), TIME_MS (started), COMMAND (argv joined by spaces, or [comm]). A process belongs to the
                            * container of its nearest ancestor the host started, else to the one whose mount namespace it shares. */
  MSG_RESTORED = 16,       /* {DATA, TIME_MS, BOOT_ID} -> OK: this guest was restored from a template's saved state, so its RNG,
                            * clock and boot id are the template's: DATA (1..4096 bytes) is mixed in and credited and the CRNG
                            * reseeded at once (RNDRESEEDCRNG), CLOCK_REALTIME is set to TIME_MS (host ms since the epoch), and
                            * BOOT_ID replaces /proc's in READY and RESYNC from now on (every clone of a template shares /proc's) */
  /* replies */
  MSG_OK = 64,
  MSG_ERROR = 65,          /* {ERROR, MESSAGE, ERRNO?} */
  /* events (agent -> host, id 0) */
  MSG_READY = 96,          /* {VERSION, MESSAGE=agent build, BOOT_ID}: at boot, and whenever the agent sees a new host connection */
  MSG_OUTPUT = 97,         /* {PROCESS, STREAM (1 stdout, 2 stderr), OFFSET (of DATA's first byte), DATA} */
  MSG_EXIT = 98,           /* {PROCESS, EXIT_CODE, TIME_MS, MESSAGE?="OOM killed" when the kernel killed it for its container's memory
                            * limit}: 128+signal for a process killed by a signal; sent after all of the
                            * process's output, once per host connection (again after a RESYNC) until RELEASE */
};

enum hyper_tag {
  TAG_VERSION = 1,
  TAG_PROCESS = 2,        /* string: a container's main process has the container's name */
  TAG_ARG = 3,
  TAG_ENV = 4,            /* "KEY=VALUE" */
  TAG_CWD = 5,
  TAG_UID = 6,
  TAG_GID = 7,
  TAG_TTY = 8,            /* 1: run on a pty (stdout only, stderr merged) */
  TAG_ROWS = 9,
  TAG_COLS = 10,
  TAG_DATA = 11,
  TAG_SIGNAL = 12,
  TAG_EXIT_CODE = 13,
  TAG_PID = 14,
  TAG_HOSTNAME = 15,
  TAG_DNS = 16,
  TAG_ROOTFS_KIND = 17,   /* "9p" (share tag), "block" (device, read-only, with a tmpfs overlay), "host" (no new root: tests) */
  TAG_ROOTFS_SOURCE = 18,
  TAG_ROOTFS_FSTYPE = 19,
  TAG_ERROR = 20,         /* enum hyper_error */
  TAG_MESSAGE = 21,
  TAG_ERRNO = 22,
  TAG_CONTAINER = 23,
  TAG_MEM_TOTAL = 24,
  TAG_MEM_AVAILABLE = 25,
  TAG_UPTIME_MS = 26,
  TAG_PROCESSES = 27,
  TAG_STREAM = 28,
  TAG_BYTES = 29,         /* only in v1's MSG_RETIRED_WINDOW */
  TAG_USER = 30,          /* "user[:group]", names or numbers, resolved in the container's /etc/passwd and /etc/group */
  TAG_OFFSET = 31,        /* u64: byte offset within one stream of one process */
  TAG_STATE = 32,         /* "running" | "exited" */
  TAG_TIME_MS = 33,       /* u64: guest CLOCK_REALTIME in ms */
  TAG_BOOT_ID = 34,       /* /proc/sys/kernel/random/boot_id, trimmed (with --host: the host's); a kernel without /proc/sys
                           * (ours: no CONFIG_PROC_SYSCTL): a random UUID the agent, PID 1 for the whole boot, draws once */
  TAG_ENTRY = 35,         /* bytes: a nested TLV body describing one process (MSG_RESYNC) */
  TAG_SENT = 36,          /* u64: bytes read from a process on the STREAM before it */
  TAG_ACKED = 37,         /* u64: acknowledged offset of the STREAM before it */
  TAG_MAIN = 38,          /* u64: 1 for a container's main process */
  TAG_CPU_MS = 39,        /* u64: CPU time in ms (STATS: busy time of all CPUs; PS: a process's user + system time) */
  TAG_CPU_TOTAL_MS = 40,  /* u64: all CPU time of all CPUs since boot, idle included, in ms */
  TAG_CPUS = 41,          /* u64: online CPUs */
  TAG_PPID = 42,          /* u64 */
  TAG_RSS = 43,           /* u64: resident memory in bytes */
  TAG_COMMAND = 44,       /* string: a process's command line */
  TAG_PS_ENTRY = 45,      /* bytes: a nested TLV body describing one process of a container (MSG_PS) */
  TAG_BUILTIN = 46,       /* u64: 1 for an exec of a tool built into the agent (ARG[0] names it) */
  TAG_ADDRESS = 47,       /* string: "a.b.c.d/prefix" for eth0 */
  TAG_GATEWAY = 48,       /* string: the default route's gateway */
  TAG_MTU = 49,           /* u64 */
  TAG_HOSTS = 50,         /* string: one /etc/hosts line, "ip name [name…]" */
  TAG_SEARCH = 51,        /* string: a DNS search domain */
  TAG_MOUNT = 52,         /* string: "ro|rw:SOURCE:TARGET" mounted at TARGET in the container: SOURCE a 9p tag, or /dev/vdX (ext4) */
  TAG_MEMORY_MAX = 53,    /* u64: a container's memory limit in bytes (its own cgroup; its execs join it) */
  TAG_CPU_MAX = 54,       /* u64: a container's CPU limit in thousandths of a vCPU */
  TAG_FILE = 55,          /* bytes: a nested body {PATH, DATA, MODE}: a file written in the container's root before it starts */
  TAG_PATH = 56,          /* string: an absolute path in the container */
  TAG_MODE = 57,          /* u64: permission bits */
  TAG_MAC = 58,           /* string: "aa:bb:cc:dd:ee:ff", eth0's hardware address (START_POD: a restored clone has its template's) */
};

enum hyper_error {
  E_MALFORMED = 1,   /* the frame or a field could not be parsed */
  E_TOO_BIG = 2,     /* the frame exceeds HYPER_MAX_FRAME */
  E_UNKNOWN = 3,     /* unknown (or retired) message type */
  E_MISSING = 4,     /* a required field is absent */
  E_NOT_FOUND = 5,   /* no such container or process */
  E_EXISTS = 6,      /* that name is taken */
  E_SYSTEM = 7,      /* a system call failed: ERRNO says which errno */
  E_STATE = 8,       /* not allowed now (e.g. stdin already closed) */
};

#endif
