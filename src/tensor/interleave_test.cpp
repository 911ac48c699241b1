#include "tensor/interleave.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/error.h"
#include "tensor/quant_blocks.h"

namespace swapmoe {
namespace {

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>((seed = seed * 1664525u + 1013904223u) >> 24);
  return v;
}

TEST(Interleave, PlacesEachRowsBytesInItsLaneAndRoundTrips) {
  const int64_t n_cols = 3 * QK4_0, n_rows = 16;
  const size_t bytes = row_size(GgmlType::Q4_0, n_cols) * n_rows;
  const std::vector<uint8_t> plain = random_bytes(bytes, 7);
  std::vector<uint8_t> x8(bytes);
  interleave_rows(GgmlType::Q4_0, plain.data(), x8.data(), n_cols, n_rows);
  // Row 11 is row 3 of the second group; its block 2, bytes 8..11, go to chunk 2, lane 3.
  const auto* p = reinterpret_cast<const BlockQ4_0*>(plain.data());
  const auto* g = reinterpret_cast<const BlockQ4_0x8*>(x8.data()) + 3 + 2;
  EXPECT_EQ(g->d[3], p[11 * 3 + 2].d);
  EXPECT_EQ(0, std::memcmp(g->qs + 2 * 32 + 3 * 4, p[11 * 3 + 2].qs + 8, 4));

  std::vector<uint8_t> back(bytes);
  deinterleave_rows(GgmlType::Q4_0, x8.data(), back.data(), n_cols, n_rows);
  EXPECT_EQ(back, plain);
  // In place gives the same bytes as a copy.
  std::vector<uint8_t> in_place = plain;
  interleave_rows(GgmlType::Q4_0, in_place.data(), in_place.data(), n_cols, n_rows);
  EXPECT_EQ(in_place, x8);
}

TEST(Interleave, Q8_0PlacesEachRowsBytesInItsLaneAndRoundTrips) {
  const int64_t n_cols = 2 * QK8_0, n_rows = 24;
  const size_t bytes = row_size(GgmlType::Q8_0, n_cols) * n_rows;
  const std::vector<uint8_t> plain = random_bytes(bytes, 9);
  std::vector<uint8_t> x8(bytes);
  interleave_rows(GgmlType::Q8_0, plain.data(), x8.data(), n_cols, n_rows);
  // Row 21 is row 5 of the third group; its block 1, bytes 28..31, go to chunk 7, lane 5.
  const auto* p = reinterpret_cast<const BlockQ8_0*>(plain.data());
  const auto* g = reinterpret_cast<const BlockQ8_0x8*>(x8.data()) + 2 * 2 + 1;
  EXPECT_EQ(g->d[5], p[21 * 2 + 1].d);
  EXPECT_EQ(0, std::memcmp(g->qs + 7 * 32 + 5 * 4, p[21 * 2 + 1].qs + 28, 4));

  std::vector<uint8_t> back(bytes);
  deinterleave_rows(GgmlType::Q8_0, x8.data(), back.data(), n_cols, n_rows);
  EXPECT_EQ(back, plain);
  std::vector<uint8_t> in_place = plain;
  interleave_rows(GgmlType::Q8_0, in_place.data(), in_place.data(), n_cols, n_rows);
  EXPECT_EQ(in_place, x8);
}

TEST(Interleave, Q4_KRoundTripsWithItsScalesRegrouped) {
  const int64_t n_cols = 2 * QK_K, n_rows = 8;
  const size_t bytes = row_size(GgmlType::Q4_K, n_cols) * n_rows;
  const std::vector<uint8_t> plain = random_bytes(bytes, 9);  // every bit pattern of the scales
  std::vector<uint8_t> x8(bytes), back(bytes);
  interleave_rows(GgmlType::Q4_K, plain.data(), x8.data(), n_cols, n_rows);
  deinterleave_rows(GgmlType::Q4_K, x8.data(), back.data(), n_cols, n_rows);
  EXPECT_EQ(back, plain);
  // Row 5, super-block 1: sub-block 6's scale and min, and its nibbles' place.
  const auto* p = reinterpret_cast<const BlockQ4_K*>(plain.data()) + 5 * 2 + 1;
  const auto* g = reinterpret_cast<const BlockQ4_Kx8*>(x8.data()) + 1;
  uint8_t sc, m;
  unpack_scale_min_k4(6, p->scales, &sc, &m);
  uint32_t high;
  std::memcpy(&high, g->scales + 6 * 12 + 8, 4);
  EXPECT_EQ((g->scales[6 * 12 + 5] & 0xF) | ((high >> 10) & 3) << 4, sc);
  EXPECT_EQ((g->scales[6 * 12 + 5] >> 4) | ((high >> 26) & 3) << 4, m);
  EXPECT_EQ(0, std::memcmp(g->qs + 3 * 256 + 7 * 32 + 5 * 4, p->qs + 3 * 32 + 28, 4));
  EXPECT_EQ(g->dmin[5], p->dmin);
}

TEST(Interleave, Q6_KRoundTripsWithBothBitPlanesInLanes) {
  const int64_t n_cols = 2 * QK_K, n_rows = 16;
  const size_t bytes = row_size(GgmlType::Q6_K, n_cols) * n_rows;
  const std::vector<uint8_t> plain = random_bytes(bytes, 13);
  std::vector<uint8_t> x8(bytes), back(bytes);
  interleave_rows(GgmlType::Q6_K, plain.data(), x8.data(), n_cols, n_rows);
  deinterleave_rows(GgmlType::Q6_K, x8.data(), back.data(), n_cols, n_rows);
  EXPECT_EQ(back, plain);
  // Row 14 is row 6 of the second group; its super-block 1 is that group's block 1.
  const auto* p = reinterpret_cast<const BlockQ6_K*>(plain.data()) + 14 * 2 + 1;
  const auto* g = reinterpret_cast<const BlockQ6_Kx8*>(x8.data()) + 2 + 1;
  EXPECT_EQ(g->d[6], p->d);
  EXPECT_EQ(g->scales[11 * 8 + 6], p->scales[11]);
  EXPECT_EQ(0, std::memcmp(g->ql + 29 * 32 + 6 * 4, p->ql + 29 * 4, 4));
  EXPECT_EQ(0, std::memcmp(g->qh + 15 * 32 + 6 * 4, p->qh + 15 * 4, 4));
  std::vector<uint8_t> in_place = plain;
  interleave_rows(GgmlType::Q6_K, in_place.data(), in_place.data(), n_cols, n_rows);
  EXPECT_EQ(in_place, x8);
}

TEST(Interleave, OnlyQ4_0Q8_0Q4_KAndQ6_KInWholeGroupsOfEightRows) {
  EXPECT_EQ(interleaved_type(GgmlType::Q4_0), GgmlType::Q4_0_X8);
  EXPECT_EQ(interleaved_type(GgmlType::Q4_K), GgmlType::Q4_K_X8);
  EXPECT_EQ(interleaved_type(GgmlType::Q8_0), GgmlType::Q8_0_X8);
  EXPECT_EQ(interleaved_type(GgmlType::Q5_0), GgmlType::Q5_0);
  EXPECT_TRUE(is_interleaved(GgmlType::Q4_0_X8));
  EXPECT_TRUE(is_interleaved(GgmlType::Q8_0_X8));
  EXPECT_EQ(plain_type(GgmlType::Q4_K_X8), GgmlType::Q4_K);
  EXPECT_EQ(plain_type(GgmlType::Q8_0_X8), GgmlType::Q8_0);
  EXPECT_EQ(plain_type(GgmlType::Q5_0), GgmlType::Q5_0);
  EXPECT_TRUE(can_interleave(GgmlType::Q8_0, 64, 16));
  EXPECT_FALSE(can_interleave(GgmlType::Q8_0, 48, 16));
  EXPECT_TRUE(can_interleave(GgmlType::Q4_0, 64, 24));
  EXPECT_FALSE(can_interleave(GgmlType::Q4_0, 64, 12));
  EXPECT_TRUE(can_interleave(GgmlType::Q4_K, 256, 8));
  EXPECT_FALSE(can_interleave(GgmlType::Q4_K, 128, 8));
  EXPECT_TRUE(can_interleave(GgmlType::Q6_K, 256, 8));
  EXPECT_EQ(plain_type(GgmlType::Q6_K_X8), GgmlType::Q6_K);
  EXPECT_FALSE(can_interleave(GgmlType::Q5_K, 256, 8));
  std::vector<uint8_t> buf(row_size(GgmlType::Q4_0, 64) * 12);
  EXPECT_THROW(interleave_rows(GgmlType::Q4_0, buf.data(), buf.data(), 64, 12), Error);
  // Never a file type.
  EXPECT_FALSE(type_is_known(static_cast<uint32_t>(GgmlType::Q4_0_X8)));
  EXPECT_EQ(row_size(GgmlType::Q4_0_X8, 64), row_size(GgmlType::Q4_0, 64));
  EXPECT_FALSE(type_is_known(static_cast<uint32_t>(GgmlType::Q8_0_X8)));
  EXPECT_EQ(row_size(GgmlType::Q8_0_X8, 64), row_size(GgmlType::Q8_0, 64));
}

}  // namespace
}  // namespace swapmoe
