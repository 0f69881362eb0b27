/* What the guest and its processes use: MSG_STATS (memory, CPU time, uptime) and MSG_PS (the processes of every container). */
#ifndef HYPER_STATS_H
#define HYPER_STATS_H
#include "wire.h"

void handle_stats(const struct frame *f);
void handle_ps(const struct frame *f);

#endif
