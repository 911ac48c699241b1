// The kernel sets compiled once per instruction-set flavour, for the dispatchers
// (vec_dot_dispatch.cpp, quantize_act.cpp). Internal to swapmoe_kernels.
//
// A flavour is an object library built from one or more of the kernel sources with its own
// compiler flags and SWAPMOE_ISA_NS set to its namespace (src/kernels/CMakeLists.txt):
//
//   swapmoe::avx2            vec_dot_avx2*.cpp, quantize_act_avx2.cpp     -mavx2 -mfma -mf16c
//                            (vec_dot_avx2*.cpp: vec_dot_avx2, _q32, _k_low, _t4; attention_keys_avx2.cpp)
//   swapmoe::avx2_vnni       vec_dot_avx2*.cpp, vec_dot_x4_vnni.cpp       + -mavxvnni (VEX)
//   swapmoe::avx2_vnni_evex  vec_dot_avx2*.cpp, vec_dot_x4_vnni.cpp       + -mavx512f/bw/vl/vnni (EVEX, ymm)
//   swapmoe::avx512          vec_dot_avx512.cpp                           AVX-512 F/BW/VL/VNNI
//   swapmoe::neon            vec_dot_neon.cpp, vec_dot_neon_k.cpp         aarch64 baseline
//   swapmoe::neon_dotprod    vec_dot_neon.cpp, vec_dot_neon_k.cpp,        -march=armv8.2-a+dotprod
//                            vec_dot_x8_neon.cpp
//
// Each flavour exports one constant table (constant-initialised: complete before any code
// runs). Its other functions have internal linkage or live in its namespace, so nothing built
// with wider instructions can be picked by the linker for portable code.
#pragma once

#include <cstdint>

#include "kernels/vec_dot.h"

