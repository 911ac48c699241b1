// Every compiled-in dot product this CPU runs against its scalar reference, and the references
// against a float64 dot of the dequantised rows.
#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

#include "kernels/kernel_test_util.h"
#include "kernels/vec_dot.h"

namespace swapmoe {
namespace {

const GgmlType kWeightTypes[] = {GgmlType::F32,    GgmlType::F16,    GgmlType::BF16,  GgmlType::Q8_0, GgmlType::Q4_0,
                                 GgmlType::Q4_K,   GgmlType::Q5_K,   GgmlType::Q6_K,  GgmlType::Q4_1, GgmlType::Q5_0,
                                 GgmlType::Q5_1,   GgmlType::IQ4_NL, GgmlType::MXFP4, GgmlType::Q2_K, GgmlType::Q3_K,
                                 GgmlType::IQ4_XS};

std::vector<int64_t> lengths(GgmlType w) {
  const int64_t bs = type_traits(type_traits(w).vec_dot_type).block_size;
  if (bs == 256) return {256, 512, 768, 2816, 4096};
  if (bs == 32) return {32, 64, 96, 160, 2048, 4128};
  return {1, 7, 8, 31, 32, 33, 100, 1024, 4099};  // float types: any length
}

TEST(VecDot, EveryWeightTypeHasKernels) {
  for (GgmlType w : kWeightTypes) {
    EXPECT_TRUE(can_compute(w)) << type_name(w);
    EXPECT_NE(vec_dot_kernels(w).fast, nullptr) << type_name(w);
    EXPECT_NE(vec_dot_kernels(w).ref, nullptr) << type_name(w);
  }
  for (GgmlType w : {GgmlType::Q8_K, GgmlType::Q8_1, GgmlType::I32, GgmlType::COUNT}) {
    EXPECT_FALSE(can_compute(w)) << type_name(w);
    EXPECT_EQ(vec_dot_kernels(w).fast, nullptr) << type_name(w);
  }
  EXPECT_EQ(supported_weight_types(),
            "f32, f16, bf16, q8_0, q4_0, q4_K, q5_K, q6_K, q4_1, q5_0, q5_1, iq4_nl, mxfp4, q2_K, q3_K, iq4_xs");
}

// In a fresh process (the death-test child re-runs this binary with only this test), the very
// first use of the kernels already finds every table filled: nothing registers at start-up.
TEST(VecDotDeathTest, CompleteAtFirstUse) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::exit(can_compute(GgmlType::Q8_0) && vec_dot_kernels(GgmlType::Q4_K).fast ? 0 : 1),
              testing::ExitedWithCode(0), "");
}

TEST(VecDot, ReferenceMatchesDequantisedDot) {
  for (GgmlType w : kWeightTypes) {
    const GgmlType a = type_traits(w).vec_dot_type;
    for (int64_t n : lengths(w)) {
      SCOPED_TRACE(std::string(type_name(w)) + " n=" + std::to_string(n));
      const auto qw = test::quantized_row(w, n, 11 + n, true);
      const auto qa = test::quantized_row(a, n, 12 + n, false);
      auto truth = test::dot_truth(test::dequantized(w, qw, n), test::dequantized(a, qa, n));
      truth.value += test::q8_1_sum_rounding(w, qw.data(), qa.data(), n);
      float r = 0;
      vec_dot_kernels(w).ref(n, &r, qw.data(), qa.data());
      EXPECT_NEAR(r, truth.value, 1e-6 * truth.magnitude + 1e-30);
    }
  }
}

TEST(VecDot, SimdMatchesReference) {
  for (GgmlType w : kWeightTypes) {
    const GgmlType a = type_traits(w).vec_dot_type;
    NamedVecDot variants[8];
    const int nv = vec_dot_variants(w, variants, 8);
    ASSERT_GE(nv, 1);
    for (int64_t n : lengths(w)) {
      for (uint64_t seed = 1; seed <= 3; ++seed) {
        const auto qw = test::quantized_row(w, n, seed * 100 + n, true);
        const auto qa = test::quantized_row(a, n, seed * 200 + n, false);
        const auto truth = test::dot_truth(test::dequantized(w, qw, n), test::dequantized(a, qa, n));
        float ref = 0;
        vec_dot_kernels(w).ref(n, &ref, qw.data(), qa.data());
        for (int v = 0; v < nv; ++v) {
          float got = 0;
          variants[v].fn(n, &got, qw.data(), qa.data());
          // Float accumulation in a different order: a few ulps of the sum of |terms|.
          EXPECT_NEAR(got, ref, 2e-6 * truth.magnitude + 1e-30)
              << type_name(w) << " " << variants[v].isa << " n=" << n << " seed=" << seed;
        }
      }
    }
  }
}

