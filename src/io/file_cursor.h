// FileCursor: sequential, bounds-checked reads of a file's header through a small pread buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace swapmoe {

// Every read first checks that the bytes exist, so a bogus length fails with a "truncated"
// error instead of allocating or reading past the end. Not thread-safe; the fd is borrowed.
class FileCursor {
 public:
  FileCursor(int fd, std::string path, uint64_t file_size, size_t buffer_bytes = 64 * 1024);

  uint64_t pos() const { return pos_; }
  uint64_t file_size() const { return file_size_; }
  uint64_t remaining() const { return file_size_ - pos_; }
  const std::string& path() const { return path_; }

  // Throws "truncated" (naming `what`) unless n bytes remain.
  void require(uint64_t n, const char* what) const;
  void read(void* dst, size_t n, const char* what);
  uint8_t u8(const char* what);
  uint16_t u16(const char* what);
  uint32_t u32(const char* what);
  uint64_t u64(const char* what);
  int64_t i64(const char* what) { return static_cast<int64_t>(u64(what)); }
  // A GGUF string: u64 length then bytes; the length is checked before any allocation.
  std::string string(const char* what);

 private:
  void fill();

  int fd_;
  std::string path_;
  uint64_t file_size_;
  uint64_t pos_ = 0;              // logical position in the file
  std::vector<uint8_t> buf_;
  uint64_t buf_file_offset_ = 0;  // file offset of buf_[0]
  size_t buf_len_ = 0;            // valid bytes in buf_
};

}  // namespace swapmoe
