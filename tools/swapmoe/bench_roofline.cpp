// Decode's memory roofline: the measured read bandwidth of the weights.
#include "bench_roofline.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/timer.h"
#include "tensor/cpu_level.h"

namespace swapmoe::cli {

namespace {

// Sums 128-byte spans in independent vector lanes so the loads, not the adds, set the pace; the
// sum is returned so the reads stay. 16-byte vectors (SSE2, NEON) everywhere; 32-byte loads
// where the CPU has AVX2, which read DRAM 1.3x faster here (58 against 45 GB/s on 2 threads).
using U64x2 = uint64_t __attribute__((vector_size(16)));

uint64_t read_range_16(const uint8_t* p, size_t n) {
  U64x2 acc[8] = {};
  size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    for (int k = 0; k < 8; ++k) {
      U64x2 v;
      std::memcpy(&v, p + i + 16 * k, 16);
      acc[k] += v;
    }
  }
  uint64_t s = 0;
  for (; i < n; ++i) s += p[i];
  for (const U64x2& a : acc) s += a[0] + a[1];
  return s;
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) uint64_t read_range_32(const uint8_t* p, size_t n) {
  __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
  size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    for (int k = 0; k < 4; ++k) {
      acc[k] = _mm256_add_epi64(acc[k], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 32 * k)));
    }
  }
  const __m256i a = _mm256_add_epi64(_mm256_add_epi64(acc[0], acc[1]), _mm256_add_epi64(acc[2], acc[3]));
  uint64_t lanes[4];  // summed unsigned: the sums wrap, by design
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(lanes), a);
  uint64_t s = lanes[0] + lanes[1] + lanes[2] + lanes[3];
  for (; i < n; ++i) s += p[i];
  return s;
}
#endif

uint64_t read_range(const uint8_t* p, size_t n) {
#if defined(__x86_64__)
  static const bool avx2 = cpu_features().avx2;
  if (avx2) return read_range_32(p, n);
#endif
  return read_range_16(p, n);
}

}  // namespace

ReadBandwidth measure_weight_read_bandwidth(const Model& model, ThreadPool& pool, double min_seconds) {
  struct Range {
    const uint8_t* p;
    size_t n;
  };
  std::vector<Range> ranges;
  uint64_t total = 0;
  model.for_each_weight([&](const TensorView& v, TensorRole) {
    if (!v.data || v.n_bytes() == 0) return;
    ranges.push_back({static_cast<const uint8_t*>(v.data), v.n_bytes()});
    total += v.n_bytes();
  });
  ReadBandwidth r;
  r.bytes = total;
  if (total == 0) return r;
  std::atomic<uint64_t> sink{0};
  Timer all;
  while (r.passes < 3 || all.seconds() < min_seconds) {
    Timer pass;
    // Thread i reads bytes [i, i+1) * total / nth of the concatenated ranges.
    pool.run([&](int ith, int nth) {
      const uint64_t begin = total * static_cast<uint64_t>(ith) / static_cast<uint64_t>(nth);
      const uint64_t end = total * static_cast<uint64_t>(ith + 1) / static_cast<uint64_t>(nth);
      uint64_t at = 0, s = 0;
      for (const Range& rg : ranges) {
        const uint64_t a = std::max(begin, at), b = std::min(end, at + rg.n);
        if (a < b) s += read_range(rg.p + (a - at), static_cast<size_t>(b - a));
        at += rg.n;
        if (at >= end) break;
      }
      sink.fetch_add(s, std::memory_order_relaxed);
    });
    r.bytes_per_s = std::max(r.bytes_per_s, static_cast<double>(total) / pass.seconds());
    ++r.passes;
  }
  return r;
}

}  // namespace swapmoe::cli
