#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"

namespace swapmoe {

TEST(ThreadPool, EveryThreadRunsOncePerCall) {
  for (int n : {1, 2, 4}) {
    ThreadPool pool(n);
    for (int iter = 0; iter < 200; ++iter) {
      std::vector<std::atomic<int>> hits(n);
      pool.run([&](int ith, int nth) {
        ASSERT_EQ(nth, n);
        hits[ith].fetch_add(1);
      });
      for (int i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1);
    }
  }
}

// Inside a SoloScope the pool is one thread: the calling thread runs the one part, size() says
// 1, nothing reaches the workers; scopes nest; set_split_small_work turns them off.
TEST(ThreadPool, SoloScopeRunsTheWorkAsOnePartOnTheCallingThread) {
  ThreadPool pool(3);
  const std::thread::id caller = std::this_thread::get_id();
  {
    const ThreadPool::SoloScope solo(pool, true);
    EXPECT_EQ(pool.size(), 1);
    {
      const ThreadPool::SoloScope inner(pool, false);
      EXPECT_EQ(pool.size(), 1) << "an inner scope keeps the outer one's choice";
    }
    std::vector<std::pair<int, int>> parts;
    bool on_caller = true;
    pool.run([&](int ith, int nth) {
      parts.emplace_back(ith, nth);
      on_caller = on_caller && std::this_thread::get_id() == caller;
    });
    EXPECT_EQ(parts, (std::vector<std::pair<int, int>>{{0, 1}}));
    EXPECT_TRUE(on_caller);
    int jobs = 0;
    pool.for_each_job(10, [&](int ith, int64_t) { jobs += ith == 0; });
    EXPECT_EQ(jobs, 10);
    EXPECT_EQ(pool.parallel_runs(), 0);
  }
  EXPECT_EQ(pool.size(), 3);
  {
    const ThreadPool::SoloScope inactive(pool, false);
    EXPECT_EQ(pool.size(), 3);
  }
  pool.run([](int, int) {});
  EXPECT_EQ(pool.parallel_runs(), 1);
  pool.set_split_small_work(true);
  const ThreadPool::SoloScope ignored(pool, true);
  EXPECT_EQ(pool.size(), 3);
}

TEST(ThreadPool, EveryPartRunsOnceAtAnyPollLevel) {
  for (int poll : {0, 50, 100}) {
    ThreadPool pool(3, poll);
    for (int iter = 0; iter < 500; ++iter) {
      std::vector<std::atomic<int>> hits(3);
      pool.run([&](int ith, int) { hits[ith].fetch_add(1); });
      for (int i = 0; i < 3; ++i) ASSERT_EQ(hits[i].load(), 1) << "poll " << poll;
    }
  }
}

TEST(ThreadPool, MorePoolsThanCoresStillFinish) {
  // Four pools of four threads on this machine's cores: workers lose their cores all the time,
  // and the parts they have not claimed are done by the threads that run.
  std::vector<std::thread> callers;
  std::atomic<long> total{0};
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&] {
      ThreadPool pool(4);
      for (int iter = 0; iter < 300; ++iter) pool.run([&](int, int) { total.fetch_add(1); });
    });
  for (auto& t : callers) t.join();
  EXPECT_EQ(total.load(), 4L * 300 * 4);
}

namespace {

// A job that throws on some threads: run() rethrows the original exception on the caller once
// every thread has finished its part, and the pool keeps working afterwards.
void expect_throw_from(int n, const std::vector<int>& throwers) {
  ThreadPool pool(n);
  for (int iter = 0; iter < 20; ++iter) {
    std::vector<std::atomic<int>> done(n);
    try {
      pool.run([&](int ith, int) {
        for (int t : throwers)
          if (t == ith) {
            done[ith].fetch_add(1);
            fail("pool test", "job failed on thread " + std::to_string(ith), "on purpose");
          }
        done[ith].fetch_add(1);
      });
      FAIL() << "no exception at " << n << " threads";
    } catch (const Error& e) {  // the original type, not a wrapper
      const std::string msg = e.what();
      bool from_a_thrower = false;
      for (int t : throwers)
        from_a_thrower |= msg == "[pool test] job failed on thread " + std::to_string(t) + "; on purpose";
      EXPECT_TRUE(from_a_thrower) << msg;
    }
    // run() returned only after every thread was done with the job.
    for (int i = 0; i < n; ++i) ASSERT_EQ(done[i].load(), 1) << "thread " << i << " of " << n;
    // Reusable at once, and a clean run after a failed one does not rethrow the old error.
    std::vector<std::atomic<int>> hits(n);
    pool.run([&](int ith, int) { hits[ith].fetch_add(1); });
    for (int i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1);
  }
}

}  // namespace

TEST(ThreadPool, AThrowOnAWorkerFailsRunWithTheOriginalError) {
  for (int n : {2, 4}) expect_throw_from(n, {n - 1});
  expect_throw_from(4, {1, 3});
}

TEST(ThreadPool, AThrowOnTheCallerFailsRunAfterTheWorkersFinish) {
  for (int n : {1, 2, 4}) expect_throw_from(n, {0});
}

