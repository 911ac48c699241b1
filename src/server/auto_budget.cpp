#include "server/auto_budget.h"

#include <iostream>

#include <fmt/format.h>

namespace swapmoe::server {

namespace {
GovernorOptions governor_options(uint64_t full_footprint, uint64_t minimum, uint64_t reserve) {
  GovernorOptions o;
  o.reserve = reserve;
  o.minimum_budget = minimum;
  o.maximum_budget = full_footprint;
  return o;
}
}  // namespace

uint64_t initial_auto_budget(uint64_t full_footprint, uint64_t minimum, uint64_t reserve) {
  BudgetGovernor governor(governor_options(full_footprint, minimum, reserve));
  auto probe = system_memory_probe();
  const uint64_t budget = governor.initial_budget(probe->read(), 0);
  std::cerr << fmt::format("serve: --memory-budget auto: {}; {}\n", probe->describe(), governor.note());
  return budget;
}

AutoBudget::AutoBudget(BudgetControl& control, uint64_t full_footprint, uint64_t minimum, uint64_t reserve) {
  control.enable_auto(reserve);
  thread_ = std::make_unique<GovernorThread>(
      BudgetGovernor(governor_options(full_footprint, minimum, reserve)), system_memory_probe(),
      [&control] {
        const auto [budget, accounted] = control.budget_and_accounted();
        return EngineMemory{budget, accounted};
      },
      // Applied before returning: the next poll already sees the budget in force.
      [&control](const BudgetChange& c) { control.apply_auto(c.from, c.budget, c.reason); });
}

}  // namespace swapmoe::server
