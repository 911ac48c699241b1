// Reference quantisation of the low-bit K-quants Q2_K and Q3_K (16 sub-blocks of 16 values).
// Compiled with -ffp-contract=off so results are bit-identical to ggml's reference.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "tensor/fp16.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_search.h"
#include "tensor/quantize.h"

namespace swapmoe {

namespace {

// Both types store 2 bits per value the same way: per 128 values, 32 bytes whose bit pair k
// holds value 32k + l of that half.
void pack_2bit(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < QK_K; j += 128, qs += 32) {
    for (int l = 0; l < 32; ++l) {
      qs[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    }
  }
}

// The two bits of value v (0..255) as pack_2bit stores them.
int unpack_2bit(const uint8_t* qs, int v) { return (qs[32 * (v / 128) + v % 32] >> (2 * ((v % 128) / 32))) & 3; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Q2_K

// Each sub-block gets an asymmetric (scale, min) fitted by least absolute deviation weighted
// by |x|; both are then quantised to 4 bits against the super-block maxima.
void quantize_row_q2_K_ref(const float* x, void* vy, int64_t n) {
  auto* y = static_cast<BlockQ2_K*>(vy);
  constexpr float kScaleLevels = 15.f;
  uint8_t L[QK_K];
  uint8_t Laux[16];
  float weights[16];
  float mins[QK_K / 16];
  float scales[QK_K / 16];
  for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
    float max_scale = 0, max_min = 0;  // scales are >= 0: the min takes the offset
    for (int j = 0; j < QK_K / 16; ++j) {
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
      scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    if (max_scale > 0) {
      const float iscale = kScaleLevels / max_scale;
      for (int j = 0; j < QK_K / 16; ++j) y[i].scales[j] = static_cast<uint8_t>(nearest_int(iscale * scales[j]));
      y[i].d = fp32_to_fp16(max_scale / kScaleLevels);
    } else {
      std::memset(y[i].scales, 0, sizeof y[i].scales);
      y[i].d = fp32_to_fp16(0.f);
    }
    if (max_min > 0) {
      const float iscale = kScaleLevels / max_min;
      for (int j = 0; j < QK_K / 16; ++j) {
        y[i].scales[j] = static_cast<uint8_t>(y[i].scales[j] | (nearest_int(iscale * mins[j]) << 4));
      }
      y[i].dmin = fp32_to_fp16(max_min / kScaleLevels);
    } else {
      y[i].dmin = fp32_to_fp16(0.f);
    }
    // Requantise against the stored 4-bit scales and mins.
    for (int j = 0; j < QK_K / 16; ++j) {
      const float d = fp16_to_fp32(y[i].d) * static_cast<float>(y[i].scales[j] & 0xF);
      if (d == 0.0f) continue;
      const float dm = fp16_to_fp32(y[i].dmin) * static_cast<float>(y[i].scales[j] >> 4);
      for (int ii = 0; ii < 16; ++ii) {
        L[16 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(3, nearest_int((x[16 * j + ii] + dm) / d))));
      }
    }
    pack_2bit(L, y[i].qs);
  }
}

void dequantize_row_q2_K(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ2_K*>(vx);
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    const float dmin = fp16_to_fp32(x[i].dmin);
    for (int v = 0; v < QK_K; ++v) {
      const uint8_t sc = x[i].scales[v / 16];
      const float dl = d * static_cast<float>(sc & 0xF), ml = dmin * static_cast<float>(sc >> 4);
      *y++ = dl * static_cast<float>(unpack_2bit(x[i].qs, v)) - ml;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Q3_K

// Symmetric: each sub-block's scale comes from make_q3_quants; the 16 scales are quantised to
// 6 bits (signed, offset 32) with the largest mapped to -32.
void quantize_row_q3_K_ref(const float* x, void* vy, int64_t n) {
  auto* y = static_cast<BlockQ3_K*>(vy);
  int8_t L[QK_K];
  float scales[QK_K / 16];
  for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
    float max_scale = 0, amax = 0;
    for (int j = 0; j < QK_K / 16; ++j) {
      scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j, true);
      const float scale = std::fabs(scales[j]);
      if (scale > amax) {
        amax = scale;
        max_scale = scales[j];
      }
    }
    std::memset(y[i].scales, 0, sizeof y[i].scales);
    if (max_scale != 0.0f) {
      const float iscale = -32.f / max_scale;
      for (int j = 0; j < QK_K / 16; ++j) {
        // ggml truncates to int8 before clamping; kept for identical results on odd inputs.
        const auto l8 = static_cast<int8_t>(nearest_int(iscale * scales[j]));
        const int l = std::max<int>(-32, std::min<int>(31, l8)) + 32;
        if (j < 8) {
          y[i].scales[j] = static_cast<uint8_t>(l & 0xF);
        } else {
          y[i].scales[j - 8] = static_cast<uint8_t>(y[i].scales[j - 8] | ((l & 0xF) << 4));
        }
        y[i].scales[j % 4 + 8] = static_cast<uint8_t>(y[i].scales[j % 4 + 8] | ((l >> 4) << (2 * (j / 4))));
      }
      y[i].d = fp32_to_fp16(1 / iscale);
    } else {
      y[i].d = fp32_to_fp16(0.f);
    }

    // Requantise against the stored scales.
    int8_t sc[QK_K / 16];
    unpack_scales_q3_K(y[i].scales, sc);
    for (int j = 0; j < QK_K / 16; ++j) {
      const float d = fp16_to_fp32(y[i].d) * static_cast<float>(sc[j]);
      if (d == 0.0f) continue;
      for (int ii = 0; ii < 16; ++ii) {
        const int l = std::max(-4, std::min(3, nearest_int(x[16 * j + ii] / d)));
        L[16 * j + ii] = static_cast<int8_t>(l + 4);
      }
    }

    std::memset(y[i].hmask, 0, sizeof y[i].hmask);
    uint8_t low[QK_K];
    for (int v = 0; v < QK_K; ++v) {
      if (L[v] > 3) y[i].hmask[v % 32] = static_cast<uint8_t>(y[i].hmask[v % 32] | (1 << (v / 32)));
      low[v] = static_cast<uint8_t>(L[v] & 3);
    }
    pack_2bit(low, y[i].qs);
  }
}

void dequantize_row_q3_K(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ3_K*>(vx);
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    int8_t sc[QK_K / 16];
    unpack_scales_q3_K(x[i].scales, sc);
    for (int v = 0; v < QK_K; ++v) {
      const int high = (x[i].hmask[v % 32] >> (v / 32)) & 1;
      const float dl = d * static_cast<float>(sc[v / 16]);
      *y++ = dl * static_cast<float>(unpack_2bit(x[i].qs, v) - (high ? 0 : 4));
    }
  }
}

}  // namespace swapmoe
