// Block layouts of the quantised types, byte-for-byte as ggml stores them in GGUF files.
//
// A row of n values is n / QK consecutive blocks. fp16 fields are raw IEEE half bits (fp16.h).
#pragma once

#include <cstdint>
#include <cstring>

namespace swapmoe {

constexpr int QK4_0 = 32;   // values per Q4_0 block
constexpr int QK4_1 = 32;   // values per Q4_1 block
constexpr int QK5_0 = 32;   // values per Q5_0 block
constexpr int QK5_1 = 32;   // values per Q5_1 block
constexpr int QK8_0 = 32;   // values per Q8_0 block
constexpr int QK8_1 = 32;   // values per Q8_1 block
constexpr int QK4_NL = 32;  // values per IQ4_NL block
constexpr int QK_MXFP4 = 32;  // values per MXFP4 block
constexpr int QK_K = 256;   // values per K-quant super-block
constexpr int K_SCALE_SIZE = 12;  // bytes of packed 6-bit scales/mins in Q4_K and Q5_K

// 32 values: x = d * (q - 8), q in [0, 15]. Value j is the low nibble of qs[j] (j < 16)
// or the high nibble of qs[j - 16].
struct BlockQ4_0 {
  uint16_t d;               // fp16 scale
  uint8_t qs[QK4_0 / 2];    // nibbles
};
static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block must be 18 bytes");

// 32 values: x = d * q, q in [-127, 127].
// In memory only (GgmlType::Q4_0_X8): block b of 8 consecutive Q4_0 rows, interleaved 4 bytes
// at a time: qs[c * 32 + r * 4 + i] = row r's qs[c * 4 + i]. A 32-byte load at c holds values
// 4c..4c+3 (low nibbles) and 16+4c..19+4c (high) of all 8 rows, one 32-bit lane per row.
struct BlockQ4_0x8 {
  uint16_t d[8];  // the rows' fp16 scales
  uint8_t qs[8 * QK4_0 / 2];
};
static_assert(sizeof(BlockQ4_0x8) == 8 * 18, "8 interleaved Q4_0 blocks take the bytes of 8 blocks");

struct BlockQ8_0 {
  uint16_t d;               // fp16 scale
  int8_t qs[QK8_0];
};
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block must be 34 bytes");

// In memory only (GgmlType::Q8_0_X8): block b of 8 consecutive Q8_0 rows, interleaved 4 bytes
// at a time as BlockQ4_0x8's: qs[c * 32 + r * 4 + i] = row r's qs[c * 4 + i], so a 32-byte load
// at c holds values 4c..4c+3 of all 8 rows, one 32-bit lane per row.
struct BlockQ8_0x8 {
  uint16_t d[8];  // the rows' fp16 scales
  int8_t qs[8 * QK8_0];
};
static_assert(sizeof(BlockQ8_0x8) == 8 * 34, "8 interleaved Q8_0 blocks take the bytes of 8 blocks");

// 32 values: x = d * q + m, q in [0, 15], nibbles ordered as in Q4_0.
struct BlockQ4_1 {
  uint16_t d;               // fp16 scale
  uint16_t m;               // fp16 minimum (the value of q = 0)
  uint8_t qs[QK4_1 / 2];
};
static_assert(sizeof(BlockQ4_1) == 20, "Q4_1 block must be 20 bytes");

// 32 values: x = d * (q - 16), q in [0, 31]. Low 4 bits as the Q4_0 nibbles; the fifth bit of
// value j is bit j of the little-endian 32-bit word qh.
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[QK5_0 / 2];
};
static_assert(sizeof(BlockQ5_0) == 22, "Q5_0 block must be 22 bytes");

// 32 values: x = d * q + m, q in [0, 31], bits stored as in Q5_0.
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[QK5_1 / 2];
};
static_assert(sizeof(BlockQ5_1) == 24, "Q5_1 block must be 24 bytes");

// Activation type for Q4_1/Q5_1: Q8_0 plus s = d * sum(qs), which multiplies the weight
// block's minimum in the dot product.
struct BlockQ8_1 {
  uint16_t d;               // fp16 scale
  uint16_t s;               // fp16 d * sum(qs)
  int8_t qs[QK8_1];
};
static_assert(sizeof(BlockQ8_1) == 36, "Q8_1 block must be 36 bytes");

// 32 values: x = d * kValuesIQ4NL[q], q in [0, 15], nibbles ordered as in Q4_0.
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[QK4_NL / 2];
};
static_assert(sizeof(BlockIQ4_NL) == 18, "IQ4_NL block must be 18 bytes");

