// Exact routing under a budget: the expert cache's eviction rules, the loader's parallel urgent
// reads, the cache policy and swapmoe's exact threshold.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "core/error.h"
#include "experts/expert_cache.h"
#include "experts/expert_loader.h"
#include "experts/policies.h"
#include "io/direct_reader.h"
#include "io/fault_injecting_reader.h"
#include "experts/policies_test_model.h"
#include "runtime/engine.h"
#include "runtime/session.h"

namespace swapmoe {
namespace {

TEST(ExpertCache, LruEvictsTheLeastRecentlyUsed) {
  ExpertCache c(2, 8, 64, Eviction::LRU);
  c.resize(3);
  for (int e = 0; e < 3; ++e) c.commit(c.reserve(0, e));
  c.touch(c.find(0, 0));                 // 1 is now the least recently used
  c.commit(c.reserve(1, 5));
  EXPECT_LT(c.find(0, 1), 0);
  EXPECT_GE(c.find(0, 0), 0);
  EXPECT_GE(c.find(0, 2), 0);
  EXPECT_GE(c.find(1, 5), 0);
}

TEST(ExpertCache, LfuEvictsTheLeastFrequentlyRoutedAndBreaksTiesByRecency) {
  ExpertCache c(1, 8, 64, Eviction::LFU);
  c.resize(3);
  for (int e = 0; e < 3; ++e) c.commit(c.reserve(0, e));
  for (int i = 0; i < 3; ++i) c.count_use(0, 0);
  c.count_use(0, 1), c.count_use(0, 2);
  c.touch(c.find(0, 1));  // 1 and 2 are tied in frequency; 2 is older
  c.commit(c.reserve(0, 7));
  EXPECT_LT(c.find(0, 2), 0);
  EXPECT_GE(c.find(0, 0), 0);  // the most used stays although it is the least recent
  EXPECT_GE(c.find(0, 1), 0);
}

TEST(ExpertCache, PinnedEntriesAreNeverEvicted) {
  ExpertCache c(1, 8, 64, Eviction::LRU);
  c.resize(2);
  const int a = c.reserve(0, 0), b = c.reserve(0, 1);
  c.commit(a), c.commit(b);
  c.pin(a), c.pin(b);
  EXPECT_EQ(c.reserve(0, 2), -1);
  c.unpin_all();
  const int d = c.reserve(0, 2);
  ASSERT_GE(d, 0);
  c.abandon(d);  // a failed fill leaves a free entry, not a mapped one
  EXPECT_LT(c.find(0, 2), 0);
  c.resize(1);
  EXPECT_EQ(c.capacity(), 1);
  EXPECT_EQ(c.bytes(), 64u);
}

// One small MoE model: 16 experts, top-2, 3 layers.
class ExactPoliciesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { path_ = write_policies_test_model("exact"); }
  static void TearDownTestSuite() { remove_policies_test_model(path_); }

  static EngineOptions options(const std::string& policy, const std::string& share) {
    return token_by_token_options(path_, policy, share);
  }
  static std::vector<int32_t> greedy(Engine& e, int n) { return greedy_tokens(e, n); }

