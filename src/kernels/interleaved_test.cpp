// The interleaved kernels: every flavour this CPU runs against the reference, bit for bit, and
// the reference against the plain one-row Q4_0 dot product of the same rows.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/kernel_test_util.h"
#include "kernels/vec_dot.h"
#include "tensor/interleave.h"

namespace swapmoe {
namespace {

struct Group {
  std::vector<uint8_t> plain, x8;  // 8 rows
};

Group random_group(int64_t n, uint64_t seed) {
  Group g;
  const size_t row = row_size(GgmlType::Q4_0, n);
  g.plain.resize(row * kInterleaveRows + 64);
  for (int r = 0; r < kInterleaveRows; ++r) {
    const auto q = test::quantized_row(GgmlType::Q4_0, n, seed + r, true);
    std::memcpy(g.plain.data() + r * row, q.data(), row);
  }
  g.x8.resize(g.plain.size());
  interleave_rows(GgmlType::Q4_0, g.plain.data(), g.x8.data(), n, kInterleaveRows);
  return g;
}

struct PreparedRow {
  std::vector<uint8_t> q;
  std::vector<float> d;
  std::vector<int32_t> offset;
  X8Activation view() const { return {q.data(), d.data(), offset.data()}; }
};

PreparedRow prepared(int64_t n, uint64_t seed) {
  PreparedRow p;
  p.q = test::quantized_row(GgmlType::Q8_0, n, seed, false);
  p.d.resize(n / QK8_0);
  p.offset.resize(n / QK8_0);
  prepare_x8_activation(GgmlType::Q4_0_X8, p.q.data(), n, p.d.data(), p.offset.data());
  return p;
}

const int64_t kLengths[] = {32, 64, 96, 160, 2048, 4128};

TEST(Interleaved, ReferenceEqualsThePlainDotProduct) {
  for (int64_t n : kLengths) {
    const Group g = random_group(n, 11 * n);
    const PreparedRow y = prepared(n, 5 * n);
    float s[kInterleaveRows];
    gemv_q4_0x8_ref(n, s, g.x8.data(), y.view());
    for (int r = 0; r < kInterleaveRows; ++r) {
      float plain;
      vec_dot_q4_0_q8_0_ref(n, &plain, g.plain.data() + r * row_size(GgmlType::Q4_0, n), y.q.data());
      EXPECT_NEAR(s[r], plain, 1e-5f * (1 + std::fabs(plain))) << "n " << n << " row " << r;
    }
  }
}

TEST(Interleaved, EveryFlavourEqualsTheReferenceBitForBit) {
  InterleavedKernels variants[8];
  const int nv = interleaved_kernel_variants(GgmlType::Q4_0_X8, variants, 8);
  ASSERT_GE(nv, 1);
  EXPECT_STREQ(variants[nv - 1].isa, "ref");
  for (int64_t n : kLengths) {
    const Group g = random_group(n, 3 * n);
    PreparedRow ys[4] = {prepared(n, 1), prepared(n, 2), prepared(n, 3), prepared(n, 4)};
    const X8Activation views[4] = {ys[0].view(), ys[1].view(), ys[2].view(), ys[3].view()};
    float want[4 * kInterleaveRows];
    for (int t = 0; t < 4; ++t) gemv_q4_0x8_ref(n, want + t * kInterleaveRows, g.x8.data(), views[t]);
    for (int v = 0; v < nv; ++v) {
      float one[kInterleaveRows], four[4 * kInterleaveRows];
      variants[v].gemv(n, one, g.x8.data(), views[2]);
      EXPECT_EQ(0, std::memcmp(one, want + 2 * kInterleaveRows, sizeof one)) << variants[v].isa << " gemv, n " << n;
      variants[v].gemm4(n, four, g.x8.data(), views);
      EXPECT_EQ(0, std::memcmp(four, want, sizeof four)) << variants[v].isa << " gemm4, n " << n;
    }
  }
}

TEST(Interleaved, OnlyQ4_0IsInterleavedAndTheActiveKernelsAreComplete) {
  EXPECT_TRUE(can_compute(GgmlType::Q4_0_X8));
  const InterleavedKernels& k = interleaved_kernels(GgmlType::Q4_0_X8);
  EXPECT_NE(k.gemv, nullptr);
  EXPECT_NE(k.gemm4, nullptr);
  EXPECT_EQ(interleaved_kernels(GgmlType::Q8_0).gemv, nullptr);
  EXPECT_FALSE(interleaving_pays(GgmlType::Q8_0));
  EXPECT_EQ(interleaving_pays(GgmlType::Q4_0), std::strcmp(k.isa, "ref") != 0);
}

}  // namespace
}  // namespace swapmoe
