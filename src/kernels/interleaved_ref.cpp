// The interleaved kernels' scalar reference and the activation preparation they share. Every
// flavour's gemv and gemm4 equal these bit for bit (exact integer sums, the same float steps).
#include <cmath>
#include <cstring>

#include "kernels/vec_dot.h"
#include "tensor/fp16.h"
#include "tensor/interleave.h"
#include "tensor/quant_blocks.h"

namespace swapmoe {

void gemv_q4_0x8_ref(int64_t n, float* s, const void* vx, const X8Activation& y) {
  const auto* x = static_cast<const BlockQ4_0x8*>(vx);
  const auto* yq = static_cast<const BlockQ8_0*>(y.q);
  float acc[kInterleaveRows] = {};
  for (int64_t b = 0; b < n / QK4_0; ++b) {
    for (int r = 0; r < kInterleaveRows; ++r) {
      int32_t isum = y.offset[b];
      for (int c = 0; c < 4; ++c)
        for (int i = 0; i < 4; ++i) {
          const uint8_t q = x[b].qs[c * 32 + r * 4 + i];
          isum += (q & 0xF) * yq[b].qs[c * 4 + i] + (q >> 4) * yq[b].qs[16 + c * 4 + i];
        }
      acc[r] = std::fma(fp16_to_fp32(x[b].d[r]) * y.d[b], static_cast<float>(isum), acc[r]);
    }
  }
  for (int r = 0; r < kInterleaveRows; ++r) s[r] = acc[r];
}

void gemm4_q4_0x8_ref(int64_t n, float* s, const void* x, const X8Activation* y) {
  for (int t = 0; t < 4; ++t) gemv_q4_0x8_ref(n, s + t * kInterleaveRows, x, y[t]);
}

// Q8_0: the block's integer sum, then one fused step. (The kernels that make the weights
// unsigned, q + 128, start the sum at the offset -128 * the activation block's sum: the same
// integer.)
void gemv_q8_0x8_ref(int64_t n, float* s, const void* vx, const X8Activation& y) {
  const auto* x = static_cast<const BlockQ8_0x8*>(vx);
  const auto* yq = static_cast<const BlockQ8_0*>(y.q);
  float acc[kInterleaveRows] = {};
  for (int64_t b = 0; b < n / QK8_0; ++b) {
    for (int r = 0; r < kInterleaveRows; ++r) {
      int32_t isum = 0;
      for (int c = 0; c < 8; ++c)
        for (int i = 0; i < 4; ++i) isum += x[b].qs[c * 32 + r * 4 + i] * yq[b].qs[c * 4 + i];
      acc[r] = std::fma(fp16_to_fp32(x[b].d[r]) * y.d[b], static_cast<float>(isum), acc[r]);
    }
  }
  for (int r = 0; r < kInterleaveRows; ++r) s[r] = acc[r];
}

void gemm4_q8_0x8_ref(int64_t n, float* s, const void* x, const X8Activation* y) {
  for (int t = 0; t < 4; ++t) gemv_q8_0x8_ref(n, s + t * kInterleaveRows, x, y[t]);
}

// Q4_K: per super-block, the integer sums of each sub-block (scaled by the row's scale) and of
// its mins (times the activation's sub-block sums), then two fused steps.
void gemv_q4_Kx8_ref(int64_t n, float* s, const void* vx, const X8Activation& y) {
  const auto* x = static_cast<const BlockQ4_Kx8*>(vx);
  const auto* yq = static_cast<const BlockQ8_K*>(y.q);
  float acc[kInterleaveRows] = {};
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const BlockQ8_K& yb = yq[b];
    for (int r = 0; r < kInterleaveRows; ++r) {
      int32_t total = 0, mins = 0;
      for (int j = 0; j < 4; ++j) {
        int32_t lo = 0, hi = 0;
        for (int c = 0; c < 8; ++c)
          for (int i = 0; i < 4; ++i) {
            const uint8_t q = x[b].qs[j * 256 + c * 32 + r * 4 + i];
            lo += (q & 0xF) * yb.qs[64 * j + 4 * c + i];
            hi += (q >> 4) * yb.qs[64 * j + 32 + 4 * c + i];
          }
        for (int half = 0; half < 2; ++half) {
          const int sub = 2 * j + half;
          const uint8_t* g = x[b].scales + sub * 12;
          uint32_t high;
          std::memcpy(&high, g + 8, 4);
          const int32_t sc = (g[r] & 0xF) | ((high >> (2 * r)) & 3) << 4;
          const int32_t m = (g[r] >> 4) | ((high >> (16 + 2 * r)) & 3) << 4;
          total += sc * (half ? hi : lo);
          mins += m * (yb.bsums[2 * sub] + yb.bsums[2 * sub + 1]);
        }
      }
      acc[r] = std::fma(fp16_to_fp32(x[b].d[r]) * yb.d, static_cast<float>(total), acc[r]);
      acc[r] = std::fma(-(fp16_to_fp32(x[b].dmin[r]) * yb.d), static_cast<float>(mins), acc[r]);
    }
  }
  for (int r = 0; r < kInterleaveRows; ++r) s[r] = acc[r];
}

