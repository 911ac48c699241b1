// The shipped default model: its shape, its vocabulary, and a greedy generation against the
// golden output recorded from the training tool's own forward pass (tools/train/evaluate.py).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "runtime/engine.h"
#include "runtime/session.h"

namespace swapmoe {
namespace {

const std::string kModel = std::string(SWAPMOE_MODELS_DIR) + "/shakespeare-moe.gguf";
constexpr double kLogitTolerance = 0.1;
const std::string kGolden = std::string(SWAPMOE_MODELS_DIR) + "/shakespeare-moe.golden.json";

class ShippedModel : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(kModel)) << kModel << " is missing: the default model ships in models/";
    ASSERT_TRUE(std::filesystem::exists(kGolden)) << kGolden << " is missing";
    std::ifstream in(kGolden);
    golden_ = nlohmann::json::parse(in);
  }
  nlohmann::json golden_;
};

TEST_F(ShippedModel, HasTheDocumentedShape) {
  auto model = Model::load(kModel);
  const ModelConfig& c = model->config();
  const auto& s = golden_["shape"];
  EXPECT_EQ(c.arch, "llama");
  EXPECT_EQ(c.n_vocab, s["vocab_size"].get<int64_t>());
  EXPECT_EQ(c.n_embd, s["n_embd"].get<int64_t>());
  EXPECT_EQ(c.n_layer, s["n_layer"].get<int64_t>());
  EXPECT_EQ(c.n_head, s["n_head"].get<int64_t>());
  EXPECT_EQ(c.n_head_kv, s["n_head_kv"].get<int64_t>());
  EXPECT_EQ(c.n_ff, s["n_ff"].get<int64_t>());
  EXPECT_EQ(c.n_expert, s["n_expert"].get<int64_t>());
  EXPECT_EQ(c.n_expert_used, s["n_expert_used"].get<int64_t>());
  // The floor: at least 4 layers, 16 routed experts, top-2, and at most 16 MB.
  EXPECT_GE(c.n_layer, 4);
  EXPECT_GE(c.n_expert, 16);
  EXPECT_GE(c.n_expert_used, 2);
  EXPECT_LE(std::filesystem::file_size(kModel), 16u * 1000 * 1000);
  for (const auto& l : model->layers) EXPECT_TRUE(l.is_moe);
}

TEST_F(ShippedModel, VocabularyAndTokenizerMatchTheTrainingTool) {
  auto model = Model::load(kModel);
  Tokenizer tok = Tokenizer::from_gguf(model->file());
  EXPECT_EQ(tok.bos_id(), golden_["bos_id"].get<int32_t>());
  EXPECT_EQ(tok.eos_id(), golden_["eos_id"].get<int32_t>());
  for (const auto& [id, text] : golden_["vocab_check"].items())
    EXPECT_EQ(tok.vocab().token(std::stoi(id)).text, text.get<std::string>()) << "token " << id;
  for (const auto& t : golden_["tokenizer_tests"])
    EXPECT_EQ(tok.encode(t["text"].get<std::string>(), false), t["ids_no_bos"].get<std::vector<int32_t>>())
        << t["text"];
}

TEST_F(ShippedModel, GreedyGenerationMatchesTheTrainingToolsForwardPass) {
  EngineOptions o;
  o.model_path = kModel;
  o.n_threads = 2;
  o.n_ctx = 256;
  o.type_k = o.type_v = GgmlType::F32;  // the training tool keeps keys and values in f32
  Engine engine(o);
  for (const auto& p : golden_["prompts"]) {
    const auto ids = p["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(engine.tokenizer().encode(p["text"].get<std::string>(), true), ids) << p["text"];
    const auto want = p["greedy_ids"].get<std::vector<int32_t>>();
    const auto margins = p["greedy_margins"].get<std::vector<double>>();
    const auto first16 = p["first_logits_16"].get<std::vector<float>>();
    Session session(engine);
    std::span<const float> logits = session.prefill(ids);
    // The training tool multiplies float activations by the dequantised weights; swapmoe, like
    // llama.cpp, quantises activations to Q8_0 blocks for Q8_0 weights. That costs a few
    // hundredths of a logit on this model, so logits agree to kLogitTolerance and greedy tokens
    // agree until the first step whose top-2 margin is below it.
    for (size_t i = 0; i < first16.size(); ++i) EXPECT_NEAR(logits[i], first16[i], kLogitTolerance) << "logit " << i;
    size_t matched = 0;
    for (size_t step = 0; step < want.size(); ++step) {
      const auto got = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      if (got != want[step]) {
        EXPECT_LT(margins[step], kLogitTolerance) << p["text"] << ": step " << step << " got " << got << ", want " << want[step];
        break;
      }
      logits = session.step(got);
      ++matched;
    }
    EXPECT_GE(matched, 8u) << p["text"] << ": fewer than 8 greedy tokens agree";
  }
}

}  // namespace
}  // namespace swapmoe
