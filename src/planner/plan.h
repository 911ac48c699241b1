// Plan: how a memory budget is spent — expert slots per layer, the update interval, the exact
// threshold and the prefetch depth — as chosen by the planner, saved as JSON and applied by the
// engine.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "planner/search.h"  // kPureSwapMoe

namespace swapmoe {

// Plan files from before the threshold and the depth were planned load as pure SwapMoE without
// prefetch, which is what they ran with.
struct Plan {
  std::string model;             // file name of the model it was made for
  uint64_t memory_budget = 0;    // bytes
  std::vector<int> slots;        // per layer (0 for dense layers)
  int update_interval = 8;
  double exact_threshold = kPureSwapMoe;  // above 1: never wait for a miss
  int prefetch_depth = 0;                 // MoE layers ahead (applied when the engine starts)
  // "mlp" or "ridge": the predictions below are the fitted model's. "prior": no model was
  // fitted, the plan is the uniform split and predicts no perplexity (predicted_quality 0,
  // null in the file).
  std::string quality_model;
  double predicted_quality = 0;  // the quality model's prediction (perplexity); 0: none
  double predicted_latency_ms = 0;
  double predicted_fetches_per_token = 0;

  // Throws swapmoe::Error naming the file and the problem.
  static Plan load(const std::string& path);
  void save(const std::string& path) const;
};

}  // namespace swapmoe
