// QualityModel: predicts a configuration's calibration log-perplexity (and its expert loads and
// exact fetches per token, for the latency model) from per-layer slot fractions, the update
// interval, the exact threshold and the prefetch depth. Fitted on configurations that the real
// runtime evaluated (see profiler.h).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "planner/regressor.h"
#include "planner/search.h"  // Configuration

namespace swapmoe {

// One configuration the runtime evaluated on the calibration text.
// Samples from before the knobs were learned load as pure SwapMoE without prefetch.
struct QualitySample {
  std::vector<int> slots;  // per MoE layer
  int update_interval = 8;
  double exact_threshold = kPureSwapMoe;
  int prefetch_depth = 0;
  double ppl = 0;
  double loads_per_token = 0;          // expert reads per evaluated token (after start-up)
  double fetches_per_token = 0;        // of those, reads a token waited for (exact threshold)
  double prefetches_per_token = 0;     // of those, reads a prediction started
  double prefetch_hits_per_token = 0;  // prefetched experts routed to while resident
  double hit_rate = 0;                 // unmasked top-k entirely resident
  double fidelity = 0;                 // masked top-k equal to unmasked top-k
  double seconds = 0;

  Configuration config() const { return {slots, update_interval, exact_threshold, prefetch_depth}; }
};

struct QualityFit {
  std::string chosen;         // "mlp", "ridge", or "prior" when there were too few samples
  int folds = 0;
  double cv_rmse_mlp = 0;     // k-fold RMSE of log-perplexity
  double cv_rmse_ridge = 0;
  double cv_rmse = 0;         // of the chosen kind
  double cv_mean_abs_pct = 0; // mean |predicted ppl / measured ppl - 1| (chosen kind), percent
  double cv_rmse_loads = 0;   // k-fold RMSE of log(loads per token + 0.01)
  double cv_rmse_fetches = 0; // k-fold RMSE of log(fetches per token + 0.01)
  int n_samples = 0;
};

class QualityModel {
 public:
  // Model inputs: slot fraction of each MoE layer, log2 of the update interval, the exact
  // threshold (pure, above 1, as 1.2: apart from 0.9, yet on the same scale), the prefetch
  // depth, and per layer its missing share x threshold / 1.2 (how much of a layer's gap is
  // masked). Models fitted before the knobs were learned take only the first two.
  static std::vector<double> features(const Configuration& c, int n_expert);
  static constexpr double kPureThresholdFeature = 1.2;

  // Fits on the samples, choosing MLP or ridge by k-fold error; with fewer samples than
  // min_samples() it keeps a monotone prior (uniform-favouring) and says so in fit().chosen.
  static QualityModel fit(const std::vector<QualitySample>& samples, int n_layers, int n_expert, double full_ppl,
                          const RegressorOptions& options, int folds = 5);
  static int min_samples(int n_layers) { return std::max(12, n_layers + 6); }

  double predict_log_ppl(const Configuration& c) const;
  double predict_loads_per_token(const Configuration& c) const;
  double predict_fetches_per_token(const Configuration& c) const;
  const QualityFit& fit_report() const { return fit_; }
  bool fitted() const { return !prior_; }
  // Whether the exact threshold and the prefetch depth are inputs: false for the prior and for
  // models fitted before they were (the planner then keeps them at pure SwapMoE, no prefetch).
  bool learns_knobs() const { return !prior_ && knobs_; }
  int n_layers() const { return n_layers_; }

  nlohmann::json to_json() const;
  static QualityModel from_json(const nlohmann::json& j);  // throws with where "profile"

 private:
  int n_layers_ = 0;
  int n_expert_ = 0;
  double full_log_ppl_ = 0;
  QualityFit fit_;
  bool prior_ = true;
  bool knobs_ = true;  // inputs include the threshold and the depth
  Regressor log_ppl_, log_loads_, log_fetches_;
  bool has_fetches_ = false;  // older models did not predict fetches (none: pure SwapMoE)
  std::vector<double> inputs(const Configuration& c) const;
};

}  // namespace swapmoe
