#include "bench_sweep.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "core/error.h"
#include "core/memory_stats.h"
#include "experts/expert_policy.h"

namespace swapmoe::cli {

namespace {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    if (b == std::string::npos) continue;
    items.push_back(item.substr(b, e - b + 1));
  }
  return items;
}

// CSV cells: NaN stays empty so that spreadsheets and pandas read it as missing.
std::string cell(double v) { return std::isfinite(v) ? fmt::format("{:.8g}", v) : ""; }
nlohmann::json jnum(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

std::string slots_text(const std::vector<int>& slots) {
  // Dense layers have no slots; "4" when every MoE layer has the same count, else "4/4/3".
  std::vector<int> moe;
  for (int s : slots)
    if (s > 0) moe.push_back(s);
  if (moe.empty()) return "-";
  if (std::all_of(moe.begin(), moe.end(), [&](int s) { return s == moe[0]; })) return std::to_string(moe[0]);
  std::string t;
  for (int s : moe) {
    if (!t.empty()) t += '/';
    t += std::to_string(s);
  }
  return t;
}

std::string fixed(double v, int decimals) { return std::isfinite(v) ? fmt::format("{:.{}f}", v, decimals) : "-"; }

}  // namespace

BudgetKind parse_budget_kind(const std::string& text) {
  if (text == "experts") return BudgetKind::EXPERTS;
  if (text == "footprint") return BudgetKind::FOOTPRINT;
  fail("bench", fmt::format("unknown budget kind '{}'", text),
       "--budget-kind experts (share of each layer's experts) or footprint (share of the full model's memory)");
}

const char* budget_kind_name(BudgetKind kind) { return kind == BudgetKind::EXPERTS ? "experts" : "footprint"; }

std::vector<std::string> parse_budget_list(const std::string& text, BudgetKind kind) {
  std::vector<std::string> budgets = split_list(text);
  if (budgets.empty()) fail("bench", "--budgets is empty", "e.g. --budgets 25%,50%,75%");
  for (const std::string& b : budgets) {
    double pct = 0;
    uint64_t bytes = 0;
    if (parse_percentage(b, &pct)) continue;
    if (kind == BudgetKind::FOOTPRINT && parse_byte_size(b, &bytes) && bytes > 0) continue;
    fail("bench", fmt::format("budget '{}' is not a percentage{}", b, kind == BudgetKind::FOOTPRINT ? " or a size" : ""),
         kind == BudgetKind::EXPERTS ? "with --budget-kind experts use shares such as 25%,50%,75%"
                                     : "use shares such as 25%,50% or sizes such as 512M,1.5G");
  }
  if (std::set<std::string>(budgets.begin(), budgets.end()).size() != budgets.size())
    fail("bench", fmt::format("--budgets '{}' lists a budget twice", text), "list each budget once");
  return budgets;
}

PolicyVariant parse_policy_variant(const std::string& text) {
  PolicyVariant v;
  const size_t colon = text.find(':');
  v.policy = text.substr(0, colon);
  parse_policy(v.policy);  // throws with the list of policies
  if (colon == std::string::npos) return v;
  const std::string arg = text.substr(colon + 1);
  if (v.policy == "cache" && (arg == "lru" || arg == "lfu")) {
    v.eviction = arg;
    return v;
  }
  if (v.policy == "swapmoe") {
    char* end = nullptr;
    const double t = std::strtod(arg.c_str(), &end);
    if (!arg.empty() && end == arg.c_str() + arg.size() && std::isfinite(t) && t >= 0) {
      v.exact_threshold = t;
      return v;
    }
  }
  fail("bench", fmt::format("policy '{}' has a setting it does not take", text),
       "settings are cache:lru, cache:lfu and swapmoe:T with an exact threshold T >= 0, e.g. swapmoe:0.5");
}

std::vector<std::string> parse_policy_list(const std::string& text) {
  std::vector<std::string> policies = split_list(text);
  if (policies.empty()) fail("bench", "--policies is empty", "e.g. --policies full,prune,ondemand,swapmoe");
  for (const std::string& p : policies) parse_policy_variant(p);
  if (std::set<std::string>(policies.begin(), policies.end()).size() != policies.size())
    fail("bench", fmt::format("--policies '{}' lists a policy twice", text), "list each policy once");
  return policies;
}

std::vector<SweepConfig> sweep_order(const SweepSpec& spec) {
  std::vector<SweepConfig> order;
  if (std::find(spec.policies.begin(), spec.policies.end(), "full") != spec.policies.end())
    order.push_back({"100%", "full"});
  for (const std::string& b : spec.budgets)
    for (const std::string& p : spec.policies)
      if (p != "full") order.push_back({b, p});
  return order;
}

const std::vector<std::string>& sweep_columns() {
  static const std::vector<std::string> cols = {
      "budget",         "policy",    "slots",     "memory_budget_bytes",  "accounted_bytes", "rss_bytes",
      "prompt_tokens_per_s", "gen_tokens_per_s", "ttft_ms", "p50_ms", "p99_ms", "hit_rate",
      "fidelity",       "stalls",    "swaps",     "loads",                "bytes_read_per_token", "ppl",
      "agreement",      "rounds"};
  return cols;
}

