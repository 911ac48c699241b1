// fp16/bf16 conversions: known bit patterns, scalar == hardware, round trips.
#include <gtest/gtest.h>

#include <cmath>
#include <iterator>
#include <limits>
#include <vector>

#include "tensor/cpu_level.h"
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

// "Hardware" is the row conversion at the detected level (F16C on x86-64 with AVX2); the
// single-value fp16_to_fp32/fp32_to_fp16 use F16C only in files compiled for it.
TEST(Fp16, AllHalvesRoundTripAndMatchHardware) {
  std::vector<uint16_t> all(0x10000);
  for (uint32_t h = 0; h < 0x10000; ++h) all[h] = static_cast<uint16_t>(h);
  std::vector<float> hw(all.size());
  fp16_to_fp32_row(all.data(), hw.data(), static_cast<int64_t>(all.size()));
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = fp16_to_fp32_scalar(static_cast<uint16_t>(h));
    ASSERT_EQ(fp32_bits(f), fp32_bits(hw[h])) << std::hex << h;
    ASSERT_EQ(fp32_bits(f), fp32_bits(fp16_to_fp32(static_cast<uint16_t>(h)))) << std::hex << h;
    if (!std::isnan(f)) {
      ASSERT_EQ(fp32_to_fp16_scalar(f), h) << std::hex << h;
    }
  }
}

TEST(Fp16, ScalarMatchesHardwareOnRandomFloats) {
  test::XorShift rng(7);
  std::vector<float> x(4'000'000);
  for (size_t i = 0; i < x.size(); ++i) {
    // Random bit patterns cover NaNs, infinities and subnormals, biased to the fp16 range.
    uint32_t bits = static_cast<uint32_t>(rng.next());
    if (i % 2) bits = (bits & 0x807fffffu) | ((0x60u + (bits >> 24) % 0x40u) << 23);
    x[i] = fp32_from_bits(bits);
  }
  std::vector<uint16_t> hw(x.size());
  fp32_to_fp16_row(x.data(), hw.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_EQ(fp32_to_fp16_scalar(x[i]), hw[i]) << std::hex << fp32_bits(x[i]);
    ASSERT_EQ(fp32_to_fp16_scalar(x[i]), fp32_to_fp16(x[i])) << std::hex << fp32_bits(x[i]);
  }
}

// The row conversions are bit-identical to the scalar ones at every CPU level (F16C/AVX2 where
// the level allows them), tails and special values included.
TEST(Fp16, RowConversionsAtEveryLevel) {
  auto x = test::weight_like(1003, 3);
  const float specials[] = {0.0f, -0.0f, 65504.0f, 65520.0f, 1e-8f, -0x1p-24f, std::numeric_limits<float>::infinity(),
                            std::nanf(""), 3.0e38f, -1.0f + 0x1p-11f};
  for (size_t i = 0; i < std::size(specials); ++i) x[i * 37] = specials[i];
  const auto n = static_cast<int64_t>(x.size());
  const CpuLevel saved = active_cpu_level();
  for (CpuLevel level : {detected_cpu_level(), CpuLevel::REF}) {
    set_max_cpu_level(level);
    SCOPED_TRACE(cpu_level_name(level));
    std::vector<uint16_t> h(x.size()), b(x.size());
    std::vector<float> back(x.size()), back_b(x.size());
    fp32_to_fp16_row(x.data(), h.data(), n);
    fp16_to_fp32_row(h.data(), back.data(), n);
    fp32_to_bf16_row(x.data(), b.data(), n);
    bf16_to_fp32_row(b.data(), back_b.data(), n);
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(h[i], fp32_to_fp16_scalar(x[i])) << i;
      ASSERT_EQ(fp32_bits(back[i]), fp32_bits(fp16_to_fp32_scalar(h[i]))) << i;
      ASSERT_EQ(b[i], fp32_to_bf16(x[i])) << i;
      ASSERT_EQ(fp32_bits(back_b[i]), fp32_bits(bf16_to_fp32(b[i]))) << i;
    }
  }
  set_max_cpu_level(saved);
}

// Attention's weighted sum of f16 value rows: at every level the same bits as the scalar loop
// (one fused multiply-add a term, in key order), for any number of query rows and head size.
TEST(Fp16, WeightedSumOfValueRowsAtEveryLevel) {
  const int64_t n_keys = 37, stride = 200;  // value rows inside wider cache rows
  std::vector<uint16_t> v(static_cast<size_t>(n_keys * stride));
  fp32_to_fp16_row(test::weight_like(n_keys * stride, 11).data(), v.data(), n_keys * stride);
  const std::vector<float> w = test::weight_like(5 * 64, 12);  // 5 rows of weights, 64 apart
  const std::vector<float> start = test::weight_like(5 * 160, 13);
  const CpuLevel saved = active_cpu_level();
  for (int64_t n : {1, 8, 16, 31, 32, 40, 56, 128, 160}) {
    for (int64_t rows = 1; rows <= 5; ++rows) {
      std::vector<std::vector<float>> out;
      for (CpuLevel level : {detected_cpu_level(), CpuLevel::REF}) {
        set_max_cpu_level(level);
        out.push_back(start);
        fp16_weighted_sum(v.data(), stride, n_keys, n, w.data(), 64, out.back().data(), 160, rows);
      }
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t d = 0; d < n; ++d) {
          float want = start[r * 160 + d];
          for (int64_t j = 0; j < n_keys; ++j) want = std::fma(w[r * 64 + j], fp16_to_fp32_scalar(v[j * stride + d]), want);
          ASSERT_EQ(fp32_bits(out[0][r * 160 + d]), fp32_bits(want)) << "n=" << n << " rows=" << rows << " " << r << "," << d;
          ASSERT_EQ(fp32_bits(out[1][r * 160 + d]), fp32_bits(want)) << "n=" << n << " rows=" << rows << " " << r << "," << d;
        }
      for (int64_t r = 0; r < 5; ++r)  // nothing past n values or n_rows rows is written
        for (int64_t d = r < rows ? n : 0; d < 160; ++d)
          ASSERT_EQ(out[0][r * 160 + d], start[r * 160 + d]) << "n=" << n << " rows=" << rows << " " << r << "," << d;
    }
  }
  set_max_cpu_level(saved);
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
