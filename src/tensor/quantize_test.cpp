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
// taken from llama.cpp (ggml-quants.c at c392e50, Feb 2025; the types from Q4_1 on from the
// Sept 2026 tree through ggml_quantize_chunk, which is what llama-quantize calls). A mismatch
// means a file we write would differ from one llama.cpp writes.
struct Golden {
  GgmlType type;
  uint64_t quantised;
  uint64_t dequantised;
};
const Golden kGolden[] = {
    {GgmlType::Q4_0, 0xc9e803bad0f5b1deull, 0x6d707ff27e06ff57ull},
    {GgmlType::Q8_0, 0x7e2d15664ef2f197ull, 0x130fc43ada664d54ull},
    {GgmlType::Q4_1, 0x2cee4e1edc80a0d6ull, 0xe5656a5c15acc6ceull},
    {GgmlType::Q5_0, 0xfecd2f34c46945b3ull, 0x10ec8ca880c21905ull},
    {GgmlType::Q5_1, 0xa03b345bf7f3debcull, 0x0cbca87f2969c813ull},
    {GgmlType::Q2_K, 0x42a85c9459b22172ull, 0x7d95f54d8608a0beull},
    {GgmlType::Q3_K, 0x60d90f938f7e06cdull, 0xbf2bbc93f4d12d36ull},
    {GgmlType::IQ4_NL, 0x76bf8d209cf76b63ull, 0xe308f8825d364beeull},
    {GgmlType::IQ4_XS, 0xe8f147bb3c630c08ull, 0x988f7f6d9e76d6d5ull},
    {GgmlType::MXFP4, 0xc71350634e00bdddull, 0xf752460488abc70bull},
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

// Q8_1 holds activations only: ggml has no to_float for it, so only the quantised bytes.
TEST(Quantize, Q8_1BitExactWithLlamaCpp) {
  const auto q = quantize(GgmlType::Q8_1, test::weight_like(256 * 64, 42));
  EXPECT_EQ(test::fnv1a(q.data(), q.size()), 0xfd14394b955ea296ull);
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

// Hand-written blocks of the formats with a twist: Q5_0's fifth bits, MXFP4's E8M0 scale and
// FP4 codes, IQ4_NL's level table.
TEST(Quantize, HandBuiltQ5_0MxFp4Iq4NlBlocks) {
  std::vector<float> y(32);
  BlockQ5_0 q5{};
  q5.d = fp32_to_fp16(0.5f);
  q5.qs[0] = 0x3F;   // value 0: low nibble 15, value 16: 3
  q5.qh[0] = 0x01;   // value 0 gets the fifth bit: 31
  q5.qh[2] = 0x01;   // value 16 too: 19
  dequantize_row_q5_0(&q5, y.data(), 32);
  EXPECT_EQ(y[0], (31 - 16) * 0.5f);
  EXPECT_EQ(y[16], (19 - 16) * 0.5f);
  EXPECT_EQ(y[1], -16 * 0.5f);

  BlockMXFP4 m{};
  m.e = 127 + 1;      // 2^1, halved: each level counts 1
  m.qs[0] = 0xF7;     // value 0: code 7 = +6 (doubled 12), value 16: code 15 = -6
  dequantize_row_mxfp4(&m, y.data(), 32);
  EXPECT_EQ(y[0], 12.0f);
  EXPECT_EQ(y[16], -12.0f);
  EXPECT_EQ(e8m0_to_fp32_half(0), 0x1p-128f);
  EXPECT_EQ(e8m0_to_fp32_half(254), 0x1p126f);

  BlockIQ4_NL nl{};
  nl.d = fp32_to_fp16(2.0f);
  nl.qs[3] = 0x0F;
  dequantize_row_iq4_nl(&nl, y.data(), 32);
  EXPECT_EQ(y[3], 2.0f * 113);
  EXPECT_EQ(y[19], 2.0f * -127);
}

TEST(Quantize, AllZeroInputGivesZeroOutput) {
  const std::vector<float> x(512, 0.0f);
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::Q8_K,
                     GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_1, GgmlType::Q2_K, GgmlType::Q3_K,
                     GgmlType::IQ4_NL, GgmlType::IQ4_XS, GgmlType::MXFP4}) {
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
      {GgmlType::Q8_1, 7e-3},   {GgmlType::Q5_1, 4e-2},  {GgmlType::Q5_0, 4.5e-2},
      {GgmlType::Q4_1, 8.5e-2}, {GgmlType::IQ4_NL, 8.5e-2}, {GgmlType::IQ4_XS, 8.5e-2},
      {GgmlType::MXFP4, 1.3e-1}, {GgmlType::Q3_K, 1.6e-1}, {GgmlType::Q2_K, 3.2e-1},
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
                     GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::Q8_K, GgmlType::Q4_1,
                     GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_1, GgmlType::Q2_K, GgmlType::Q3_K,
                     GgmlType::IQ4_NL, GgmlType::IQ4_XS, GgmlType::MXFP4}) {
    const TypeTraits& tr = type_traits(t);
    EXPECT_NE(tr.to_float, nullptr) << type_name(t);
    EXPECT_NE(tr.from_float, nullptr) << type_name(t);
  }
  EXPECT_EQ(type_traits(GgmlType::Q4_K).vec_dot_type, GgmlType::Q8_K);
  EXPECT_EQ(type_traits(GgmlType::Q4_0).vec_dot_type, GgmlType::Q8_0);
  EXPECT_EQ(row_size(GgmlType::Q6_K, 512), 420u);
  EXPECT_EQ(type_traits(GgmlType::Q4_1).vec_dot_type, GgmlType::Q8_1);
  EXPECT_EQ(type_traits(GgmlType::Q5_1).vec_dot_type, GgmlType::Q8_1);
  EXPECT_EQ(type_traits(GgmlType::Q5_0).vec_dot_type, GgmlType::Q8_0);
  EXPECT_EQ(type_traits(GgmlType::IQ4_NL).vec_dot_type, GgmlType::Q8_0);
  EXPECT_EQ(type_traits(GgmlType::MXFP4).vec_dot_type, GgmlType::Q8_0);
  EXPECT_EQ(type_traits(GgmlType::Q2_K).vec_dot_type, GgmlType::Q8_K);
  EXPECT_EQ(type_traits(GgmlType::Q3_K).vec_dot_type, GgmlType::Q8_K);
  EXPECT_EQ(type_traits(GgmlType::IQ4_XS).vec_dot_type, GgmlType::Q8_K);
  EXPECT_EQ(row_size(GgmlType::IQ4_XS, 512), 272u);
  EXPECT_EQ(row_size(GgmlType::MXFP4, 64), 34u);
  EXPECT_STREQ(type_name(GgmlType::IQ4_NL), "iq4_nl");
}

}  // namespace
}  // namespace swapmoe
