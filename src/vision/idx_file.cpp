// IDX reading: header, size checks before allocating, payload, nothing left over.
#include "vision/idx_file.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <optional>

#include "core/error.h"
#include "vision/file_bytes.h"
#include "vision/gzip_stream.h"

namespace swapmoe {
namespace {

constexpr const char* kWhere = "idx";
constexpr const char* kTruncatedHint = "the file is truncated: download it again";
constexpr const char* kCorruptHint = "the header is corrupt or this is not an IDX file: download it again";
constexpr uint8_t kUnsignedByte = 0x08;
constexpr int kImageDims = 3, kLabelDims = 1;
// A file larger than the largest payload plus room for its header cannot be valid: refuse it
// before reading it into memory.
constexpr uint64_t kMaxFileBytes = kMaxIdxPayloadBytes + (uint64_t{1} << 20);

std::string hex_bytes(const uint8_t* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    if (i) s += ' ';
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return s;
}

const char* idx_type_name(uint8_t type) {
  switch (type) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "unknown";
  }
}

// The bytes of an IDX file in order, inflated on the way if they are gzip.
class IdxBytes {
 public:
  IdxBytes(std::span<const uint8_t> bytes, const std::string& name) : plain_(bytes), name_(name) {
    if (is_gzip(bytes)) gzip_.emplace(bytes, name, kWhere);
  }

  size_t read(uint8_t* dst, size_t n) {
    if (gzip_) return gzip_->read(dst, n);
    const size_t got = std::min(n, plain_.size() - pos_);
    if (got) std::memcpy(dst, plain_.data() + pos_, got);
    pos_ += got;
    return got;
  }

  // " (after gunzip)" for messages about sizes, which are then sizes of the inflated data.
  const char* inflated_note() const { return gzip_ ? " (after decompressing)" : ""; }

  // Everything the header announced has been read: the file must end here. A gzip stream must
  // also reach its end marker (which is where its CRC is checked).
  void expect_end() {
    if (!gzip_) {
      if (pos_ != plain_.size())
        fail(kWhere, name_ + ": " + std::to_string(plain_.size() - pos_) + " bytes more than its header announces",
             kCorruptHint);
      return;
    }
    uint8_t probe;
    if (gzip_->read(&probe, 1) != 0)
      fail(kWhere, name_ + ": holds more data (after decompressing) than its header announces", kCorruptHint);
    if (gzip_->truncated())
      fail(kWhere, name_ + ": the gzip data stops before its end marker", kTruncatedHint);
  }

 private:
  std::span<const uint8_t> plain_;
  size_t pos_ = 0;
  const std::string& name_;
  std::optional<GzipStream> gzip_;
};

// Reads the magic and the sizes of a file that must have `want_dims` dimensions of unsigned bytes.
std::vector<uint64_t> read_header(IdxBytes& in, const std::string& name, int want_dims) {
  const char* want_kind = want_dims == kImageDims ? "images (idx3-ubyte)" : "labels (idx1-ubyte)";
  const char* want_hint = want_dims == kImageDims
                              ? "give an MNIST-style images file (X-images-idx3-ubyte, gzip-compressed or not)"
                              : "give an MNIST-style labels file (X-labels-idx1-ubyte, gzip-compressed or not)";
  uint8_t magic[4];
  const size_t got = in.read(magic, 4);
  if (got == 0) fail(kWhere, name + ": is empty" + std::string(in.inflated_note()) + ", expected IDX " + want_kind, want_hint);
  if (got < 4)
    fail(kWhere, name + ": is " + std::to_string(got) + " bytes long" + in.inflated_note() +
                     ", too short for an IDX header",
         kTruncatedHint);
  if (magic[0] != 0 || magic[1] != 0) {
    const bool png = magic[0] == 0x89 && magic[1] == 'P' && magic[2] == 'N' && magic[3] == 'G';
    fail(kWhere,
         name + ": is not an IDX file: it starts with " + hex_bytes(magic, 4) + in.inflated_note() +
             ", an IDX file with " + want_kind + " starts with 00 00 08 0" + std::to_string(want_dims),
         png ? "this is a PNG image: pass PNG files as images, not as an IDX file" : want_hint);
  }
  if (magic[2] != kUnsignedByte)
    fail(kWhere,
         name + ": holds elements of type 0x" + hex_bytes(magic + 2, 1) + " (" + idx_type_name(magic[2]) +
             "); only unsigned bytes (0x08) are supported",
         want_hint);
  const int dims = magic[3];
  if (dims != want_dims) {
    if (want_dims == kImageDims && dims == kLabelDims)
      fail(kWhere, name + ": is an IDX labels file (idx1: one dimension), not images",
           "pass the images file (X-images-idx3-ubyte) as the images; the labels file beside it is found by its name");
    if (want_dims == kLabelDims && dims == kImageDims)
      fail(kWhere, name + ": is an IDX images file (idx3: three dimensions), not labels",
           "pass the labels file (X-labels-idx1-ubyte) as the labels, and the images file as the images");
    fail(kWhere, name + ": has " + std::to_string(dims) + " dimensions; IDX " + want_kind + " have " +
                     std::to_string(want_dims),
         want_hint);
  }
  std::vector<uint64_t> sizes(dims);
  for (auto& s : sizes) {
    uint8_t b[4];
    if (in.read(b, 4) != 4) fail(kWhere, name + ": the IDX header is cut short" + std::string(in.inflated_note()), kTruncatedHint);
    s = uint64_t{b[0]} << 24 | uint64_t{b[1]} << 16 | uint64_t{b[2]} << 8 | b[3];
  }
  return sizes;
}

// Reads the `bytes` bytes of data after the header, which must be all there is. The buffer grows
// a step at a time as data arrives, so a small file (or HTTP body) whose header announces 2 GiB
// costs one step of memory before it is found short, not 2 GiB.
std::vector<uint8_t> read_payload(IdxBytes& in, const std::string& name, uint64_t bytes, const std::string& what) {
  constexpr uint64_t kStep = uint64_t{16} << 20;
  std::vector<uint8_t> data;
  while (data.size() < bytes) {
    const size_t had = data.size();
    const size_t want = static_cast<size_t>(std::min(bytes - had, kStep));
    data.resize(had + want);
    const size_t got = in.read(data.data() + had, want);
    if (got != want)
      fail(kWhere,
           name + ": the header announces " + what + " = " + std::to_string(bytes) + " bytes of data, but only " +
               std::to_string(had + got) + " bytes follow it" + in.inflated_note(),
           kTruncatedHint);
  }
  in.expect_end();
  return data;
}

}  // namespace

