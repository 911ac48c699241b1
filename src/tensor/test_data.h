// Deterministic test inputs for the tensor/kernel tests: integer-only generation, so the same
// values come out on every platform and golden hashes of quantised data stay valid.
#pragma once

#include <cstdint>
#include <vector>

namespace swapmoe::test {

struct XorShift {
  uint64_t s;
  explicit XorShift(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  float uniform() { return static_cast<float>(next() >> 40) * 0x1p-24f; }  // [0, 1)
  float symmetric() { return 2.0f * uniform() - 1.0f; }                   // [-1, 1)
};

// Weight-like values: per-32 group amplitudes over three decades, a few outliers, and some
// special groups (all zero, constant, all positive, tiny) that exercise the edge paths.
inline std::vector<float> weight_like(int64_t n, uint64_t seed) {
  XorShift rng(seed);
  std::vector<float> v(n);
  for (int64_t g = 0; g < n; g += 32) {
    const uint64_t kind = rng.next() % 16;
    const float amp = 0.001f * static_cast<float>(1 + rng.next() % 1000);
    for (int64_t i = g; i < g + 32 && i < n; ++i) {
      float x = amp * rng.symmetric();
      if (rng.next() % 64 == 0) x *= 8.0f;  // outlier
      switch (kind) {
        case 0: x = 0.0f; break;
        case 1: x = amp; break;
        case 2: x = x < 0 ? -x : x; break;
        case 3: x *= 1e-6f; break;
        default: break;
      }
      v[i] = x;
    }
  }
  return v;
}

// 64-bit FNV-1a over bytes: a compact fingerprint of a quantised buffer.
inline uint64_t fnv1a(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace swapmoe::test
