// What the 256- and 512-bit kernel flavours share (compiled with each flavour's flags; internal
// linkage, in the flavour's namespace): the 8-lane float sum, whose order the bit-identical
// kernels of both widths rely on, and the Q4_K/Q5_K scale unpacking.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#if !defined(SWAPMOE_ISA_NS)
#error "x86_common.h is for the x86 kernel flavours: see src/kernels/CMakeLists.txt"
#endif

namespace swapmoe::SWAPMOE_ISA_NS {
namespace {

// The 8 lanes summed as (0+4) + (2+6), (1+5) + (3+7), then those two.
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Q4_K/Q5_K packed 6-bit scales -> 16 int16 lanes: scales 0-7, then mins 0-7.
inline __m256i unpack_k4_scales(const uint8_t* packed) {
  uint32_t u[3];
  std::memcpy(u, packed, 12);
  const uint32_t sc_lo = u[0] & 0x3f3f3f3fu;
  const uint32_t m_lo = u[1] & 0x3f3f3f3fu;
  const uint32_t sc_hi = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);
  const uint32_t m_hi = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);
  return _mm256_cvtepu8_epi16(_mm_set_epi32(static_cast<int>(m_hi), static_cast<int>(m_lo),
                                            static_cast<int>(sc_hi), static_cast<int>(sc_lo)));
}

// Per-lane products mins[j] * (bsums[2j] + bsums[2j+1]) for the Q4_K/Q5_K min correction,
// as 4 int32 lanes (summed later, once per row).
inline __m128i mins_dot_bsums(__m256i scales_mins, const int16_t* bsums) {
  const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bsums));
  const __m128i pairs = _mm_hadd_epi16(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
  return _mm_madd_epi16(_mm256_extracti128_si256(scales_mins, 1), pairs);  // |pairs| <= 2*16*127
}

}  // namespace
}  // namespace swapmoe::SWAPMOE_ISA_NS
