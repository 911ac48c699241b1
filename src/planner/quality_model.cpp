#include "planner/quality_model.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace swapmoe {

namespace {
// Reads per token are fitted on a log scale (they span orders of magnitude); 0.01 keeps zero finite.
double traffic_target(double per_token) { return std::log(std::max(0.0, per_token) + 0.01); }
double traffic_of(double target) { return std::max(0.0, std::exp(target) - 0.01); }
}  // namespace

std::vector<double> QualityModel::features(const Configuration& c, int n_expert) {
  std::vector<double> x;
  x.reserve(2 * c.slots.size() + 3);
  for (int s : c.slots) x.push_back(static_cast<double>(s) / n_expert);
  x.push_back(std::log2(static_cast<double>(std::max(1, c.update_interval))));
  const double threshold = std::clamp(c.exact_threshold, 0.0, kPureThresholdFeature);
  x.push_back(threshold);
  x.push_back(static_cast<double>(std::max(0, c.prefetch_depth)));
  // A layer's missing experts hurt only as far as their misses are masked, which the threshold
  // decides: the product lets ridge and a small MLP see that interaction directly.
  for (int s : c.slots) x.push_back((1.0 - static_cast<double>(s) / n_expert) * threshold / kPureThresholdFeature);
  return x;
}

std::vector<double> QualityModel::inputs(const Configuration& c) const {
  std::vector<double> x = features(c, n_expert_);
  if (!knobs_) x.resize(c.slots.size() + 1);
  return x;
}

QualityModel QualityModel::fit(const std::vector<QualitySample>& samples, int n_layers, int n_expert, double full_ppl,
                               const RegressorOptions& options, int folds) {
  QualityModel m;
  m.n_layers_ = n_layers;
  m.n_expert_ = n_expert;
  m.full_log_ppl_ = std::log(std::max(full_ppl, 1e-9));
  m.fit_.n_samples = static_cast<int>(samples.size());
  if (static_cast<int>(samples.size()) < min_samples(n_layers)) {
    m.fit_.chosen = "prior";
    return m;
  }
  Dataset q, loads, fetches;
  for (const QualitySample& s : samples) {
    if (static_cast<int>(s.slots.size()) != n_layers)
      fail("quality model", fmt::format("a sample has {} layers, the model {}", s.slots.size(), n_layers));
    const std::vector<double> x = features(s.config(), n_expert);
    q.x.push_back(x), q.y.push_back(std::log(s.ppl));
    loads.x.push_back(x), loads.y.push_back(traffic_target(s.loads_per_token));
    fetches.x.push_back(x), fetches.y.push_back(traffic_target(s.fetches_per_token));
  }
  const CrossValidation mlp = cross_validate(Regressor::Kind::MLP, q, folds, options);
  const CrossValidation ridge = cross_validate(Regressor::Kind::RIDGE, q, folds, options);
  const bool use_mlp = mlp.rmse <= ridge.rmse;
  const CrossValidation& cv = use_mlp ? mlp : ridge;
  m.fit_.chosen = use_mlp ? "mlp" : "ridge";
  m.fit_.folds = std::clamp<int>(folds, 2, static_cast<int>(samples.size()));
  m.fit_.cv_rmse_mlp = mlp.rmse;
  m.fit_.cv_rmse_ridge = ridge.rmse;
  m.fit_.cv_rmse = cv.rmse;
  for (size_t i = 0; i < samples.size(); ++i)
    m.fit_.cv_mean_abs_pct += 100.0 * std::abs(std::exp(cv.predictions[i] - q.y[i]) - 1.0) / samples.size();
  // Loads and fetches per token only feed the latency model: ridge is plenty.
  m.fit_.cv_rmse_loads = cross_validate(Regressor::Kind::RIDGE, loads, folds, options).rmse;
  m.fit_.cv_rmse_fetches = cross_validate(Regressor::Kind::RIDGE, fetches, folds, options).rmse;
  m.log_ppl_ = Regressor::fit(use_mlp ? Regressor::Kind::MLP : Regressor::Kind::RIDGE, q, options);
  m.log_loads_ = Regressor::fit(Regressor::Kind::RIDGE, loads, options);
  m.log_fetches_ = Regressor::fit(Regressor::Kind::RIDGE, fetches, options);
  m.has_fetches_ = true;
  m.prior_ = false;
  return m;
}

