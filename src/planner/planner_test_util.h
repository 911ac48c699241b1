// Test helpers: a device profile with a quality model fitted to a known function, so that the
// planner can be tested without measuring anything.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "planner/config_sampler.h"
#include "planner/device_profile.h"

namespace swapmoe::test {

// Known answer: layers weigh differently (layer l's missing experts cost (l + 1) / n_layers),
// and shorter intervals are better.
inline double known_log_ppl(const std::vector<int>& slots, int interval, int n_expert) {
  double y = 1.5;
  const double n = static_cast<double>(slots.size());
  for (size_t l = 0; l < slots.size(); ++l) y += (l + 1) / n * std::pow(1.0 - double(slots[l]) / n_expert, 2);
  return y + 0.02 * std::log2(double(interval));
}

// With the knobs: the share of a missing expert's harm that masking does (1 at pure SwapMoE, 0
// when every miss waits); the rest is fetched, and prefetch depth d cuts fetches by 1 + d.
inline double known_masked_share(double exact_threshold) { return std::min(exact_threshold, 1.2) / 1.2; }
inline double known_knob_log_ppl(const Configuration& c, int n_expert) {
  return 1.5 + known_masked_share(c.exact_threshold) * (known_log_ppl(c.slots, c.update_interval, n_expert) - 1.5 -
                                                        0.02 * std::log2(double(c.update_interval))) +
         0.02 * std::log2(double(c.update_interval));
}
inline double known_fetches(const Configuration& c, int n_expert) {
  double missing = 0;
  for (int x : c.slots) missing += n_expert - x;
  return (1 - known_masked_share(c.exact_threshold)) * 0.1 * missing / (1 + c.prefetch_depth);
}

// knobs: calibration spread over exact thresholds {0, 0.5, 0.9, pure} and prefetch depths
// {0, 1, 2} with the known functions above; without, pure SwapMoE only (as before the knobs).
inline DeviceProfile synthetic_profile(int n_moe, int n_expert, int n_samples = 96, uint64_t seed = 3,
                                       bool knobs = false) {
  DeviceProfile p;
  p.model_path = "synthetic.gguf";
  p.n_layer = n_moe + 1;  // layer 0 is dense
  for (int l = 1; l <= n_moe; ++l) p.moe_layers.push_back(l);
  p.n_expert = n_expert;
  p.n_expert_used = 2;
  p.expert_bytes = p.slot_bytes = 1 << 20;
  p.expert_load_ms = 0.5;
  p.expert_compute_ms = 0.05;
  p.dense_compute_ms = 1.0;
  p.token_compute_ms = 1.0 + 2 * n_moe * 0.05;
  p.intervals = {1, 2, 4, 8, 16, 32};
  p.full_ppl = std::exp(1.5);
  if (knobs) p.thresholds = {0, 0.5, 0.9, kPureSwapMoe}, p.prefetch_depths = {0, 1, 2};
  for (const Configuration& c :
       sample_configurations({n_moe, n_expert, 0, p.intervals, p.thresholds, p.prefetch_depths}, n_samples, seed)) {
    QualitySample s;
    s.slots = c.slots;
    s.update_interval = c.update_interval;
    s.exact_threshold = c.exact_threshold;
    s.prefetch_depth = c.prefetch_depth;
    s.ppl = std::exp(known_knob_log_ppl(c, n_expert));
    double missing = 0;
    for (int x : c.slots) missing += n_expert - x;
    s.fetches_per_token = known_fetches(c, n_expert);
    s.loads_per_token = 0.3 * missing / c.update_interval + s.fetches_per_token;
    p.samples.push_back(s);
  }
  RegressorOptions ro;
  ro.epochs = 1500;
  p.quality = QualityModel::fit(p.samples, n_moe, n_expert, p.full_ppl, ro);
  return p;
}

}  // namespace swapmoe::test
