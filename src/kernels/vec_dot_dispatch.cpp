// Picks the dot-product kernel per weight type and CPU level from the flavours compiled into
// this build (isa_kernels.h) and the CPU's features. One table per level, built at first use.
#include <algorithm>
#include <array>
#include <string>

#include "kernels/isa_kernels.h"
#include "kernels/vec_dot.h"
#include "tensor/interleave.h"

namespace swapmoe {

namespace {

// ---------------------------------------------------------------------------------------------
// what exists

// One row per weight type that has a dot product: its reference and where a flavour keeps it.
struct Row {
  GgmlType type;
  VecDotFn ref;
  VecDotFn VecDotSet::*fn;
  VecDotX4Fn VecDotSet::*x4;
  VecDotT4Fn VecDotSet::*t4 = nullptr;
  VecDotX4T4Fn VecDotSet::*x4t4 = nullptr;
};
constexpr Row kRows[] = {
    {GgmlType::F32, vec_dot_f32_f32_ref, &VecDotSet::f32, nullptr},
    {GgmlType::F16, vec_dot_f16_f32_ref, &VecDotSet::f16, nullptr},
    {GgmlType::BF16, vec_dot_bf16_f32_ref, &VecDotSet::bf16, nullptr},
    {GgmlType::Q8_0, vec_dot_q8_0_q8_0_ref, &VecDotSet::q8_0, &VecDotSet::x4_q8_0, nullptr, &VecDotSet::x4t4_q8_0},
    {GgmlType::Q4_0, vec_dot_q4_0_q8_0_ref, &VecDotSet::q4_0, &VecDotSet::x4_q4_0, &VecDotSet::t4_q4_0, &VecDotSet::x4t4_q4_0},
    {GgmlType::Q4_K, vec_dot_q4_K_q8_K_ref, &VecDotSet::q4_K, nullptr, &VecDotSet::t4_q4_K},
    {GgmlType::Q5_K, vec_dot_q5_K_q8_K_ref, &VecDotSet::q5_K, nullptr, &VecDotSet::t4_q5_K},
    {GgmlType::Q6_K, vec_dot_q6_K_q8_K_ref, &VecDotSet::q6_K, nullptr, &VecDotSet::t4_q6_K},
    {GgmlType::Q4_1, vec_dot_q4_1_q8_1_ref, &VecDotSet::q4_1, nullptr},
    {GgmlType::Q5_0, vec_dot_q5_0_q8_0_ref, &VecDotSet::q5_0, nullptr},
    {GgmlType::Q5_1, vec_dot_q5_1_q8_1_ref, &VecDotSet::q5_1, nullptr},
    {GgmlType::IQ4_NL, vec_dot_iq4_nl_q8_0_ref, &VecDotSet::iq4_nl, nullptr, &VecDotSet::t4_iq4_nl},
    {GgmlType::MXFP4, vec_dot_mxfp4_q8_0_ref, &VecDotSet::mxfp4, nullptr, &VecDotSet::t4_mxfp4},
    {GgmlType::Q2_K, vec_dot_q2_K_q8_K_ref, &VecDotSet::q2_K, nullptr, &VecDotSet::t4_q2_K},
    {GgmlType::Q3_K, vec_dot_q3_K_q8_K_ref, &VecDotSet::q3_K, nullptr, &VecDotSet::t4_q3_K},
    {GgmlType::IQ4_XS, vec_dot_iq4_xs_q8_K_ref, &VecDotSet::iq4_xs, nullptr, &VecDotSet::t4_iq4_xs},
};

const Row* find_row(GgmlType w) {
  for (const Row& r : kRows) {
    if (r.type == w) return &r;
  }
  return nullptr;
}

// A compiled flavour, the lowest level that may use it, and whether this CPU runs it.
struct Flavour {
  const char* isa;
  CpuLevel level;
  const VecDotSet* set;
  bool (*runs)(const CpuFeatures&);
  const AttentionKeyKernels* f16_keys = nullptr;
};

// Fastest first. Of the two 256-bit VNNI encodings the EVEX one is preferred where both run
// (as a -march=native build would compile it); they are equally fast.
const Flavour kFlavours[] = {
#if defined(SWAPMOE_KERNELS_X86)
    {"avx512", CpuLevel::AVX512, &avx512::kVecDots, [](const CpuFeatures& f) { return f.avx512 && f.avx512_vnni; },
     &avx2_vnni_evex::kF16Keys},  // 512-bit key kernels were slower here (Zen 4: 55.7 against 44.8 ns)
    {"avx2_vnni_evex", CpuLevel::AVX2_VNNI, &avx2_vnni_evex::kVecDots,
     [](const CpuFeatures& f) { return f.avx512 && f.avx512_vnni; }, &avx2_vnni_evex::kF16Keys},
    {"avx2_vnni", CpuLevel::AVX2_VNNI, &avx2_vnni::kVecDots, [](const CpuFeatures& f) { return f.avx_vnni; },
     &avx2_vnni::kF16Keys},
    {"avx2", CpuLevel::AVX2, &avx2::kVecDots, [](const CpuFeatures& f) { return f.avx2; }, &avx2::kF16Keys},
#endif
#if defined(SWAPMOE_KERNELS_ARM64)
    {"neon_dotprod", CpuLevel::NEON_DOTPROD, &neon_dotprod::kVecDots, [](const CpuFeatures& f) { return f.dotprod; }},
    {"neon", CpuLevel::NEON, &neon::kVecDots, [](const CpuFeatures& f) { return f.neon; }},
#endif
    {"ref", CpuLevel::REF, nullptr, [](const CpuFeatures&) { return true; }},
};

// Flavour usable at `level` on this CPU (levels compare within one architecture).
bool usable(const Flavour& fl, CpuLevel level) {
  return static_cast<int>(fl.level) <= static_cast<int>(level) && fl.runs(cpu_features());
}

// ---------------------------------------------------------------------------------------------
// the tables

using Table = std::array<VecDotKernels, static_cast<size_t>(GgmlType::COUNT)>;

Table build_table(CpuLevel level) {
  Table t{};
  for (const Row& r : kRows) {
    VecDotKernels& k = t[static_cast<size_t>(r.type)];
    k.ref = r.ref;
    for (const Flavour& fl : kFlavours) {
      if (!usable(fl, level)) continue;
      const VecDotFn fn = fl.set ? fl.set->*r.fn : r.ref;
      if (!k.fast && fn) {
        k.fast = fn, k.isa = fl.isa;
        // Only the same flavour's: its results match `fast` bit for bit.
        if (r.t4 && fl.set) k.t4 = fl.set->*r.t4;
      }
      if (!k.x4 && r.x4 && fl.set) k.x4 = fl.set->*r.x4;
      if (!k.x4t4 && r.x4t4 && fl.set) k.x4t4 = fl.set->*r.x4t4;
    }
  }
  return t;
}

const Table& table(CpuLevel level) {
  static const auto tables = [] {
    std::array<Table, kCpuLevelCount> all;
    for (int l = 0; l < kCpuLevelCount; ++l) all[l] = build_table(static_cast<CpuLevel>(l));
    return all;
  }();
  return tables[static_cast<size_t>(level)];
}

// The first flavour usable at each level that has attention key kernels, with its name.
const AttentionKeyKernels& key_kernels(CpuLevel level) {
  static const auto all = [] {
    std::array<AttentionKeyKernels, kCpuLevelCount> t{};
    for (int l = 0; l < kCpuLevelCount; ++l)
      for (const Flavour& fl : kFlavours)
        if (fl.f16_keys && usable(fl, static_cast<CpuLevel>(l))) {
          t[static_cast<size_t>(l)] = *fl.f16_keys;
          t[static_cast<size_t>(l)].isa = fl.isa;
          break;
        }
    return t;
  }();
  return all[static_cast<size_t>(level)];
}

// The interleaved types, their references and where a flavour keeps their kernels.
struct X8Row {
  GgmlType type;
  InterleavedKernels ref;
  GemvX8Fn VecDotSet::*gemv;
  GemmX8T4Fn VecDotSet::*gemm4;
};
const X8Row kX8Rows[] = {
    {GgmlType::Q4_0_X8, {gemv_q4_0x8_ref, gemm4_q4_0x8_ref, "ref"}, &VecDotSet::x8_q4_0, &VecDotSet::x8t4_q4_0},
    {GgmlType::Q8_0_X8, {gemv_q8_0x8_ref, gemm4_q8_0x8_ref, "ref"}, &VecDotSet::x8_q8_0, &VecDotSet::x8t4_q8_0},
    {GgmlType::Q4_K_X8, {gemv_q4_Kx8_ref, gemm4_q4_Kx8_ref, "ref"}, &VecDotSet::x8_q4_K, &VecDotSet::x8t4_q4_K},
    {GgmlType::Q6_K_X8, {gemv_q6_Kx8_ref, gemm4_q6_Kx8_ref, "ref"}, &VecDotSet::x8_q6_K, &VecDotSet::x8t4_q6_K},
};
constexpr size_t kNumX8 = sizeof(kX8Rows) / sizeof(kX8Rows[0]);

const X8Row* find_x8_row(GgmlType w) {
  for (const X8Row& r : kX8Rows)
    if (r.type == w) return &r;
  return nullptr;
}

// The interleaved kernels at each level: the first usable flavour's gemv and the first's gemm4
// (each equals the reference bit for bit, so they pair with any other), else the reference.
const InterleavedKernels& x8_kernels(const X8Row& row, CpuLevel level) {
  static const auto all = [] {
    std::array<std::array<InterleavedKernels, kNumX8>, kCpuLevelCount> t{};
    for (int l = 0; l < kCpuLevelCount; ++l)
      for (size_t i = 0; i < kNumX8; ++i) {
        const X8Row& r = kX8Rows[i];
        InterleavedKernels& k = t[static_cast<size_t>(l)][i];
        for (const Flavour& fl : kFlavours) {
          if (!fl.set || !usable(fl, static_cast<CpuLevel>(l))) continue;
          if (!k.gemv && fl.set->*r.gemv) k.gemv = fl.set->*r.gemv, k.isa = fl.isa;
          if (!k.gemm4 && fl.set->*r.gemm4) k.gemm4 = fl.set->*r.gemm4;
        }
        if (!k.gemv) k.gemv = r.ref.gemv, k.isa = "ref";
        if (!k.gemm4) k.gemm4 = r.ref.gemm4;
      }
    return t;
  }();
  return all[static_cast<size_t>(level)][static_cast<size_t>(&row - kX8Rows)];
}

}  // namespace

const AttentionKeyKernels& f16_key_kernels() { return key_kernels(active_cpu_level()); }

int f16_key_kernel_variants(AttentionKeyKernels* out, int max_out) {
  int n = 0;
  for (const Flavour& fl : kFlavours) {
    if (!fl.f16_keys || !fl.runs(cpu_features()) || n == max_out) continue;
    if (std::any_of(out, out + n, [&](const AttentionKeyKernels& k) { return k.x4 == fl.f16_keys->x4; })) continue;
    out[n] = *fl.f16_keys;  // kernels two flavours share are listed once, under the first
    out[n++].isa = fl.isa;
  }
  return n;
}

const VecDotKernels& vec_dot_kernels(GgmlType w) {
  static const VecDotKernels none{};
  const auto i = static_cast<size_t>(w);
  const Table& t = table(active_cpu_level());
  return i < t.size() ? t[i] : none;
}

bool can_compute(GgmlType w) { return find_row(w) != nullptr || is_interleaved(w); }

const InterleavedKernels& interleaved_kernels(GgmlType w) {
  static const InterleavedKernels none{};
  const X8Row* r = find_x8_row(w);
  return r ? x8_kernels(*r, active_cpu_level()) : none;
}

bool interleaving_pays(GgmlType stored, int64_t n_cols, int64_t n_rows) {
  const X8Row* r = find_x8_row(interleaved_type(stored));
  return r && can_interleave(stored, n_cols, n_rows) && interleaved_kernels(r->type).gemv != r->ref.gemv;
}

int interleaved_kernel_variants(GgmlType w, InterleavedKernels* out, int max_out) {
  const X8Row* r = find_x8_row(w);
  if (!r) return 0;
  int n = 0;
  for (const Flavour& fl : kFlavours) {
    if (n >= max_out || !fl.runs(cpu_features())) continue;
    if (!fl.set) {
      out[n++] = r->ref;
    } else if (fl.set->*r->gemv && fl.set->*r->gemm4) {
      out[n++] = {fl.set->*r->gemv, fl.set->*r->gemm4, fl.isa};
    }
  }
  return n;
}

std::string supported_weight_types() {
  std::string s;
  for (const Row& r : kRows) {
    if (!s.empty()) s += ", ";
    s += type_name(r.type);
  }
  return s;
}

std::string cpu_description() {
  std::string s = cpu_features_description() + ", kernels: " + cpu_level_name(active_cpu_level());
  if (active_cpu_level() != detected_cpu_level()) s += " (capped)";
  return s;
}

int vec_dot_variants(GgmlType w, NamedVecDot* out, int max_out) {
  const Row* r = find_row(w);
  if (!r) return 0;
  int n = 0;
  for (const Flavour& fl : kFlavours) {
    if (n >= max_out || !fl.runs(cpu_features())) continue;
    if (!fl.set) {
      out[n++] = {fl.isa, r->ref, nullptr, nullptr, nullptr, fl.level};
    } else if (fl.set->*r->fn) {
      out[n++] = {fl.isa, fl.set->*r->fn, r->x4 ? fl.set->*r->x4 : nullptr, r->t4 ? fl.set->*r->t4 : nullptr,
                  r->x4t4 ? fl.set->*r->x4t4 : nullptr, fl.level};
    }
  }
  return n;
}

}  // namespace swapmoe
