// The part of attention every variant shares: softmax attention of a micro-batch's queries over
// one layer's KV cache, with the cache type's arithmetic as llama.cpp has it (f32 plain dot
// products; f16 as its flash or, with -fa off, its non-flash path; q8_0 quantises the query),
// and an attention sink, when given, taking its share of each head's softmax. GQA
// reads keys and values per KV head; MLA reads one latent row per position whose first hd_v
// values are also the values.
#pragma once

#include <cstdint>

#include "model/blocks.h"

namespace swapmoe {

struct CachedAttention {
  const float* q = nullptr;  // [n][q_stride]: head h's query at h * hd_k
  int64_t q_stride = 0;
  float* out = nullptr;      // [n][out_stride]: head h's output at h * hd_v
  int64_t out_stride = 0;
  int64_t n_head = 0;
  int64_t group = 1;         // query heads per KV head
  int64_t hd_k = 0, hd_v = 0;
  int64_t window = 0;        // sliding window (0: all positions)
  float scale = 1.0f;        // applied to q.k before the softmax
  const float* sinks = nullptr;  // [n_head] attention sinks: one extra softmax logit per head (gpt-oss)
  bool values_in_keys = false;  // values are the first hd_v values of the key rows (MLA)
};

// Token t attends to positions 0 .. l.at.pos[t] (or the window before it) of its cache l.at.kv[t];
// every cache has the same types and length.
void attend_cached(const LayerContext& l, int64_t n, const CachedAttention& a);

}  // namespace swapmoe
