#include "server/server_metrics.h"

namespace swapmoe::server {

void RecentRate::prune(Clock::time_point now) {
  while (!samples_.empty() && now - samples_.front().first > window_) {
    in_window_ -= samples_.front().second;
    samples_.pop_front();
  }
}

void RecentRate::add(uint64_t n) {
  std::lock_guard lock(mutex_);
  const auto now = Clock::now();
  samples_.emplace_back(now, n);
  in_window_ += n;
  prune(now);
}

double RecentRate::per_second() {
  std::lock_guard lock(mutex_);
  prune(Clock::now());
  return static_cast<double>(in_window_) / std::chrono::duration<double>(window_).count();
}

}  // namespace swapmoe::server