// 32 values: x = 2^(e - 128) * kValuesMXFP4[q] (OCP MX FP4 E2M1, the values doubled so they
// are integers, hence the halved E8M0 scale). Nibbles ordered as in Q4_0.
struct BlockMXFP4 {
  uint8_t e;                // E8M0 shared exponent
  uint8_t qs[QK_MXFP4 / 2];
};
static_assert(sizeof(BlockMXFP4) == 17, "MXFP4 block must be 17 bytes");

// The 16 non-linear levels of IQ4_NL/IQ4_XS (denser near zero, as weights are).
constexpr int8_t kValuesIQ4NL[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
// FP4 E2M1 values times two: 0, 0.5, 1, 1.5, 2, 3, 4, 6 and their negatives (sign = bit 3).
constexpr int8_t kValuesMXFP4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

// Half the value of an E8M0 exponent byte, 2^(e - 128), matching kValuesMXFP4's doubling.
// e = 0 and 1 give the subnormals 2^-128 and 2^-127; 255 (NaN in the MX spec) is not special.
static inline float e8m0_to_fp32_half(uint8_t e) {
  const uint32_t bits = e < 2 ? 0x00200000u << e : static_cast<uint32_t>(e - 1) << 23;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// 256 values in 16 sub-blocks of 16: x = d * (scales[j] & 15) * q - dmin * (scales[j] >> 4),
// q in [0, 3]. Per 128 values: 32 bytes of qs, bits 2k..2k+1 of byte l holding value 32k + l.
struct BlockQ2_K {
  uint8_t scales[QK_K / 16];      // 4-bit scale (low) and min (high) per sub-block
  uint8_t qs[QK_K / 4];
  uint16_t d;                     // fp16 super-block scale of the scales
  uint16_t dmin;                  // fp16 super-block scale of the mins
};
static_assert(sizeof(BlockQ2_K) == 84, "Q2_K block must be 84 bytes");

// 256 values in 16 sub-blocks of 16: x = d * (sc[j] - 32) * (q - 4), q in [0, 7]. The low two
// bits are stored as in Q2_K; the third bit of value v is bit v / 32 of hmask[v % 32]. The
// 6-bit sc are packed in `scales` (unpack_scales_q3_K).
struct BlockQ3_K {
  uint8_t hmask[QK_K / 8];
  uint8_t qs[QK_K / 4];
  uint8_t scales[12];
  uint16_t d;
};
static_assert(sizeof(BlockQ3_K) == 110, "Q3_K block must be 110 bytes");

// 256 values in 8 sub-blocks of 32: x = d * (ls[j] - 32) * kValuesIQ4NL[q]. The 6-bit ls[j]:
// low 4 bits in nibble j % 2 of scales_l[j / 2], high 2 bits at bit 2j of scales_h. Each 16
// bytes of qs hold one sub-block, nibbles ordered as in Q4_0.
struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;
  uint8_t scales_l[QK_K / 64];
  uint8_t qs[QK_K / 2];
};
static_assert(sizeof(BlockIQ4_XS) == 136, "IQ4_XS block must be 136 bytes");

// The 16 signed sub-block scales (sc - 32, in [-32, 31]) of a Q3_K block: low 4 bits of scale j
// in nibble j / 8 of byte j % 8, high 2 bits at bits 2 * (j / 4) of byte 8 + j % 4.
static inline void unpack_scales_q3_K(const uint8_t* packed, int8_t* out) {
  for (int j = 0; j < 16; ++j) {
    const int lo = (packed[j % 8] >> (4 * (j / 8))) & 0xF;
    const int hi = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
    out[j] = static_cast<int8_t>((lo | (hi << 4)) - 32);
  }
}

// The 6-bit scale of IQ4_XS sub-block j (0..7), minus 32.
static inline int iq4_xs_scale(const BlockIQ4_XS& b, int j) {
  const int lo = (b.scales_l[j / 2] >> (4 * (j % 2))) & 0xF;
  const int hi = (b.scales_h >> (2 * j)) & 3;
  return (lo | (hi << 4)) - 32;
}

// 256 values in 8 sub-blocks of 32: x = d * sc[j] * q - dmin * m[j], q in [0, 15].
// sc/m are 6-bit, packed in `scales` (see unpack in quantize_k.cpp / get_scale_min_k4).
// Each 32 bytes of qs hold two sub-blocks: low nibbles sub-block 2i, high nibbles 2i+1.
struct BlockQ4_K {
  uint16_t d;                     // fp16 super-block scale of the scales
  uint16_t dmin;                  // fp16 super-block scale of the mins
  uint8_t scales[K_SCALE_SIZE];   // 8 scales + 8 mins, 6 bits each
  uint8_t qs[QK_K / 2];           // 4-bit quants
};
static_assert(sizeof(BlockQ4_K) == 144, "Q4_K block must be 144 bytes");

// As Q4_K with a fifth bit per value: bit (2i) of qh[l] is the high bit of value l of
// sub-block 2i, bit (2i+1) that of sub-block 2i+1. q in [0, 31].
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[K_SCALE_SIZE];
  uint8_t qh[QK_K / 8];           // 5th bits
  uint8_t qs[QK_K / 2];           // low 4 bits
};
static_assert(sizeof(BlockQ5_K) == 176, "Q5_K block must be 176 bytes");

