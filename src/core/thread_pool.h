// ThreadPool: a fixed team of workers that run one parallel-for at a time, split by {ith, nth}.
//
// Decode calls run() hundreds of times per token, so workers spin briefly on an atomic
// generation counter before sleeping: waking a thread through a condition variable for every
// matrix-vector product would cost more than the product itself on small models.
//
// The nth parts are claimed, not assigned: whichever thread is running takes the next part, the
// caller included. On a machine whose cores are shared with other processes a worker may not
// get a core for milliseconds; its part is then done by a thread that has one, instead of every
// matrix product waiting for it (which made -t 2 a hundred times slower than -t 1 under load).
//
// A part can still be caught mid-way by a preemption: a worker that loses its core while it
// runs a part holds the run for a scheduler time slice (milliseconds), which on a machine whose
// cores other processes share made every other product wait. When the caller waits for a part
// much longer than it worked itself (more than twice as long, and over 1 ms), the pool runs
// alone on the calling thread for a while (50 ms: solo_window), then tries its workers again; an
// idle machine never waits that long, so it never runs alone.
//
// A job that throws fails the run() that started it, on the calling thread, with the original
// exception: an exception must never leave a worker's thread function (that aborts the process).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace swapmoe {

class ThreadPool {
 public:
  // n_threads counts the calling thread: ThreadPool(1) runs everything inline. poll (0-100,
  // llama.cpp's --poll) sets how long an idle worker spins before it sleeps: 0 sleeps at once
  // (least CPU), 100 spins about 0.2 ms (least latency); 50 is the default.
  explicit ThreadPool(int n_threads, int poll = 50);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // The threads a run() splits into: 1 inside a SoloScope.
  int size() const { return solo_ ? 1 : n_threads_; }

  // While alive (and `active`), run() calls fn(0, 1) on the calling thread and size() is 1, so
  // callers take their one-thread paths. For work too small to pay for a hand-off: waking another
  // core and collecting its part costs microseconds (cache lines crossing cores), more than a
  // product of 256 x 256 takes, and a decode step of a model of a few MiB is dozens of such
  // products (two threads decoded the shipped model at 0.56x the speed of one). Create and
  // destroy on the calling thread, between runs; scopes nest.
  class SoloScope {
   public:
    SoloScope(ThreadPool& pool, bool active) : pool_(pool), was_(pool.solo_) {
      pool.solo_ = was_ || (active && !pool.split_small_work_);
    }
    ~SoloScope() { pool_.solo_ = was_; }
    SoloScope(const SoloScope&) = delete;
    SoloScope& operator=(const SoloScope&) = delete;

   private:
    ThreadPool& pool_;
    bool was_;
  };
  // true: SoloScopes have no effect, every run() splits (tests of the threaded paths on small models).
  void set_split_small_work(bool on) { split_small_work_ = on; }
  // Runs that handed parts to the workers so far (not those run inline).
  int64_t parallel_runs() const { return parallel_runs_; }

  // Waits for a preempted part seen so far (each started a solo window), and the window's length.
  int64_t stalls() const { return stalls_; }
  void set_solo_window(std::chrono::microseconds window) { solo_window_ = window; }

  // Runs fn(ith, nth) once for each part ith of nth = size(), each part on whichever thread
  // claims it (ith is a part, not a thread: per-part scratch indexed by ith is safe), and
  // returns when all parts have finished. Not re-entrant.
  //
  // If fn throws on any part, run() still runs every other part and waits for them to finish
  // (fn's captures stay in use until then), then rethrows the first exception captured,
  // unchanged. The pool stays usable afterwards.
  void run(const std::function<void(int ith, int nth)>& fn);

  // Runs fn(ith, job) once for each job in [0, n_jobs), the parts taking jobs in order from a
  // shared counter as they finish the last: jobs of unequal cost, or a thread that starts late
  // (woken from sleep, its core lent to another process), leave no part waiting on a share
  // fixed in advance. ith as in run(). Errors as in run().
  template <typename Fn>
  void for_each_job(int64_t n_jobs, const Fn& fn) {
    struct Shared {
      const Fn* fn;
      int64_t n_jobs;
      std::atomic<int64_t> next{0};
    } shared{&fn, n_jobs};
    Shared* sh = &shared;  // one pointer captured: std::function stores it inline
    run([sh](int ith, int) {
      for (int64_t job; (job = sh->next.fetch_add(1, std::memory_order_relaxed)) < sh->n_jobs;) (*sh->fn)(ith, job);
    });
  }

 private:
  void worker_loop();
  // Claims and runs parts of the run tagged `tag` until none is left.
  void run_parts(uint32_t tag);
  // Called from a catch block on any thread: keeps the in-flight exception if it is the first.
  void capture_error() noexcept;

  int n_threads_;
  int spin_iterations_;
  bool solo_ = false;  // inside a SoloScope (calling thread only, between runs)
  bool split_small_work_ = false;
  int64_t parallel_runs_ = 0;
  // Touched by the calling thread only (run() is not re-entrant).
  std::chrono::microseconds solo_window_{50000};
  std::chrono::steady_clock::time_point solo_until_{};
  int64_t stalls_ = 0;
  std::vector<std::thread> workers_;
  std::atomic<const std::function<void(int, int)>*> job_{nullptr};
  std::atomic<uint64_t> generation_{0};  // bumped to wake the workers
  // The run's tag (high 32 bits) and the next unclaimed part (low 32 bits), claimed by CAS, so
  // a worker that wakes after its run has ended can never take a part of the next one.
  std::atomic<uint64_t> parts_{0};
  std::atomic<int> done_{0};  // parts of the current run finished
  uint32_t tag_ = 0;
  // The first exception of the current run. Written only by the thread that sets failed_ first,
  // read by the caller once done_ reaches nth, so the nothrow path pays one relaxed load.
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<int> sleepers_{0};
};

// Splits [0, n) into nth nearly equal contiguous ranges; returns thread ith's [begin, end).
inline std::pair<long, long> split_range(long n, int ith, int nth) {
  long per = n / nth, rem = n % nth;
  long begin = ith * per + (ith < rem ? ith : rem);
  return {begin, begin + per + (ith < rem ? 1 : 0)};
}

}  // namespace swapmoe
