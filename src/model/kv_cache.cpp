#include "model/kv_cache.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "core/error.h"

namespace swapmoe {

KvCache::KvCache(const ModelConfig& c, const RunShape& run)
    : n_ctx_(run.n_ctx), k_dim_(c.kv_cache_k_dim()), v_dim_(c.kv_cache_v_dim()), type_k_(run.type_k), type_v_(run.type_v) {
  if (run.n_ctx <= 0)
    fail("kv cache", fmt::format("context size {} must be positive", run.n_ctx), "pass -c N with N > 0");
  for (GgmlType t : {type_k_, type_v_}) {
    if (t != GgmlType::F32 && t != GgmlType::F16 && t != GgmlType::Q8_0)
      fail("kv cache", fmt::format("{} is not a KV cache type", type_name(t)), "choose one of: f32, f16, q8_0");
    if (c.head_dim % type_traits(t).block_size != 0)
      fail("kv cache", fmt::format("a {} cache needs the head size ({}) to be a multiple of {}", type_name(t),
                                   c.head_dim, type_traits(t).block_size),
           "use -ctk f16 -ctv f16 for this model");
  }
  // MLA reads its values as the leading kv_lora_rank values of a key row: whole blocks only.
  if (c.is_mla() && c.kv_lora_rank % type_traits(type_k_).block_size != 0)
    fail("kv cache", fmt::format("a {} cache needs kv_lora_rank ({}) to be a multiple of {}", type_name(type_k_),
                                 c.kv_lora_rank, type_traits(type_k_).block_size),
         "use -ctk f16 for this model");
  k_row_bytes_ = row_size(type_k_, k_dim_);
  v_row_bytes_ = row_size(type_v_, v_dim_);
  max_batch_ = std::max<int64_t>(1, run.n_ubatch);
  size_t rows = 0;
  for (const LayerDesc& layer : c.layers) {
    // A vision model's image is evaluated in one forward and each layer's keys and values are
    // read only by that layer's attention: every layer reuses the same rows.
    first_row_.push_back(c.is_vision() ? 0 : rows);
    ring_.push_back(kv_positions(layer, run));
    window_.push_back(layer.sliding_window);
    rows = c.is_vision() ? std::max(rows, static_cast<size_t>(ring_.back())) : rows + static_cast<size_t>(ring_.back());
  }
  k_.resize(rows * k_row_bytes_);
  v_.resize(rows * v_row_bytes_);
  // Untouched positions are never read, but zeroed pages make the memory real now rather than
  // at the first long prompt, as the budget assumes. An MLA cache has no value rows: an empty
  // AlignedBuffer holds null, which memset must not get even for 0 bytes.
  if (k_.size() > 0) std::memset(k_.data(), 0, k_.size());
  if (v_.size() > 0) std::memset(v_.data(), 0, v_.size());
}

int64_t KvCache::reusable_prefix(int64_t kept, int64_t evaluated) const {
  for (size_t l = 0; l < ring_.size(); ++l) {
    if (ring_[l] >= n_ctx_) continue;
    // Positions below evaluated - ring were overwritten; those after `kept` read back window - 1.
    const int64_t lost_below = evaluated - ring_[l];
    if (kept > 0 && lost_below > 0 && kept - window_[l] + 1 < lost_below) return 0;
  }
  return kept;
}

void KvCache::store(int layer, int64_t pos, const float* k, const float* v) {
  const size_t i = row_index(layer, pos);
  type_traits(type_k_).from_float(k, k_.data() + i * k_row_bytes_, k_dim_);
  if (v_dim_ > 0) type_traits(type_v_).from_float(v, v_.data() + i * v_row_bytes_, v_dim_);
}

}  // namespace swapmoe
