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

namespace {

// One call of attend_cached: the cache's types and the kernels for them, and the three steps of
// a job. A job is a run of query heads of one KV head (in a prompt, with block(), the same heads
// of consecutive tokens), so each key and value row it reads serves the whole run: f16 keys are
// scored 4 rows x 4 queries at a time (f16_key_kernels), and the values' weighted sums keep 4
// queries in registers (fp16_weighted_sum). A head's arithmetic depends only on its own position
// (which keys fall in groups of 4), never on the run, the block or the batch around it.
class AttentionCall {
 public:
  // Heads [h0, h0 + nh) of token t, over KV head kvh, and the keys they attend to.
  struct Run {
    const KvCache* kv;
    int64_t t, kvh, h0, nh, first, n_keys;
  };

  AttentionCall(const LayerContext& l, const CachedAttention& a)
      : l_(l), a_(a), hd_(a.hd_k), hd_v_(a.hd_v), n_ctx_(l.at.kv[0]->n_ctx()), tk_(l.at.kv[0]->type_k()),
        tv_(a.values_in_keys ? tk_ : l.at.kv[0]->type_v()), k_head_bytes_(row_size(tk_, hd_)),
        v_head_bytes_(row_size(tv_, hd_v_)), q8_bytes_(row_size(GgmlType::Q8_0, hd_)),
        k_stride_(l.at.kv[0]->k_row_bytes()), k_dot_(tk_ == GgmlType::F32 ? nullptr : vec_dot_kernels(tk_).fast),
        keys4_(tk_ == GgmlType::F16 ? f16_key_kernels() : kNoKeyKernels), v_to_float_(type_traits(tv_).to_float) {}

  int64_t n_ctx() const { return n_ctx_; }
  size_t q8_bytes() const { return q8_bytes_; }

  // The run's queries as the key type's dot product takes them: f32 (f16 keys, flash), rounded
  // through f16 (-fa off) into q_conv, or q8_0 into q_q8.
  void queries(const Run& r, float* q_conv, uint8_t* q_q8, const void** qv) const {
    for (int64_t i = 0; i < r.nh; ++i) {
      const float* q = &a_.q[r.t * a_.q_stride + (r.h0 + i) * hd_];
      if (tk_ == GgmlType::F32 || (tk_ == GgmlType::F16 && l_.flash_attn)) {
        qv[i] = q;
      } else if (tk_ == GgmlType::F16) {
        float* qc = q_conv + i * hd_;
        for (int64_t d = 0; d < hd_; ++d) qc[d] = fp16_to_fp32(fp32_to_fp16(q[d]));
        qv[i] = qc;
      } else {
        quantize_act_row(GgmlType::Q8_0, q, q_q8 + i * q8_bytes_, hd_);
        qv[i] = q_q8 + i * q8_bytes_;
      }
    }
  }

  // The run's scaled scores of keys j0.., head i's at scores[i * n_ctx]: f16 keys 4 rows at a time
  // where they follow one another (against 4 queries or one), the rest one key at a time.
  void score(const Run& r, const void* const* qv, float* scores, int64_t j0 = 0) const {
    for (int64_t j = j0, run = 0; j < r.n_keys; j += run) {
      run = std::min(r.n_keys - j, r.kv->contiguous_rows(l_.layer, r.first + j));
      int64_t jj = j;
      for (; keys4_.x4 && jj + 4 <= j + run; jj += 4) score_four_keys(key_row(r, jj), jj, qv, r.nh, scores);
      for (; jj < j + run; ++jj) score_key(r, jj, qv, scores);
    }
  }

  // Each head's scores become its softmax weights (with its sink; rounded to f16 as the non-flash
  // path's f16 product rounds them).
  void weights(const Run& r, float* scores) const {
    for (int64_t i = 0; i < r.nh; ++i) {
      float* w = scores + i * n_ctx_;
      if (a_.sinks) softmax_with_sink(w, r.n_keys, a_.sinks[r.h0 + i]);
      else softmax(w, r.n_keys);
      if (tv_ == GgmlType::F16 && !l_.flash_attn)
        for (int64_t j = 0; j < r.n_keys; ++j) w[j] = fp16_to_fp32(fp32_to_fp16(w[j]));
    }
  }

