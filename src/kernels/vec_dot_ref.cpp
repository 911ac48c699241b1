// Scalar reference dot products: straightforward, exact per block (integer sums), summed in
// double. They define what the SIMD kernels must compute.
#include "kernels/vec_dot.h"
#include "tensor/fp16.h"
#include "tensor/quant_blocks.h"

namespace swapmoe {

void vec_dot_f32_f32_ref(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const float*>(vx);
  const auto* y = static_cast<const float*>(vy);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * y[i];
  *s = static_cast<float>(sum);
}

void vec_dot_f16_f32_ref(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const uint16_t*>(vx);
  const auto* y = static_cast<const float*>(vy);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(fp16_to_fp32_scalar(x[i])) * y[i];
  *s = static_cast<float>(sum);
}

void vec_dot_bf16_f32_ref(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const uint16_t*>(vx);
  const auto* y = static_cast<const float*>(vy);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(bf16_to_fp32(x[i])) * y[i];
  *s = static_cast<float>(sum);
}

void vec_dot_q8_0_q8_0_ref(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ8_0*>(vx);
  const auto* y = static_cast<const BlockQ8_0*>(vy);
  double sum = 0;
  for (int64_t b = 0; b < n / QK8_0; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < QK8_0; ++j) isum += x[b].qs[j] * y[b].qs[j];
    sum += static_cast<double>(fp16_to_fp32_scalar(x[b].d)) * fp16_to_fp32_scalar(y[b].d) * isum;
  }
  *s = static_cast<float>(sum);
}

void vec_dot_q4_0_q8_0_ref(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ4_0*>(vx);
  const auto* y = static_cast<const BlockQ8_0*>(vy);
  double sum = 0;
  for (int64_t b = 0; b < n / QK4_0; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < QK4_0 / 2; ++j) {
      isum += ((x[b].qs[j] & 0xF) - 8) * y[b].qs[j];
      isum += ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + QK4_0 / 2];
    }
    sum += static_cast<double>(fp16_to_fp32_scalar(x[b].d)) * fp16_to_fp32_scalar(y[b].d) * isum;
  }
  *s = static_cast<float>(sum);
}

// Q4_K/Q5_K: x = d*sc*q - dmin*m, so dot = d*dy*sum(sc * q.q8) - dmin*dy*sum(m * sum(q8)),
// the second term read from the precomputed bsums.
void vec_dot_q4_K_q8_K_ref(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ4_K*>(vx);
  const auto* y = static_cast<const BlockQ8_K*>(vy);
  double sum = 0;
  for (int64_t b = 0; b < n / QK_K; ++b) {
    int32_t sum_q = 0, sum_m = 0;
    for (int j = 0; j < QK_K / 32; ++j) {
      uint8_t sc, m;
      unpack_scale_min_k4(j, x[b].scales, &sc, &m);
      const uint8_t* q = x[b].qs + 32 * (j / 2);
      const int8_t* q8 = y[b].qs + 32 * j;
      int32_t dot = 0;
      for (int l = 0; l < 32; ++l) dot += ((j % 2) ? (q[l] >> 4) : (q[l] & 0xF)) * q8[l];
      sum_q += sc * dot;
      sum_m += m * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
    }
    sum += static_cast<double>(y[b].d) *
           (static_cast<double>(fp16_to_fp32_scalar(x[b].d)) * sum_q - static_cast<double>(fp16_to_fp32_scalar(x[b].dmin)) * sum_m);
  }
  *s = static_cast<float>(sum);
}

void vec_dot_q5_K_q8_K_ref(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ5_K*>(vx);
  const auto* y = static_cast<const BlockQ8_K*>(vy);
  double sum = 0;
  for (int64_t b = 0; b < n / QK_K; ++b) {
    int32_t sum_q = 0, sum_m = 0;
    for (int j = 0; j < QK_K / 32; ++j) {
      uint8_t sc, m;
      unpack_scale_min_k4(j, x[b].scales, &sc, &m);
      const uint8_t* q = x[b].qs + 32 * (j / 2);
      const int8_t* q8 = y[b].qs + 32 * j;
      int32_t dot = 0;
      for (int l = 0; l < 32; ++l) {
        const int lo = (j % 2) ? (q[l] >> 4) : (q[l] & 0xF);
        const int hi = (x[b].qh[l] >> j) & 1;
        dot += (lo | (hi << 4)) * q8[l];
      }
      sum_q += sc * dot;
      sum_m += m * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
    }
    sum += static_cast<double>(y[b].d) *
           (static_cast<double>(fp16_to_fp32_scalar(x[b].d)) * sum_q - static_cast<double>(fp16_to_fp32_scalar(x[b].dmin)) * sum_m);
  }
  *s = static_cast<float>(sum);
}