double QualityModel::predict_log_ppl(const Configuration& c) const {
  // No configuration beats the full model: a fit that extrapolates below it (the search goes
  // looking for such corners) is held at the full model's figure, where latency decides.
  if (!prior_) return std::max(full_log_ppl_, log_ppl_.predict(inputs(c)));
  // Prior: every missing expert hurts, a layer's first slots the least (convex in the gap),
  // and staler residency (longer intervals) hurts a little. Symmetric, so it plans uniformly.
  double gap = 0;
  for (int s : c.slots) gap += std::pow(1.0 - static_cast<double>(s) / n_expert_, 2);
  return full_log_ppl_ + gap / std::max<size_t>(1, c.slots.size()) + 0.01 * std::log2(std::max(1, c.update_interval));
}

double QualityModel::predict_loads_per_token(const Configuration& c) const {
  if (!prior_) return traffic_of(log_loads_.predict(inputs(c)));
  // Prior: a quarter of the missing experts of each layer change per update.
  double missing = 0;
  for (int s : c.slots) missing += 0.25 * (n_expert_ - s);
  return missing / std::max(1, c.update_interval);
}

double QualityModel::predict_fetches_per_token(const Configuration& c) const {
  // The prior plans pure SwapMoE only, which never fetches; so did the models before fetches.
  if (prior_ || !has_fetches_) return 0;
  return traffic_of(log_fetches_.predict(inputs(c)));
}

nlohmann::json QualityModel::to_json() const {
  nlohmann::json fit = {{"chosen", fit_.chosen},
                        {"n_samples", fit_.n_samples},
                        {"folds", fit_.folds},
                        {"cv_rmse_log_ppl", fit_.cv_rmse},
                        {"cv_rmse_log_ppl_mlp", fit_.cv_rmse_mlp},
                        {"cv_rmse_log_ppl_ridge", fit_.cv_rmse_ridge},
                        {"cv_mean_abs_ppl_error_pct", fit_.cv_mean_abs_pct},
                        {"cv_rmse_log_loads", fit_.cv_rmse_loads},
                        {"cv_rmse_log_fetches", fit_.cv_rmse_fetches}};
  nlohmann::json j = {{"n_layers", n_layers_}, {"n_expert", n_expert_}, {"full_log_ppl", full_log_ppl_}, {"fit", fit}};
  if (!prior_) j["log_ppl"] = log_ppl_.to_json(), j["log_loads"] = log_loads_.to_json();
  if (!prior_ && has_fetches_) j["log_fetches"] = log_fetches_.to_json();
  return j;
}

QualityModel QualityModel::from_json(const nlohmann::json& j) {
  QualityModel m;
  try {
    m.n_layers_ = j.at("n_layers").get<int>();
    m.n_expert_ = j.at("n_expert").get<int>();
    m.full_log_ppl_ = j.at("full_log_ppl").get<double>();
    const auto& f = j.at("fit");
    m.fit_.chosen = f.at("chosen").get<std::string>();
    m.fit_.n_samples = f.value("n_samples", 0);
    m.fit_.folds = f.value("folds", 0);
    m.fit_.cv_rmse = f.value("cv_rmse_log_ppl", 0.0);
    m.fit_.cv_rmse_mlp = f.value("cv_rmse_log_ppl_mlp", 0.0);
    m.fit_.cv_rmse_ridge = f.value("cv_rmse_log_ppl_ridge", 0.0);
    m.fit_.cv_mean_abs_pct = f.value("cv_mean_abs_ppl_error_pct", 0.0);
    m.fit_.cv_rmse_loads = f.value("cv_rmse_log_loads", 0.0);
    m.fit_.cv_rmse_fetches = f.value("cv_rmse_log_fetches", 0.0);
    m.prior_ = m.fit_.chosen == "prior";
    if (!m.prior_) {
      m.log_ppl_ = Regressor::from_json(j.at("log_ppl"));
      m.log_loads_ = Regressor::from_json(j.at("log_loads"));
      m.has_fetches_ = j.contains("log_fetches");
      if (m.has_fetches_) m.log_fetches_ = Regressor::from_json(j.at("log_fetches"));
      // Slots and interval, then (since the knobs were learned) threshold, depth and the
      // per-layer masking interactions.
      const int n = m.log_ppl_.n_features();
      m.knobs_ = n == 2 * m.n_layers_ + 3;
      if ((n != m.n_layers_ + 1 && !m.knobs_) || m.log_loads_.n_features() != n ||
          (m.has_fetches_ && m.log_fetches_.n_features() != n))
        fail("profile", "the quality model's inputs do not match its number of layers", "re-run swapmoe profile");
    }
  } catch (const nlohmann::json::exception& e) {
    fail("profile", fmt::format("malformed quality model: {}", e.what()), "re-run swapmoe profile");
  }
  if (m.n_layers_ < 1 || m.n_expert_ < 1)
    fail("profile", fmt::format("the quality model has {} layers of {} experts", m.n_layers_, m.n_expert_),
         "re-run swapmoe profile");
  return m;
}

}  // namespace swapmoe
