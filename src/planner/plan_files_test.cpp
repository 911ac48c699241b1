// Plan and profile files: round trips, and clear errors for bad files.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "planner/device_profile.h"
#include "planner/plan.h"
#include "planner_test_util.h"

namespace swapmoe {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("swapmoe_planner_test_" + std::to_string(::getpid()) + "_" + name)).string();
}

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(PlanFile, RoundTrip) {
  Plan p;
  p.model = "m.gguf";
  p.memory_budget = 123456789;
  p.slots = {0, 3, 7, 16};
  p.update_interval = 4;
  p.exact_threshold = 0.5;
  p.prefetch_depth = 2;
  p.quality_model = "mlp";
  p.predicted_quality = 5.25;
  p.predicted_latency_ms = 1.5;
  p.predicted_fetches_per_token = 0.25;
  const std::string path = temp_path("plan.json");
  p.save(path);
  const Plan q = Plan::load(path);
  EXPECT_EQ(q.model, p.model);
  EXPECT_EQ(q.memory_budget, p.memory_budget);
  EXPECT_EQ(q.slots, p.slots);
  EXPECT_EQ(q.update_interval, p.update_interval);
  EXPECT_DOUBLE_EQ(q.exact_threshold, p.exact_threshold);
  EXPECT_EQ(q.prefetch_depth, p.prefetch_depth);
  EXPECT_EQ(q.quality_model, p.quality_model);
  EXPECT_DOUBLE_EQ(q.predicted_quality, p.predicted_quality);
  EXPECT_DOUBLE_EQ(q.predicted_latency_ms, p.predicted_latency_ms);
  EXPECT_DOUBLE_EQ(q.predicted_fetches_per_token, p.predicted_fetches_per_token);
  std::remove(path.c_str());
}

TEST(PlanFile, WithoutAFittedModelThePredictionIsNull) {
  Plan p;
  p.slots = {0, 4, 4};
  p.quality_model = "prior";
  const std::string path = temp_path("prior_plan.json");
  p.save(path);
  const nlohmann::json j = nlohmann::json::parse(std::ifstream(path));
  EXPECT_EQ(j["quality_model"], "prior");
  EXPECT_TRUE(j["predicted_quality"].is_null());
  EXPECT_EQ(Plan::load(path).predicted_quality, 0);
  std::remove(path.c_str());
}

TEST(PlanFile, OldFilesLoadAsPureSwapMoeWithoutPrefetch) {
  const std::string path = temp_path("old_plan.json");
  write(path, R"({"model": "m.gguf", "slots": [0, 3, 5], "update_interval": 16, "predicted_quality": 50.5,
                  "predicted_latency_ms": 2.0})");
  const Plan q = Plan::load(path);
  EXPECT_EQ(q.update_interval, 16);
  EXPECT_GT(q.exact_threshold, 1);
  EXPECT_EQ(q.prefetch_depth, 0);
  EXPECT_EQ(q.quality_model, "");
  EXPECT_DOUBLE_EQ(q.predicted_quality, 50.5);
  std::remove(path.c_str());
}

TEST(PlanFile, BadFilesSayWhatIsWrong) {
  const std::string path = temp_path("bad_plan.json");
  EXPECT_NE(error_of([&] { Plan::load(path + ".missing"); }).find("[plan] cannot open"), std::string::npos);
  write(path, "{ not json");
  EXPECT_NE(error_of([&] { Plan::load(path); }).find("is not a valid plan"), std::string::npos);
  write(path, R"({"update_interval": 4})");
  EXPECT_NE(error_of([&] { Plan::load(path); }).find("slots"), std::string::npos);
  write(path, R"({"slots": [2, -1]})");
  EXPECT_NE(error_of([&] { Plan::load(path); }).find("negative"), std::string::npos);
  write(path, R"({"slots": [2, 2], "update_interval": 0})");
  EXPECT_NE(error_of([&] { Plan::load(path); }).find("update_interval"), std::string::npos);
  write(path, R"({"slots": [2, 2], "exact_threshold": -0.5})");
  EXPECT_NE(error_of([&] { Plan::load(path); }).find("exact_threshold"), std::string::npos);
  write(path, R"({"slots": [2, 2], "prefetch_depth": 9})");
  EXPECT_NE(error_of([&] { Plan::load(path); }).find("prefetch_depth 9"), std::string::npos);
  std::remove(path.c_str());
}

