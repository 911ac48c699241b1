#include "model/transformer.h"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "core/error.h"
#include "kernels/matmul.h"
#include "model/ops.h"
#include "model/token_work.h"

namespace swapmoe {

namespace {
// A model whose weights stay in the caches computes a layer on one thread until the layer's
// work (tokens x a token's multiply-adds) reaches kMinLayerWorkToSplit: below it, the hand-offs
// cost more than the second thread gives. A model read from DRAM splits at any size: more
// threads read faster. Measured with swapmoe bench -p N -n 0 -t 2 against -t 1 on 2 cores
// (docs/results.md, "When a second thread pays"): the shipped model (11 MiB, 0.58 M a layer a
// token) 0.56x at 1-16 tokens, 0.70x at 64, 0.86x at 256, 1.26x at 512; its 64-expert sibling
// (23 MiB, 1.1 M) 0.63x at 1, 0.76x at 16, 1.10x at 256; an OLMoE-shaped 2-layer Q8_0 file (1 GiB,
// 120 M) 1.68x at one token.
constexpr uint64_t kCachedModelBytes = uint64_t{64} << 20;
constexpr uint64_t kMinLayerWorkToSplit = 200'000'000;

// The shape the scratch is sized for: the pool's thread count, at least one token a micro-batch.
RunShape effective(RunShape run, const ThreadPool& pool) {
  run.n_ubatch = std::max<int64_t>(1, run.n_ubatch);
  run.n_threads = pool.size();
  return run;
}
}  // namespace

Transformer::Transformer(const Model& model, const RunShape& run, ThreadPool& pool, ExpertProvider* experts)
    : model_(model), cfg_(model.config()), run_(effective(run, pool)), pool_(pool), mapped_(model),
      experts_(experts ? experts : &mapped_), rope_(rope_params(cfg_)), s_(scratch_sizes(cfg_, run_)),
      place_kv_(static_cast<size_t>(run_.n_ubatch)), place_pos_(static_cast<size_t>(run_.n_ubatch)),
      place_last_(cfg_.is_vision() ? static_cast<size_t>(run_.n_ubatch) : 0),
      batch_tokens_(static_cast<size_t>(run_.n_ubatch)), predictor_(model),
      layer_multiply_adds_(token_work(model).multiply_adds / static_cast<uint64_t>(std::max<int64_t>(1, cfg_.n_layer))),
      cached_model_(model.total_bytes() <= kCachedModelBytes) {
  if (run.n_ctx <= 0) fail("transformer", fmt::format("context size {} must be positive", run.n_ctx), "pass -c N with N > 0");
}

void Transformer::check(const KvCache& kv, std::span<const int32_t> tokens, int64_t pos) const {
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t n_ctx = std::min(kv.n_ctx(), run_.n_ctx);
  if (run_.n_ubatch > kv.max_batch())
    fail("transformer", fmt::format("micro-batches of {} tokens do not fit a KV cache made for {}", run_.n_ubatch,
                                    kv.max_batch()),
         "make the KV cache with the Transformer's run shape");
  if (pos < 0 || pos + n > n_ctx)
    fail("transformer", fmt::format("positions {}..{} exceed the context size {}", pos, pos + n - 1, n_ctx),
         "raise the context size with -c");
  if (cfg_.is_vision())
    fail("transformer", "a vision model classifies images; it has no tokens to evaluate",
         "use swapmoe classify (or forward_images)");
  for (int32_t t : tokens)
    if (t < 0 || t >= cfg_.n_vocab)
      fail("transformer", fmt::format("token id {} is outside the vocabulary (0..{})", t, cfg_.n_vocab - 1),
           "the tokenizer and the model do not match");
}

const float* Transformer::forward(KvCache& kv, std::span<const int32_t> tokens, int64_t pos) {
  check(kv, tokens, pos);
  const int64_t n = static_cast<int64_t>(tokens.size()), u = run_.n_ubatch;
  if (n == 0) return nullptr;
  for (int64_t b = 0; b < n; b += u) {
    const int64_t m = std::min(u, n - b);
    place_run(kv, m, pos + b);
    forward_ubatch(tokens.data() + b, m);
  }
  output_logits((n - 1) % u, 1);  // the last token, in the last micro-batch
  return s_.logits.data();
}

void Transformer::place_run(KvCache& kv, int64_t n, int64_t pos) {
  for (int64_t t = 0; t < n; ++t) place_kv_[t] = &kv, place_pos_[t] = pos + t;
}

const float* Transformer::forward_batch(std::span<KvCache* const> kvs, std::span<const int32_t> tokens,
                                        std::span<const int64_t> positions) {
  if (kvs.size() != tokens.size() || positions.size() != tokens.size())
    fail("transformer", fmt::format("a batch of {} tokens has {} caches and {} positions", tokens.size(), kvs.size(), positions.size()),
         "give one cache and one position per token");
  std::vector<SequenceRun> runs;
  runs.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) runs.push_back({kvs[i], tokens.subspan(i, 1), positions[i]});
  return forward_runs(runs);
}

