// On-disk constants of the GGUF format shared by the reader and the writer (internal to io/).
#pragma once

#include <cstddef>
#include <cstdint>

#include "io/gguf.h"

namespace swapmoe::gguf_format {

inline constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
inline constexpr uint64_t kDefaultAlignment = 32;
// Larger alignments are never produced by real converters; refusing them keeps the
// data-offset arithmetic far away from overflow.
inline constexpr uint64_t kMaxAlignment = uint64_t{1} << 30;
inline constexpr int kMaxDims = 4;
// Nested arrays are legal, but nothing real nests deeper than two; the cap stops a crafted
// file from recursing the parser off the stack.
inline constexpr int kMaxArrayDepth = 8;

// Each parsed value costs ~48 bytes in memory against 1 byte on disk, so a crafted file full of
// uint8 arrays could demand 48x its size. Real vocabularies hold about a million values.
inline constexpr uint64_t kMaxMetadataValues = uint64_t{1} << 24;

// Smallest encodings, used to reject counts that the remaining bytes cannot possibly hold.
inline constexpr uint64_t kMinKvBytes = 8 + 4 + 1;              // key length, type, 1-byte value
inline constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // name len, n_dims, ne[0], type, offset

inline bool is_valid_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::FLOAT64); }

// Bytes of one scalar value; 0 for STRING and ARRAY (variable length).
inline size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::UINT8: case GgufType::INT8: case GgufType::BOOL: return 1;
    case GgufType::UINT16: case GgufType::INT16: return 2;
    case GgufType::UINT32: case GgufType::INT32: case GgufType::FLOAT32: return 4;
    case GgufType::UINT64: case GgufType::INT64: case GgufType::FLOAT64: return 8;
    case GgufType::STRING: case GgufType::ARRAY: return 0;
  }
  return 0;
}

// Smallest possible encoding of one value of type t inside an array.
inline uint64_t min_value_bytes(GgufType t) {
  if (t == GgufType::STRING) return 8;      // length only
  if (t == GgufType::ARRAY) return 4 + 8;   // element type and count
  return scalar_size(t);
}

inline bool is_unsigned_int(GgufType t) {
  return t == GgufType::UINT8 || t == GgufType::UINT16 || t == GgufType::UINT32 || t == GgufType::UINT64;
}
inline bool is_signed_int(GgufType t) {
  return t == GgufType::INT8 || t == GgufType::INT16 || t == GgufType::INT32 || t == GgufType::INT64;
}
inline bool is_float(GgufType t) { return t == GgufType::FLOAT32 || t == GgufType::FLOAT64; }

inline uint64_t align_up(uint64_t x, uint64_t alignment) { return (x + alignment - 1) / alignment * alignment; }

}  // namespace swapmoe::gguf_format
