#include "planner/cost_model.h"

#include <algorithm>

namespace swapmoe {

double full_model_latency_ms(const LatencyFigures& f) {
  return f.dense_compute_ms + f.n_moe_layers * f.n_expert_used * f.expert_compute_ms;
}

double predict_latency_ms(const LatencyFigures& f, const TokenTraffic& t) {
  const double compute = full_model_latency_ms(f);
  const double fetches = std::max(0.0, t.fetches_per_token);
  const double per_layer = fetches / std::max(1, f.n_moe_layers);
  const double readers = std::min<double>(std::max(1, f.io_threads), std::max(1.0, per_layer));
  const double stall = fetches * f.fetch_ms / readers;
  const double prefetch =
      t.prefetch_depth > 0 ? f.prefetch_read_share * std::max(0.0, t.loads_per_token - fetches) * f.expert_load_ms : 0.0;
  return compute + stall + prefetch;
}

}  // namespace swapmoe
