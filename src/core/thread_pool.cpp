#include "core/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SWAPMOE_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define SWAPMOE_CPU_RELAX() asm volatile("yield")
#else
#define SWAPMOE_CPU_RELAX() ((void)0)
#endif

namespace swapmoe {

namespace {
// At poll 50, roughly 50-100 us of spinning before a worker goes to sleep: long enough to bridge
// the gap between two kernels of one token, short enough not to burn a core while idle.
constexpr int kSpinPerPoll = 400;
// The caller spins this long for parts still running on other threads, then yields its core.
constexpr int kWaitSpin = 20000;
// A wait for another thread's part shorter than this (about a scheduler time slice) is never
// taken for a preemption: short hiccups are not worth running alone.
constexpr std::chrono::microseconds kStallMin{1000};
}  // namespace

ThreadPool::ThreadPool(int n_threads, int poll)
    : n_threads_(n_threads < 1 ? 1 : n_threads), spin_iterations_(kSpinPerPoll * std::clamp(poll, 0, 100)) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run(const std::function<void(int, int)>& fn) {
  if (n_threads_ == 1 || solo_) {
    fn(0, 1);  // inline: an exception simply propagates
    return;
  }
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  if (start < solo_until_) {
    // Alone after a preempted part (see the header): every part here, in order, errors as below.
    std::exception_ptr error;
    for (int part = 0; part < n_threads_; ++part) {
      try {
        fn(part, n_threads_);
      } catch (...) {
        if (!error) error = std::current_exception();
      }
    }
    if (error) std::rethrow_exception(error);
    return;
  }
  ++parallel_runs_;
  const uint32_t tag = ++tag_;
  job_.store(&fn, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  parts_.store(static_cast<uint64_t>(tag) << 32, std::memory_order_release);  // publishes job_ and done_
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  if (sleepers_.load(std::memory_order_acquire) > 0) wake_.notify_all();
  run_parts(tag);
  // Parts claimed by workers may still be running; after a while give our core up to them in
  // case they lost theirs.
  if (done_.load(std::memory_order_acquire) != n_threads_) {
    const Clock::time_point waiting = Clock::now();
    for (int spin = 0; done_.load(std::memory_order_acquire) != n_threads_; ++spin) {
      if (spin < kWaitSpin) {
        SWAPMOE_CPU_RELAX();
      } else {
        std::this_thread::yield();
      }
    }
    const Clock::time_point end = Clock::now();
    if (end - waiting > 2 * (waiting - start) + kStallMin) {
      ++stalls_;
      solo_until_ = end + solo_window_;
    }
  }
  job_.store(nullptr, std::memory_order_relaxed);
  // done_ reaching nth (acquire) orders every part's capture_error() before this load. The
  // reset happens before the next run's release, so no part sees a stale failure.
  if (failed_.load(std::memory_order_relaxed)) {
    std::exception_ptr error = std::move(error_);
    error_ = nullptr;
    failed_.store(false, std::memory_order_relaxed);
    std::rethrow_exception(error);
  }
}

void ThreadPool::run_parts(uint32_t tag) {
  uint64_t cur = parts_.load(std::memory_order_acquire);
  for (;;) {
    if (static_cast<uint32_t>(cur >> 32) != tag || static_cast<int>(cur & 0xffffffffu) >= n_threads_) return;
    if (!parts_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    // The part is ours and its run cannot end before done_ counts it: job_ is that run's.
    const int part = static_cast<int>(cur & 0xffffffffu);
    try {
      (*job_.load(std::memory_order_relaxed))(part, n_threads_);
    } catch (...) {
      capture_error();
    }
    done_.fetch_add(1, std::memory_order_acq_rel);  // release: publishes error_ to the caller
    cur = parts_.load(std::memory_order_acquire);
  }
}

void ThreadPool::capture_error() noexcept {
  if (!failed_.exchange(true, std::memory_order_relaxed)) error_ = std::current_exception();
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    uint64_t gen = generation_.load(std::memory_order_acquire);
    for (int spin = 0; gen == seen && spin < spin_iterations_; ++spin) {
      SWAPMOE_CPU_RELAX();
      gen = generation_.load(std::memory_order_acquire);
    }
    if (gen == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      sleepers_.fetch_add(1);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      sleepers_.fetch_sub(1);
      gen = generation_.load(std::memory_order_acquire);
    }
    seen = gen;
    if (stop_.load()) return;
    run_parts(static_cast<uint32_t>(parts_.load(std::memory_order_acquire) >> 32));
  }
}

}  // namespace swapmoe
