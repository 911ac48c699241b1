// DirectFileReader: O_DIRECT reads through aligned bounce buffers, with a page-cache-dropping fallback.
#include "io/direct_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "core/error.h"

namespace swapmoe {

namespace {

// Once per process: the reads still work, only the page cache now holds what was read until
// POSIX_FADV_DONTNEED drops it.
void note_no_o_direct(const std::string& path) {
  static std::once_flag once;
  std::call_once(once, [&] {
    std::fprintf(stderr, "note: [direct_reader] %s: the filesystem refused O_DIRECT (EINVAL); reading through the "
                 "page cache instead, dropping pages after each read\n", path.c_str());
  });
}

constexpr uint64_t kA = DirectFileReader::kAlignment;
uint64_t round_down(uint64_t x) { return x / kA * kA; }
uint64_t round_up(uint64_t x) { return (x + kA - 1) / kA * kA; }
bool is_aligned(uint64_t x) { return x % kA == 0; }

std::string range_text(uint64_t offset, uint64_t n) {
  return std::to_string(n) + " bytes at offset " + std::to_string(offset);
}

}  // namespace

DirectFileReader::DirectFileReader(const std::string& path, DirectReaderOptions options)
    : path_(path), options_(options) {
  options_.bounce_bytes = static_cast<size_t>(round_up(std::max<size_t>(options_.bounce_bytes, kA)));
  if (options_.try_o_direct) {
    fd_ = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT));
    // EINVAL: the filesystem does not do O_DIRECT; anything else is a real open error below.
    if (fd_.valid()) direct_ = true;
    else if (errno != EINVAL)
      fail("direct_reader", path + ": cannot open: " + std::strerror(errno), "check the path and its permissions");
    else note_no_o_direct(path);
  }
  if (!fd_.valid()) {
    fd_ = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd_.valid())
      fail("direct_reader", path + ": cannot open: " + std::strerror(errno), "check the path and its permissions");
  }
  identity_ = file_identity(fd_.get(), path);
  size_ = identity_.size;
}

void DirectFileReader::check_unchanged() const {
  // One fstat per read: a truncate or a write in place moves size or mtime, and bytes read from
  // a file in that state must not reach a matrix. (Renaming a new file over the path is safe:
  // this descriptor keeps the old one.)
  require_same_file(identity_, file_identity(fd_.get(), path_), path_, "direct_reader");
}

void DirectFileReader::check_range(uint64_t offset, uint64_t n_bytes) const {
  if (n_bytes > size_ || offset > size_ - n_bytes)
    fail("direct_reader", path_ + ": read of " + range_text(offset, n_bytes) + " runs past the end of the file (" +
                              std::to_string(size_) + " bytes)",
         "the tensor table does not match the file; is the file truncated?");
}

void DirectFileReader::drop_direct() {
  // Some filesystems accept O_DIRECT at open and refuse it at read time; stop asking for it.
  int flags = ::fcntl(fd_.get(), F_GETFL);
  if (flags >= 0) ::fcntl(fd_.get(), F_SETFL, flags & ~O_DIRECT);
  direct_.store(false, std::memory_order_relaxed);
}

void DirectFileReader::drop_cache(uint64_t offset, uint64_t n_bytes) {
  // Best effort: without O_DIRECT this keeps a budgeted load from growing the page cache.
  ::posix_fadvise(fd_.get(), static_cast<off_t>(offset), static_cast<off_t>(n_bytes), POSIX_FADV_DONTNEED);
}

