// QualityModel: predicts a configuration's calibration log-perplexity (and its expert loads per
// token, for the latency model) from per-layer slot fractions and the update interval. Fitted
// on configurations that the real runtime evaluated (see profiler.h).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "planner/regressor.h"

namespace swapmoe {

// One configuration the runtime evaluated on the calibration text.
struct QualitySample {
  std::vector<int> slots;  // per MoE layer
  int update_interval = 8;
  double ppl = 0;
  double loads_per_token = 0;  // expert reads per evaluated token (after start-up)
  double hit_rate = 0;         // unmasked top-k entirely resident
  double fidelity = 0;         // masked top-k equal to unmasked top-k
  double seconds = 0;
};

struct QualityFit {
  std::string chosen;         // "mlp", "ridge", or "prior" when there were too few samples
  int folds = 0;
  double cv_rmse_mlp = 0;     // k-fold RMSE of log-perplexity
  double cv_rmse_ridge = 0;
  double cv_rmse = 0;         // of the chosen kind
  double cv_mean_abs_pct = 0; // mean |predicted ppl / measured ppl - 1| (chosen kind), percent
  double cv_rmse_loads = 0;   // k-fold RMSE of log(loads per token + 0.01)
  int n_samples = 0;
};

class QualityModel {
 public:
  // Model inputs: slot fraction of each MoE layer, then log2 of the update interval.
  static std::vector<double> features(const std::vector<int>& slots, int update_interval, int n_expert);

  // Fits on the samples, choosing MLP or ridge by k-fold error; with fewer samples than
  // min_samples() it keeps a monotone prior (uniform-favouring) and says so in fit().chosen.
  static QualityModel fit(const std::vector<QualitySample>& samples, int n_layers, int n_expert, double full_ppl,
                          const RegressorOptions& options, int folds = 5);
  static int min_samples(int n_layers) { return std::max(12, n_layers + 6); }

  double predict_log_ppl(const std::vector<int>& slots, int update_interval) const;
  double predict_loads_per_token(const std::vector<int>& slots, int update_interval) const;
  const QualityFit& fit_report() const { return fit_; }
  int n_layers() const { return n_layers_; }

  nlohmann::json to_json() const;
  static QualityModel from_json(const nlohmann::json& j);  // throws with where "profile"

 private:
  int n_layers_ = 0;
  int n_expert_ = 0;
  double full_log_ppl_ = 0;
  QualityFit fit_;
  bool prior_ = true;
  Regressor log_ppl_, log_loads_;
};

}  // namespace swapmoe