namespace swapmoe {

// One flavour's kernels; nullptr where it has none for that type.
struct VecDotSet {
  VecDotFn f32 = nullptr;  // f32 x f32
  VecDotFn f16 = nullptr;  // f16 x f32
  VecDotFn bf16 = nullptr;  // bf16 x f32
  VecDotFn q8_0 = nullptr;  // q8_0 x q8_0
  VecDotFn q4_0 = nullptr;  // q4_0 x q8_0
  VecDotFn q4_K = nullptr;  // q4_K x q8_K
  VecDotFn q5_K = nullptr;  // q5_K x q8_K
  VecDotFn q6_K = nullptr;  // q6_K x q8_K
  VecDotFn q4_1 = nullptr;  // q4_1 x q8_1
  VecDotFn q5_0 = nullptr;  // q5_0 x q8_0
  VecDotFn q5_1 = nullptr;  // q5_1 x q8_1
  VecDotFn iq4_nl = nullptr;  // iq4_nl x q8_0
  VecDotFn mxfp4 = nullptr;  // mxfp4 x q8_0
  VecDotFn q2_K = nullptr;  // q2_K x q8_K
  VecDotFn q3_K = nullptr;  // q3_K x q8_K
  VecDotFn iq4_xs = nullptr;  // iq4_xs x q8_K
  VecDotX4Fn x4_q8_0 = nullptr;
  VecDotX4Fn x4_q4_0 = nullptr;
  VecDotT4Fn t4_q4_K = nullptr;  // 4-token kernels
  VecDotT4Fn t4_q5_K = nullptr;
  VecDotT4Fn t4_q6_K = nullptr;
  VecDotT4Fn t4_q4_0 = nullptr;
  VecDotT4Fn t4_iq4_nl = nullptr;
  VecDotT4Fn t4_mxfp4 = nullptr;
  VecDotT4Fn t4_q2_K = nullptr;
  VecDotT4Fn t4_q3_K = nullptr;
  VecDotT4Fn t4_iq4_xs = nullptr;
  VecDotX4T4Fn x4t4_q8_0 = nullptr;  // 4 rows x 4 tokens
  VecDotX4T4Fn x4t4_q4_0 = nullptr;
  GemvX8Fn x8_q4_0 = nullptr;  // interleaved groups of 8 rows (q4_0x8)
  GemmX8T4Fn x8t4_q4_0 = nullptr;
  GemvX8Fn x8_q8_0 = nullptr;
  GemmX8T4Fn x8t4_q8_0 = nullptr;
  GemvX8Fn x8_q4_K = nullptr;
  GemmX8T4Fn x8t4_q4_K = nullptr;
  GemvX8Fn x8_q6_K = nullptr;
  GemmX8T4Fn x8t4_q6_K = nullptr;
};

#if defined(SWAPMOE_KERNELS_X86)
namespace avx2 {
extern const VecDotSet kVecDots;
extern const AttentionKeyKernels kF16Keys;  // attention_keys_avx2.cpp, in each 256-bit flavour
void quantize_row_q8_0_act(const float* x, void* y, int64_t n);
void quantize_row_q8_K_act(const float* x, void* y, int64_t n);
}  // namespace avx2
namespace avx2_vnni {
extern const VecDotSet kVecDots;
extern const AttentionKeyKernels kF16Keys;
}
namespace avx2_vnni_evex {
extern const VecDotSet kVecDots;
extern const AttentionKeyKernels kF16Keys;
// Paired with the avx512 flavour's Q6_K kernel too (bit-identical results); both need
// AVX-512 F/BW/VL/VNNI.
void vec_dot_t4_q6_K(int64_t n, float* s, const void* x, const void* const* y);
// The avx512 flavour's interleaved kernels too (decode is memory-bound: wider registers gain nothing).
void gemv_q4_0x8(int64_t n, float* s, const void* x, const X8Activation& y);
void gemv_q8_0x8(int64_t n, float* s, const void* x, const X8Activation& y);
void gemv_q4_Kx8(int64_t n, float* s, const void* x, const X8Activation& y);
void gemm4_q4_Kx8(int64_t n, float* s, const void* x, const X8Activation* y);
void gemv_q6_Kx8(int64_t n, float* s, const void* x, const X8Activation& y);
void gemm4_q6_Kx8(int64_t n, float* s, const void* x, const X8Activation* y);
}
namespace avx512 {
extern const VecDotSet kVecDots;
}
#endif

#if defined(SWAPMOE_KERNELS_ARM64)
namespace neon {
extern const VecDotSet kVecDots;
}
namespace neon_dotprod {
extern const VecDotSet kVecDots;
}
#endif

// Inside a flavour's sources: functions shared between its files.
#if defined(SWAPMOE_ISA_NS)
namespace SWAPMOE_ISA_NS {
void vec_dot_x4_q8_0_q8_0(int64_t n, float* s, const void* x, size_t x_stride, const void* y);
void vec_dot_x4_q4_0_q8_0(int64_t n, float* s, const void* x, size_t x_stride, const void* y);
void vec_dot_x4t4_q8_0_q8_0(int64_t n, float* s, const void* x, size_t x_stride, const void* const* y);
void vec_dot_x4t4_q4_0_q8_0(int64_t n, float* s, const void* x, size_t x_stride, const void* const* y);
void vec_dot_q4_1_q8_1(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q5_0_q8_0(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q5_1_q8_1(int64_t n, float* s, const void* x, const void* y);
void vec_dot_iq4_nl_q8_0(int64_t n, float* s, const void* x, const void* y);
void vec_dot_mxfp4_q8_0(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q2_K_q8_K(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q3_K_q8_K(int64_t n, float* s, const void* x, const void* y);
void vec_dot_iq4_xs_q8_K(int64_t n, float* s, const void* x, const void* y);
void vec_dot_t4_iq4_nl_q8_0(int64_t n, float* s, const void* x, const void* const* y);
void vec_dot_t4_q2_K(int64_t n, float* s, const void* x, const void* const* y);
void vec_dot_t4_q3_K(int64_t n, float* s, const void* x, const void* const* y);
void vec_dot_t4_iq4_xs(int64_t n, float* s, const void* x, const void* const* y);
void vec_dot_t4_mxfp4_q8_0(int64_t n, float* s, const void* x, const void* const* y);
void vec_dot_t4_q4_K(int64_t n, float* s, const void* x, const void* const* y);
void vec_dot_t4_q5_K(int64_t n, float* s, const void* x, const void* const* y);
void vec_dot_t4_q6_K(int64_t n, float* s, const void* x, const void* const* y);
void gemv_q4_0x8(int64_t n, float* s, const void* x, const X8Activation& y);
void gemm4_q4_0x8(int64_t n, float* s, const void* x, const X8Activation* y);
void gemv_q8_0x8(int64_t n, float* s, const void* x, const X8Activation& y);
void gemm4_q8_0x8(int64_t n, float* s, const void* x, const X8Activation* y);
void gemv_q4_Kx8(int64_t n, float* s, const void* x, const X8Activation& y);
void gemm4_q4_Kx8(int64_t n, float* s, const void* x, const X8Activation* y);
void gemv_q6_Kx8(int64_t n, float* s, const void* x, const X8Activation& y);
void gemm4_q6_Kx8(int64_t n, float* s, const void* x, const X8Activation* y);
#if defined(SWAPMOE_KERNELS_ARM64)
// vec_dot_neon_k.cpp (the x86 flavours keep theirs file-local).
void vec_dot_q4_K_q8_K(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q5_K_q8_K(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q6_K_q8_K(int64_t n, float* s, const void* x, const void* y);
#endif
}  // namespace SWAPMOE_ISA_NS
#endif

}  // namespace swapmoe
