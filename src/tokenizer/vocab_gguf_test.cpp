// Tests of Vocab::from_gguf on small GGUF files written for the occasion: what is read, and
// the errors for missing, mismatched or unsupported metadata.
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "core/error.h"
#include "io/gguf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace swapmoe {
namespace {

const std::string SPM_SPACE = "\xE2\x96\x81";

class VocabGguf : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("swapmoe_vocab_gguf_test_" + std::to_string(::getpid()) + ".gguf"))
                .string();
    writer_.set("tokenizer.ggml.model", GgufValue::string("llama"));
    writer_.set("tokenizer.ggml.tokens", GgufValue::string_array({"<unk>", "<s>", "</s>", "<0x0A>", SPM_SPACE, SPM_SPACE + "hi", "hi"}));
    writer_.set("tokenizer.ggml.scores", GgufValue::f32_array({0, 0, 0, 0, -1, -2, -1.5}));
    writer_.set("tokenizer.ggml.token_type", GgufValue::i32_array({2, 3, 3, 6, 1, 1, 1}));
  }
  void TearDown() override { std::filesystem::remove(path_); }

  Vocab load() {
    writer_.write(path_);
    return Vocab::from_gguf(GgufFile::open(path_));
  }

  // Expects from_gguf to fail with a message containing `needle`.
  void expect_error(const std::string& needle) {
    try {
      load();
      FAIL() << "no error; expected one mentioning '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }

  std::string path_;
  GgufWriter writer_;
};

TEST_F(VocabGguf, ReadsTokensAndDefaults) {
  const Vocab v = load();
  EXPECT_EQ(v.type(), VocabType::SPM);
  EXPECT_EQ(v.n_tokens(), 7);
  EXPECT_EQ(v.token(5).text, SPM_SPACE + "hi");
  EXPECT_FLOAT_EQ(v.token(5).score, -2.0f);
  EXPECT_EQ(v.token(3).type, TokenType::BYTE);
  EXPECT_EQ(v.config().bos_id, 1);  // llama defaults when the keys are absent
  EXPECT_EQ(v.config().eos_id, 2);
  EXPECT_EQ(v.config().unk_id, 0);
  EXPECT_TRUE(v.config().add_bos);
  EXPECT_FALSE(v.config().add_eos);
  EXPECT_TRUE(v.config().add_space_prefix);
  EXPECT_EQ(Tokenizer(v).encode("hi\n", false), (std::vector<int32_t>{5, 3}));
}

TEST_F(VocabGguf, ReadsSpecialIdsAndFlags) {
  writer_.set("tokenizer.ggml.bos_token_id", GgufValue::u32(2));
  writer_.set("tokenizer.ggml.eos_token_id", GgufValue::i32(1));
  writer_.set("tokenizer.ggml.padding_token_id", GgufValue::u32(7));  // = n_vocab: ignored
  writer_.set("tokenizer.ggml.add_bos_token", GgufValue::boolean(false));
  writer_.set("tokenizer.ggml.add_space_prefix", GgufValue::boolean(false));
  const Vocab v = load();
  EXPECT_EQ(v.config().bos_id, 2);
  EXPECT_EQ(v.config().eos_id, 1);
  EXPECT_EQ(v.config().pad_id, TOKEN_NULL);
  EXPECT_FALSE(v.config().add_bos);
  EXPECT_FALSE(v.config().add_space_prefix);
  EXPECT_EQ(Tokenizer(v).encode("hi", false), (std::vector<int32_t>{6}));  // no prefix: not "▁hi"
  // Neither h nor x has a byte token: <unk> for each byte.
  EXPECT_EQ(Tokenizer(v).encode("hx", false), (std::vector<int32_t>{0, 0}));
}

TEST_F(VocabGguf, ScoresAndTypesAreOptional) {
  GgufWriter w;
  w.set("tokenizer.ggml.model", GgufValue::string("llama"));
  w.set("tokenizer.ggml.tokens", GgufValue::string_array({"<unk>", "<s>", "</s>", "a"}));
  writer_ = std::move(w);
  const Vocab v = load();
  EXPECT_EQ(v.token(3).type, TokenType::NORMAL);
  EXPECT_FLOAT_EQ(v.token(3).score, 0.0f);
}

TEST_F(VocabGguf, MissingModel) {
  GgufWriter w;
  w.set("tokenizer.ggml.tokens", GgufValue::string_array({"a"}));
  writer_ = std::move(w);
  expect_error("missing key tokenizer.ggml.model");
}

TEST_F(VocabGguf, UnsupportedModels) {
  writer_.set("tokenizer.ggml.model", GgufValue::string("gpt2"));
  expect_error("missing key tokenizer.ggml.merges");
  writer_.set("tokenizer.ggml.pre", GgufValue::string("no-such-pre"));
  expect_error("tokenizer.ggml.pre 'no-such-pre' is not supported");
  writer_.set("tokenizer.ggml.model", GgufValue::string("bert"));
  expect_error("'bert' is not supported");
}

TEST_F(VocabGguf, MissingTokens) {
  GgufWriter w;
  w.set("tokenizer.ggml.model", GgufValue::string("llama"));
  writer_ = std::move(w);
  expect_error("missing key tokenizer.ggml.tokens");
}

TEST_F(VocabGguf, LengthMismatches) {
  writer_.set("tokenizer.ggml.scores", GgufValue::f32_array({0, 0}));
  expect_error("tokenizer.ggml.scores has 2 entries for 7 tokens");
  writer_.set("tokenizer.ggml.scores", GgufValue::f32_array({0, 0, 0, 0, 0, 0, 0}));
  writer_.set("tokenizer.ggml.token_type", GgufValue::i32_array({1}));
  expect_error("tokenizer.ggml.token_type has 1 entries for 7 tokens");
}

TEST_F(VocabGguf, WrongTypes) {
  writer_.set("tokenizer.ggml.scores", GgufValue::i32_array({0, 0, 0, 0, 0, 0, 0}));
  expect_error("tokenizer.ggml.scores holds");
  writer_.set("tokenizer.ggml.scores", GgufValue::f32(0));
  expect_error("expected an array");
}

TEST_F(VocabGguf, SpecialIdOutOfRange) {
  writer_.set("tokenizer.ggml.bos_token_id", GgufValue::u32(99));
  expect_error("bos_token_id = 99");
}

TEST(VocabGgufReal, Gpt2VocabIsReadWithLlamaCppDefaults) {
  const std::string path = std::string(SWAPMOE_SHARED_DATA_DIR) + "/vocab/ggml-vocab-gpt-2.gguf";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "shared test data not found at " << path;
  const Vocab v = Vocab::from_gguf(GgufFile::open(path));
  EXPECT_EQ(v.type(), VocabType::BPE);
  EXPECT_EQ(v.config().pre, "gpt-2");
  EXPECT_FALSE(v.config().add_bos);
  EXPECT_FALSE(v.config().add_space_prefix);
  EXPECT_EQ(v.merges().size(), 50000u);
  EXPECT_EQ(v.merges().front(), "\xC4\xA0 t");  // "Ġ t": GPT-2's first merge
}

}  // namespace
}  // namespace swapmoe