// A 4-row kernel against the reference on each of its rows.
void four_rows_match_reference(GgmlType w, VecDotX4Fn x4, const char* isa) {
  const GgmlType a = type_traits(w).vec_dot_type;
  for (int64_t n : lengths(w)) {
    const size_t rb = row_size(w, n) + 18;  // a stride that is not the row size
    std::vector<uint8_t> rows(4 * rb);
    float ref[4], got[4];
    const auto qa = test::quantized_row(a, n, 5 + n, false);
    std::vector<double> mag(4);
    for (int r = 0; r < 4; ++r) {
      const auto qw = test::quantized_row(w, n, 40 + r + n, true);
      std::copy(qw.begin(), qw.begin() + row_size(w, n), rows.begin() + r * rb);
      vec_dot_kernels(w).ref(n, &ref[r], rows.data() + r * rb, qa.data());
      mag[r] = test::dot_truth(test::dequantized(w, qw, n), test::dequantized(a, qa, n)).magnitude;
    }
    x4(n, got, rows.data(), rb, qa.data());
    for (int r = 0; r < 4; ++r) {
      EXPECT_NEAR(got[r], ref[r], 2e-6 * mag[r]) << type_name(w) << " " << isa << " n=" << n << " row " << r;
    }
  }
}

TEST(VecDot, FourRowKernelsMatchReference) {
  int n_tested = 0;
  for (GgmlType w : kWeightTypes) {
    NamedVecDot variants[8];
    const int nv = vec_dot_variants(w, variants, 8);
    for (int v = 0; v < nv; ++v) {
      if (!variants[v].x4) continue;
      ++n_tested;
      four_rows_match_reference(w, variants[v].x4, variants[v].isa);
    }
  }
  if (n_tested == 0) GTEST_SKIP() << "no 4-row kernel runs on this CPU";
}

// Four activation rows of n values in type a from seeds seed0, seed0 + step, ...
struct FourActs {
  FourActs(GgmlType a, int64_t n, uint64_t seed0, uint64_t step) {
    for (int t = 0; t < 4; ++t) {
      q[t] = test::quantized_row(a, n, seed0 + step * t, false);
      rows[t] = q[t].data();
    }
  }
  std::vector<uint8_t> q[4];
  const void* rows[4];
};

// Calls f(w, variant) for each compiled flavour of each weight type that has the kernel
// `member` (x4, t4, x4t4); returns how many it called.
template <typename Kernel, typename F>
int for_variants_with(Kernel NamedVecDot::*member, F f) {
  int n = 0;
  for (GgmlType w : kWeightTypes) {
    NamedVecDot variants[8];
    const int nv = vec_dot_variants(w, variants, 8);
    for (int v = 0; v < nv; ++v) {
      if (variants[v].*member) ++n, f(w, variants[v]);
    }
  }
  return n;
}

// A 4-row x 4-token kernel against the reference on each of its 16 dot products.
TEST(VecDot, FourByFourKernelsMatchReference) {
  const int n_tested = for_variants_with(&NamedVecDot::x4t4, [](GgmlType w, const NamedVecDot& variant) {
    const GgmlType a = type_traits(w).vec_dot_type;
    for (int64_t n : lengths(w)) {
      const size_t rb = row_size(w, n) + 18;  // a stride that is not the row size
      std::vector<uint8_t> rows(4 * rb);
      std::vector<uint8_t> qw[4];
      for (int i = 0; i < 4; ++i) {
        qw[i] = test::quantized_row(w, n, 60 + i + n, true);
        std::copy(qw[i].begin(), qw[i].begin() + row_size(w, n), rows.begin() + i * rb);
      }
      const FourActs qa(a, n, 70 + n, 1);
      float got[16];
      variant.x4t4(n, got, rows.data(), rb, qa.rows);
      for (int t = 0; t < 4; ++t) {
        for (int r = 0; r < 4; ++r) {
          float ref = 0;
          vec_dot_kernels(w).ref(n, &ref, rows.data() + r * rb, qa.rows[t]);
          const double mag = test::dot_truth(test::dequantized(w, qw[r], n), test::dequantized(a, qa.q[t], n)).magnitude;
          EXPECT_NEAR(got[t * 4 + r], ref, 2e-6 * mag)
              << type_name(w) << " " << variant.isa << " n=" << n << " row " << r << " token " << t;
        }
      }
    }
  });
  if (n_tested == 0) GTEST_SKIP() << "no 4x4 kernel runs on this CPU";
}

// A 4-token kernel against its flavour's one-token kernel on each token: bit-identical, so a
// token's result does not depend on the tokens batched with it.
TEST(VecDot, FourTokenKernelsEqualTheOneTokenKernel) {
  const int n_tested = for_variants_with(&NamedVecDot::t4, [](GgmlType w, const NamedVecDot& variant) {
    const GgmlType a = type_traits(w).vec_dot_type;
    for (int64_t n : lengths(w)) {
      for (uint64_t seed = 1; seed <= 3; ++seed) {
        const auto qw = test::quantized_row(w, n, seed * 300 + n, true);
        const FourActs qa(a, n, seed * 400 + n, 10);
        float got[4] = {};
        variant.t4(n, got, qw.data(), qa.rows);
        for (int t = 0; t < 4; ++t) {
          float one = 0, ref = 0;
          variant.fn(n, &one, qw.data(), qa.rows[t]);
          vec_dot_kernels(w).ref(n, &ref, qw.data(), qa.rows[t]);
          const double mag = test::dot_truth(test::dequantized(w, qw, n), test::dequantized(a, qa.q[t], n)).magnitude;
          EXPECT_EQ(got[t], one) << type_name(w) << " " << variant.isa << " n=" << n << " token " << t;
          EXPECT_NEAR(got[t], ref, 2e-6 * mag) << type_name(w) << " " << variant.isa << " n=" << n;
        }
      }
    }
  });
  if (n_tested == 0) GTEST_SKIP() << "no 4-token kernel runs on this CPU";
}

