#include "core/thread_pool.h"

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
// Roughly 50-100 us of spinning before a worker goes to sleep: long enough to bridge the gap
// between two kernels of one token, short enough not to burn a core while the engine is idle.
constexpr int kSpinIterations = 20000;
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
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
  if (n_threads_ == 1) {
    fn(0, 1);  // inline: an exception simply propagates
    return;
  }
  job_ = &fn;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  if (sleepers_.load(std::memory_order_acquire) > 0) wake_.notify_all();
  try {
    fn(0, n_threads_);
  } catch (...) {
    capture_error();  // the workers still use fn and its captures: wait for them first
  }
  // Spin while the others finish; on a machine whose cores are shared with other processes a
  // worker may have lost its core, so after a while give ours up instead of burning it.
  for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
    if (spin < kSpinIterations) {
      SWAPMOE_CPU_RELAX();
    } else {
      std::this_thread::yield();
    }
  }
  job_ = nullptr;
  // pending_ reaching 0 (acquire) orders every worker's capture_error() before this load. The
  // reset happens before the next generation's release, so no worker sees a stale failure.
  if (failed_.load(std::memory_order_relaxed)) {
    std::exception_ptr error = std::move(error_);
    error_ = nullptr;
    failed_.store(false, std::memory_order_relaxed);
    std::rethrow_exception(error);
  }
}

void ThreadPool::capture_error() noexcept {
  if (!failed_.exchange(true, std::memory_order_relaxed)) error_ = std::current_exception();
}

void ThreadPool::worker_loop(int ith) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t gen = generation_.load(std::memory_order_acquire);
    for (int spin = 0; gen == seen && spin < kSpinIterations; ++spin) {
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
    try {
      (*job_)(ith, n_threads_);
    } catch (...) {
      capture_error();
    }
    pending_.fetch_sub(1, std::memory_order_acq_rel);  // release: publishes error_ to the caller
  }
}

}  // namespace swapmoe
