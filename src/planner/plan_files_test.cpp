// Plan and profile files: round trips, and clear errors for bad files.
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
  p.predicted_quality = 5.25;
  p.predicted_latency_ms = 1.5;
  const std::string path = temp_path("plan.json");
  p.save(path);
  const Plan q = Plan::load(path);
  EXPECT_EQ(q.model, p.model);
  EXPECT_EQ(q.memory_budget, p.memory_budget);
  EXPECT_EQ(q.slots, p.slots);
  EXPECT_EQ(q.update_interval, p.update_interval);
  EXPECT_DOUBLE_EQ(q.predicted_quality, p.predicted_quality);
  EXPECT_DOUBLE_EQ(q.predicted_latency_ms, p.predicted_latency_ms);
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
    EXPECT_NEAR(q.quality.predict_log_ppl(s.slots, s.update_interval), p.quality.predict_log_ppl(s.slots, s.update_interval), 1e-12);
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
