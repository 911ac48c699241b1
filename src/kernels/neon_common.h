// What the NEON kernel sources of one flavour share (vec_dot_neon.cpp, vec_dot_neon_k.cpp),
// compiled with that flavour's flags; internal linkage, in the flavour's namespace.
#pragma once

#include <arm_neon.h>

#if !defined(SWAPMOE_ISA_NS) || !defined(SWAPMOE_NEON_DOT)
#error "neon_common.h is for the NEON kernel flavours: see src/kernels/CMakeLists.txt"
#endif

namespace swapmoe::SWAPMOE_ISA_NS {
namespace {

// Four int32 lanes summing the 16 products a[i] * b[i].
inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if SWAPMOE_NEON_DOT
  return vdotq_s32(acc, a, b);
#else
  const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
  const int16x8_t hi = vmull_high_s8(a, b);
  return vaddq_s32(acc, vaddq_s32(vpaddlq_s16(lo), vpaddlq_s16(hi)));
#endif
}

}  // namespace
}  // namespace swapmoe::SWAPMOE_ISA_NS
