// Weight rows interleaved for the matrix-vector kernels: the in-memory layouts
// GgmlType::Q4_0_X8, Q8_0_X8, Q4_K_X8 and Q6_K_X8 (quant_blocks.h: BlockQ4_0x8, BlockQ8_0x8,
// BlockQ4_Kx8, BlockQ6_Kx8).
//
// A one-row Q4_0 dot product spends ~24 instructions on 64 values, most of them on the
// activation block (its load, its sum, its scale) that every row repeats; it runs out of
// instructions at about half the memory bandwidth of a core. Reading 4 rows at once shares that
// work but makes 4 streams of bytes, which the hardware prefetcher serves badly. Interleaving
// 8 rows block by block (quant_blocks.h: BlockQ4_0x8) gives one stream in which each 32-byte
// load feeds 8 rows: the same bytes, in another order, permuted in place when the weights are
// loaded. llama.cpp repacks the same way (its "CPU_REPACK" buffers).
#pragma once

#include <cstddef>
#include <cstdint>

#include "tensor/ggml_type.h"

namespace swapmoe {

constexpr int64_t kInterleaveRows = 8;

// The interleaved form of a file type (Q4_0 -> Q4_0_X8, Q8_0 -> Q8_0_X8, Q4_K -> Q4_K_X8,
// Q6_K -> Q6_K_X8), or
// `t` itself.
GgmlType interleaved_type(GgmlType t);
bool is_interleaved(GgmlType t);
// The file type an interleaved type rearranges (Q4_0_X8 -> Q4_0), or `t` itself.
GgmlType plain_type(GgmlType t);
// A matrix of this type and shape can be interleaved (its rows come in whole groups of 8).
bool can_interleave(GgmlType t, int64_t n_cols, int64_t n_rows);

// Interleaves n_rows rows (a multiple of 8) of n_cols values of type t (which must have an
// interleaved form) from src to dst; src == dst permutes in place (through a small
// thread-local copy of one group of rows).
void interleave_rows(GgmlType t, const uint8_t* src, uint8_t* dst, int64_t n_cols, int64_t n_rows);
// The inverse, for tests and for readers that want plain rows back.
void deinterleave_rows(GgmlType t, const uint8_t* src, uint8_t* dst, int64_t n_cols, int64_t n_rows);

}  // namespace swapmoe
