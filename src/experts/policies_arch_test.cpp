// Every expert policy on every MoE architecture under a memory budget: the qwen3moe, olmoe,
// qwen2moe and deepseek2 forward paths (per-head and whole q/k norms, biases, a gated shared
// expert, latent attention with a leading dense layer before the MoE layers, softmax and
// group-limited sigmoid routers with and without renormalisation) under full, prune, ondemand and swapmoe, with routing traces
// recorded and replayed.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <span>

#include "model/synth_model.h"
#include "runtime/engine.h"
#include "runtime/routing_trace.h"
#include "runtime/session.h"

namespace swapmoe {
namespace {

class PoliciesOnArchTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    SynthSpec s = synth_preset(GetParam());
    s.n_layer = 3;
    s.type = GgmlType::Q8_0;
    path_ = (std::filesystem::temp_directory_path() /
             (std::string("swapmoe_policies_") + GetParam() + "_" + std::to_string(::getpid()) + ".gguf"))
                .string();
    write_synth_model(s, path_, 2);
  }
  void TearDown() override {
    std::filesystem::remove(path_);
    std::filesystem::remove(path_ + ".expert-norms");
  }

  // share: of each layer's experts ("25%"); "" for none.
  EngineOptions options(const std::string& policy, const std::string& share = "") const {
    EngineOptions o;
    o.model_path = path_;
    o.n_threads = 2;
    o.n_ctx = 96;
    o.policy = policy;
    if (!share.empty()) o.budget = Budget::experts(share);
    return o;
  }

  // Greedy decoding of n tokens (EOS ignored); check() runs after every step.
  static std::vector<int32_t> greedy(Engine& e, int n, const std::function<void()>& check = {}) {
    Session session(e);
    std::span<const float> logits = session.prefill(e.tokenizer().encode("the quick brown fox", true));
    std::vector<int32_t> out;
    while (static_cast<int>(out.size()) < n) {
      out.push_back(static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin()));
      logits = session.step(out.back());
      if (check) check();
    }
    return out;
  }

  std::string path_;
};

TEST_P(PoliciesOnArchTest, OnDemandUnderABudgetGivesTheTokensOfFull) {
  Engine full(options("full"));
  Engine ondemand(options("ondemand", "25%"));  // 2 of 8 experts a layer: most tokens load some
  EXPECT_EQ(greedy(full, 24), greedy(ondemand, 24));
  EXPECT_GT(ondemand.policy().stats().stalls, 0u);
  EXPECT_EQ(ondemand.transformer().routing_stats().fidelity(), 1.0);
}

TEST_P(PoliciesOnArchTest, EveryPolicyStaysWithinItsBudget) {
  for (const char* policy : {"prune", "ondemand", "cache", "swapmoe"}) {
    Engine probe(options(policy, "25%"));
    const uint64_t lo = probe.minimum_budget(), hi = probe.full_footprint();
    EngineOptions o = options(policy);
    o.budget = Budget::of_bytes(lo + (hi - lo) / 3);
    Engine e(o);
    ASSERT_LT(e.memory_budget(), hi) << policy;
    greedy(e, 24, [&] { ASSERT_LE(e.memory_account().total(), e.memory_budget()) << policy; });
    EXPECT_GT(e.transformer().routing_stats().decisions, 0u) << policy;
  }
}

TEST_P(PoliciesOnArchTest, SharedExpertsAreDenseMemory) {
  Engine e(options("swapmoe", "50%"));
  const Model& m = e.model();
  // The routed experts are all the swappable bytes; everything else (a shared expert included)
  // is dense and always resident.
  uint64_t routed = 0;
  for (const LayerWeights& l : m.layers) routed += static_cast<uint64_t>(m.config().n_expert) * l.expert_bytes();
  EXPECT_EQ(m.expert_bytes(), routed);
  // Leading dense layers (deepseek2) are dense memory too.
  uint64_t shared = 0, dense_ffn = 0;
  bool any_shared = false;
  for (size_t il = 0; il < m.layers.size(); ++il) {
    const LayerWeights& l = m.layers[il];
    any_shared = any_shared || m.config().layers[il].ffn == FfnKind::MOE_SHARED;
    for (const TensorView* v : {&l.shexp_gate, &l.shexp_up, &l.shexp_down, &l.shexp_gate_inp}) shared += v->n_bytes();
    for (const TensorView* v : {&l.ffn_gate, &l.ffn_up, &l.ffn_down}) dense_ffn += v->n_bytes();
  }
  EXPECT_EQ(shared > 0, any_shared);
  EXPECT_GE(e.memory_account().dense, shared + dense_ffn);
}

TEST_P(PoliciesOnArchTest, ARecordedRoutingTraceReplaysToTheSameTokens) {
  const std::string trace = path_ + ".routing.jsonl";
  std::vector<int32_t> recorded;
  {
    Engine e(options("full"));
    RoutingTraceWriter writer(trace, e.model());
    e.transformer().hooks.on_routing = [&](const RoutingEvent& ev) { writer.record(ev); };
    recorded = greedy(e, 16);
    writer.flush();
  }
  Engine e(options("full"));
  RoutingTraceReader reader(trace, e.model());
  EXPECT_GT(reader.n_tokens(), 16u);
  e.transformer().hooks.replay_routing = [&](int64_t pos, int layer, int k, int32_t* ids, float* w) {
    return reader.replay(pos, layer, k, ids, w);
  };
  EXPECT_EQ(greedy(e, 16), recorded);
  EXPECT_EQ(reader.misses(), 0u);
  std::filesystem::remove(trace);
}

INSTANTIATE_TEST_SUITE_P(Architectures, PoliciesOnArchTest,
                         ::testing::Values("tiny-qwen3moe", "tiny-olmoe", "tiny-qwen2moe", "tiny-gptoss",
                                           "tiny-deepseek2", "tiny-deepseek2-v3"),
                         [](const auto& info) {
                           std::string name = std::string(info.param).substr(5);
                           std::replace(name.begin(), name.end(), '-', '_');  // gtest names: no dashes
                           return name;
                         });

}  // namespace
}  // namespace swapmoe
