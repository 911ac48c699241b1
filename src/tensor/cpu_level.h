// Which SIMD level this process runs: detected once from the CPU, capped by SWAPMOE_CPU or by
// set_max_cpu_level. Everything with instruction-set variants (dot products, activation
// quantisers, fp16 row conversions) asks active_cpu_level() when it picks a function, so one
// portable binary runs the best code the CPU has.
//
// It lives in the tensor library because that is the lowest layer with SIMD variants (fp16 row
// conversions); kernels/vec_dot.h re-exports it with the kernel-level queries.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace swapmoe {

// Ordered within one architecture: each level includes the one below it (REF < AVX2 < ...).
// Levels of another architecture never occur in a process.
enum class CpuLevel : uint8_t {
  REF = 0,        // scalar code only
  AVX2 = 1,       // x86-64: AVX2 + FMA + F16C
  AVX2_VNNI = 2,  // x86-64: + 256-bit VNNI (AVX-VNNI, or AVX512-VNNI with AVX512-VL)
  AVX512 = 3,     // x86-64: AVX-512 F/BW/VL/VNNI (and 256-bit VNNI through it)
  NEON = 4,       // aarch64: ASIMD (baseline on every aarch64)
  NEON_DOTPROD = 5,  // aarch64: + sdot/udot (ARMv8.2 DotProd)
};
constexpr int kCpuLevelCount = 6;

// What the CPU and the operating system support (register state saved by the OS included).
struct CpuFeatures {
  bool avx2 = false;         // AVX, AVX2, FMA, F16C and OS support for the ymm state
  bool avx_vnni = false;     // AVX-VNNI (VEX vpdpbusd on ymm)
  bool avx512 = false;       // AVX-512 F, BW, VL and OS support for the zmm/opmask state
  bool avx512_vnni = false;  // AVX512-VNNI (with avx512: EVEX vpdpbusd on ymm and zmm)
  bool neon = false;         // aarch64 ASIMD
  bool dotprod = false;      // aarch64 ASIMDDP
};
const CpuFeatures& cpu_features();

const char* cpu_level_name(CpuLevel level);  // "ref", "avx2", "avx2_vnni", "avx512", "neon", "neon_dotprod"

// "ref", "avx2", "avx2_vnni", "avx512", "neon", "neon_dotprod", or "native" (= the detected
// level); case-insensitive. nullopt for anything else, including levels of another
// architecture than this build's.
std::optional<CpuLevel> parse_cpu_level(std::string_view s);

// The best level this CPU runs.
CpuLevel detected_cpu_level();

namespace cpu_level_detail {
extern std::atomic<int> g_active;  // the active level, -1 until the first use
CpuLevel init_active();            // detection + SWAPMOE_CPU, once
}  // namespace cpu_level_detail

// The level in use: detected_cpu_level(), capped by SWAPMOE_CPU (read at the first use) and
// then by set_max_cpu_level. An invalid SWAPMOE_CPU is reported on stderr once and ignored.
// Inline: it is asked once per row conversion or matrix product.
inline CpuLevel active_cpu_level() {
  const int l = cpu_level_detail::g_active.load(std::memory_order_relaxed);
  return l >= 0 ? static_cast<CpuLevel>(l) : cpu_level_detail::init_active();
}

// Whether the x86-64 AVX2 code paths (AVX2 and every level above it) are in use.
inline bool avx2_active() {
  const CpuLevel l = active_cpu_level();
  return l >= CpuLevel::AVX2 && l <= CpuLevel::AVX512;
}

// Caps the level at `max` (a level above the detected one gives the detected one), overriding
// SWAPMOE_CPU. Takes effect for every function chosen after the call; it may be called at any
// time (the kernel tables are fixed per level), though a matrix product already running on
// other threads finishes with the kernels it started with. Throws swapmoe::Error for a level of
// another architecture.
void set_max_cpu_level(CpuLevel max);

// "x86-64 avx512 (avx2 fma f16c avx-vnni avx512f/bw/vl/vnni)": architecture, detected level
// and the features behind it.
std::string cpu_features_description();

}  // namespace swapmoe
