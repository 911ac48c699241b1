// Engine: everything needed to evaluate one model (file, tokenizer, threads, expert policy,
// forward pass), built from one set of options under an optional budget. Sequences are
// Sessions (session.h): several may share one engine, one forward at a time; the memory plan
// counts each one's KV cache.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "experts/expert_policy.h"
#include "io/direct_reader.h"
#include "model/memory_plan.h"
#include "model/model.h"
#include "model/transformer.h"
#include "tokenizer/tokenizer.h"

namespace swapmoe {

// What a planner needs to split a budget exactly as the engine accounts it.
struct BudgetPlanRequest {
  uint64_t budget = 0;  // bytes
  MemorySplit memory;
};
struct BudgetPlan {
  std::vector<int> slots;   // per layer (0 for dense layers)
  int update_interval = 0;  // 0: keep the current one
  double exact_threshold = -1;  // swapmoe; below 0: keep the current one
  // Below 0: keep the current one. Applied at start-up only: the predictor is built with the
  // policy, so a re-plan on a budget change keeps the depth the engine started with.
  int prefetch_depth = -1;
};

struct EngineOptions {
  std::string model_path;
  int n_threads = 0;      // 0: all hardware threads
  int poll = 50;          // how long idle workers spin before sleeping, 0-100 (llama.cpp's --poll)
  int64_t n_ctx = 512;    // KV cache length of each session
  int64_t n_ubatch = 64;  // tokens evaluated together during prefill
  int n_sessions = 1;     // sessions that may exist at once (each one's KV cache is budgeted)
  // Every position's logits (perplexity): scratch for a micro-batch of logits rows instead of
  // one a session. Without it Session::evaluate_all still works, n_sessions rows at a time.
  bool all_logits = false;
  GgmlType type_k = GgmlType::F16;  // KV cache types (-ctk/-ctv), llama.cpp's default
  GgmlType type_v = GgmlType::F16;
  bool flash_attn = true;  // -fa (RunShape::flash_attn)
  // The full model maps the file by default; false reads it into process memory instead
  // (llama.cpp's --no-mmap). Under a budget nothing is mapped either way.
  bool use_mmap = true;
  // Q4_0 and Q4_K weights interleaved 8 rows at a time at load for the kernels that read 8 rows
  // in one stream (tensor/interleave.h; llama.cpp's weight repacking, off with -nr/--no-repack).
  // The full model's such matrices are then copied out of the map (it is read-only and shared).
  bool interleave_weights = true;

  std::string policy = "full";  // full, prune, ondemand, cache, swapmoe
  Budget budget;                // none, bytes, share of the full footprint, or share of the experts
  std::vector<int> plan_slots;  // slots per layer from a plan (shape scaled to the budget)
  SwapMoeOptions swapmoe;
  Eviction eviction = Eviction::LRU;          // cache
  int io_threads = PolicyOptions{}.io_threads;  // expert reads in flight at once
  int prefetch_depth = 0;                       // MoE layers ahead to predict and prefetch
  std::string plan_source = "uniform";  // where the slots came from, for reports
  // Optional planner (src/planner): when set and plan_slots is empty, a byte budget is split by
  // it at start-up and again by set_memory_budget(), instead of uniformly.
  std::function<BudgetPlan(const BudgetPlanRequest&)> plan_for_budget;
  // Optional, for tests: wraps the reader experts are loaded through (fault injection, reads
  // held back), e.g. [](ByteRangeReader& file) { return std::make_unique<Faulty>(file); }.
  std::function<std::unique_ptr<ByteRangeReader>(ByteRangeReader& file)> wrap_reader;
};

// What the engine's memory goes to now, in bytes, from the objects that hold it.
struct MemoryAccount {
  uint64_t dense = 0;    // non-expert weights (owned, or mapped for the full policy)
  uint64_t experts = 0;  // expert slots and staging buffers (all experts for full)
  uint64_t kv_cache = 0; // every planned session's KV cache and logits
  uint64_t scratch = 0;  // the forward pass's buffers
  uint64_t runtime = 0;  // tokenizer, metadata and bookkeeping (estimated)
  uint64_t total() const { return dense + experts + kv_cache + scratch + runtime; }
};

class Engine;

// Holds one of an engine's planned sessions (a Session's, or an image of a classifier's batch)
// for as long as it lives; throws when all are in use.
class SessionSeat {
 public:
  explicit SessionSeat(Engine& engine);
  ~SessionSeat();
  SessionSeat(const SessionSeat&) = delete;
  SessionSeat& operator=(const SessionSeat&) = delete;

 private:
  Engine& engine_;
};

class Engine {
 public:
  explicit Engine(const EngineOptions& options);
  ~Engine();

  // The memory plan these options give, without building an engine (no expert is read, no
  // weight copied): what `swapmoe plan`, the profiler and sweeps use.
  static MemoryPlan preview_plan(const EngineOptions& options);

  const EngineOptions& options() const { return options_; }
  const Model& model() const { return *model_; }
  // Throws, naming `swapmoe classify`, for a vision model (which has none).
  const Tokenizer& tokenizer() const;
  Transformer& transformer() { return *transformer_; }
  const Transformer& transformer() const { return *transformer_; }
  ThreadPool& pool() { return *pool_; }
  ExpertPolicy& policy() { return *policy_; }
  const ExpertPolicy& policy() const { return *policy_; }
  const ExpertStore* store() const { return store_.get(); }
  RunShape run_shape() const;

  // The plan in force: budget, fixed part, slots per layer.
  const MemoryPlan& memory_plan() const { return plan_; }
  uint64_t memory_budget() const { return plan_.budget; }
  MemoryAccount memory_account() const;
  uint64_t full_footprint() const { return plan_.full_footprint(); }
  uint64_t minimum_budget() const { return plan_.minimum(); }

  // Changes the budget while serving: slots are freed before returning when it shrinks, added
  // (and filled by the policy) when it grows. Throws, changing nothing, when it cannot be met.
  void set_memory_budget(const Budget& budget);

  // The policy's counters right after start-up (cold-start loads), so that reports can show
  // the traffic of the run itself.
  const ExpertStats& startup_stats() const { return startup_stats_; }

 private:
  friend class SessionSeat;
  void open_session();   // counts sessions against the plan; throws when all are in use
  void close_session() { --n_open_sessions_; }
  // The plan for `budget`, with the planner's split when one is set. Sets the update interval
  // and the exact threshold the planner chose (and its prefetch depth, before the policy exists).
  MemoryPlan make_plan(const Budget& budget);

  EngineOptions options_;
  PolicyKind kind_ = PolicyKind::FULL;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<DirectFileReader> file_reader_;
  std::unique_ptr<ByteRangeReader> wrapped_reader_;  // options_.wrap_reader's, if any
  std::unique_ptr<ExpertStore> store_;
  std::unique_ptr<ExpertPolicy> policy_;
  std::unique_ptr<Transformer> transformer_;
  MemoryInputs inputs_;
  MemoryPlan plan_;
  int n_open_sessions_ = 0;
  ExpertStats startup_stats_;
};

int default_thread_count();

// Tokenizer tables, parsed metadata and bookkeeping: an estimate from the vocabulary.
uint64_t runtime_bytes_estimate(const Tokenizer& tokenizer);
// The same for any model: a vision model's class names and metadata instead of a vocabulary.
uint64_t runtime_bytes_estimate(const Model& model);

}  // namespace swapmoe
