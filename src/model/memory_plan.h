// The memory plan: every allocation an engine makes for a model and a run (dense weights, KV
// caches, scratch, staging buffers, expert slots), and how a budget splits into slots per layer.
//
// This is the one place where sizes are derived. The engine allocates from the plan (the
// Transformer's scratch and the sessions' KV caches are sized by the functions below), and
// `swapmoe plan`, the profiler, `bench --sweep` and the tests read the same plan, so the slots
// a planner counts for a budget are the slots the engine runs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/model_config.h"
#include "tensor/ggml_type.h"

namespace swapmoe {

class Model;

// ---- budgets ---------------------------------------------------------------------------------

// A memory budget as the user gave it, parsed once at the edge (CLI, server request).
struct Budget {
  enum Kind { NONE, BYTES, FOOTPRINT_SHARE, EXPERT_SHARE } kind = NONE;
  uint64_t bytes = 0;  // BYTES
  double share = 0;    // FOOTPRINT_SHARE: of the full model's footprint; EXPERT_SHARE: of each layer's experts (0..1]

  // "512M", "3.5G", "123456" (bytes) or "40%" (of the full footprint). Throws with a hint.
  static Budget parse(const std::string& text);
  // "25%": keep this share of each layer's experts.
  static Budget experts(const std::string& text);
  static Budget of_bytes(uint64_t n) { return {BYTES, n, 0}; }
  bool is_set() const { return kind != NONE; }
  std::string describe() const;  // "3.0 GiB", "40% of the full footprint", "25% of the experts"
};

// ---- what a run allocates --------------------------------------------------------------------

// The run settings that size the memory beside the weights.
struct RunShape {
  int64_t n_ctx = 512;    // KV cache length per session
  int64_t n_ubatch = 64;  // tokens evaluated together
  int n_threads = 1;
  int n_sessions = 1;     // sequences served at once, each with its own KV cache
  GgmlType type_k = GgmlType::F16;
  GgmlType type_v = GgmlType::F16;
  // -fa: attention over an f16 cache as llama.cpp's flash-attention kernel computes a prompt batch
  // (the query and the softmax weights stay f32, only the stored rows are f16); off: as its
  // non-flash path (both rounded to f16, as a matrix product with an f16 operand rounds them).
  bool flash_attn = true;
  // Rows of logits one forward step returns at most; 0: every position of a micro-batch
  // (perplexity, vision). Generation needs one a sequence, which spares [n_ubatch - rows][n_vocab]
  // floats (297 MiB at -ub 512 over a 151936-token vocabulary).
  int64_t n_outputs = 0;
};

// The logits rows the scratch holds: n_outputs, or a whole micro-batch when it is 0 (or larger).
int64_t logit_rows(const RunShape& run);

// KV cache types the engine supports (-ctk/-ctv): f32, f16, q8_0. Throws naming the flag.
GgmlType parse_kv_type(const std::string& text, const char* flag);

// An attention job takes up to this many queries of one KV head (a GQA group, or MLA's heads over
// their shared latent, and in a prompt the same heads of consecutive tokens), so each key and value
// row it reads is widened once for all of them.
inline constexpr int64_t kAttentionHeadsPerJob = 8;
// The queries one attention job holds scratch for: kAttentionHeadsPerJob when micro-batches have
// several tokens (a prompt's tokens share a job), else the group, up to kAttentionHeadsPerJob.
int64_t attention_rows_per_job(const ModelConfig& c, const RunShape& run);

// Element counts of every scratch buffer of the forward pass: the Transformer allocates exactly
// these, so bytes() is what it holds.
struct ScratchSizes {
  int64_t x = 0, xn = 0, q = 0, k = 0, v = 0, attn = 0, tmp = 0, x_norm = 0;  // floats, [n_ubatch][...]
  int64_t rope = 0;                       // floats [n_ubatch][n_rot]
  int64_t patches = 0;                    // floats [n_ubatch][patch values]: vision models' input
  int64_t attention_rows = 0;             // queries per attention job (attention_rows_per_job), not a buffer
  int64_t scores = 0;                     // floats [n_threads][attention_rows][n_ctx]
  int64_t head_rows = 0;                  // floats [n_threads][2 attention_rows + 1][head_dim]: queries and a value row converted, outputs
  int64_t head_q = 0;                     // bytes  [n_threads][attention_rows][q8_0 row of head_dim]: queries for q8_0 keys
  int64_t router = 0, topk_w = 0, masked_w = 0;  // floats
  int64_t topk_ids = 0, masked_ids = 0, expert_tokens = 0, token_ids = 0, n_masked = 0;  // int32
  int64_t gathered = 0, gate = 0, up = 0, down = 0, ffn_out = 0, choice_out = 0;  // floats
  int64_t logits = 0;                     // floats [logit_rows][n_vocab]
  int64_t mla_in = 0, mla_out = 0;        // floats [n_ubatch][...]: MLA's per-head and q LoRA rows
  uint64_t act_bytes = 0;                 // each of the two quantised-activation buffers (layer input, MoE input)

