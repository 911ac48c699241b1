#include "runtime/engine.h"

#include <algorithm>
#include <cmath>
#include <numeric>
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

uint64_t parse_memory_budget(const std::string& text, uint64_t full_footprint) {
  if (!text.empty() && text.back() == '%') {
    double pct = 0;
    if (!parse_percentage(text, &pct))
      fail("memory budget", fmt::format("'{}' is not a percentage between 0 and 100", text), "e.g. --memory-budget 40%");
    return static_cast<uint64_t>(static_cast<double>(full_footprint) * pct / 100.0);
  }
  uint64_t bytes = 0;
  if (!parse_byte_size(text, &bytes) || bytes == 0)
    fail("memory budget", fmt::format("cannot read '{}' as a size", text), "e.g. --memory-budget 512M, 3.5G or 40%");
  return bytes;
}

Engine::Engine(const EngineOptions& options) : options_(options) {
  if (options_.n_threads <= 0) options_.n_threads = default_thread_count();
  if (options_.n_threads > 1024)
    fail("engine", fmt::format("{} threads requested", options_.n_threads), "use -t with at most the number of cores");
  kind_ = parse_policy(options_.policy);
  const bool budgeted = !options_.memory_budget.empty() || options_.expert_fraction > 0;
  // Under a budget the dense weights are read into memory the engine owns and counts; the
  // file map is only used when every expert is resident anyway (the full model).
  const DenseWeights dense = kind_ == PolicyKind::FULL ? DenseWeights::MAPPED : DenseWeights::OWNED;
  model_ = Model::load(options_.model_path, dense);
  const ModelConfig& c = model_->config();
  tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::from_gguf(model_->file()));
  if (tokenizer_->n_vocab() != c.n_vocab)
    fail("engine",
         fmt::format("{}: the vocabulary has {} tokens but the embedding table {} rows", options_.model_path,
                     tokenizer_->n_vocab(), c.n_vocab),
         "the file's tokenizer does not belong to its weights");
  // Tokenizer tables and parsed metadata: token texts plus per-token bookkeeping.
  uint64_t vocab_text = 0;
  for (int32_t i = 0; i < tokenizer_->n_vocab(); ++i) vocab_text += tokenizer_->vocab().token(i).text.size();
  runtime_bytes_ = 3 * vocab_text + static_cast<uint64_t>(c.n_vocab) * 200 + (4ull << 20);
  pool_ = std::make_unique<ThreadPool>(options_.n_threads);

  if (!c.is_moe() && kind_ != PolicyKind::FULL)
    fail("engine", fmt::format("policy '{}' needs a Mixture-of-Experts model; {} is dense", options_.policy,
                               options_.model_path),
         "use --policy full for dense models");

  std::vector<int> slots;
  if (kind_ != PolicyKind::FULL) {
    reader_ = std::make_unique<DirectFileReader>(options_.model_path);
    store_ = std::make_unique<ExpertStore>(*model_, *reader_);
    if (options_.expert_fraction > 0) {
      const int per_layer = std::clamp(static_cast<int>(std::lround(options_.expert_fraction * c.n_expert)), 1,
                                       static_cast<int>(c.n_expert));
      slots.assign(model_->layers.size(), 0);
      for (size_t l = 0; l < slots.size(); ++l)
        if (model_->layers[l].is_moe) slots[l] = per_layer;
      if (!options_.plan_slots.empty()) slots = options_.plan_slots;
      uint64_t n_slots = std::accumulate(slots.begin(), slots.end(), uint64_t{0});
      uint64_t overhead = staging_bytes();
      budget_ = fixed_bytes() + overhead + n_slots * store_->buffer_bytes();
    } else {
      if (!budgeted)
        fail("engine", fmt::format("policy '{}' needs a memory budget", options_.policy),
             "pass --memory-budget SIZE (e.g. 512M or 40%)");
      budget_ = parse_memory_budget(options_.memory_budget, full_footprint());
      slots = slots_for_budget(budget_);
      if (options_.plan_for_budget && options_.plan_slots.empty()) slots = planned_slots(budget_);
    }
    std::vector<std::vector<float>> magnitudes;
    if (kind_ == PolicyKind::PRUNE || kind_ == PolicyKind::SWAPMOE) magnitudes = expert_magnitudes(*store_, *pool_);
    policy_ = make_policy(kind_, *store_, std::move(magnitudes), slots, options_.swapmoe);
  } else {
    policy_ = std::make_unique<FullExperts>(*model_);
  }
  if (kind_ == PolicyKind::FULL && budgeted) {
    budget_ = parse_memory_budget(options_.memory_budget.empty() ? "100%" : options_.memory_budget, full_footprint());
    if (full_footprint() > budget_)
      fail("engine",
           fmt::format("the full model needs {} but the budget is {}", format_bytes(full_footprint()),
                       format_bytes(budget_)),
           "raise the budget or use --policy swapmoe, prune or ondemand");
  }
  transformer_ = std::make_unique<Transformer>(*model_, options_.n_ctx, *pool_, policy_.get(), options_.n_ubatch);
  startup_stats_ = policy_->stats();
}

