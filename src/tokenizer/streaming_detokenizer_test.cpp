// Tests of StreamingDetokenizer: held-back partial characters, repair, leading-space modes.
#include "tokenizer/streaming_detokenizer.h"

#include <gtest/gtest.h>

#include "tokenizer/test_vocab.h"

namespace swapmoe {
namespace {

using test::byte_id;
using test::FIRST_PIECE;
using test::make_spm_vocab;

const std::string SPACE = "\xE2\x96\x81";

class StreamingDetokenizerTest : public ::testing::Test {
 protected:
  Tokenizer tok_{make_spm_vocab({{SPACE + "Hi", -1}, {"!", -1}})};
  const int32_t hi_ = FIRST_PIECE;
  const int32_t bang_ = FIRST_PIECE + 1;
};

TEST_F(StreamingDetokenizerTest, HoldsBackSplitCharacter) {
  StreamingDetokenizer s(tok_, StreamStart::CONTINUATION);
  // U+1F999 as four byte tokens: nothing printable until the last one.
  EXPECT_EQ(s.push(byte_id(0xF0)), "");
  EXPECT_EQ(s.push(byte_id(0x9F)), "");
  EXPECT_EQ(s.push(byte_id(0xA6)), "");
  EXPECT_TRUE(s.has_pending());
  EXPECT_EQ(s.push(byte_id(0x99)), "\xF0\x9F\xA6\x99");
  EXPECT_FALSE(s.has_pending());
  EXPECT_EQ(s.flush(), "");
}

TEST_F(StreamingDetokenizerTest, TextBeforeAPartialCharacterIsEmitted) {
  StreamingDetokenizer s(tok_, StreamStart::CONTINUATION);
  EXPECT_EQ(s.push(bang_), "!");
  EXPECT_EQ(s.push(byte_id(0xC3)), "");
  EXPECT_EQ(s.push(hi_), "\xEF\xBF\xBD Hi");  // the é never completed: replaced, then the rest
}

TEST_F(StreamingDetokenizerTest, InvalidBytesBecomeReplacementCharacters) {
  StreamingDetokenizer s(tok_, StreamStart::CONTINUATION);
  EXPECT_EQ(s.push(byte_id(0x80)), "\xEF\xBF\xBD");
  EXPECT_EQ(s.push(byte_id(0xFF)), "\xEF\xBF\xBD");
  EXPECT_EQ(s.push(bang_), "!");
}

TEST_F(StreamingDetokenizerTest, FlushReplacesIncompleteTail) {
  StreamingDetokenizer s(tok_, StreamStart::CONTINUATION);
  EXPECT_EQ(s.push(byte_id(0xE2)), "");
  EXPECT_EQ(s.push(byte_id(0x96)), "");
  EXPECT_EQ(s.flush(), "\xEF\xBF\xBD");
  EXPECT_EQ(s.flush(), "");
  EXPECT_EQ(s.push(hi_), " Hi");  // reusable after a flush, spaces kept
}

TEST_F(StreamingDetokenizerTest, LeadingSpaceModesMatchDecode) {
  const std::vector<int32_t> ids = {hi_, bang_, hi_};
  StreamingDetokenizer start(tok_, StreamStart::BEGINNING);
  std::string text;
  for (int32_t id : ids) text += start.push(id);
  text += start.flush();
  EXPECT_EQ(text, tok_.decode(ids));
  EXPECT_EQ(text, "Hi! Hi");

  StreamingDetokenizer cont(tok_, StreamStart::CONTINUATION);
  EXPECT_EQ(cont.push(hi_), " Hi");

  // After BOS the first word keeps its space, as decode does.
  StreamingDetokenizer after_bos(tok_, StreamStart::BEGINNING);
  EXPECT_EQ(after_bos.push(tok_.bos_id()), "");
  EXPECT_EQ(after_bos.push(hi_), " Hi");
}

}  // namespace
}  // namespace swapmoe
