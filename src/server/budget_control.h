// BudgetControl: every change of the memory budget while serving goes through here, whether a
// client asks (POST /v1/memory) or the governor of --memory-budget auto proposes it. A change is
// checked and applied on the engine thread between two decode steps, so replies in flight go on;
// each is logged with its reason.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "model/memory_plan.h"
#include "server/scheduler.h"
#include "server/server_metrics.h"

namespace swapmoe::server {

class BudgetControl {
 public:
  // adjustable: false when the engine runs the full model (no budget was given at start-up).
  BudgetControl(Scheduler& scheduler, ServerMetrics& metrics, bool adjustable);

  // A client's budget: applied at the next safe point; returns the memory report after it.
  // Throws ApiError 422 (with the minimum) when it cannot be met, 409 when not adjustable. It
  // turns the automatic budget off: the client's word stands until it asks for "auto" again.
  nlohmann::json set(const Budget& budget);
  // {"budget":"auto"}: hands the budget back to the governor (409 when the server has none).
  nlohmann::json resume_auto();
  // GET /v1/memory: the engine's report and the automatic budget's state.
  nlohmann::json report();

  // The governor's side. enable_auto() once at start-up; apply_auto() returns whether the
  // budget now in force is `bytes` (a refused or ignored proposal leaves it unchanged).
  void enable_auto(uint64_t reserve_bytes);
  bool auto_enabled() const;
  // `from`: the budget the proposal was made against; when another is in force by the time it
  // would apply (a client changed it), the proposal is dropped.
  bool apply_auto(uint64_t from, uint64_t bytes, const std::string& reason);
  // The budget in force and what the engine holds now, read together between two steps.
  std::pair<uint64_t, uint64_t> budget_and_accounted();

 private:
  // Applies on the engine thread; with `expected_from`, only while that budget is in force
  // (returns null JSON otherwise).
  nlohmann::json apply(const Budget& budget, const std::string& reason, std::optional<uint64_t> expected_from = {});
  nlohmann::json auto_json() const;

  Scheduler& scheduler_;
  ServerMetrics& metrics_;
  bool adjustable_;
  mutable std::mutex mutex_;  // one change at a time; guards the fields below
  bool auto_available_ = false, auto_enabled_ = false;
  uint64_t reserve_ = 0;
  uint64_t auto_changes_ = 0;
  std::string last_reason_;
};

}  // namespace swapmoe::server