const float* Transformer::forward_runs(std::span<const SequenceRun> runs) {
  int64_t n = 0;
  for (const SequenceRun& r : runs) n += static_cast<int64_t>(r.tokens.size());
  if (n > run_.n_ubatch)
    fail("transformer", fmt::format("a batch of {} tokens exceeds the micro-batch of {}", n, run_.n_ubatch),
         "raise -ub to at least the number of parallel sequences");
  if (static_cast<int64_t>(runs.size()) > logit_rows(run_))
    fail("transformer", fmt::format("a batch of {} sequences needs more logits rows than the {} this run holds", runs.size(), logit_rows(run_)),
         "make the engine for at least this many sessions (RunShape::n_outputs)");
  if (runs.empty()) return nullptr;
  logit_rows_.clear();
  int64_t t = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    const SequenceRun& r = runs[i];
    if (r.tokens.empty()) fail("transformer", fmt::format("run {} of a batch has no tokens", i), "leave empty runs out");
    check(*r.kv, r.tokens, r.pos);
    const KvCache& k0 = *runs[0].kv;
    if (r.kv->type_k() != k0.type_k() || r.kv->type_v() != k0.type_v() || r.kv->n_ctx() != k0.n_ctx())
      fail("transformer", "the caches of one batch differ in type or length", "create every session on the same engine");
    for (size_t j = 0; j < i; ++j)
      if (runs[j].kv == r.kv)
        fail("transformer", "one cache appears in two runs of a batch", "give each sequence one run of consecutive tokens");
    for (size_t j = 0; j < r.tokens.size(); ++j, ++t)
      place_kv_[t] = r.kv, place_pos_[t] = r.pos + static_cast<int64_t>(j), batch_tokens_[t] = r.tokens[j];
    logit_rows_.push_back(t - 1);
  }
  forward_ubatch(batch_tokens_.data(), n);
  output_logits_of(logit_rows_);
  return s_.logits.data();
}

void Transformer::forward_all(KvCache& kv, std::span<const int32_t> tokens, int64_t pos, const LogitsSink& on_logits) {
  check(kv, tokens, pos);
  const int64_t n = static_cast<int64_t>(tokens.size()), u = run_.n_ubatch;
  for (int64_t b = 0; b < n; b += u) {
    const int64_t m = std::min(u, n - b);
    place_run(kv, m, pos + b);
    forward_ubatch(tokens.data() + b, m);
    // As many rows at a time as the scratch holds logits for (all of them unless n_outputs says less).
    for (int64_t r = 0, rows = logit_rows(run_); r < m; r += rows) {
      const int64_t cnt = std::min(rows, m - r);
      output_logits(r, cnt);
      on_logits(b + r, cnt, s_.logits.data());
    }
  }
}

void Transformer::forward_ubatch(const int32_t* tokens, int64_t n) {
  const ModelConfig& c = cfg_;
  ForwardScratch& s = s_;
  const TokenPlaces at{place_kv_.data(), place_pos_.data()};
  for (int64_t t = 0; t < n; ++t) {
    const TypeTraits& tr = type_traits(model_.tok_embd.type);
    tr.to_float(model_.tok_embd.row(tokens[t]), &s.x[t * c.n_embd], c.n_embd);
    rope_cache(at.pos[t], c.n_rot, rope_, &s.rope[t * c.n_rot]);
  }
  run_layers(at, n);
}

void Transformer::output_logits(int64_t first, int64_t n) {
  logit_rows_.resize(static_cast<size_t>(n));
  std::iota(logit_rows_.begin(), logit_rows_.end(), first);
  output_logits_of(logit_rows_);
}

void Transformer::output_logits_of(std::span<const int64_t> rows) {
  const ModelConfig& c = cfg_;
  ForwardScratch& s = s_;
  for (size_t i = 0; i < rows.size(); ++i)
    rms_norm(&s.x[rows[i] * c.n_embd], static_cast<const float*>(model_.output_norm.data), &s.xn[i * c.n_embd], c.n_embd,
             c.rms_eps);
  const ThreadPool::SoloScope solo(pool_, alone(static_cast<int64_t>(rows.size())));
  linear(model_.output, s.xn.data(), static_cast<int64_t>(rows.size()), s.logits.data(), s.act, pool_);
}

