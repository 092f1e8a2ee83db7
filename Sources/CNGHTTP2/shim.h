// The C the gRPC layer and the load client need: libnghttp2's public API (Debian libnghttp2-dev),
// and small wrappers for the load client's event loop (epoll, eventfd, timerfd): Swift's Glibc
// module does not declare them, and `struct epoll_event` is packed on x86-64, which Swift cannot
// import field by field. The wrappers hand descriptors and event bits over as plain integers.
#ifndef OMNISTOCK_CNGHTTP2_SHIM_H
#define OMNISTOCK_CNGHTTP2_SHIM_H
#include <nghttp2/nghttp2.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>

/// What a descriptor is ready for, as `omnistock_epoll_wait` reports it.
enum {
  /// Data to read, or the peer closed, or an error (a read will tell which).
  OMNISTOCK_READY_INPUT = 1,
  /// Room to write.
  OMNISTOCK_READY_OUTPUT = 2,
  /// The peer closed (or the socket failed): read to the end, a short read is not the last one.
  OMNISTOCK_READY_HANGUP = 4,
};

/// A new epoll instance (close-on-exec), or -1 with errno set.
static inline int omnistock_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

/// Watches `fd` edge-triggered for input, output and hang-up; 0, or -1 with errno set.
static inline int omnistock_epoll_add(int epoll, int fd) {
  struct epoll_event event = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data = {.fd = fd}};
  return epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
}

/// Stops watching `fd`; 0, or -1 with errno set.
static inline int omnistock_epoll_remove(int epoll, int fd) { return epoll_ctl(epoll, EPOLL_CTL_DEL, fd, NULL); }

/// Waits up to `timeout_ms` (-1: no limit) for at most `capacity` (<= 64) ready descriptors and
/// writes each one and its OMNISTOCK_READY_* bits to `fds` and `ready`. Returns how many, or -1
/// with errno set.
static inline int omnistock_epoll_wait(int epoll, int *fds, uint32_t *ready, int capacity, int timeout_ms) {
  struct epoll_event events[64];
  if (capacity > 64) capacity = 64;
  int count = epoll_wait(epoll, events, capacity, timeout_ms);
  for (int index = 0; index < count; index++) {
    uint32_t bits = events[index].events;
    fds[index] = events[index].data.fd;
    ready[index] = ((bits & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) ? OMNISTOCK_READY_INPUT : 0)
                   | ((bits & EPOLLOUT) ? OMNISTOCK_READY_OUTPUT : 0)
                   | ((bits & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) ? OMNISTOCK_READY_HANGUP : 0);
  }
  return count;
}

/// A non-blocking eventfd (a wake-up counter), or -1 with errno set.
static inline int omnistock_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

/// A non-blocking monotonic timerfd, or -1 with errno set.
static inline int omnistock_timerfd(void) { return timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC); }

/// Arms `timer` to fire once, `nanoseconds` from now (at least 1 ns); 0, or -1 with errno set.
static inline int omnistock_timer_arm(int timer, int64_t nanoseconds) {
  if (nanoseconds < 1) nanoseconds = 1;
  struct itimerspec spec = {.it_interval = {0, 0},
                            .it_value = {.tv_sec = nanoseconds / 1000000000, .tv_nsec = nanoseconds % 1000000000}};
  return timerfd_settime(timer, 0, &spec, NULL);
}
#endif
