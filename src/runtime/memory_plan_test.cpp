// The memory plan against the engine: the slots a planner counts for a budget are the slots the
// engine runs, what the plan accounts is what the engine holds, sessions share an engine, and a
// read fault inside a pool job is a clean error at any thread count.
#include <gtest/gtest.h>

#include <filesystem>
#include <numeric>

#include "core/error.h"
#include "io/fault_injecting_reader.h"
#include "model/synth_model.h"
#include "runtime/engine.h"
#include "runtime/session.h"

namespace swapmoe {
namespace {

struct Shape {
  const char* name;
  int64_t n_layer, n_expert, n_embd, n_ff;
  GgmlType type;
};
// Several shapes and types, so slot prices and fixed parts differ.
const Shape kShapes[] = {
    {"l3-e16-q8_0", 3, 16, 64, 96, GgmlType::Q8_0},
    {"l2-e8-q4_K", 2, 8, 256, 256, GgmlType::Q4_K},
    {"l5-e32-q4_0", 5, 32, 64, 64, GgmlType::Q4_0},
};

std::string model_for(const Shape& shape) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("swapmoe_memplan_" + std::string(shape.name) + "_" + std::to_string(::getpid()) + ".gguf"))
                               .string();
  if (!std::filesystem::exists(path)) {
    SynthSpec s = synth_preset("tiny");
    s.n_layer = shape.n_layer, s.n_expert = shape.n_expert, s.n_embd = shape.n_embd, s.n_ff = shape.n_ff;
    s.type = shape.type;
    write_synth_model(s, path, 2);
  }
  return path;
}

void remove_model(const std::string& path) {
  std::filesystem::remove(path);
  std::filesystem::remove(path + ".expert-norms");
}

EngineOptions options(const std::string& path, const std::string& policy, const Budget& budget) {
  EngineOptions o;
  o.model_path = path;
  o.n_threads = 2;
  o.n_ctx = 64;
  o.policy = policy;
  o.budget = budget;
  return o;
}

TEST(MemoryPlan, PlannerAndEngineAgreeOnTheSlotsAtEveryBudget) {
  for (const Shape& shape : kShapes) {
    const std::string path = model_for(shape);
    for (const char* policy : {"swapmoe", "prune"}) {
      const MemoryPlan smallest = Engine::preview_plan(options(path, policy, Budget::experts("1%")));
      const uint64_t lo = smallest.minimum(), hi = smallest.full_footprint();
      for (int i = 0; i <= 8; ++i) {
        const uint64_t budget = lo + (hi - lo) * i / 8;
        const EngineOptions o = options(path, policy, Budget::of_bytes(budget));
        // What `swapmoe plan` computes: the preview's split, the planner's uniform allocation.
        const MemoryPlan preview = Engine::preview_plan(o);
        const int64_t capacity = slots_in_budget(preview.split(), budget);
        const std::vector<int> uniform = even_split(capacity, static_cast<int>(shape.n_layer), static_cast<int>(shape.n_expert));
        Engine e(o);
        EXPECT_EQ(e.policy().slots(), uniform) << shape.name << " " << policy << " at " << budget;
        EXPECT_EQ(e.memory_plan().slots, uniform) << shape.name << " " << policy << " at " << budget;
        EXPECT_LE(e.memory_account().total(), budget) << shape.name << " " << policy;
        // Nothing left over that would buy one more slot (unless every expert is resident).
        if (std::accumulate(uniform.begin(), uniform.end(), int64_t{0}) < shape.n_layer * shape.n_expert) {
          EXPECT_LT(budget - e.memory_account().total(), preview.slot_bytes) << shape.name << " " << policy;
        }
      }
    }
    remove_model(path);
  }
}

TEST(MemoryPlan, WhatThePlanAccountsIsWhatTheEngineHolds) {
  const std::string path = model_for(kShapes[0]);
  for (const char* policy : {"full", "prune", "ondemand", "swapmoe"}) {
    EngineOptions o = options(path, policy, std::string(policy) == "full" ? Budget{} : Budget::experts("50%"));
    o.n_sessions = 2;
    Engine e(o);
    Session a(e), b(e);
    const MemoryPlan& plan = e.memory_plan();
    const MemoryAccount acct = e.memory_account();
    EXPECT_EQ(plan.dense, std::string(policy) == "full" ? e.model().dense_bytes() : e.model().owned_bytes()) << policy;
    EXPECT_EQ(plan.scratch, e.transformer().scratch_bytes()) << policy;
    EXPECT_EQ(plan.expert_memory(), e.policy().resident_bytes()) << policy;
    EXPECT_EQ(plan.kv_cache, a.bytes() + b.bytes()) << policy;
    EXPECT_EQ(acct.total(), plan.total()) << policy;
  }
  remove_model(path);
}

