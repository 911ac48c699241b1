// Reference quantisation of the non-linear 4-bit types IQ4_NL (blocks of 32) and IQ4_XS
// (super-blocks of 256 with 6-bit sub-block scales), as llama-quantize writes them without an
// importance matrix. Compiled with -ffp-contract=off so results are bit-identical to ggml's.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "tensor/fp16.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_search.h"
#include "tensor/quantize.h"

namespace swapmoe {

namespace {

constexpr float kGroupMaxEps = 1e-15f;
constexpr int kScaleTries = 7;  // candidate scales on each side of the first guess

// Index of the level nearest to v (ties to the upper one), by bisection as ggml does it.
int nearest_level(float v) {
  const int8_t* val = kValuesIQ4NL;
  if (v <= val[0]) return 0;
  if (v >= val[15]) return 15;
  int lo = 0, hi = 15;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (v < val[mid]) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return v - val[hi - 1] < val[hi] - v ? hi - 1 : hi;
}

// Weighted fit of sum(w * q * x) / sum(w * q^2) for the levels nearest to id * x.
struct Fit {
  float sumqx = 0, sumq2 = 0;
};
Fit fit_levels(const float* x, const float* w, float id, uint8_t* L) {
  Fit f;
  for (int j = 0; j < 32; ++j) {
    const int l = nearest_level(id * x[j]);
    if (L) L[j] = static_cast<uint8_t>(l);
    const float q = kValuesIQ4NL[l];
    f.sumqx += w[j] * q * x[j];
    f.sumq2 += w[j] * q * q;
  }
  return f;
}

// Scale of one block of 32 (0 for an all-zero block), its levels in L: the scale mapping the
// largest magnitude onto the outermost level, then 2 * kScaleTries + 1 scales around it, each
// refitted by weighted least squares (weights x^2); the best fit wins.
float block_scale(const float* x, uint8_t* L) {
  float w[32];
  for (int j = 0; j < 32; ++j) w[j] = x[j] * x[j];
  float amax;
  const float max = max_by_magnitude(x, 32, &amax);
  if (amax < kGroupMaxEps) return 0;
  const float v0 = kValuesIQ4NL[0];
  Fit f = fit_levels(x, w, 1 / (-max / v0), L);
  float d = f.sumq2 > 0 ? f.sumqx / f.sumq2 : 0.f;
  float best = d * f.sumqx;
  for (int itry = -kScaleTries; itry <= kScaleTries; ++itry) {
    const float id = static_cast<float>(itry + kValuesIQ4NL[0]) / max;
    f = fit_levels(x, w, id, nullptr);
    if (f.sumq2 > 0 && f.sumqx * f.sumqx > best * f.sumq2) {
      d = f.sumqx / f.sumq2;
      best = d * f.sumqx;
    }
  }
  return d;
}

void pack_nibbles(const uint8_t* L, int n, uint8_t* qs) {
  for (int i = 0; i < n / 32; ++i) {
    for (int j = 0; j < 16; ++j) qs[16 * i + j] = static_cast<uint8_t>(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
  }
}

}  // namespace

// One scale per block; the levels are chosen again for the best scale.
void quantize_row_iq4_nl(const float* x, void* vy, int64_t n) {
  auto* y = static_cast<BlockIQ4_NL*>(vy);
  uint8_t L[QK4_NL];
  for (int64_t i = 0; i < n / QK4_NL; ++i, x += QK4_NL) {
    const float d = block_scale(x, L);
    y[i].d = fp32_to_fp16(d);
    const float id = d != 0.0f ? 1 / d : 0;
    for (int j = 0; j < QK4_NL; ++j) L[j] = static_cast<uint8_t>(nearest_level(id * x[j]));
    pack_nibbles(L, QK4_NL, y[i].qs);
  }
}

void dequantize_row_iq4_nl(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockIQ4_NL*>(vx);
  for (int64_t i = 0; i < n / QK4_NL; ++i, y += QK4_NL) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < QK4_NL / 2; ++j) {
      y[j] = d * static_cast<float>(kValuesIQ4NL[x[i].qs[j] & 0xF]);
      y[j + QK4_NL / 2] = d * static_cast<float>(kValuesIQ4NL[x[i].qs[j] >> 4]);
    }
  }
}

// Block scales as IQ4_NL, then quantised to 6 bits (signed, offset 32) against the largest,
// which maps to -32; the levels are chosen again for each stored scale.
void quantize_row_iq4_xs_ref(const float* x, void* vy, int64_t n) {
  auto* y = static_cast<BlockIQ4_XS*>(vy);
  uint8_t L[QK_K];
  float scales[QK_K / 32];
  for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < QK_K / 32; ++ib) {
      scales[ib] = block_scale(x + 32 * ib, L + 32 * ib);
      if (std::fabs(scales[ib]) > amax_scale) {
        amax_scale = std::fabs(scales[ib]);
        max_scale = scales[ib];
      }
    }
    const float d = -max_scale / 32;
    y[i].d = fp32_to_fp16(d);
    const float id = d != 0.0f ? 1 / d : 0.f;
    y[i].scales_h = 0;
    std::memset(y[i].scales_l, 0, sizeof y[i].scales_l);
    for (int ib = 0; ib < QK_K / 32; ++ib) {
      const int l = std::max(-32, std::min(31, nearest_int(id * scales[ib])));
      const float dl = d * static_cast<float>(l);  // ggml uses the unrounded d here
      const float idl = dl != 0.0f ? 1 / dl : 0.f;
      for (int j = 0; j < 32; ++j) L[32 * ib + j] = static_cast<uint8_t>(nearest_level(idl * x[32 * ib + j]));
      const int stored = l + 32;
      y[i].scales_l[ib / 2] = static_cast<uint8_t>(y[i].scales_l[ib / 2] | ((stored & 0xF) << (4 * (ib % 2))));
      y[i].scales_h = static_cast<uint16_t>(y[i].scales_h | ((stored >> 4) << (2 * ib)));
    }
    pack_nibbles(L, QK_K, y[i].qs);
  }
}

void dequantize_row_iq4_xs(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockIQ4_XS*>(vx);
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    const uint8_t* qs = x[i].qs;
    for (int ib = 0; ib < QK_K / 32; ++ib, qs += 16, y += 32) {
      const float dl = d * static_cast<float>(iq4_xs_scale(x[i], ib));
      for (int j = 0; j < 16; ++j) {
        y[j] = dl * static_cast<float>(kValuesIQ4NL[qs[j] & 0xF]);
        y[j + 16] = dl * static_cast<float>(kValuesIQ4NL[qs[j] >> 4]);
      }
    }
  }
}

}  // namespace swapmoe
