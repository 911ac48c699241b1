// RunMetrics: the figures every run reports (expert traffic, routing quality, memory), as a
// stats line for people and as JSON keys for scripts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/engine.h"

namespace swapmoe {

struct RunMetrics {
  std::string policy;
  std::string plan;            // where the slots came from: "uniform", a plan file, "fraction"
  std::vector<int> slots;      // per layer
  int n_expert = 0;            // experts per MoE layer
  std::string budget_asked;    // the budget as given ("25% of the experts", "3.0 GiB"); "" without one
  double hit_rate = 1;         // unmasked top-k entirely resident
  double fidelity = 1;         // masked top-k == unmasked top-k
  double choice_hit_rate = 1;  // unmasked routed choices whose expert was resident
  uint64_t stalls = 0;         // tokens that waited on I/O
  double stall_seconds = 0;    // time they waited
  uint64_t fetches = 0;        // experts read while a token waited (exact routing's misses)
  uint64_t prefetches = 0;     // experts read on a prediction (--prefetch)
  uint64_t prefetch_hits = 0;  // of those, routed to while resident
  double recall = 0;           // share of routed choices the prediction one layer ahead named (NaN: none)
  std::vector<double> recall_by_depth;    // [depth - 1], the depths predicted
  std::vector<double> layer_hit_rate;     // [layer]: unmasked top-k entirely resident (NaN: dense layer)
  std::vector<double> layer_choice_hit_rate;  // [layer]: routed choices resident (NaN: dense layer)
  std::vector<double> layer_recall;       // [layer]: prediction one layer ahead (NaN: none)
  uint64_t swaps = 0;
  uint64_t loads = 0;          // after start-up
  uint64_t bytes_read = 0;     // after start-up
  uint64_t tokens = 0;
  double bytes_read_per_token = 0;
  uint64_t memory_budget = 0;  // 0: none
  uint64_t accounted_bytes = 0;
  uint64_t peak_rss_bytes = 0;
};

RunMetrics collect_metrics(const Engine& engine);
nlohmann::json to_json(const RunMetrics& m);
std::string format_metrics_line(const RunMetrics& m);

}  // namespace swapmoe
