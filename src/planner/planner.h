// Planner: turns a memory budget into a Plan (slots per layer, update interval, exact threshold,
// prefetch depth) from a device profile, in well under a second: the memory split decides how
// many slots there are, the search decides where they go and how the knobs are set.
//
// Objective: best predicted quality among the configurations that keep a speed floor (a share of
// the full model's decode speed, or an explicit latency limit); quality alone would always wait
// for every miss (threshold 0). When none keeps it, the closest is planned and flagged.
// Without a fitted quality model (the profile's calibration did not run) no prediction is
// claimed: the plan is the uniform split at the default interval, pure SwapMoE, no prefetch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "planner/cost_model.h"
#include "planner/device_profile.h"
#include "planner/plan.h"
#include "planner/search.h"

namespace swapmoe {

struct PlanRequest {
  uint64_t budget = 0;      // bytes
  MemorySplit memory;       // the engine's split of a budget
  double max_latency_ms = 0;  // 0: none; when given it overrides min_speed
  double min_speed = 0.7;     // share of the full model's decode speed to keep (0: no floor)
  uint64_t seed = 1;
  SearchOptions search;     // seed and max_latency_ms are taken from above
  int baseline_interval = 8;  // the runtime's default, for the uniform comparison
};

struct PlanOutcome {
  Plan plan;
  int64_t capacity = 0;         // expert slots the budget buys
  Configuration chosen;         // per MoE layer
  Score predicted;              // quality: log-perplexity
  double predicted_fetches_per_token = 0;
  Configuration uniform;        // the uniform allocation at the runtime's default interval
  Score uniform_predicted;
  bool fitted = true;           // false: no quality model; chosen is the uniform split, no prediction
  double full_latency_ms = 0;   // every expert resident, nothing read
  double latency_limit_ms = 0;  // the speed floor or --max-latency (0: none)
  bool meets_latency = true;
  int64_t evaluations = 0;
  double seconds = 0;
};

// Throws when the budget cannot hold the fixed part and one slot per MoE layer.
PlanOutcome make_plan(const DeviceProfile& profile, const PlanRequest& request);

// Slots per model layer (0 for dense layers) from slots per MoE layer.
std::vector<int> per_layer_slots(const DeviceProfile& profile, const std::vector<int>& moe_slots);

// Scores a configuration with the profile's quality and latency models.
Score predict(const DeviceProfile& profile, const Configuration& c);

// Why a profile has no fitted quality model, in words (for "no fitted quality model (...)").
std::string unfitted_reason(const DeviceProfile& profile);

// "pure" above 1, else the share: how plans print an exact threshold.
std::string describe_threshold(double exact_threshold);

}  // namespace swapmoe
