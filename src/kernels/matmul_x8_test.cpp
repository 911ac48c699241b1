// Products of interleaved weights (Q4_0, Q8_0, Q4_K, Q6_K) against the same weights in plain rows: every thread count,
// token count (decode, the 4-token kernel and its leftovers, cache tiles), row subset and
// token-id list gives what the plain rows give.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/kernel_test_util.h"
#include "kernels/matmul.h"
#include "tensor/interleave.h"

namespace swapmoe {
namespace {

struct Pair {
  std::vector<uint8_t> plain, x8;
  TensorView plain_view, x8_view;
};

Pair make_pair(GgmlType t, int64_t n_cols, int64_t n_rows) {
  Pair p;
  const size_t rb = row_size(t, n_cols);
  p.plain.resize(rb * n_rows);
  for (int64_t r = 0; r < n_rows; ++r) {
    const auto q = test::quantized_row(t, n_cols, 100 + r, true);
    std::copy(q.begin(), q.begin() + rb, p.plain.begin() + r * rb);
  }
  p.x8.resize(p.plain.size());
  interleave_rows(t, p.plain.data(), p.x8.data(), n_cols, n_rows);
  const int64_t ne[2] = {n_cols, n_rows};
  p.plain_view = TensorView::contiguous(t, ne, 2, p.plain.data());
  p.x8_view = TensorView::contiguous(interleaved_type(t), ne, 2, p.x8.data());
  return p;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-4f * (1 + std::fabs(want[i]))) << what << " at " << i;
}

void expect_plain_rows_results(GgmlType type, int64_t n_cols) {
  SCOPED_TRACE(type_name(type));
  const int64_t n_rows = 40;
  const Pair p = make_pair(type, n_cols, n_rows);
  const GgmlType act = type_traits(type).vec_dot_type;
  for (int threads : {1, 3}) {
    ThreadPool pool(threads);
    for (int64_t n_tokens : {1, 2, 3, 4, 5, 9, 13}) {
      std::vector<float> x(n_tokens * n_cols);
      test::XorShift rng(n_tokens);
      for (auto& v : x) v = rng.symmetric();
      QuantizedActivations qa;
      qa.quantize(act, x.data(), n_tokens, n_cols);
      std::vector<float> want(n_tokens * n_rows), got(n_tokens * n_rows, -1.0f);
      matmul(p.plain_view, qa, want.data(), pool);
      matmul(p.x8_view, qa, got.data(), pool);
      expect_close(got, want, "whole matrix");
      // Rows [3, 29) (both ends inside a group) for tokens 2, 0, 2 (repeated, out of order).
      const int32_t ids[] = {static_cast<int32_t>(n_tokens - 1), 0, static_cast<int32_t>(n_tokens - 1)};
      const int64_t r0 = 3, r1 = 29, stride = 30;
      std::vector<float> sub_want(3 * stride, 0.0f), sub_got(3 * stride, 0.0f);
      matmul_rows(p.plain_view, r0, r1, qa, ids, 3, {sub_want.data(), stride}, pool);
      matmul_rows(p.x8_view, r0, r1, qa, ids, 3, {sub_got.data(), stride}, pool);
      expect_close(sub_got, sub_want, "rows 3..29, token ids");  // and nothing past row 29 written
      // The single-threaded core on one group, as the MoE layer calls it.
      std::vector<float> tile_want(n_tokens * 8), tile_got(n_tokens * 8);
      matmul_tile(p.plain_view, 16, 24, qa, nullptr, 0, n_tokens, {tile_want.data(), 8}, true);
      matmul_tile(p.x8_view, 16, 24, qa, nullptr, 0, n_tokens, {tile_got.data(), 8}, true);
      expect_close(tile_got, tile_want, "rows 16..24");
    }
  }
}

TEST(MatmulX8, EqualsThePlainRowsForEveryShapeOfWork) {
  expect_plain_rows_results(GgmlType::Q4_0, 96);
  expect_plain_rows_results(GgmlType::Q8_0, 96);
  expect_plain_rows_results(GgmlType::Q4_K, 512);
  expect_plain_rows_results(GgmlType::Q6_K, 256);
}

TEST(MatmulX8, ThreadsSplitRowsOnWholeGroups) {
  EXPECT_EQ(row_alignment(GgmlType::Q4_0_X8), 8);
  EXPECT_EQ(row_alignment(GgmlType::Q4_0), 1);
  int64_t next = 0;
  for (int ith = 0; ith < 3; ++ith) {
    auto [a, b] = split_rows_aligned(40, 8, ith, 3);
    EXPECT_EQ(a, next);
    EXPECT_EQ(a % 8, 0);
    next = b;
  }
  EXPECT_EQ(next, 40);
  EXPECT_EQ(split_rows_aligned(10, 1, 1, 3), std::make_pair(int64_t{4}, int64_t{7}));
}

}  // namespace
}  // namespace swapmoe