// Logits scratch: one row a session for generation, a micro-batch of rows only when every
// position's logits are asked for (perplexity); the plan counts what the engine holds either way.
TEST(MemoryPlan, LogitsRowsFollowTheSessionsUnlessEveryPositionIsAsked) {
  const std::string path = model_for(kShapes[0]);
  EngineOptions o = options(path, "full", Budget{});
  o.n_ubatch = 32;
  o.n_sessions = 2;
  Engine generating(o);
  o.all_logits = true;
  Engine scoring(o);
  const uint64_t row = static_cast<uint64_t>(generating.model().config().n_vocab) * sizeof(float);
  EXPECT_EQ(scoring.memory_plan().scratch - generating.memory_plan().scratch, 30 * row);
  EXPECT_EQ(generating.memory_plan().scratch, generating.transformer().scratch_bytes());
  EXPECT_EQ(scoring.memory_plan().scratch, scoring.transformer().scratch_bytes());
  remove_model(path);
}

TEST(MemoryPlan, KvCacheTypesChangeWhatTheBudgetBuys) {
  const std::string path = model_for(kShapes[0]);
  EngineOptions o = options(path, "swapmoe", Budget::experts("50%"));
  o.n_ctx = 2048;
  uint64_t kv[3];
  int i = 0;
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::Q8_0}) {
    o.type_k = o.type_v = t;
    kv[i++] = Engine::preview_plan(o).kv_cache;
  }
  EXPECT_GT(kv[0], kv[1]);
  EXPECT_GT(kv[1], kv[2]);
  remove_model(path);
}

TEST(Sessions, ShareOneEngineWithoutSeeingEachOther) {
  const std::string path = model_for(kShapes[0]);
  EngineOptions o = options(path, "full", {});
  o.n_sessions = 2;
  Engine e(o);
  auto greedy_alone = [&](const std::string& prompt) {
    Session s(e);
    std::vector<int32_t> out;
    std::span<const float> l = s.prefill(e.tokenizer().encode(prompt, true));
    for (int i = 0; i < 12; ++i) {
      out.push_back(static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin()));
      l = s.step(out.back());
    }
    return out;
  };
  const auto want_a = greedy_alone("the quick brown fox"), want_b = greedy_alone("to be or not");
  Session a(e), b(e);
  EXPECT_THROW(Session c(e), Error) << "a third session beyond the two planned";
  std::span<const float> la = a.prefill(e.tokenizer().encode("the quick brown fox", true));
  std::vector<int32_t> got_a, got_b;
  got_a.push_back(static_cast<int32_t>(std::max_element(la.begin(), la.end()) - la.begin()));
  std::span<const float> lb = b.prefill(e.tokenizer().encode("to be or not", true));
  got_b.push_back(static_cast<int32_t>(std::max_element(lb.begin(), lb.end()) - lb.begin()));
  for (int i = 1; i < 12; ++i) {  // interleaved steps
    la = a.step(got_a.back());
    got_a.push_back(static_cast<int32_t>(std::max_element(la.begin(), la.end()) - la.begin()));
    lb = b.step(got_b.back());
    got_b.push_back(static_cast<int32_t>(std::max_element(lb.begin(), lb.end()) - lb.begin()));
  }
  EXPECT_EQ(got_a, want_a);
  EXPECT_EQ(got_b, want_b);
  remove_model(path);
}

TEST(EngineErrors, AReadFaultInsideAPoolJobIsACleanErrorAtAnyThreadCount) {
  for (int threads : {1, 2}) {
    const std::string path = model_for(kShapes[0]);
    std::filesystem::remove(path + ".expert-norms");  // so that start-up reads every expert in pool jobs
    EngineOptions o = options(path, "swapmoe", Budget::experts("50%"));
    o.n_threads = threads;
    o.wrap_reader = [](ByteRangeReader& file) {
      auto r = std::make_unique<FaultInjectingReader>(file);
      r->fail_from_call(7);
      return r;
    };
    try {
      Engine e(o);
      FAIL() << "no error at " << threads << " threads";
    } catch (const Error& err) {
      EXPECT_NE(std::string(err.what()).find("injected failure"), std::string::npos) << err.what();
    }
    remove_model(path);
  }
}

}  // namespace
}  // namespace swapmoe
