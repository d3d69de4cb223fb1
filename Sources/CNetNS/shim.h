#ifndef TRAINYARD_CNETNS_SHIM_H
#define TRAINYARD_CNETNS_SHIM_H
// setns(2) is declared only under _GNU_SOURCE, which Swift's Glibc module does not define.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>

// Moves the calling thread (only it) into the network namespace that `fd` refers to.
static inline int trainyard_setns_net(int fd) { return setns(fd, CLONE_NEWNET); }
#endif
