// The bench sweep's data: which (budget, policy) configurations to run, one result row per
// configuration, and the ways rows are written out (table, CSV, JSON, plot panels).
// Nothing here touches an engine, so that parsing and writers are tested on their own.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "svg_plot.h"

namespace swapmoe::cli {

// What a sweep budget is a share of.
enum class BudgetKind {
  EXPERTS,    // "25%": keep this share of each layer's experts (--expert-budget)
  FOOTPRINT,  // "25%" of the full model's footprint, or an absolute size such as "512M" (--memory-budget)
};

struct SweepConfig {
  std::string budget;  // as given: "25%", "512M"; "100%" for the full model
  std::string policy;  // full, prune, ondemand, cache[:lru|lfu], swapmoe[:T] (see PolicyVariant)
};

// A sweep policy with its setting: "cache:lfu" is the cache evicting by frequency, "swapmoe:0.5"
// swapmoe with exact threshold 0.5 (a choice missing the resident set waits when it carries at
// least half its token's top-k weight).
struct PolicyVariant {
  std::string policy;              // full, prune, ondemand, cache, swapmoe
  std::string eviction = "lru";    // cache
  double exact_threshold = 2.0;    // swapmoe; above 1: pure SwapMoE
};
PolicyVariant parse_policy_variant(const std::string& text);  // throws naming the forms

struct SweepSpec {
  BudgetKind kind = BudgetKind::EXPERTS;
  std::vector<std::string> budgets;
  std::vector<std::string> policies;
};

BudgetKind parse_budget_kind(const std::string& text);  // "experts" | "footprint"; throws with a hint
const char* budget_kind_name(BudgetKind kind);
// Splits "25%,50%,75%" and checks every item for the kind: percentages in (0, 100] for
// experts; percentages or sizes ("512M") for footprint. Throws with a hint.
std::vector<std::string> parse_budget_list(const std::string& text, BudgetKind kind);
// Splits "full,prune,ondemand,cache:lfu,swapmoe,swapmoe:0.5"; unknown names, bad settings and
// duplicates are refused.
std::vector<std::string> parse_policy_list(const std::string& text);

// The run order: `full` once first (it does not depend on the budget and provides the greedy
// reference for agreement), then for each budget every other policy, so that policies compared
// at one budget are measured next to each other in time.
std::vector<SweepConfig> sweep_order(const SweepSpec& spec);

struct SweepRow {
  static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  std::string budget, policy;
  std::vector<int> slots;            // per layer
  uint64_t memory_budget_bytes = 0;  // 0: none (full)
  uint64_t accounted_bytes = 0;      // what the engine counts against the budget
  uint64_t rss_bytes = 0;            // current RSS at the end of the measurement (process-wide)
  double prompt_tokens_per_s = kNaN, gen_tokens_per_s = kNaN;
  double ttft_ms = kNaN;  // prefill plus the post-prefill expert warm-up
  double p50_ms = kNaN, p99_ms = kNaN;
  double hit_rate = kNaN, fidelity = kNaN, bytes_read_per_token = kNaN;
  uint64_t stalls = 0, swaps = 0, loads = 0;
  double ppl = kNaN;        // NaN: not measured
  double agreement = kNaN;  // share of positions whose greedy token equals full's
  int rounds = 0;           // speed measurements that went into the medians
};

// Columns of the CSV, in order (also the JSON keys of a row).
const std::vector<std::string>& sweep_columns();
std::string format_sweep_csv(const std::vector<SweepRow>& rows);
nlohmann::json sweep_row_json(const SweepRow& row);
// A markdown table for people.
std::string format_sweep_table(const std::vector<SweepRow>& rows);
// Two panels: perplexity vs accounted memory (MiB) and decode tokens/s vs memory, one series
// per policy. Without perplexities the first panel shows agreement instead. With perplexities,
// one frontier panel per budget follows: perplexity against decode tokens/s, one point per
// policy, swapmoe's thresholds joined into one curve, so that a user can pick a point.
std::vector<PlotPanel> sweep_plot_panels(const std::vector<SweepRow>& rows);

}  // namespace swapmoe::cli
