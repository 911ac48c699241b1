// Transformer: the forward pass of a decoder-only (MoE) transformer, assembled per layer from
// the blocks in blocks.h as the model's layer descriptions say. It holds no sequence state: the
// KV cache is the caller's (a Session's), so several sequences can share one Transformer, one
// forward at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/thread_pool.h"
#include "model/blocks.h"
#include "model/expert_prediction.h"
#include "model/expert_provider.h"
#include "model/forward_scratch.h"
#include "model/kv_cache.h"
#include "model/memory_plan.h"
#include "model/model.h"
#include "model/rope.h"

namespace swapmoe {

class Transformer {
 public:
  // run: n_ubatch (tokens evaluated together), n_ctx and threads size the scratch, exactly as
  // scratch_sizes() counts it. experts: nullptr uses the file map (every expert resident).
  Transformer(const Model& model, const RunShape& run, ThreadPool& pool, ExpertProvider* experts = nullptr);

  // Evaluates tokens at positions pos .. pos + n - 1 (kv must hold 0 .. pos - 1) and returns the
  // last token's logits (n_vocab floats, valid until the next call).
  const float* forward(KvCache& kv, std::span<const int32_t> tokens, int64_t pos);
  // The same, handing every token's logits over as they are computed, a micro-batch (or as many
  // rows as logit_rows(run) allows) at a time: on_logits(index of the first token, n, logits [n][n_vocab]).
  using LogitsSink = std::function<void(int64_t first, int64_t n, const float* logits)>;
  void forward_all(KvCache& kv, std::span<const int32_t> tokens, int64_t pos, const LogitsSink& on_logits);
  // Tokens of several sequences in one forward (a batched decode step): token i goes to kvs[i] at
  // positions[i]. Every weight, the experts above all, is read once for all of them, which is
  // where a server running several sequences gains. At most n_ubatch tokens and logit_rows(run)
  // sequences; returns every token's logits [n][n_vocab] (valid until the next call).
  const float* forward_batch(std::span<KvCache* const> kvs, std::span<const int32_t> tokens,
                             std::span<const int64_t> positions);
  // Runs of tokens of several sequences in one forward: run i places its tokens at positions
  // pos, pos + 1, ... of its own cache. A server's decode step (one token a sequence) takes new
  // requests' prompt chunks beside it this way, so a prompt costs the others no forward of its
  // own. At most n_ubatch tokens in all, logit_rows(run) runs, each cache once; returns the
  // logits of each run's last token [runs][n_vocab] (valid until the next call). A token's
  // logits have the bits it gets in a forward of its own sequence alone.
  struct SequenceRun {
    KvCache* kv;
    std::span<const int32_t> tokens;
    int64_t pos;
  };
  const float* forward_runs(std::span<const SequenceRun> runs);

  // A vision model (vmoe): classifies n = kvs.size() images, given as normalised pixels
  // [n][channels][image_size][image_size], in one forward (n times the tokens per image must fit
  // the micro-batch); image i's tokens go to kvs[i] and attend to each other both ways. Returns
  // the class logits [n][n_classes] (valid until the next call).
  const float* forward_images(std::span<KvCache* const> kvs, const float* pixels);

  const Model& model() const { return model_; }
  const RunShape& run_shape() const { return run_; }
  const RoutingStats& routing_stats() const { return stats_; }
  void reset_routing_stats() { stats_ = {}; }
  uint64_t scratch_bytes() const { return s_.bytes(); }  // what this object holds

  RoutingHooks hooks;  // optional: --dump-routing / --replay-routing

 private:
  void check(const KvCache& kv, std::span<const int32_t> tokens, int64_t pos) const;
  // Places tokens [0, n) of one sequence at pos, pos + 1, ... of kv.
  void place_run(KvCache& kv, int64_t n, int64_t pos);
  // One micro-batch placed by place_kv_ / place_pos_, through every layer (s_.x holds the result).
  void forward_ubatch(const int32_t* tokens, int64_t n);
  // Whether n tokens are too little work to split across threads (see kMinLayerWorkToSplit): a
  // layer's products are each too small when the layer's whole work is, so one thread does them.
  bool alone(int64_t n) const;
  // The logits of the last micro-batch's tokens [first, first + n) into s_.logits rows 0..n-1
  // (n at most logit_rows(run_)).
  void output_logits(int64_t first, int64_t n);
  // The logits of the last micro-batch's tokens rows[0], rows[1], ... into s_.logits rows 0, 1, ...
  void output_logits_of(std::span<const int64_t> rows);
  // Every layer over the n tokens already in s_.x, placed as `at` says.
  void run_layers(const TokenPlaces& at, int64_t n);

  const Model& model_;
  const ModelConfig& cfg_;
  RunShape run_;
  ThreadPool& pool_;
  MappedExperts mapped_;
  ExpertProvider* experts_;
  RopeParams rope_;  // derived once from the config's RoPE scaling
  RoutingStats stats_;
  ForwardScratch s_;
  std::vector<KvCache*> place_kv_;  // [n_ubatch] each token's cache and position (TokenPlaces)
  std::vector<int64_t> place_pos_;
  std::vector<int64_t> place_last_;  // vision: each token's last visible position
  std::vector<int32_t> batch_tokens_;  // [n_ubatch] forward_runs' tokens, run after run
  std::vector<int64_t> logit_rows_;    // the micro-batch rows whose logits are computed next
  ExpertPredictor predictor_;
  uint64_t layer_multiply_adds_;  // a token's weight multiply-adds in one layer (mean over layers)
  bool cached_model_;             // every weight fits the caches (small forwards run on one thread)
};

}  // namespace swapmoe
