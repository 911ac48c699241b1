#include "model/transformer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "core/error.h"
#include "kernels/matmul.h"
#include "model/ops.h"

namespace swapmoe {

namespace {

// Indices of the k largest values among the allowed ones (ties: lower index first), in
// descending order, and the softmax over the chosen values. Returns how many were chosen
// (fewer than k only when fewer than k are allowed).
int top_k_softmax(const float* logits, int64_t n, int k, const uint8_t* allowed, int32_t* ids, float* weights) {
  int chosen = 0;
  for (int64_t e = 0; e < n; ++e) {
    if (allowed && !allowed[e]) continue;
    // insertion into the sorted prefix ids[0..chosen)
    int pos = chosen < k ? chosen : k;
    while (pos > 0 && logits[ids[pos - 1]] < logits[e]) --pos;
    if (pos >= k) continue;
    int last = chosen < k ? chosen : k - 1;
    for (int j = last; j > pos; --j) ids[j] = ids[j - 1];
    ids[pos] = static_cast<int32_t>(e);
    if (chosen < k) ++chosen;
  }
  if (chosen == 0) return 0;
  const float max = logits[ids[0]];
  double sum = 0;
  for (int j = 0; j < chosen; ++j) {
    weights[j] = std::exp(logits[ids[j]] - max);
    sum += weights[j];
  }
  for (int j = 0; j < chosen; ++j) weights[j] = static_cast<float>(weights[j] / sum);
  return chosen;
}

bool same_set(const int32_t* a, int na, const int32_t* b, int nb) {
  if (na != nb) return false;
  for (int i = 0; i < na; ++i)
    if (std::find(b, b + nb, a[i]) == b + nb) return false;
  return true;
}

void embed_row(const TensorView& table, int64_t row, float* out) {
  const TypeTraits& t = type_traits(table.type);
  t.to_float(table.row(row), out, table.ne[0]);
}

}  // namespace

Transformer::Transformer(const Model& model, int64_t n_ctx, ThreadPool& pool, ExpertProvider* experts,
                         int64_t n_ubatch)
    : model_(model), cfg_(model.config()), n_ctx_(n_ctx), n_ubatch_(std::max<int64_t>(1, n_ubatch)), pool_(pool),
      mapped_(model), experts_(experts ? experts : &mapped_) {
  if (n_ctx <= 0) fail("transformer", fmt::format("context size {} must be positive", n_ctx), "pass -c N with N > 0");
  const ModelConfig& c = cfg_;
  const int64_t kv_dim = c.n_head_kv * c.head_dim, q_dim = c.n_head * c.head_dim, u = n_ubatch_;
  k_cache_.assign(c.n_layer * n_ctx * kv_dim, 0.0f);
  v_cache_.assign(c.n_layer * n_ctx * kv_dim, 0.0f);
  x_.resize(u * c.n_embd);
  xn_.resize(u * c.n_embd);
  q_.resize(u * q_dim);
  k_.resize(u * kv_dim);
  v_.resize(u * kv_dim);
  attn_.resize(u * q_dim);
  tmp_.resize(u * c.n_embd);
  x_norm_.resize(u);
  scores_.resize(static_cast<size_t>(pool.size()) * n_ctx);
  rope_.resize(u * c.n_rot);
  const int64_t n_exp = std::max<int64_t>(c.n_expert, 1), k = std::max<int64_t>(c.n_expert_used, 1);
  router_.resize(u * n_exp);
  topk_ids_.resize(u * k);
  masked_ids_.resize(u * k);
  topk_w_.resize(u * k);
  masked_w_.resize(u * k);
  gathered_.resize(u * c.n_embd);
  gate_.resize(u * c.n_ff);
  up_.resize(u * c.n_ff);
  down_.resize(u * c.n_embd);
  moe_out_.resize(u * c.n_embd);
  expert_tokens_.resize(u * k);
  n_masked_.resize(u);
  token_ids_.resize(u * k);
  choice_out_.resize(u * k * c.n_embd);
}

uint64_t Transformer::kv_cache_bytes(const ModelConfig& c, int64_t n_ctx) {
  return 2ull * c.n_layer * n_ctx * c.n_head_kv * c.head_dim * sizeof(float);
}

uint64_t Transformer::scratch_bytes(const ModelConfig& c, int64_t n_ctx, int64_t u, int n_threads) {
  const int64_t kv_dim = c.n_head_kv * c.head_dim, q_dim = c.n_head * c.head_dim;
  const int64_t n_exp = std::max<int64_t>(c.n_expert, 1), k = std::max<int64_t>(c.n_expert_used, 1);
  int64_t floats = u * (c.n_embd * (6 + k) + q_dim * 2 + kv_dim * 2 + 1 + c.n_rot + n_exp + 2 * k + 2 * c.n_ff + 1) +
                   int64_t(n_threads) * n_ctx;
  int64_t ints = u * (2 * k + 1);
  return static_cast<uint64_t>(floats) * 4 + static_cast<uint64_t>(ints) * 4;
}

uint64_t Transformer::kv_cache_bytes() const { return kv_cache_bytes(cfg_, n_ctx_); }
uint64_t Transformer::scratch_bytes() const { return scratch_bytes(cfg_, n_ctx_, n_ubatch_, pool_.size()); }

void Transformer::forward(std::span<const int32_t> tokens, int64_t pos, float* logits, bool all_logits) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) return;
  if (pos < 0 || pos + n > n_ctx_)
    fail("transformer", fmt::format("positions {}..{} exceed the context size {}", pos, pos + n - 1, n_ctx_),
         "raise the context size with -c");
  for (int32_t t : tokens)
    if (t < 0 || t >= cfg_.n_vocab)
      fail("transformer", fmt::format("token id {} is outside the vocabulary (0..{})", t, cfg_.n_vocab - 1),
           "the tokenizer and the model do not match");
  for (int64_t b = 0; b < n; b += n_ubatch_) {
    const int64_t m = std::min(n_ubatch_, n - b);
    const bool last = b + m == n;
    float* out = all_logits ? logits + b * cfg_.n_vocab : (last ? logits : nullptr);
    forward_ubatch(tokens.data() + b, m, pos + b, out, all_logits);
  }
}

