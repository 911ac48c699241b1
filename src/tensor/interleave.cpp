#include "tensor/interleave.h"

#include <cstring>
#include <type_traits>
#include <utility>
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
         "only q4_0, q8_0, q4_K and q6_K matrices whose rows are a multiple of 8 have an interleaved form");
}

// Where row r's bytes c*4 .. c*4+3 of block b sit in an interleaved group.
inline size_t lane_offset(size_t c, int64_t r) { return c * kInterleaveRows * kLaneBytes + r * kLaneBytes; }

// One direction of a group's rearrangement: plain rows -> the interleaved group when kToX8 (src
// holds the plain rows), back otherwise; move() copies n bytes from the plain side to the group
// when interleaving, from the group to the plain side when not.
template <class PlainBlock, class X8Block, bool kToX8>
struct GroupSides {
  using Plain = std::conditional_t<kToX8, const PlainBlock, PlainBlock>;
  using X8 = std::conditional_t<kToX8, X8Block, const X8Block>;
  Plain* plain;
  X8* x8;
  GroupSides(const uint8_t* src, uint8_t* dst) {
    if constexpr (kToX8) plain = reinterpret_cast<Plain*>(src), x8 = reinterpret_cast<X8*>(dst);
    else plain = reinterpret_cast<Plain*>(dst), x8 = reinterpret_cast<X8*>(src);
  }
  template <class G, class P>
  static void move(G* x8_bytes, P* plain_bytes, size_t n) {
    if constexpr (kToX8) std::memcpy(x8_bytes, plain_bytes, n);
    else std::memcpy(plain_bytes, x8_bytes, n);
  }
};

// One group of 8 rows of n_blocks blocks each of a type made of one scale and 32 values (Q4_0,
// Q8_0), from plain rows to the interleaved form (kToX8) or back.
template <class PlainBlock, class X8Block, bool kToX8>
void group_x8_scale_qs(const uint8_t* src, uint8_t* dst, int64_t n_blocks) {
  using Sides = GroupSides<PlainBlock, X8Block, kToX8>;
  const Sides sides(src, dst);
  for (int64_t b = 0; b < n_blocks; ++b)
    for (int64_t r = 0; r < kInterleaveRows; ++r) {
      auto& p = sides.plain[r * n_blocks + b];
      auto& g = sides.x8[b];
      Sides::move(&g.d[r], &p.d, sizeof p.d);
      for (size_t c = 0; c < sizeof(p.qs) / kLaneBytes; ++c)
        Sides::move(g.qs + lane_offset(c, r), p.qs + c * kLaneBytes, kLaneBytes);
    }
}

// Q4_K: the nibbles as Q4_0's, per pair of sub-blocks; the scales regrouped by sub-block.
constexpr size_t kPairBytes = 32;  // one row's bytes of a pair of sub-blocks

void group_to_x8_q4_K(const uint8_t* plain_rows, uint8_t* x8_group, int64_t n_blocks) {
  const auto* plain = reinterpret_cast<const BlockQ4_K*>(plain_rows);
  auto* x8 = reinterpret_cast<BlockQ4_Kx8*>(x8_group);
  for (int64_t b = 0; b < n_blocks; ++b) {
    BlockQ4_Kx8& out = x8[b];
    std::memset(out.scales, 0, sizeof out.scales);
    for (int64_t r = 0; r < kInterleaveRows; ++r) {
      const BlockQ4_K& in = plain[r * n_blocks + b];
      out.d[r] = in.d;
      out.dmin[r] = in.dmin;
      for (int s = 0; s < 8; ++s) {
        uint8_t sc, m;
        unpack_scale_min_k4(s, in.scales, &sc, &m);
        uint8_t* g = out.scales + s * 12;
        g[r] = static_cast<uint8_t>((sc & 0xF) | ((m & 0xF) << 4));
        uint32_t high;
        std::memcpy(&high, g + 8, 4);
        high |= static_cast<uint32_t>(sc >> 4) << (2 * r) | static_cast<uint32_t>(m >> 4) << (16 + 2 * r);
        std::memcpy(g + 8, &high, 4);
      }
      for (int j = 0; j < 4; ++j)
        for (size_t c = 0; c < kPairBytes / kLaneBytes; ++c)
          std::memcpy(out.qs + j * 256 + lane_offset(c, r), in.qs + j * kPairBytes + c * kLaneBytes, kLaneBytes);
    }
  }
}

void group_from_x8_q4_K(const uint8_t* x8_group, uint8_t* plain_rows, int64_t n_blocks) {
  const auto* x8 = reinterpret_cast<const BlockQ4_Kx8*>(x8_group);
  auto* plain = reinterpret_cast<BlockQ4_K*>(plain_rows);
  for (int64_t b = 0; b < n_blocks; ++b)
    for (int64_t r = 0; r < kInterleaveRows; ++r) {
      const BlockQ4_Kx8& in = x8[b];
      BlockQ4_K& out = plain[r * n_blocks + b];
      out.d = in.d[r];
      out.dmin = in.dmin[r];
      uint8_t sc[8], m[8];
      for (int s = 0; s < 8; ++s) {
        const uint8_t* g = in.scales + s * 12;
        uint32_t high;
        std::memcpy(&high, g + 8, 4);
        sc[s] = static_cast<uint8_t>((g[r] & 0xF) | ((high >> (2 * r)) & 3) << 4);
        m[s] = static_cast<uint8_t>((g[r] >> 4) | ((high >> (16 + 2 * r)) & 3) << 4);
      }
      // Q4_K's packing (unpack_scale_min_k4 read backwards).
      for (int s = 0; s < 4; ++s) {
        out.scales[s] = static_cast<uint8_t>(sc[s] | (sc[s + 4] >> 4) << 6);
        out.scales[s + 4] = static_cast<uint8_t>(m[s] | (m[s + 4] >> 4) << 6);
        out.scales[s + 8] = static_cast<uint8_t>((sc[s + 4] & 0xF) | (m[s + 4] & 0xF) << 4);
      }
      for (int j = 0; j < 4; ++j)
        for (size_t c = 0; c < kPairBytes / kLaneBytes; ++c)
          std::memcpy(out.qs + j * kPairBytes + c * kLaneBytes, in.qs + j * 256 + lane_offset(c, r), kLaneBytes);
    }
}

