#ifndef TRAINYARD_CLIBEVENT_SHIM_H
#define TRAINYARD_CLIBEVENT_SHIM_H
// libc headers first: <event2/event-config.h> defines _GNU_SOURCE, which otherwise makes the
// Clang module's fd_set disagree with SwiftGlibc's (swiftlang/swift#69311).
#include <sys/types.h>
#include <sys/select.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <event2/util.h>

#endif