  // A prompt's tokens can share a job when their keys and values are f16 rows of one cache, all
  // from position 0 in one contiguous run (no sliding window, no MLA).
  bool can_block() const { return tk_ == GgmlType::F16 && tv_ == GgmlType::F16 && !a_.values_in_keys && a_.window == 0; }

  // The runs of nt consecutive tokens, the same heads of one KV head, keys from position 0:
  // query (token b, head i) is row b * nh + i of scores, qv and o (o: hd_v floats a row). Each
  // key and value row is widened once for all nt * nh queries, and every query's arithmetic is
  // the one it has alone: its keys in the same groups of 4, the same key order in its sums.
  void block(const Run* runs, int64_t nt, float* scores, float* q_conv, const void** qv, float* o) const {
    const int64_t nh = runs[0].nh, nq = nt * nh;
    int64_t min_keys = runs[0].n_keys;
    for (int64_t b = 0; b < nt; ++b) {
      queries(runs[b], q_conv + b * nh * hd_, nullptr, qv + b * nh);
      min_keys = std::min(min_keys, runs[b].n_keys);
    }
    // Keys every query scores in the same groups of 4, together; then each token's own.
    const Run& r0 = runs[0];
    const int64_t common = keys4_.x4 ? min_keys / 4 * 4 : 0;
    for (int64_t jj = 0; jj < common; jj += 4) score_four_keys(key_row(r0, jj), jj, qv, nq, scores);
    for (int64_t b = 0; b < nt; ++b) {
      score(runs[b], qv + b * nh, scores + b * nh * n_ctx_, common);
      weights(runs[b], scores + b * nh * n_ctx_);
    }
    // Values: the keys all tokens attend to for all queries, then each token's last keys.
    std::fill(o, o + nq * hd_v_, 0.0f);
    const int64_t v_stride = static_cast<int64_t>(r0.kv->v_row_bytes()) / 2;
    fp16_weighted_sum(reinterpret_cast<const uint16_t*>(value_row(r0, 0)), v_stride, min_keys, hd_v_, scores, n_ctx_, o,
                      hd_v_, nq);
    for (int64_t b = 0; b < nt; ++b) {
      const Run& r = runs[b];
      if (r.n_keys > min_keys)
        fp16_weighted_sum(reinterpret_cast<const uint16_t*>(value_row(r, min_keys)), v_stride, r.n_keys - min_keys, hd_v_,
                          scores + b * nh * n_ctx_ + min_keys, n_ctx_, o + b * nh * hd_v_, hd_v_, nh);
      float* out0 = &a_.out[r.t * a_.out_stride + r.h0 * hd_v_];
      std::copy(o + b * nh * hd_v_, o + (b + 1) * nh * hd_v_, out0);
    }
  }

  // Softmax of each head's scores (with its sink), then out = the weighted sum of the values.
  void attend(const Run& r, float* scores, float* v_conv) const {
    float* out0 = &a_.out[r.t * a_.out_stride + r.h0 * hd_v_];
    weights(r, scores);
    for (int64_t i = 0; i < r.nh; ++i) std::fill(out0 + i * hd_v_, out0 + (i + 1) * hd_v_, 0.0f);
    if (tv_ == GgmlType::F16) {  // the heads' sums over runs of rows that are contiguous
      const int64_t v_stride = static_cast<int64_t>(a_.values_in_keys ? r.kv->k_row_bytes() : r.kv->v_row_bytes()) / 2;
      for (int64_t j = 0, run = 0; j < r.n_keys; j += run) {
        run = std::min(r.n_keys - j, r.kv->contiguous_rows(l_.layer, r.first + j));
        fp16_weighted_sum(reinterpret_cast<const uint16_t*>(value_row(r, j)), v_stride, run, hd_v_, scores + j, n_ctx_,
                          out0, hd_v_, r.nh);
      }
      return;
    }
    for (int64_t j = 0; j < r.n_keys; ++j) {
      const uint8_t* vrow = value_row(r, j);
      const float* v = reinterpret_cast<const float*>(vrow);
      if (tv_ != GgmlType::F32) {
        v_to_float_(vrow, v_conv, hd_v_);
        v = v_conv;
      }
      for (int64_t i = 0; i < r.nh; ++i) {
        const float w = scores[i * n_ctx_ + j];
        float* out = out0 + i * hd_v_;
        for (int64_t d = 0; d < hd_v_; ++d) out[d] += w * v[d];
      }
    }
  }

