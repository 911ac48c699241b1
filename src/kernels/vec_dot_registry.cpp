// Picks the dot-product kernel per weight type for this build (the ISA is fixed at compile
// time by -march) and stores it in the traits table before main() runs.
#include <array>

#include "kernels/vec_dot.h"

namespace swapmoe {

namespace {

#if defined(SWAPMOE_HAVE_AVX512_KERNELS)
#define AVX512(f) f##_avx512
#else
#define AVX512(f) nullptr
#endif
#if defined(SWAPMOE_HAVE_AVX2_KERNELS)
#define AVX2(f) f##_avx2
#else
#define AVX2(f) nullptr
#endif
#if defined(SWAPMOE_HAVE_VNNI_X4_KERNELS)
#define X4(f) f##_vnni
#else
#define X4(f) nullptr
#endif
#if defined(SWAPMOE_HAVE_NEON_KERNELS)
#define NEON(f) f##_neon
#else
#define NEON(f) nullptr
#endif

struct Row {
  GgmlType type;
  VecDotFn ref, avx512, avx2, neon;  // nullptr where not compiled in / not written
  VecDotX4Fn x4 = nullptr;
};

// One row per weight type that has a dot product.
const Row kRows[] = {
    {GgmlType::F32, vec_dot_f32_f32_ref, AVX512(vec_dot_f32_f32), AVX2(vec_dot_f32_f32), NEON(vec_dot_f32_f32)},
    {GgmlType::F16, vec_dot_f16_f32_ref, AVX512(vec_dot_f16_f32), AVX2(vec_dot_f16_f32), NEON(vec_dot_f16_f32)},
    {GgmlType::BF16, vec_dot_bf16_f32_ref, nullptr, AVX2(vec_dot_bf16_f32), nullptr},
    {GgmlType::Q8_0, vec_dot_q8_0_q8_0_ref, AVX512(vec_dot_q8_0_q8_0), AVX2(vec_dot_q8_0_q8_0), NEON(vec_dot_q8_0_q8_0),
     X4(vec_dot_x4_q8_0_q8_0)},
    {GgmlType::Q4_0, vec_dot_q4_0_q8_0_ref, AVX512(vec_dot_q4_0_q8_0), AVX2(vec_dot_q4_0_q8_0), NEON(vec_dot_q4_0_q8_0),
     X4(vec_dot_x4_q4_0_q8_0)},
    {GgmlType::Q4_K, vec_dot_q4_K_q8_K_ref, nullptr, AVX2(vec_dot_q4_K_q8_K), nullptr},
    {GgmlType::Q5_K, vec_dot_q5_K_q8_K_ref, nullptr, AVX2(vec_dot_q5_K_q8_K), nullptr},
    {GgmlType::Q6_K, vec_dot_q6_K_q8_K_ref, nullptr, AVX2(vec_dot_q6_K_q8_K), nullptr},
};

const Row* find_row(GgmlType w) {
  for (const Row& r : kRows) {
    if (r.type == w) return &r;
  }
  return nullptr;
}

using Table = std::array<VecDotKernels, static_cast<size_t>(GgmlType::COUNT)>;

Table build_table() {
  Table t{};
  for (const Row& r : kRows) {
    VecDotKernels& k = t[static_cast<size_t>(r.type)];
    k.ref = r.ref;
    k.x4 = r.x4;
    if (r.avx512) {
      k.fast = r.avx512, k.isa = "avx512";
    } else if (r.avx2) {
      k.fast = r.avx2, k.isa = "avx2";
    } else if (r.neon) {
      k.fast = r.neon, k.isa = "neon";
    } else {
      k.fast = r.ref, k.isa = "ref";
    }
  }
  return t;
}

const Table& table() {
  static const Table t = build_table();
  return t;
}

// Runs during static initialisation of this object file, which every user of the kernels
// links (vec_dot_kernels lives here), so the traits table is complete before main().
const bool kRegistered = [] {
  for (const Row& r : kRows) {
    const VecDotKernels& k = table()[static_cast<size_t>(r.type)];
    register_vec_dot(r.type, k.fast, k.ref);
  }
  return true;
}();

}  // namespace

const VecDotKernels& vec_dot_kernels(GgmlType w) {
  static const VecDotKernels none{};
  (void)kRegistered;
  const auto i = static_cast<size_t>(w);
  return i < table().size() ? table()[i] : none;
}

int vec_dot_variants(GgmlType w, NamedVecDot* out, int max_out) {
  const Row* r = find_row(w);
  if (!r) return 0;
  int n = 0;
  auto add = [&](const char* isa, VecDotFn f) {
    if (f && n < max_out) out[n++] = {isa, f};
  };
  add("avx512", r->avx512);
  add("avx2", r->avx2);
  add("neon", r->neon);
  add("ref", r->ref);
  return n;
}

}  // namespace swapmoe
