#include "tensor/interleave.h"

#include <cstring>
#include <vector>

#include "core/error.h"
#include "tensor/quant_blocks.h"

namespace swapmoe {

namespace {

constexpr size_t kLaneBytes = 4;  // bytes of one row per lane of a 32-byte chunk

void check_shape(const char* what, GgmlType t, int64_t n_cols, int64_t n_rows) {
  if (!can_interleave(t, n_cols, n_rows))
    fail(what, std::string("cannot interleave a ") + type_name(t) + " matrix of " + std::to_string(n_rows) +
                   " rows x " + std::to_string(n_cols) + " columns",
         "only q4_0 matrices whose rows are a multiple of 8 have an interleaved form");
}

// Where row r's bytes c*4 .. c*4+3 of block b sit in an interleaved group.
inline size_t lane_offset(size_t c, int64_t r) { return c * kInterleaveRows * kLaneBytes + r * kLaneBytes; }

// One group of 8 rows of n_blocks blocks each, from plain rows to the interleaved form.
void group_to_x8(const uint8_t* plain_rows, uint8_t* x8_group, int64_t n_blocks) {
  const auto* plain = reinterpret_cast<const BlockQ4_0*>(plain_rows);
  auto* x8 = reinterpret_cast<BlockQ4_0x8*>(x8_group);
  for (int64_t b = 0; b < n_blocks; ++b)
    for (int64_t r = 0; r < kInterleaveRows; ++r) {
      const BlockQ4_0& in = plain[r * n_blocks + b];
      x8[b].d[r] = in.d;
      for (size_t c = 0; c < sizeof(in.qs) / kLaneBytes; ++c)
        std::memcpy(x8[b].qs + lane_offset(c, r), in.qs + c * kLaneBytes, kLaneBytes);
    }
}

// The inverse of group_to_x8.
void group_from_x8(const uint8_t* x8_group, uint8_t* plain_rows, int64_t n_blocks) {
  const auto* x8 = reinterpret_cast<const BlockQ4_0x8*>(x8_group);
  auto* plain = reinterpret_cast<BlockQ4_0*>(plain_rows);
  for (int64_t b = 0; b < n_blocks; ++b)
    for (int64_t r = 0; r < kInterleaveRows; ++r) {
      BlockQ4_0& out = plain[r * n_blocks + b];
      out.d = x8[b].d[r];
      for (size_t c = 0; c < sizeof(out.qs) / kLaneBytes; ++c)
        std::memcpy(out.qs + c * kLaneBytes, x8[b].qs + lane_offset(c, r), kLaneBytes);
    }
}

void permute(const char* what, GgmlType t, const uint8_t* src, uint8_t* dst, int64_t n_cols, int64_t n_rows,
             bool to_x8) {
  check_shape(what, t, n_cols, n_rows);
  const int64_t n_blocks = n_cols / QK4_0;
  const size_t group_bytes = static_cast<size_t>(n_blocks) * sizeof(BlockQ4_0) * kInterleaveRows;
  thread_local std::vector<uint8_t> copy;
  for (int64_t g = 0; g < n_rows / kInterleaveRows; ++g) {
    const uint8_t* from = src + g * group_bytes;
    if (src == dst) {
      copy.assign(from, from + group_bytes);
      from = copy.data();
    }
    if (to_x8) group_to_x8(from, dst + g * group_bytes, n_blocks);
    else group_from_x8(from, dst + g * group_bytes, n_blocks);
  }
}

}  // namespace

GgmlType interleaved_type(GgmlType t) { return t == GgmlType::Q4_0 ? GgmlType::Q4_0_X8 : t; }

bool is_interleaved(GgmlType t) { return t == GgmlType::Q4_0_X8; }

bool can_interleave(GgmlType t, int64_t n_cols, int64_t n_rows) {
  return t == GgmlType::Q4_0 && n_cols > 0 && n_cols % QK4_0 == 0 && n_rows > 0 && n_rows % kInterleaveRows == 0;
}

void interleave_rows(GgmlType t, const uint8_t* src, uint8_t* dst, int64_t n_cols, int64_t n_rows) {
  permute("interleave", t, src, dst, n_cols, n_rows, true);
}

void deinterleave_rows(GgmlType t, const uint8_t* src, uint8_t* dst, int64_t n_cols, int64_t n_rows) {
  permute("deinterleave", t, src, dst, n_cols, n_rows, false);
}

}  // namespace swapmoe
