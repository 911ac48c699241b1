// Q4_0, Q4_K and Q6_K weights interleaved at load (tensor/interleave.h) in every place weights live: the full
// model's copy, the dense weights a budgeted engine owns, and expert slots filled by the loader.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "experts/policies_test_model.h"
#include "kernels/vec_dot.h"
#include "model/synth_model.h"
#include "tensor/interleave.h"
#include "runtime/engine.h"
#include "runtime/session.h"

namespace swapmoe {
namespace {

// A small MoE model of each interleaved file type (rows wide enough for K-quant super-blocks).
class InterleavedExpertsTest : public ::testing::TestWithParam<GgmlType> {
 protected:
  void SetUp() override {
    SynthSpec s = synth_preset("tiny");
    s.seed = 3;
    s.n_expert = 16;
    s.n_layer = 2;
    s.n_embd = s.n_ff = 256;
    s.type = GetParam();
    path_ = (std::filesystem::temp_directory_path() /
             ("swapmoe_interleaved_" + std::string(type_name(s.type)) + "_" + std::to_string(::getpid()) + ".gguf"))
                .string();
    write_synth_model(s, path_, 2);
  }
  void TearDown() override { remove_policies_test_model(path_); }

  EngineOptions options(const std::string& policy, const std::string& share, bool interleave) const {
    EngineOptions o = token_by_token_options(path_, policy, share);
    o.interleave_weights = interleave;
    return o;
  }
  static std::vector<float> prompt_logits(Engine& e) {
    Session session(e);
    const std::span<const float> l = session.prefill(e.tokenizer().encode("the quick brown fox", true));
    return {l.begin(), l.end()};
  }

  std::string path_;
};

TEST_P(InterleavedExpertsTest, TheFullModelComputesWhatThePlainRowsGive) {
  Engine plain(options("full", "", false)), mixed(options("full", "", true));
  EXPECT_EQ(plain.model().interleaved_bytes(), 0u);
  if (!interleaving_pays(GetParam(), 256, 256)) GTEST_SKIP() << "no interleaved kernels at this CPU level";
  // Every matrix and expert, not the embedding table (read by rows).
  EXPECT_GT(mixed.model().interleaved_bytes(), mixed.model().expert_bytes());
  EXPECT_EQ(mixed.model().layers[0].gate_exps.type, interleaved_type(GetParam()));
  EXPECT_EQ(mixed.model().tok_embd.type, GetParam());
  const std::vector<float> want = prompt_logits(plain), got = prompt_logits(mixed);
  ASSERT_EQ(want.size(), got.size());
  float scale = 0;
  for (float v : want) scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-4f * scale) << "logit " << i;
  // Copied out of the map (above) or rearranged in a copy read into memory: the same bytes.
  EngineOptions read = options("full", "", true);
  read.use_mmap = false;
  Engine no_mmap(read);
  EXPECT_EQ(no_mmap.model().interleaved_bytes(), mixed.model().interleaved_bytes());
  EXPECT_EQ(prompt_logits(no_mmap), got);
}

TEST_P(InterleavedExpertsTest, ExpertSlotsAreInterleavedAsTheyAreRead) {
  // An exact policy under a budget reproduces the full model token for token only if the
  // loader's slots hold what the full model's copy holds, in the same layout.
  Engine full(options("full", "", true)), cache(options("cache", "50%", true));
  EXPECT_EQ(greedy_tokens(cache, 12), greedy_tokens(full, 12));
  const std::vector<float> a = prompt_logits(full), b = prompt_logits(cache);
  EXPECT_EQ(a, b);
  if (interleaving_pays(GetParam(), 256, 256)) {
    EXPECT_GT(cache.model().interleaved_bytes(), 0u);  // its dense weights
  }
}

INSTANTIATE_TEST_SUITE_P(FileTypes, InterleavedExpertsTest, ::testing::Values(GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q6_K),
                         [](const auto& info) { return std::string(type_name(info.param)); });

}  // namespace
}  // namespace swapmoe
