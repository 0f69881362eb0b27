/* say(): formats one line and writes it to stderr in one write, so lines from the agent never interleave. */
#include "log.h"
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

void say(const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
  buf[n++] = '\n';
  (void)!write(2, buf, (size_t)n);
}