  static std::string path_;
};
std::string ExactPoliciesTest::path_;

TEST_F(ExactPoliciesTest, TheCacheProducesExactlyTheTokensOfFullWithEitherRule) {
  Engine full(options("full", ""));
  const std::vector<int32_t> want = greedy(full, 40);
  for (const Eviction rule : {Eviction::LRU, Eviction::LFU}) {
    EngineOptions o = options("cache", "25%");
    o.eviction = rule;
    Engine cache(o);
    EXPECT_EQ(greedy(cache, 40), want) << eviction_name(rule);
    const ExpertStats& s = cache.policy().stats();
    EXPECT_GT(s.fetches, 0u) << "a quarter of the experts cannot cover every token";
    EXPECT_EQ(s.fetches, s.loads);
    EXPECT_EQ(cache.transformer().routing_stats().fidelity(), 1.0);
  }
}

TEST_F(ExactPoliciesTest, SwapMoeWithThresholdZeroIsExactAndAboveOneNeverWaits) {
  Engine full(options("full", ""));
  const std::vector<int32_t> want = greedy(full, 40);
  EngineOptions o = options("swapmoe", "25%");
  o.swapmoe.exact_threshold = 0;
  Engine exact(o);
  EXPECT_EQ(greedy(exact, 40), want);
  EXPECT_EQ(exact.transformer().routing_stats().fidelity(), 1.0);
  EXPECT_GT(exact.policy().stats().fetches, 0u);

  o.swapmoe.exact_threshold = 1.5;
  Engine pure(o);
  greedy(pure, 40);
  EXPECT_EQ(pure.policy().stats().fetches, 0u);
  EXPECT_EQ(pure.policy().stats().stalls, 0u);
  EXPECT_LT(pure.transformer().routing_stats().fidelity(), 1.0) << "the model's routing fits 25% of its experts: the test proves nothing";
}

// A batch (a prompt evaluated at once, or a batch of images) routes to more experts than a
// quarter of the slots hold: the heavy misses left without a slot are borrowed, read one at a
// time into a staging buffer, so T = 0 stays exact; pure SwapMoE still masks them.
TEST_F(ExactPoliciesTest, ThresholdZeroIsExactInABatchWiderThanTheLayersSlots) {
  std::vector<int32_t> prompt;
  for (int i = 0; i < 48; ++i) prompt.push_back(3 + (i * 37) % 250);
  auto prompt_logits = [&](EngineOptions o) {
    o.n_ubatch = 48;
    Engine e(o);
    Session s(e);
    std::vector<float> all;
    s.evaluate_all(prompt, [&](int64_t, int64_t n, const float* logits) {
      all.insert(all.end(), logits, logits + n * e.model().config().n_vocab);
    });
    return std::make_pair(all, e.policy().stats().fetches);
  };
  const auto [want, none] = prompt_logits(options("full", ""));
  EngineOptions o = options("swapmoe", "25%");
  o.swapmoe.exact_threshold = 0;
  const auto [got, fetches] = prompt_logits(o);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-4f) << i;
  EXPECT_GT(fetches, 4u * 3u) << "more experts than one layer's 4 slots were read";
  o.swapmoe.exact_threshold = 2;
  EXPECT_NE(prompt_logits(o).first, want);
}

TEST_F(ExactPoliciesTest, AThresholdBetweenFetchesOnlyTheHeavyChoices) {
  // With top-2 and a threshold of 0.5, every token's heavier choice is at least half its weight
  // and is fetched; the lighter one never is (it is at most half, and strictly less unless tied).
  EngineOptions o = options("swapmoe", "25%");
  o.swapmoe.exact_threshold = 0.5;
  Engine mid(o);
  o.swapmoe.exact_threshold = 0;
  Engine exact(o);
  o.swapmoe.exact_threshold = 2;
  Engine pure(o);
  greedy(mid, 40), greedy(exact, 40), greedy(pure, 40);
  const ExpertStats &m = mid.policy().stats(), &x = exact.policy().stats();
  EXPECT_GT(m.fetches, 0u);
  EXPECT_LT(m.fetches, x.fetches);
  const double f_pure = pure.transformer().routing_stats().fidelity(), f_mid = mid.transformer().routing_stats().fidelity();
  EXPECT_GT(f_mid, f_pure);
  EXPECT_LT(f_mid, 1.0);
}

TEST_F(ExactPoliciesTest, AccountingStaysInsideTheBudgetWhileFetching) {
  for (double t : {0.0, 0.5}) {
    EngineOptions o = options("swapmoe", "25%");
    o.swapmoe.exact_threshold = t;
    Engine e(o);
    const uint64_t before = e.memory_account().total();
    greedy(e, 30);
    EXPECT_LE(e.memory_account().total(), e.memory_budget());
    EXPECT_EQ(e.memory_account().total(), before) << "fetches go into the slots, never beside them";
  }
}

