// The expert policies: full (everything mapped), prune, ondemand (exact, synchronous loads into
// an LRU), cache (exact, a layer's misses read in parallel into an LRU or LFU cache) and swapmoe
// (masked gating, importance-driven asynchronous swapping, optionally exact for heavy choices).
#pragma once

#include <memory>
#include <vector>

#include "experts/expert_loader.h"
#include "experts/expert_policy.h"

namespace swapmoe {

class FullExperts final : public ExpertPolicy {
 public:
  explicit FullExperts(const Model& model) : mapped_(model), model_(model) {}
  PolicyKind kind() const override { return PolicyKind::FULL; }
  void set_slots(const std::vector<int>&) override {}
  std::vector<int> slots() const override;
  uint64_t resident_bytes() const override { return model_.expert_bytes(); }
  const uint8_t* usable_mask(int) override { return nullptr; }
  bool is_resident(int, int) override { return true; }
  ExpertWeights acquire(int layer, int expert) override { return mapped_.acquire(layer, expert); }
  bool views_stay_valid() const override { return true; }
  void observe(int, int64_t, int, const int32_t*, const float*, const float*) override {}
  void layer_boundary(int) override {}
  void step_end(int64_t n) override { stats_.tokens += n; }

 private:
  MappedExperts mapped_;
  const Model& model_;
};

class PruneExperts final : public ExpertPolicy {
 public:
  PruneExperts(const ExpertStore& store, std::vector<std::vector<float>> magnitudes, const std::vector<int>& slots);
  PolicyKind kind() const override { return PolicyKind::PRUNE; }
  void set_slots(const std::vector<int>& slots) override;
  std::vector<int> slots() const override;
  uint64_t resident_bytes() const override;
  const uint8_t* usable_mask(int layer) override { return table_.mask(layer); }
  bool is_resident(int layer, int expert) override { return table_.resident(layer, expert); }
  ExpertWeights acquire(int layer, int expert) override;
  // Slots change only at layer boundaries (the safe point), so views hold for the layer.
  bool views_stay_valid() const override { return true; }
  void observe(int, int64_t, int, const int32_t*, const float*, const float*) override {}
  void layer_boundary(int) override {}
  void step_end(int64_t n_tokens) override;

 private:
  std::vector<int> by_magnitude(int layer) const;

  const ExpertStore& store_;
  std::vector<std::vector<float>> magnitudes_;
  SlotTable table_;
};

class OnDemandExperts final : public ExpertPolicy {
 public:
  OnDemandExperts(const ExpertStore& store, const std::vector<int>& slots);
  PolicyKind kind() const override { return PolicyKind::ONDEMAND; }
  // The LRU is shared by all layers: its capacity is the sum of the slots.
  void set_slots(const std::vector<int>& slots) override;
  std::vector<int> slots() const override { return slots_; }
  uint64_t resident_bytes() const override { return cache_.bytes(); }
  const uint8_t* usable_mask(int) override { return nullptr; }
  bool is_resident(int layer, int expert) override { return cache_.find(layer, expert) >= 0; }
  ExpertWeights acquire(int layer, int expert) override;
  void observe(int, int64_t, int, const int32_t*, const float*, const float*) override {}
  void layer_boundary(int) override {}
  void step_end(int64_t n_tokens) override;

 private:
  const ExpertStore& store_;
  std::vector<int> slots_;
  ExpertCache cache_;
};

// cache: exact routing over an expert cache shared by all layers (LRU or LFU), as the
// expert-offloading engines do it. Before a layer runs, all its missing experts are read at once,
// in parallel, so a token waits for the slowest read rather than for the sum.
class CacheExperts final : public ExpertPolicy {
 public:
  // deterministic: a prefetch lands before the next layer starts, whatever the storage's speed,
  // so that counts (not only tokens, which are exact anyway) repeat from run to run.
  CacheExperts(const ExpertStore& store, const std::vector<int>& slots, Eviction eviction, int io_threads,
               int prefetch_depth = 0, bool deterministic = false);
  ~CacheExperts() override;
  PolicyKind kind() const override { return PolicyKind::CACHE; }
  void set_slots(const std::vector<int>& slots) override;
  std::vector<int> slots() const override { return slots_; }
  uint64_t resident_bytes() const override { return cache_.bytes(); }
  void prepare_layer(int layer, int64_t n_tokens, int k, const int32_t* ids, const float* weights) override;
  const uint8_t* usable_mask(int) override { return nullptr; }
  bool is_resident(int layer, int expert) override { return cache_.find(layer, expert) >= 0; }
  ExpertWeights acquire(int layer, int expert) override;
  // When prepare_layer() pinned all the layer's experts (the cache holds them at once).
  bool views_stay_valid() const override { return all_pinned_; }
  void observe(int layer, int64_t n_tokens, int k, const int32_t* ids, const float* weights,
               const float* x_norm) override;
  int prefetch_depth() const override { return prefetch_depth_; }
  // Remembers the predicted experts; they are read once the current layer's own are pinned.
  void prefetch(int layer, int64_t n_tokens, int k, const int32_t* ids, const float* weights) override;
  void layer_boundary(int) override;
  void step_end(int64_t n_tokens) override;

 private:
  // Files finished prefetches into the cache; with `wait`, until none of `layer`'s `experts` is
  // still being read.
  void collect(bool wait, int layer = -1, const std::vector<int32_t>* experts = nullptr);
  void start_prefetches(int current_layer);
  uint64_t key(int layer, int expert) const { return static_cast<uint64_t>(layer) * n_expert_ + expert; }

