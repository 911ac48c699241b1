// ByteRangeReader: the interface model bytes are read through, so that tests can inject faults.
#pragma once

#include <cstdint>
#include <string>

namespace swapmoe {

class ByteRangeReader {
 public:
  virtual ~ByteRangeReader() = default;

  // Reads exactly n_bytes starting at offset into dst, or throws swapmoe::Error (naming the
  // source, offset and cause). Implementations must allow concurrent calls from several threads.
  virtual void read(uint64_t offset, uint64_t n_bytes, uint8_t* dst) = 0;

  virtual uint64_t size() const = 0;            // bytes in the source
  virtual const std::string& path() const = 0;  // for error messages
};

}  // namespace swapmoe
