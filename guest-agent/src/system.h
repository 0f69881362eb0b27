/* The guest as a whole: early mounts as init, the virtio port, pod-wide settings, RNG reseeding, power-off. */
#ifndef HYPER_SYSTEM_H
#define HYPER_SYSTEM_H
#include "wire.h"

/* 1: unprivileged on the host (--host, tests); 0: PID 1 in the guest. */
extern int host_mode;

void guest_init(void);
/* Opens the virtio-serial port named hyper.agent, waiting for it to appear. */
int open_port(void);
/* The id the host gave a restored clone (MSG_RESTORED); else /proc/sys/kernel/random/boot_id, trimmed; without /proc/sys, a
   random UUID drawn once per agent (= per boot for PID 1). */
const char *boot_id(void);
/* SIGTERM to every process, up to 2 s, SIGKILL; then (guest) sync and reset, (host) exit. */
void power_off(void) __attribute__((noreturn));

void handle_start_pod(const struct frame *f);
void handle_reseed(const struct frame *f);
void handle_restored(const struct frame *f);
void handle_shutdown(const struct frame *f);

#endif
