/* MSG_START_CONTAINER and MSG_EXEC. */
#ifndef HYPER_CONTAINER_H
#define HYPER_CONTAINER_H
#include "wire.h"

void handle_start_container(const struct frame *f);
void handle_exec(const struct frame *f);

#endif
