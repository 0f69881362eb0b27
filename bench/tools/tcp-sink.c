/* bench/net-volumes: accepts one TCP connection, reads it to EOF, prints the bytes and MB/s, and exits. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(argc > 1 ? atoi(argv[1]) : 5001), .sin_addr.s_addr = INADDR_ANY};
  if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 1) < 0) { perror("tcp-sink"); return 1; }
  printf("listening\n");
  fflush(stdout);
  int c = accept(s, NULL, NULL);
  static char buf[1 << 16];
  long long total = 0;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  ssize_t n;
  while ((n = read(c, buf, sizeof buf)) > 0) total += n;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("received %lld bytes in %.3f s: %.1f MB/s\n", total, secs, (double)total / 1e6 / secs);
  close(c);
  return 0;
}
