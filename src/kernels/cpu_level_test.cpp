// Run-time kernel choice: capping the CPU level (set_max_cpu_level, SWAPMOE_CPU) changes the
// kernels vec_dot_kernels reports, and the capped kernels still agree with the references.
#include <gtest/gtest.h>

#include <cstdlib>
#include <ostream>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/kernel_test_util.h"
#include "kernels/quantize_act.h"
#include "kernels/vec_dot.h"

namespace swapmoe {

// Test names and messages show "avx2", not a byte.
void PrintTo(CpuLevel l, std::ostream* os) { *os << cpu_level_name(l); }

namespace {

const GgmlType kLevelWeightTypes[] = {GgmlType::F32,    GgmlType::F16,    GgmlType::BF16,  GgmlType::Q8_0, GgmlType::Q4_0,
                                 GgmlType::Q4_K,   GgmlType::Q5_K,   GgmlType::Q6_K,  GgmlType::Q4_1, GgmlType::Q5_0,
                                 GgmlType::Q5_1,   GgmlType::IQ4_NL, GgmlType::MXFP4, GgmlType::Q2_K, GgmlType::Q3_K,
                                 GgmlType::IQ4_XS};

// Restores the level a test found.
struct LevelGuard {
  CpuLevel saved = active_cpu_level();
  ~LevelGuard() { set_max_cpu_level(saved); }
};

bool runs(CpuLevel l) { return static_cast<int>(l) <= static_cast<int>(detected_cpu_level()); }

// The lowest level at which each flavour is chosen, from the variants list.
CpuLevel level_of_isa(GgmlType w, const std::string& isa) {
  NamedVecDot v[8];
  const int n = vec_dot_variants(w, v, 8);
  for (int i = 0; i < n; ++i) {
    if (isa == v[i].isa) return v[i].level;
  }
  ADD_FAILURE() << "kernel flavour " << isa << " is not in vec_dot_variants(" << type_name(w) << ")";
  return CpuLevel::REF;
}

// The kernels at the active level agree with the references (single and 4-row).
void expect_kernels_match_reference() {
  for (GgmlType w : kLevelWeightTypes) {
    const VecDotKernels& k = vec_dot_kernels(w);
    const GgmlType a = type_traits(w).vec_dot_type;
    const int64_t n = type_traits(a).block_size == 256 ? 2048 : 1024;
    const size_t rb = row_size(w, n);
    std::vector<uint8_t> rows(4 * rb);
    double mag = 0;
    const auto qa = test::quantized_row(a, n, 7, false);
    for (int r = 0; r < 4; ++r) {
      const auto qw = test::quantized_row(w, n, 30 + r, true);
      std::copy(qw.begin(), qw.begin() + rb, rows.begin() + r * rb);
      mag = std::max(mag, test::dot_truth(test::dequantized(w, qw, n), test::dequantized(a, qa, n)).magnitude);
    }
    float ref[4], got[4];
    for (int r = 0; r < 4; ++r) {
      k.ref(n, &ref[r], rows.data() + r * rb, qa.data());
      k.fast(n, &got[r], rows.data() + r * rb, qa.data());
      EXPECT_NEAR(got[r], ref[r], 2e-6 * mag) << type_name(w) << " " << k.isa;
    }
    if (k.x4) {
      k.x4(n, got, rows.data(), rb, qa.data());
      for (int r = 0; r < 4; ++r) EXPECT_NEAR(got[r], ref[r], 2e-6 * mag) << type_name(w) << " x4 " << k.isa;
    }
  }
  // Activation quantisers: the same bytes as the reference at every level.
  const auto x = test::weight_like(4096, 5);
  for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q8_K}) {
    std::vector<uint8_t> ref(row_size(t, 4096)), got(row_size(t, 4096));
    type_traits(t).from_float(x.data(), ref.data(), 4096);
    quantize_act_row(t, x.data(), got.data(), 4096);
    EXPECT_EQ(ref, got) << type_name(t) << " at " << cpu_level_name(active_cpu_level());
  }
}

// ---------------------------------------------------------------------------------------------
// capping, level by level, from the top

class CpuLevelCap : public testing::TestWithParam<CpuLevel> {};

TEST_P(CpuLevelCap, ChangesKernelsAndStillMatchesReference) {
  const CpuLevel level = GetParam();
  if (!runs(level)) GTEST_SKIP() << "this CPU lacks " << cpu_level_name(level) << ": " << cpu_description();
  LevelGuard guard;
  set_max_cpu_level(level);
  ASSERT_EQ(active_cpu_level(), level);
  EXPECT_NE(cpu_description().find(std::string("kernels: ") + cpu_level_name(level)), std::string::npos)
      << cpu_description();
  for (GgmlType w : kLevelWeightTypes) {
    const VecDotKernels& k = vec_dot_kernels(w);
    ASSERT_NE(k.fast, nullptr) << type_name(w);
    // Never above the cap.
    EXPECT_LE(static_cast<int>(level_of_isa(w, k.isa)), static_cast<int>(level)) << type_name(w) << " " << k.isa;
  }
  // The flavour each level is meant to bring, for the types it covers.
  const std::string q8 = vec_dot_kernels(GgmlType::Q8_0).isa, q4k = vec_dot_kernels(GgmlType::Q4_K).isa;
  switch (level) {
    case CpuLevel::REF: EXPECT_EQ(q8, "ref"); EXPECT_EQ(q4k, "ref"); break;
    case CpuLevel::AVX2: EXPECT_EQ(q8, "avx2"); EXPECT_EQ(q4k, "avx2"); break;
    case CpuLevel::AVX2_VNNI:
      EXPECT_EQ(q8.rfind("avx2_vnni", 0), 0u) << q8;
      EXPECT_EQ(q4k.rfind("avx2_vnni", 0), 0u) << q4k;
      EXPECT_NE(vec_dot_kernels(GgmlType::Q8_0).x4, nullptr);
      break;
    case CpuLevel::AVX512:
      EXPECT_EQ(q8, "avx512");
      EXPECT_EQ(q4k, "avx512");
      EXPECT_EQ(std::string(vec_dot_kernels(GgmlType::Q6_K).isa), "avx512");
      // Q3_K has no 512-bit kernel; its 256-bit one runs at this level.
      EXPECT_EQ(std::string(vec_dot_kernels(GgmlType::Q3_K).isa).rfind("avx2_vnni", 0), 0u);
      EXPECT_NE(vec_dot_kernels(GgmlType::Q8_0).x4, nullptr);
      EXPECT_NE(vec_dot_kernels(GgmlType::Q4_K).t4, nullptr);
      break;
    case CpuLevel::NEON: EXPECT_EQ(q8, "neon"); break;
    case CpuLevel::NEON_DOTPROD: EXPECT_EQ(q8, "neon_dotprod"); break;
  }
  if (level == CpuLevel::REF || level == CpuLevel::AVX2) {
    EXPECT_EQ(vec_dot_kernels(GgmlType::Q8_0).x4, nullptr);
  }
  expect_kernels_match_reference();
}

