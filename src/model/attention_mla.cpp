// Multi-head latent attention (DeepSeek-V2/V3), as llama.cpp runs it with the "absorption"
// optimisation: the KV cache holds, per position, the normalised latent (kv_lora_rank values) and
// the rotated shared key part (n_rot values); each head's unrotated query is taken into the
// latent space by attn_k_b, so attention is multi-query attention over latent rows; each head's
// output latent is taken back to values by attn_v_b. Same arithmetic order as llama.cpp, so that
// the KV cache types round what they round there.
#include <cmath>
#include <cstring>

#include "model/attention_core.h"
#include "model/blocks.h"
#include "model/ops.h"
#include "model/rope.h"

namespace swapmoe {

float mla_kq_scale(const ModelConfig& c) {
  // llama.cpp (deepseek2.cpp) pre-scales by mscale^2: the rotation's attn_factor with the
  // 1 / (1 + 0.1 ln(1/s)) of the context cancelled, times 1 + 0.1 log_mul ln(1/s), s the frequency
  // scale. With YaRN and a log multiplier that is 1 + 0.1 log_mul ln(factor) (the rotation itself
  // keeps magnitude 1); without RoPE scaling, 1.
  const RopeParams p = rope_params(c);
  const float ln = std::log(1.0f / p.freq_scale);
  const float attn_factor_org = p.attn_factor * (1.0f + 0.1f * ln);
  const float mscale = attn_factor_org * (1.0f + 0.1f * c.rope_scaling.yarn_log_mul * ln);
  return mscale * mscale / std::sqrt(static_cast<float>(c.head_dim_k_mla));
}

namespace {

// Rows of one head of n tokens: token t's head h starts at t * token_stride + h * head_stride.
struct HeadRows {
  float* data;
  int64_t token_stride, head_stride;
  float* at(int64_t t, int64_t h) const { return data + t * token_stride + h * head_stride; }
};

// out(t, h) = W_h in(t, h) for every head h of a 3-D weight {n_in, n_out, n_head}: each head's
// rows are gathered, multiplied (as one matrix, like ggml's batched mul_mat) and scattered back.
void per_head_linear(const LayerContext& l, const TensorView& w, HeadRows in, HeadRows out, int64_t n) {
  ForwardScratch& s = l.s;
  const int64_t n_in = w.ne[0], n_out = w.ne[1];
  for (int64_t h = 0; h < w.ne[2]; ++h) {
    for (int64_t t = 0; t < n; ++t)
      std::memcpy(&s.mla_in[t * n_in], in.at(t, h), n_in * sizeof(float));
    linear(w.slice2(h), s.mla_in.data(), n, s.mla_out.data(), s.act, l.pool);
    for (int64_t t = 0; t < n; ++t)
      std::memcpy(out.at(t, h), &s.mla_out[t * n_out], n_out * sizeof(float));
  }
}

}  // namespace

void attention_mla(const LayerContext& l, int64_t n) {
  const ModelConfig& c = l.c;
  ForwardScratch& s = l.s;
  const LayerWeights& L = l.w;
  const int64_t heads = c.n_head, rank = c.kv_lora_rank, rot = c.n_rot, nope = c.qk_nope();
  const int64_t k_mla = c.head_dim_k_mla, q_raw_dim = heads * k_mla, row = rank + rot;  // row: a cache row

  // Queries {n}{heads}{nope | rot} in s.v, directly or through the q LoRA (in s.mla_in).
  if (c.q_lora_rank > 0) {
    const int64_t r = c.q_lora_rank;
    linear(L.wq_a, s.xn.data(), n, s.mla_in.data(), s.act, l.pool);
    for (int64_t t = 0; t < n; ++t)
      rms_norm(&s.mla_in[t * r], static_cast<const float*>(L.q_a_norm.data), &s.mla_in[t * r], r, c.rms_eps);
    linear(L.wq_b, s.mla_in.data(), n, s.v.data(), s.act, l.pool);
  } else {
    linear(L.wq, s.xn.data(), n, s.v.data(), s.act, l.pool);
  }
  // The latent and the shared key part {n}{rank | rot} in s.k.
  linear(L.wkv_a_mqa, s.xn.data(), n, s.k.data(), s.act, l.pool);
  for (int64_t t = 0; t < n; ++t) {
    const float* cs = &s.rope[t * rot];
    float* kv_row = &s.k[t * row];
    rope_apply(kv_row + rank, 1, rot, rot, cs);
    rms_norm(kv_row, static_cast<const float*>(L.kv_a_norm.data), kv_row, rank, c.rms_eps);
    l.at.kv[t]->store(l.layer, l.at.pos[t], kv_row, nullptr);
    // Each head's rotated query part goes after its absorbed part: {n}{heads}{rank | rot} in s.q.
    float* q = &s.v[t * q_raw_dim];
    rope_apply(q + nope, heads, k_mla, rot, cs);
    for (int64_t h = 0; h < heads; ++h)
      std::memcpy(&s.q[(t * heads + h) * row + rank], q + h * k_mla + nope, rot * sizeof(float));
  }
  // q_nope of each head into the latent space (attn_k_b), beside its rotated part.
  per_head_linear(l, L.wk_b, {s.v.data(), q_raw_dim, k_mla}, {s.q.data(), heads * row, row}, n);

  CachedAttention a;
  a.q = s.q.data(), a.q_stride = heads * row;
  a.out = s.v.data(), a.out_stride = heads * rank;  // the output latents replace the raw queries
  a.n_head = heads, a.group = heads, a.hd_k = row, a.hd_v = rank;
  a.scale = mla_kq_scale(c);
  a.values_in_keys = true;
  attend_cached(l, n, a);
  // Each head's latent back to its values (attn_v_b): the output projection's input in s.attn.
  const int64_t v_mla = c.head_dim_v_mla;
  per_head_linear(l, L.wv_b, {s.v.data(), heads * rank, rank}, {s.attn.data(), heads * v_mla, v_mla}, n);
}

}  // namespace swapmoe
