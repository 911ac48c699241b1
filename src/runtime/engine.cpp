#include "runtime/engine.h"

#include <algorithm>
#include <thread>

#include <fmt/format.h>

#include "core/error.h"
#include "core/memory_stats.h"
#include "experts/expert_magnitudes.h"
#include "experts/policies.h"

namespace swapmoe {

int default_thread_count() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

uint64_t runtime_bytes_estimate(const Tokenizer& tokenizer) {
  uint64_t vocab_text = 0;
  for (int32_t i = 0; i < tokenizer.n_vocab(); ++i) vocab_text += tokenizer.vocab().token(i).text.size();
  return 3 * vocab_text + static_cast<uint64_t>(tokenizer.n_vocab()) * 200 + (4ull << 20);
}

uint64_t runtime_bytes_estimate(const Model& model) {
  // A vision model has no tokenizer: its class names and the metadata.
  if (!model.config().is_vision()) return runtime_bytes_estimate(Tokenizer::from_gguf(model.file()));
  uint64_t labels = 0;
  for (const std::string& l : model.config().vision.labels) labels += l.size() + 32;
  return labels + (4ull << 20);
}

namespace {

EngineOptions resolved(EngineOptions o) {
  if (o.n_threads <= 0) o.n_threads = default_thread_count();
  if (o.n_threads > 1024)
    fail("engine", fmt::format("{} threads requested", o.n_threads), "use -t with at most the number of cores");
  if (o.n_sessions < 1) fail("engine", fmt::format("{} sessions requested", o.n_sessions), "use at least 1");
  return o;
}

RunShape run_shape_of(const EngineOptions& o) {
  return {o.n_ctx, std::max<int64_t>(1, o.n_ubatch), o.n_threads, o.n_sessions, o.type_k, o.type_v, o.flash_attn,
          o.all_logits ? 0 : o.n_sessions};
}

// The plan for `budget` under these options: the memory plan's uniform split (or the plan
// file's shape), or the planner's split when one is set. *tuning receives the planner's
// settings besides the slots (update interval, exact threshold, prefetch depth; "keep" when none).
MemoryPlan plan_for(const MemoryInputs& in, const EngineOptions& o, PolicyKind kind, const Budget& budget,
                    BudgetPlan* tuning) {
  PlanSettings settings;
  settings.budget = budget;
  *tuning = {};
  if (kind == PolicyKind::FULL) return plan_memory(in, run_shape_of(o), settings);
  const bool pooled = kind == PolicyKind::ONDEMAND || kind == PolicyKind::CACHE;
  settings.holding = pooled ? ExpertHolding::SHARED_POOL : ExpertHolding::PER_LAYER;
  settings.staging_buffers = kind == PolicyKind::SWAPMOE ? o.swapmoe.staging_buffers : 0;
  settings.slot_shape = o.plan_slots;
  MemoryPlan plan = plan_memory(in, run_shape_of(o), settings);
  if (!o.plan_for_budget || !o.plan_slots.empty() || budget.kind == Budget::EXPERT_SHARE) return plan;
  const BudgetPlan split = o.plan_for_budget({plan.budget, plan.split()});
  // The planner is trusted with the split, not with the budget: check it like a plan file.
  bool ok = split.slots.size() == plan.slots.size();
  int64_t n_slots = 0;
  for (size_t l = 0; ok && l < split.slots.size(); ++l) {
    const int s = split.slots[l];
    ok = in.moe_layers[l] ? (s >= 1 && s <= in.config.n_expert) : s == 0;
    n_slots += std::max(s, 0);
  }
  if (!ok || bytes_for_slots(plan.split(), n_slots) > plan.budget)
    fail("engine",
         fmt::format("the planner's split for a budget of {} is invalid or does not fit", format_bytes(plan.budget)),
         "re-run `swapmoe profile`, or pass --plan uniform");
  plan.slots = split.slots;
  *tuning = split;
  return plan;
}

}  // namespace

MemoryPlan Engine::preview_plan(const EngineOptions& options) {
  const EngineOptions o = resolved(options);
  const PolicyKind kind = parse_policy(o.policy);
  const auto model = Model::load(o.model_path, DenseWeights::LAZY);
  BudgetPlan tuning;
  return plan_for(memory_inputs(*model, runtime_bytes_estimate(*model)), o, kind, o.budget, &tuning);
}

Engine::Engine(const EngineOptions& options) : options_(resolved(options)) {
  kind_ = parse_policy(options_.policy);
  // Under a budget the dense weights are read into memory the engine owns and counts; the
  // file map is only used when every expert is resident anyway (the full model).
  const DenseWeights full = options_.use_mmap ? DenseWeights::MAPPED : DenseWeights::READ;
  model_ = Model::load(options_.model_path, kind_ == PolicyKind::FULL ? full : DenseWeights::OWNED,
                       options_.interleave_weights);
  const ModelConfig& c = model_->config();
  if (!c.is_vision()) tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::from_gguf(model_->file()));
  if (tokenizer_ && tokenizer_->n_vocab() != c.n_vocab)
    fail("engine",
         fmt::format("{}: the vocabulary has {} tokens but the embedding table {} rows", options_.model_path,
                     tokenizer_->n_vocab(), c.n_vocab),
         "the file's tokenizer does not belong to its weights");
  if (!c.is_moe() && kind_ != PolicyKind::FULL)
    fail("engine",
         fmt::format("policy '{}' needs a Mixture-of-Experts model; {} is dense", options_.policy, options_.model_path),
         "use --policy full for dense models");
  pool_ = std::make_unique<ThreadPool>(options_.n_threads, options_.poll);
  inputs_ = memory_inputs(*model_, runtime_bytes_estimate(*model_));
  plan_ = make_plan(options_.budget);
  check_run_fits(c, run_shape(), plan_, physical_memory_bytes());

