// GuardedServer: an httplib::Server whose connections cannot pin its threads. cpp-httplib 0.11
// (Debian 12's) gives each connection a pool thread for as long as the client keeps it: an idle
// socket holds one for the keep-alive wait, a client dripping its request head a byte at a time
// holds one without end, and the head may hold any number of header lines, all kept in memory.
// Here each request's head and body must arrive within a deadline from its first byte, the head
// within a size limit, the body within another, and while accepted connections wait for a thread, idle and slow ones are
// dropped at once: a flood of held sockets costs each a moment of a thread, not a thread.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstddef>

namespace swapmoe::server {

struct ConnectionLimits {
  // Counted from the connection's acceptance for its first request, from the first byte for the
  // next ones; a read fails only when it would have to wait past them, so that a request whose
  // bytes all came while it waited for a thread is served however long it waited.
  std::chrono::milliseconds request_deadline{10000};  // a request's head and body
  std::chrono::milliseconds busy_deadline{500};       // the same while connections wait for a thread
  std::chrono::milliseconds idle{5000};               // a connection's wait for its request
  // The same while connections wait for a thread. Not shorter: on a saturated machine a client's
  // first bytes can come tens of ms after the kernel accepted its connection, and closing it
  // then loses the request (20 ms lost 1 of ~1100 requests at -np 4 under 8 clients; 400: none).
  std::chrono::milliseconds busy_idle{400};
  size_t max_head_bytes = 64u << 10;                  // request line and headers
  // Bytes after the head: httplib 0.11 checks Content-Length against its payload limit, but
  // reads a chunked body whole, however long.
  size_t max_body_bytes = 4u << 20;
};

// httplib's pool, counting the connections accepted and not yet given a thread.
class CountingThreadPool : public httplib::ThreadPool {
 public:
  CountingThreadPool(size_t n_threads, std::atomic<int>& waiting) : httplib::ThreadPool(n_threads), waiting_(waiting) {}
  void enqueue(std::function<void()> fn) override;
  // On a pool thread: when the connection it serves was accepted (queued).
  static std::chrono::steady_clock::time_point accepted_at();

 private:
  std::atomic<int>& waiting_;
};

class GuardedServer : public httplib::Server {
 public:
  GuardedServer(size_t n_threads, ConnectionLimits limits);

  int connections_waiting() const { return waiting_.load(std::memory_order_relaxed); }
  // After binding: the listen backlog httplib 0.11 sets is 5, so that a burst of connections
  // beyond it waits a SYN retransmission (1 s, then 3 s) before the kernel even queues it.
  void widen_backlog(int backlog);

 private:
  bool process_and_close_socket(socket_t sock) override;
  // Waits for the first byte of a connection's next request, counting from `since`; false: none
  // came in time.
  bool wait_for_request(socket_t sock, std::chrono::steady_clock::time_point since) const;
  bool busy() const { return connections_waiting() > 0; }

  ConnectionLimits limits_;
  std::atomic<int> waiting_{0};
};

}  // namespace swapmoe::server
