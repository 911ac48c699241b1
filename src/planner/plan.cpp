#include "planner/plan.h"

#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/atomic_file.h"

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
    p.predicted_quality = j.value("predicted_quality", 0.0);
    p.predicted_latency_ms = j.value("predicted_latency_ms", 0.0);
  } catch (const nlohmann::json::exception& e) {
    fail("plan", fmt::format("'{}' is not a valid plan: {}", path, e.what()), "make one with `swapmoe plan`");
  }
  for (int s : p.slots)
    if (s < 0) fail("plan", fmt::format("'{}' has a negative slot count", path), "make one with `swapmoe plan`");
  if (p.update_interval < 1)
    fail("plan", fmt::format("'{}' has update_interval {}", path, p.update_interval), "it must be at least 1");
  return p;
}

void Plan::save(const std::string& path) const {
  nlohmann::json j = {{"model", model},
                      {"memory_budget_bytes", memory_budget},
                      {"slots", slots},
                      {"update_interval", update_interval},
                      {"predicted_quality", predicted_quality},
                      {"predicted_latency_ms", predicted_latency_ms}};
  write_file_atomically(path, j.dump(2) + "\n", "free some disk space or write the plan to another folder");
}

}  // namespace swapmoe
