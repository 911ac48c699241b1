#include "core/memory_stats.h"

#include <gtest/gtest.h>

namespace swapmoe {

TEST(MemoryStats, ParsesByteSizes) {
  uint64_t b = 0;
  ASSERT_TRUE(parse_byte_size("512M", &b));
  EXPECT_EQ(b, 512ull << 20);
  ASSERT_TRUE(parse_byte_size("3.5G", &b));
  EXPECT_EQ(b, 3584ull << 20);
  ASSERT_TRUE(parse_byte_size("100", &b));
  EXPECT_EQ(b, 100u);
  ASSERT_TRUE(parse_byte_size("2GiB", &b));
  EXPECT_EQ(b, 2ull << 30);
  EXPECT_FALSE(parse_byte_size("", &b));
  EXPECT_FALSE(parse_byte_size("lots", &b));
  EXPECT_FALSE(parse_byte_size("5X", &b));
  EXPECT_FALSE(parse_byte_size("-5M", &b));
  // Past 2^64 bytes: once an undefined conversion (request_fuzz, POST /v1/memory).
  EXPECT_FALSE(parse_byte_size("99999999999999999999G", &b));
  EXPECT_FALSE(parse_byte_size("16777216T", &b));  // exactly 2^64
  ASSERT_TRUE(parse_byte_size("16777215T", &b));
  EXPECT_EQ(b, 16777215ull << 40);
}

TEST(MemoryStats, ParsesPercentages) {
  double p = 0;
  ASSERT_TRUE(parse_percentage("25%", &p));
  EXPECT_DOUBLE_EQ(p, 25.0);
  ASSERT_TRUE(parse_percentage("37.5%", &p));
  EXPECT_DOUBLE_EQ(p, 37.5);
  ASSERT_TRUE(parse_percentage("100%", &p));
  for (const char* bad : {"", "%", "25", "0%", "-5%", "101%", "25%%", "x%", "25 %"}) EXPECT_FALSE(parse_percentage(bad, &p)) << bad;
}

TEST(MemoryStats, PeakRssIsAtLeastCurrent) {
  // The current size first: the process may grow between the two reads (it did under ASan), and
  // only a peak read afterwards is sure to cover it.
  const uint64_t current = current_rss_bytes();
  const uint64_t peak = peak_rss_bytes();
  EXPECT_GT(current, 0u);
  EXPECT_GE(peak, current);
}

}  // namespace swapmoe
