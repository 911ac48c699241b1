// Element-wise and row-wise operations of the forward pass (norms, RoPE, softmax, SwiGLU),
// written to follow llama.cpp's arithmetic so that results can be compared with it.
#pragma once

#include <cstdint>

namespace swapmoe {

// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i]; the mean is accumulated in double.
// Returns the L2 norm of the normalised output (SwapMoE's importance score uses ||x||).
float rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps);

// Rotates the first n_rot values of each of n_heads vectors of head_dim in place, by the cos/sin
// table of rope_cache (rope.h): llama.cpp's "normal" mode, adjacent pairs rotate together.
void rope_apply(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float* cos_sin);
// The same in GPT-NeoX mode: pair i rotates x[i] with x[i + n_rot / 2] (same angles).
void rope_apply_neox(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float* cos_sin);

// In-place softmax over n values (max-subtracted, exp_poly of tensor/exp_rows.h: the same bits at
// every CPU level; sum in double).
void softmax(float* x, int64_t n);
// The same with an attention sink: one more logit that takes its share of the sum but has no
// output (as ggml_soft_max_add_sinks: the max and the sum include it).
void softmax_with_sink(float* x, int64_t n, float sink);

// out[i] = silu(gate[i]) * up[i]
void swiglu(const float* gate, const float* up, float* out, int64_t n);

// gpt-oss's clamped SwiGLU, with llama.cpp's constants: the gate clamped above at `limit`, the up
// projection to [-limit, limit] and shifted by one:
// out[i] = g * sigmoid(alpha g) * (u + 1), g = min(gate[i], limit), u = clamp(up[i], -limit, limit).
void swiglu_oai(const float* gate, const float* up, float* out, int64_t n, float alpha = 1.702f, float limit = 7.0f);

inline float silu(float x) { return x / (1.0f + __builtin_expf(-x)); }

}  // namespace swapmoe
