// The constants and the one-value form of exp_poly (exp_rows.h), shared by the scalar rows and
// the AVX2 ones, which repeat these operations lane by lane.
#pragma once

#include <cmath>
#include <cstdint>

#include "tensor/fp16.h"

namespace swapmoe::exp_detail {

constexpr float kLo = -87.33654f;  // about ln(FLT_MIN): below it the result is 0
constexpr float kHi = 88.0f;       // above it the argument is clamped (2^127 stays finite)
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f;      // ln 2 = kLn2Hi + kLn2Lo, kLn2Hi with few bits set
constexpr float kLn2Lo = -2.12194440e-4f;
// exp(r) ~ 1 + r + r^2 (c0 r^5 + ... + c5) on |r| <= ln(2) / 2 (Cephes expf).
constexpr float kC[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                         4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

// 2^n for integral n in [-126, 127].
inline float pow2i(float n) { return fp32_from_bits(static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23); }

// Each step one rounding, in the order the vector code takes them; no `a * b + c` for a compiler
// to contract differently.
inline float exp_one(float x) {
  if (std::isnan(x)) return x;
  if (x < kLo) return 0.0f;
  x = std::fmin(x, kHi);
  const float xl = x * kLog2e;
  const float n = std::nearbyint(xl);
  float r = std::fma(n, -kLn2Hi, x);
  r = std::fma(n, -kLn2Lo, r);
  float p = kC[0];
  for (int i = 1; i < 6; ++i) p = std::fma(p, r, kC[i]);
  const float r2 = r * r;
  const float y = std::fma(p, r2, r);
  const float y1 = y + 1.0f;
  return y1 * pow2i(n);
}

}  // namespace swapmoe::exp_detail
