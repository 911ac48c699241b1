// Helpers shared by the 256-bit kernel sources of one flavour (vec_dot_avx2*.cpp), compiled
// with that flavour's flags. Everything here has internal linkage (anonymous namespace inside
// the flavour's namespace): an ISA object may define no weak symbols (src/kernels/CMakeLists.txt).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/x86_common.h"

#if !defined(SWAPMOE_ISA_NS) || !defined(SWAPMOE_VNNI256)
#error "avx2_helpers.h is for the 256-bit kernel flavours: see src/kernels/CMakeLists.txt"
#endif

namespace swapmoe::SWAPMOE_ISA_NS {
namespace {

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

// acc + sums of 4 adjacent u8 x s8 products (u <= 63 here, so maddubs cannot saturate).
inline __m256i add_dot_u8s8(__m256i acc, __m256i u, __m256i s) {
#if SWAPMOE_VNNI256 == 2
  return _mm256_dpbusd_epi32(acc, u, s);
#elif SWAPMOE_VNNI256 == 1
  return _mm256_dpbusd_avx_epi32(acc, u, s);
#else
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

// 4 activation bytes starting at p, in every 32-bit lane (the interleaved kernels: one lane per row).
inline __m256i broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return _mm256_set1_epi32(v);
}

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

// Scale of sub-block k (0-7) in every int16 lane; `scales` holds the 8 scales in both halves.
template <int k>
inline __m256i scale_k(__m256i scales) {
  return _mm256_shuffle_epi8(scales, _mm256_set1_epi16(static_cast<short>((2 * k + 1) << 8 | (2 * k))));
}

// Q6_K: half h (0, 1) of a super-block as 4 x 32 unsigned bytes in [0, 63] (q[k] = values
// 32k..32k+31 of the half), and the half's 8 int16 scales in both 128-bit lanes.
inline void unpack_q6_half(const uint8_t* ql, const uint8_t* qh, __m256i sc16, int h, __m256i* q, __m256i* sc) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i three = _mm256_set1_epi8(3);
  *sc = h == 0 ? _mm256_permute2x128_si256(sc16, sc16, 0x00) : _mm256_permute2x128_si256(sc16, sc16, 0x11);
  const __m256i l0 = load256(ql), l1 = load256(ql + 32), hb = load256(qh);
  q[0] = _mm256_or_si256(_mm256_and_si256(l0, low4), _mm256_slli_epi16(_mm256_and_si256(hb, three), 4));
  q[1] = _mm256_or_si256(_mm256_and_si256(l1, low4),
                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), three), 4));
  q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), three), 4));
  q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), three), 4));
}

// Q6_K: the scales of group k (0-3) of a half from unpack_q6_half's `sc`: 16-bit lanes 0-7
// hold values 0-15 of the group (scale 2k), lanes 8-15 values 16-31 (scale 2k+1), picked with
// one in-lane byte shuffle.
inline __m256i q6_group_scale(__m256i sc, int k) {
  const short lo = static_cast<short>((4 * k + 1) << 8 | (4 * k));
  const short hi = static_cast<short>((4 * k + 3) << 8 | (4 * k + 2));
  return _mm256_shuffle_epi8(sc, _mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo)));
}

}  // namespace
}  // namespace swapmoe::SWAPMOE_ISA_NS
