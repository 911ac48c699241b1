// The shipped models (the default one and the fine-grained 64-expert one): their shape, their
// vocabulary, and a greedy generation against the golden output recorded from the training
// tool's own forward pass (tools/train/evaluate.py).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "runtime/engine.h"
#include "runtime/session.h"

namespace swapmoe {
namespace {

constexpr double kLogitTolerance = 0.1;

// Each shipped model, and the floor its issue set for it.
struct Shipped {
  std::string name;  // models/NAME.gguf, models/NAME.golden.json
  std::string arch;
  int64_t min_expert, min_expert_used;
  uint64_t max_bytes;
  friend void PrintTo(const Shipped& s, std::ostream* os) { *os << s.name; }
};

class ShippedModel : public ::testing::TestWithParam<Shipped> {
 protected:
  void SetUp() override {
    model_path_ = std::string(SWAPMOE_MODELS_DIR) + "/" + GetParam().name + ".gguf";
    const std::string golden = std::string(SWAPMOE_MODELS_DIR) + "/" + GetParam().name + ".golden.json";
    ASSERT_TRUE(std::filesystem::exists(model_path_)) << model_path_ << " is missing: the shipped models are in models/";
    ASSERT_TRUE(std::filesystem::exists(golden)) << golden << " is missing";
    std::ifstream in(golden);
    golden_ = nlohmann::json::parse(in);
  }
  std::string model_path_;
  nlohmann::json golden_;
};

TEST_P(ShippedModel, HasTheDocumentedShape) {
  auto model = Model::load(model_path_);
  const ModelConfig& c = model->config();
  const auto& s = golden_["shape"];
  EXPECT_EQ(c.arch, GetParam().arch);
  EXPECT_EQ(c.n_vocab, s["vocab_size"].get<int64_t>());
  EXPECT_EQ(c.n_embd, s["n_embd"].get<int64_t>());
  EXPECT_EQ(c.n_layer, s["n_layer"].get<int64_t>());
  EXPECT_EQ(c.n_head, s["n_head"].get<int64_t>());
  EXPECT_EQ(c.n_head_kv, s["n_head_kv"].get<int64_t>());
  EXPECT_EQ(c.layers[0].n_ff, s["n_ff"].get<int64_t>()) << "one routed expert's width";
  EXPECT_EQ(c.n_expert, s["n_expert"].get<int64_t>());
  EXPECT_EQ(c.n_expert_used, s["n_expert_used"].get<int64_t>());
  // The issues' floors: at least 4 layers, enough routed experts and choices, and a size cap.
  EXPECT_GE(c.n_layer, 4);
  EXPECT_GE(c.n_expert, GetParam().min_expert);
  EXPECT_GE(c.n_expert_used, GetParam().min_expert_used);
  EXPECT_LE(std::filesystem::file_size(model_path_), GetParam().max_bytes);
  for (const auto& l : model->layers) EXPECT_TRUE(l.is_moe);
}

TEST_P(ShippedModel, VocabularyAndTokenizerMatchTheTrainingTool) {
  auto model = Model::load(model_path_);
  Tokenizer tok = Tokenizer::from_gguf(model->file());
  EXPECT_EQ(tok.bos_id(), golden_["bos_id"].get<int32_t>());
  EXPECT_EQ(tok.eos_id(), golden_["eos_id"].get<int32_t>());
  for (const auto& [id, text] : golden_["vocab_check"].items())
    EXPECT_EQ(tok.vocab().token(std::stoi(id)).text, text.get<std::string>()) << "token " << id;
  for (const auto& t : golden_["tokenizer_tests"])
    EXPECT_EQ(tok.encode(t["text"].get<std::string>(), false), t["ids_no_bos"].get<std::vector<int32_t>>())
        << t["text"];
}

TEST_P(ShippedModel, GreedyGenerationMatchesTheTrainingToolsForwardPass) {
  EngineOptions o;
  o.model_path = model_path_;
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
    // At least 8 tokens agree, or all of them up to the first step whose margin is that small.
    const size_t close_call = static_cast<size_t>(
        std::find_if(margins.begin(), margins.end(), [](double m) { return m < kLogitTolerance; }) - margins.begin());
    EXPECT_GE(matched, std::min<size_t>(8, close_call)) << p["text"] << ": too few greedy tokens agree";
  }
}

INSTANTIATE_TEST_SUITE_P(Models, ShippedModel,
                         ::testing::Values(Shipped{"shakespeare-moe", "llama", 16, 2, 16'000'000},
                                           Shipped{"shakespeare-moe-64x8", "qwen3moe", 64, 6, 40'000'000}),
                         [](const auto& info) {
                           std::string name = info.param.name;
                           std::replace(name.begin(), name.end(), '-', '_');  // gtest names: no dashes
                           return name;
                         });

}  // namespace
}  // namespace swapmoe
