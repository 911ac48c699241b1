// ExpertProvider: where the MoE layers get their experts from, and whom they tell how they routed.
//
// The forward pass is the same for every policy (full, prune, ondemand, swapmoe); a policy only
// decides which experts are usable (masked gating), where their bytes live, and what to do with
// the routing it observes.
#pragma once

#include <cstdint>

#include "model/model.h"

namespace swapmoe {

class ExpertProvider {
 public:
  virtual ~ExpertProvider() = default;

  // The unmasked routing of this step's n_tokens tokens in `layer` (ids and weights
  // [n_tokens][k]) is known and its experts are about to run: a policy may make experts
  // resident now, waiting on storage. The cache policy reads the layer's misses in parallel;
  // swapmoe with an exact threshold fetches the choices that carry the output. Called after
  // observe() and before usable_mask().
  virtual void prepare_layer(int /*layer*/, int64_t /*n_tokens*/, int /*k*/, const int32_t* /*ids*/,
                             const float* /*weights*/) {}

  // Prediction: how many MoE layers ahead the policy wants the routing predicted (0: none).
  virtual int prefetch_depth() const { return 0; }
  // The predicted routing of a later MoE layer (its router applied to the current hidden
  // state), ids and weights [n_tokens][k]: the policy may start reading those experts now.
  virtual void prefetch(int /*layer*/, int64_t /*n_tokens*/, int /*k*/, const int32_t* /*ids*/,
                        const float* /*weights*/) {}

  // Experts of `layer` that may be used now without waiting: mask[e] != 0. nullptr means every
  // expert is usable (exact routing: full, ondemand and cache).
  virtual const uint8_t* usable_mask(int layer) = 0;

  // Whether expert e's weights are in memory right now (for the hit rate).
  virtual bool is_resident(int layer, int expert) = 0;

  // The weights of one expert. Masked policies are only asked for usable experts; ondemand
  // loads a missing expert synchronously here. The views stay valid until the next acquire()
  // on the same layer or the next layer_boundary().
  virtual ExpertWeights acquire(int layer, int expert) = 0;
  // Whether every view acquire() returns stays valid until layer_boundary(), so that a layer may
  // hold all its experts at once (run them in one parallel region). Ondemand's may be evicted by
  // the next acquire(); the cache's hold when prepare_layer() could pin all the layer's experts.
  virtual bool views_stay_valid() const { return false; }

  // The unmasked routing of n_tokens tokens of `layer`: ids and weights [n_tokens][k], and the
  // L2 norm of each token's MoE input (after the layer's norm), for importance scores.
  virtual void observe(int layer, int64_t n_tokens, int k, const int32_t* ids, const float* weights,
                       const float* x_norm) = 0;

  // The forward pass has finished `layer` for the current step: a safe point to switch slots.
  virtual void layer_boundary(int layer) = 0;

  // A step of n_tokens tokens (one decode token, or a prefill batch) has finished.
  virtual void step_end(int64_t n_tokens) = 0;
};

// Every expert resident in the file map: the full model.
class MappedExperts final : public ExpertProvider {
 public:
  explicit MappedExperts(const Model& model) : model_(model) {}
  const uint8_t* usable_mask(int) override { return nullptr; }
  bool is_resident(int, int) override { return true; }
  ExpertWeights acquire(int layer, int expert) override { return model_.layers[layer].expert(expert); }
  bool views_stay_valid() const override { return true; }
  void observe(int, int64_t, int, const int32_t*, const float*, const float*) override {}
  void layer_boundary(int) override {}
  void step_end(int64_t) override {}

 private:
  const Model& model_;
};

}  // namespace swapmoe
