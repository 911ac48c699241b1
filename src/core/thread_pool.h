// ThreadPool: a fixed team of workers that run one parallel-for at a time, split by {ith, nth}.
//
// Decode calls run() hundreds of times per token, so workers spin briefly on an atomic
// generation counter before sleeping: waking a thread through a condition variable for every
// matrix-vector product would cost more than the product itself on small models.
#pragma once

#include <atomic>
#include <condition_variable>
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
  void run(const std::function<void(int ith, int nth)>& fn);

 private:
  void worker_loop(int ith);

  int n_threads_;
  std::vector<std::thread> workers_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
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
