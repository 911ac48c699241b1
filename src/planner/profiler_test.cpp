// The planner against the real runtime: the engine's planner hook at start-up and on budget
// changes, and a small end-to-end profile -> plan on a synthetic model.
#include <cmath>
#include <filesystem>
#include <numeric>

#include <gtest/gtest.h>

#include "core/error.h"
#include "model/synth_model.h"
#include "planner/planner.h"
#include "planner/profiler.h"
#include "runtime/engine.h"

namespace swapmoe {
namespace {

class ProfilerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    SynthSpec s = synth_preset("tiny");
    s.n_expert = 8;
    s.n_layer = 3;
    s.type = GgmlType::Q8_0;
    path_ = (std::filesystem::temp_directory_path() / ("swapmoe_profiler_" + std::to_string(::getpid()) + ".gguf")).string();
    write_synth_model(s, path_, 1);
  }
  static void TearDownTestSuite() {
    std::filesystem::remove(path_);
    std::filesystem::remove(path_ + ".expert-norms");
  }
  static EngineOptions options(const Budget& budget) {
    EngineOptions o;
    o.model_path = path_;
    o.n_threads = 1;
    o.n_ctx = 64;
    o.n_ubatch = 1;
    o.policy = "swapmoe";
    o.budget = budget;
    return o;
  }
  // A --memory-budget that buys n_slots expert slots in all.
  static Budget budget_for(int n_slots) {
    const MemoryPlan m = Engine::preview_plan(options(Budget::experts("1%")));  // one slot per layer
    return Budget::of_bytes(m.minimum() + (n_slots - 3) * m.slot_bytes);
  }
  // Few timing samples: the figures matter less here than the flow.
  static ProfileOptions quick_profile_options() {
    ProfileOptions po;
    po.model_path = path_;
    po.n_threads = 1;
    po.max_load_samples = 8;
    po.decode_steps = 4;
    return po;
  }
  void profile_then_plan();
  static inline std::string path_;
};

// Everything but one slot per layer goes to the last layer; the interval encodes the capacity.
BudgetPlan last_layer_heavy(const BudgetPlanRequest& q, int n_layer, int n_expert) {
  const int64_t capacity = slots_in_budget(q.memory, q.budget);
  BudgetPlan p;
  p.slots.assign(n_layer, 1);
  p.slots.back() = static_cast<int>(std::min<int64_t>(n_expert, capacity - (n_layer - 1)));
  p.update_interval = static_cast<int>(capacity);
  return p;
}

TEST_F(ProfilerTest, EngineAppliesThePlannerAtStartAndOnBudgetChanges) {
  EngineOptions o = options(budget_for(14));
  int calls = 0;
  o.plan_for_budget = [&](const BudgetPlanRequest& q) {
    BudgetPlan p = last_layer_heavy(q, 3, 8);
    ++calls;
    p.exact_threshold = calls == 1 ? 0.5 : 0.3;
    p.prefetch_depth = calls == 1 ? 1 : 2;
    return p;
  };
  Engine e(o);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(e.options().swapmoe.exact_threshold, 0.5);
  EXPECT_EQ(e.options().prefetch_depth, 1);
  EXPECT_EQ(e.policy().prefetch_depth(), 1);
  std::vector<int> s = e.policy().slots();
  EXPECT_EQ(s[0], 1);
  EXPECT_EQ(s[1], 1);
  EXPECT_GT(s[2], 1);
  EXPECT_LE(e.memory_account().total(), e.memory_budget());
  const uint64_t smaller = e.minimum_budget() + 2 * e.store()->buffer_bytes();
  e.set_memory_budget(Budget::of_bytes(smaller));
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(e.options().swapmoe.exact_threshold, 0.3);
  EXPECT_EQ(e.policy().prefetch_depth(), 1) << "the depth is applied at start-up only";
  s = e.policy().slots();
  EXPECT_EQ(s, (std::vector<int>{1, 1, 3}));
  EXPECT_LE(e.memory_account().total(), smaller);
}

TEST_F(ProfilerTest, APlanThatDoesNotFitIsRefused) {
  EngineOptions o = options(budget_for(14));
  o.plan_for_budget = [](const BudgetPlanRequest&) { return BudgetPlan{{8, 8, 8}, 4}; };
  EXPECT_THROW(Engine e(o), Error);
}