void Transformer::forward_ubatch(const int32_t* tokens, int64_t n, int64_t pos, float* logits, bool all_logits) {
  const ModelConfig& c = cfg_;
  for (int64_t t = 0; t < n; ++t) embed_row(model_.tok_embd, tokens[t], &x_[t * c.n_embd]);
  for (int64_t t = 0; t < n; ++t) rope_cache(pos + t, c.n_rot, c.rope_freq_base, c.rope_freq_scale, &rope_[t * c.n_rot]);

  for (int layer = 0; layer < c.n_layer; ++layer) {
    const LayerWeights& L = model_.layers[layer];
    // attention block
    for (int64_t t = 0; t < n; ++t)
      rms_norm(&x_[t * c.n_embd], static_cast<const float*>(L.attn_norm.data), &xn_[t * c.n_embd], c.n_embd, c.rms_eps);
    attention(layer, n, pos);
    matmul(L.wo, attn_.data(), n, tmp_.data(), pool_);
    for (int64_t i = 0; i < n * c.n_embd; ++i) x_[i] += tmp_[i];
    // feed-forward block
    for (int64_t t = 0; t < n; ++t)
      x_norm_[t] = rms_norm(&x_[t * c.n_embd], static_cast<const float*>(L.ffn_norm.data), &xn_[t * c.n_embd],
                            c.n_embd, c.rms_eps);
    if (L.is_moe) {
      moe(layer, n, pos);
    } else {
      dense_ffn(layer, n);
    }
    for (int64_t i = 0; i < n * c.n_embd; ++i) x_[i] += moe_out_[i];
    experts_->layer_boundary(layer);
  }
  experts_->step_end(n);

  if (!logits) return;
  const int64_t first = all_logits ? 0 : n - 1;
  for (int64_t t = first; t < n; ++t)
    rms_norm(&x_[t * c.n_embd], static_cast<const float*>(model_.output_norm.data), &xn_[t * c.n_embd], c.n_embd,
             c.rms_eps);
  matmul(model_.output, &xn_[first * c.n_embd], n - first, logits, pool_);
}