nlohmann::json sweep_row_json(const SweepRow& r) {
  return {{"budget", r.budget},
          {"policy", r.policy},
          {"slots", r.slots},
          {"memory_budget_bytes", r.memory_budget_bytes},
          {"accounted_bytes", r.accounted_bytes},
          {"rss_bytes", r.rss_bytes},
          {"prompt_tokens_per_s", jnum(r.prompt_tokens_per_s)},
          {"gen_tokens_per_s", jnum(r.gen_tokens_per_s)},
          {"ttft_ms", jnum(r.ttft_ms)},
          {"p50_ms", jnum(r.p50_ms)},
          {"p99_ms", jnum(r.p99_ms)},
          {"hit_rate", jnum(r.hit_rate)},
          {"fidelity", jnum(r.fidelity)},
          {"stalls", r.stalls},
          {"swaps", r.swaps},
          {"loads", r.loads},
          {"bytes_read_per_token", jnum(r.bytes_read_per_token)},
          {"ppl", jnum(r.ppl)},
          {"agreement", jnum(r.agreement)},
          {"rounds", r.rounds}};
}

std::string format_sweep_csv(const std::vector<SweepRow>& rows) {
  std::string out;
  for (const std::string& c : sweep_columns()) {
    if (!out.empty()) out += ',';
    out += c;
  }
  out += "\n";
  for (const SweepRow& r : rows) {
    // Slots are joined with '/' so that the cell needs no quoting.
    std::string slots;
    for (int s : r.slots) {
      if (!slots.empty()) slots += '/';
      slots += std::to_string(s);
    }
    out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", r.budget, r.policy, slots,
                       r.memory_budget_bytes, r.accounted_bytes, r.rss_bytes, cell(r.prompt_tokens_per_s),
                       cell(r.gen_tokens_per_s), cell(r.ttft_ms), cell(r.p50_ms), cell(r.p99_ms), cell(r.hit_rate),
                       cell(r.fidelity), r.stalls, r.swaps, r.loads, cell(r.bytes_read_per_token), cell(r.ppl),
                       cell(r.agreement), r.rounds);
  }
  return out;
}

std::string format_sweep_table(const std::vector<SweepRow>& rows) {
  std::string out =
      "| budget | policy | slots | accounted | pp tok/s | tg tok/s | p50 ms | p99 ms | hit | fidelity | stalls | "
      "swaps | read/token | ppl | agreement |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const SweepRow& r : rows)
    out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", r.budget,
                       r.policy, slots_text(r.slots), format_bytes(r.accounted_bytes), fixed(r.prompt_tokens_per_s, 1),
                       fixed(r.gen_tokens_per_s, 2), fixed(r.p50_ms, 2), fixed(r.p99_ms, 2), fixed(r.hit_rate, 3),
                       fixed(r.fidelity, 3), r.stalls, r.swaps,
                       std::isfinite(r.bytes_read_per_token)
                           ? format_bytes(static_cast<uint64_t>(r.bytes_read_per_token))
                           : "-",
                       fixed(r.ppl, 4), fixed(r.agreement, 3));
  return out;
}

std::vector<PlotPanel> sweep_plot_panels(const std::vector<SweepRow>& rows) {
  const bool have_ppl = std::any_of(rows.begin(), rows.end(), [](const SweepRow& r) { return std::isfinite(r.ppl); });
  PlotPanel quality{have_ppl ? "Quality: perplexity (lower is better)" : "Quality: agreement with full",
                    "memory (MiB, accounted)", have_ppl ? "perplexity" : "greedy agreement", {}};
  quality.log_y = have_ppl;  // a pruned model's perplexity can be many times the full model's
  PlotPanel speed{"Speed: decode", "memory (MiB, accounted)", "decode tokens/s", {}};
  std::vector<std::string> policies;
  for (const SweepRow& r : rows)
    if (std::find(policies.begin(), policies.end(), r.policy) == policies.end()) policies.push_back(r.policy);
  for (const std::string& p : policies) {
    PlotSeries q{p, {}}, s{p, {}};
    for (const SweepRow& r : rows) {
      if (r.policy != p) continue;
      const double mib = static_cast<double>(r.accounted_bytes) / (1024.0 * 1024.0);
      q.points.push_back({mib, have_ppl ? r.ppl : r.agreement});
      s.points.push_back({mib, r.gen_tokens_per_s});
    }
    quality.series.push_back(std::move(q));
    speed.series.push_back(std::move(s));
  }
  std::vector<PlotPanel> panels = {quality, speed};
  if (!have_ppl) return panels;
  // The frontier at each budget. The full model (measured once) is a point on every panel.
  std::vector<std::string> budgets;
  for (const SweepRow& r : rows)
    if (r.policy != "full" && std::find(budgets.begin(), budgets.end(), r.budget) == budgets.end()) budgets.push_back(r.budget);
  for (const std::string& b : budgets) {
    PlotPanel f{"Frontier at " + b, "decode tokens/s", "perplexity", {}};
    f.log_y = true;
    auto series = [&](const std::string& name) -> PlotSeries& {
      for (PlotSeries& s : f.series)
        if (s.name == name) return s;
      return f.series.emplace_back(PlotSeries{name, {}});
    };
    for (const SweepRow& r : rows) {
      if (r.policy != "full" && r.budget != b) continue;
      // swapmoe's thresholds are one curve: from exact (slow) to pure SwapMoE (fast).
      const std::string name = r.policy.rfind("swapmoe:", 0) == 0 ? "swapmoe:T" : r.policy;
      series(name).points.push_back({r.gen_tokens_per_s, r.ppl});
    }
    panels.push_back(std::move(f));
  }
  return panels;
}

}  // namespace swapmoe::cli