ImageSet parse_idx_images(std::span<const uint8_t> bytes, const std::string& name) {
  IdxBytes in(bytes, name);
  const std::vector<uint64_t> sizes = read_header(in, name, kImageDims);
  const uint64_t n = sizes[0], rows = sizes[1], cols = sizes[2];
  const std::string shape = std::to_string(n) + " images of " + std::to_string(rows) + " x " + std::to_string(cols);
  if (rows == 0 || cols == 0)
    fail(kWhere, name + ": the header announces " + shape + " pixels (rows x cols): an image needs at least one pixel",
         kCorruptHint);
  // Each size is below 2^32, so rows * cols cannot overflow, and neither can n * (rows * cols)
  // once rows * cols is known to be at most 2^31.
  const uint64_t per_image = rows * cols;
  if (per_image > kMaxIdxPayloadBytes || n * per_image > kMaxIdxPayloadBytes)
    fail(kWhere,
         name + ": the header announces " + shape + " pixels, more than the " + std::to_string(kMaxIdxPayloadBytes) +
             " bytes this reader accepts",
         kCorruptHint);
  ImageSet set;
  set.n = static_cast<int64_t>(n);
  set.rows = static_cast<int64_t>(rows);
  set.cols = static_cast<int64_t>(cols);
  set.channels = 1;
  set.pixels = read_payload(in, name, n * per_image, shape);
  set.names.reserve(n);
  for (uint64_t i = 0; i < n; ++i) set.names.push_back(name + "#" + std::to_string(i));
  return set;
}

std::vector<int32_t> parse_idx_labels(std::span<const uint8_t> bytes, const std::string& name) {
  IdxBytes in(bytes, name);
  const uint64_t n = read_header(in, name, kLabelDims)[0];
  if (n > kMaxIdxPayloadBytes)
    fail(kWhere,
         name + ": the header announces " + std::to_string(n) + " labels, more than the " +
             std::to_string(kMaxIdxPayloadBytes) + " this reader accepts",
         kCorruptHint);
  const std::vector<uint8_t> raw = read_payload(in, name, n, std::to_string(n) + " labels");
  return std::vector<int32_t>(raw.begin(), raw.end());
}

ImageSet read_idx_images(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path, kMaxFileBytes, kWhere);
  return parse_idx_images(bytes, path);
}

std::vector<int32_t> read_idx_labels(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path, kMaxFileBytes, kWhere);
  return parse_idx_labels(bytes, path);
}

std::string idx_labels_path_for(const std::string& images_path) {
  // Only the file name is renamed: a folder called "images" must stay as it is.
  const size_t slash = images_path.rfind('/');
  const size_t name_at = slash == std::string::npos ? 0 : slash + 1;
  std::string candidate;
  for (const char* sep : {"-", "."}) {
    const std::string images_part = std::string("images") + sep + "idx3-ubyte";
    const size_t at = images_path.rfind(images_part);
    if (at == std::string::npos || at < name_at) continue;
    candidate = images_path;
    candidate.replace(at, images_part.size(), std::string("labels") + sep + "idx1-ubyte");
    break;
  }
  if (candidate.empty()) return "";
  // The same compression as the images first, then the other one.
  const bool gz = candidate.size() >= 3 && candidate.compare(candidate.size() - 3, 3, ".gz") == 0;
  const std::string other = gz ? candidate.substr(0, candidate.size() - 3) : candidate + ".gz";
  for (const std::string& path : {candidate, other}) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(path, ec)) return path;
  }
  return "";
}

ImageSet read_idx(const std::string& images_path, const std::string& labels_path) {
  ImageSet set = read_idx_images(images_path);
  if (labels_path.empty()) return set;
  std::vector<int32_t> labels = read_idx_labels(labels_path);
  if (static_cast<int64_t>(labels.size()) != set.n)
    fail(kWhere,
         images_path + " has " + std::to_string(set.n) + " images but " + labels_path + " has " +
             std::to_string(labels.size()) + " labels",
         "pass the labels file that belongs to these images (t10k-labels with t10k-images, train-labels with "
         "train-images)");
  set.labels = std::move(labels);
  return set;
}

}  // namespace swapmoe