const float* Transformer::forward_images(std::span<KvCache* const> kvs, const float* pixels) {
  const ModelConfig& c = cfg_;
  const VisionConfig& v = c.vision;
  if (!c.is_vision())
    fail("transformer", fmt::format("'{}' is not a vision model", c.arch), "forward_images needs a vmoe model");
  const int64_t n_img = static_cast<int64_t>(kvs.size()), T = v.n_tokens(), n = n_img * T;
  if (n > run_.n_ubatch)
    fail("transformer", fmt::format("{} images of {} tokens exceed the micro-batch of {}", n_img, T, run_.n_ubatch),
         "size the micro-batch as images per batch times tokens per image");
  if (n_img > logit_rows(run_))
    fail("transformer", fmt::format("{} images need more logits rows than the {} this run holds", n_img, logit_rows(run_)),
         "make the engine for at least one session an image (vision_engine_options)");
  for (KvCache* kv : kvs)
    if (std::min(kv->n_ctx(), run_.n_ctx) < T || kv->max_batch() < T)
      fail("transformer", fmt::format("a KV cache of {} positions cannot hold an image of {} tokens", kv->n_ctx(), T),
           "make the caches with the vision model's run shape (-c of at least the tokens per image)");
  if (n == 0) return nullptr;
  ForwardScratch& s = s_;
  const int64_t pv = v.patch_values(), P = v.patch_size, side = v.patches_per_side(), S = v.image_size;
  // Each patch's pixels in the order patch_embd's columns take them: (channel, row, column).
  std::fill(s.patches.begin(), s.patches.begin() + n * pv, 0.0f);
  for (int64_t i = 0; i < n_img; ++i) {
    const float* image = pixels + i * v.pixels();
    for (int64_t py = 0; py < side; ++py)
      for (int64_t px = 0; px < side; ++px) {
        float* patch = &s.patches[(i * T + 1 + py * side + px) * pv];
        for (int64_t ch = 0; ch < v.n_channels; ++ch)
          for (int64_t y = 0; y < P; ++y)
            for (int64_t x = 0; x < P; ++x)
              patch[(ch * P + y) * P + x] = image[(ch * S + py * P + y) * S + px * P + x];
      }
    for (int64_t j = 0; j < T; ++j) place_kv_[i * T + j] = kvs[i], place_pos_[i * T + j] = j, place_last_[i * T + j] = T - 1;
  }
  linear(model_.patch_embd, s.patches.data(), n, s.x.data(), s.act, pool_);
  const float* bias = static_cast<const float*>(model_.patch_embd_b.data);
  const float* cls = static_cast<const float*>(model_.cls_embd.data);
  const TypeTraits& pos_type = type_traits(model_.pos_embd.type);
  for (int64_t t = 0; t < n; ++t) {
    float* x = &s.x[t * c.n_embd];
    const int64_t j = t % T;
    pos_type.to_float(model_.pos_embd.row(j), s.tmp.data(), c.n_embd);
    for (int64_t d = 0; d < c.n_embd; ++d) x[d] = (j == 0 ? cls[d] : x[d] + bias[d]) + s.tmp[d];
  }
  run_layers(TokenPlaces{place_kv_.data(), place_pos_.data(), place_last_.data()}, n);

  // The class token of each image, normalised, through the classifier.
  for (int64_t i = 0; i < n_img; ++i)
    rms_norm(&s.x[i * T * c.n_embd], static_cast<const float*>(model_.output_norm.data), &s.xn[i * c.n_embd], c.n_embd,
             c.rms_eps);
  linear(model_.output, s.xn.data(), n_img, s.logits.data(), s.act, pool_);
  add_bias(model_.output_b, s.logits.data(), n_img, c.n_vocab);
  return s.logits.data();
}

bool Transformer::alone(int64_t n) const { return cached_model_ && n * layer_multiply_adds_ < kMinLayerWorkToSplit; }

void Transformer::run_layers(const TokenPlaces& at, int64_t n) {
  const ModelConfig& c = cfg_;
  ForwardScratch& s = s_;
  const ThreadPool::SoloScope solo(pool_, alone(n));
  for (int layer = 0; layer < c.n_layer; ++layer) {
    const LayerContext l{c, c.layers[layer], model_.layers[layer], layer, s, pool_, at, run_.flash_attn};
    // attention block
    for (int64_t t = 0; t < n; ++t)
      rms_norm(&s.x[t * c.n_embd], static_cast<const float*>(l.w.attn_norm.data), &s.xn[t * c.n_embd], c.n_embd,
               c.rms_eps);
    if (l.desc.attention == AttentionKind::MLA) attention_mla(l, n);
    else attention_gqa(l, n);
    linear(l.w.wo, s.attn.data(), n, s.tmp.data(), s.act, pool_);
    add_bias(l.w.bo, s.tmp.data(), n, c.n_embd);
    for (int64_t i = 0; i < n * c.n_embd; ++i) s.x[i] += s.tmp[i];
    // feed-forward block
    for (int64_t t = 0; t < n; ++t)
      s.x_norm[t] = rms_norm(&s.x[t * c.n_embd], static_cast<const float*>(l.w.ffn_input_norm().data), &s.xn[t * c.n_embd],
                             c.n_embd, c.rms_eps);
    if (l.desc.is_moe()) {
      // The next layers' experts are predicted now, so that their reads overlap this layer's work.
      if (ExpertPredictor::depth(*experts_, hooks) > 0)
        predictor_.predict(layer, s.x.data(), l.at.pos, n, hooks, *experts_, s, pool_);
      moe_ffn(l, *experts_, hooks, stats_, n);
      predictor_.score(layer, s.topk_ids.data(), n, static_cast<int>(c.n_expert_used), stats_);
    } else {
      dense_ffn(l, n);
    }
    for (int64_t i = 0; i < n * c.n_embd; ++i) s.x[i] += s.ffn_out[i];
    experts_->layer_boundary(layer);
  }
  experts_->step_end(n);
}

}  // namespace swapmoe
