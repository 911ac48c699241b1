// FaultInjectingReader: a ByteRangeReader wrapper for tests that fails chosen reads on purpose.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "io/byte_range_reader.h"

namespace swapmoe {

// Passes reads through to `inner` except the ones chosen to fail, which throw swapmoe::Error
// like a real I/O error would. Counters are atomic, so loader threads may share one instance.
class FaultInjectingReader final : public ByteRangeReader {
 public:
  explicit FaultInjectingReader(ByteRangeReader& inner) : inner_(inner) {}

  // Calls numbered from 0; call `n` and every later one fail (UINT64_MAX: never).
  void fail_from_call(uint64_t n) { fail_from_call_.store(n); }
  // Any read touching [offset, offset + n_bytes) fails.
  void fail_range(uint64_t offset, uint64_t n_bytes) {
    fail_begin_.store(offset);
    fail_end_.store(offset + n_bytes);
  }
  uint64_t n_calls() const { return n_calls_.load(); }

  void read(uint64_t offset, uint64_t n_bytes, uint8_t* dst) override {
    uint64_t call = n_calls_.fetch_add(1);
    bool hits_range = offset < fail_end_.load() && offset + n_bytes > fail_begin_.load();
    if (call >= fail_from_call_.load() || hits_range)
      fail("fault_injecting_reader", inner_.path() + ": injected failure reading " + std::to_string(n_bytes) +
                                         " bytes at offset " + std::to_string(offset),
           "this error is produced on purpose by a test");
    inner_.read(offset, n_bytes, dst);
  }
  uint64_t size() const override { return inner_.size(); }
  const std::string& path() const override { return inner_.path(); }

 private:
  ByteRangeReader& inner_;
  std::atomic<uint64_t> fail_from_call_{UINT64_MAX};
  std::atomic<uint64_t> fail_begin_{0}, fail_end_{0};
  std::atomic<uint64_t> n_calls_{0};
};

}  // namespace swapmoe