#if defined(__x86_64__)
INSTANTIATE_TEST_SUITE_P(X86, CpuLevelCap,
                         testing::Values(CpuLevel::AVX512, CpuLevel::AVX2_VNNI, CpuLevel::AVX2, CpuLevel::REF),
                         [](const auto& info) { return std::string(cpu_level_name(info.param)); });
#elif defined(__aarch64__)
INSTANTIATE_TEST_SUITE_P(Arm, CpuLevelCap, testing::Values(CpuLevel::NEON_DOTPROD, CpuLevel::NEON, CpuLevel::REF),
                         [](const auto& info) { return std::string(cpu_level_name(info.param)); });
#else
INSTANTIATE_TEST_SUITE_P(Other, CpuLevelCap, testing::Values(CpuLevel::REF),
                         [](const auto& info) { return std::string(cpu_level_name(info.param)); });
#endif

TEST(CpuLevel, CapAboveTheCpuGivesTheCpu) {
  LevelGuard guard;
#if defined(__x86_64__)
  set_max_cpu_level(CpuLevel::AVX512);
  EXPECT_EQ(active_cpu_level(), detected_cpu_level());
  EXPECT_THROW(set_max_cpu_level(CpuLevel::NEON), Error);
#elif defined(__aarch64__)
  set_max_cpu_level(CpuLevel::NEON_DOTPROD);
  EXPECT_EQ(active_cpu_level(), detected_cpu_level());
  EXPECT_THROW(set_max_cpu_level(CpuLevel::AVX2), Error);
#endif
  set_max_cpu_level(CpuLevel::REF);
  EXPECT_EQ(active_cpu_level(), CpuLevel::REF);
  EXPECT_NE(cpu_description().find("(capped)"), std::string::npos) << cpu_description();
}

TEST(CpuLevel, Parse) {
  EXPECT_EQ(parse_cpu_level("ref"), CpuLevel::REF);
  EXPECT_EQ(parse_cpu_level("native"), detected_cpu_level());
  EXPECT_EQ(parse_cpu_level("bogus"), std::nullopt);
  EXPECT_EQ(parse_cpu_level(""), std::nullopt);
#if defined(__x86_64__)
  EXPECT_EQ(parse_cpu_level("avx2"), CpuLevel::AVX2);
  EXPECT_EQ(parse_cpu_level("AVX512"), CpuLevel::AVX512);
  EXPECT_EQ(parse_cpu_level("avx2-vnni"), CpuLevel::AVX2_VNNI);
  EXPECT_EQ(parse_cpu_level("neon"), std::nullopt);  // another architecture
#elif defined(__aarch64__)
  EXPECT_EQ(parse_cpu_level("neon"), CpuLevel::NEON);
  EXPECT_EQ(parse_cpu_level("avx2"), std::nullopt);
#endif
}

// ---------------------------------------------------------------------------------------------
// SWAPMOE_CPU, read at first use: checked in a fresh process (the threadsafe death-test child
// re-runs this binary with only this test, so the variable is set before any kernel is used).

TEST(CpuLevelDeathTest, EnvironmentCapsAtFirstUse) {
  if (!runs(CpuLevel::AVX2) && !runs(CpuLevel::NEON)) GTEST_SKIP() << "no SIMD level on this CPU to cap";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
#if defined(__x86_64__)
  const char* want = "avx2";
#else
  const char* want = "neon";
#endif
  setenv("SWAPMOE_CPU", want, 1);
  EXPECT_EXIT(std::exit(std::string(vec_dot_kernels(GgmlType::Q8_0).isa) == want &&
                                cpu_level_name(active_cpu_level()) == std::string(want)
                            ? 0
                            : 1),
              testing::ExitedWithCode(0), "");
  setenv("SWAPMOE_CPU", "ref", 1);
  EXPECT_EXIT(std::exit(std::string(vec_dot_kernels(GgmlType::Q4_K).isa) == "ref" ? 0 : 1),
              testing::ExitedWithCode(0), "");
  // Invalid: reported once on stderr, then the detected level.
  setenv("SWAPMOE_CPU", "pentium", 1);
  EXPECT_EXIT(std::exit(active_cpu_level() == detected_cpu_level() ? 0 : 1), testing::ExitedWithCode(0),
              "SWAPMOE_CPU=pentium is not a CPU level");
  unsetenv("SWAPMOE_CPU");
}

}  // namespace
}  // namespace swapmoe