Engine::~Engine() {
  transformer_.reset();
  policy_.reset();  // joins the loader thread before the store and reader go
}

uint64_t Engine::staging_bytes() const {
  return kind_ == PolicyKind::SWAPMOE ? options_.swapmoe.staging_buffers * store_->buffer_bytes() : 0;
}

uint64_t Engine::fixed_bytes() const {
  const ModelConfig& c = model_->config();
  const uint64_t dense = kind_ == PolicyKind::FULL ? model_->dense_bytes() : model_->owned_bytes();
  return dense + Transformer::kv_cache_bytes(c, options_.n_ctx) +
         Transformer::scratch_bytes(c, options_.n_ctx, options_.n_ubatch, options_.n_threads) +
         static_cast<uint64_t>(options_.n_ubatch) * c.n_vocab * sizeof(float) + runtime_bytes_;
}

uint64_t Engine::full_footprint() const {
  return fixed_bytes() - (kind_ == PolicyKind::FULL ? 0 : model_->owned_bytes()) + model_->total_bytes();
}

uint64_t Engine::minimum_budget() const {
  if (kind_ == PolicyKind::FULL) return full_footprint();
  const uint64_t staging = staging_bytes();
  const uint64_t min_slots = kind_ == PolicyKind::ONDEMAND ? 1 : static_cast<uint64_t>(model_->n_moe_layers());
  return fixed_bytes() + staging + min_slots * store_->buffer_bytes();
}

std::vector<int> Engine::slots_for_budget(uint64_t bytes) const {
  const ModelConfig& c = model_->config();
  if (bytes < minimum_budget())
    fail("memory budget",
         fmt::format("{} is below the minimum of {} for policy '{}' on this model (dense weights, KV cache for "
                     "-c {}, scratch and {} expert slot(s))",
                     format_bytes(bytes), format_bytes(minimum_budget()), policy_name(kind_), options_.n_ctx,
                     kind_ == PolicyKind::ONDEMAND ? 1 : model_->n_moe_layers()),
         fmt::format("raise --memory-budget to at least {}M or lower -c", (minimum_budget() >> 20) + 1));
  const uint64_t staging = staging_bytes();
  const uint64_t n_total = (bytes - fixed_bytes() - staging) / store_->buffer_bytes();
  const int64_t n_moe = model_->n_moe_layers();
  std::vector<int> slots(model_->layers.size(), 0);
  if (!options_.plan_slots.empty()) {
    // Scale the plan's shape to this budget, never above it.
    std::vector<int> plan = options_.plan_slots;
    plan.resize(slots.size(), 0);
    const double plan_total = std::accumulate(plan.begin(), plan.end(), 0.0);
    const double scale = plan_total > 0 ? std::min(1.0, static_cast<double>(n_total) / plan_total) : 0;
    uint64_t used = 0;
    for (size_t l = 0; l < slots.size(); ++l)
      if (model_->layers[l].is_moe) {
        slots[l] = std::clamp(static_cast<int>(std::floor(plan[l] * scale)), 1, static_cast<int>(c.n_expert));
        used += slots[l];
      }
    while (used > n_total)  // the floor of 1 per layer can overshoot: trim the largest
      for (size_t l = 0; l < slots.size() && used > n_total; ++l)
        if (slots[l] == *std::max_element(slots.begin(), slots.end()) && slots[l] > 1) --slots[l], --used;
    return slots;
  }
  if (kind_ == PolicyKind::ONDEMAND) {
    // One LRU for all layers: spread the count so that set_slots() sums it back.
    uint64_t left = std::min<uint64_t>(n_total, static_cast<uint64_t>(n_moe * c.n_expert));
    for (size_t l = 0; l < slots.size() && left > 0; ++l)
      if (model_->layers[l].is_moe) {
        const uint64_t share = (left + (n_moe - 1)) / std::max<int64_t>(n_moe, 1);
        slots[l] = static_cast<int>(std::min<uint64_t>(share, left));
        left -= slots[l];
      }
    return slots;
  }
  const int per_layer = static_cast<int>(std::min<uint64_t>(n_total / n_moe, static_cast<uint64_t>(c.n_expert)));
  for (size_t l = 0; l < slots.size(); ++l)
    if (model_->layers[l].is_moe) slots[l] = per_layer;
  return slots;
}

