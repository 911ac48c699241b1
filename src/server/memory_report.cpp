#include "server/memory_report.h"

#include <numeric>

#include "runtime/metrics.h"

namespace swapmoe::server {

nlohmann::json memory_report(const Engine& engine) {
  const RunMetrics m = collect_metrics(engine);
  const MemoryAccount a = engine.memory_account();
  int64_t moe_layers = 0, slots = 0;
  for (int s : m.slots)
    if (s > 0) ++moe_layers, slots += s;
  const double share = moe_layers && m.n_expert ? static_cast<double>(slots) / static_cast<double>(moe_layers * m.n_expert) : 1.0;
  return {{"policy", m.policy},
          {"budget_bytes", m.memory_budget},
          {"budget", m.budget_asked},
          {"full_footprint_bytes", engine.full_footprint()},
          {"minimum_budget_bytes", engine.minimum_budget()},
          {"accounted_bytes", a.total()},
          {"accounted",
           {{"dense", a.dense}, {"experts", a.experts}, {"kv_cache", a.kv_cache}, {"scratch", a.scratch}, {"runtime", a.runtime}}},
          {"n_expert", m.n_expert},
          {"slots_per_layer", m.slots},
          {"expert_share", share},
          {"hit_rate", m.hit_rate},
          {"fidelity", m.fidelity},
          {"swaps", m.swaps},
          {"loads", m.loads},
          {"bytes_read", m.bytes_read},
          {"stalls", m.stalls},
          {"tokens", m.tokens},
          {"peak_rss_bytes", m.peak_rss_bytes}};
}

}  // namespace swapmoe::server
