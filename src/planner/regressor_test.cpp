// The quality model's fitting on data with a known answer.
#include <cmath>
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "planner/quality_model.h"
#include "planner/regressor.h"
#include "planner_test_util.h"

namespace swapmoe {
namespace {

Dataset make_data(int n, int d, const std::function<double(const std::vector<double>&)>& f, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Dataset data;
  for (int i = 0; i < n; ++i) {
    std::vector<double> x(d);
    for (double& v : x) v = static_cast<double>(rng() % 10000) / 10000.0;
    data.y.push_back(f(x));
    data.x.push_back(std::move(x));
  }
  return data;
}

double spread(const std::vector<double>& y) {
  double m = 0, v = 0;
  for (double x : y) m += x / y.size();
  for (double x : y) v += (x - m) * (x - m) / y.size();
  return std::sqrt(v);
}

TEST(Regressor, RidgeRecoversAQuadratic) {
  auto f = [](const std::vector<double>& x) { return 1.0 + 2.0 * x[0] - 3.0 * x[1] * x[1] + 0.5 * x[2]; };
  const Dataset d = make_data(80, 3, f, 1);
  RegressorOptions o;
  o.ridge_lambda = 1e-6;
  const CrossValidation cv = cross_validate(Regressor::Kind::RIDGE, d, 5, o);
  EXPECT_LT(cv.rmse, 1e-3);
  const Regressor r = Regressor::fit(Regressor::Kind::RIDGE, d, o);
  EXPECT_NEAR(r.predict({0.5, 0.5, 0.5}), f({0.5, 0.5, 0.5}), 1e-3);
}

TEST(Regressor, MlpLearnsASmoothNonlinearFunction) {
  // An interaction ridge (features and squares) cannot express, which the MLP can.
  auto f = [](const std::vector<double>& x) { return std::tanh(3 * (x[0] - 0.5)) * std::tanh(3 * (x[1] - 0.5)) + 0.3 * x[2]; };
  const Dataset d = make_data(160, 3, f, 2);
  RegressorOptions o;
  const CrossValidation mlp = cross_validate(Regressor::Kind::MLP, d, 5, o);
  const CrossValidation ridge = cross_validate(Regressor::Kind::RIDGE, d, 5, o);
  EXPECT_LT(mlp.rmse, 0.15 * spread(d.y));
  EXPECT_LT(mlp.rmse, 0.5 * ridge.rmse);
}

TEST(Regressor, FittingIsDeterministicAndSurvivesJson) {
  auto f = [](const std::vector<double>& x) { return x[0] * x[1]; };
  const Dataset d = make_data(40, 2, f, 3);
  RegressorOptions o;
  o.epochs = 300;
  const Regressor a = Regressor::fit(Regressor::Kind::MLP, d, o);
  const Regressor b = Regressor::fit(Regressor::Kind::MLP, d, o);
  const Regressor c = Regressor::from_json(nlohmann::json::parse(a.to_json().dump()));
  for (const auto& x : d.x) {
    EXPECT_EQ(a.predict(x), b.predict(x));
    EXPECT_NEAR(a.predict(x), c.predict(x), 1e-12);
  }
}

TEST(QualityModel, RecoversTheKnownQualityFunction) {
  const int n_moe = 4, E = 16;
  const DeviceProfile p = test::synthetic_profile(n_moe, E);
  const QualityFit& fit = p.quality.fit_report();
  EXPECT_NE(fit.chosen, "prior");
  EXPECT_LT(fit.cv_rmse, 0.03);  // log-ppl; the function spans about 1.0
  // Fresh configurations, not in the training set.
  for (const Configuration& c : sample_configurations({n_moe, E, 0, p.intervals}, 20, 99))
    EXPECT_NEAR(p.quality.predict_log_ppl(c), test::known_log_ppl(c.slots, c.update_interval, E), 0.08);
  // The ordering that matters to the planner: the layer that weighs most should get the slots.
  EXPECT_LT(p.quality.predict_log_ppl({{4, 4, 4, 12}, 4}), p.quality.predict_log_ppl({{12, 4, 4, 4}, 4}));
}

TEST(QualityModel, TooFewSamplesKeepThePrior) {
  DeviceProfile p = test::synthetic_profile(4, 16, 5);
  EXPECT_EQ(p.quality.fit_report().chosen, "prior");
  // Monotone: more slots never predict worse.
  EXPECT_LT(p.quality.predict_log_ppl({{8, 8, 8, 8}, 8}), p.quality.predict_log_ppl({{4, 8, 8, 8}, 8}));
}

}  // namespace
}  // namespace swapmoe