void DirectFileReader::pread_full(uint8_t* dst, uint64_t n_bytes, uint64_t offset, uint64_t needed) {
  uint64_t done = 0;
  while (done < needed) {
    bool direct = direct_.load(std::memory_order_relaxed);
    uint64_t ask = n_bytes - done;
    if (options_.max_pread_bytes != 0) {
      uint64_t cap = direct ? std::max<uint64_t>(round_down(options_.max_pread_bytes), kA) : options_.max_pread_bytes;
      ask = std::min(ask, cap);
    }
    ssize_t r = ::pread(fd_.get(), dst + done, static_cast<size_t>(ask), static_cast<off_t>(offset + done));
    if (r < 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (err == EINVAL && direct) {
        note_no_o_direct(path_);
        drop_direct();
        continue;
      }
      fail("direct_reader", path_ + ": read of " + range_text(offset + done, ask) + " failed: " + std::strerror(err),
           "the storage reported an error (see dmesg); check the disk, or copy the model to healthy storage");
    }
    if (r == 0)
      fail("direct_reader", path_ + ": unexpected end of file reading " + range_text(offset + done, needed - done),
           "the file shrank while in use; do not modify model files that are being served");
    done += static_cast<uint64_t>(r);
    // O_DIRECT only returns a partial block at end of file, and cannot continue from an
    // unaligned position anyway.
    if (direct && !is_aligned(done) && done < needed)
      fail("direct_reader", path_ + ": unexpected end of file at offset " + std::to_string(offset + done) + " reading " +
                                range_text(offset, needed),
           "the file shrank while in use; do not modify model files that are being served");
  }
}

AlignedBuffer DirectFileReader::take_bounce() {
  {
    std::lock_guard<std::mutex> lock(bounce_mu_);
    if (!bounce_free_.empty()) {
      AlignedBuffer b = std::move(bounce_free_.back());
      bounce_free_.pop_back();
      return b;
    }
  }
  return AlignedBuffer(options_.bounce_bytes, kA);
}

void DirectFileReader::give_bounce(AlignedBuffer buf) {
  std::lock_guard<std::mutex> lock(bounce_mu_);
  bounce_free_.push_back(std::move(buf));
}

void DirectFileReader::read_aligned(uint64_t offset, uint64_t n_bytes, uint8_t* dst) {
  if (!is_aligned(offset) || !is_aligned(n_bytes) || !is_aligned(reinterpret_cast<uintptr_t>(dst)))
    fail("direct_reader", path_ + ": read_aligned(" + range_text(offset, n_bytes) + ") is not " + std::to_string(kA) +
                              "-byte aligned (offset, size and destination must all be)",
         "use read() for arbitrary ranges");
  check_range(offset, n_bytes);
  if (n_bytes == 0) return;
  pread_full(dst, n_bytes, offset, n_bytes);
  if (!uses_o_direct()) drop_cache(offset, n_bytes);
  check_unchanged();
}

void DirectFileReader::read(uint64_t offset, uint64_t n_bytes, uint8_t* dst) {
  check_range(offset, n_bytes);
  if (n_bytes == 0) return;
  if (!uses_o_direct()) {
    // Without O_DIRECT there is no alignment rule: read straight into dst.
    pread_full(dst, n_bytes, offset, n_bytes);
    drop_cache(offset, n_bytes);
    return check_unchanged();
  }
  if (is_aligned(offset) && is_aligned(n_bytes) && is_aligned(reinterpret_cast<uintptr_t>(dst))) {
    pread_full(dst, n_bytes, offset, n_bytes);
    return check_unchanged();
  }
  AlignedBuffer bounce = take_bounce();
  try {
    const uint64_t end = offset + n_bytes;
    uint64_t pos = offset;
    while (pos < end) {
      uint64_t a0 = round_down(pos);
      uint64_t a1 = std::min<uint64_t>(round_up(end), a0 + bounce.size());
      uint64_t chunk_end = std::min(end, a1);
      pread_full(bounce.data(), a1 - a0, a0, chunk_end - a0);
      std::memcpy(dst + (pos - offset), bounce.data() + (pos - a0), chunk_end - pos);
      pos = chunk_end;
    }
  } catch (...) {
    give_bounce(std::move(bounce));
    throw;
  }
  give_bounce(std::move(bounce));
  check_unchanged();
}

}  // namespace swapmoe
