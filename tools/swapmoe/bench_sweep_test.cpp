// The bench sweep without an engine: list parsing, run order, CSV/JSON rows, and an SVG plot
// that is well-formed XML holding every series.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "bench_sweep.h"
#include "core/error.h"
#include "svg_plot.h"

namespace swapmoe::cli {
namespace {

// A minimal XML well-formedness check: every tag closes in order, attributes are quoted, and
// no bare '&' or '<' sits in text. Enough to catch broken escaping or unbalanced groups.
bool well_formed(const std::string& xml, std::string* why) {
  std::vector<std::string> stack;
  size_t i = 0;
  if (xml.rfind("<?xml", 0) == 0) i = xml.find("?>") + 2;
  while (i < xml.size()) {
    if (xml[i] == '&') {
      const size_t semi = xml.find(';', i);
      const std::string ent = xml.substr(i, semi == std::string::npos ? 0 : semi - i + 1);
      if (ent != "&amp;" && ent != "&lt;" && ent != "&gt;" && ent != "&quot;") return *why = "bare & at " + std::to_string(i), false;
    }
    if (xml[i] != '<') {
      ++i;
      continue;
    }
    const size_t end = xml.find('>', i);
    if (end == std::string::npos) return *why = "unterminated tag", false;
    std::string tag = xml.substr(i + 1, end - i - 1);
    if (tag.find('<') != std::string::npos) return *why = "'<' inside a tag", false;
    size_t quotes = 0;
    for (char c : tag) quotes += c == '"';
    if (quotes % 2) return *why = "unbalanced quotes in <" + tag + ">", false;
    if (tag[0] == '/') {
      const std::string name = tag.substr(1);
      if (stack.empty() || stack.back() != name) return *why = "mismatched </" + name + ">", false;
      stack.pop_back();
    } else if (tag.back() != '/') {
      stack.push_back(tag.substr(0, tag.find_first_of(" \t\n")));
    }
    i = end + 1;
  }
  if (!stack.empty()) return *why = "unclosed <" + stack.back() + ">", false;
  return true;
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

std::vector<SweepRow> sample_rows() {
  std::vector<SweepRow> rows;
  SweepRow full;
  full.budget = "100%", full.policy = "full", full.slots = {16, 16};
  full.accounted_bytes = 100u << 20, full.gen_tokens_per_s = 50, full.ppl = 5.0, full.agreement = 1;
  rows.push_back(full);
  for (const char* b : {"25%", "50%"})
    for (const char* p : {"prune", "swapmoe"}) {
      SweepRow r;
      r.budget = b, r.policy = p;
      const int s = b == std::string("25%") ? 4 : 8;
      r.slots = {s, s};
      r.accounted_bytes = static_cast<uint64_t>(s) << 22;
      r.gen_tokens_per_s = 40 + s;
      r.ppl = p == std::string("prune") ? 9.0 - s / 4.0 : 6.0 - s / 8.0;
      r.agreement = 0.5 + s / 20.0;
      r.stalls = 0, r.swaps = s;
      rows.push_back(r);
    }
  return rows;
}

TEST(BenchSweep, ParsesBudgetLists) {
  EXPECT_EQ(parse_budget_list("25%,50%, 75%", BudgetKind::EXPERTS), (std::vector<std::string>{"25%", "50%", "75%"}));
  EXPECT_EQ(parse_budget_list("512M,40%", BudgetKind::FOOTPRINT), (std::vector<std::string>{"512M", "40%"}));
  EXPECT_THROW(parse_budget_list("512M", BudgetKind::EXPERTS), Error);  // experts take shares only
  EXPECT_THROW(parse_budget_list("0%", BudgetKind::EXPERTS), Error);
  EXPECT_THROW(parse_budget_list("120%", BudgetKind::FOOTPRINT), Error);
  EXPECT_THROW(parse_budget_list("abc", BudgetKind::FOOTPRINT), Error);
  EXPECT_THROW(parse_budget_list("25%,25%", BudgetKind::EXPERTS), Error);
  EXPECT_THROW(parse_budget_list(" , ", BudgetKind::EXPERTS), Error);
  EXPECT_EQ(parse_budget_kind("experts"), BudgetKind::EXPERTS);
  EXPECT_EQ(parse_budget_kind("footprint"), BudgetKind::FOOTPRINT);
  EXPECT_THROW(parse_budget_kind("bytes"), Error);
}

TEST(BenchSweep, ParsesPolicyLists) {
  EXPECT_EQ(parse_policy_list("full,prune,ondemand,swapmoe").size(), 4u);
  EXPECT_THROW(parse_policy_list("full,lru"), Error);
  EXPECT_THROW(parse_policy_list("prune,prune"), Error);
  EXPECT_THROW(parse_policy_list(""), Error);
  EXPECT_EQ(parse_policy_list("cache:lru,cache:lfu,swapmoe:0,swapmoe:0.5,swapmoe").size(), 5u);
  for (const char* bad : {"cache:mru", "swapmoe:-1", "swapmoe:x", "swapmoe:", "prune:0.5", "swapmoe:0.5,swapmoe:0.5"})
    EXPECT_THROW(parse_policy_list(bad), Error) << bad;
}

TEST(BenchSweep, PolicyVariantsCarryTheirSettings) {
  EXPECT_EQ(parse_policy_variant("cache").eviction, "lru");
  EXPECT_EQ(parse_policy_variant("cache:lfu").eviction, "lfu");
  EXPECT_EQ(parse_policy_variant("cache:lfu").policy, "cache");
  EXPECT_DOUBLE_EQ(parse_policy_variant("swapmoe:0.25").exact_threshold, 0.25);
  EXPECT_GT(parse_policy_variant("swapmoe").exact_threshold, 1.0);  // pure SwapMoE
}

TEST(BenchSweep, FullRunsOnceFirstThenPoliciesInterleavedPerBudget) {
  SweepSpec spec{BudgetKind::EXPERTS, {"25%", "50%"}, {"swapmoe", "full", "prune"}};
  const std::vector<SweepConfig> order = sweep_order(spec);
  ASSERT_EQ(order.size(), 5u);
  EXPECT_EQ(order[0].policy, "full");
  EXPECT_EQ(order[0].budget, "100%");
  EXPECT_EQ(order[1].budget, "25%");
  EXPECT_EQ(order[1].policy, "swapmoe");
  EXPECT_EQ(order[2].policy, "prune");
  EXPECT_EQ(order[3].budget, "50%");
  spec.policies = {"prune"};
  EXPECT_EQ(sweep_order(spec).size(), 2u);
}

TEST(BenchSweep, CsvHasHeaderAndOneLinePerRowWithEmptyMissingCells) {
  std::vector<SweepRow> rows = sample_rows();
  rows[1].ppl = SweepRow::kNaN;
  const std::string csv = format_sweep_csv(rows);
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(count(line, ",") + 1, sweep_columns().size());
  EXPECT_EQ(line.rfind("budget,policy,slots,", 0), 0u);
  int n = 0;
  while (std::getline(in, line)) {
    EXPECT_EQ(count(line, ",") + 1, sweep_columns().size()) << line;
    ++n;
  }
  EXPECT_EQ(n, static_cast<int>(rows.size()));
  EXPECT_NE(csv.find("100%,full,16/16,"), std::string::npos);
  EXPECT_EQ(csv.find("nan"), std::string::npos);  // missing figures are empty, not "nan"
}

TEST(BenchSweep, JsonRowHasEveryColumnAndNullForMissing) {
  SweepRow r = sample_rows()[1];
  r.ppl = SweepRow::kNaN;
  const nlohmann::json j = sweep_row_json(r);
  for (const std::string& c : sweep_columns()) EXPECT_TRUE(j.contains(c)) << c;
  EXPECT_TRUE(j["ppl"].is_null());
  EXPECT_EQ(j["policy"], "prune");
  EXPECT_DOUBLE_EQ(j["gen_tokens_per_s"].get<double>(), 44.0);
  // Round-trips through text (NaN would not).
  EXPECT_NO_THROW((void)nlohmann::json::parse(j.dump()));
}

TEST(BenchSweep, TableHasOneLinePerRow) {
  const std::vector<SweepRow> rows = sample_rows();
  const std::string t = format_sweep_table(rows);
  EXPECT_EQ(count(t, "\n"), rows.size() + 2);
  EXPECT_NE(t.find("| 25% | swapmoe | 4 |"), std::string::npos) << t;
}

TEST(BenchSweep, PlotPanelsHaveOneSeriesPerPolicy) {
  const std::vector<PlotPanel> panels = sweep_plot_panels(sample_rows());
  ASSERT_EQ(panels.size(), 4u);  // quality, speed, and a frontier for each of the two budgets
  ASSERT_EQ(panels[0].series.size(), 3u);  // full, prune, swapmoe
  EXPECT_EQ(panels[0].series[0].name, "full");
  EXPECT_EQ(panels[0].series[0].points.size(), 1u);
  EXPECT_EQ(panels[0].series[2].points.size(), 2u);
  EXPECT_EQ(panels[0].y_label, "perplexity");
  EXPECT_TRUE(panels[0].log_y);
  EXPECT_DOUBLE_EQ(panels[1].series[0].points[0].y, 50.0);
  EXPECT_DOUBLE_EQ(panels[1].series[0].points[0].x, 100.0);  // MiB
}

TEST(BenchSweep, TheFrontierJoinsSwapMoesThresholdsIntoOneCurvePerBudget) {
  std::vector<SweepRow> rows = sample_rows();
  for (const char* t : {"0", "0.5"}) {
    SweepRow r = rows[2];  // swapmoe at 25%
    r.policy = std::string("swapmoe:") + t;
    r.gen_tokens_per_s = t == std::string("0") ? 10 : 30;
    r.ppl = t == std::string("0") ? 5.0 : 5.5;
    rows.push_back(r);
  }
  const std::vector<PlotPanel> panels = sweep_plot_panels(rows);
  ASSERT_EQ(panels.size(), 4u);
  const PlotPanel& f = panels[2];
  EXPECT_EQ(f.title, "Frontier at 25%");
  EXPECT_EQ(f.x_label, "decode tokens/s");
  std::vector<std::string> names;
  for (const PlotSeries& s : f.series) names.push_back(s.name);
  EXPECT_EQ(names, (std::vector<std::string>{"full", "prune", "swapmoe", "swapmoe:T"}));
  EXPECT_EQ(f.series[3].points.size(), 2u);
  EXPECT_EQ(panels[3].series.size(), 3u) << "no threshold was run at 50%";
  EXPECT_EQ(sweep_plot_panels({rows[0]}).size(), 2u) << "the full model alone has no frontier";
}

TEST(SvgPlot, NiceTicksCoverTheRangeWithRoundSteps) {
  const std::vector<double> t = nice_ticks(3.2, 47.9, 5);
  ASSERT_GE(t.size(), 3u);
  EXPECT_LE(t.front(), 3.2);
  EXPECT_GE(t.back(), 47.9);
  EXPECT_DOUBLE_EQ(t[1] - t[0], 10.0);
  const std::vector<double> one = nice_ticks(5, 5, 5);  // a single value still gets an axis
  ASSERT_GE(one.size(), 2u);
  EXPECT_LT(one.front(), 5);
  EXPECT_GT(one.back(), 5);
  EXPECT_TRUE(nice_ticks(NAN, 1).empty());
  // The last tick reaches past the largest value even when it sits just above a round number.
  const std::vector<double> up = nice_ticks(36, 1141, 3);
  EXPECT_LE(up.front(), 36);
  EXPECT_GE(up.back(), 1141);
}

TEST(SvgPlot, LogTicksBracketTheRange) {
  const std::vector<double> t = log_ticks(36, 1141);
  ASSERT_GE(t.size(), 3u);
  EXPECT_DOUBLE_EQ(t.front(), 20);
  EXPECT_DOUBLE_EQ(t.back(), 2000);
  EXPECT_TRUE(log_ticks(0, 10).empty());
}

TEST(SvgPlot, SweepPlotIsWellFormedAndHoldsEverySeries) {
  std::vector<SweepRow> rows = sample_rows();
  rows[2].gen_tokens_per_s = SweepRow::kNaN;  // a gap, not a broken file
  const std::string svg = render_svg(sweep_plot_panels(rows), "model <test> & \"sweep\"");
  std::string why;
  EXPECT_TRUE(well_formed(svg, &why)) << why;
  EXPECT_NE(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
  EXPECT_NE(svg.find("model &lt;test&gt; &amp; &quot;sweep&quot;"), std::string::npos);
  EXPECT_EQ(count(svg, "class=\"panel\""), 4u);  // quality, speed, a frontier per budget
  for (const char* name : {"full", "prune", "swapmoe"})
    EXPECT_EQ(count(svg, std::string("data-name=\"") + name + "\""), 4u) << name;
  // prune and swapmoe have two points per panel (lines), full one (a marker only); the NaN
  // speed of one swapmoe point leaves it a single marker in the speed panel.
  EXPECT_EQ(count(svg, "<polyline"), 3u);
  // The frontiers have one point per series; the swapmoe point without a speed is left out.
  EXPECT_EQ(count(svg, "<circle"), 1u + 2 + 2 + 1 + 2 + 1 + 3 /* legend */ + 2 + 3 /* frontiers */);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
}

TEST(SvgPlot, EmptyPanelSaysNoData) {
  const std::string svg = render_svg({PlotPanel{"empty", "x", "y", {}}}, "t");
  std::string why;
  EXPECT_TRUE(well_formed(svg, &why)) << why;
  EXPECT_NE(svg.find("no data"), std::string::npos);
}

}  // namespace
}  // namespace swapmoe::cli
