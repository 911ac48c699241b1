// Tensor element types, numbered as in GGML/GGUF, and one traits row per type.
#pragma once

#include <cstddef>
#include <cstdint>

namespace swapmoe {

// Values are the on-disk GGUF type ids; do not renumber.
enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ4_NL = 20,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,
  MXFP4 = 39,
  COUNT = 40,  // upper bound for ids accepted from files
  // In memory only, never read from or written to a file (type_is_known rejects them): rows
  // interleaved 8 at a time so that one stream of bytes feeds 8 rows (tensor/interleave.h).
  Q4_0_X8 = 41,
  Q4_K_X8 = 42,
  Q6_K_X8 = 43,
  Q8_0_X8 = 44,
  TABLE_END = 45,  // upper bound for every id, the in-memory ones included
};

// Dequantise n values (n a multiple of block_size).
using ToFloatFn = void (*)(const void* src, float* dst, int64_t n);
// Quantise n values (n a multiple of block_size), reference rounding identical to ggml's.
using FromFloatFn = void (*)(const float* src, void* dst, int64_t n);

struct TypeTraits {
  const char* name = nullptr;   // "q8_0", as ggml names it
  int64_t block_size = 0;       // values per block (1 for float types)
  size_t type_size = 0;         // bytes per block
  bool supported = false;       // can be loaded and computed with
  ToFloatFn to_float = nullptr;
  FromFloatFn from_float = nullptr;
  // What activations are converted to for the dot products with this type, which live in
  // swapmoe_kernels (kernels/vec_dot.h: vec_dot_kernels, can_compute).
  GgmlType vec_dot_type = GgmlType::F32;
};

// Traits for any id; unknown ids get a row with name == nullptr and supported == false.
const TypeTraits& type_traits(GgmlType type);
bool type_is_known(uint32_t raw_type_id);
const char* type_name(GgmlType type);  // "unknown" for unknown ids

// Bytes of one row of n elements; n must be a multiple of the block size.
inline size_t row_size(GgmlType type, int64_t n) {
  const TypeTraits& t = type_traits(type);
  return t.type_size * static_cast<size_t>(n / t.block_size);
}

}  // namespace swapmoe
