// Tests of the Prometheus writer (exact text) and the histogram (buckets, threads).
#include "server/prometheus.h"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "core/error.h"

namespace swapmoe::server {
namespace {

TEST(Prometheus, ExactTextOfASmallScrape) {
  Histogram h({0.1, 0.5, 1});
  for (double v : {0.05, 0.1, 0.3, 2.0}) h.observe(v);  // 0.1 is counted in le="0.1": bounds are inclusive
  PrometheusText out;
  out.counter("swapmoe_requests_total", "Requests answered.", 12, {{"endpoint", "chat"}, {"code", "200"}});
  out.counter("swapmoe_requests_total", "Requests answered.", 3, {{"endpoint", "completions"}, {"code", "400"}});
  out.gauge("swapmoe_budget_bytes", "The memory budget; 0: none.", 3221225472);
  out.gauge("swapmoe_hit_rate", "Share of tokens whose experts were all resident.", 0.93);
  out.histogram("swapmoe_request_seconds", "Time from request to last token.", h.snapshot());
  EXPECT_EQ(out.text(),
            "# HELP swapmoe_requests_total Requests answered.\n"
            "# TYPE swapmoe_requests_total counter\n"
            "swapmoe_requests_total{code=\"200\",endpoint=\"chat\"} 12\n"
            "swapmoe_requests_total{code=\"400\",endpoint=\"completions\"} 3\n"
            "# HELP swapmoe_budget_bytes The memory budget; 0: none.\n"
            "# TYPE swapmoe_budget_bytes gauge\n"
            "swapmoe_budget_bytes 3221225472\n"
            "# HELP swapmoe_hit_rate Share of tokens whose experts were all resident.\n"
            "# TYPE swapmoe_hit_rate gauge\n"
            "swapmoe_hit_rate 0.93\n"
            "# HELP swapmoe_request_seconds Time from request to last token.\n"
            "# TYPE swapmoe_request_seconds histogram\n"
            "swapmoe_request_seconds_bucket{le=\"0.1\"} 2\n"
            "swapmoe_request_seconds_bucket{le=\"0.5\"} 3\n"
            "swapmoe_request_seconds_bucket{le=\"1\"} 3\n"
            "swapmoe_request_seconds_bucket{le=\"+Inf\"} 4\n"
            "swapmoe_request_seconds_sum 2.45\n"
            "swapmoe_request_seconds_count 4\n");
}

TEST(Prometheus, HistogramWithLabelsPutsLeLast) {
  Histogram h({1});
  h.observe(0.5);
  PrometheusText out;
  out.histogram("swapmoe_tokens", "Tokens per request.", h.snapshot(), {{"endpoint", "chat"}});
  EXPECT_EQ(out.text(),
            "# HELP swapmoe_tokens Tokens per request.\n"
            "# TYPE swapmoe_tokens histogram\n"
            "swapmoe_tokens_bucket{endpoint=\"chat\",le=\"1\"} 1\n"
            "swapmoe_tokens_bucket{endpoint=\"chat\",le=\"+Inf\"} 1\n"
            "swapmoe_tokens_sum{endpoint=\"chat\"} 0.5\n"
            "swapmoe_tokens_count{endpoint=\"chat\"} 1\n");
}

TEST(Prometheus, Escaping) {
  PrometheusText out;
  out.gauge("m", "back\\slash and\nnewline \"quoted\"", 1, {{"path", "a\\b\"c\"\nd"}});
  EXPECT_EQ(out.text(),
            "# HELP m back\\\\slash and\\nnewline \"quoted\"\n"
            "# TYPE m gauge\n"
            "m{path=\"a\\\\b\\\"c\\\"\\nd\"} 1\n");
}

TEST(Prometheus, Numbers) {
  EXPECT_EQ(prometheus_number(0), "0");
  EXPECT_EQ(prometheus_number(-3), "-3");
  EXPECT_EQ(prometheus_number(1e6), "1000000");
  EXPECT_EQ(prometheus_number(18446744073709551616.0),
            "18446744073709551616");  // 2^64: beyond 2^53, the shortest round trip
  EXPECT_EQ(prometheus_number(0.1), "0.1");
  EXPECT_EQ(prometheus_number(2.5e-7), "2.5e-07");
  EXPECT_EQ(prometheus_number(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(prometheus_number(INFINITY), "+Inf");
  EXPECT_EQ(prometheus_number(-INFINITY), "-Inf");
  EXPECT_EQ(prometheus_number(NAN), "NaN");
}

TEST(Prometheus, WriterRefusesInvalidExposition) {
  PrometheusText out;
  EXPECT_THROW(out.gauge("9lives", "h", 1), Error);
  EXPECT_THROW(out.gauge("has-dash", "h", 1), Error);
  EXPECT_THROW(out.gauge("ok", "h", 1, {{"bad-label", "x"}}), Error);
  EXPECT_THROW(out.gauge("ok", "h", 1, {{"__reserved", "x"}}), Error);
  EXPECT_THROW(out.histogram("hist", "h", Histogram({1}).snapshot(), {{"le", "1"}}), Error);

  PrometheusText split;
  split.counter("a_total", "h", 1);
  split.gauge("b", "h", 1);
  EXPECT_THROW(split.counter("a_total", "h", 2), Error);  // a family's samples must be together
  EXPECT_THROW(split.counter("b", "h", 2), Error);        // and of one type
  EXPECT_NO_THROW(split.gauge("b", "h", 2, {{"x", "y"}}));
  EXPECT_NO_THROW(split.gauge("ns:name_1", "h", 2));  // colons are allowed in metric names
}

TEST(Histogram, BucketsAndSnapshot) {
  Histogram h({1, 2, 4});
  Histogram::Snapshot s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{0, 0, 0, 0}));
  EXPECT_EQ(s.count, 0u);
  for (double v : {-1.0, 1.0, 1.5, 4.0, 4.5, 1e300}) h.observe(v);
  h.observe(NAN);  // dropped
  s = h.snapshot();
  EXPECT_EQ(s.upper_bounds, (std::vector<double>{1, 2, 4}));
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{2, 3, 4, 6}));
  EXPECT_EQ(s.count, 6u);
  EXPECT_DOUBLE_EQ(s.sum, -1.0 + 1.0 + 1.5 + 4.0 + 4.5 + 1e300);
}