// Counts how many reads are in progress at once; each takes a while, like storage does.
class SlowCountingReader final : public ByteRangeReader {
 public:
  explicit SlowCountingReader(ByteRangeReader& inner) : inner_(inner) {}
  void read(uint64_t offset, uint64_t n_bytes, uint8_t* dst) override {
    const int now = ++active_;
    int seen = max_.load();
    while (now > seen && !max_.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    inner_.read(offset, n_bytes, dst);
    --active_;
  }
  uint64_t size() const override { return inner_.size(); }
  const std::string& path() const override { return inner_.path(); }
  int max_concurrent() const { return max_.load(); }

 private:
  ByteRangeReader& inner_;
  std::atomic<int> active_{0}, max_{0};
};

TEST_F(ExactPoliciesTest, UrgentReadsRunInParallelAndReadTheSameBytes) {
  auto model = Model::load(path_, DenseWeights::OWNED);
  DirectFileReader file(path_);
  SlowCountingReader slow(file);
  ExpertStore store(*model, slow), plain(*model, file);
  ExpertLoader loader(store, 4);
  std::vector<AlignedBuffer> got, want;
  std::vector<LoadRequest> requests;
  for (int e = 0; e < 3; ++e) {
    got.emplace_back(store.buffer_bytes(), 4096);
    want.emplace_back(store.buffer_bytes(), 4096);
    std::memset(got.back().data(), 0, store.buffer_bytes());
    std::memset(want.back().data(), 0, store.buffer_bytes());
    plain.read(1, e + 4, want.back().data());
    requests.push_back({1, e + 4, got.back().data()});
  }
  const std::vector<LoadResult> results = loader.read_now(requests);
  ASSERT_EQ(results.size(), 3u);
  for (int e = 0; e < 3; ++e) {
    EXPECT_TRUE(results[e].ok) << results[e].error;
    EXPECT_EQ(results[e].request.expert, e + 4);
    EXPECT_EQ(std::memcmp(got[e].data(), want[e].data(), store.buffer_bytes()), 0) << "expert " << e + 4;
  }
  EXPECT_EQ(slow.max_concurrent(), 4) << "9 part reads on 4 readers";
  EXPECT_EQ(loader.in_flight(), 0) << "urgent reads are not background loads";
}

TEST_F(ExactPoliciesTest, AFailedFetchIsAClearErrorAndLeavesNothingMapped) {
  auto model = Model::load(path_, DenseWeights::OWNED);
  DirectFileReader file(path_);
  FaultInjectingReader bad(file);
  ExpertStore store(*model, bad);
  const std::vector<int> slots(model->layers.size(), 4);
  const int32_t ids[] = {14, 15};
  const float w[] = {0.75f, 0.25f};

  CacheExperts cache(store, slots, Eviction::LRU, 4);
  bad.fail_from_call(0);
  EXPECT_THROW(cache.prepare_layer(1, 1, 2, ids, w), Error);
  EXPECT_FALSE(cache.is_resident(1, 14));
  EXPECT_FALSE(cache.is_resident(1, 15));

  bad.fail_from_call(UINT64_MAX);
  SwapMoeOptions o;
  o.exact_threshold = 0;
  std::vector<std::vector<float>> mag(model->layers.size(), std::vector<float>(16, 1.0f));
  SwapMoeExperts swap(store, mag, slots, o, 4);  // cold start: experts 0-3 by (equal) magnitude
  ASSERT_FALSE(swap.is_resident(1, 14));
  bad.fail_from_call(bad.n_calls());
  try {
    swap.prepare_layer(1, 1, 2, ids, w);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expert 14 of layer 1"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(swap.is_resident(1, 14));
  EXPECT_FALSE(swap.is_resident(1, 15));
}

}  // namespace
}  // namespace swapmoe
