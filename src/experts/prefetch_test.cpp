// Prediction and prefetch (--prefetch): exact policies stay exact with it, predicted experts are
// read before their layer asks for them, recall is scored, and a routing trace carries the
// predictions so that a replay on other weights prefetches what the recorded model predicted.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "experts/policies.h"
#include "experts/policies_test_model.h"
#include "io/direct_reader.h"
#include "runtime/engine.h"
#include "runtime/routing_trace.h"
#include "runtime/session.h"

namespace swapmoe {
namespace {

class PrefetchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    path_ = write_policies_test_model("prefetch");
    other_ = write_policies_test_model("prefetch_other", 7);
  }
  static void TearDownTestSuite() {
    remove_policies_test_model(path_);
    remove_policies_test_model(other_);
  }

  static EngineOptions options(const std::string& policy, const std::string& share, int prefetch,
                               const std::string& path = path_) {
    EngineOptions o = token_by_token_options(path, policy, share);
    o.prefetch_depth = prefetch;
    return o;
  }
  static std::vector<int32_t> greedy(Engine& e, int n) { return greedy_tokens(e, n); }

  static std::string path_, other_;
};
std::string PrefetchTest::path_, PrefetchTest::other_;

TEST_F(PrefetchTest, ExactPoliciesStayExactAndPredictionsAreScored) {
  Engine full(options("full", "", 0));
  const std::vector<int32_t> want = greedy(full, 40);
  struct Case {
    std::string policy;
    double threshold;
    int depth;
  };
  for (const Case& c : {Case{"cache", 2, 1}, Case{"cache", 2, 2}, Case{"swapmoe", 0, 1}, Case{"swapmoe", 0, 2}}) {
    EngineOptions o = options(c.policy, "25%", c.depth);
    o.swapmoe.exact_threshold = c.threshold;
    Engine e(o);
    const std::string name = c.policy + " depth " + std::to_string(c.depth);
    EXPECT_EQ(greedy(e, 40), want) << name;
    const ExpertStats& s = e.policy().stats();
    EXPECT_GT(s.prefetches, 0u) << name;
    EXPECT_LE(s.prefetch_hits, s.prefetches) << name;
    const RoutingStats& r = e.transformer().routing_stats();
    for (int d = 1; d <= 2; ++d) {
      EXPECT_EQ(r.predicted[d - 1] > 0, d <= c.depth) << name << ", depth " << d;
      EXPECT_LE(r.predicted_right[d - 1], r.predicted[d - 1]);
    }
    // Three MoE layers: one layer ahead, layers 1 and 2 are predicted at every token, k = 2 each.
    const uint64_t tokens = r.decisions / 3;
    EXPECT_EQ(r.predicted[0], tokens * 2 * 2) << name;
    EXPECT_GT(r.recall(1), 0.0) << name;
    // Hit rates: a whole top-k resident is rarer than each of its choices being resident.
    EXPECT_EQ(r.choices, r.decisions * 2) << name;
    EXPECT_GE(r.choice_hit_rate(), r.hit_rate()) << name;
    EXPECT_LT(r.choice_hit_rate(), 1.0) << name << ": a quarter of the experts cannot hold every choice";
  }
}

TEST_F(PrefetchTest, DeterministicLoadsMakeTheSameRunTwiceTheSame) {
  // Quality figures must be repeatable: with --deterministic (the default of perplexity), loads
  // land at fixed steps, so fetches, prefetches and swaps, and thus the tokens, repeat exactly.
  for (const std::string policy : {"swapmoe", "cache"}) {
    EngineOptions o = options(policy, "25%", 1);
    o.swapmoe.exact_threshold = 0.5;
    Engine a(o), b(o);
    EXPECT_EQ(greedy_tokens(a, 40), greedy_tokens(b, 40)) << policy;
    const ExpertStats &sa = a.policy().stats(), &sb = b.policy().stats();
    EXPECT_EQ(sa.loads, sb.loads) << policy;
    EXPECT_EQ(sa.fetches, sb.fetches) << policy;
    EXPECT_EQ(sa.prefetches, sb.prefetches) << policy;
    EXPECT_EQ(sa.swaps, sb.swaps) << policy;
    EXPECT_EQ(a.transformer().routing_stats().faithful, b.transformer().routing_stats().faithful) << policy;
  }
}

TEST_F(PrefetchTest, TheCacheReadsPredictedExpertsBeforeTheirLayerAsks) {
  auto model = Model::load(path_, DenseWeights::OWNED);
  DirectFileReader file(path_);
  ExpertStore store(*model, file);
  CacheExperts cache(store, std::vector<int>(model->layers.size(), 4), Eviction::LRU, 4, 1);
  const int32_t now[] = {0, 1}, next[] = {5, 6};
  const float w[] = {0.7f, 0.3f};
  cache.prefetch(2, 1, 2, next, w);      // predicted while layer 1 computes
  cache.prepare_layer(1, 1, 2, now, w);  // layer 1's own misses first, then the predictions start
  EXPECT_EQ(cache.stats().fetches, 2u);
  EXPECT_EQ(cache.stats().prefetches, 2u);
  cache.layer_boundary(1);
  cache.prepare_layer(2, 1, 2, next, w);
  EXPECT_EQ(cache.stats().fetches, 2u) << "layer 2's experts were already read";
  EXPECT_EQ(cache.stats().prefetch_hits, 2u);
  EXPECT_TRUE(cache.is_resident(2, 5));
  EXPECT_TRUE(cache.is_resident(2, 6));
}