TEST(ThreadPool, AThrowOnEveryThreadRethrowsOneOfThem) {
  for (int n : {1, 2, 4}) {
    std::vector<int> all;
    for (int i = 0; i < n; ++i) all.push_back(i);
    expect_throw_from(n, all);
  }
}

TEST(ThreadPool, AnyExceptionTypeCrossesUnchanged) {
  struct Custom {
    int code;
  };
  for (int n : {1, 2, 4}) {
    ThreadPool pool(n);
    EXPECT_THROW(pool.run([](int ith, int nth) {
                   if (ith == nth - 1) throw std::out_of_range("index 7");
                 }),
                 std::out_of_range);
    try {
      pool.run([](int ith, int nth) {
        if (ith == nth - 1) throw Custom{42};
      });
      FAIL() << "no exception at " << n << " threads";
    } catch (const Custom& c) {
      EXPECT_EQ(c.code, 42);
    }
  }
}

TEST(ThreadPool, ManyFailedAndCleanRunsInterleave) {
  // Exercises the reset of the captured error against the next generation (TSan checks this).
  for (int n : {2, 4}) {
    ThreadPool pool(n);
    int thrown = 0;
    for (int iter = 0; iter < 300; ++iter) {
      const bool fails = iter % 3 == 0;
      try {
        pool.run([&](int ith, int nth) {
          if (fails && ith == iter % nth) throw std::runtime_error("boom");
        });
      } catch (const std::runtime_error&) {
        ++thrown;
      }
    }
    EXPECT_EQ(thrown, 100);
  }
}

TEST(ThreadPool, SplitRangeCoversEverythingOnce) {
  for (long n : {0L, 1L, 7L, 100L})
    for (int nth : {1, 3, 8}) {
      long covered = 0, prev_end = 0;
      for (int i = 0; i < nth; ++i) {
        auto [b, e] = split_range(n, i, nth);
        EXPECT_EQ(b, prev_end);
        prev_end = e;
        covered += e - b;
      }
      EXPECT_EQ(covered, n);
    }
}

}  // namespace swapmoe

namespace swapmoe {
namespace {

TEST(ThreadPool, ForEachJobRunsEveryJobOnceOnAnyThreadCount) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    std::vector<std::atomic<int>> seen(1000);
    std::atomic<int> bad_part{0};
    pool.for_each_job(1000, [&](int ith, int64_t job) {
      if (ith < 0 || ith >= threads) bad_part.fetch_add(1);
      seen[static_cast<size_t>(job)].fetch_add(1);
    });
    for (auto& s : seen) EXPECT_EQ(s.load(), 1) << threads << " threads";
    EXPECT_EQ(bad_part.load(), 0);
    pool.for_each_job(0, [&](int, int64_t) { bad_part.fetch_add(1); });  // no jobs: nothing runs
    EXPECT_EQ(bad_part.load(), 0);
  }
}

// A worker that holds its part far longer than the caller worked (as a preempted one does) sends
// the pool alone onto the calling thread for the solo window: every part there, in order, errors
// as usual; after the window the workers take parts again. A part of equal length never does.
TEST(ThreadPool, APartHeldByAPreemptedWorkerSendsThePoolAloneForAWhile) {
  ThreadPool pool(2);
  pool.set_solo_window(std::chrono::milliseconds(200));
  const std::thread::id caller = std::this_thread::get_id();
  // Equal parts of 1 ms on each thread: waits, when any, are short (one real preemption of the
  // worker on a loaded machine could still count).
  for (int i = 0; i < 20; ++i) pool.run([&](int, int) { std::this_thread::sleep_for(std::chrono::milliseconds(1)); });
  EXPECT_LE(pool.stalls(), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(250));  // past any window that started
  const int64_t before = pool.stalls();
  // The worker's part lasts 30 ms, the caller's 1 ms: a stall (tried until a worker took a part).
  for (int i = 0; i < 50 && pool.stalls() == before; ++i)
    pool.run([&](int, int) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::this_thread::get_id() != caller ? 30 : 1));
    });
  ASSERT_EQ(pool.stalls(), before + 1);
  std::vector<int> order;
  std::atomic<int> elsewhere{0};
  pool.run([&](int ith, int nth) {  // 2 ms a part: time enough for a worker to take one, were it asked
    EXPECT_EQ(nth, 2);
    if (std::this_thread::get_id() != caller) elsewhere.fetch_add(1);
    else order.push_back(ith);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  });
  EXPECT_EQ(elsewhere.load(), 0);
  EXPECT_EQ(order, (std::vector<int>{0, 1}));
  EXPECT_THROW(pool.run([&](int ith, int) {
    if (ith == 1) throw std::runtime_error("part 1");
  }), std::runtime_error);
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  // Past the window the worker takes parts again (a part that waits for the other thread's shows it).
  bool worker_ran = false;
  for (int i = 0; i < 50 && !worker_ran; ++i) {
    std::atomic<bool> other{false};
    pool.run([&](int, int) {  // the caller's part gives a sleeping worker time to wake and take one
      if (std::this_thread::get_id() != caller) other = true;
      else std::this_thread::sleep_for(std::chrono::milliseconds(2));
    });
    worker_ran = other.load();
  }
  EXPECT_TRUE(worker_ran);
}

}  // namespace
}  // namespace swapmoe
