// A vision MoE (vmoe) through the engine: every policy under a budget, exact policies equal to
// the full model, sessions and memory as planned, and clear errors across the text/vision line.
#include "runtime/image_classifier.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "model/synth_model.h"
#include "runtime/session.h"

namespace swapmoe {
namespace {

class ImageClassifierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    path_ = (std::filesystem::temp_directory_path() / ("swapmoe_vmoe_" + std::to_string(::getpid()) + ".gguf")).string();
    SynthSpec s = synth_preset("tiny-vmoe");
    s.type = GgmlType::Q8_0;
    s.n_expert = 16;
    write_synth_model(s, path_, 2);
  }
  static void TearDownTestSuite() {
    std::filesystem::remove(path_);
    std::filesystem::remove(path_ + ".expert-norms");
  }

  static EngineOptions options(const std::string& policy, const std::string& experts = "", int batch = 4) {
    EngineOptions o;
    o.model_path = path_;
    o.n_threads = 2;
    o.policy = policy;
    if (!experts.empty()) o.budget = Budget::experts(experts);
    o.swapmoe.deterministic = true;
    return vision_engine_options(o, batch);
  }

  // 24 images of bytes, deterministic and varied.
  static std::vector<uint8_t> images(int64_t n, const VisionConfig& v) {
    std::vector<uint8_t> px(static_cast<size_t>(n * v.pixels()));
    for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
    return px;
  }

  static std::vector<float> classify(Engine& e, int64_t n) {
    ImageClassifier c(e);
    std::vector<float> logits(static_cast<size_t>(n * c.n_classes()));
    const std::vector<uint8_t> px = images(n, c.vision());
    c.classify(px.data(), n, logits.data());
    return logits;
  }

  static std::string path_;
};
std::string ImageClassifierTest::path_;

TEST_F(ImageClassifierTest, ExactPoliciesGiveTheFullModelsLogits) {
  Engine full(options("full"));
  const std::vector<float> want = classify(full, 24);
  for (const char* policy : {"ondemand", "cache"}) {
    Engine e(options(policy, "25%"));
    const std::vector<float> got = classify(e, 24);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5f) << policy << " " << i;
    EXPECT_GT(e.policy().stats().loads, 0u) << policy;
  }
  // The batch does not change an image's logits.
  Engine one(options("full", "", 1));
  const std::vector<float> alone = classify(one, 24);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(alone[i], want[i], 1e-5f) << i;
}

TEST_F(ImageClassifierTest, MaskedPoliciesRunInsideTheirBudgetAndCountEveryImageToken) {
  for (const char* policy : {"prune", "swapmoe"}) {
    Engine e(options(policy, "50%"));
    const std::vector<float> logits = classify(e, 24);
    for (float x : logits) ASSERT_TRUE(std::isfinite(x)) << policy;
    EXPECT_EQ(e.policy().slots(), (std::vector<int>{0, 8, 0, 8})) << policy;
    EXPECT_EQ(e.memory_account().total(), e.memory_plan().total()) << policy;
    EXPECT_LE(e.memory_account().total(), e.memory_plan().budget) << policy;
    // Every token of every image is routed in both MoE blocks.
    const RoutingStats& r = e.transformer().routing_stats();
    EXPECT_EQ(r.decisions, 24u * 50u * 2u) << policy;
    EXPECT_LT(r.fidelity(), 1.0) << policy;
  }
}

TEST_F(ImageClassifierTest, TheClassifierHoldsTheEnginesPlannedSessions) {
  Engine e(options("swapmoe", "50%", 3));
  ImageClassifier c(e);
  EXPECT_EQ(c.batch(), 3);
  EXPECT_EQ(e.memory_plan().kv_cache, 3 * kv_cache_bytes(e.model().config(), e.run_shape()) + 3 * 10 * sizeof(float));
  EXPECT_THROW(ImageClassifier again(e), Error);  // its seats are all taken
}

TEST_F(ImageClassifierTest, TextAndVisionModelsAreNotConfused) {
  Engine e(options("full"));
  try {
    Session s(e);
    (void)e.tokenizer();
    ADD_FAILURE() << "a vision model has a tokenizer";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("swapmoe classify"), std::string::npos) << err.what();
  }
  const std::string text = (std::filesystem::temp_directory_path() / ("swapmoe_text_" + std::to_string(::getpid()) + ".gguf")).string();
  write_synth_model(synth_preset("tiny"), text, 2);
  EngineOptions o;
  o.model_path = text;
  try {
    vision_engine_options(o, 4);
    ADD_FAILURE() << "a text model was taken for a vision model";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("swapmoe run"), std::string::npos) << err.what();
  }
  std::filesystem::remove(text);
}

TEST(TopClasses, BestFirstTiesToTheLowerIndex) {
  const float row[] = {0.1f, 0.9f, 0.5f, 0.9f, -1.0f};
  EXPECT_EQ(top_classes(row, 5, 3), (std::vector<int>{1, 3, 2}));
  EXPECT_EQ(top_classes(row, 5, 9).size(), 5u);
}

}  // namespace
}  // namespace swapmoe
