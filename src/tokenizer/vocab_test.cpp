// Tests of Vocab construction, validation and lookups on in-memory vocabularies.
#include "tokenizer/vocab.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "tokenizer/test_vocab.h"

namespace swapmoe {
namespace {

using test::byte_id;
using test::FIRST_PIECE;
using test::make_spm_vocab;

// Runs `fn`, expecting swapmoe::Error whose message contains `needle`.
template <typename Fn>
void expect_error(Fn fn, const std::string& needle) {
  try {
    fn();
    FAIL() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Vocab, LookupsAndBytes) {
  const Vocab v = make_spm_vocab({{"\xE2\x96\x81", -1.0f}, {"ab", -2.0f}});
  EXPECT_EQ(v.n_tokens(), FIRST_PIECE + 2);
  EXPECT_EQ(v.text_to_token("ab"), FIRST_PIECE + 1);
  EXPECT_EQ(v.text_to_token("zz"), TOKEN_NULL);
  EXPECT_EQ(v.byte_to_token(0x0A), byte_id(0x0A));
  EXPECT_EQ(v.token_to_byte(byte_id(0xE9)), 0xE9);
  EXPECT_FLOAT_EQ(v.token(FIRST_PIECE + 1).score, -2.0f);
  expect_error([&] { v.token_to_byte(FIRST_PIECE); }, "not a byte token");
  expect_error([&] { v.token(v.n_tokens()); }, "outside the vocabulary");
}

TEST(Vocab, ByteFallsBackToRawCharacterText) {
  // Vocabularies without <0xXX> tokens may spell a byte as the character itself.
  const Vocab v = make_spm_vocab({{"a", 0.0f}}, {}, {}, /*with_bytes=*/false);
  EXPECT_EQ(v.byte_to_token('a'), FIRST_PIECE);
  EXPECT_EQ(v.byte_to_token('b'), TOKEN_NULL);
}

TEST(Vocab, EndOfGeneration) {
  const Vocab v = make_spm_vocab({{"a", 0.0f}, {"<|im_end|>", 0.0f}});
  EXPECT_TRUE(v.is_eog(2));                 // eos
  EXPECT_TRUE(v.is_eog(FIRST_PIECE + 1));   // well-known end-of-turn text
  EXPECT_FALSE(v.is_eog(1));                // bos
  EXPECT_FALSE(v.is_eog(FIRST_PIECE));
  // Made CONTROL so that it never prints.
  EXPECT_EQ(v.token(FIRST_PIECE + 1).type, TokenType::CONTROL);
}

TEST(Vocab, UserDefinedLongestFirst) {
  const Vocab v = make_spm_vocab({}, {{"<a>", TokenType::USER_DEFINED}, {"<long>", TokenType::USER_DEFINED}});
  ASSERT_EQ(v.user_defined_ids().size(), 2u);
  EXPECT_EQ(v.user_defined_ids()[0], FIRST_PIECE + 1);
  EXPECT_EQ(v.user_defined_ids()[1], FIRST_PIECE);
}

TEST(Vocab, EmptyTextIsRenamed) {
  const Vocab v(VocabType::SPM, {"<unk>", "<s>", "</s>", "", ""});
  EXPECT_EQ(v.token(3).text, "[EMPTY_3]");
  EXPECT_EQ(v.token(4).text, "[EMPTY_4]");
}

TEST(Vocab, ValidationErrors) {
  const std::vector<std::string> texts = {"<unk>", "<s>", "</s>", "a"};
  expect_error([&] { Vocab(VocabType::SPM, texts, {0.0f}); }, "scores");
  expect_error([&] { Vocab(VocabType::SPM, texts, {}, {TokenType::NORMAL}); }, "token types");
  expect_error([&] { Vocab(VocabType::SPM, {}); }, "no tokens");
  expect_error([&] { Vocab(VocabType::SPM, {"<unk>", "<s>", "</s>", "a", "a"}); }, "share the text 'a'");
  expect_error([&] { Vocab(VocabType::SPM, texts, {}, {}, VocabConfig{.bos_id = 4}); }, "bos_token_id = 4");
  expect_error([&] { Vocab(VocabType::SPM, texts, {}, {}, VocabConfig{.eos_id = -7}); }, "eos_token_id = -7");
  expect_error([&] { Vocab(VocabType::SPM, texts, {}, {}, VocabConfig{.bos_id = TOKEN_NULL}); },
               "add_bos_token is set");
  expect_error(
      [&] {
        Vocab(VocabType::SPM, texts, {},
              {TokenType::UNKNOWN, TokenType::CONTROL, TokenType::CONTROL, static_cast<TokenType>(9)});
      },
      "has type 9");
  expect_error(
      [&] {
        Vocab(VocabType::SPM, texts, {}, {TokenType::UNKNOWN, TokenType::CONTROL, TokenType::CONTROL, TokenType::BYTE});
      },
      "not a byte token");
}

}  // namespace
}  // namespace swapmoe
