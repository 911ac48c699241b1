// Reference (de)quantisation: golden hashes from llama.cpp, hand-built blocks, error bounds.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tensor/fp16.h"
#include "tensor/ggml_type.h"
#include "tensor/quant_blocks.h"
#include "tensor/quantize.h"
#include "tensor/test_data.h"

namespace swapmoe {
namespace {

std::vector<uint8_t> quantize(GgmlType type, const std::vector<float>& x) {
  const auto n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(row_size(type, n));
  type_traits(type).from_float(x.data(), q.data(), n);
  return q;
}

std::vector<float> dequantize(GgmlType type, const std::vector<uint8_t>& q, int64_t n) {
  std::vector<float> y(n);
  type_traits(type).to_float(q.data(), y.data(), n);
  return y;
}

// Fingerprints of ggml's quantize_row_*_ref / to_float on test::weight_like(16384, 42),
// taken from llama.cpp (ggml-quants.c at c392e50, Feb 2025). A mismatch means a file we write
// would differ from one llama.cpp writes.
struct Golden {
  GgmlType type;
  uint64_t quantised;
  uint64_t dequantised;
};
const Golden kGolden[] = {
    {GgmlType::Q4_0, 0xc9e803bad0f5b1deull, 0x6d707ff27e06ff57ull},
    {GgmlType::Q8_0, 0x7e2d15664ef2f197ull, 0x130fc43ada664d54ull},
    {GgmlType::Q4_K, 0xa5402ad53efc529bull, 0xfb73167fcd560579ull},
    {GgmlType::Q5_K, 0xd1c1ed5565096684ull, 0x13449451870f9d33ull},
    {GgmlType::Q6_K, 0x9f96ca68afbf8946ull, 0x60f31d7e447bdfddull},
    {GgmlType::Q8_K, 0x8a11e629af6b02a9ull, 0xf6415bc0793a5407ull},
    {GgmlType::F16, 0x218f82714bf7462eull, 0x3bd61ec15a9e8b2eull},
    {GgmlType::BF16, 0xcaf5496c9c723f2bull, 0xe65c2fe51d24e883ull},
};

TEST(Quantize, BitExactWithLlamaCpp) {
  const int64_t n = 256 * 64;
  const auto x = test::weight_like(n, 42);
  for (const Golden& g : kGolden) {
    SCOPED_TRACE(type_name(g.type));
    const auto q = quantize(g.type, x);
    EXPECT_EQ(test::fnv1a(q.data(), q.size()), g.quantised);
    const auto y = dequantize(g.type, q, n);
    EXPECT_EQ(test::fnv1a(y.data(), y.size() * sizeof(float)), g.dequantised);
  }
}

TEST(Quantize, HandBuiltQ8_0Block) {
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i - 16) * 0.25f;  // amax = 4 at i = 0
  const auto q = quantize(GgmlType::Q8_0, x);
  BlockQ8_0 b;
  std::memcpy(&b, q.data(), sizeof b);
  EXPECT_EQ(b.d, fp32_to_fp16(4.0f / 127));
  EXPECT_EQ(b.qs[0], -127);
  EXPECT_EQ(b.qs[16], 0);
  EXPECT_EQ(b.qs[17], 8);    // 0.25 * 127/4 = 7.94
  EXPECT_EQ(b.qs[18], 16);   // 15.875 -> 16
  EXPECT_EQ(b.qs[31], 119);  // 3.75 * 31.75 = 119.06

  // And the other way: a hand-written block dequantises to d * q.
  BlockQ8_0 h{};
  h.d = fp32_to_fp16(0.5f);
  for (int i = 0; i < 32; ++i) h.qs[i] = static_cast<int8_t>(i * 4 - 64);
  std::vector<float> y(32);
  dequantize_row_q8_0(&h, y.data(), 32);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(y[i], static_cast<float>(i * 4 - 64) * 0.5f);
}

TEST(Quantize, HandBuiltQ4_0Block) {
  std::vector<float> x(32, 0.0f);
  x[0] = -8.0f;  // largest magnitude, negative: d = 1
  x[1] = 7.0f;
  x[16] = 3.4f;
  const auto q = quantize(GgmlType::Q4_0, x);
  BlockQ4_0 b;
  std::memcpy(&b, q.data(), sizeof b);
  EXPECT_EQ(b.d, fp32_to_fp16(1.0f));
  EXPECT_EQ(b.qs[0] & 0xF, 0);     // -8 + 8
  EXPECT_EQ(b.qs[1] & 0xF, 15);    // 7 + 8
  EXPECT_EQ(b.qs[0] >> 4, 11);     // 3.4 + 8.5 -> 11
  EXPECT_EQ(b.qs[2], 0x88);        // zeros
}

TEST(Quantize, AllZeroInputGivesZeroOutput) {
  const std::vector<float> x(512, 0.0f);
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::Q8_K}) {
    const auto y = dequantize(t, quantize(t, x), 512);
    for (float v : y) ASSERT_EQ(v, 0.0f) << type_name(t);
  }
}

// Relative RMS error of a round trip on smooth gaussian-like data, per type. The bounds sit a
// little above what each format achieves (bits per weight set the order of magnitude).
TEST(Quantize, RoundTripErrorBounds) {
  struct Bound {
    GgmlType type;
    double max_rel_rms;
  };
  const Bound bounds[] = {
      {GgmlType::F32, 0.0},     {GgmlType::F16, 5e-4},   {GgmlType::BF16, 4e-3},
      {GgmlType::Q8_0, 7e-3},   {GgmlType::Q8_K, 7e-3},  {GgmlType::Q6_K, 2e-2},
      {GgmlType::Q5_K, 3.5e-2}, {GgmlType::Q4_K, 7e-2},  {GgmlType::Q4_0, 1.1e-1},
  };
  const int64_t n = 256 * 32;
  test::XorShift rng(5);
  std::vector<float> x(n);
  for (auto& v : x) v = rng.symmetric() + rng.symmetric() + rng.symmetric();  // bell-shaped
  for (const Bound& b : bounds) {
    const auto y = dequantize(b.type, quantize(b.type, x), n);
    double err = 0, ref = 0;
    for (int64_t i = 0; i < n; ++i) {
      err += (double(y[i]) - x[i]) * (double(y[i]) - x[i]);
      ref += double(x[i]) * x[i];
    }
    const double rel = std::sqrt(err / ref);
    EXPECT_LE(rel, b.max_rel_rms) << type_name(b.type);
    if (b.type != GgmlType::F32) {
      EXPECT_GT(rel, b.max_rel_rms / 4) << type_name(b.type) << ": bound too loose";
    }
  }
}

TEST(TypeTraits, RowsFilled) {
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q4_0, GgmlType::Q8_0,
                     GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::Q8_K}) {
    const TypeTraits& tr = type_traits(t);
    EXPECT_NE(tr.to_float, nullptr) << type_name(t);
    EXPECT_NE(tr.from_float, nullptr) << type_name(t);
  }
  EXPECT_EQ(type_traits(GgmlType::Q4_K).vec_dot_type, GgmlType::Q8_K);
  EXPECT_EQ(type_traits(GgmlType::Q4_0).vec_dot_type, GgmlType::Q8_0);
  EXPECT_EQ(row_size(GgmlType::Q6_K, 512), 420u);
}

}  // namespace
}  // namespace swapmoe
