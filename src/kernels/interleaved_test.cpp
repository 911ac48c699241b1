// The interleaved kernels: every flavour this CPU runs against the reference, bit for bit, and
// the reference against the plain one-row dot product of the same rows.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/kernel_test_util.h"
#include "kernels/vec_dot.h"
#include "tensor/cpu_level.h"
#include "tensor/interleave.h"

namespace swapmoe {
namespace {

// Each interleaved type: its file type, its activations, the plain one-row reference, lengths.
struct X8Case {
  GgmlType stored, x8, act;
  VecDotFn plain_ref;
  std::vector<int64_t> lengths;
};
const X8Case kX8Cases[] = {
    {GgmlType::Q4_0, GgmlType::Q4_0_X8, GgmlType::Q8_0, vec_dot_q4_0_q8_0_ref, {32, 64, 96, 160, 2048, 4128}},
    {GgmlType::Q8_0, GgmlType::Q8_0_X8, GgmlType::Q8_0, vec_dot_q8_0_q8_0_ref, {32, 64, 96, 160, 2048, 4128}},
    {GgmlType::Q4_K, GgmlType::Q4_K_X8, GgmlType::Q8_K, vec_dot_q4_K_q8_K_ref, {256, 512, 768, 2816}},
    {GgmlType::Q6_K, GgmlType::Q6_K_X8, GgmlType::Q8_K, vec_dot_q6_K_q8_K_ref, {256, 512, 768, 2816}},
};

struct Group {
  std::vector<uint8_t> plain, x8;  // 8 rows
};

Group random_group(const X8Case& k, int64_t n, uint64_t seed) {
  Group g;
  const size_t row = row_size(k.stored, n);
  g.plain.resize(row * kInterleaveRows + 64);
  for (int r = 0; r < kInterleaveRows; ++r) {
    const auto q = test::quantized_row(k.stored, n, seed + r, true);
    std::memcpy(g.plain.data() + r * row, q.data(), row);
  }
  g.x8.resize(g.plain.size());
  interleave_rows(k.stored, g.plain.data(), g.x8.data(), n, kInterleaveRows);
  return g;
}

struct PreparedRow {
  std::vector<uint8_t> q;
  std::vector<float> d;
  std::vector<int32_t> offset;
  X8Activation view() const { return {q.data(), d.data(), offset.data()}; }
};

PreparedRow prepared(const X8Case& k, int64_t n, uint64_t seed) {
  PreparedRow p;
  p.q = test::quantized_row(k.act, n, seed, false);
  const int64_t nb = n / type_traits(k.x8).block_size;
  p.d.resize(nb);
  p.offset.resize(nb);
  prepare_x8_activation(k.x8, p.q.data(), n, p.d.data(), p.offset.data());
  return p;
}

TEST(Interleaved, ReferenceEqualsThePlainDotProduct) {
  for (const X8Case& k : kX8Cases) {
    const InterleavedKernels ref = [&] {
      InterleavedKernels v[8];
      return v[interleaved_kernel_variants(k.x8, v, 8) - 1];
    }();
    for (int64_t n : k.lengths) {
      const Group g = random_group(k, n, 11 * n);
      const PreparedRow y = prepared(k, n, 5 * n);
      float s[kInterleaveRows];
      ref.gemv(n, s, g.x8.data(), y.view());
      for (int r = 0; r < kInterleaveRows; ++r) {
        float plain;
        k.plain_ref(n, &plain, g.plain.data() + r * row_size(k.stored, n), y.q.data());
        EXPECT_NEAR(s[r], plain, 1e-5f * (1 + std::fabs(plain))) << type_name(k.x8) << " n " << n << " row " << r;
      }
    }
  }
}

TEST(Interleaved, EveryFlavourEqualsTheReferenceBitForBit) {
  for (const X8Case& k : kX8Cases) {
    InterleavedKernels variants[8];
    const int nv = interleaved_kernel_variants(k.x8, variants, 8);
    ASSERT_GE(nv, 1);
    EXPECT_STREQ(variants[nv - 1].isa, "ref");
    for (int64_t n : k.lengths) {
      const Group g = random_group(k, n, 3 * n);
      PreparedRow ys[4] = {prepared(k, n, 1), prepared(k, n, 2), prepared(k, n, 3), prepared(k, n, 4)};
      const X8Activation views[4] = {ys[0].view(), ys[1].view(), ys[2].view(), ys[3].view()};
      float want[4 * kInterleaveRows];
      for (int t = 0; t < 4; ++t) variants[nv - 1].gemv(n, want + t * kInterleaveRows, g.x8.data(), views[t]);
      for (int v = 0; v < nv; ++v) {
        const std::string what = std::string(type_name(k.x8)) + " " + variants[v].isa + ", n " + std::to_string(n);
        float one[kInterleaveRows], four[4 * kInterleaveRows];
        variants[v].gemv(n, one, g.x8.data(), views[2]);
        EXPECT_EQ(0, std::memcmp(one, want + 2 * kInterleaveRows, sizeof one)) << what << " gemv";
        variants[v].gemm4(n, four, g.x8.data(), views);
        EXPECT_EQ(0, std::memcmp(four, want, sizeof four)) << what << " gemm4";
      }
    }
  }
}

TEST(Interleaved, OnlyQ4_0Q8_0Q4_KAndQ6_KAreInterleavedAndTheActiveKernelsAreComplete) {
  EXPECT_TRUE(can_compute(GgmlType::Q4_0_X8));
  const InterleavedKernels& k = interleaved_kernels(GgmlType::Q4_0_X8);
  EXPECT_NE(k.gemv, nullptr);
  EXPECT_NE(k.gemm4, nullptr);
  EXPECT_NE(interleaved_kernels(GgmlType::Q4_K_X8).gemv, nullptr);
  EXPECT_NE(interleaved_kernels(GgmlType::Q6_K_X8).gemm4, nullptr);
  EXPECT_NE(interleaved_kernels(GgmlType::Q8_0_X8).gemm4, nullptr);
  EXPECT_EQ(interleaved_kernels(GgmlType::Q8_0).gemv, nullptr);
  EXPECT_FALSE(interleaving_pays(GgmlType::Q5_0, 256, 8));
  // Each type is rearranged where the active level has SIMD kernels for its interleaved form.
  for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q6_K})
    EXPECT_EQ(interleaving_pays(t, 256, 8), std::strcmp(interleaved_kernels(interleaved_type(t)).isa, "ref") != 0)
        << type_name(t);
#if defined(__aarch64__)
  // arm64 with dotprod (qemu's CPU has it): NEON kernels for all four, whose rows are then
  // rearranged. Capped to plain NEON, none.
  if (cpu_features().dotprod && active_cpu_level() == CpuLevel::NEON_DOTPROD) {
    for (GgmlType t : {GgmlType::Q4_0_X8, GgmlType::Q8_0_X8, GgmlType::Q4_K_X8, GgmlType::Q6_K_X8})
      EXPECT_STREQ(interleaved_kernels(t).isa, "neon_dotprod") << type_name(t);
  }
  if (active_cpu_level() == CpuLevel::NEON) EXPECT_FALSE(interleaving_pays(GgmlType::Q4_0, 256, 8));
#endif
  EXPECT_FALSE(interleaving_pays(GgmlType::Q4_0, 256, 12));  // rows not in whole groups
  EXPECT_FALSE(interleaving_pays(GgmlType::Q4_K, 128, 8));   // not whole super-blocks
}

}  // namespace
}  // namespace swapmoe
