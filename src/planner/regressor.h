// Small regressors for the planner's quality model: the paper's 2-layer MLP (one tanh hidden
// layer, trained with Adam on the mean squared error) and a ridge regression on the features
// and their squares, plus k-fold cross-validation to pick between them and report the error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace swapmoe {

struct Dataset {
  std::vector<std::vector<double>> x;  // [n_samples][n_features]
  std::vector<double> y;               // [n_samples]
  size_t size() const { return y.size(); }
};

struct RegressorOptions {
  // Defaults from 5-fold CV on shakespeare-moe's calibration runs (noisy targets: weight decay
  // helps; CV log-ppl RMSE 0.31 -> 0.28 against 1e-4 decay). With the threshold and depth as
  // inputs (160 runs): 1e-2 decay and 1500 steps 0.253, 3e-3 and 3000 steps 0.210.
  int hidden = 16;        // MLP hidden units
  int epochs = 3000;      // full-batch Adam steps
  double lr = 0.005;
  double weight_decay = 3e-3;
  int n_nets = 3;         // MLPs averaged (different initialisations): less variance on few samples
  double ridge_lambda = 0.01;
  uint64_t seed = 1;
};

// A fitted model. Inputs and target are standardised with the training set's mean and spread.
class Regressor {
 public:
  enum class Kind { MLP, RIDGE };

  static Regressor fit(Kind kind, const Dataset& data, const RegressorOptions& options);
  double predict(const std::vector<double>& x) const;
  Kind kind() const { return kind_; }
  int n_features() const { return static_cast<int>(x_mean_.size()); }

  nlohmann::json to_json() const;
  // Throws swapmoe::Error (where: "profile") on a malformed object.
  static Regressor from_json(const nlohmann::json& j);

 private:
  std::vector<double> standardise(const std::vector<double>& x) const;

  Kind kind_ = Kind::RIDGE;
  std::vector<double> x_mean_, x_scale_;
  double y_mean_ = 0, y_scale_ = 1;
  // MLP: per net, w1 [hidden][n_in], b1 [hidden], w2 [hidden], b2. Ridge: w over [1, x, x^2].
  struct Net {
    std::vector<double> w1, b1, w2;
    double b2 = 0;
  };
  std::vector<Net> nets_;
  std::vector<double> ridge_w_;
};

const char* regressor_kind_name(Regressor::Kind kind);

// k-fold cross-validation (folds from a seeded shuffle): root mean squared error of the
// held-out predictions, and the held-out predictions themselves in sample order.
struct CrossValidation {
  double rmse = 0;
  double mae = 0;
  std::vector<double> predictions;
};
CrossValidation cross_validate(Regressor::Kind kind, const Dataset& data, int k, const RegressorOptions& options);

}  // namespace swapmoe
