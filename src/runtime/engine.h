// Engine: everything needed to evaluate one model (file, tokenizer, threads, expert policy,
// forward pass with its KV cache), built from one set of options, under an optional budget.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "experts/expert_policy.h"
#include "io/direct_reader.h"
#include "model/model.h"
#include "model/transformer.h"
#include "tokenizer/tokenizer.h"

namespace swapmoe {

// What a planner needs to split a budget exactly as the engine accounts it (bytes).
struct BudgetPlanRequest {
  uint64_t budget = 0;
  uint64_t fixed = 0;       // dense weights, KV cache, scratch, runtime
  uint64_t staging = 0;     // swapmoe staging buffers
  uint64_t slot_bytes = 0;  // one expert slot
};
struct BudgetPlan {
  std::vector<int> slots;   // per layer (0 for dense layers)
  int update_interval = 0;  // 0: keep the current one
};

struct EngineOptions {
  std::string model_path;
  int n_threads = 0;      // 0: all hardware threads
  int64_t n_ctx = 512;    // KV cache length
  int64_t n_ubatch = 64;  // tokens evaluated together during prefill

  std::string policy = "full";       // full, prune, ondemand, swapmoe
  std::string memory_budget;         // "" (none), "512M", "3.5G", or "40%" of the full footprint
  double expert_fraction = 0;        // > 0: keep this share of each layer's experts (sets the budget)
  std::vector<int> plan_slots;       // slots per layer from a plan (overrides the uniform split)
  SwapMoeOptions swapmoe;
  std::string plan_source = "uniform";  // where the slots came from, for reports
  // Optional planner (src/planner): when set and plan_slots is empty, a --memory-budget is split
  // by it at start-up and again by set_memory_budget(), instead of uniformly.
  std::function<BudgetPlan(const BudgetPlanRequest&)> plan_for_budget;
};

// What the engine's memory goes to, in bytes.
struct MemoryAccount {
  uint64_t dense = 0;    // non-expert weights (owned, or mapped for the full policy)
  uint64_t experts = 0;  // expert slots and staging buffers (all experts for full)
  uint64_t kv_cache = 0;
  uint64_t scratch = 0;  // activations and logits
  uint64_t runtime = 0;  // tokenizer, metadata and bookkeeping (estimated)
  uint64_t total() const { return dense + experts + kv_cache + scratch + runtime; }
};

class Engine {
 public:
  explicit Engine(const EngineOptions& options);
  ~Engine();

  const EngineOptions& options() const { return options_; }
  const Model& model() const { return *model_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  Transformer& transformer() { return *transformer_; }
  ThreadPool& pool() { return *pool_; }
  ExpertPolicy& policy() { return *policy_; }
  const ExpertPolicy& policy() const { return *policy_; }
  const ExpertStore* store() const { return store_.get(); }

  // The budget in force (0: none) and what is accounted against it now.
  uint64_t memory_budget() const { return budget_; }
  MemoryAccount memory_account() const;
  // Bytes the full model would take (every expert resident): what "100%" means.
  uint64_t full_footprint() const;
  // The smallest budget this policy can run in (one slot per MoE layer).
  uint64_t minimum_budget() const;

  // Changes the budget while serving: slots are freed before returning when it shrinks, added
  // (and filled by the policy) when it grows. Throws, changing nothing, when it cannot be met.
  void set_memory_budget(uint64_t bytes);
  // Slots per layer for a budget, split uniformly (or by the plan, scaled to fit).
  std::vector<int> slots_for_budget(uint64_t bytes) const;

  // Called between a prompt's prefill and its first decoded token.
  void finish_prefill();

  // The policy's counters right after start-up (cold-start loads), so that reports can show
  // the traffic of the run itself.
  const ExpertStats& startup_stats() const { return startup_stats_; }

 private:
  uint64_t fixed_bytes() const;    // everything but expert memory
  uint64_t staging_bytes() const;  // swapmoe's staging buffers (0 for the other policies)
  // Slots from options_.plan_for_budget, checked against the budget; sets the update interval.
  std::vector<int> planned_slots(uint64_t bytes);

  EngineOptions options_;
  PolicyKind kind_ = PolicyKind::FULL;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<DirectFileReader> reader_;
  std::unique_ptr<ExpertStore> store_;
  std::unique_ptr<ExpertPolicy> policy_;
  std::unique_ptr<Transformer> transformer_;
  uint64_t budget_ = 0;
  uint64_t runtime_bytes_ = 0;
  ExpertStats startup_stats_;
};

int default_thread_count();

// Parses "512M", "3.5G", "123456" or "40%" (of full_footprint). Throws with a hint.
uint64_t parse_memory_budget(const std::string& text, uint64_t full_footprint);

}  // namespace swapmoe