void vec_dot_q6_K_q8_K_ref(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ6_K*>(vx);
  const auto* y = static_cast<const BlockQ8_K*>(vy);
  double sum = 0;
  for (int64_t b = 0; b < n / QK_K; ++b) {
    int32_t isum = 0;
    for (int v = 0; v < QK_K; ++v) {
      // Value v: half h = v/128, quarter k = (v%128)/32, lane l = v%32 (layout in quant_blocks.h).
      const int h = v / 128, k = (v % 128) / 32, l = v % 32;
      const uint8_t* ql = x[b].ql + 64 * h;
      const uint8_t* qh = x[b].qh + 32 * h;
      const int lo = (k & 1) ? ql[l + 32] : ql[l];
      const int lo4 = (k & 2) ? (lo >> 4) : (lo & 0xF);
      const int q = (lo4 | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
      isum += x[b].scales[v / 16] * q * y[b].qs[v];
    }
    sum += static_cast<double>(fp16_to_fp32_scalar(x[b].d)) * y[b].d * isum;
  }
  *s = static_cast<float>(sum);
}

// ---------------------------------------------------------------------------------------------
// 32-value blocks added with issue 9

namespace {

// The four-bit codes of a Q4_0-ordered block, value j.
int nibble(const uint8_t* qs, int j) { return j < 16 ? (qs[j] & 0xF) : (qs[j - 16] >> 4); }

int fifth_bit(const uint8_t* qh, int j) { return (qh[j / 8] >> (j % 8)) & 1; }

}  // namespace

// Q4_1/Q5_1: x = d*q + m, so dot = dx*dy*sum(q*q8) + m*(dy*sum(q8)), the last factor being
// the activation block's precomputed s.
void vec_dot_q4_1_q8_1_ref(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ4_1*>(vx);
  const auto* y = static_cast<const BlockQ8_1*>(vy);
  double sum = 0;
  for (int64_t b = 0; b < n / QK4_1; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < QK4_1; ++j) isum += nibble(x[b].qs, j) * y[b].qs[j];
    sum += static_cast<double>(fp16_to_fp32_scalar(x[b].d)) * fp16_to_fp32_scalar(y[b].d) * isum +
           static_cast<double>(fp16_to_fp32_scalar(x[b].m)) * fp16_to_fp32_scalar(y[b].s);
  }
  *s = static_cast<float>(sum);
}

void vec_dot_q5_1_q8_1_ref(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ5_1*>(vx);
  const auto* y = static_cast<const BlockQ8_1*>(vy);
  double sum = 0;
  for (int64_t b = 0; b < n / QK5_1; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < QK5_1; ++j) isum += (nibble(x[b].qs, j) | (fifth_bit(x[b].qh, j) << 4)) * y[b].qs[j];
    sum += static_cast<double>(fp16_to_fp32_scalar(x[b].d)) * fp16_to_fp32_scalar(y[b].d) * isum +
           static_cast<double>(fp16_to_fp32_scalar(x[b].m)) * fp16_to_fp32_scalar(y[b].s);
  }
  *s = static_cast<float>(sum);
}

void vec_dot_q5_0_q8_0_ref(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ5_0*>(vx);
  const auto* y = static_cast<const BlockQ8_0*>(vy);
  double sum = 0;
  for (int64_t b = 0; b < n / QK5_0; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < QK5_0; ++j) isum += ((nibble(x[b].qs, j) | (fifth_bit(x[b].qh, j) << 4)) - 16) * y[b].qs[j];
    sum += static_cast<double>(fp16_to_fp32_scalar(x[b].d)) * fp16_to_fp32_scalar(y[b].d) * isum;
  }
  *s = static_cast<float>(sum);
}

