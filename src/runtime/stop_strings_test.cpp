#include "runtime/stop_strings.h"

#include <gtest/gtest.h>

namespace swapmoe {
namespace {

// Feeds pieces one at a time and returns everything shown.
std::string shown(StopStrings& s, const std::vector<std::string>& pieces) {
  std::string out;
  for (const auto& p : pieces) out += s.push(p);
  if (!s.matched()) out += s.flush();
  return out;
}

TEST(StopStrings, DroppedStopSplitAcrossPiecesNeverShows) {
  StopStrings s({{"</end>", false}});
  EXPECT_EQ(s.push("hello </"), "hello ");  // "</" may begin the stop string: held
  EXPECT_FALSE(s.matched());
  EXPECT_EQ(s.push("en"), "");
  EXPECT_EQ(s.push("d> after"), "");
  EXPECT_TRUE(s.matched());
  EXPECT_EQ(s.match().text, "</end>");
  EXPECT_EQ(s.push("more"), "");  // nothing after a match
}

TEST(StopStrings, KeptStopIsShownWithTheTextBeforeIt) {
  StopStrings s({{"User:", true}});
  EXPECT_EQ(shown(s, {"Sure.\nUs", "er: next"}), "Sure.\nUser:");
  EXPECT_TRUE(s.matched());
}

TEST(StopStrings, FalseStartIsReleased) {
  StopStrings s({{"STOP", false}});
  EXPECT_EQ(s.push("ST"), "");
  EXPECT_EQ(s.push("AR"), "STAR");
  EXPECT_EQ(shown(s, {"ST"}), "ST");  // flushed at the end
  EXPECT_FALSE(s.matched());
}

TEST(StopStrings, EarliestOfSeveralWins) {
  StopStrings s({{"bb", false}, {"abc", false}});
  EXPECT_EQ(shown(s, {"xxabcbb"}), "xx");
  EXPECT_EQ(s.match().text, "abc");
}

TEST(StopStrings, NoStopsPassesEverythingThrough) {
  StopStrings s({{"", false}});
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.push("abc"), "abc");
}

TEST(StopStrings, MultibyteTextIsHeldOnlyAtCharacterBoundaries) {
  StopStrings s({{"\xC3\xA9t\xC3\xA9", false}});  // "été"
  EXPECT_EQ(s.push("caf\xC3\xA9"), "caf");           // "é" may begin "été"
  EXPECT_EQ(s.push("!"), "\xC3\xA9!");
}

}  // namespace
}  // namespace swapmoe