// 256 values in 16 sub-blocks of 16: x = d * scales[j] * (q - 32), q in [0, 63].
// Per 128 values: ql holds 64 bytes of low nibbles, qh 32 bytes of 2-bit high parts.
struct BlockQ6_K {
  uint8_t ql[QK_K / 2];           // low 4 bits
  uint8_t qh[QK_K / 4];           // high 2 bits
  int8_t scales[QK_K / 16];       // 8-bit sub-block scales
  uint16_t d;                     // fp16 super-block scale
};
static_assert(sizeof(BlockQ6_K) == 210, "Q6_K block must be 210 bytes");

// Activation type for the K-quant dot products: x = d * q, with the sums of each 16 quants
// precomputed so the kernels can subtract the mins without touching qs again.
// In memory only (GgmlType::Q4_K_X8): super-block b of 8 consecutive Q4_K rows. The nibbles are
// interleaved as BlockQ4_0x8's, per pair j of sub-blocks: qs[j * 256 + c * 32 + r * 4 + i] = row
// r's qs[32 j + 4 c + i] (a 32-byte load holds values 64j+4c.. of sub-block 2j in its low
// nibbles, 64j+32+4c.. of sub-block 2j+1 in its high ones, one 32-bit lane per row). The 6-bit
// scales and mins are regrouped by sub-block s, 12 bytes each: bytes 0-7 hold row r's low 4
// bits of scale (low nibble) and min (high nibble); bytes 8-11, a little-endian word, the high 2
// bits of row r's scale at bit 2r and of its min at bit 16 + 2r.
struct BlockQ4_Kx8 {
  uint16_t d[8];
  uint16_t dmin[8];
  uint8_t scales[8 * 12];
  uint8_t qs[8 * QK_K / 2];
};
static_assert(sizeof(BlockQ4_Kx8) == 8 * 144, "8 interleaved Q4_K blocks take the bytes of 8 blocks");

// In memory only (GgmlType::Q6_K_X8): super-block b of 8 consecutive Q6_K rows. Both bit planes
// are interleaved 4 bytes per row as BlockQ4_0x8's: ql[c * 32 + r * 4 + i] = row r's ql[4c + i],
// qh[c * 32 + r * 4 + i] = row r's qh[4c + i]. So in half h (values 128h..), for column group g
// (values 128h + 4g + i, g < 8), ql chunks 16h + g and 16h + 8 + g and qh chunk 8h + g hold
// values +0, +32 (low nibbles), +64, +96 (high nibbles) of all 8 rows, their high 2 bits in qh
// bits 0-1, 2-3, 4-5, 6-7. scales[s * 8 + r] is row r's scale of sub-block s (16 values).
// (A layout with each group's three chunks side by side, read strictly in order, decoded from
// memory 15-30% slower, both with and without software prefetch.)
struct BlockQ6_Kx8 {
  uint16_t d[8];
  int8_t scales[8 * QK_K / 16];
  uint8_t ql[8 * QK_K / 2];
  uint8_t qh[8 * QK_K / 4];
};
static_assert(sizeof(BlockQ6_Kx8) == 8 * 210, "8 interleaved Q6_K blocks take the bytes of 8 blocks");

struct BlockQ8_K {
  float d;                        // fp32 scale
  int8_t qs[QK_K];
  int16_t bsums[QK_K / 16];       // sum of qs[16*i .. 16*i+15]
};
static_assert(sizeof(BlockQ8_K) == 292, "Q8_K block must be 292 bytes");

// 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes of Q4_K/Q5_K.
// Bytes 0-3: scales 0-3 (low 6 bits); 4-7: mins 0-3; 8-11: low nibbles of scale 4-7 and min 4-7;
// the top two bits of bytes 0-7 hold the high bits of scales/mins 4-7.
inline void unpack_scale_min_k4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

}  // namespace swapmoe
