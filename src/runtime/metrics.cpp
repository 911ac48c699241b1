#include "runtime/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "core/memory_stats.h"

namespace swapmoe {

RunMetrics collect_metrics(const Engine& engine) {
  RunMetrics m;
  const ExpertPolicy& p = engine.policy();
  m.policy = policy_name(p.kind());
  m.plan = engine.options().plan_source;
  m.slots = p.slots();
  m.n_expert = static_cast<int>(engine.model().config().n_expert);
  if (engine.options().budget.is_set()) m.budget_asked = engine.options().budget.describe();
  const RoutingStats& r = engine.transformer().routing_stats();
  m.hit_rate = r.hit_rate();
  m.fidelity = r.fidelity();
  m.choice_hit_rate = r.choice_hit_rate();
  const ExpertStats& s = p.stats();
  const ExpertStats& start = engine.startup_stats();
  m.stalls = s.stalls;
  m.stall_seconds = s.stall_seconds - start.stall_seconds;
  m.swaps = s.swaps;
  m.fetches = s.fetches;
  m.prefetches = s.prefetches;
  m.prefetch_hits = s.prefetch_hits;
  m.recall = r.recall(1);
  for (int d = 1; d <= RoutingStats::kMaxDepth && r.predicted[d - 1] > 0; ++d) m.recall_by_depth.push_back(r.recall(d));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto ratio = [nan](uint64_t a, uint64_t b) { return b ? static_cast<double>(a) / static_cast<double>(b) : nan; };
  for (size_t l = 0; l < r.layer_decisions.size(); ++l) {
    m.layer_hit_rate.push_back(ratio(r.layer_hits[l], r.layer_decisions[l]));
    m.layer_choice_hit_rate.push_back(ratio(r.layer_choice_hits[l], r.layer_choices[l]));
  }
  for (size_t l = 0; l < r.layer_predicted.size(); ++l)
    m.layer_recall.push_back(ratio(r.layer_predicted_right[l], r.layer_predicted[l]));
  m.loads = s.loads - start.loads;
  m.bytes_read = s.bytes_read - start.bytes_read;
  m.tokens = s.tokens;
  m.bytes_read_per_token = s.tokens ? static_cast<double>(m.bytes_read) / static_cast<double>(s.tokens) : 0;
  m.memory_budget = engine.memory_budget();
  m.accounted_bytes = engine.memory_account().total();
  m.peak_rss_bytes = peak_rss_bytes();
  return m;
}

namespace {
// JSON has no NaN: a figure that does not exist (a dense layer's hit rate) is null.
nlohmann::json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }
nlohmann::json finite_or_null(const std::vector<double>& v) {
  nlohmann::json a = nlohmann::json::array();
  for (double x : v) a.push_back(finite_or_null(x));
  return a;
}
}  // namespace

nlohmann::json to_json(const RunMetrics& m) {
  return {{"policy", m.policy},
          {"plan", m.plan},
          {"slots", m.slots},
          {"hit_rate", m.hit_rate},
          {"fidelity", m.fidelity},
          {"stalls", m.stalls},
          {"stall_seconds", m.stall_seconds},
          {"swaps", m.swaps},
          {"fetches", m.fetches},
          {"prefetches", m.prefetches},
          {"prefetch_hits", m.prefetch_hits},
          {"prediction_recall", finite_or_null(m.recall)},
          {"prediction_recall_by_depth", m.recall_by_depth},
          {"layer_hit_rate", finite_or_null(m.layer_hit_rate)},
          {"choice_hit_rate", m.choice_hit_rate},
          {"layer_choice_hit_rate", finite_or_null(m.layer_choice_hit_rate)},
          {"layer_prediction_recall", finite_or_null(m.layer_recall)},
          {"loads", m.loads},
          {"bytes_read", m.bytes_read},
          {"bytes_read_per_token", m.bytes_read_per_token},
          {"memory_budget_bytes", m.memory_budget},
          {"accounted_bytes", m.accounted_bytes},
          {"peak_rss_bytes", m.peak_rss_bytes}};
}

namespace {
// "6/8 experts per layer (75.0%)", or "4-6/8 ..." when layers differ: what a budget came to,
// since a share of the experts rounds to whole experts.
std::string resident_experts(const RunMetrics& m) {
  int lo = m.n_expert, hi = 0, n_layers = 0;
  double sum = 0;
  for (int s : m.slots)
    if (s > 0) lo = std::min(lo, s), hi = std::max(hi, s), sum += s, ++n_layers;
  if (n_layers == 0 || m.n_expert == 0) return "";
  const std::string range = lo == hi ? std::to_string(lo) : fmt::format("{}-{}", lo, hi);
  return fmt::format(" | {}/{} experts per layer ({:.1f}%)", range, m.n_expert, 100.0 * sum / n_layers / m.n_expert);
}
}  // namespace

std::string format_metrics_line(const RunMetrics& m) {
  std::string budget = m.memory_budget ? format_bytes(m.memory_budget) : "none";
  if (!m.budget_asked.empty() && m.budget_asked != budget) budget = m.budget_asked + " = " + budget;
  return fmt::format(
      "policy {} | budget {} (accounted {}){} | hit rate {:.3f} ({:.3f} of choices) | fidelity {:.3f} | stalls {}{} | swaps {} | "
      "fetches {} | read {}/token",
      m.policy, budget, format_bytes(m.accounted_bytes), resident_experts(m), m.hit_rate, m.choice_hit_rate, m.fidelity, m.stalls,
      m.stalls ? fmt::format(" ({:.2f} s waiting)", m.stall_seconds) : "", m.swaps, m.fetches, format_bytes(static_cast<uint64_t>(m.bytes_read_per_token))) +
         (m.prefetches || std::isfinite(m.recall)
              ? fmt::format(" | prefetches {} ({} used), recall {:.3f}", m.prefetches, m.prefetch_hits, m.recall)
              : "");
}

}  // namespace swapmoe
