/* One line to the agent's stderr (the guest console): the only logging the agent does. */
#ifndef HYPER_LOG_H
#define HYPER_LOG_H

void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