  uint64_t bytes() const;
};
ScratchSizes scratch_sizes(const ModelConfig& c, const RunShape& run);

// One session's KV cache (keys and values of every layer for n_ctx positions; for MLA the latent
// rows alone, kv_lora_rank + n_rot values each).
uint64_t kv_cache_bytes(const ModelConfig& c, const RunShape& run);
// Positions one layer's KV cache holds: all n_ctx, or for a sliding-window layer its window plus
// a micro-batch, as a ring (a micro-batch stores its rows before it attends, and its first token
// reaches window - 1 positions back), as llama.cpp's SWA cache does.
int64_t kv_positions(const LayerDesc& layer, const RunShape& run);
// One session: its KV cache and the last token's logits.
uint64_t session_bytes(const ModelConfig& c, const RunShape& run);

// ---- splitting a budget ----------------------------------------------------------------------

// How a budget splits, in bytes: what stays whatever the slots, and the price of one slot.
struct MemorySplit {
  uint64_t fixed = 0;       // dense weights, KV caches, scratch, runtime bookkeeping
  uint64_t staging = 0;     // swapmoe's staging buffers
  uint64_t slot_bytes = 0;  // one expert slot
};
// Expert slots (over all layers) that fit in `budget`; 0 when the fixed part alone exceeds it.
int64_t slots_in_budget(const MemorySplit& m, uint64_t budget);
// Bytes a configuration with n_slots expert slots in total accounts against the budget.
uint64_t bytes_for_slots(const MemorySplit& m, int64_t n_slots);
// Slots per MoE layer spread as evenly as the total allows (the uniform allocation), each in
// [1, n_expert]; the first layers get the remainder.
std::vector<int> even_split(int64_t total, int n_layers, int n_expert);

// How a policy holds experts: all of them in the file map (full), slots per layer (prune,
// swapmoe), or one pool shared by all layers (ondemand's LRU).
enum class ExpertHolding { ALL_MAPPED, PER_LAYER, SHARED_POOL };

// The model-side figures of a plan (from the file; see memory_inputs()).
struct MemoryInputs {
  ModelConfig config;
  std::vector<uint8_t> moe_layers;  // per layer: 1 when it has routed experts
  uint64_t dense_bytes = 0;         // every non-expert weight
  uint64_t expert_bytes = 0;        // every routed expert of every layer
  uint64_t slot_bytes = 0;          // one expert slot buffer (expert_slot_layout)
  uint64_t runtime_bytes = 0;       // tokenizer tables, metadata, bookkeeping (estimated)
};
MemoryInputs memory_inputs(const Model& model, uint64_t runtime_bytes);

// Where gate, up and down of one expert go inside a slot buffer (each 4096-aligned so reads can
// go straight to it), and the buffer size: the same for every layer (the largest if they differ).
struct ExpertSlotLayout {
  uint64_t part_offset[3] = {0, 0, 0};
  uint64_t buffer_bytes = 0;
};
ExpertSlotLayout expert_slot_layout(const Model& model);

struct MemoryPlan {
  ExpertHolding holding = ExpertHolding::ALL_MAPPED;
  uint64_t budget = 0;    // resolved budget in bytes (0: none)
  uint64_t dense = 0;     // dense weights (mapped for the full model, owned otherwise)
  uint64_t kv_cache = 0;  // all sessions' KV caches and last-token logits
  uint64_t scratch = 0;   // the forward pass's buffers
  uint64_t runtime = 0;
  uint64_t staging = 0;   // swapmoe's staging buffers
  uint64_t slot_bytes = 0;
  uint64_t all_experts = 0;  // every expert (what the full model holds)
  std::vector<int> slots;    // per layer (0 for dense layers); every expert for the full model
  ScratchSizes scratch_sizes;

  uint64_t fixed() const { return dense + kv_cache + scratch + runtime; }
  uint64_t expert_memory() const;  // slots and staging (all experts for the full model)
  uint64_t total() const { return fixed() + expert_memory(); }
  MemorySplit split() const { return {fixed(), staging, slot_bytes}; }
  int64_t n_slots() const;
  // The smallest budget this holding can run in (one slot per MoE layer; one for the pool).
  uint64_t minimum() const;
  // What the full model (every expert resident, dense weights mapped) takes with the same run.
  uint64_t full_footprint() const;
};

struct PlanSettings {
  ExpertHolding holding = ExpertHolding::ALL_MAPPED;
  int staging_buffers = 0;      // swapmoe: loads in flight
  Budget budget;
  std::vector<int> slot_shape;  // a plan's slots per layer: scaled to the budget, never above it
};

// Throws a swapmoe::Error naming the minimum when the budget cannot be met.
MemoryPlan plan_memory(const MemoryInputs& in, const RunShape& run, const PlanSettings& settings);

// Throws naming the bytes and the largest -c that fits when the plan's KV caches and scratch
// alone exceed `memory_bytes` (the machine's RAM; 0: unknown, no check): such a run could only
// end in an allocation failure or the OOM killer, whatever the budget.
void check_run_fits(const ModelConfig& c, const RunShape& run, const MemoryPlan& plan, uint64_t memory_bytes);

}  // namespace swapmoe
