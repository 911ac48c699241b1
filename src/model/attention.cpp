// Attention blocks. Arithmetic follows llama.cpp for each KV cache type: f32 keys and values as
// plain float dot products; q8_0 quantises the query to q8_0; f16 as its flash-attention kernel
// computes a prompt batch (f32 query and softmax weights over rows widened from f16) or, with
// -fa off, as its non-flash path (both rounded to f16, as ggml's products with an f16 operand do).
#include <algorithm>
#include <cmath>

#include "kernels/quantize_act.h"
#include "kernels/vec_dot.h"
#include "model/attention_core.h"
#include "model/blocks.h"
#include "model/ops.h"
#include "tensor/fp16.h"

namespace swapmoe {

void linear(const TensorView& w, const float* x, int64_t n, float* y, QuantizedActivations& act, ThreadPool& pool) {
  act.quantize(type_traits(w.type).vec_dot_type, x, n, w.ne[0], &pool);
  matmul(w, act, y, pool);
}

namespace {

}  // namespace

void add_bias(const TensorView& b, float* x, int64_t n, int64_t dim) {
  if (!b.data) return;
  const float* bias = static_cast<const float*>(b.data);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < dim; ++i) x[t * dim + i] += bias[i];
}

namespace {

// RMSNorm of one token's q or k (n_heads heads of hd values) in place, as the layer asks: each
// head with the same head_dim weights, or the whole projection at once.
void qk_norm(QkNorm mode, const TensorView& w, float* x, int64_t n_heads, int64_t hd, float eps) {
  const float* weight = static_cast<const float*>(w.data);
  if (mode == QkNorm::PER_HEAD)
    for (int64_t h = 0; h < n_heads; ++h) rms_norm(x + h * hd, weight, x + h * hd, hd, eps);
  else if (mode == QkNorm::WHOLE)
    rms_norm(x, weight, x, n_heads * hd, eps);
}

}  // namespace

void attention_gqa(const LayerContext& l, int64_t n) {
  const ModelConfig& c = l.c;
  ForwardScratch& s = l.s;
  const LayerWeights& L = l.w;
  const int64_t hd = c.head_dim, kv_dim = c.kv_dim(), q_dim = c.q_dim();

  // q, k and v read the same input: convert it once when their weights share a vec_dot type.
  const GgmlType vt = type_traits(L.wq.type).vec_dot_type;
  if (type_traits(L.wk.type).vec_dot_type == vt && type_traits(L.wv.type).vec_dot_type == vt) {
    s.act.quantize(vt, s.xn.data(), n, c.n_embd, &l.pool);
    matmul(L.wq, s.act, s.q.data(), l.pool);
    matmul(L.wk, s.act, s.k.data(), l.pool);
    matmul(L.wv, s.act, s.v.data(), l.pool);
  } else {
    linear(L.wq, s.xn.data(), n, s.q.data(), s.act, l.pool);
    linear(L.wk, s.xn.data(), n, s.k.data(), s.act, l.pool);
    linear(L.wv, s.xn.data(), n, s.v.data(), s.act, l.pool);
  }
  add_bias(L.bq, s.q.data(), n, q_dim);
  add_bias(L.bk, s.k.data(), n, kv_dim);
  add_bias(L.bv, s.v.data(), n, kv_dim);
  for (int64_t t = 0; t < n; ++t) {
    float* q = &s.q[t * q_dim];
    float* k = &s.k[t * kv_dim];
    qk_norm(l.desc.qk_norm, L.q_norm, q, c.n_head, hd, c.rms_eps);
    qk_norm(l.desc.qk_norm, L.k_norm, k, c.n_head_kv, hd, c.rms_eps);
    const float* cs = c.n_rot ? &s.rope[t * c.n_rot] : nullptr;
    if (c.rope_mode == RopeMode::NEOX) {
      rope_apply_neox(q, c.n_head, hd, c.n_rot, cs);
      rope_apply_neox(k, c.n_head_kv, hd, c.n_rot, cs);
    } else {
      rope_apply(q, c.n_head, hd, c.n_rot, cs);
      rope_apply(k, c.n_head_kv, hd, c.n_rot, cs);
    }
    l.at.kv[t]->store(l.layer, l.at.pos[t], k, &s.v[t * kv_dim]);
  }

  CachedAttention a;
  a.q = s.q.data(), a.q_stride = q_dim, a.out = s.attn.data(), a.out_stride = q_dim;
  a.n_head = c.n_head, a.group = c.n_head / c.n_head_kv, a.hd_k = a.hd_v = hd;
  a.window = l.desc.sliding_window;
  a.sinks = l.desc.attn_sinks ? static_cast<const float*>(L.sinks.data) : nullptr;
  a.scale = 1.0f / std::sqrt(static_cast<float>(hd));
  attend_cached(l, n, a);
}