  if (kind_ != PolicyKind::FULL) {
    file_reader_ = std::make_unique<DirectFileReader>(options_.model_path);
    require_same_file(model_->file().identity(), file_reader_->identity(), options_.model_path, "engine");
    ByteRangeReader* reader = file_reader_.get();
    if (options_.wrap_reader) reader = (wrapped_reader_ = options_.wrap_reader(*file_reader_)).get();
    std::vector<std::vector<float>> magnitudes;
    if (kind_ == PolicyKind::PRUNE || kind_ == PolicyKind::SWAPMOE) {
      // Worked out from the file's plain rows (to_float reads them), before any interleaving.
      magnitudes = expert_magnitudes(ExpertStore(*model_, *reader), *pool_);
    }
    store_ = std::make_unique<ExpertStore>(*model_, *reader, options_.interleave_weights);
    policy_ = make_policy(kind_, *store_, std::move(magnitudes), plan_.slots,
                          PolicyOptions{options_.swapmoe, options_.eviction, options_.io_threads, options_.prefetch_depth});
  } else {
    policy_ = std::make_unique<FullExperts>(*model_);
  }
  transformer_ = std::make_unique<Transformer>(*model_, run_shape(), *pool_, policy_.get());
  startup_stats_ = policy_->stats();
}

Engine::~Engine() {
  transformer_.reset();
  policy_.reset();  // joins the loader thread before the store and reader go
}

RunShape Engine::run_shape() const { return run_shape_of(options_); }

SessionSeat::SessionSeat(Engine& engine) : engine_(engine) { engine_.open_session(); }
SessionSeat::~SessionSeat() { engine_.close_session(); }

const Tokenizer& Engine::tokenizer() const {
  if (!tokenizer_)
    fail("engine",
         fmt::format("{} is a vision model ('{}'): it classifies images and has no tokenizer", options_.model_path,
                     model_->config().arch),
         fmt::format("use swapmoe classify -m {} IMAGES", options_.model_path));
  return *tokenizer_;
}

MemoryPlan Engine::make_plan(const Budget& budget) {
  BudgetPlan tuning;
  MemoryPlan plan = plan_for(inputs_, options_, kind_, budget, &tuning);
  if (tuning.update_interval > 0) options_.swapmoe.update_interval = tuning.update_interval;
  if (tuning.exact_threshold >= 0) options_.swapmoe.exact_threshold = tuning.exact_threshold;
  if (tuning.prefetch_depth >= 0 && !policy_) options_.prefetch_depth = tuning.prefetch_depth;
  return plan;
}

MemoryAccount Engine::memory_account() const {
  MemoryAccount a;
  a.dense = kind_ == PolicyKind::FULL ? model_->dense_bytes() : model_->owned_bytes();
  a.experts = policy_->resident_bytes();
  a.kv_cache = plan_.kv_cache;
  a.scratch = transformer_->scratch_bytes();
  a.runtime = plan_.runtime;
  return a;
}

void Engine::set_memory_budget(const Budget& budget) {
  MemoryPlan plan = make_plan(budget);  // throws, changing nothing, when it cannot be met
  if (kind_ != PolicyKind::FULL) {
    policy_->set_slots(plan.slots);
    policy_->set_update_interval(options_.swapmoe.update_interval);
    policy_->set_exact_threshold(options_.swapmoe.exact_threshold);
  }
  plan_ = std::move(plan);
  options_.budget = budget;  // reports show the budget now in force
}

void Engine::open_session() {
  if (n_open_sessions_ >= options_.n_sessions)
    fail("engine",
         fmt::format("all {} session(s) this engine was planned for are in use", options_.n_sessions),
         "plan the engine for more sessions (EngineOptions::n_sessions, -np)");
  ++n_open_sessions_;
}

}  // namespace swapmoe