MemoryAccount Engine::memory_account() const {
  const ModelConfig& c = model_->config();
  MemoryAccount a;
  a.dense = kind_ == PolicyKind::FULL ? model_->dense_bytes() : model_->owned_bytes();
  a.experts = policy_->resident_bytes();
  a.kv_cache = Transformer::kv_cache_bytes(c, options_.n_ctx);
  a.scratch = Transformer::scratch_bytes(c, options_.n_ctx, options_.n_ubatch, options_.n_threads) +
              static_cast<uint64_t>(options_.n_ubatch) * c.n_vocab * sizeof(float);
  a.runtime = runtime_bytes_;
  return a;
}

void Engine::set_memory_budget(uint64_t bytes) {
  if (kind_ == PolicyKind::FULL) {
    if (bytes < full_footprint())
      fail("memory budget", fmt::format("the full model needs {}", format_bytes(full_footprint())),
           "switch to --policy swapmoe to serve under a smaller budget");
    budget_ = bytes;
    return;
  }
  std::vector<int> slots = slots_for_budget(bytes);  // throws if it cannot be met
  if (options_.plan_for_budget && options_.plan_slots.empty()) {
    slots = planned_slots(bytes);
    policy_->set_update_interval(options_.swapmoe.update_interval);
  }
  policy_->set_slots(slots);
  budget_ = bytes;
}

// ---- planner hook ----------------------------------------------------------------------------

std::vector<int> Engine::planned_slots(uint64_t bytes) {
  const uint64_t staging = staging_bytes();
  const BudgetPlan plan = options_.plan_for_budget({bytes, fixed_bytes(), staging, store_->buffer_bytes()});
  // The planner is trusted with the split, not with the budget: check it like a plan file.
  const int64_t n_expert = model_->config().n_expert;
  bool ok = plan.slots.size() == model_->layers.size();
  uint64_t n_slots = 0;
  for (size_t l = 0; ok && l < plan.slots.size(); ++l) {
    const int s = plan.slots[l];
    ok = model_->layers[l].is_moe ? (s >= 1 && s <= n_expert) : s == 0;
    n_slots += static_cast<uint64_t>(std::max(s, 0));
  }
  if (!ok || fixed_bytes() + staging + n_slots * store_->buffer_bytes() > bytes)
    fail("engine", fmt::format("the planner's split for a budget of {} is invalid or does not fit", format_bytes(bytes)),
         "re-run `swapmoe profile`, or pass --plan uniform");
  if (plan.update_interval > 0) options_.swapmoe.update_interval = plan.update_interval;
  return plan.slots;
}

void Engine::finish_prefill() {
  policy_->finish_prefill();
  policy_->begin_decode();
}

}  // namespace swapmoe