TEST(Histogram, RefusesBadBounds) {
  EXPECT_THROW(Histogram({1, 1}), Error);
  EXPECT_THROW(Histogram({2, 1}), Error);
  EXPECT_THROW(Histogram({1, INFINITY}), Error);
  EXPECT_THROW(Histogram({NAN}), Error);
  EXPECT_NO_THROW(Histogram({}));  // only +Inf
}

TEST(Histogram, ConcurrentObservationsAreAllCounted) {
  Histogram h({0.5});
  const int n_threads = 4, per_thread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < n_threads; ++t) {
    threads.emplace_back([&h, t] {
      for (int i = 0; i < per_thread; ++i) h.observe(t % 2 == 0 ? 0.25 : 1.0);
    });
  }
  for (int i = 0; i < 100; ++i) {
    const Histogram::Snapshot s = h.snapshot();  // a consistent snapshot while others observe
    EXPECT_EQ(s.cumulative.back(), s.count);
  }
  for (std::thread& t : threads) t.join();
  const Histogram::Snapshot s = h.snapshot();
  EXPECT_EQ(s.count, uint64_t{n_threads} * per_thread);
  EXPECT_EQ(s.cumulative[0], uint64_t{n_threads / 2} * per_thread);
  EXPECT_DOUBLE_EQ(s.sum, (0.25 + 1.0) * (n_threads / 2) * per_thread);
}

}  // namespace
}  // namespace swapmoe::server
