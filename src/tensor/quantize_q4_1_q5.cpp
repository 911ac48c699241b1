// Reference quantisation of the 32-value block types Q4_1, Q5_0, Q5_1 and the activation type
// Q8_1 (ggml's rounding rules, float operations in ggml's order: -ffp-contract=off).
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "tensor/fp16.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_search.h"
#include "tensor/quantize.h"

namespace swapmoe {

namespace {

// ggml converts the rounded value with a C cast to int8_t/uint8_t; for the in-range values
// these see, that is truncation toward zero.
int trunc_to_int(float v) { return static_cast<int>(v); }

// Q4_1/Q5_1: the block's range [min, max] in `steps` steps; stores d and m, returns 1/d (0 for
// a constant block).
float store_range_scale(const float* x, int steps, uint16_t* d_out, uint16_t* m_out, float* min_out) {
  float min = FLT_MAX, max = -FLT_MAX;
  for (int j = 0; j < 32; ++j) {
    if (x[j] < min) min = x[j];
    if (x[j] > max) max = x[j];
  }
  const float d = (max - min) / static_cast<float>(steps);
  *d_out = fp32_to_fp16(d);
  *m_out = fp32_to_fp16(min);
  *min_out = min;
  return d != 0.0f ? 1.0f / d : 0.0f;
}

// Packs 32 five-bit quants: low nibbles as Q4_0, fifth bits into the 32-bit word qh.
void pack_5bit(const uint8_t* q, uint8_t* qs, uint8_t* qh_bytes) {
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    qs[j] = static_cast<uint8_t>((q[j] & 0x0F) | ((q[j + 16] & 0x0F) << 4));
    qh |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
    qh |= static_cast<uint32_t>((q[j + 16] >> 4) & 1) << (j + 16);
  }
  std::memcpy(qh_bytes, &qh, 4);
}

// Value j (0..31) of a 5-bit block.
int unpack_5bit(const uint8_t* qs, const uint8_t* qh_bytes, int j) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, 4);
  const int lo = j < 16 ? (qs[j] & 0x0F) : (qs[j - 16] >> 4);
  return lo | static_cast<int>(((qh >> j) & 1) << 4);
}

}  // namespace

// Q4_1: asymmetric, the block's range [min, max] split into 15 steps, round half up.
void quantize_row_q4_1_ref(const float* x, void* vy, int64_t n) {
  auto* y = static_cast<BlockQ4_1*>(vy);
  for (int64_t i = 0; i < n / QK4_1; ++i, x += QK4_1) {
    float min;
    const float id = store_range_scale(x, 15, &y[i].d, &y[i].m, &min);
    for (int j = 0; j < QK4_1 / 2; ++j) {
      const int q0 = std::min(15, trunc_to_int((x[j] - min) * id + 0.5f));
      const int q1 = std::min(15, trunc_to_int((x[j + QK4_1 / 2] - min) * id + 0.5f));
      y[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void dequantize_row_q4_1(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ4_1*>(vx);
  for (int64_t i = 0; i < n / QK4_1; ++i, y += QK4_1) {
    const float d = fp16_to_fp32(x[i].d);
    const float m = fp16_to_fp32(x[i].m);
    for (int j = 0; j < QK4_1 / 2; ++j) {
      y[j] = static_cast<float>(x[i].qs[j] & 0x0F) * d + m;
      y[j + QK4_1 / 2] = static_cast<float>(x[i].qs[j] >> 4) * d + m;
    }
  }
}

// Q5_0: as Q4_0 with one more bit: the value of largest magnitude maps to -16.
void quantize_row_q5_0_ref(const float* x, void* vy, int64_t n) {
  auto* y = static_cast<BlockQ5_0*>(vy);
  for (int64_t i = 0; i < n / QK5_0; ++i, x += QK5_0) {
    float amax;
    const float d = max_by_magnitude(x, QK5_0, &amax) / -16;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    uint8_t q[QK5_0];
    for (int j = 0; j < QK5_0; ++j) q[j] = static_cast<uint8_t>(std::min(31, trunc_to_int(x[j] * id + 16.5f)));
    pack_5bit(q, y[i].qs, y[i].qh);
  }
}

void dequantize_row_q5_0(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ5_0*>(vx);
  for (int64_t i = 0; i < n / QK5_0; ++i, y += QK5_0) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < QK5_0; ++j) y[j] = static_cast<float>(unpack_5bit(x[i].qs, x[i].qh, j) - 16) * d;
  }
}

// Q5_1: as Q4_1 with 31 steps; ggml does not clamp here (the max itself rounds to 31).
void quantize_row_q5_1_ref(const float* x, void* vy, int64_t n) {
  auto* y = static_cast<BlockQ5_1*>(vy);
  for (int64_t i = 0; i < n / QK5_1; ++i, x += QK5_1) {
    float min;
    const float id = store_range_scale(x, 31, &y[i].d, &y[i].m, &min);
    uint8_t q[QK5_1];
    for (int j = 0; j < QK5_1; ++j) q[j] = static_cast<uint8_t>(trunc_to_int((x[j] - min) * id + 0.5f));
    pack_5bit(q, y[i].qs, y[i].qh);
  }
}

void dequantize_row_q5_1(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ5_1*>(vx);
  for (int64_t i = 0; i < n / QK5_1; ++i, y += QK5_1) {
    const float d = fp16_to_fp32(x[i].d);
    const float m = fp16_to_fp32(x[i].m);
    for (int j = 0; j < QK5_1; ++j) y[j] = static_cast<float>(unpack_5bit(x[i].qs, x[i].qh, j)) * d + m;
  }
}

// Q8_1: Q8_0's rounding, plus the scaled sum of the quants.
void quantize_row_q8_1_ref(const float* x, void* vy, int64_t n) {
  auto* y = static_cast<BlockQ8_1*>(vy);
  for (int64_t i = 0; i < n / QK8_1; ++i, x += QK8_1) {
    float amax = 0.0f;
    for (int j = 0; j < QK8_1; ++j) {
      const float ax = std::fabs(x[j]);
      amax = amax > ax ? amax : ax;
    }
    const float d = amax / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    int sum = 0;
    for (int j = 0; j < QK8_1; ++j) {
      y[i].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
      sum += y[i].qs[j];
    }
    y[i].s = fp32_to_fp16(static_cast<float>(sum) * d);
  }
}

void dequantize_row_q8_1(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ8_1*>(vx);
  for (int64_t i = 0; i < n / QK8_1; ++i, y += QK8_1) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < QK8_1; ++j) y[j] = static_cast<float>(x[i].qs[j]) * d;
  }
}

}  // namespace swapmoe
