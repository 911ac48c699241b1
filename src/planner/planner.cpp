#include "planner/planner.h"

#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "core/error.h"
#include "core/memory_stats.h"
#include "core/timer.h"

namespace swapmoe {

Score predict(const DeviceProfile& profile, const Configuration& c) {
  Score s;
  s.quality = profile.quality.predict_log_ppl(c.slots, c.update_interval);
  s.latency_ms = predict_latency_ms(profile.latency_figures(),
                                    profile.quality.predict_loads_per_token(c.slots, c.update_interval));
  return s;
}

std::vector<int> per_layer_slots(const DeviceProfile& profile, const std::vector<int>& moe_slots) {
  std::vector<int> slots(profile.n_layer, 0);
  for (size_t i = 0; i < profile.moe_layers.size() && i < moe_slots.size(); ++i) slots[profile.moe_layers[i]] = moe_slots[i];
  return slots;
}

PlanOutcome make_plan(const DeviceProfile& profile, const PlanRequest& request) {
  Timer timer;
  const int n_moe = static_cast<int>(profile.moe_layers.size());
  PlanOutcome out;
  out.capacity = slots_in_budget(request.memory, request.budget);
  if (out.capacity < n_moe)
    fail("plan",
         fmt::format("a budget of {} leaves room for {} expert slot(s); the {} MoE layers need at least one each",
                     format_bytes(request.budget), out.capacity, n_moe),
         fmt::format("raise the budget to at least {}", format_bytes(bytes_for_slots(request.memory, n_moe))));

  SearchSpace space;
  space.n_layers = n_moe;
  space.n_expert = profile.n_expert;
  space.capacity = out.capacity;
  space.intervals = profile.intervals;
  SearchOptions so = request.search;
  so.seed = request.seed;
  so.max_latency_ms = request.max_latency_ms;
  const Objective objective = [&](const Configuration& c) { return predict(profile, c); };
  const SearchResult r = genetic_search(space, objective, so);

  out.chosen = r.best;
  out.predicted = r.score;
  out.meets_latency = r.feasible;
  out.evaluations = r.evaluations;
  out.uniform = {even_split(out.capacity, n_moe, profile.n_expert), request.baseline_interval};
  out.uniform_predicted = predict(profile, out.uniform);

  Plan& p = out.plan;
  p.model = profile.model_path;
  p.memory_budget = request.budget;
  p.slots = per_layer_slots(profile, r.best.slots);
  p.update_interval = r.best.update_interval;
  p.predicted_quality = std::exp(r.score.quality);
  p.predicted_latency_ms = r.score.latency_ms;
  out.seconds = timer.seconds();
  return out;
}

}  // namespace swapmoe
