// Attention blocks. Arithmetic follows llama.cpp for each KV cache type: f32 keys and values as
// plain float dot products; q8_0 quantises the query to q8_0; f16 as its flash-attention kernel
// computes a prompt batch (f32 query and softmax weights over rows widened from f16) or, with
// -fa off, as its non-flash path (both rounded to f16, as ggml's products with an f16 operand do).
#include <algorithm>
#include <cmath>

#include "core/error.h"
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
  const int64_t hd = a.hd_k, hd_v = a.hd_v, window = a.window, n_ctx = kv0.n_ctx();
  const GgmlType tk = kv0.type_k(), tv = a.values_in_keys ? tk : kv0.type_v();
  const size_t k_head_bytes = row_size(tk, hd), v_head_bytes = row_size(tv, hd_v);
  const size_t q8_bytes = row_size(GgmlType::Q8_0, hd);
  const VecDotFn k_dot = tk == GgmlType::F32 ? nullptr : vec_dot_kernels(tk).fast;
  const VecDotT4Fn k_dot4 = tk == GgmlType::F16 ? vec_dot_kernels(tk).t4 : nullptr;
  static const AttentionKeyKernels kNone{};
  const AttentionKeyKernels& keys4 = tk == GgmlType::F16 ? f16_key_kernels() : kNone;
  const size_t k_stride = kv0.k_row_bytes();
  const ToFloatFn v_to_float = type_traits(tv).to_float;
  auto v_row = [&](const KvCache& kv, int64_t p, int64_t kvh) {
    return a.values_in_keys ? kv.k_row(l.layer, p) : kv.v_row(l.layer, p) + kvh * v_head_bytes;
  };
  // A job is a run of query heads of one KV head, so each key and value row it reads serves the
  // whole run: f16 keys are scored 4 rows x 4 heads at a time (f16_key_kernels), and the values'
  // weighted sums keep 4 heads in registers (fp16_weighted_sum). The runs are split further when
  // a decode step alone would leave threads without a job. A head's arithmetic depends only on
  // its own position (which keys fall in groups of 4), never on the run or the batch around it.
  const int64_t nth = l.pool.size(), n_kv_head = a.n_head / a.group;
  const int64_t max_heads = std::min(a.group, kAttentionHeadsPerJob);
  int64_t heads = max_heads;
  auto n_runs = [&](int64_t h) { return (a.group + h - 1) / h; };
  while (heads > 1 && n * n_kv_head * n_runs(heads) < 2 * nth) heads = (heads + 1) / 2;
  const int64_t runs = n_runs(heads);
  if (s.scores.size() < static_cast<size_t>(nth * max_heads * n_ctx) ||
      s.head_rows.size() < static_cast<size_t>(nth * (max_heads + 1) * std::max(hd, hd_v)))
    fail("attention", "scratch smaller than the memory plan's", "a bug: scratch_sizes() and attend_cached() disagree");
  l.pool.run([&](int ith, int) {
    float* scores = &s.scores[static_cast<size_t>(ith * max_heads * n_ctx)];
    float* q_conv = &s.head_rows[static_cast<size_t>(ith * (max_heads + 1) * std::max(hd, hd_v))];
    float* v_conv = q_conv + max_heads * hd;
    uint8_t* q_q8 = s.head_q.empty() ? nullptr : &s.head_q[static_cast<size_t>(ith * max_heads) * q8_bytes];
    const void* qv[kAttentionHeadsPerJob];
    auto [begin, end] = split_range(n * n_kv_head * runs, ith, static_cast<int>(nth));
    for (int64_t job = begin; job < end; ++job) {
      const int64_t t = job / (n_kv_head * runs), kvh = job / runs % n_kv_head;
      const int64_t h0 = kvh * a.group + job % runs * heads, nh = std::min(heads, (kvh + 1) * a.group - h0);
      const KvCache& kv = *l.at.kv[t];
      const int64_t last = l.at.last ? l.at.last[t] : l.at.pos[t], first = window > 0 ? std::max<int64_t>(0, last - window + 1) : 0;
      const int64_t n_keys = last - first + 1;
      for (int64_t i = 0; i < nh; ++i) {
        const float* q = &a.q[t * a.q_stride + (h0 + i) * hd];
        if (tk == GgmlType::F32 || (tk == GgmlType::F16 && l.flash_attn)) {
          qv[i] = q;  // f16 keys take f32 queries
        } else if (tk == GgmlType::F16) {
          float* qc = q_conv + i * hd;
          for (int64_t d = 0; d < hd; ++d) qc[d] = fp16_to_fp32(fp32_to_fp16(q[d]));
          qv[i] = qc;
        } else {
          quantize_act_row(GgmlType::Q8_0, q, q_q8 + i * q8_bytes, hd);
          qv[i] = q_q8 + i * q8_bytes;
        }
      }
      // One key against the run's queries.
      auto score_key = [&](int64_t j) {
        const uint8_t* krow = kv.k_row(l.layer, first + j) + kvh * k_head_bytes;
        int64_t i = 0;
        for (float dots[4]; k_dot4 && i + 4 <= nh; i += 4) {  // the key widened once for 4 queries
          const void* q4[4] = {qv[i], qv[i + 1], qv[i + 2], qv[i + 3]};
          k_dot4(hd, dots, krow, q4);
          for (int r = 0; r < 4; ++r) scores[(i + r) * n_ctx + j] = dots[r] * a.scale;
        }
        for (; i < nh; ++i) {
          float dot = 0;
          if (tk == GgmlType::F32) {
            const float* k = reinterpret_cast<const float*>(krow);
            const float* q = static_cast<const float*>(qv[i]);
            for (int64_t d = 0; d < hd; ++d) dot += q[d] * k[d];
          } else {
            k_dot(hd, &dot, krow, qv[i]);
          }
          scores[i * n_ctx + j] = dot * a.scale;
        }
      };
      // f16 keys: 4 rows at a time where they follow one another, against 4 queries or one.
      for (int64_t j = 0, run = 0; j < n_keys; j += run) {
        run = std::min(n_keys - j, kv.contiguous_rows(l.layer, first + j));
        int64_t jj = j;
        for (float s16[16]; keys4.x4 && jj + 4 <= j + run; jj += 4) {
          const uint8_t* krow = kv.k_row(l.layer, first + jj) + kvh * k_head_bytes;
          int64_t i = 0;
          for (; keys4.x4t4 && i + 4 <= nh; i += 4) {
            keys4.x4t4(hd, s16, krow, k_stride, &qv[i]);
            for (int q = 0; q < 4; ++q)
              for (int r = 0; r < 4; ++r) scores[(i + q) * n_ctx + jj + r] = s16[q * 4 + r] * a.scale;
          }
          for (; i < nh; ++i) {
            keys4.x4(hd, s16, krow, k_stride, qv[i]);
            for (int r = 0; r < 4; ++r) scores[i * n_ctx + jj + r] = s16[r] * a.scale;
          }
        }
        for (; jj < j + run; ++jj) score_key(jj);
      }
      for (int64_t i = 0; i < nh; ++i) {
        if (a.sinks) softmax_with_sink(scores + i * n_ctx, n_keys, a.sinks[h0 + i]);
        else softmax(scores + i * n_ctx, n_keys);
        if (tv == GgmlType::F16 && !l.flash_attn)
          for (int64_t j = 0; j < n_keys; ++j) scores[i * n_ctx + j] = fp16_to_fp32(fp32_to_fp16(scores[i * n_ctx + j]));
        float* out = &a.out[t * a.out_stride + (h0 + i) * hd_v];
        std::fill(out, out + hd_v, 0.0f);
      }
      if (tv == GgmlType::F16) {  // the heads' sums over runs of rows that are contiguous
        const int64_t v_stride = static_cast<int64_t>(a.values_in_keys ? kv.k_row_bytes() : kv.v_row_bytes()) / 2;
        for (int64_t j = 0, run = 0; j < n_keys; j += run) {
          run = std::min(n_keys - j, kv.contiguous_rows(l.layer, first + j));
          fp16_weighted_sum(reinterpret_cast<const uint16_t*>(v_row(kv, first + j, kvh)), v_stride, run, hd_v, scores + j,
                            n_ctx, &a.out[t * a.out_stride + h0 * hd_v], hd_v, nh);
        }
        continue;
      }
      for (int64_t j = 0; j < n_keys; ++j) {
        const uint8_t* vrow = v_row(kv, first + j, kvh);
        const float* v = reinterpret_cast<const float*>(vrow);
        if (tv != GgmlType::F32) {
          v_to_float(vrow, v_conv, hd_v);
          v = v_conv;
        }
        for (int64_t i = 0; i < nh; ++i) {
          const float w = scores[i * n_ctx + j];
          float* out = &a.out[t * a.out_stride + (h0 + i) * hd_v];
          for (int64_t d = 0; d < hd_v; ++d) out[d] += w * v[d];
        }
      }
    }
  });
}

}  // namespace swapmoe
