// ServerMetrics: the counters and latency histograms the server keeps for GET /metrics, updated
// by the engine thread and the HTTP threads without locks (histograms lock briefly).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <utility>

#include "server/prometheus.h"

namespace swapmoe::server {

// Tokens per second over a sliding window: what "how fast is it now" means on a dashboard.
class RecentRate {
 public:
  explicit RecentRate(std::chrono::seconds window = std::chrono::seconds(10)) : window_(window) {}
  void add(uint64_t n);
  double per_second();

 private:
  using Clock = std::chrono::steady_clock;
  void prune(Clock::time_point now);
  std::chrono::seconds window_;
  std::mutex mutex_;
  std::deque<std::pair<Clock::time_point, uint64_t>> samples_;
  uint64_t in_window_ = 0;
};

struct ServerMetrics {
  std::atomic<uint64_t> requests{0};           // completions admitted to the queue
  std::atomic<uint64_t> requests_failed{0};    // answered with an engine error
  std::atomic<uint64_t> requests_rejected{0};  // 503: queue full or shutting down
  std::atomic<uint64_t> requests_cancelled{0}; // the client went away mid-reply
  std::atomic<uint64_t> http_errors{0};        // 4xx answers
  std::atomic<uint64_t> prompt_tokens{0};      // evaluated (after the prompt cache)
  std::atomic<uint64_t> prompt_tokens_cached{0};
  std::atomic<uint64_t> completion_tokens{0};
  std::atomic<uint64_t> images_classified{0};  // vision models: POST /v1/classify
  std::atomic<uint64_t> forwards{0};           // engine forward passes
  std::atomic<uint64_t> decode_steps{0};       // forwards that advanced decoding sequences
  std::atomic<uint64_t> decode_step_tokens{0}; // decode tokens those forwards carried
  std::atomic<int64_t> queue_length{0};
  std::atomic<int64_t> active{0};
  std::atomic<uint64_t> budget_changes{0};
  Histogram time_to_first_token{{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}};
  Histogram inter_token_latency{{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}};
  RecentRate generated;
};

}  // namespace swapmoe::server
