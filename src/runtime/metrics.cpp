#include "runtime/metrics.h"

#include <fmt/format.h>

#include "core/memory_stats.h"

namespace swapmoe {

RunMetrics collect_metrics(const Engine& engine) {
  RunMetrics m;
  const ExpertPolicy& p = engine.policy();
  m.policy = policy_name(p.kind());
  m.plan = engine.options().plan_source;
  m.slots = p.slots();
  const RoutingStats& r = engine.transformer().routing_stats();
  m.hit_rate = r.hit_rate();
  m.fidelity = r.fidelity();
  const ExpertStats& s = p.stats();
  const ExpertStats& start = engine.startup_stats();
  m.stalls = s.stalls;
  m.swaps = s.swaps;
  m.loads = s.loads - start.loads;
  m.bytes_read = s.bytes_read - start.bytes_read;
  m.tokens = s.tokens;
  m.bytes_read_per_token = s.tokens ? static_cast<double>(m.bytes_read) / static_cast<double>(s.tokens) : 0;
  m.memory_budget = engine.memory_budget();
  m.accounted_bytes = engine.memory_account().total();
  m.peak_rss_bytes = peak_rss_bytes();
  return m;
}

nlohmann::json to_json(const RunMetrics& m) {
  return {{"policy", m.policy},
          {"plan", m.plan},
          {"slots", m.slots},
          {"hit_rate", m.hit_rate},
          {"fidelity", m.fidelity},
          {"stalls", m.stalls},
          {"swaps", m.swaps},
          {"loads", m.loads},
          {"bytes_read", m.bytes_read},
          {"bytes_read_per_token", m.bytes_read_per_token},
          {"memory_budget_bytes", m.memory_budget},
          {"accounted_bytes", m.accounted_bytes},
          {"peak_rss_bytes", m.peak_rss_bytes}};
}

std::string format_metrics_line(const RunMetrics& m) {
  std::string budget = m.memory_budget ? format_bytes(m.memory_budget) : "none";
  return fmt::format(
      "policy {} | budget {} (accounted {}) | hit rate {:.3f} | fidelity {:.3f} | stalls {} | swaps {} | "
      "read {}/token",
      m.policy, budget, format_bytes(m.accounted_bytes), m.hit_rate, m.fidelity, m.stalls, m.swaps,
      format_bytes(static_cast<uint64_t>(m.bytes_read_per_token)));
}

}  // namespace swapmoe
