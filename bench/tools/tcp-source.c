/* bench/net-volumes: connects to HOST PORT and writes MB megabytes as fast as it can, then prints MB/s. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "usage: tcp-source HOST PORT MB\n"); return 2; }
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
  inet_pton(AF_INET, argv[1], &a.sin_addr);
  for (int i = 0; connect(s, (struct sockaddr *)&a, sizeof a) < 0; i++) {
    if (i == 100) { perror("tcp-source: connect"); return 1; }
    close(s);
    s = socket(AF_INET, SOCK_STREAM, 0);
    usleep(50000);
  }
  static char buf[1 << 16];
  memset(buf, 'x', sizeof buf);
  long long want = atoll(argv[3]) * 1000000LL, sent = 0;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (sent < want) {
    ssize_t n = write(s, buf, (size_t)(want - sent < (long long)sizeof buf ? want - sent : (long long)sizeof buf));
    if (n <= 0) { perror("tcp-source: write"); return 1; }
    sent += n;
  }
  shutdown(s, SHUT_WR);
  char c;
  while (read(s, &c, 1) > 0) {}
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("sent %lld bytes in %.3f s: %.1f MB/s\n", sent, secs, (double)sent / 1e6 / secs);
  return 0;
}
