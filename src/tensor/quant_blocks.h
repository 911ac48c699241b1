// Block layouts of the quantised types, byte-for-byte as ggml stores them in GGUF files.
//
// A row of n values is n / QK consecutive blocks. fp16 fields are raw IEEE half bits (fp16.h).
#pragma once

#include <cstdint>

namespace swapmoe {

constexpr int QK4_0 = 32;   // values per Q4_0 block
constexpr int QK8_0 = 32;   // values per Q8_0 block
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
struct BlockQ8_0 {
  uint16_t d;               // fp16 scale
  int8_t qs[QK8_0];
};
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block must be 34 bytes");

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