void vec_dot_iq4_nl_q8_0_ref(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockIQ4_NL*>(vx);
  const auto* y = static_cast<const BlockQ8_0*>(vy);
  double sum = 0;
  for (int64_t b = 0; b < n / QK4_NL; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < QK4_NL; ++j) isum += kValuesIQ4NL[nibble(x[b].qs, j)] * y[b].qs[j];
    sum += static_cast<double>(fp16_to_fp32_scalar(x[b].d)) * fp16_to_fp32_scalar(y[b].d) * isum;
  }
  *s = static_cast<float>(sum);
}

void vec_dot_mxfp4_q8_0_ref(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockMXFP4*>(vx);
  const auto* y = static_cast<const BlockQ8_0*>(vy);
  double sum = 0;
  for (int64_t b = 0; b < n / QK_MXFP4; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < QK_MXFP4; ++j) isum += kValuesMXFP4[nibble(x[b].qs, j)] * y[b].qs[j];
    sum += static_cast<double>(e8m0_to_fp32_half(x[b].e)) * fp16_to_fp32_scalar(y[b].d) * isum;
  }
  *s = static_cast<float>(sum);
}

// ---------------------------------------------------------------------------------------------
// K-quants added with issue 9

namespace {

// Two bits of value v (0..255) in the Q2_K/Q3_K layout (quant_blocks.h).
int two_bits(const uint8_t* qs, int v) { return (qs[32 * (v / 128) + v % 32] >> (2 * ((v % 128) / 32))) & 3; }

}  // namespace

// Q2_K: x = d*sc*q - dmin*m per 16 values; the min term comes from the bsums.
void vec_dot_q2_K_q8_K_ref(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ2_K*>(vx);
  const auto* y = static_cast<const BlockQ8_K*>(vy);
  double sum = 0;
  for (int64_t b = 0; b < n / QK_K; ++b) {
    int32_t sum_q = 0, sum_m = 0;
    for (int j = 0; j < QK_K / 16; ++j) {
      int32_t dot = 0;
      for (int l = 0; l < 16; ++l) dot += two_bits(x[b].qs, 16 * j + l) * y[b].qs[16 * j + l];
      sum_q += (x[b].scales[j] & 0xF) * dot;
      sum_m += (x[b].scales[j] >> 4) * y[b].bsums[j];
    }
    sum += static_cast<double>(y[b].d) *
           (static_cast<double>(fp16_to_fp32_scalar(x[b].d)) * sum_q - static_cast<double>(fp16_to_fp32_scalar(x[b].dmin)) * sum_m);
  }
  *s = static_cast<float>(sum);
}

void vec_dot_q3_K_q8_K_ref(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ3_K*>(vx);
  const auto* y = static_cast<const BlockQ8_K*>(vy);
  double sum = 0;
  for (int64_t b = 0; b < n / QK_K; ++b) {
    int8_t sc[QK_K / 16];
    unpack_scales_q3_K(x[b].scales, sc);
    int32_t isum = 0;
    for (int v = 0; v < QK_K; ++v) {
      const int high = (x[b].hmask[v % 32] >> (v / 32)) & 1;
      isum += sc[v / 16] * (two_bits(x[b].qs, v) - (high ? 0 : 4)) * y[b].qs[v];
    }
    sum += static_cast<double>(fp16_to_fp32_scalar(x[b].d)) * y[b].d * isum;
  }
  *s = static_cast<float>(sum);
}

void vec_dot_iq4_xs_q8_K_ref(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockIQ4_XS*>(vx);
  const auto* y = static_cast<const BlockQ8_K*>(vy);
  double sum = 0;
  for (int64_t b = 0; b < n / QK_K; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < QK_K / 32; ++j) {
      int32_t dot = 0;
      for (int l = 0; l < 32; ++l) dot += kValuesIQ4NL[nibble(x[b].qs + 16 * j, l)] * y[b].qs[32 * j + l];
      isum += iq4_xs_scale(x[b], j) * dot;
    }
    sum += static_cast<double>(fp16_to_fp32_scalar(x[b].d)) * y[b].d * isum;
  }
  *s = static_cast<float>(sum);
}

}  // namespace swapmoe
