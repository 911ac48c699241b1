// Resource limits at load: a model whose metadata declares absurd sizes (context, vocabulary,
// experts, heads, layers) is refused naming the key, quickly and without allocating from the
// declared size; a huge training context alone is harmless, since the run sizes from -c.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/memory_stats.h"
#include "io/gguf.h"
#include "model/memory_plan.h"
#include "model/model.h"
#include "model/model_test_util.h"
#include "model/synth_model.h"

namespace swapmoe {
namespace {

using test::model_load_error;
using test::model_temp_path;
using test::rewrite_gguf;

// What any refusal must stay within: a load reads metadata and maps the file, nothing more.
constexpr double k_max_seconds = 1.0;
constexpr uint64_t k_max_peak_growth = 64ull << 20;

class ModelLimits : public ::testing::Test {
 protected:
  void SetUp() override { write_synth_model(synth_preset("tiny-olmoe"), base_, 1); }
  void TearDown() override {
    std::filesystem::remove(base_);
    std::filesystem::remove(out_);
  }

  // The loader's answer for the base file with `key` set to `value`, timed and with the peak
  // resident memory it added checked.
  std::string load_with(const std::string& key, const GgufValue& value) {
    rewrite_gguf(GgufFile::open(base_), key, &value, out_);
    return timed_load_error();
  }

  std::string timed_load_error() {
    const uint64_t peak_before = peak_rss_bytes();
    const auto t0 = std::chrono::steady_clock::now();
    std::string error = model_load_error(out_);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(seconds, k_max_seconds) << error;
    EXPECT_LT(peak_rss_bytes() - peak_before, k_max_peak_growth) << error;
    return error;
  }

  // The base file's bytes with the u64 `at_offset` bytes after the end of the first occurrence of
  // the string `after` replaced: how a count or a dimension is made absurd without its data.
  void patch_u64(const std::string& after, size_t at_offset, uint64_t value) {
    std::ifstream in(base_, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    const size_t at = bytes.find(after);
    ASSERT_NE(at, std::string::npos) << after;
    std::memcpy(&bytes[at + after.size() + at_offset], &value, sizeof value);
    std::ofstream(out_, std::ios::binary | std::ios::trunc) << bytes;
  }

  const std::string base_ = model_temp_path("limits_base");
  const std::string out_ = model_temp_path("limits");
};

TEST_F(ModelLimits, AbsurdSizesAreRefusedNamingTheKey) {
  const struct {
    const char* key;
    uint64_t value;
  } cases[] = {
      {"olmoe.block_count", 1000000000},
      {"olmoe.expert_count", 1u << 20},
      {"olmoe.expert_used_count", 1u << 20},
      {"olmoe.attention.head_count", 0xffffffff},
      {"olmoe.attention.head_count_kv", 1ull << 31},
      {"olmoe.attention.key_length", 1u << 30},
      {"olmoe.embedding_length", 1ull << 40},
      {"olmoe.feed_forward_length", 1ull << 40},
      {"olmoe.rope.dimension_count", 1ull << 62},
      {"olmoe.context_length", 1ull << 63},
  };
  for (const auto& c : cases) {
    const std::string error = load_with(c.key, GgufValue::u64(c.value));
    EXPECT_NE(error.find(std::string(c.key) + " is " + std::to_string(c.value) + ", outside"), std::string::npos)
        << c.key << ": " << error;
    EXPECT_NE(error.find("; no real model comes near that size"), std::string::npos) << error;
  }
}

TEST_F(ModelLimits, AHugeTrainingContextLoadsForTheRunToSizeFromTheUsersContext) {
  EXPECT_EQ(load_with("olmoe.context_length", GgufValue::u64(1ull << 40)), "loaded");
  EXPECT_EQ(Model::load(out_)->config().n_ctx_train, 1ll << 40);
}

TEST_F(ModelLimits, ADeclaredVocabularyOtherThanTheEmbeddingsIsRefused) {
  const std::string error = load_with("olmoe.vocab_size", GgufValue::u64(1ull << 31));
  EXPECT_NE(error.find("olmoe.vocab_size is 2147483648 but token_embd.weight has"), std::string::npos) << error;
}

// A vocabulary of 2^31 tokens with arrays to match: the counts are checked against the bytes
// left in the file before anything is reserved for them.
TEST_F(ModelLimits, TokenArraysDeclaringBillionsOfEntriesAreRefusedBeforeAllocating) {
  for (const char* key : {"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"}) {
    patch_u64(key, /*type, element type*/ 8, 1ull << 31);
    const std::string error = timed_load_error();
    EXPECT_NE(error.find(key), std::string::npos) << key << ": " << error;
    EXPECT_NE(error.find("2147483648"), std::string::npos) << key << ": " << error;
  }
}

TEST_F(ModelLimits, AnEmbeddingOfBillionsOfRowsIsRefusedAsRunningPastTheFile) {
  patch_u64("token_embd.weight", /*n_dims, ne[0]*/ 12, 1ull << 31);
  const std::string error = timed_load_error();
  EXPECT_NE(error.find("token_embd.weight"), std::string::npos) << error;
}

// The context is the user's -c, not the file's: one that cannot fit in memory is refused before
// anything is allocated, with the bytes and the largest -c that does fit.
TEST_F(ModelLimits, AContextThatCannotFitIsRefusedNamingTheBytesAndTheLargestThatFits) {
  const auto model = Model::load(base_, DenseWeights::LAZY);
  const MemoryInputs in = memory_inputs(*model, 4 << 20);
  RunShape run;
  run.n_ctx = 1 << 20;
  const uint64_t memory = 64ull << 20;
  std::string error;
  try {
    check_run_fits(model->config(), run, plan_memory(in, run, PlanSettings{}), memory);
  } catch (const Error& e) {
    error = e.what();
  }
  EXPECT_NE(error.find("-c 1048576 needs 512.00 MiB of KV cache (256 B a position in each of 2 layers"), std::string::npos) << error;
  EXPECT_NE(error.find("more than this machine's 64.00 MiB"), std::string::npos) << error;
  const size_t at = error.find("use -c ");
  ASSERT_NE(at, std::string::npos) << error;
  run.n_ctx = std::stoll(error.substr(at + 7));
  EXPECT_NO_THROW(check_run_fits(model->config(), run, plan_memory(in, run, PlanSettings{}), memory)) << run.n_ctx;
  run.n_ctx += run.n_ctx / 10;  // the largest is rounded down a little: scratch grows with -c too
  EXPECT_THROW(check_run_fits(model->config(), run, plan_memory(in, run, PlanSettings{}), memory), Error) << run.n_ctx;
}

}  // namespace
}  // namespace swapmoe
