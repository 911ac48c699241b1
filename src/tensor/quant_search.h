// Scale searches shared by the K-quant reference quantisers (the algorithms of ggml-quants.c).
#pragma once

#include <cstdint>
#include <cstring>

namespace swapmoe {

// Round to nearest, ties to even, valid for |f| < 2^22: adding 1.5 * 2^23 leaves the rounded
// integer in the low mantissa bits. Used instead of lrintf so out-of-range inputs behave as in ggml.
inline int nearest_int(float f) {
  const float v = f + 12582912.f;
  int32_t i;
  std::memcpy(&i, &v, sizeof i);
  return (i & 0x007fffff) - 0x00400000;
}

// The value of largest magnitude, sign kept (the first one on ties); *amax = its magnitude.
inline float max_by_magnitude(const float* x, int n, float* amax) {
  float max = 0;
  *amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = x[i] < 0 ? -x[i] : x[i];
    if (ax > *amax) {
      *amax = ax;
      max = x[i];
    }
  }
  return max;
}

// Symmetric quantisation of n values to L[i] in [0, 2*nmax) (stored offset by nmax), scale
// chosen by a weighted least-squares search over 18 candidate scales around -nmax/max.
// rmse_type 1 weights by x^2 (the only mode the references use; 0 = plain rounding).
float make_qx_quants(int n, int nmax, const float* x, int8_t* L, int rmse_type);

// Symmetric quantisation of n values to L[i] in [0, 2*nmax) (stored offset by nmax), starting
// from the scale that maps the largest magnitude to -nmax, then (do_rmse) up to 5 passes that
// move single quants wherever that raises sumlx^2/suml2 (x^2 weights). Returns the scale.
float make_q3_quants(int n, int nmax, const float* x, int8_t* L, bool do_rmse);

// Asymmetric quantisation x ~ scale * L - the_min with L in [0, nmax], searched over nstep+1
// candidate scales (rmin + rdelta*is + nmax)/(max - min), fitting scale and min by weighted
// least squares each time. Returns the scale; *the_min is stored as a positive offset.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                       float* the_min, uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad);

}  // namespace swapmoe
