// --memory-budget auto: the budget follows the memory free to the process. The GovernorThread
// polls the system (MemAvailable, the cgroup's limit and usage, memory pressure) and its
// BudgetGovernor proposes; BudgetControl applies each proposal at the engine's next safe point,
// or drops it when a client changed the budget meanwhile. The governor reads the budget in force
// from the engine at every poll, never assuming a proposal applied.
#pragma once

#include <cstdint>
#include <memory>

#include "server/budget_control.h"
#include "server/governor_thread.h"

namespace swapmoe::server {

// The budget to start with: what is free to this process now, less the reserve, rounded to the
// governor's step, within [minimum, full_footprint]. Says how it was sized on stderr.
uint64_t initial_auto_budget(uint64_t full_footprint, uint64_t minimum, uint64_t reserve);

class AutoBudget {
 public:
  AutoBudget(BudgetControl& control, uint64_t full_footprint, uint64_t minimum, uint64_t reserve);
  void stop() { thread_->stop(); }

 private:
  std::unique_ptr<GovernorThread> thread_;
};

}  // namespace swapmoe::server
