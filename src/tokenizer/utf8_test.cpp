// Tests of the strict UTF-8 prefix check.
#include "tokenizer/utf8.h"

#include <gtest/gtest.h>

namespace swapmoe {
namespace {

TEST(Utf8, CompleteSequences) {
  EXPECT_EQ(utf8_check_prefix("a"), 1);
  EXPECT_EQ(utf8_check_prefix("\xC3\xA9x"), 2);          // é
  EXPECT_EQ(utf8_check_prefix("\xE2\x96\x81"), 3);       // U+2581
  EXPECT_EQ(utf8_check_prefix("\xF0\x9F\xA6\x99"), 4);   // U+1F999
  EXPECT_EQ(utf8_check_prefix("\xF4\x8F\xBF\xBF"), 4);   // U+10FFFF
}

TEST(Utf8, IncompletePrefixes) {
  EXPECT_EQ(utf8_check_prefix(""), 0);
  EXPECT_EQ(utf8_check_prefix("\xC3"), 0);
  EXPECT_EQ(utf8_check_prefix("\xF0\x9F"), 0);
  EXPECT_EQ(utf8_check_prefix("\xF0\x9F\xA6"), 0);
}

TEST(Utf8, IllFormedSubparts) {
  EXPECT_EQ(utf8_check_prefix("\x80"), -1);              // stray continuation
  EXPECT_EQ(utf8_check_prefix("\xC0\x80"), -1);          // overlong lead
  EXPECT_EQ(utf8_check_prefix("\xFF"), -1);
  EXPECT_EQ(utf8_check_prefix("\xC3x"), -1);             // lead without continuation
  EXPECT_EQ(utf8_check_prefix("\xE0\x80\x80"), -1);      // overlong 3-byte form
  EXPECT_EQ(utf8_check_prefix("\xED\xA0\x80"), -1);      // surrogate
  EXPECT_EQ(utf8_check_prefix("\xF4\x90\x80\x80"), -1);  // above U+10FFFF
  EXPECT_EQ(utf8_check_prefix("\xF0\x9F\xA6x"), -3);     // three good bytes then a break
}

}  // namespace
}  // namespace swapmoe