// Q6_K: both bit planes as Q4_0's nibbles; the scales regrouped by sub-block.
template <bool kToX8>
void group_x8_q6_K(const uint8_t* src, uint8_t* dst, int64_t n_blocks) {
  using Sides = GroupSides<BlockQ6_K, BlockQ6_Kx8, kToX8>;
  const Sides sides(src, dst);
  for (int64_t b = 0; b < n_blocks; ++b)
    for (int64_t r = 0; r < kInterleaveRows; ++r) {
      auto& p = sides.plain[r * n_blocks + b];
      auto& g = sides.x8[b];
      Sides::move(&g.d[r], &p.d, sizeof p.d);
      for (size_t s = 0; s < sizeof(p.scales); ++s) Sides::move(&g.scales[s * kInterleaveRows + r], &p.scales[s], 1);
      for (size_t c = 0; c < sizeof(p.ql) / kLaneBytes; ++c)
        Sides::move(g.ql + lane_offset(c, r), p.ql + c * kLaneBytes, kLaneBytes);
      for (size_t c = 0; c < sizeof(p.qh) / kLaneBytes; ++c)
        Sides::move(g.qh + lane_offset(c, r), p.qh + c * kLaneBytes, kLaneBytes);
    }
}

using GroupFn = void (*)(const uint8_t* src, uint8_t* dst, int64_t n_blocks);

void permute(const char* what, GgmlType t, const uint8_t* src, uint8_t* dst, int64_t n_cols, int64_t n_rows,
             bool to_x8) {
  check_shape(what, t, n_cols, n_rows);
  const TypeTraits& tr = type_traits(t);
  const int64_t n_blocks = n_cols / tr.block_size;
  const size_t group_bytes = static_cast<size_t>(n_blocks) * tr.type_size * kInterleaveRows;
  GroupFn fn = t == GgmlType::Q4_0   ? (to_x8 ? group_x8_scale_qs<BlockQ4_0, BlockQ4_0x8, true>
                                              : group_x8_scale_qs<BlockQ4_0, BlockQ4_0x8, false>)
               : t == GgmlType::Q8_0 ? (to_x8 ? group_x8_scale_qs<BlockQ8_0, BlockQ8_0x8, true>
                                              : group_x8_scale_qs<BlockQ8_0, BlockQ8_0x8, false>)
               : t == GgmlType::Q4_K ? (to_x8 ? group_to_x8_q4_K : group_from_x8_q4_K)
                                     : (to_x8 ? group_x8_q6_K<true> : group_x8_q6_K<false>);
  thread_local std::vector<uint8_t> copy;
  for (int64_t g = 0; g < n_rows / kInterleaveRows; ++g) {
    const uint8_t* from = src + g * group_bytes;
    if (src == dst) {
      copy.assign(from, from + group_bytes);
      from = copy.data();
    }
    fn(from, dst + g * group_bytes, n_blocks);
  }
}

// The file types with an interleaved form, each beside it.
constexpr std::pair<GgmlType, GgmlType> kPairs[] = {
    {GgmlType::Q4_0, GgmlType::Q4_0_X8}, {GgmlType::Q8_0, GgmlType::Q8_0_X8}, {GgmlType::Q4_K, GgmlType::Q4_K_X8},
    {GgmlType::Q6_K, GgmlType::Q6_K_X8}};

}  // namespace

GgmlType interleaved_type(GgmlType t) {
  for (auto [plain, x8] : kPairs)
    if (t == plain) return x8;
  return t;
}

bool is_interleaved(GgmlType t) { return plain_type(t) != t; }

GgmlType plain_type(GgmlType t) {
  for (auto [plain, x8] : kPairs)
    if (t == x8) return plain;
  return t;
}

bool can_interleave(GgmlType t, int64_t n_cols, int64_t n_rows) {
  if (interleaved_type(t) == t) return false;
  const int64_t block = type_traits(t).block_size;
  return n_cols > 0 && n_cols % block == 0 && n_rows > 0 && n_rows % kInterleaveRows == 0;
}

void interleave_rows(GgmlType t, const uint8_t* src, uint8_t* dst, int64_t n_cols, int64_t n_rows) {
  permute("interleave", t, src, dst, n_cols, n_rows, true);
}

void deinterleave_rows(GgmlType t, const uint8_t* src, uint8_t* dst, int64_t n_cols, int64_t n_rows) {
  permute("deinterleave", t, src, dst, n_cols, n_rows, false);
}

}  // namespace swapmoe
