// GzipStream: inflates gzip data held in memory a piece at a time, so that a caller can read a
// header first and then ask for exactly the bytes that header announces (never more).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace swapmoe {

// True if `bytes` start with the gzip magic (1f 8b): how gzip input is told apart, not by name.
bool is_gzip(std::span<const uint8_t> bytes);

class GzipStream {
 public:
  // `name` (a path, or what the bytes came from) and `where` are for error messages. The bytes
  // must outlive the stream.
  GzipStream(std::span<const uint8_t> compressed, std::string name, std::string where);
  ~GzipStream();
  GzipStream(const GzipStream&) = delete;
  GzipStream& operator=(const GzipStream&) = delete;

  // Inflates up to n bytes into dst and returns how many: fewer only at the end of the data
  // (ended()) or where the compressed input runs out before it (truncated()). Corrupt data throws.
  size_t read(uint8_t* dst, size_t n);

  bool ended() const { return ended_; }          // the last gzip member ended cleanly (CRC checked)
  bool truncated() const { return truncated_; }  // the input stopped in the middle of a member

 private:
  struct State;
  std::unique_ptr<State> state_;
  std::string name_, where_;
  bool ended_ = false, truncated_ = false;
};

}  // namespace swapmoe