  const ExpertStore& store_;
  std::vector<int> slots_;
  int n_expert_;
  ExpertCache cache_;
  std::unique_ptr<ExpertLoader> loader_;
  bool all_pinned_ = false;
  int prefetch_depth_;
  bool deterministic_;
  std::vector<std::pair<int, int32_t>> wishes_;      // predicted (layer, expert), heaviest first
  std::vector<std::pair<uint8_t*, int>> in_flight_;  // prefetch buffers and their cache entries
  std::vector<uint8_t> prefetched_;                  // [key]: read on a prediction, not yet used
};

class SwapMoeExperts final : public ExpertPolicy {
 public:
  SwapMoeExperts(const ExpertStore& store, std::vector<std::vector<float>> magnitudes, const std::vector<int>& slots,
                 const SwapMoeOptions& options, int io_threads = 1, int prefetch_depth = 0);
  ~SwapMoeExperts() override;
  PolicyKind kind() const override { return PolicyKind::SWAPMOE; }
  void set_slots(const std::vector<int>& slots) override;
  std::vector<int> slots() const override;
  uint64_t resident_bytes() const override;
  const uint8_t* usable_mask(int layer) override {
    return layer == borrow_layer_ ? borrow_mask_.data() : table_.mask(layer);
  }
  bool is_resident(int layer, int expert) override { return table_.resident(layer, expert); }
  // A borrowed expert (see prepare_layer) is read here, into the borrow buffer.
  ExpertWeights acquire(int layer, int expert) override;
  // Slots change only at layer boundaries (the safe point), so views hold for the layer; except
  // borrowed experts, which share one buffer: the layer then runs its experts one at a time.
  bool views_stay_valid() const override { return borrow_layer_ < 0; }
  void observe(int layer, int64_t n_tokens, int k, const int32_t* ids, const float* weights,
               const float* x_norm) override;
  // With an exact threshold: reads the heavy misses into the slots of light, unused experts.
  // When this step routes to more experts than the layer has slots (a batch of prompt tokens or
  // images), the heavy misses left over are borrowed: usable for this layer, each read when it
  // runs into one staging buffer lent for the layer, and not kept.
  void prepare_layer(int layer, int64_t n_tokens, int k, const int32_t* ids, const float* weights) override;
  int prefetch_depth() const override { return prefetch_depth_; }
  // Starts reading the predicted experts that are missing into free staging buffers; they are
  // switched in at the next layer boundary like any load.
  void prefetch(int layer, int64_t n_tokens, int k, const int32_t* ids, const float* weights) override;
  void layer_boundary(int layer) override;
  void step_end(int64_t n_tokens) override;
  void finish_prefill() override;
  void set_update_interval(int n) override { options_.update_interval = n < 1 ? 1 : n; }
  void set_exact_threshold(double t) override { options_.exact_threshold = t; }

  // For tests: the current importance scores of a layer.
  const std::vector<double>& importance(int layer) const { return importance_[layer]; }

 private:
  void update_wanted();      // recompute wanted sets and the load queue from importance
  void reset_window();
  int start_loads(int max_loads);  // returns how many started
  void start_load(int layer, int expert);  // into a staging buffer (one must be free)
  bool in_flight(int layer, int expert) const;
  void apply_completed();    // install finished loads (called at layer boundaries)
  void install(const LoadResult& r);
  // Lends a staging buffer to layer l for this step and makes `experts` usable through it.
  void borrow(int l, const std::vector<int>& experts);

  // The slot a loaded expert takes: an empty one, else the least important resident expert that
  // is not wanted, else the least important one; never one holding an expert in `keep`, nor one
  // of the slots `taken` by this step's fetches. -1 when none.
  int victim_slot(int layer, const std::vector<uint8_t>& keep, const std::vector<int>& taken) const;
  bool wanted(int layer, int expert) const { return wanted_[layer][expert] != 0; }

  const ExpertStore& store_;
  std::vector<std::vector<float>> magnitudes_;
  SwapMoeOptions options_;
  SlotTable table_;
  std::vector<std::vector<double>> importance_;  // [layer][expert], Eq. 1 accumulated
  std::vector<std::vector<uint8_t>> wanted_;     // [layer][expert]: in the top-S_l
  std::vector<std::pair<int, int>> queue_;       // (layer, expert) to load, most important last
  std::vector<AlignedBuffer> staging_;           // free staging buffers
  std::vector<AlignedBuffer> in_flight_;         // buffers lent to the loader
  std::vector<std::pair<int, int>> in_flight_ids_;  // (layer, expert) of each in-flight buffer
  std::unique_ptr<ExpertLoader> loader_;
  int64_t tokens_since_update_ = 0;
  int prefetch_depth_ = 0;
  std::vector<std::vector<uint8_t>> predicted_;   // [layer][expert]: named by the latest prediction
  std::vector<std::vector<uint8_t>> prefetched_;  // [layer][expert]: switched in on a prediction, not yet used
  // Borrowing (prepare_layer): the layer whose mask includes borrowed experts (-1: none), that
  // mask, and the staging buffer lent for the layer.
  int borrow_layer_ = -1;
  std::vector<uint8_t> borrow_mask_;
  AlignedBuffer borrow_buf_;
  // Loads a wide step (more tokens than the update interval) may still start at the next step's
  // layer boundaries, as staging buffers come back (step_end).
  int wide_loads_left_ = 0;
};

}  // namespace swapmoe
