#include "model/memory_plan.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "core/error.h"
#include "core/memory_stats.h"
#include "model/model.h"

namespace swapmoe {

// ---- budgets ---------------------------------------------------------------------------------

Budget Budget::parse(const std::string& text) {
  if (!text.empty() && text.back() == '%') {
    double pct = 0;
    if (!parse_percentage(text, &pct) || pct <= 0)
      fail("memory budget", fmt::format("'{}' is not a percentage above 0 and at most 100", text),
           "e.g. --memory-budget 40%");
    return {FOOTPRINT_SHARE, 0, pct / 100.0};
  }
  uint64_t bytes = 0;
  if (!parse_byte_size(text, &bytes) || bytes == 0)
    fail("memory budget", fmt::format("cannot read '{}' as a size", text), "e.g. --memory-budget 512M, 3.5G or 40%");
  return of_bytes(bytes);
}

Budget Budget::experts(const std::string& text) {
  double pct = 0;
  if (!parse_percentage(text, &pct) || pct <= 0)
    fail("expert budget", fmt::format("'{}' is not a percentage above 0 and at most 100", text),
         "e.g. --expert-budget 25%");
  return {EXPERT_SHARE, 0, pct / 100.0};
}

std::string Budget::describe() const {
  switch (kind) {
    case NONE: return "none";
    case BYTES: return format_bytes(bytes);
    case FOOTPRINT_SHARE: return fmt::format("{:g}% of the full footprint", share * 100);
    case EXPERT_SHARE: return fmt::format("{:g}% of the experts", share * 100);
  }
  return "?";
}

GgmlType parse_kv_type(const std::string& text, const char* flag) {
  if (text == "f32") return GgmlType::F32;
  if (text == "f16") return GgmlType::F16;
  if (text == "q8_0") return GgmlType::Q8_0;
  fail("kv cache", fmt::format("{} {}: unsupported KV cache type", flag, text), "choose one of: f32, f16, q8_0");
}

// ---- what a run allocates --------------------------------------------------------------------

uint64_t ScratchSizes::bytes() const {
  const int64_t floats = x + xn + q + k + v + attn + tmp + x_norm + rope + patches + scores + head_rows + router + topk_w +
                         masked_w + gathered + gate + up + down + ffn_out + choice_out + logits + mla_in + mla_out;
  const int64_t ints = topk_ids + masked_ids + expert_tokens + token_ids + n_masked;
  return static_cast<uint64_t>(floats + ints) * 4 + static_cast<uint64_t>(head_q) + 2 * act_bytes;
}

int64_t attention_rows_per_job(const ModelConfig& c, const RunShape& run) {
  if (run.n_ubatch > 1) return kAttentionHeadsPerJob;
  const int64_t group = c.n_head_kv > 0 ? std::max<int64_t>(1, c.n_head / c.n_head_kv) : 1;
  return std::min(group, kAttentionHeadsPerJob);
}

int64_t logit_rows(const RunShape& run) {
  const int64_t u = std::max<int64_t>(1, run.n_ubatch);
  return run.n_outputs > 0 ? std::min(run.n_outputs, u) : u;
}

ScratchSizes scratch_sizes(const ModelConfig& c, const RunShape& run) {
  const int64_t u = std::max<int64_t>(1, run.n_ubatch);
  const int64_t n_exp = std::max<int64_t>(c.n_expert, 1), k = std::max<int64_t>(c.n_expert_used, 1);
  const int64_t ff = c.max_ff(), nt = std::max(run.n_threads, 1);
  ScratchSizes s;
  s.x = s.xn = s.tmp = s.gathered = s.down = s.ffn_out = u * c.n_embd;
  s.q = s.attn = u * c.q_dim();
  s.k = s.v = u * c.kv_dim();
  if (c.is_mla()) {
    // q: absorbed queries (heads of kv_lora_rank + n_rot = q_dim); k: latent rows; v: the raw
    // queries, then the output latents; attn: the values; mla_in/out: one head's rows.
    s.v = u * c.n_head * std::max(c.head_dim_k_mla, c.kv_lora_rank);
    s.attn = u * c.attn_out_dim();
    s.mla_in = u * std::max({c.q_lora_rank, c.qk_nope(), c.kv_lora_rank});
    s.mla_out = u * std::max(c.kv_lora_rank, c.head_dim_v_mla);
  }
  s.x_norm = s.n_masked = u;
  s.rope = u * c.n_rot;
  s.patches = u * c.vision.patch_values();
  const int64_t rows = s.attention_rows = attention_rows_per_job(c, run);
  s.scores = nt * rows * run.n_ctx;
  s.head_rows = nt * (2 * rows + 1) * c.head_dim;
  s.head_q = run.type_k == GgmlType::Q8_0 ? nt * rows * static_cast<int64_t>(row_size(GgmlType::Q8_0, c.head_dim)) : 0;
  s.router = u * n_exp;
  s.topk_w = s.masked_w = s.topk_ids = s.masked_ids = s.expert_tokens = s.token_ids = u * k;
  s.gate = s.up = u * ff;
  s.choice_out = u * k * c.n_embd;
  s.logits = logit_rows(run) * c.n_vocab;
  // Activations are converted to the weights' vec_dot type; f32 (4 bytes a value) is the widest.
  const int64_t widest = std::max({c.n_embd, c.q_dim(), ff});
  s.act_bytes = static_cast<uint64_t>(u) * ((static_cast<uint64_t>(widest) * 4 + 63) / 64 * 64);
  return s;
}

int64_t kv_positions(const LayerDesc& layer, const RunShape& run) {
  if (layer.sliding_window <= 0) return run.n_ctx;
  return std::min(run.n_ctx, layer.sliding_window + std::max<int64_t>(1, run.n_ubatch));
}

uint64_t kv_cache_bytes(const ModelConfig& c, const RunShape& run) {
  uint64_t rows = 0;
  for (const LayerDesc& layer : c.layers)
    rows = c.is_vision() ? std::max(rows, static_cast<uint64_t>(kv_positions(layer, run)))  // layers share rows
                         : rows + static_cast<uint64_t>(kv_positions(layer, run));
  return rows * (row_size(run.type_k, c.kv_cache_k_dim()) + row_size(run.type_v, c.kv_cache_v_dim()));
}

uint64_t session_bytes(const ModelConfig& c, const RunShape& run) {
  return kv_cache_bytes(c, run) + static_cast<uint64_t>(c.n_vocab) * sizeof(float);
}

// ---- splitting a budget ----------------------------------------------------------------------

int64_t slots_in_budget(const MemorySplit& m, uint64_t budget) {
  if (m.slot_bytes == 0 || budget < m.fixed + m.staging) return 0;
  return static_cast<int64_t>((budget - m.fixed - m.staging) / m.slot_bytes);
}

uint64_t bytes_for_slots(const MemorySplit& m, int64_t n_slots) {
  return m.fixed + m.staging + static_cast<uint64_t>(std::max<int64_t>(n_slots, 0)) * m.slot_bytes;
}

std::vector<int> even_split(int64_t total, int n_layers, int n_expert) {
  std::vector<int> s(n_layers, 0);
  if (n_layers == 0) return s;
  total = std::clamp<int64_t>(total, n_layers, static_cast<int64_t>(n_layers) * n_expert);
  for (int l = 0; l < n_layers; ++l) s[l] = static_cast<int>(total / n_layers + (l < total % n_layers ? 1 : 0));
  return s;
}

ExpertSlotLayout expert_slot_layout(const Model& model) {
  constexpr uint64_t kAlign = 4096;
  auto align_up = [](uint64_t n) { return (n + kAlign - 1) / kAlign * kAlign; };
  uint64_t part[3] = {0, 0, 0};
  for (const auto& l : model.layers) {
    if (!l.is_moe) continue;
    part[0] = std::max<uint64_t>(part[0], l.gate_exps.nb[2]);
    part[1] = std::max<uint64_t>(part[1], l.up_exps.nb[2]);
    part[2] = std::max<uint64_t>(part[2], l.down_exps.nb[2]);
  }
  ExpertSlotLayout s;
  s.part_offset[1] = align_up(part[0]);
  s.part_offset[2] = s.part_offset[1] + align_up(part[1]);
  s.buffer_bytes = s.part_offset[2] + align_up(part[2]);
  return s;
}

MemoryInputs memory_inputs(const Model& model, uint64_t runtime_bytes) {
  MemoryInputs in;
  in.config = model.config();
  for (const auto& l : model.layers) in.moe_layers.push_back(l.is_moe ? 1 : 0);
  in.dense_bytes = model.dense_bytes();
  in.expert_bytes = model.expert_bytes();
  in.slot_bytes = expert_slot_layout(model).buffer_bytes;
  in.runtime_bytes = runtime_bytes;
  return in;
}

uint64_t MemoryPlan::expert_memory() const {
  if (holding == ExpertHolding::ALL_MAPPED) return all_experts;
  return staging + static_cast<uint64_t>(n_slots()) * slot_bytes;
}

int64_t MemoryPlan::n_slots() const { return std::accumulate(slots.begin(), slots.end(), int64_t{0}); }

uint64_t MemoryPlan::minimum() const {
  if (holding == ExpertHolding::ALL_MAPPED) return full_footprint();
  int64_t n_moe = 0;
  for (int s : slots) n_moe += s > 0;
  return bytes_for_slots(split(), holding == ExpertHolding::SHARED_POOL ? 1 : n_moe);
}

uint64_t MemoryPlan::full_footprint() const { return fixed() + all_experts; }

namespace {

// A plan's shape scaled to `capacity` slots, never above it, at least one slot a MoE layer.
std::vector<int> scale_shape(std::vector<int> shape, const std::vector<uint8_t>& moe, int64_t capacity,
                             int n_expert) {
  shape.resize(moe.size(), 0);
  const double total = std::accumulate(shape.begin(), shape.end(), 0.0);
  const double scale = total > 0 ? std::min(1.0, static_cast<double>(capacity) / total) : 0;
  std::vector<int> slots(moe.size(), 0);
  int64_t used = 0;
  for (size_t l = 0; l < slots.size(); ++l)
    if (moe[l]) {
      slots[l] = std::clamp(static_cast<int>(std::floor(shape[l] * scale)), 1, n_expert);
      used += slots[l];
    }
  while (used > capacity) {  // the floor of 1 per layer can overshoot: trim the largest
    const int largest = *std::max_element(slots.begin(), slots.end());
    if (largest <= 1) break;
    for (size_t l = 0; l < slots.size() && used > capacity; ++l)
      if (slots[l] == largest) --slots[l], --used;
  }
  return slots;
}

// Slots per layer for `total` slots in all: even over MoE layers, at most n_expert each.
std::vector<int> spread(int64_t total, const std::vector<uint8_t>& moe, int n_expert) {
  int n_moe = 0;
  for (uint8_t m : moe) n_moe += m;
  const std::vector<int> even = even_split(total, n_moe, n_expert);
  std::vector<int> slots(moe.size(), 0);
  for (size_t l = 0, i = 0; l < moe.size(); ++l)
    if (moe[l]) slots[l] = even[i++];
  return slots;
}

}  // namespace

MemoryPlan plan_memory(const MemoryInputs& in, const RunShape& run, const PlanSettings& settings) {
  const ModelConfig& c = in.config;
  MemoryPlan p;
  p.holding = settings.holding;
  p.dense = in.dense_bytes;
  p.kv_cache = static_cast<uint64_t>(std::max(run.n_sessions, 1)) * session_bytes(c, run);
  p.scratch_sizes = scratch_sizes(c, run);
  p.scratch = p.scratch_sizes.bytes();
  p.runtime = in.runtime_bytes;
  p.slot_bytes = in.slot_bytes;
  p.all_experts = in.expert_bytes;
  const int n_expert = static_cast<int>(c.n_expert);
  const Budget& b = settings.budget;

  if (p.holding == ExpertHolding::ALL_MAPPED) {
    p.slots.assign(in.moe_layers.size(), 0);
    for (size_t l = 0; l < p.slots.size(); ++l) p.slots[l] = in.moe_layers[l] ? n_expert : 0;
    if (b.kind == Budget::BYTES) p.budget = b.bytes;
    if (b.kind == Budget::FOOTPRINT_SHARE) p.budget = static_cast<uint64_t>(p.full_footprint() * b.share);
    if (b.kind == Budget::EXPERT_SHARE) p.budget = b.share >= 1 ? p.full_footprint() : 0;
    if (b.is_set() && p.budget < p.full_footprint())
      fail("memory budget",
           fmt::format("the full model needs {} but the budget is {}", format_bytes(p.full_footprint()),
                       b.kind == Budget::EXPERT_SHARE ? b.describe() : format_bytes(p.budget)),
           "raise the budget or use --policy swapmoe, prune or ondemand");
    return p;
  }

  p.staging = static_cast<uint64_t>(std::max(settings.staging_buffers, 0)) * p.slot_bytes;
  // Start from one slot a MoE layer, the smallest configuration, to know the minimum.
  p.slots = spread(0, in.moe_layers, n_expert);
  if (b.kind == Budget::EXPERT_SHARE) {
    const int per_layer = std::clamp(static_cast<int>(std::lround(b.share * n_expert)), 1, n_expert);
    std::vector<int> slots(in.moe_layers.size(), 0);
    for (size_t l = 0; l < slots.size(); ++l) slots[l] = in.moe_layers[l] ? per_layer : 0;
    // A plan's shape keeps the total this share gives (scaled down when it asks for more).
    const int64_t n_moe = std::count(in.moe_layers.begin(), in.moe_layers.end(), uint8_t{1});
    if (!settings.slot_shape.empty())
      slots = scale_shape(settings.slot_shape, in.moe_layers, per_layer * n_moe, n_expert);
    p.slots = slots;
    p.budget = p.total();
    return p;
  }
  if (!b.is_set())
    fail("memory budget", "this policy needs a memory budget", "pass --memory-budget SIZE (e.g. 512M or 40%)");
  p.budget = b.kind == Budget::BYTES ? b.bytes : static_cast<uint64_t>(p.full_footprint() * b.share);
  const uint64_t minimum = p.minimum();
  if (p.budget < minimum) {
    const double min_pct = 100.0 * static_cast<double>(minimum) / static_cast<double>(p.full_footprint());
    fail("memory budget",
         fmt::format("{} is below the minimum of {} ({:.1f}% of the full footprint) on this model: dense weights, "
                     "KV cache for -c {}, scratch and {} expert slot(s)",
                     format_bytes(p.budget), format_bytes(minimum), min_pct, run.n_ctx,
                     p.holding == ExpertHolding::SHARED_POOL ? int64_t{1} : c.n_moe_layers()),
         fmt::format("raise --memory-budget to at least {}M ({:.1f}%) or lower -c", (minimum >> 20) + 1,
                     std::ceil(min_pct * 10) / 10));
  }
  const int64_t capacity = slots_in_budget(p.split(), p.budget);
  if (!settings.slot_shape.empty()) {
    p.slots = scale_shape(settings.slot_shape, in.moe_layers, capacity, n_expert);
  } else if (p.holding == ExpertHolding::SHARED_POOL) {
    // One LRU for all layers: spread the count so that the policy sums it back.
    const int64_t all = static_cast<int64_t>(c.n_moe_layers()) * n_expert;
    int64_t left = std::min<int64_t>(capacity, all);
    std::vector<int> slots(in.moe_layers.size(), 0);
    int64_t layers_left = c.n_moe_layers();
    for (size_t l = 0; l < slots.size() && left > 0; ++l)
      if (in.moe_layers[l]) {
        const int64_t share = (left + layers_left - 1) / layers_left;
        slots[l] = static_cast<int>(std::min(share, left));
        left -= slots[l];
        --layers_left;
      }
    p.slots = slots;
  } else {
    p.slots = spread(capacity, in.moe_layers, n_expert);
  }
  return p;
}

void check_run_fits(const ModelConfig& c, const RunShape& run, const MemoryPlan& plan, uint64_t memory_bytes) {
  const uint64_t needed = plan.kv_cache + plan.scratch;
  if (memory_bytes == 0 || needed <= memory_bytes) return;
  const uint64_t n_sessions = static_cast<uint64_t>(std::max(run.n_sessions, 1));
  RunShape one = run, two = run;
  one.n_ctx = 1;
  two.n_ctx = 2;
  // Each position costs its KV rows and its attention scores' scratch (scores per thread and query).
  const uint64_t scratch_per_position = scratch_sizes(c, two).bytes() - scratch_sizes(c, one).bytes();
  const uint64_t per_position = std::max<uint64_t>(1, n_sessions * kv_cache_bytes(c, one) + scratch_per_position);
  const uint64_t fixed = needed - std::min(needed, per_position * static_cast<uint64_t>(run.n_ctx));
  const uint64_t max_ctx = memory_bytes > fixed ? (memory_bytes - fixed) / per_position : 0;
  fail("memory plan",
       fmt::format("-c {} needs {} of KV cache ({} a position in each of {} layers, {} session(s)) plus {} of scratch: "
                   "more than this machine's {} of memory",
                   run.n_ctx, format_bytes(plan.kv_cache), format_bytes((per_position - scratch_per_position) / n_sessions / c.n_layer), c.n_layer,
                   n_sessions, format_bytes(plan.scratch), format_bytes(memory_bytes)),
       max_ctx > 0 ? fmt::format("use -c {} or less (a q8_0 KV cache, -ctk q8_0 -ctv q8_0, holds about twice as many)",
                                 max_ctx)
                   : "the model's fixed buffers alone do not fit; use a smaller model");
}

}  // namespace swapmoe
