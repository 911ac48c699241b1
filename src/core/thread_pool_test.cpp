#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

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
