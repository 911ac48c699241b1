#include "planner/planner.h"

#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "core/error.h"
#include "core/memory_stats.h"
#include "core/timer.h"

namespace swapmoe {

Score predict(const DeviceProfile& profile, const Configuration& c) {
  const QualityModel& q = profile.quality;
  Score s;
  s.quality = q.predict_log_ppl(c);
  s.latency_ms = predict_latency_ms(profile.latency_figures(),
                                    {q.predict_loads_per_token(c), q.predict_fetches_per_token(c), c.prefetch_depth});
  return s;
}

std::string unfitted_reason(const DeviceProfile& profile) {
  if (!profile.calibration_note.empty()) return profile.calibration_note;
  if (profile.calibration_status == "off") return "the profile was made with --no-quality";
  return fmt::format("{} calibration runs, fewer than the {} a fit needs", profile.samples.size(),
                     QualityModel::min_samples(static_cast<int>(profile.moe_layers.size())));
}

std::string describe_threshold(double exact_threshold) {
  return exact_threshold > 1 ? std::string("pure") : fmt::format("{:g}", exact_threshold);
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

  const LatencyFigures figures = profile.latency_figures();
  out.full_latency_ms = full_model_latency_ms(figures);
  out.latency_limit_ms = request.max_latency_ms > 0 ? request.max_latency_ms
                         : request.min_speed > 0    ? out.full_latency_ms / request.min_speed
                                                    : 0;
  out.uniform = {even_split(out.capacity, n_moe, profile.n_expert), request.baseline_interval};
  out.uniform_predicted = predict(profile, out.uniform);
  out.fitted = profile.quality.fitted();
  if (out.fitted) {
    SearchSpace space;
    space.n_layers = n_moe;
    space.n_expert = profile.n_expert;
    space.capacity = out.capacity;
    space.intervals = profile.intervals;
    if (profile.quality.learns_knobs()) {  // an older model cannot tell thresholds apart
      space.thresholds = profile.thresholds;
      space.prefetch_depths = profile.prefetch_depths;
    }
    SearchOptions so = request.search;
    so.seed = request.seed;
    so.max_latency_ms = out.latency_limit_ms;
    const Objective objective = [&](const Configuration& c) { return predict(profile, c); };
    const SearchResult r = genetic_search(space, objective, so);
    out.chosen = r.best;
    out.predicted = r.score;
    out.meets_latency = r.feasible;
    out.evaluations = r.evaluations;
  } else {
    out.chosen = out.uniform;
    out.predicted = out.uniform_predicted;
    out.meets_latency = out.latency_limit_ms <= 0 || out.predicted.latency_ms <= out.latency_limit_ms;
    out.evaluations = 1;
  }
  out.predicted_fetches_per_token = profile.quality.predict_fetches_per_token(out.chosen);

  Plan& p = out.plan;
  p.model = profile.model_path;
  p.memory_budget = request.budget;
  p.slots = per_layer_slots(profile, out.chosen.slots);
  p.update_interval = out.chosen.update_interval;
  p.exact_threshold = out.chosen.exact_threshold;
  p.prefetch_depth = out.chosen.prefetch_depth;
  p.quality_model = profile.quality.fit_report().chosen;
  p.predicted_quality = out.fitted ? std::exp(out.predicted.quality) : 0;
  p.predicted_latency_ms = out.predicted.latency_ms;
  p.predicted_fetches_per_token = out.predicted_fetches_per_token;
  out.seconds = timer.seconds();
  return out;
}

}  // namespace swapmoe
