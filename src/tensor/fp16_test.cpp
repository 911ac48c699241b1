// fp16/bf16 conversions: known bit patterns, scalar == hardware, round trips.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tensor/fp16.h"
#include "tensor/test_data.h"

namespace swapmoe {
namespace {

TEST(Fp16, KnownBitPatterns) {
  EXPECT_EQ(fp32_to_fp16_scalar(0.0f), 0x0000);
  EXPECT_EQ(fp32_to_fp16_scalar(-0.0f), 0x8000);
  EXPECT_EQ(fp32_to_fp16_scalar(1.0f), 0x3c00);
  EXPECT_EQ(fp32_to_fp16_scalar(-2.0f), 0xc000);
  EXPECT_EQ(fp32_to_fp16_scalar(0.5f), 0x3800);
  EXPECT_EQ(fp32_to_fp16_scalar(65504.0f), 0x7bff);       // largest finite
  EXPECT_EQ(fp32_to_fp16_scalar(65519.0f), 0x7bff);       // just below the rounding edge
  EXPECT_EQ(fp32_to_fp16_scalar(65520.0f), 0x7c00);       // tie rounds to even = inf
  EXPECT_EQ(fp32_to_fp16_scalar(0x1p-24f), 0x0001);       // smallest subnormal
  EXPECT_EQ(fp32_to_fp16_scalar(0x1p-25f), 0x0000);       // tie to even: 0
  EXPECT_EQ(fp32_to_fp16_scalar(0x1.8p-25f), 0x0001);     // above the tie
  EXPECT_EQ(fp32_to_fp16_scalar(0x1p-14f), 0x0400);       // smallest normal
  EXPECT_EQ(fp32_to_fp16_scalar(1.0f + 0x1p-11f), 0x3c00);  // tie, even stays
  EXPECT_EQ(fp32_to_fp16_scalar(1.0f + 0x3p-11f), 0x3c02);  // tie, odd rounds up
  EXPECT_EQ(fp32_to_fp16_scalar(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(fp32_to_fp16_scalar(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_EQ(fp32_to_fp16_scalar(std::nanf("")) & 0x7e00, 0x7e00);  // quiet NaN
  EXPECT_EQ(fp16_to_fp32_scalar(0x3555), 0x1.554p-2f);
  EXPECT_EQ(fp16_to_fp32_scalar(0x0001), 0x1p-24f);
  EXPECT_EQ(fp16_to_fp32_scalar(0x83ff), -0x3ffp-24f);
  EXPECT_TRUE(std::isnan(fp16_to_fp32_scalar(0x7e00)));
}

TEST(Fp16, AllHalvesRoundTripAndMatchHardware) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = fp16_to_fp32_scalar(static_cast<uint16_t>(h));
    ASSERT_EQ(fp32_bits(f), fp32_bits(fp16_to_fp32(static_cast<uint16_t>(h)))) << std::hex << h;
    if (!std::isnan(f)) {
      ASSERT_EQ(fp32_to_fp16_scalar(f), h) << std::hex << h;
    }
  }
}

TEST(Fp16, ScalarMatchesHardwareOnRandomFloats) {
  test::XorShift rng(7);
  for (int i = 0; i < 4'000'000; ++i) {
    // Random bit patterns cover NaNs, infinities and subnormals, biased to the fp16 range.
    uint32_t bits = static_cast<uint32_t>(rng.next());
    if (i % 2) bits = (bits & 0x807fffffu) | ((0x60u + (bits >> 24) % 0x40u) << 23);
    const float f = fp32_from_bits(bits);
    ASSERT_EQ(fp32_to_fp16_scalar(f), fp32_to_fp16(f)) << std::hex << bits;
  }
}

TEST(Fp16, RowConversions) {
  auto x = test::weight_like(1000, 3);
  std::vector<uint16_t> h(x.size());
  std::vector<float> back(x.size());
  fp32_to_fp16_row(x.data(), h.data(), static_cast<int64_t>(x.size()));
  fp16_to_fp32_row(h.data(), back.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_EQ(h[i], fp32_to_fp16_scalar(x[i]));
    ASSERT_NEAR(back[i], x[i], std::fabs(x[i]) * 0x1p-11f + 0x1p-24f);
  }
}

TEST(Bf16, RoundingAndNaN) {
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(fp32_to_bf16(-1.0f), 0xbf80);
  EXPECT_EQ(fp32_to_bf16(fp32_from_bits(0x3f808000u)), 0x3f80);  // tie, even stays
  EXPECT_EQ(fp32_to_bf16(fp32_from_bits(0x3f818000u)), 0x3f82);  // tie, odd rounds up
  EXPECT_EQ(fp32_to_bf16(fp32_from_bits(0x3f808001u)), 0x3f81);  // above the tie
  EXPECT_EQ(fp32_to_bf16(fp32_from_bits(0x7f800001u)), 0x7fc0);  // signalling NaN made quiet
  EXPECT_EQ(fp32_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(bf16_to_fp32(0x4049), 3.140625f);
}

}  // namespace
}  // namespace swapmoe
