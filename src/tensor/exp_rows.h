// exp over rows of floats, for softmax: one polynomial approximation (Cephes' expf: the argument
// reduced by ln 2, a degree-5 polynomial, the exponent put back by integer arithmetic) computed
// with the same operations, so the same bits, at every CPU level, 8 values at a time with AVX2 and
// one at a time elsewhere. Within 2 ulp of the correctly rounded exp for x in [-87.33, 88];
// 0 below (so exp(-inf) = 0), NaN stays NaN.
#pragma once

#include <cstdint>

namespace swapmoe {

// exp(x) as the rows below compute it, one value (sinks, tails).
float exp_poly(float x);

// x[i] = exp_poly(x[i] - shift) in place; returns their sum, each group of 8 values added in float
// in a fixed tree order (the AVX2 horizontal sum's) and the groups and the tail values added in
// double, so the sum too is the same at every level.
double exp_shifted_row(float* x, int64_t n, float shift);

// The largest of init and x[0..n) (comparisons as `a > b ? a : b`: a NaN in x is skipped).
float max_row(const float* x, int64_t n, float init);

// x[i] *= s.
void scale_row(float* x, int64_t n, float s);

}  // namespace swapmoe