// Profiles the model at path_ (3 MoE layers), plans from the profile, and runs the plan.
void ProfilerTest::profile_then_plan() {
  ProfileOptions po = quick_profile_options();
  po.calibration_text.clear();
  for (int i = 0; i < 200; ++i) po.calibration_text += "To be, or not to be, that is the question.\n";
  po.calibration_name = "test text";
  po.calibration_ctx = 32;
  po.calibration_chunks = 2;
  po.max_configs = 14;
  po.intervals = {1, 4, 16};
  po.regressor.epochs = 200;
  DeviceProfile p = measure_device(po);
  EXPECT_EQ(p.moe_layers.size(), 3u);
  EXPECT_GT(p.expert_load_ms, 0);
  EXPECT_GT(p.token_compute_ms, 0);
  measure_quality(p, po);
  ASSERT_EQ(p.samples.size(), 14u);
  for (const QualitySample& s : p.samples) EXPECT_TRUE(std::isfinite(s.ppl) && s.ppl > 1);
  EXPECT_NE(p.quality.fit_report().chosen, "prior");
  EXPECT_EQ(p.calibration_status, "fitted");
  // The runs spread over the thresholds and depths; waiting for misses reads more.
  double fetches_exact = 0, fetches_pure = 0;
  for (const QualitySample& s : p.samples) (s.exact_threshold > 1 ? fetches_pure : fetches_exact) += s.fetches_per_token;
  EXPECT_EQ(fetches_pure, 0);
  EXPECT_GT(fetches_exact, 0);

  // The plan fits the budget exactly as the engine accounts it, and the engine runs it.
  EngineOptions o = options(budget_for(12));
  o.plan_for_budget = [&](const BudgetPlanRequest& q) {
    PlanRequest r;
    r.budget = q.budget;
    r.memory = q.memory;
    const PlanOutcome out = make_plan(p, r);
    return BudgetPlan{out.plan.slots, out.plan.update_interval};
  };
  Engine e(o);
  EXPECT_LE(e.memory_account().total(), e.memory_budget());
  const std::vector<int> s = e.policy().slots();
  EXPECT_EQ(std::accumulate(s.begin(), s.end(), 0),
            (e.memory_budget() - (e.memory_account().total() - e.memory_account().experts) -
             2 * e.store()->buffer_bytes()) / e.store()->buffer_bytes());
}

TEST_F(ProfilerTest, ProfileThenPlanEndToEnd) { profile_then_plan(); }

// Calibration that cannot fit its time is recorded, with what it would take, and plans from
// the profile claim no prediction.
TEST_F(ProfilerTest, CalibrationThatCannotRunIsRecordedNotSilent) {
  ProfileOptions po = quick_profile_options();
  po.calibration_text = "To be, or not to be, that is the question.\n";
  po.quality_seconds = 1e-3;
  DeviceProfile p = measure_device(po);
  measure_quality(p, po);
  EXPECT_EQ(p.calibration_status, "skipped");
  EXPECT_NE(p.calibration_note.find("--quality-seconds"), std::string::npos) << p.calibration_note;
  EXPECT_EQ(p.calibration_runs_needed, QualityModel::min_samples(3));
  EXPECT_GT(p.calibration_run_seconds, 0);
  EXPECT_FALSE(p.quality.fitted());
  PlanRequest r;
  const MemoryPlan m = Engine::preview_plan(options(budget_for(12)));
  r.memory = m.split();
  r.budget = m.budget;
  const PlanOutcome out = make_plan(p, r);
  EXPECT_FALSE(out.fitted);
  EXPECT_EQ(out.plan.quality_model, "prior");
  EXPECT_EQ(unfitted_reason(p), p.calibration_note);
}

// The planner on another architecture: qwen2moe's shared experts are dense memory the plan
// leaves out of the slots.
TEST_F(ProfilerTest, ProfileThenPlanEndToEndOnQwen2Moe) {
  const std::string llama_path = path_;
  SynthSpec s = synth_preset("tiny-qwen2moe");
  s.n_layer = 3;
  s.type = GgmlType::Q8_0;
  path_ = llama_path + ".qwen2moe.gguf";
  write_synth_model(s, path_, 1);
  profile_then_plan();
  std::filesystem::remove(path_);
  std::filesystem::remove(path_ + ".expert-norms");
  path_ = llama_path;
}

}  // namespace
}  // namespace swapmoe
