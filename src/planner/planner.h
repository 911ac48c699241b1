// Planner: turns a memory budget into a Plan (slots per layer, update interval) from a device
// profile, in well under a second: the memory split decides how many slots there are, the
// search decides where they go.
#pragma once

#include <cstdint>
#include <vector>

#include "planner/cost_model.h"
#include "planner/device_profile.h"
#include "planner/plan.h"
#include "planner/search.h"

namespace swapmoe {

struct PlanRequest {
  uint64_t budget = 0;      // bytes
  MemorySplit memory;       // the engine's split of a budget
  double max_latency_ms = 0;  // 0: none
  uint64_t seed = 1;
  SearchOptions search;     // seed and max_latency_ms are taken from above
  int baseline_interval = 8;  // the runtime's default, for the uniform comparison
};

struct PlanOutcome {
  Plan plan;
  int64_t capacity = 0;         // expert slots the budget buys
  Configuration chosen;         // per MoE layer
  Score predicted;              // quality: log-perplexity
  Configuration uniform;        // the uniform allocation at the runtime's default interval
  Score uniform_predicted;
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

}  // namespace swapmoe
