// CPU feature detection (cpuid + xgetbv on x86-64, hwcaps on aarch64) and the process-wide
// SIMD level cap.
#include "tensor/cpu_level.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif
#if defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

namespace swapmoe {

namespace {

// ---------------------------------------------------------------------------------------------
// detection

#if defined(__x86_64__)
// Which register states the OS saves on context switch (XCR0); 0 when it does not say.
uint64_t os_saved_state(bool osxsave) {
  if (!osxsave) return 0;
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

CpuFeatures detect() {
  CpuFeatures f;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28), f16c = c & (1u << 29);
  const uint64_t xcr0 = os_saved_state(osxsave);
  const bool os_ymm = (xcr0 & 0x6) == 0x6;     // xmm + ymm upper halves
  const bool os_zmm = (xcr0 & 0xe6) == 0xe6;   // + opmask, zmm upper halves, zmm16-31
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  unsigned max_sub = 0;
  __cpuid_count(7, 0, max_sub, b, c, d);
  const bool avx2 = b & (1u << 5), avx512f = b & (1u << 16), avx512bw = b & (1u << 30), avx512vl = b & (1u << 31);
  const bool avx512vnni = c & (1u << 11);
  bool avxvnni = false;
  if (max_sub >= 1) {
    __cpuid_count(7, 1, a, b, c, d);
    avxvnni = a & (1u << 4);
  }
  f.avx2 = avx && avx2 && fma && f16c && os_ymm;
  f.avx_vnni = f.avx2 && avxvnni;
  f.avx512 = f.avx2 && avx512f && avx512bw && avx512vl && os_zmm;
  f.avx512_vnni = f.avx512 && avx512vnni;
  return f;
}
#elif defined(__aarch64__)
CpuFeatures detect() {
  CpuFeatures f;
  f.neon = true;  // ASIMD is part of the aarch64 baseline
#if defined(__linux__)
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
  f.dotprod = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#elif defined(__APPLE__)
  int v = 0;
  size_t len = sizeof v;
  f.dotprod = sysctlbyname("hw.optional.arm.FEAT_DotProd", &v, &len, nullptr, 0) == 0 && v != 0;
#elif defined(__ARM_FEATURE_DOTPROD)
  f.dotprod = true;
#endif
  return f;
}
#else
CpuFeatures detect() { return {}; }
#endif

CpuLevel level_of(const CpuFeatures& f) {
  if (f.avx512 && f.avx512_vnni) return CpuLevel::AVX512;
  if (f.avx2 && (f.avx_vnni || f.avx512_vnni)) return CpuLevel::AVX2_VNNI;
  if (f.avx2) return CpuLevel::AVX2;
  if (f.dotprod) return CpuLevel::NEON_DOTPROD;
  if (f.neon) return CpuLevel::NEON;
  return CpuLevel::REF;
}

// Levels a process on this architecture can have.
bool of_this_arch(CpuLevel l) {
  if (l == CpuLevel::REF) return true;
#if defined(__x86_64__)
  return l == CpuLevel::AVX2 || l == CpuLevel::AVX2_VNNI || l == CpuLevel::AVX512;
#elif defined(__aarch64__)
  return l == CpuLevel::NEON || l == CpuLevel::NEON_DOTPROD;
#else
  return false;
#endif
}

// Within one architecture the enum order is the inclusion order.
CpuLevel capped(CpuLevel want) {
  return static_cast<CpuLevel>(std::min(static_cast<int>(want), static_cast<int>(detected_cpu_level())));
}

// ---------------------------------------------------------------------------------------------
// the cap

// The level from detection and SWAPMOE_CPU, fixed at first use.
CpuLevel initial_level() {
  static const CpuLevel level = [] {
    const char* env = std::getenv("SWAPMOE_CPU");
    if (!env || !*env) return detected_cpu_level();
    if (const auto l = parse_cpu_level(env)) return capped(*l);
    std::string levels;
    for (int i = kCpuLevelCount - 1; i >= 0; --i) {
      if (of_this_arch(static_cast<CpuLevel>(i))) levels += std::string(cpu_level_name(static_cast<CpuLevel>(i))) + ", ";
    }
    std::fprintf(stderr, "[cpu] SWAPMOE_CPU=%s is not a CPU level of this build, ignored (using %s); use %snative\n",
                 env, cpu_level_name(detected_cpu_level()), levels.c_str());
    return detected_cpu_level();
  }();
  return level;
}

}  // namespace

namespace cpu_level_detail {

constinit std::atomic<int> g_active{-1};

CpuLevel init_active() {
  int expected = -1;
  // A set_max_cpu_level that ran first wins over SWAPMOE_CPU.
  g_active.compare_exchange_strong(expected, static_cast<int>(initial_level()), std::memory_order_relaxed);
  return static_cast<CpuLevel>(g_active.load(std::memory_order_relaxed));
}

}  // namespace cpu_level_detail

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

CpuLevel detected_cpu_level() {
  static const CpuLevel l = level_of(cpu_features());
  return l;
}

void set_max_cpu_level(CpuLevel max) {
  if (!of_this_arch(max)) {
    fail("cpu", std::string("level ") + cpu_level_name(max) + " does not exist on this architecture",
         std::string("this CPU runs up to ") + cpu_level_name(detected_cpu_level()) + "; use ref or native");
  }
  cpu_level_detail::g_active.store(static_cast<int>(capped(max)), std::memory_order_relaxed);
}

const char* cpu_level_name(CpuLevel level) {
  switch (level) {
    case CpuLevel::REF: return "ref";
    case CpuLevel::AVX2: return "avx2";
    case CpuLevel::AVX2_VNNI: return "avx2_vnni";
    case CpuLevel::AVX512: return "avx512";
    case CpuLevel::NEON: return "neon";
    case CpuLevel::NEON_DOTPROD: return "neon_dotprod";
  }
  return "unknown";
}

std::optional<CpuLevel> parse_cpu_level(std::string_view s) {
  std::string low(s);
  for (char& c : low) c = c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (low == "native") return detected_cpu_level();
  for (int i = 0; i < kCpuLevelCount; ++i) {
    const auto l = static_cast<CpuLevel>(i);
    if (low == cpu_level_name(l) && of_this_arch(l)) return l;
  }
  return std::nullopt;
}

std::string cpu_features_description() {
  const CpuFeatures& f = cpu_features();
  std::string s;
#if defined(__x86_64__)
  s = "x86-64 ";
#elif defined(__aarch64__)
  s = "aarch64 ";
#else
  s = "cpu ";
#endif
  s += cpu_level_name(detected_cpu_level());
  std::string feat;
  auto add = [&](bool on, const char* name) {
    if (!on) return;
    if (!feat.empty()) feat += ' ';
    feat += name;
  };
  add(f.avx2, "avx2 fma f16c");
  add(f.avx_vnni, "avx-vnni");
  add(f.avx512, f.avx512_vnni ? "avx512f/bw/vl/vnni" : "avx512f/bw/vl");
  add(f.neon, "asimd");
  add(f.dotprod, "dotprod");
  if (!feat.empty()) s += " (" + feat + ")";
  return s;
}

}  // namespace swapmoe
