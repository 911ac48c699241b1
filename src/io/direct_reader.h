// DirectFileReader: reads byte ranges of a file around the page cache (O_DIRECT), so that
// expert weights loaded under a memory budget do not also pile up as cached pages.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "core/aligned_buffer.h"
#include "io/byte_range_reader.h"
#include "io/file_identity.h"
#include "io/unique_fd.h"

namespace swapmoe {

struct DirectReaderOptions {
  bool try_o_direct = true;       // false: plain reads followed by POSIX_FADV_DONTNEED
  size_t bounce_bytes = 4 << 20;  // per concurrent unaligned read; rounded up to kAlignment
  size_t max_pread_bytes = 0;     // test hook: cap every pread(2) to force short reads (0 = no cap)
};

class DirectFileReader final : public ByteRangeReader {
 public:
  // Offsets, sizes and buffer addresses handed to O_DIRECT reads are multiples of this.
  static constexpr size_t kAlignment = 4096;

  explicit DirectFileReader(const std::string& path, DirectReaderOptions options = {});
  DirectFileReader(const DirectFileReader&) = delete;
  DirectFileReader& operator=(const DirectFileReader&) = delete;

  // Any offset, size and dst: reads the aligned superset into a bounce buffer, chunk by chunk.
  void read(uint64_t offset, uint64_t n_bytes, uint8_t* dst) override;
  // Fast path without a copy: offset, n_bytes and dst must be multiples of kAlignment.
  void read_aligned(uint64_t offset, uint64_t n_bytes, uint8_t* dst);

  uint64_t size() const override { return size_; }
  // The file as opened; every read checks that it still is (not truncated or written in place).
  const FileIdentity& identity() const { return identity_; }
  const std::string& path() const override { return path_; }
  // False when the filesystem refused O_DIRECT (e.g. some tmpfs/FUSE) or try_o_direct was off.
  bool uses_o_direct() const { return direct_.load(std::memory_order_relaxed); }

 private:
  void check_range(uint64_t offset, uint64_t n_bytes) const;
  // Reads [offset, offset + n_bytes) into dst; succeeds once at least `needed` bytes arrived
  // (an aligned read may legitimately stop early at end of file).
  void pread_full(uint8_t* dst, uint64_t n_bytes, uint64_t offset, uint64_t needed);
  void drop_direct();
  void drop_cache(uint64_t offset, uint64_t n_bytes);
  void check_unchanged() const;
  AlignedBuffer take_bounce();
  void give_bounce(AlignedBuffer buf);

  std::string path_;
  DirectReaderOptions options_;
  UniqueFd fd_;
  uint64_t size_ = 0;
  FileIdentity identity_;
  std::atomic<bool> direct_{false};
  std::mutex bounce_mu_;
  std::vector<AlignedBuffer> bounce_free_;  // one per reader thread seen so far, reused
};

}  // namespace swapmoe