void attend_cached(const LayerContext& l, int64_t n, const CachedAttention& a) {
  ForwardScratch& s = l.s;
  const KvCache& kv0 = *l.at.kv[0];
  const int64_t hd = a.hd_k, hd_v = a.hd_v, window = a.window;
  const GgmlType tk = kv0.type_k(), tv = a.values_in_keys ? tk : kv0.type_v();
  const size_t k_head_bytes = row_size(tk, hd), v_head_bytes = row_size(tv, hd_v);
  const size_t q8_bytes = row_size(GgmlType::Q8_0, hd);
  const VecDotFn k_dot = tk == GgmlType::F32 ? nullptr : vec_dot_kernels(tk).fast;
  const ToFloatFn v_to_float = type_traits(tv).to_float;
  auto v_row = [&](const KvCache& kv, int64_t p, int64_t kvh) {
    return a.values_in_keys ? kv.k_row(l.layer, p) : kv.v_row(l.layer, p) + kvh * v_head_bytes;
  };
  l.pool.run([&](int ith, int nth) {
    float* scores = &s.scores[static_cast<size_t>(ith) * kv0.n_ctx()];
    float* q_conv = &s.head_rows[static_cast<size_t>(ith) * 2 * hd];
    float* v_conv = q_conv + hd;
    uint8_t* q_q8 = s.head_q.empty() ? nullptr : &s.head_q[static_cast<size_t>(ith) * q8_bytes];
    auto [begin, end] = split_range(n * a.n_head, ith, nth);
    for (int64_t job = begin; job < end; ++job) {
      const int64_t t = job / a.n_head, h = job % a.n_head, kvh = h / a.group;
      const KvCache& kv = *l.at.kv[t];
      const float* q = &a.q[t * a.q_stride + h * hd];
      const int64_t last = l.at.last ? l.at.last[t] : l.at.pos[t], first = window > 0 ? std::max<int64_t>(0, last - window + 1) : 0;
      const int64_t n_keys = last - first + 1;
      if (tk == GgmlType::F32) {
        for (int64_t j = 0; j < n_keys; ++j) {
          const float* k = reinterpret_cast<const float*>(kv.k_row(l.layer, first + j)) + kvh * hd;
          float dot = 0;
          for (int64_t d = 0; d < hd; ++d) dot += q[d] * k[d];
          scores[j] = dot * a.scale;
        }
      } else {
        const void* qv = q_conv;
        if (tk == GgmlType::F16 && l.flash_attn) {
          qv = q;  // f16 keys take f32 queries
        } else if (tk == GgmlType::F16) {
          for (int64_t d = 0; d < hd; ++d) q_conv[d] = fp16_to_fp32(fp32_to_fp16(q[d]));
        } else {
          quantize_act_row(GgmlType::Q8_0, q, q_q8, hd);
          qv = q_q8;
        }
        for (int64_t j = 0; j < n_keys; ++j) {
          float dot = 0;
          k_dot(hd, &dot, kv.k_row(l.layer, first + j) + kvh * k_head_bytes, qv);
          scores[j] = dot * a.scale;
        }
      }
      if (a.sinks) softmax_with_sink(scores, n_keys, a.sinks[h]);
      else softmax(scores, n_keys);
      float* out = &a.out[t * a.out_stride + h * hd_v];
      std::fill(out, out + hd_v, 0.0f);
      for (int64_t j = 0; j < n_keys; ++j) {
        const uint8_t* vrow = v_row(kv, first + j, kvh);
        float w = scores[j];
        const float* v = reinterpret_cast<const float*>(vrow);
        if (tv != GgmlType::F32) {
          v_to_float(vrow, v_conv, hd_v);
          v = v_conv;
          if (tv == GgmlType::F16 && !l.flash_attn) w = fp16_to_fp32(fp32_to_fp16(w));
        }
        for (int64_t d = 0; d < hd_v; ++d) out[d] += w * v[d];
      }
    }
  });
}

}  // namespace swapmoe
