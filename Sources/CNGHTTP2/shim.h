// The C the gRPC layer and the load client need: libnghttp2's public API (Debian libnghttp2-dev),
// and ppoll(2), which glibc declares only under _GNU_SOURCE (not visible to Swift's Glibc module):
// the load client waits for its socket or the next open-loop send with microsecond resolution.
#ifndef OMNISTOCK_CNGHTTP2_SHIM_H
#define OMNISTOCK_CNGHTTP2_SHIM_H
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <signal.h>
#include <time.h>

int ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *timeout, const sigset_t *sigmask);
#endif