TEST(ProfileFile, RoundTripKeepsPredictions) {
  const DeviceProfile p = test::synthetic_profile(3, 8, 40);
  const std::string path = temp_path("profile.json");
  p.save(path);
  const DeviceProfile q = DeviceProfile::load(path);
  EXPECT_EQ(q.moe_layers, p.moe_layers);
  EXPECT_EQ(q.n_expert, p.n_expert);
  EXPECT_EQ(q.samples.size(), p.samples.size());
  EXPECT_EQ(q.quality.fit_report().chosen, p.quality.fit_report().chosen);
  EXPECT_DOUBLE_EQ(q.expert_load_ms, p.expert_load_ms);
  for (const QualitySample& s : p.samples)
    EXPECT_NEAR(q.quality.predict_log_ppl(s.config()), p.quality.predict_log_ppl(s.config()), 1e-12);
  std::remove(path.c_str());
}

TEST(ProfileFile, RoundTripKeepsTheKnobs) {
  DeviceProfile p = test::synthetic_profile(3, 8, 60, 3, true);
  p.io_threads = 2;
  p.calibration_status = "fitted";
  p.calibration_runs_needed = 12;
  p.calibration_run_seconds = 0.5;
  const std::string path = temp_path("knob_profile.json");
  p.save(path);
  const DeviceProfile q = DeviceProfile::load(path);
  EXPECT_EQ(q.thresholds, p.thresholds);
  EXPECT_EQ(q.prefetch_depths, p.prefetch_depths);
  EXPECT_EQ(q.io_threads, 2);
  EXPECT_EQ(q.calibration_status, "fitted");
  EXPECT_EQ(q.calibration_runs_needed, 12);
  EXPECT_TRUE(q.quality.learns_knobs());
  ASSERT_EQ(q.samples.size(), p.samples.size());
  for (size_t i = 0; i < p.samples.size(); ++i) {
    const QualitySample &a = p.samples[i], &b = q.samples[i];
    EXPECT_EQ(b.config(), a.config());
    EXPECT_DOUBLE_EQ(b.fetches_per_token, a.fetches_per_token);
    EXPECT_NEAR(q.quality.predict_log_ppl(a.config()), p.quality.predict_log_ppl(a.config()), 1e-12);
    EXPECT_NEAR(q.quality.predict_fetches_per_token(a.config()), p.quality.predict_fetches_per_token(a.config()), 1e-12);
  }
  // The knobs are inputs: waiting for misses predicts better quality and more fetches.
  const Configuration pure{{4, 4, 4}, 8}, exact{{4, 4, 4}, 8, 0.0, 0};
  EXPECT_LT(q.quality.predict_log_ppl(exact), q.quality.predict_log_ppl(pure));
  EXPECT_GT(q.quality.predict_fetches_per_token(exact), q.quality.predict_fetches_per_token(pure));
  std::remove(path.c_str());
}