void Transformer::attention(int layer, int64_t n, int64_t pos) {
  const ModelConfig& c = cfg_;
  const LayerWeights& L = model_.layers[layer];
  const int64_t hd = c.head_dim, kv_dim = c.n_head_kv * hd, q_dim = c.n_head * hd;
  matmul(L.wq, xn_.data(), n, q_.data(), pool_);
  matmul(L.wk, xn_.data(), n, k_.data(), pool_);
  matmul(L.wv, xn_.data(), n, v_.data(), pool_);
  float* kc = &k_cache_[static_cast<size_t>(layer) * n_ctx_ * kv_dim];
  float* vc = &v_cache_[static_cast<size_t>(layer) * n_ctx_ * kv_dim];
  for (int64_t t = 0; t < n; ++t) {
    rope_apply(&q_[t * q_dim], c.n_head, hd, c.n_rot, &rope_[t * c.n_rot]);
    rope_apply(&k_[t * kv_dim], c.n_head_kv, hd, c.n_rot, &rope_[t * c.n_rot]);
    std::memcpy(&kc[(pos + t) * kv_dim], &k_[t * kv_dim], kv_dim * sizeof(float));
    std::memcpy(&vc[(pos + t) * kv_dim], &v_[t * kv_dim], kv_dim * sizeof(float));
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int64_t group = c.n_head / c.n_head_kv;
  pool_.run([&](int ith, int nth) {
    float* scores = &scores_[static_cast<size_t>(ith) * n_ctx_];
    auto [begin, end] = split_range(n * c.n_head, ith, nth);
    for (int64_t job = begin; job < end; ++job) {
      const int64_t t = job / c.n_head, h = job % c.n_head, kvh = h / group;
      const float* q = &q_[t * q_dim + h * hd];
      const int64_t n_keys = pos + t + 1;
      for (int64_t j = 0; j < n_keys; ++j) {
        const float* k = &kc[j * kv_dim + kvh * hd];
        float dot = 0;
        for (int64_t d = 0; d < hd; ++d) dot += q[d] * k[d];
        scores[j] = dot * scale;
      }
      softmax(scores, n_keys);
      float* out = &attn_[t * q_dim + h * hd];
      std::fill(out, out + hd, 0.0f);
      for (int64_t j = 0; j < n_keys; ++j) {
        const float* v = &vc[j * kv_dim + kvh * hd];
        const float w = scores[j];
        for (int64_t d = 0; d < hd; ++d) out[d] += w * v[d];
      }
    }
  });
}

void Transformer::dense_ffn(int layer, int64_t n) {
  const ModelConfig& c = cfg_;
  const LayerWeights& L = model_.layers[layer];
  matmul(L.ffn_gate, xn_.data(), n, gate_.data(), pool_);
  matmul(L.ffn_up, xn_.data(), n, up_.data(), pool_);
  swiglu(gate_.data(), up_.data(), gate_.data(), n * c.n_ff);
  matmul(L.ffn_down, gate_.data(), n, moe_out_.data(), pool_);
}

void Transformer::moe(int layer, int64_t n, int64_t pos) {
  const ModelConfig& c = cfg_;
  const LayerWeights& L = model_.layers[layer];
  const int k = static_cast<int>(c.n_expert_used);
  const int64_t E = c.n_expert;
  matmul(L.router, xn_.data(), n, router_.data(), pool_);

  const uint8_t* usable = experts_->usable_mask(layer);
  std::vector<int>& n_masked = n_masked_;  // experts each token is routed to after masking
  for (int64_t t = 0; t < n; ++t) {
    int32_t* ids = &topk_ids_[t * k];
    float* w = &topk_w_[t * k];
    const float* logits = &router_[t * E];
    if (!(replay_routing && replay_routing(pos + t, layer, k, ids, w))) top_k_softmax(logits, E, k, nullptr, ids, w);
    if (on_routing) on_routing(RoutingEvent{pos + t, layer, k, ids, w});
    bool hit = true;
    for (int j = 0; j < k; ++j) hit = hit && experts_->is_resident(layer, ids[j]);
    int32_t* mids = &masked_ids_[t * k];
    float* mw = &masked_w_[t * k];
    if (usable) {
      // Mask, then route: the model's own rule over the usable experts only. A replayed trace
      // stands in for the router, so its ids are the ones masked.
      if (replay_routing) {
        std::vector<float> masked_logits(E, -std::numeric_limits<float>::infinity());
        for (int j = 0; j < k; ++j) masked_logits[ids[j]] = std::log(std::max(w[j], 1e-30f));
        for (int64_t e = 0; e < E; ++e)
          if (masked_logits[e] == -std::numeric_limits<float>::infinity()) masked_logits[e] = logits[e] - 1e4f;
        n_masked[t] = top_k_softmax(masked_logits.data(), E, k, usable, mids, mw);
      } else {
        n_masked[t] = top_k_softmax(logits, E, k, usable, mids, mw);
      }
    } else {
      std::copy(ids, ids + k, mids);
      std::copy(w, w + k, mw);
      n_masked[t] = k;
    }
    ++stats_.decisions;
    stats_.hits += hit;
    stats_.faithful += same_set(ids, k, mids, n_masked[t]);
  }
  experts_->observe(layer, n, k, topk_ids_.data(), topk_w_.data(), x_norm_.data());

  bool xn_quantized = false;
  // Group tokens by expert so that each expert's weights are read once per micro-batch. Each
  // (token, choice) output is kept apart and summed afterwards in top-k order, as llama.cpp does.
  for (int64_t e = 0; e < E; ++e) {
    int64_t m = 0;
    for (int64_t t = 0; t < n; ++t)
      for (int j = 0; j < n_masked[t]; ++j)
        if (masked_ids_[t * k + j] == e) expert_tokens_[m++] = static_cast<int32_t>(t * k + j);
    if (m == 0) continue;
    const ExpertWeights ew = experts_->acquire(layer, static_cast<int>(e));
    // The layer's input is quantised once for all experts (gate and up read the same rows);
    // each expert then runs on just its tokens.
    const GgmlType want = type_traits(ew.gate.type).vec_dot_type;
    if (!xn_quantized || xn_q_.type() != want) {
      xn_q_.quantize(want, xn_.data(), n, c.n_embd, &pool_);
      xn_quantized = true;
    }
    for (int64_t i = 0; i < m; ++i) token_ids_[i] = expert_tokens_[i] / k;
    matmul_rows(ew.gate, 0, c.n_ff, xn_q_, token_ids_.data(), m, {gate_.data(), c.n_ff}, pool_);
    if (type_traits(ew.up.type).vec_dot_type == want) {
      matmul_rows(ew.up, 0, c.n_ff, xn_q_, token_ids_.data(), m, {up_.data(), c.n_ff}, pool_);
    } else {
      for (int64_t i = 0; i < m; ++i)
        std::memcpy(&gathered_[i * c.n_embd], &xn_[token_ids_[i] * c.n_embd], c.n_embd * sizeof(float));
      matmul(ew.up, gathered_.data(), m, up_.data(), pool_);
    }
    swiglu(gate_.data(), up_.data(), gate_.data(), m * c.n_ff);
    matmul(ew.down, gate_.data(), m, down_.data(), pool_);
    for (int64_t i = 0; i < m; ++i)
      std::memcpy(&choice_out_[expert_tokens_[i] * c.n_embd], &down_[i * c.n_embd], c.n_embd * sizeof(float));
  }
  for (int64_t t = 0; t < n; ++t) {
    float* out = &moe_out_[t * c.n_embd];
    std::fill(out, out + c.n_embd, 0.0f);
    for (int j = 0; j < n_masked[t]; ++j) {
      const float* o = &choice_out_[(t * k + j) * c.n_embd];
      const float w = masked_w_[t * k + j];
      for (int64_t d = 0; d < c.n_embd; ++d) out[d] += w * o[d];
    }
  }
}

}  // namespace swapmoe