void gemm4_q4_Kx8_ref(int64_t n, float* s, const void* x, const X8Activation* y) {
  for (int t = 0; t < 4; ++t) gemv_q4_Kx8_ref(n, s + t * kInterleaveRows, x, y[t]);
}

// Q6_K: per super-block, each sub-block's integer sum of (q - 32) * y, the -32 folded in as
// -32 times the activation's block sum (Q8_K's bsums, one per sub-block), scaled by the row's
// sub-block scale; then one fused step.
void gemv_q6_Kx8_ref(int64_t n, float* s, const void* vx, const X8Activation& y) {
  const auto* x = static_cast<const BlockQ6_Kx8*>(vx);
  const auto* yq = static_cast<const BlockQ8_K*>(y.q);
  float acc[kInterleaveRows] = {};
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const BlockQ6_Kx8& g = x[b];
    const BlockQ8_K& yb = yq[b];
    for (int r = 0; r < kInterleaveRows; ++r) {
      int32_t sub[QK_K / 16];
      for (int j = 0; j < QK_K / 16; ++j) sub[j] = -32 * yb.bsums[j];
      for (int h = 0; h < 2; ++h)
        for (int c = 0; c < 8; ++c)
          for (int i = 0; i < 4; ++i) {
            const int l = 4 * c + i;  // value 128h + l + 32k, k = 0..3
            const uint8_t a = g.ql[(16 * h + c) * 32 + r * 4 + i], bq = g.ql[(16 * h + 8 + c) * 32 + r * 4 + i];
            const uint8_t hb = g.qh[(8 * h + c) * 32 + r * 4 + i];
            const int q[4] = {(a & 0xF) | (hb & 3) << 4, (bq & 0xF) | ((hb >> 2) & 3) << 4,
                              (a >> 4) | ((hb >> 4) & 3) << 4, (bq >> 4) | ((hb >> 6) & 3) << 4};
            for (int k = 0; k < 4; ++k) {
              const int v = 128 * h + l + 32 * k;
              sub[v / 16] += q[k] * yb.qs[v];
            }
          }
      int32_t total = 0;
      for (int j = 0; j < QK_K / 16; ++j) total += g.scales[j * kInterleaveRows + r] * sub[j];
      acc[r] = std::fma(fp16_to_fp32(g.d[r]) * yb.d, static_cast<float>(total), acc[r]);
    }
  }
  for (int r = 0; r < kInterleaveRows; ++r) s[r] = acc[r];
}

void gemm4_q6_Kx8_ref(int64_t n, float* s, const void* x, const X8Activation* y) {
  for (int t = 0; t < 4; ++t) gemv_q6_Kx8_ref(n, s + t * kInterleaveRows, x, y[t]);
}

void prepare_x8_activation(GgmlType w, const void* q, int64_t n, float* d, int32_t* offset) {
  if (w == GgmlType::Q4_K_X8 || w == GgmlType::Q6_K_X8) {  // the kernels read Q8_K's block sums themselves
    const auto* y = static_cast<const BlockQ8_K*>(q);
    for (int64_t b = 0; b < n / QK_K; ++b) d[b] = y[b].d, offset[b] = 0;
    return;
  }
  // Q4_0_X8: nibbles q encode q - 8. Q8_0_X8: the kernels read q + 128 (unsigned).
  const int32_t bias = w == GgmlType::Q8_0_X8 ? 128 : 8;
  const auto* y = static_cast<const BlockQ8_0*>(q);
  for (int64_t b = 0; b < n / QK8_0; ++b) {
    int32_t sum = 0;
    for (int j = 0; j < QK8_0; ++j) sum += y[b].qs[j];
    d[b] = fp16_to_fp32(y[b].d);
    offset[b] = -bias * sum;
  }
}

}  // namespace swapmoe
