// KvCache: one sequence's keys (after RoPE) and values for every layer, in f32, f16 or q8_0
// (llama.cpp's -ctk/-ctv). Rows are [layer][position][n_head_kv * head_dim] in the cache type; a
// sliding-window layer keeps only its window and a micro-batch (kv_positions), as a ring.
// MLA models keep no values: their key rows (the latent) hold them, and -ctv is unused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/aligned_buffer.h"
#include "model/memory_plan.h"
#include "model/model_config.h"
#include "tensor/ggml_type.h"

namespace swapmoe {

class KvCache {
 public:
  // Throws when a type is not a KV cache type or the rows cannot hold it (q8_0 needs head_dim
  // a multiple of 32).
  KvCache(const ModelConfig& c, const RunShape& run);

  int64_t n_ctx() const { return n_ctx_; }
  GgmlType type_k() const { return type_k_; }
  GgmlType type_v() const { return type_v_; }
  uint64_t bytes() const { return k_.size() + v_.size(); }
  // Tokens one forward may store before they attend: more would overwrite a sliding-window
  // layer's rows that the first of them still reads.
  int64_t max_batch() const { return max_batch_; }
  // How many of the first `kept` positions a sequence that has evaluated `evaluated` positions
  // can continue from: `kept`, or 0 when a sliding-window ring has overwritten rows that the
  // positions after `kept` would read.
  int64_t reusable_prefix(int64_t kept, int64_t evaluated) const;

  // Stores one position's key and value rows (kv_dim floats each; v is ignored, may be null, for
  // MLA), converting to the cache types.
  void store(int layer, int64_t pos, const float* k, const float* v);
  const uint8_t* k_row(int layer, int64_t pos) const { return k_.data() + row_index(layer, pos) * k_row_bytes_; }
  const uint8_t* v_row(int layer, int64_t pos) const { return v_.data() + row_index(layer, pos) * v_row_bytes_; }
  // Rows of `layer` that follow one another in memory from position pos (up to the end of a
  // sliding window's ring, where the next position wraps to its start).
  int64_t contiguous_rows(int layer, int64_t pos) const {
    const int64_t ring = ring_[layer];
    return ring - (pos < ring ? pos : pos % ring);
  }
  size_t k_row_bytes() const { return k_row_bytes_; }
  size_t v_row_bytes() const { return v_row_bytes_; }

 private:
  size_t row_index(int layer, int64_t pos) const {
    const int64_t ring = ring_[layer];
    return first_row_[layer] + static_cast<size_t>(pos < ring ? pos : pos % ring);
  }

  int64_t n_ctx_;
  int64_t max_batch_;
  std::vector<int64_t> ring_;      // [layer] positions held (kv_positions)
  std::vector<int64_t> window_;    // [layer] sliding window (0: none)
  std::vector<size_t> first_row_;  // [layer] the layer's first row
  int64_t k_dim_, v_dim_;
  GgmlType type_k_, type_v_;
  size_t k_row_bytes_, v_row_bytes_;
  AlignedBuffer k_, v_;
};

}  // namespace swapmoe