TEST_F(PrefetchTest, SwapMoeInstallsPredictionsAndLetsThemBeRoutedTo) {
  auto model = Model::load(path_, DenseWeights::OWNED);
  DirectFileReader file(path_);
  ExpertStore store(*model, file);
  SwapMoeOptions o;
  o.deterministic = true;  // a prediction lands before its layer
  std::vector<std::vector<float>> mag(model->layers.size(), std::vector<float>(16, 1.0f));
  SwapMoeExperts swap(store, mag, std::vector<int>(model->layers.size(), 4), o, 4, 1);
  ASSERT_FALSE(swap.is_resident(2, 14));  // cold start: experts 0-3 by (equal) magnitude
  const int32_t next[] = {14, 15};
  const float w[] = {0.6f, 0.4f};
  swap.prefetch(2, 1, 2, next, w);
  EXPECT_TRUE(swap.is_resident(2, 14));
  EXPECT_TRUE(swap.is_resident(2, 15));
  EXPECT_EQ(swap.stats().prefetches, 2u);
  EXPECT_EQ(swap.usable_mask(2)[14], 1);
  swap.observe(2, 1, 2, next, w, std::vector<float>{1.0f}.data());
  EXPECT_EQ(swap.stats().prefetch_hits, 2u);

  // With a threshold, only a prediction heavy enough to be fetched is read ahead.
  o.exact_threshold = 0.5;
  SwapMoeExperts hybrid(store, mag, std::vector<int>(model->layers.size(), 4), o, 4, 1);
  hybrid.prefetch(2, 1, 2, next, w);
  EXPECT_TRUE(hybrid.is_resident(2, 14));
  EXPECT_FALSE(hybrid.is_resident(2, 15)) << "0.4 of the token's weight: it would be masked, not fetched";
}

TEST_F(PrefetchTest, ATraceCarriesPredictionsThatAReplayOnOtherWeightsUses) {
  const std::string trace = path_ + ".predicted.jsonl";
  double recorded_recall = 0;
  {
    Engine e(options("full", "", 0));
    RoutingTraceWriter writer(trace, e.model(), 2);
    RoutingHooks& h = e.transformer().hooks;
    h.on_routing = [&](const RoutingEvent& ev) { writer.record(ev); };
    h.on_prediction = [&](int64_t pos, int layer, int d, int k, const int32_t* ids, const float* w) {
      writer.record_prediction(pos, layer, d, k, ids, w);
    };
    h.prediction_depth = writer.prediction_depth();
    greedy(e, 24);
    greedy(e, 8);  // a second sequence
    writer.flush();
    recorded_recall = e.transformer().routing_stats().recall(1);
  }
  std::ifstream in(trace);
  std::string first;
  std::getline(in, first);
  EXPECT_NE(first.find("\"predicted\":[[[],["), std::string::npos) << first;

  // The other model has the same shape and different weights: its own routers would predict
  // other experts. Replaying routing and predictions, it must score exactly the recorded recall.
  Engine e(options("cache", "25%", 1, other_));
  RoutingTraceReader reader(trace, e.model());
  EXPECT_EQ(reader.prediction_depth(), 2);
  RoutingHooks& h = e.transformer().hooks;
  h.replay_routing = [&](int64_t pos, int layer, int k, int32_t* ids, float* w) { return reader.replay(pos, layer, k, ids, w); };
  h.replay_prediction = [&](int64_t pos, int layer, int d, int k, int32_t* ids, float* w) {
    return reader.replay_prediction(pos, layer, d, k, ids, w);
  };
  greedy(e, 24);
  greedy(e, 8);
  EXPECT_EQ(reader.misses(), 0u);
  EXPECT_DOUBLE_EQ(e.transformer().routing_stats().recall(1), recorded_recall);
  std::filesystem::remove(trace);
}

TEST_F(PrefetchTest, AMalformedPredictionInATraceIsAClearError) {
  Engine e(options("full", "", 0));
  const std::string trace = path_ + ".bad.jsonl";
  std::ofstream(trace) << R"({"seq":0,"pos":0,"experts":[[0,1],[2,3],[4,5]],"weights":[[0.5,0.5],[0.5,0.5],[0.5,0.5]],)"
                       << R"("predicted":[[[],[2,99],[4,5]]],"predicted_weights":[[[],[0.5,0.5],[0.5,0.5]]]})" << "\n";
  try {
    RoutingTraceReader reader(trace, e.model());
    FAIL() << "no error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find(":1: expert id 99 out of range"), std::string::npos) << err.what();
  }
  std::filesystem::remove(trace);
}

}  // namespace
}  // namespace swapmoe