// A profile written before the knobs: samples without them, a model on slots and interval only,
// no fetch model, no calibration status.
TEST(ProfileFile, OldProfilesLoadAsPureSwapMoe) {
  const DeviceProfile p = test::synthetic_profile(3, 8, 40);
  const std::string path = temp_path("old_profile.json");
  p.save(path);
  nlohmann::json j = nlohmann::json::parse(std::ifstream(path));
  for (const char* key : {"thresholds", "prefetch_depths", "fitted", "status", "note", "runs_needed", "run_seconds"})
    j["quality"].erase(key);
  j["timing"].erase("io_threads");
  Dataset old;  // features of the old layout: slot fractions and log2(interval)
  for (auto& s : j["quality"]["samples"]) {
    for (const char* key : {"exact_threshold", "prefetch_depth", "fetches_per_token", "prefetches_per_token",
                            "prefetch_hits_per_token"})
      s.erase(key);
    std::vector<double> x;
    for (int v : s["slots"]) x.push_back(v / 8.0);
    x.push_back(std::log2(s["update_interval"].get<double>()));
    old.x.push_back(x), old.y.push_back(std::log(s["ppl"].get<double>()));
  }
  const Regressor r = Regressor::fit(Regressor::Kind::RIDGE, old, RegressorOptions{});
  j["quality"]["model"]["log_ppl"] = r.to_json();
  j["quality"]["model"]["log_loads"] = r.to_json();
  j["quality"]["model"].erase("log_fetches");
  write(path, j.dump());

  const DeviceProfile q = DeviceProfile::load(path);
  EXPECT_EQ(q.thresholds, std::vector<double>{kPureSwapMoe});
  EXPECT_EQ(q.prefetch_depths, std::vector<int>{0});
  EXPECT_EQ(q.io_threads, 4);
  EXPECT_TRUE(q.quality.fitted());
  EXPECT_FALSE(q.quality.learns_knobs());
  for (const QualitySample& s : q.samples) {
    EXPECT_GT(s.exact_threshold, 1);
    EXPECT_EQ(s.prefetch_depth, 0);
  }
  const Configuration c{{4, 4, 4}, 8};
  EXPECT_NEAR(q.quality.predict_log_ppl(c), r.predict({0.5, 0.5, 0.5, 3.0}), 1e-12);
  EXPECT_EQ(q.quality.predict_fetches_per_token(c), 0);
  std::remove(path.c_str());
}

TEST(ProfileFile, BadFilesSayWhatIsWrong) {
  const std::string path = temp_path("bad_profile.json");
  EXPECT_NE(error_of([&] { DeviceProfile::load(path + ".missing"); }).find("swapmoe profile"), std::string::npos);
  write(path, "[1, 2");
  EXPECT_NE(error_of([&] { DeviceProfile::load(path); }).find("[profile]"), std::string::npos);
  write(path, R"({"format": "something-else"})");
  EXPECT_NE(error_of([&] { DeviceProfile::load(path); }).find("swapmoe-profile"), std::string::npos);

  const DeviceProfile good = test::synthetic_profile(3, 8, 40);
  good.save(path);
  nlohmann::json j = nlohmann::json::parse(std::ifstream(path));
  auto broken = [&](const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json k = j;
    edit(k);
    write(path, k.dump());
    return error_of([&] { DeviceProfile::load(path); });
  };
  EXPECT_NE(broken([](auto& k) { k["version"] = 99; }).find("version 99"), std::string::npos);
  EXPECT_NE(broken([](auto& k) { k["timing"].erase("expert_load_ms"); }).find("expert_load_ms"), std::string::npos);
  EXPECT_NE(broken([](auto& k) { k["shape"]["moe_layers"] = {0, 1, 9}; }).find("MoE layer 9"), std::string::npos);
  EXPECT_NE(broken([](auto& k) { k["quality"]["model"]["log_ppl"]["x_mean"] = {1.0}; }).find("[profile]"), std::string::npos);
  EXPECT_NE(broken([](auto& k) { k["quality"]["intervals"] = {0}; }).find("update interval 0"), std::string::npos);
  std::remove(path.c_str());
}

TEST(ProfileFile, RefusesAnotherModelFile) {
  DeviceProfile p = test::synthetic_profile(2, 4, 8);
  const std::string model = temp_path("model.gguf");
  write(model, "12345");
  file_identity(model, &p.model_file_bytes, &p.model_mtime);
  EXPECT_NO_THROW(p.check_model(model));
  write(model, "123456");
  EXPECT_NE(error_of([&] { p.check_model(model); }).find("re-run `swapmoe profile"), std::string::npos);
  std::remove(model.c_str());
}

}  // namespace
}  // namespace swapmoe
