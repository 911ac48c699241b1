// Scheduler: the one thread that owns the engine. HTTP threads submit generation jobs and get a
// ReplyChannel back; the scheduler admits jobs into N sequence slots (each a Session with its own
// KV cache, all planned inside the memory budget), and advances every active sequence with one
// batched forward a step: each decoding sequence's next token and new requests' prompt chunks
// together, so the experts are read once for all. Anything else that touches the engine (a
// budget change, a memory report) runs on this thread between two steps, through on_engine().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <vector>

#include "runtime/engine.h"
#include "runtime/reply_builder.h"
#include "runtime/session.h"
#include "server/reply_channel.h"
#include "server/server_metrics.h"

namespace swapmoe::server {

struct GenerationJob {
  std::vector<int32_t> prompt;  // tokens, BOS included when the model wants it
  SamplerParams sampling;
  int max_tokens = -1;          // -1: until end of generation or a full context
  std::vector<StopString> stops;
  bool ignore_eos = false;
};

struct SchedulerOptions {
  int n_parallel = 1;   // sequence slots (the engine must be planned for as many sessions)
  int queue_limit = 64; // jobs that may wait for a slot
};

// submit() refused a job: the queue is full, or the server is shutting down.
struct Unavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Scheduler {
 public:
  Scheduler(Engine& engine, const SchedulerOptions& options, ServerMetrics& metrics);
  ~Scheduler();  // cancels what is left and joins the engine thread
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a job; throws Unavailable when queue_limit jobs wait already or after shutdown().
  std::shared_ptr<ReplyChannel> submit(GenerationJob job);

  // Runs fn(engine) on the engine thread between two decode steps and returns its result (or
  // rethrows its exception). Throws Unavailable once the engine thread has stopped.
  template <class F>
  auto on_engine(F fn) -> std::invoke_result_t<F, Engine&> {
    using R = std::invoke_result_t<F, Engine&>;
    auto task = std::make_shared<std::packaged_task<R()>>([this, fn = std::move(fn)]() mutable { return fn(engine_); });
    std::future<R> result = task->get_future();
    post([task] { (*task)(); });
    return result.get();
  }

  // Stops admitting jobs (queued ones fail with 503), lets replies in flight finish for up to
  // `grace`, cancels the rest, and stops the engine thread.
  void shutdown(std::chrono::milliseconds grace);

 private:
  struct Slot;
  void post(std::function<void()> task);
  void loop();
  void admit(std::unique_lock<std::mutex>& lock);
  void start(Slot& slot, GenerationJob job, std::shared_ptr<ReplyChannel> channel,
             std::chrono::steady_clock::time_point queued_at);
  void step();
  void take_token(Slot& slot, int32_t token);
  void finish(Slot& slot);
  void fail(Slot& slot, const std::string& message, int status);
  bool busy() const;

  Engine& engine_;
  SchedulerOptions options_;
  ServerMetrics& metrics_;
  std::vector<std::unique_ptr<Slot>> slots_;

  struct Queued {
    GenerationJob job;
    std::shared_ptr<ReplyChannel> channel;
    std::chrono::steady_clock::time_point at;
  };
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Queued> queue_;
  std::deque<std::function<void()>> tasks_;
  bool draining_ = false;  // no new jobs
  bool stopping_ = false;  // the engine thread ends once idle
  bool stopped_ = false;
  std::atomic<int> in_flight_{0};  // slots with a reply going on (read by shutdown())
  std::thread thread_;
};

}  // namespace swapmoe::server
