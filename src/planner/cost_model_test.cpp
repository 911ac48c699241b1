// The latency model: swap loads never block a token, exact fetches do (read in parallel up to
// io_threads per layer), prefetch reads cost a share of their time.
#include <gtest/gtest.h>

#include "planner/cost_model.h"

namespace swapmoe {
namespace {

LatencyFigures figures() {
  LatencyFigures f;
  f.dense_compute_ms = 1.0;
  f.expert_compute_ms = 0.05;
  f.expert_load_ms = 0.5;
  f.fetch_ms = 0.5;
  f.n_moe_layers = 4;
  f.n_expert_used = 2;
  f.io_threads = 4;
  return f;
}

TEST(CostModel, TheFullModelIsComputeOnly) {
  const LatencyFigures f = figures();
  EXPECT_DOUBLE_EQ(full_model_latency_ms(f), 1.0 + 4 * 2 * 0.05);
  EXPECT_DOUBLE_EQ(predict_latency_ms(f, {}), full_model_latency_ms(f));
}

TEST(CostModel, SwapLoadsRunFreeAndPrefetchReadsCostAShare) {
  LatencyFigures f = figures();
  f.expert_load_ms = 2.0;  // far slower than a token's compute: swaps still run free
  EXPECT_DOUBLE_EQ(predict_latency_ms(f, {5.0, 0, 0}), 1.4);
  EXPECT_DOUBLE_EQ(predict_latency_ms(f, {5.0, 0, 1}), 1.4 + 0.2 * 5 * 2.0);
  f.prefetch_read_share = 0.5;
  // A fetch waits fetch_ms (the loader's wake-ups included), a prefetch read costs a share of a read.
  EXPECT_DOUBLE_EQ(predict_latency_ms(f, {5.0, 1.0, 2}), 1.4 + 1 * 0.5 + 0.5 * 4 * 2.0);
}

TEST(CostModel, FetchesBlockTheTokenAndReadInParallelPerLayer) {
  LatencyFigures f = figures();
  // 2 fetches a token over 4 MoE layers: one at a time, each waited for in full.
  EXPECT_DOUBLE_EQ(predict_latency_ms(f, {2.0, 2.0, 0}), 1.4 + 2 * 0.5);
  // 16 a token, 4 a layer: the 4 readers take them together.
  EXPECT_DOUBLE_EQ(predict_latency_ms(f, {16.0, 16.0, 0}), 1.4 + 16 * 0.5 / 4);
  // 32 a token, 8 a layer: still 4 readers.
  EXPECT_DOUBLE_EQ(predict_latency_ms(f, {32.0, 32.0, 0}), 1.4 + 32 * 0.5 / 4);
  f.io_threads = 2;
  EXPECT_DOUBLE_EQ(predict_latency_ms(f, {16.0, 16.0, 0}), 1.4 + 16 * 0.5 / 2);
  // Loads beyond the fetches are swaps: free.
  f.io_threads = 4;
  EXPECT_DOUBLE_EQ(predict_latency_ms(f, {3.0, 2.0, 0}), 1.4 + 2 * 0.5);
}

TEST(CostModel, FewerFetchesAreFaster) {
  // Prefetch hits are misses that did not wait: the model sees them as fewer fetches.
  const LatencyFigures f = figures();
  EXPECT_LT(predict_latency_ms(f, {2.0, 1.0, 1}), predict_latency_ms(f, {2.0, 2.0, 0}));
  EXPECT_LT(predict_latency_ms(f, {2.0, 1.0, 1}), predict_latency_ms(f, {2.0, 1.0, 0}) + 0.5);
}

}  // namespace
}  // namespace swapmoe
