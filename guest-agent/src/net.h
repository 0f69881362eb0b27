/* The guest's network interface: address, MTU and default route on eth0, set with ioctls (no netlink, no tools). */
#ifndef HYPER_NET_H
#define HYPER_NET_H
#include <stddef.h>

/* address "a.b.c.d/prefix"; gateway NULL for none; 0 ok, -1 with errno and a message in err. */
/* mac "aa:bb:cc:dd:ee:ff" or NULL to keep the NIC's own (set while the link is still down). */
int net_configure(const char *ifname, const char *address, const char *gateway, unsigned mtu, const char *mac, char *err, size_t errlen);

#endif
