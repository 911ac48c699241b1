// Tests of SPM encoding and decoding on small in-memory vocabularies, one behaviour each.
#include "tokenizer/spm_tokenizer.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "tokenizer/test_vocab.h"
#include "tokenizer/tokenizer.h"

namespace swapmoe {
namespace {

using test::byte_id;
using test::FIRST_PIECE;
using test::make_spm_vocab;
using Ids = std::vector<int32_t>;

const std::string SP = "\xE2\x96\x81";  // U+2581

Ids spm(const Vocab& v, const std::string& text) {
  Ids out;
  spm_tokenize(v, text, out);
  return out;
}

TEST(SpmTokenize, HigherScoreMergesFirst) {
  // a b c with "ab" and "bc": whichever pair scores higher claims the b.
  const Vocab left = make_spm_vocab({{"a", 0}, {"b", 0}, {"c", 0}, {"ab", -1}, {"bc", -2}});
  EXPECT_EQ(spm(left, "abc"), (Ids{FIRST_PIECE + 3, FIRST_PIECE + 2}));
  const Vocab right = make_spm_vocab({{"a", 0}, {"b", 0}, {"c", 0}, {"ab", -2}, {"bc", -1}});
  EXPECT_EQ(spm(right, "abc"), (Ids{FIRST_PIECE, FIRST_PIECE + 4}));
}

TEST(SpmTokenize, EqualScoresMergeLeftmostFirst) {
  const Vocab v = make_spm_vocab({{"a", 0}, {"ab", -1}, {"ba", -1}});
  // "aba": ab (left 0) and ba (left 1) tie; the leftmost wins.
  EXPECT_EQ(spm(v, "aba"), (Ids{FIRST_PIECE + 1, FIRST_PIECE}));
}

TEST(SpmTokenize, MergesRepeatUntilNoPairIsAToken) {
  // "abcd": ab, then cd, then abcd; the intermediate "abc" is not needed.
  const Vocab v = make_spm_vocab({{"ab", -1}, {"cd", -2}, {"abcd", -3}});
  EXPECT_EQ(spm(v, "abcd"), (Ids{FIRST_PIECE + 2}));
  // Pairs that form no token ("ba", "abab") stay apart.
  EXPECT_EQ(spm(v, "abab"), (Ids{FIRST_PIECE, FIRST_PIECE}));
}

TEST(SpmTokenize, MultiByteCharactersAreOneSymbol) {
  const Vocab v = make_spm_vocab({{"\xC3\xA9", -1}, {"\xC3\xA9t\xC3\xA9", -2}, {"t", -1}, {"\xC3\xA9t", -1.5}});
  EXPECT_EQ(spm(v, "\xC3\xA9t\xC3\xA9"), (Ids{FIRST_PIECE + 1}));
}

TEST(SpmTokenize, ByteFallbackForUnknownCharacters) {
  const Vocab v = make_spm_vocab({{"a", 0}});
  EXPECT_EQ(spm(v, "a\xC3\xA9"), (Ids{FIRST_PIECE, byte_id(0xC3), byte_id(0xA9)}));
  // A truncated sequence at the end is one short symbol, still spelled as bytes.
  EXPECT_EQ(spm(v, "a\xF0\x9F"), (Ids{FIRST_PIECE, byte_id(0xF0), byte_id(0x9F)}));
}

TEST(SpmTokenize, UnknownTokenWithoutByteTokens) {
  const Vocab v = make_spm_vocab({{"a", 0}}, {}, {}, /*with_bytes=*/false);
  EXPECT_EQ(spm(v, "a\xC3\xA9"), (Ids{FIRST_PIECE, 0, 0}));  // one <unk> per byte, like byte fallback
}

TEST(SpmTokenize, EmptyText) {
  const Vocab v = make_spm_vocab({});
  EXPECT_TRUE(spm(v, "").empty());
}

TEST(TokenizerSpm, SpacePrefixAndEscaping) {
  const Vocab v = make_spm_vocab({{SP, -1}, {SP + "a", -2}, {"b", -3}, {SP + "b", -4}});
  const Tokenizer tok(v);
  EXPECT_EQ(tok.encode("a b", false), (Ids{FIRST_PIECE + 1, FIRST_PIECE + 3}));
  EXPECT_EQ(tok.encode("a b", true), (Ids{1, FIRST_PIECE + 1, FIRST_PIECE + 3}));
  EXPECT_EQ(tok.encode(" a", false), (Ids{FIRST_PIECE, FIRST_PIECE + 1}));
  EXPECT_TRUE(tok.encode("", false).empty());
  EXPECT_EQ(tok.encode("", true), (Ids{1}));

  VocabConfig no_prefix;
  no_prefix.add_space_prefix = false;
  const Tokenizer bare(make_spm_vocab({{SP, -1}, {SP + "a", -2}, {"a", -3}}, {}, no_prefix));
  EXPECT_EQ(bare.encode("a", false), (Ids{FIRST_PIECE + 2}));
}

TEST(TokenizerSpm, ControlTextIsNotParsedAsSpecial) {
  const Tokenizer tok(make_spm_vocab({{SP, -1}, {"<", -1}, {"s", -1}, {">", -1}}));
  EXPECT_EQ(tok.encode("<s>", false), (Ids{FIRST_PIECE, FIRST_PIECE + 1, FIRST_PIECE + 2, FIRST_PIECE + 3}));
}

TEST(TokenizerSpm, UserDefinedTokensAreMatchedVerbatim) {
  const int32_t tool = FIRST_PIECE + 3;
  const Tokenizer tok(make_spm_vocab({{SP, -1}, {SP + "x", -1}, {"y", -1}}, {{"<tool>", TokenType::USER_DEFINED}}));
  // The space prefix comes back after each user-defined token, as in llama.cpp.
  EXPECT_EQ(tok.encode("x<tool>x", false), (Ids{FIRST_PIECE + 1, tool, FIRST_PIECE + 1}));
  EXPECT_EQ(tok.encode("<tool>y<tool>", false), (Ids{tool, FIRST_PIECE, FIRST_PIECE + 2, tool}));
  EXPECT_EQ(tok.token_to_piece(tool), "<tool>");
}

TEST(TokenizerSpm, PiecesByType) {
  const Tokenizer tok(make_spm_vocab({{SP + "hi" + SP, -1}}, {{"<ctl>", TokenType::CONTROL}, {"<un>", TokenType::UNUSED}}));
  EXPECT_EQ(tok.token_to_piece(FIRST_PIECE), " hi ");
  EXPECT_EQ(tok.token_to_piece(byte_id(0x0A)), "\n");
  EXPECT_EQ(tok.token_to_piece(0), "");  // <unk>
  EXPECT_EQ(tok.token_to_piece(1), "");  // <s>
  EXPECT_EQ(tok.token_to_piece(FIRST_PIECE + 1), "");
  EXPECT_EQ(tok.token_to_piece(FIRST_PIECE + 2), "");
  EXPECT_THROW(tok.token_to_piece(-1), Error);
  EXPECT_THROW(tok.token_to_piece(tok.n_vocab()), Error);
}

TEST(TokenizerSpm, DecodeLeadingSpace) {
  const int32_t hello = FIRST_PIECE + 1;
  const Tokenizer tok(make_spm_vocab({{SP, -1}, {SP + "Hello", -1}}));
  EXPECT_EQ(tok.decode({hello, hello}), "Hello Hello");    // the prefix space goes
  EXPECT_EQ(tok.decode({1, hello, hello}), " Hello Hello");  // after BOS it stays (llama.cpp)
  EXPECT_EQ(tok.decode({FIRST_PIECE, hello}), " Hello");     // only one space is removed
  EXPECT_EQ(tok.decode({byte_id(0xC3), byte_id(0xA9)}), "\xC3\xA9");
  EXPECT_EQ(tok.decode({}), "");
  EXPECT_EQ(tok.decode(tok.encode(" Hello Hello", false)), " Hello Hello");
}

TEST(TokenizerSpm, Accessors) {
  const Tokenizer tok(make_spm_vocab({{"a", 0}}));
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_TRUE(tok.add_bos());
  EXPECT_TRUE(tok.is_eog(2));
  EXPECT_EQ(tok.n_vocab(), FIRST_PIECE + 1);
}

}  // namespace
}  // namespace swapmoe