 private:
  static constexpr AttentionKeyKernels kNoKeyKernels{};

  const uint8_t* key_row(const Run& r, int64_t j) const {
    return r.kv->k_row(l_.layer, r.first + j) + r.kvh * k_head_bytes_;
  }
  const uint8_t* value_row(const Run& r, int64_t j) const {
    return a_.values_in_keys ? r.kv->k_row(l_.layer, r.first + j) : r.kv->v_row(l_.layer, r.first + j) + r.kvh * v_head_bytes_;
  }

  // The 4 f16 key rows from krow (keys jj..jj+3) against queries qv[0..nq): 4 queries at a time,
  // the rest one by one; scaled into scores[i * n_ctx + jj ..].
  void score_four_keys(const uint8_t* krow, int64_t jj, const void* const* qv, int64_t nq, float* scores) const {
    float s16[16];
    int64_t i = 0;
    for (; keys4_.x4t4 && i + 4 <= nq; i += 4) {
      keys4_.x4t4(hd_, s16, krow, k_stride_, &qv[i]);
      for (int q = 0; q < 4; ++q)
        for (int k = 0; k < 4; ++k) scores[(i + q) * n_ctx_ + jj + k] = s16[q * 4 + k] * a_.scale;
    }
    for (; i < nq; ++i) {
      keys4_.x4(hd_, s16, krow, k_stride_, qv[i]);
      for (int k = 0; k < 4; ++k) scores[i * n_ctx_ + jj + k] = s16[k] * a_.scale;
    }
  }

  // Key j against each of the run's queries.
  void score_key(const Run& r, int64_t j, const void* const* qv, float* scores) const {
    const uint8_t* krow = key_row(r, j);
    for (int64_t i = 0; i < r.nh; ++i) {
      float dot = 0;
      if (tk_ == GgmlType::F32) {
        const float* k = reinterpret_cast<const float*>(krow);
        const float* q = static_cast<const float*>(qv[i]);
        for (int64_t d = 0; d < hd_; ++d) dot += q[d] * k[d];
      } else {
        k_dot_(hd_, &dot, krow, qv[i]);
      }
      scores[i * n_ctx_ + j] = dot * a_.scale;
    }
  }

  const LayerContext& l_;
  const CachedAttention& a_;
  const int64_t hd_, hd_v_, n_ctx_;
  const GgmlType tk_, tv_;
  const size_t k_head_bytes_, v_head_bytes_, q8_bytes_, k_stride_;
  const VecDotFn k_dot_;
  const AttentionKeyKernels& keys4_;
  const ToFloatFn v_to_float_;
};

}  // namespace

