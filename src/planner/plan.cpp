#include "planner/plan.h"

#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/atomic_file.h"
#include "model/blocks.h"  // RoutingStats::kMaxDepth

namespace swapmoe {

Plan Plan::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("plan", fmt::format("cannot open plan file '{}'", path), "make one with `swapmoe plan`, or pass --plan uniform");
  Plan p;
  try {
    const auto j = nlohmann::json::parse(in);
    p.model = j.value("model", "");
    p.memory_budget = j.value("memory_budget_bytes", uint64_t{0});
    p.slots = j.at("slots").get<std::vector<int>>();
    p.update_interval = j.value("update_interval", 8);
    p.exact_threshold = j.value("exact_threshold", kPureSwapMoe);
    p.prefetch_depth = j.value("prefetch_depth", 0);
    p.quality_model = j.value("quality_model", "");
    // null: the plan predicts no perplexity (no fitted quality model).
    if (j.contains("predicted_quality") && !j["predicted_quality"].is_null())
      p.predicted_quality = j["predicted_quality"].get<double>();
    p.predicted_latency_ms = j.value("predicted_latency_ms", 0.0);
    p.predicted_fetches_per_token = j.value("predicted_fetches_per_token", 0.0);
  } catch (const nlohmann::json::exception& e) {
    fail("plan", fmt::format("'{}' is not a valid plan: {}", path, e.what()), "make one with `swapmoe plan`");
  }
  for (int s : p.slots)
    if (s < 0) fail("plan", fmt::format("'{}' has a negative slot count", path), "make one with `swapmoe plan`");
  if (p.update_interval < 1)
    fail("plan", fmt::format("'{}' has update_interval {}", path, p.update_interval), "it must be at least 1");
  if (!(p.exact_threshold >= 0))
    fail("plan", fmt::format("'{}' has exact_threshold {}", path, p.exact_threshold),
         "it must be 0 or more (above 1: pure SwapMoE)");
  if (p.prefetch_depth < 0 || p.prefetch_depth > RoutingStats::kMaxDepth)
    fail("plan", fmt::format("'{}' has prefetch_depth {}", path, p.prefetch_depth),
         fmt::format("it must be in 0..{}", RoutingStats::kMaxDepth));
  return p;
}

void Plan::save(const std::string& path) const {
  nlohmann::json j = {{"model", model},
                      {"memory_budget_bytes", memory_budget},
                      {"slots", slots},
                      {"update_interval", update_interval},
                      {"exact_threshold", exact_threshold},
                      {"prefetch_depth", prefetch_depth},
                      {"quality_model", quality_model},
                      {"predicted_quality", predicted_quality > 0 ? nlohmann::json(predicted_quality) : nullptr},
                      {"predicted_latency_ms", predicted_latency_ms},
                      {"predicted_fetches_per_token", predicted_fetches_per_token}};
  write_file_atomically(path, j.dump(2) + "\n", "free some disk space or write the plan to another folder");
}

}  // namespace swapmoe
