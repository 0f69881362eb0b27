/* Moves bytes: process pipes into retention, retention to the host as OUTPUT frames, EXIT after the last byte,
 * buffered stdin into processes; and reaps children. */
#ifndef HYPER_PUMP_H
#define HYPER_PUMP_H
#include "proctab.h"

/* (Re)registers a process's fds: an output pipe is read only while its stream has room in the window. */
void pump_watch(struct proc *p);
/* Sends OUTPUT (and due EXIT) frames while the channel has room, round-robin over processes. */
void pump_kick(void);
/* A new host: every stream is sent again from its acknowledged offset, every exit announced again. */
void pump_rewind_all(void);
/* While held, nothing is sent unprompted: a new host speaks first (its RESYNC decides where output resumes). */
void pump_hold(int held);
/* Writes buffered stdin to the process; closes its stdin when asked to and everything is written. */
void pump_stdin(struct proc *p);
/* Collects every exited child (orphans included): waitpid(-1, WNOHANG) until none is left. */
void pump_reap(void);

#endif
