#include "server/budget_control.h"

#include <malloc.h>

#include <iostream>

#include <fmt/format.h>

#include "core/error.h"
#include "server/api_error.h"
#include "server/memory_report.h"

namespace swapmoe::server {

namespace {
std::string gib(uint64_t bytes) { return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / (1ull << 30)); }
}  // namespace

BudgetControl::BudgetControl(Scheduler& scheduler, ServerMetrics& metrics, bool adjustable)
    : scheduler_(scheduler), metrics_(metrics), adjustable_(adjustable) {}

nlohmann::json BudgetControl::apply(const Budget& budget, const std::string& reason, std::optional<uint64_t> expected_from) {
  if (!adjustable_)
    throw ApiError(409, "invalid_request_error",
                   "the server runs the full model without a budget, so there is no budget to change; "
                   "start it with --memory-budget (e.g. 100%) to change budgets while serving",
                   "budget");
  struct Outcome {
    bool ok;
    std::string error;
    uint64_t minimum, before;
    nlohmann::json report;
  };
  Outcome o = scheduler_.on_engine([&](Engine& e) {
    const uint64_t before = e.memory_budget();
    if (expected_from && *expected_from != before) return Outcome{true, "", e.minimum_budget(), before, nullptr};
    try {
      e.set_memory_budget(budget);
      // glibc keeps freed expert slots (a few MiB each) in its heap: without handing them back,
      // the process (and its cgroup) would not shrink with the budget.
      if (e.memory_budget() < before) malloc_trim(0);
      return Outcome{true, "", e.minimum_budget(), before, memory_report(e)};
    } catch (const Error& err) {
      return Outcome{false, err.what(), e.minimum_budget(), before, {}};
    }
  });
  if (o.ok && o.report.is_null()) return o.report;  // overtaken by another change
  if (!o.ok) {
    throw budget_too_small(o.error, o.minimum);
  }
  ++metrics_.budget_changes;
  last_reason_ = reason;
  std::cerr << fmt::format("serve: budget {} -> {} ({}); the engine now holds {}\n", gib(o.before),
                           gib(o.report["budget_bytes"].get<uint64_t>()), reason,
                           gib(o.report["accounted_bytes"].get<uint64_t>()));
  return o.report;
}

nlohmann::json BudgetControl::set(const Budget& budget) {
  std::lock_guard lock(mutex_);
  nlohmann::json report = apply(budget, "asked by a client: " + budget.describe());
  auto_enabled_ = false;
  report["auto"] = auto_json();
  return report;
}

nlohmann::json BudgetControl::resume_auto() {
  std::lock_guard lock(mutex_);
  if (!auto_available_)
    throw ApiError(409, "invalid_request_error", "this server was not started with --memory-budget auto", "budget");
  auto_enabled_ = true;
  last_reason_ = "automatic budget resumed by a client";
  std::cerr << "serve: the automatic budget is back on\n";
  nlohmann::json report = scheduler_.on_engine([](Engine& e) { return memory_report(e); });
  report["auto"] = auto_json();
  return report;
}

nlohmann::json BudgetControl::report() {
  nlohmann::json report = scheduler_.on_engine([](Engine& e) { return memory_report(e); });
  std::lock_guard lock(mutex_);
  report["auto"] = auto_json();
  return report;
}

nlohmann::json BudgetControl::auto_json() const {
  return {{"enabled", auto_enabled_}, {"reserve_bytes", reserve_}, {"changes", auto_changes_}, {"last_reason", last_reason_}};
}

void BudgetControl::enable_auto(uint64_t reserve_bytes) {
  std::lock_guard lock(mutex_);
  auto_available_ = auto_enabled_ = true;
  reserve_ = reserve_bytes;
}

bool BudgetControl::auto_enabled() const {
  std::lock_guard lock(mutex_);
  return auto_enabled_;
}

bool BudgetControl::apply_auto(uint64_t from, uint64_t bytes, const std::string& reason) {
  std::lock_guard lock(mutex_);
  if (!auto_enabled_) return false;
  try {
    if (apply(Budget::of_bytes(bytes), "auto: " + reason, from).is_null()) return false;
  } catch (const ApiError& e) {
    std::cerr << fmt::format("serve: automatic budget {} refused: {}\n", gib(bytes), e.message);
    return false;
  }
  ++auto_changes_;
  return true;
}

std::pair<uint64_t, uint64_t> BudgetControl::budget_and_accounted() {
  return scheduler_.on_engine([](Engine& e) { return std::pair{e.memory_budget(), e.memory_account().total()}; });
}

}  // namespace swapmoe::server
