/* The guest's NIC, configured the way early userspace does without netlink: SIOCSIF* ioctls for the address, netmask,
 * MTU and link state, SIOCADDRT for the default route. */
#define _GNU_SOURCE
#include "net.h"
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int fail(int s, char *err, size_t errlen, const char *what) {
  int e = errno;
  snprintf(err, errlen, "%s: %s", what, strerror(e));
  if (s >= 0) close(s);
  errno = e;
  return -1;
}

static void set_in(struct sockaddr *sa, in_addr_t a) {
  struct sockaddr_in *sin = (struct sockaddr_in *)sa;
  memset(sin, 0, sizeof *sin);
  sin->sin_family = AF_INET;
  sin->sin_addr.s_addr = a;
}

int net_configure(const char *ifname, const char *address, const char *gateway, unsigned mtu, const char *mac, char *err, size_t errlen) {
  char ip[32];
  snprintf(ip, sizeof ip, "%s", address);
  char *slash = strchr(ip, '/');
  int prefix = slash ? atoi(slash + 1) : 24;
  if (slash) *slash = 0;
  struct in_addr addr, gw;
  if (inet_pton(AF_INET, ip, &addr) != 1 || prefix < 1 || prefix > 32) { errno = EINVAL; return fail(-1, err, errlen, "ADDRESS must be a.b.c.d/prefix"); }
  if (gateway && inet_pton(AF_INET, gateway, &gw) != 1) { errno = EINVAL; return fail(-1, err, errlen, "GATEWAY must be a.b.c.d"); }
  unsigned char hw[6];
  if (mac && sscanf(mac, "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx", &hw[0], &hw[1], &hw[2], &hw[3], &hw[4], &hw[5]) != 6) { errno = EINVAL; return fail(-1, err, errlen, "MAC must be aa:bb:cc:dd:ee:ff"); }
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return fail(s, err, errlen, "socket");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
  if (mac) {
    ifr.ifr_hwaddr.sa_family = 1; /* ARPHRD_ETHER */
    memcpy(ifr.ifr_hwaddr.sa_data, hw, 6);
    if (ioctl(s, SIOCSIFHWADDR, &ifr) < 0) return fail(s, err, errlen, "set the MAC address of eth0");
  }
  if (mtu) {
    ifr.ifr_mtu = (int)mtu;
    if (ioctl(s, SIOCSIFMTU, &ifr) < 0) return fail(s, err, errlen, "set the MTU of eth0 (is there a NIC?)");
  }
  set_in(&ifr.ifr_addr, addr.s_addr);
  if (ioctl(s, SIOCSIFADDR, &ifr) < 0) return fail(s, err, errlen, "set the address of eth0");
  set_in(&ifr.ifr_netmask, htonl(prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> prefix)));
  if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0) return fail(s, err, errlen, "set the netmask of eth0");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) return fail(s, err, errlen, "read the flags of eth0");
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) return fail(s, err, errlen, "bring eth0 up");
  if (gateway) {
    struct rtentry rt;
    memset(&rt, 0, sizeof rt);
    set_in(&rt.rt_dst, INADDR_ANY);
    set_in(&rt.rt_genmask, INADDR_ANY);
    set_in(&rt.rt_gateway, gw.s_addr);
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    rt.rt_dev = ifr.ifr_name;
    if (ioctl(s, SIOCADDRT, &rt) < 0 && errno != EEXIST) return fail(s, err, errlen, "add the default route");
  }
  close(s);
  return 0;
}
