/* hyper guest-agent wire protocol, version 1: the one definition, mirrored by src/guest/protocol.ts on the host.
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
 */
#ifndef HYPER_PROTOCOL_H
#define HYPER_PROTOCOL_H

#define HYPER_PROTOCOL_VERSION 1
#define HYPER_MAX_FRAME (1u << 20)
#define HYPER_FRAME_HEADER 9 /* length + type + id */

enum hyper_msg {
  /* requests (host -> agent) */
  MSG_PING = 1,            /* -> OK {VERSION} */
  MSG_START_POD = 2,       /* {HOSTNAME, DNS*} -> OK */
  MSG_START_CONTAINER = 3, /* {CONTAINER, ROOTFS_KIND, ROOTFS_SOURCE, ROOTFS_FSTYPE?, ARG+, ENV*, CWD?, USER? | UID?, GID?, TTY?, ROWS?, COLS?} -> OK {PID} */
  MSG_EXEC = 4,            /* {CONTAINER, PROCESS, ARG+, ENV*, CWD?, USER? | UID?, GID?, TTY?, ROWS?, COLS?} -> OK {PID} */
  MSG_SIGNAL = 5,          /* {PROCESS, SIGNAL} -> OK */
  MSG_STDIN = 6,           /* {PROCESS, DATA} -> OK once buffered; DATA of length 0 closes stdin */
  MSG_RESIZE = 7,          /* {PROCESS, ROWS, COLS} -> OK */
  MSG_STATS = 8,           /* -> OK {MEM_TOTAL, MEM_AVAILABLE, UPTIME_MS, PROCESSES} (bytes, ms) */
  MSG_SHUTDOWN = 9,        /* -> OK, then SIGTERM to every process, SIGKILL after 2 s, sync, and the VM resets (QEMU exits) */
  MSG_RESEED = 10,         /* {DATA} -> OK: mixed into the kernel RNG and credited */
  MSG_WINDOW = 11,         /* {PROCESS, BYTES}: the host consumed BYTES of output; the agent may send that much more */
  /* replies */
  MSG_OK = 64,
  MSG_ERROR = 65,          /* {ERROR, MESSAGE, ERRNO?} */
  /* events (agent -> host, id 0) */
  MSG_READY = 96,          /* {VERSION, MESSAGE=agent build} once the channel is open */
  MSG_OUTPUT = 97,         /* {PROCESS, STREAM (1 stdout, 2 stderr), DATA} */
  MSG_EXIT = 98,           /* {PROCESS, EXIT_CODE}: 128+signal for a process killed by a signal */
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
  TAG_BYTES = 29,
  TAG_USER = 30,          /* "user[:group]", names or numbers, resolved in the container's /etc/passwd and /etc/group */
};

enum hyper_error {
  E_MALFORMED = 1,   /* the frame or a field could not be parsed */
  E_TOO_BIG = 2,     /* the frame exceeds HYPER_MAX_FRAME */
  E_UNKNOWN = 3,     /* unknown message type */
  E_MISSING = 4,     /* a required field is absent */
  E_NOT_FOUND = 5,   /* no such container or process */
  E_EXISTS = 6,      /* that name is taken */
  E_SYSTEM = 7,      /* a system call failed: ERRNO says which errno */
  E_STATE = 8,       /* not allowed now (e.g. stdin already closed) */
};

#endif