// Attention's f16 key kernels, every flavour this CPU runs: each of the 16 scores of 4 key rows
// x 4 queries against the f16 reference, and each query's 4 scores the same bits as those of
// the one-query kernel (a head's scores do not depend on the heads scored beside it).
TEST(VecDot, AttentionKeyKernelsMatchReferenceAndEachOther) {
  AttentionKeyKernels variants[8];
  const int nv = f16_key_kernel_variants(variants, 8);
  if (nv == 0) GTEST_SKIP() << "no attention key kernel runs on this CPU";
  for (int v = 0; v < nv; ++v) {
    for (int64_t n : {8, 16, 24, 32, 64, 100, 128, 192, 576}) {  // head sizes; 100 and 24 have tails
      const size_t rb = row_size(GgmlType::F16, n) + 64;     // rows of a cache holding more heads
      std::vector<uint8_t> rows(4 * rb);
      std::vector<uint8_t> k[4];
      for (int r = 0; r < 4; ++r) {
        k[r] = test::quantized_row(GgmlType::F16, n, 500 + r + n, true);
        std::copy(k[r].begin(), k[r].end(), rows.begin() + r * rb);
      }
      const FourActs q(GgmlType::F32, n, 600 + n, 3);
      float four[16], one[4];
      variants[v].x4t4(n, four, rows.data(), rb, q.rows);
      for (int t = 0; t < 4; ++t) {
        variants[v].x4(n, one, rows.data(), rb, q.rows[t]);
        for (int r = 0; r < 4; ++r) {
          float ref = 0;
          vec_dot_kernels(GgmlType::F16).ref(n, &ref, rows.data() + r * rb, q.rows[t]);
          const double mag = test::dot_truth(test::dequantized(GgmlType::F16, k[r], n),
                                             test::dequantized(GgmlType::F32, q.q[t], n)).magnitude;
          EXPECT_NEAR(four[t * 4 + r], ref, 2e-6 * mag) << variants[v].isa << " n=" << n << " key " << r << " query " << t;
          EXPECT_EQ(four[t * 4 + r], one[r]) << variants[v].isa << " n=" << n << " key " << r << " query " << t;
        }
      }
    }
  }
}

// The dispatcher pairs a 4-token kernel only with the one-token kernel of its flavour.
TEST(VecDot, FourTokenKernelComesWithItsFlavoursOneTokenKernel) {
  for (GgmlType w : kWeightTypes) {
    NamedVecDot variants[8];
    const int nv = vec_dot_variants(w, variants, 8);
    const VecDotKernels& k = vec_dot_kernels(w);
    for (int v = 0; v < nv; ++v) {
      if (variants[v].fn == k.fast) {
        EXPECT_EQ(variants[v].t4, k.t4) << type_name(w);
      }
    }
  }
}

// Extreme quants: all weights at the ends of their range, activations at +-127.
TEST(VecDot, SaturationEdges) {
  for (GgmlType w : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::Q4_1,
                     GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::IQ4_NL, GgmlType::MXFP4, GgmlType::Q2_K, GgmlType::Q3_K,
                     GgmlType::IQ4_XS}) {
    const GgmlType a = type_traits(w).vec_dot_type;
    const int64_t n = 1024;
    std::vector<float> xw(n), xa(n);
    for (int64_t i = 0; i < n; ++i) {
      xw[i] = (i % 3 == 0) ? -1.0f : 1.0f;
      xa[i] = (i % 5 == 0) ? -1.0f : 1.0f;
    }
    std::vector<uint8_t> qw(row_size(w, n)), qa(row_size(a, n));
    type_traits(w).from_float(xw.data(), qw.data(), n);
    type_traits(a).from_float(xa.data(), qa.data(), n);
    float ref = 0;
    vec_dot_kernels(w).ref(n, &ref, qw.data(), qa.data());
    NamedVecDot variants[8];
    const int nv = vec_dot_variants(w, variants, 8);
    for (int v = 0; v < nv; ++v) {
      float got = 0;
      variants[v].fn(n, &got, qw.data(), qa.data());
      EXPECT_NEAR(got, ref, 1e-5 * n) << type_name(w) << " " << variants[v].isa;
    }
  }
}

}  // namespace
}  // namespace swapmoe