void attend_cached(const LayerContext& l, int64_t n, const CachedAttention& a) {
  ForwardScratch& s = l.s;
  const AttentionCall call(l, a);
  const int64_t hd = std::max(a.hd_k, a.hd_v), n_ctx = call.n_ctx();
  // Jobs of up to kAttentionHeadsPerJob heads, split further when a decode step alone would
  // leave threads without a job.
  const int64_t nth = l.pool.size(), n_kv_head = a.n_head / a.group, rows = s.attention_rows;
  int64_t heads = std::min(a.group, kAttentionHeadsPerJob);
  auto n_runs = [&](int64_t h) { return (a.group + h - 1) / h; };
  while (heads > 1 && n * n_kv_head * n_runs(heads) < 2 * nth) heads = (heads + 1) / 2;
  const int64_t runs = n_runs(heads);
  if (rows < heads || s.scores.size() < static_cast<size_t>(nth * rows * n_ctx) ||
      s.head_rows.size() < static_cast<size_t>(nth * (2 * rows + 1) * hd))
    fail("attention", "scratch smaller than the memory plan's", "a bug: scratch_sizes() and attend_cached() disagree");
  // A prompt's consecutive tokens share a job (a block) when the heads of one leave room for
  // more queries: an MHA or small-group model's key and value rows are then widened once for
  // several tokens. Fewer tokens a block while that would leave threads without a job. (A
  // server's batch may hold a prompt chunk beside other sequences' decode tokens: a block that
  // straddles two sequences takes its tokens one at a time.)
  int64_t tokens = 1;
  bool neighbours_share_a_cache = false;
  for (int64_t t = 0; t + 1 < n && !neighbours_share_a_cache; ++t) neighbours_share_a_cache = l.at.kv[t] == l.at.kv[t + 1];
  if (call.can_block() && neighbours_share_a_cache) {
    tokens = std::min(rows / heads, n);
    while (tokens > 1 && (n + tokens - 1) / tokens * n_kv_head * runs < 2 * nth) tokens = (tokens + 1) / 2;
  }
  const int64_t n_blocks = (n + tokens - 1) / tokens;
  // Threads take jobs in order as they finish the last: a prompt's later tokens attend to more
  // keys, and equal contiguous shares left the thread with the first half of a prefill waiting
  // for the other (its share of the keys a quarter of the whole).
  l.pool.for_each_job(n_blocks * n_kv_head * runs, [&](int ith, int64_t job) {
    float* scores = &s.scores[static_cast<size_t>(ith * rows * n_ctx)];
    float* q_conv = &s.head_rows[static_cast<size_t>(ith * (2 * rows + 1) * hd)];
    float* v_conv = q_conv + rows * a.hd_k;
    float* o = v_conv + hd;
    uint8_t* q_q8 = s.head_q.empty() ? nullptr : &s.head_q[static_cast<size_t>(ith * rows) * call.q8_bytes()];
    const void* qv[kAttentionHeadsPerJob];
    const int64_t t0 = job / (n_kv_head * runs) * tokens, kvh = job / runs % n_kv_head;
    const int64_t h0 = kvh * a.group + job % runs * heads, nh = std::min(heads, (kvh + 1) * a.group - h0);
    const int64_t nt = std::min(tokens, n - t0);
    AttentionCall::Run r[kAttentionHeadsPerJob] = {};
    int64_t max_keys = 0;
    for (int64_t b = 0; b < nt; ++b) {
      const int64_t t = t0 + b, last = l.at.last ? l.at.last[t] : l.at.pos[t];
      const int64_t first = a.window > 0 ? std::max<int64_t>(0, last - a.window + 1) : 0;
      r[b] = AttentionCall::Run{l.at.kv[t], t, kvh, h0, nh, first, last - first + 1};
      max_keys = std::max(max_keys, r[b].n_keys);
    }
    const bool one_cache = std::all_of(r, r + nt, [&](const AttentionCall::Run& x) { return x.kv == r[0].kv; });
    if (nt > 1 && one_cache && r[0].kv->contiguous_rows(l.layer, 0) >= max_keys) {
      call.block(r, nt, scores, q_conv, qv, o);
      return;
    }
    for (int64_t b = 0; b < nt; ++b) {
      call.queries(r[b], q_conv, q_q8, qv);
      call.score(r[b], qv, scores);
      call.attend(r[b], scores, v_conv);
    }
  });
}

}  // namespace swapmoe
