// ThreadPool: a fixed team of workers that run one parallel-for at a time, split by {ith, nth}.
//
// Decode calls run() hundreds of times per token, so workers spin briefly on an atomic
// generation counter before sleeping: waking a thread through a condition variable for every
// matrix-vector product would cost more than the product itself on small models.
//
// A job that throws fails the run() that started it, on the calling thread, with the original
// exception: an exception must never leave a worker's thread function (that aborts the process).
#pragma once

#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace swapmoe {

class ThreadPool {
 public:
  // n_threads counts the calling thread: ThreadPool(1) runs everything inline.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs fn(ith, nth) once on each of the nth = size() threads, the caller being ith = 0,
  // and returns when all have finished. Not re-entrant.
  //
  // If fn throws on any thread, run() still waits for every thread to finish its part (fn's
  // captures stay in use until then), then rethrows the first exception captured, unchanged.
  // The other threads are not interrupted. The pool stays usable afterwards.
  void run(const std::function<void(int ith, int nth)>& fn);

 private:
  void worker_loop(int ith);
  // Called from a catch block on any thread: keeps the in-flight exception if it is the first.
  void capture_error() noexcept;

  int n_threads_;
  std::vector<std::thread> workers_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  // The first exception of the current run. Written only by the thread that sets failed_ first,
  // read by the caller once pending_ reaches 0, so the nothrow path pays one relaxed load.
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
