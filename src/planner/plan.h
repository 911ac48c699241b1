// Plan: how a memory budget is spent — expert slots per layer and the update interval — as
// chosen by the planner, saved as JSON and applied by the engine.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace swapmoe {

struct Plan {
  std::string model;             // file name of the model it was made for
  uint64_t memory_budget = 0;    // bytes
  std::vector<int> slots;        // per layer (0 for dense layers)
  int update_interval = 8;
  double predicted_quality = 0;  // the quality model's prediction (e.g. perplexity)
  double predicted_latency_ms = 0;

  // Throws swapmoe::Error naming the file and the problem.
  static Plan load(const std::string& path);
  void save(const std::string& path) const;
};

}  // namespace swapmoe
