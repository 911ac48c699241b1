// Helpers shared by the 256-bit kernel sources of one flavour (vec_dot_avx2*.cpp), compiled
// with that flavour's flags. Everything here has internal linkage (anonymous namespace inside
// the flavour's namespace): an ISA object may define no weak symbols (src/kernels/CMakeLists.txt).
#pragma once

#include <immintrin.h>

#include <cstdint>

#if !defined(SWAPMOE_ISA_NS) || !defined(SWAPMOE_VNNI256)
#error "avx2_helpers.h is for the 256-bit kernel flavours: see src/kernels/CMakeLists.txt"
#endif

namespace swapmoe::SWAPMOE_ISA_NS {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Sums of 4 adjacent products u8 * s8 into int32 lanes (u in [0, 255], s in [-127, 127]).
inline __m256i dot_u8s8(__m256i u, __m256i s) {
#if SWAPMOE_VNNI256 == 2
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#elif SWAPMOE_VNNI256 == 1
  return _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u, s);
#else
  // maddubs saturates at int16, safe here: 2 * 255 * 127 < 32767 only for u <= 128, which
  // holds for every caller (|q8| <= 127, 4-6 bit quants).
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

// Signed int8 dot via the unsigned path: |x| * (y with x's sign). Needs x != -128.
inline __m256i dot_s8s8(__m256i x, __m256i y) {
  return dot_u8s8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

// 32 nibbles of a Q4 block as bytes: low nibbles in lanes 0-15, high nibbles in 16-31.
inline __m256i unpack_nibbles_32(const uint8_t* qs) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(v, 4), v);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// acc + (u8*s8 pair products, times an int16 scale, summed pairwise into int32). VNNI fuses
// the multiply-add of the scaled pairs into the accumulation (vpdpwssd).
inline __m256i add_scaled_dot(__m256i acc, __m256i u, __m256i s, __m256i scale16) {
#if SWAPMOE_VNNI256 == 2
  return _mm256_dpwssd_epi32(acc, _mm256_maddubs_epi16(u, s), scale16);
#elif SWAPMOE_VNNI256 == 1
  return _mm256_dpwssd_avx_epi32(acc, _mm256_maddubs_epi16(u, s), scale16);
#else
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), scale16));
#endif
}

}  // namespace
}  // namespace swapmoe::SWAPMOE_ISA_NS
