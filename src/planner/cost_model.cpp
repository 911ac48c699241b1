#include "planner/cost_model.h"

#include <algorithm>

namespace swapmoe {

int64_t slots_in_budget(const MemorySplit& m, uint64_t budget) {
  if (m.slot_bytes == 0 || budget < m.fixed + m.staging) return 0;
  return static_cast<int64_t>((budget - m.fixed - m.staging) / m.slot_bytes);
}

uint64_t bytes_for_slots(const MemorySplit& m, int64_t n_slots) {
  return m.fixed + m.staging + static_cast<uint64_t>(std::max<int64_t>(n_slots, 0)) * m.slot_bytes;
}

double predict_latency_ms(const LatencyFigures& f, double loads_per_token) {
  const double compute = f.dense_compute_ms + f.n_moe_layers * f.n_expert_used * f.expert_compute_ms;
  const double io = std::clamp(loads_per_token, 0.0, f.max_loads_per_token) * f.expert_load_ms;
  return compute + std::max(0.0, io - compute);
}

std::vector<int> even_split(int64_t total, int n_layers, int n_expert) {
  std::vector<int> s(n_layers, 0);
  if (n_layers == 0) return s;
  total = std::clamp<int64_t>(total, n_layers, static_cast<int64_t>(n_layers) * n_expert);
  for (int l = 0; l < n_layers; ++l)
    s[l] = static_cast<int>(total / n_layers + (l < total % n_layers ? 1 : 0));
  return s;
}

}  // namespace swapmoe
