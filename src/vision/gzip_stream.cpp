// GzipStream over zlib's inflate. Concatenated gzip members (`cat a.gz b.gz`) read as one stream,
// as gunzip reads them; bytes after the last member that are not gzip are ignored, as gunzip does.
#include "vision/gzip_stream.h"

#include <zlib.h>

#include <algorithm>
#include <climits>

#include "core/error.h"

namespace swapmoe {

bool is_gzip(std::span<const uint8_t> bytes) { return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b; }

struct GzipStream::State {
  z_stream z{};
  std::span<const uint8_t> input;
  size_t consumed = 0;  // input bytes handed to zlib so far
};

namespace {

// zlib counts in uInt (32 bits): hand it input and output in pieces no larger than that.
constexpr size_t kMaxPiece = UINT_MAX / 2;

}  // namespace

GzipStream::GzipStream(std::span<const uint8_t> compressed, std::string name, std::string where)
    : state_(std::make_unique<State>()), name_(std::move(name)), where_(std::move(where)) {
  state_->input = compressed;
  // 15 + 32: a 32 KiB window, and zlib reads the gzip (or zlib) header itself.
  if (inflateInit2(&state_->z, 15 + 32) != Z_OK) fail(where_, name_ + ": cannot start zlib's inflate", "out of memory?");
}

GzipStream::~GzipStream() { inflateEnd(&state_->z); }

size_t GzipStream::read(uint8_t* dst, size_t n) {
  z_stream& z = state_->z;
  size_t produced = 0;
  while (produced < n && !ended_ && !truncated_) {
    const size_t left = state_->input.size() - state_->consumed;
    if (z.avail_in == 0 && left > 0) {
      const size_t piece = std::min(left, kMaxPiece);
      z.next_in = const_cast<Bytef*>(state_->input.data() + state_->consumed);  // zlib never writes it
      z.avail_in = static_cast<uInt>(piece);
      state_->consumed += piece;
    }
    const size_t want = std::min(n - produced, kMaxPiece);
    z.next_out = dst + produced;
    z.avail_out = static_cast<uInt>(want);
    const int rc = inflate(&z, Z_NO_FLUSH);
    produced += want - z.avail_out;
    if (rc == Z_STREAM_END) {
      // Another member follows? Then go on with it; anything else after the end is not gzip.
      const size_t rest_at = state_->consumed - z.avail_in;
      if (is_gzip(state_->input.subspan(rest_at))) {
        inflateReset(&z);
      } else {
        ended_ = true;
      }
    } else if (rc == Z_BUF_ERROR) {
      // No progress was possible although there is room for output: the input is used up in the
      // middle of a member (zlib keeps nothing back that it could still give).
      if (z.avail_in != 0 || state_->consumed != state_->input.size())
        fail(where_, name_ + ": inflate made no progress (zlib buffer error)", "the gzip data is corrupt");
      truncated_ = true;
    } else if (rc == Z_MEM_ERROR) {
      fail(where_, name_ + ": out of memory while decompressing", "free some memory and try again");
    } else if (rc != Z_OK) {
      const std::string why = z.msg ? std::string(z.msg) : "error " + std::to_string(rc);
      fail(where_, name_ + ": corrupt gzip data (zlib: " + why + ")",
           "the file is damaged: download it again, or check it with `gzip -t`");
    }
  }
  return produced;
}

}  // namespace swapmoe
