// FileCursor: buffered pread with bounds checks against the file size.
#include "io/file_cursor.h"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace swapmoe {

FileCursor::FileCursor(int fd, std::string path, uint64_t file_size, size_t buffer_bytes)
    : fd_(fd), path_(std::move(path)), file_size_(file_size), buf_(buffer_bytes) {}

void FileCursor::require(uint64_t n, const char* what) const {
  if (n > remaining())
    fail("gguf", path_ + ": file truncated while reading " + what + " at offset " + std::to_string(pos_) + " (needs " +
                     std::to_string(n) + " bytes, " + std::to_string(remaining()) + " left)",
         "the file is incomplete or corrupt; re-download or re-convert it");
}

void FileCursor::fill() {
  // Refill from the current position; a short read here means the file shrank under us.
  buf_file_offset_ = pos_;
  buf_len_ = 0;
  size_t want = static_cast<size_t>(std::min<uint64_t>(buf_.size(), remaining()));
  while (buf_len_ < want) {
    ssize_t r = ::pread(fd_, buf_.data() + buf_len_, want - buf_len_, static_cast<off_t>(pos_ + buf_len_));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0)
      fail("gguf", path_ + ": read failed at offset " + std::to_string(pos_ + buf_len_) + ": " + std::strerror(errno),
           "check that the file is readable");
    if (r == 0)
      fail("gguf", path_ + ": unexpected end of file at offset " + std::to_string(pos_ + buf_len_),
           "the file changed size while being read");
    buf_len_ += static_cast<size_t>(r);
  }
}

void FileCursor::read(void* dst, size_t n, const char* what) {
  require(n, what);
  auto* out = static_cast<uint8_t*>(dst);
  while (n > 0) {
    if (pos_ < buf_file_offset_ || pos_ >= buf_file_offset_ + buf_len_) fill();
    size_t at = static_cast<size_t>(pos_ - buf_file_offset_);
    size_t take = std::min(n, buf_len_ - at);
    std::memcpy(out, buf_.data() + at, take);
    out += take;
    n -= take;
    pos_ += take;
  }
}

// GGUF is little-endian, as is every machine this engine targets, so bytes copy straight in.
static_assert(std::endian::native == std::endian::little, "swapmoe's GGUF reader assumes a little-endian host");

uint8_t FileCursor::u8(const char* what) {
  uint8_t v;
  read(&v, 1, what);
  return v;
}
uint16_t FileCursor::u16(const char* what) {
  uint16_t v;
  read(&v, 2, what);
  return v;
}
uint32_t FileCursor::u32(const char* what) {
  uint32_t v;
  read(&v, 4, what);
  return v;
}
uint64_t FileCursor::u64(const char* what) {
  uint64_t v;
  read(&v, 8, what);
  return v;
}

std::string FileCursor::string(const char* what) {
  uint64_t len = u64(what);
  if (len > remaining())
    fail("gguf", path_ + ": " + what + " has length " + std::to_string(len) + " at offset " + std::to_string(pos_ - 8) +
                     " but only " + std::to_string(remaining()) + " bytes remain",
         "the file is truncated or corrupt");
  std::string s(static_cast<size_t>(len), '\0');
  read(s.data(), s.size(), what);
  return s;
}

}  // namespace swapmoe
