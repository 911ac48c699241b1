#include "planner/cost_model.h"

#include <algorithm>

namespace swapmoe {

double predict_latency_ms(const LatencyFigures& f, double loads_per_token) {
  const double compute = f.dense_compute_ms + f.n_moe_layers * f.n_expert_used * f.expert_compute_ms;
  const double io = std::clamp(loads_per_token, 0.0, f.max_loads_per_token) * f.expert_load_ms;
  return compute + std::max(0.0, io - compute);
}

}  // namespace swapmoe
