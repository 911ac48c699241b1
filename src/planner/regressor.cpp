#include "planner/regressor.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace swapmoe {

namespace {

// Deterministic across standard libraries (std::normal_distribution is not).
double gaussian(std::mt19937_64& rng) {
  const double u1 = (static_cast<double>(rng() >> 11) + 0.5) * 0x1.0p-53;
  const double u2 = (static_cast<double>(rng() >> 11) + 0.5) * 0x1.0p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// Solves A w = b (A symmetric positive definite, n x n row-major) by Cholesky.
std::vector<double> solve_spd(std::vector<double> a, std::vector<double> b, int n) {
  for (int j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (int k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
    d = std::sqrt(std::max(d, 1e-12));
    a[j * n + j] = d;
    for (int i = j + 1; i < n; ++i) {
      double s = a[i * n + j];
      for (int k = 0; k < j; ++k) s -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = s / d;
    }
  }
  for (int i = 0; i < n; ++i) {  // L z = b
    double s = b[i];
    for (int k = 0; k < i; ++k) s -= a[i * n + k] * b[k];
    b[i] = s / a[i * n + i];
  }
  for (int i = n - 1; i >= 0; --i) {  // L^T w = z
    double s = b[i];
    for (int k = i + 1; k < n; ++k) s -= a[k * n + i] * b[k];
    b[i] = s / a[i * n + i];
  }
  return b;
}

// Ridge features: 1, x, x^2 (x standardised).
std::vector<double> ridge_features(const std::vector<double>& z) {
  std::vector<double> f{1.0};
  for (double v : z) f.push_back(v);
  for (double v : z) f.push_back(v * v);
  return f;
}

}  // namespace

const char* regressor_kind_name(Regressor::Kind kind) { return kind == Regressor::Kind::MLP ? "mlp" : "ridge"; }

std::vector<double> Regressor::standardise(const std::vector<double>& x) const {
  std::vector<double> z(x.size());
  for (size_t i = 0; i < x.size(); ++i) z[i] = (x[i] - x_mean_[i]) / x_scale_[i];
  return z;
}

Regressor Regressor::fit(Kind kind, const Dataset& data, const RegressorOptions& o) {
  if (data.size() < 2 || data.x.size() != data.y.size())
    fail("quality model", fmt::format("{} samples are too few to fit a model", data.size()), "profile more configurations");
  const size_t n = data.size(), d = data.x[0].size();
  Regressor r;
  r.kind_ = kind;
  r.x_mean_.assign(d, 0);
  r.x_scale_.assign(d, 0);
  for (const auto& x : data.x) {
    if (x.size() != d) fail("quality model", "samples have different numbers of features");
    for (size_t i = 0; i < d; ++i) r.x_mean_[i] += x[i] / n;
  }
  for (const auto& x : data.x)
    for (size_t i = 0; i < d; ++i) r.x_scale_[i] += (x[i] - r.x_mean_[i]) * (x[i] - r.x_mean_[i]) / n;
  for (double& s : r.x_scale_) s = s > 1e-18 ? std::sqrt(s) : 1.0;  // constant features stay 0
  r.y_mean_ = std::accumulate(data.y.begin(), data.y.end(), 0.0) / n;
  double var = 0;
  for (double y : data.y) var += (y - r.y_mean_) * (y - r.y_mean_) / n;
  r.y_scale_ = var > 1e-18 ? std::sqrt(var) : 1.0;

  std::vector<std::vector<double>> z(n);
  std::vector<double> t(n);
  for (size_t s = 0; s < n; ++s) z[s] = r.standardise(data.x[s]), t[s] = (data.y[s] - r.y_mean_) / r.y_scale_;

  if (kind == Kind::RIDGE) {
    const int m = static_cast<int>(1 + 2 * d);
    std::vector<double> a(m * m, 0), b(m, 0);
    for (size_t s = 0; s < n; ++s) {
      const std::vector<double> f = ridge_features(z[s]);
      for (int i = 0; i < m; ++i) {
        b[i] += f[i] * t[s];
        for (int j = 0; j < m; ++j) a[i * m + j] += f[i] * f[j];
      }
    }
    for (int i = 1; i < m; ++i) a[i * m + i] += o.ridge_lambda * n;  // the intercept is not shrunk
    a[0] += 1e-9;
    r.ridge_w_ = solve_spd(a, b, m);
    return r;
  }

  // MLP: y = w2 . tanh(W1 z + b1) + b2, full-batch Adam on the mean squared error.
  const int h = o.hidden;
  std::mt19937_64 rng(o.seed);
  for (int net = 0; net < std::max(1, o.n_nets); ++net) {
    Net nn;
    nn.w1.resize(h * d), nn.b1.assign(h, 0), nn.w2.resize(h);
    for (double& w : nn.w1) w = gaussian(rng) / std::sqrt(static_cast<double>(d));
    for (double& w : nn.w2) w = gaussian(rng) / std::sqrt(static_cast<double>(h));
    // Parameters flattened for Adam: w1, b1, w2, b2.
    const size_t n_params = h * d + 2 * h + 1;
    std::vector<double> g(n_params), m1(n_params, 0), m2(n_params, 0), hid(h);
    const double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    for (int epoch = 1; epoch <= o.epochs; ++epoch) {
      std::fill(g.begin(), g.end(), 0.0);
      for (size_t s = 0; s < n; ++s) {
        double out = nn.b2;
        for (int j = 0; j < h; ++j) {
          double a = nn.b1[j];
          for (size_t i = 0; i < d; ++i) a += nn.w1[j * d + i] * z[s][i];
          hid[j] = std::tanh(a);
          out += nn.w2[j] * hid[j];
        }
        const double e = 2.0 * (out - t[s]) / n;
        for (int j = 0; j < h; ++j) {
          g[h * d + h + j] += e * hid[j];
          const double da = e * nn.w2[j] * (1 - hid[j] * hid[j]);
          g[h * d + j] += da;
          for (size_t i = 0; i < d; ++i) g[j * d + i] += da * z[s][i];
        }
        g[n_params - 1] += e;
      }
      const double c1 = 1 - std::pow(beta1, epoch), c2 = 1 - std::pow(beta2, epoch);
      for (size_t p = 0; p < n_params; ++p) {
        double* w = p < h * d ? &nn.w1[p] : p < h * d + h ? &nn.b1[p - h * d] : p < n_params - 1 ? &nn.w2[p - h * d - h] : &nn.b2;
        const bool decayed = p < h * d || (p >= h * d + h && p < n_params - 1);
        const double grad = g[p] + (decayed ? o.weight_decay * *w : 0.0);
        m1[p] = beta1 * m1[p] + (1 - beta1) * grad;
        m2[p] = beta2 * m2[p] + (1 - beta2) * grad * grad;
        *w -= o.lr * (m1[p] / c1) / (std::sqrt(m2[p] / c2) + eps);
      }
    }
    r.nets_.push_back(std::move(nn));
  }
  return r;
}

double Regressor::predict(const std::vector<double>& x) const {
  if (x.size() != x_mean_.size())
    fail("quality model", fmt::format("{} features given, the model has {}", x.size(), x_mean_.size()),
         "the profile belongs to a model with a different number of MoE layers; re-run swapmoe profile");
  const std::vector<double> z = standardise(x);
  double t = 0;
  if (kind_ == Kind::RIDGE) {
    const std::vector<double> f = ridge_features(z);
    for (size_t i = 0; i < f.size(); ++i) t += ridge_w_[i] * f[i];
  } else {
    const size_t d = z.size();
    for (const Net& nn : nets_) {
      double out = nn.b2;
      for (size_t j = 0; j < nn.b1.size(); ++j) {
        double a = nn.b1[j];
        for (size_t i = 0; i < d; ++i) a += nn.w1[j * d + i] * z[i];
        out += nn.w2[j] * std::tanh(a);
      }
      t += out / static_cast<double>(nets_.size());
    }
  }
  return y_mean_ + y_scale_ * t;
}

nlohmann::json Regressor::to_json() const {
  nlohmann::json j = {{"kind", regressor_kind_name(kind_)}, {"x_mean", x_mean_}, {"x_scale", x_scale_},
                      {"y_mean", y_mean_}, {"y_scale", y_scale_}};
  if (kind_ == Kind::RIDGE) {
    j["w"] = ridge_w_;
  } else {
    j["nets"] = nlohmann::json::array();
    for (const Net& nn : nets_) j["nets"].push_back({{"w1", nn.w1}, {"b1", nn.b1}, {"w2", nn.w2}, {"b2", nn.b2}});
  }
  return j;
}

Regressor Regressor::from_json(const nlohmann::json& j) {
  Regressor r;
  try {
    const std::string kind = j.at("kind").get<std::string>();
    if (kind != "mlp" && kind != "ridge") fail("profile", fmt::format("unknown quality model kind '{}'", kind), "re-run swapmoe profile");
    r.kind_ = kind == "mlp" ? Kind::MLP : Kind::RIDGE;
    r.x_mean_ = j.at("x_mean").get<std::vector<double>>();
    r.x_scale_ = j.at("x_scale").get<std::vector<double>>();
    r.y_mean_ = j.at("y_mean").get<double>();
    r.y_scale_ = j.at("y_scale").get<double>();
    const size_t d = r.x_mean_.size();
    bool ok = d > 0 && r.x_scale_.size() == d;
    if (r.kind_ == Kind::RIDGE) {
      r.ridge_w_ = j.at("w").get<std::vector<double>>();
      ok = ok && r.ridge_w_.size() == 1 + 2 * d;
    } else {
      for (const auto& jn : j.at("nets")) {
        Net nn;
        nn.w1 = jn.at("w1").get<std::vector<double>>();
        nn.b1 = jn.at("b1").get<std::vector<double>>();
        nn.w2 = jn.at("w2").get<std::vector<double>>();
        nn.b2 = jn.at("b2").get<double>();
        ok = ok && !nn.b1.empty() && nn.w1.size() == nn.b1.size() * d && nn.w2.size() == nn.b1.size();
        r.nets_.push_back(std::move(nn));
      }
      ok = ok && !r.nets_.empty();
    }
    if (!ok) fail("profile", "the quality model's weights have inconsistent sizes", "re-run swapmoe profile");
  } catch (const nlohmann::json::exception& e) {
    fail("profile", fmt::format("malformed quality model: {}", e.what()), "re-run swapmoe profile");
  }
  return r;
}

CrossValidation cross_validate(Regressor::Kind kind, const Dataset& data, int k, const RegressorOptions& options) {
  const size_t n = data.size();
  k = std::clamp<int>(k, 2, static_cast<int>(n));
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(options.seed ^ 0x5eedf01d);
  for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng() % i]);  // deterministic shuffle
  CrossValidation cv;
  cv.predictions.assign(n, 0);
  for (int f = 0; f < k; ++f) {
    Dataset train;
    std::vector<size_t> held;
    for (size_t i = 0; i < n; ++i) {
      if (static_cast<int>(i % k) == f) {
        held.push_back(order[i]);
      } else {
        train.x.push_back(data.x[order[i]]);
        train.y.push_back(data.y[order[i]]);
      }
    }
    const Regressor r = Regressor::fit(kind, train, options);
    for (size_t s : held) cv.predictions[s] = r.predict(data.x[s]);
  }
  for (size_t s = 0; s < n; ++s) {
    const double e = cv.predictions[s] - data.y[s];
    cv.rmse += e * e / n;
    cv.mae += std::abs(e) / n;
  }
  cv.rmse = std::sqrt(cv.rmse);
  return cv;
}

}  // namespace swapmoe
