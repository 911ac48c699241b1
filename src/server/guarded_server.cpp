// The connection loop of GuardedServer: httplib's keep-alive loop, with a Stream that enforces the
// request deadline and the head size limit, and waits that shorten while the pool is busy.
#include "server/guarded_server.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

namespace swapmoe::server {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t k_large_request = 256u << 10;  // bytes read and written

// Waits up to `ms` for `events` on the socket; true when they came.
bool poll_for(socket_t sock, short events, int64_t ms) {
  pollfd p{sock, events, 0};
  int n;
  do {
    n = ::poll(&p, 1, static_cast<int>(std::clamp<int64_t>(ms, 0, 1 << 30)));
  } while (n < 0 && errno == EINTR);
  return n > 0 && (p.revents & (events | POLLHUP | POLLERR)) != 0;
}

void address_of(socket_t sock, bool peer, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if ((peer ? ::getpeername(sock, reinterpret_cast<sockaddr*>(&addr), &len)
            : ::getsockname(sock, reinterpret_cast<sockaddr*>(&addr), &len)) != 0)
    return;
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    port = ntohs(a->sin6_port);
  }
  ip = text;
}

// One request's reads and its reply's writes. A read past the deadline, or one that would take
// the head past its limit, fails: httplib then drops the connection without a reply.
class GuardedStream : public httplib::Stream {
 public:
  GuardedStream(socket_t sock, const ConnectionLimits& limits, const std::atomic<int>& waiting,
                std::chrono::milliseconds write_timeout, Clock::time_point start)
      : sock_(sock), limits_(limits), waiting_(waiting), write_timeout_(write_timeout), start_(start) {}

  // Polls in slices, so that a deadline shortened by the pool turning busy takes effect at once.
  bool is_readable() const override {
    for (;;) {
      const int64_t left = remaining_ms();
      if (poll_for(sock_, POLLIN, std::clamp<int64_t>(left, 0, 50))) return true;
      if (left <= 50) return false;
    }
  }
  bool is_writable() const override { return poll_for(sock_, POLLOUT, write_timeout_.count()); }

  ssize_t read(char* ptr, size_t size) override {
    if (offset_ == filled_) {
      if (!is_readable()) return -1;
      ssize_t n;
      do {
        n = ::recv(sock_, buffer_, sizeof buffer_, 0);
      } while (n < 0 && errno == EINTR);
      if (n <= 0) return n;
      offset_ = 0, filled_ = static_cast<size_t>(n);
    }
    size = std::min(size, filled_ - offset_);
    if (!count_request(buffer_ + offset_, size)) return -1;
    std::copy_n(buffer_ + offset_, size, ptr);
    offset_ += size;
    return static_cast<ssize_t>(size);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    ssize_t n;
    do {
      n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n > 0) bytes_written_ += static_cast<size_t>(n);
    return n;
  }

  size_t bytes_moved() const { return head_bytes_ + body_bytes_ + bytes_written_; }

  void get_remote_ip_and_port(std::string& ip, int& port) const override { address_of(sock_, true, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address_of(sock_, false, ip, port); }
  socket_t socket() const override { return sock_; }

 private:
  int64_t remaining_ms() const {
    const auto deadline = waiting_.load(std::memory_order_relaxed) > 0 ? limits_.busy_deadline : limits_.request_deadline;
    return std::chrono::duration_cast<std::chrono::milliseconds>(start_ + deadline - Clock::now()).count();
  }

  // Counts the bytes handed out, the head's up to the blank line that ends it and the body's
  // after it; false past either limit.
  bool count_request(const char* p, size_t n) {
    size_t i = 0;
    for (; i < n && !head_done_; ++i) {
      tail_ = (tail_ << 8) | static_cast<uint8_t>(p[i]);
      head_done_ = (tail_ & 0xffffffffu) == 0x0d0a0d0au;  // "\r\n\r\n"
      if (++head_bytes_ > limits_.max_head_bytes) return false;
    }
    body_bytes_ += n - i;
    return body_bytes_ <= limits_.max_body_bytes;
  }

  socket_t sock_;
  const ConnectionLimits& limits_;
  const std::atomic<int>& waiting_;
  std::chrono::milliseconds write_timeout_;
  Clock::time_point start_;
  char buffer_[4096];
  size_t offset_ = 0, filled_ = 0;
  size_t head_bytes_ = 0, body_bytes_ = 0, bytes_written_ = 0;
  uint64_t tail_ = 0;  // the last bytes of the head, to find its end across reads
  bool head_done_ = false;
};

}  // namespace

thread_local Clock::time_point t_accepted_at;

void CountingThreadPool::enqueue(std::function<void()> fn) {
  waiting_.fetch_add(1, std::memory_order_relaxed);
  httplib::ThreadPool::enqueue([this, fn = std::move(fn), queued = Clock::now()] {
    waiting_.fetch_sub(1, std::memory_order_relaxed);
    t_accepted_at = queued;
    fn();
  });
}

Clock::time_point CountingThreadPool::accepted_at() { return t_accepted_at; }

GuardedServer::GuardedServer(size_t n_threads, ConnectionLimits limits) : limits_(limits) {
  new_task_queue = [this, n_threads] { return new CountingThreadPool(n_threads, waiting_); };
}

void GuardedServer::widen_backlog(int backlog) {
  if (svr_sock_ != INVALID_SOCKET) ::listen(svr_sock_, backlog);  // Linux takes a new backlog on a listening socket
}

bool GuardedServer::wait_for_request(socket_t sock, Clock::time_point since) const {
  for (;;) {
    const auto limit = busy() ? limits_.busy_idle : limits_.idle;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(since + limit - Clock::now()).count();
    // Short polls, so that a pool turning busy cuts the wait short; data already there is taken
    // however late.
    if (poll_for(sock, POLLIN, std::clamp<int64_t>(left, 0, 25))) return true;
    if (left <= 0) return false;
  }
}

bool GuardedServer::process_and_close_socket(socket_t sock) {
  const std::chrono::milliseconds write_timeout(write_timeout_sec_ * 1000 + write_timeout_usec_ / 1000);
  // httplib writes a reply's head and body (and each streamed event) in separate sends: with
  // Nagle's algorithm each reply waited for the client's delayed ACK (26 ms a /health).
  const int on = 1;
  ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  bool ok = false;
  Clock::time_point since = CountingThreadPool::accepted_at();
  for (size_t left = keep_alive_max_count_; left > 0 && svr_sock_ != INVALID_SOCKET; --left) {
    if (!wait_for_request(sock, since)) break;
    GuardedStream stream(sock, limits_, waiting_, write_timeout, left == keep_alive_max_count_ ? since : Clock::now());
    // While connections wait for a thread, a reply ends its connection: a kept-alive one would
    // hold this thread for the next request's deadline (a slowloris gets a 400, then drips on).
    const bool last = left == 1 || busy();
    bool closed = false;
    ok = process_request(stream, last, closed, nullptr);
    // A large request or reply leaves its memory free in the arena of this thread (glibc keeps
    // one per thread): untrimmed, a few such requests spread over the pool grow the resident
    // size by threads x request size (measured: 25 -> 466 MiB over 15 requests of 1 MB).
    if (stream.bytes_moved() >= k_large_request) malloc_trim(0);
    if (!ok || closed || last) break;
    since = Clock::now();
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ok;
}

}  // namespace swapmoe::server
