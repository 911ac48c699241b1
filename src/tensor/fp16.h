// Conversions between fp32 and the two 16-bit float formats found in GGUF files (IEEE fp16, bf16).
//
// The scalar versions are exact re-implementations of the hardware rules (round to nearest even,
// NaN kept quiet with its payload truncated), so files written on any machine are identical.
//
// The single-value functions are `static inline`: each translation unit keeps its own copy.
// Kernel files compiled with -mavx2/-mf16c/-mavx512f include this header too, and with plain
// `inline` the linker would keep one of the copies for the whole program, possibly the one
// with AVX instructions, in code that must run on any x86-64.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace swapmoe {

static inline uint32_t fp32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

static inline float fp32_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// ---------------------------------------------------------------------------------------------
// fp16, scalar

static inline float fp16_to_fp32_scalar(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24 is exact in fp32.
    return fp32_from_bits(sign | fp32_bits(static_cast<float>(mant) * 0x1p-24f));
  }
  if (exp == 31) {
    // inf, or NaN made quiet (bit 22) as the hardware conversion does
    return fp32_from_bits(sign | 0x7f800000u | (mant << 13) | (mant ? 0x400000u : 0u));
  }
  return fp32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
}

static inline uint16_t fp32_to_fp16_scalar(float f) {
  uint32_t x = fp32_bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  x &= 0x7fffffffu;
  if (x > 0x7f800000u) return sign | 0x7e00u | ((x >> 13) & 0x3ffu);  // NaN: quiet, payload kept
  if (x >= 0x477ff000u) return sign | 0x7c00u;  // >= 65520 rounds to infinity (ties go to even = inf)
  if (x < 0x38800000u) {
    // Below the smallest normal: adding 0.5 puts the value's fp16-subnormal bits in the low
    // mantissa bits and lets the FPU do the round-to-nearest-even for us.
    const float r = fp32_from_bits(x) + 0.5f;
    return sign | static_cast<uint16_t>(fp32_bits(r) - 0x3f000000u);
  }
  // Normal: rebias the exponent (127 -> 15) and round the 13 dropped bits to nearest even.
  const uint32_t odd = (x >> 13) & 1u;
  x += 0xc8000fffu + odd;
  return sign | static_cast<uint16_t>(x >> 13);
}

// ---------------------------------------------------------------------------------------------
// fp16, fastest the translation unit is compiled for (bit-identical to the scalar versions):
// F16C inside kernels built for AVX2 and in -march=native builds, the scalar code elsewhere.
// Rows of values go through the dispatched *_row functions below instead.

static inline float fp16_to_fp32(uint16_t h) {
#if defined(__F16C__)
  return _cvtsh_ss(h);
#else
  return fp16_to_fp32_scalar(h);
#endif
}

static inline uint16_t fp32_to_fp16(float f) {
#if defined(__F16C__)
  return static_cast<uint16_t>(_cvtss_sh(f, 0));  // 0 = round to nearest even
#else
  return fp32_to_fp16_scalar(f);
#endif
}

// ---------------------------------------------------------------------------------------------
// bf16: the top half of an fp32, rounded to nearest even; NaNs are forced quiet as ggml does.

static inline float bf16_to_fp32(uint16_t h) { return fp32_from_bits(static_cast<uint32_t>(h) << 16); }

static inline uint16_t fp32_to_bf16(float f) {
  const uint32_t u = fp32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// Row conversions: F16C/AVX2 when active_cpu_level() allows it (float_rows.cpp), else scalar.
void fp16_to_fp32_row(const uint16_t* src, float* dst, int64_t n);
void fp32_to_fp16_row(const float* src, uint16_t* dst, int64_t n);
void bf16_to_fp32_row(const uint16_t* src, float* dst, int64_t n);
void fp32_to_bf16_row(const float* src, uint16_t* dst, int64_t n);

// Attention's weighted sum of f16 value rows for several query rows at once: for r < n_rows and
// d < n, out[r * out_stride + d] += w[r * w_stride + j] * v[j * v_stride + d] over j < n_keys,
// each term fused (one rounding) and added in key order, so every CPU level gives the same sums
// and a row's result does not depend on the rows beside it.
void fp16_weighted_sum(const uint16_t* v, int64_t v_stride, int64_t n_keys, int64_t n, const float* w, int64_t w_stride,
                       float* out, int64_t out_stride, int64_t n_rows);

}  // namespace swapmoe
