// GgufWriter: streams metadata, tensor infos and padded tensor data to a file.
#include <fcntl.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <unordered_set>

#include "core/error.h"
#include "io/gguf.h"
#include "io/gguf_format.h"
#include "io/unique_fd.h"

namespace swapmoe {

using namespace gguf_format;

namespace {

static_assert(std::endian::native == std::endian::little, "swapmoe's GGUF writer assumes a little-endian host");

// Collects small writes into large ones; big payloads bypass the buffer.
class OutFile {
 public:
  static constexpr size_t kBufBytes = 8 << 20;

  OutFile(const std::string& path, int fd) : path_(path), fd_(fd), buf_(new uint8_t[kBufBytes]) {}

  void bytes(const void* p, size_t n) {
    if (n >= kBufBytes) {
      flush();
      raw_write(p, n);
      return;
    }
    if (len_ + n > kBufBytes) flush();
    std::memcpy(buf_.get() + len_, p, n);
    len_ += n;
  }
  template <typename T>
  void pod(T v) { bytes(&v, sizeof v); }
  void string(const std::string& s) {
    pod<uint64_t>(s.size());
    bytes(s.data(), s.size());
  }
  void zeros(size_t n) {
    static constexpr uint8_t kZero[4096] = {};
    while (n > 0) {
      size_t k = std::min(n, sizeof kZero);
      bytes(kZero, k);
      n -= k;
    }
  }
  uint64_t pos() const { return written_ + len_; }

  void flush() {
    raw_write(buf_.get(), len_);
    len_ = 0;
  }

 private:
  void raw_write(const void* p, size_t n) {
    const auto* c = static_cast<const uint8_t*>(p);
    while (n > 0) {
      ssize_t w = ::write(fd_, c, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0)
        fail("gguf_writer", path_ + ": write failed at offset " + std::to_string(written_) + ": " +
                                (w < 0 ? std::strerror(errno) : "no progress"),
             "check free disk space");
      c += w;
      n -= static_cast<size_t>(w);
      written_ += static_cast<uint64_t>(w);
    }
  }

  const std::string& path_;
  int fd_;
  std::unique_ptr<uint8_t[]> buf_;
  size_t len_ = 0;
  uint64_t written_ = 0;
};

// The variant must hold the alternative that the on-disk type implies, and the value must fit.
void check_value(const std::string& key, const GgufValue& v, int depth) {
  auto bad = [&](const std::string& what) {
    fail("gguf_writer", "key '" + key + "': " + what, "build values with the GgufValue constructors");
  };
  if (!is_valid_type(static_cast<uint32_t>(v.type))) bad("unknown value type " + std::to_string(static_cast<uint32_t>(v.type)));
  auto check_u = [&](uint64_t max) {
    if (!std::holds_alternative<uint64_t>(v.value)) bad(std::string(gguf_type_name(v.type)) + " value not stored as uint64");
    if (std::get<uint64_t>(v.value) > max) bad(std::to_string(std::get<uint64_t>(v.value)) + " does not fit in " + gguf_type_name(v.type));
  };
  auto check_i = [&](int64_t lo, int64_t hi) {
    if (!std::holds_alternative<int64_t>(v.value)) bad(std::string(gguf_type_name(v.type)) + " value not stored as int64");
    int64_t x = std::get<int64_t>(v.value);
    if (x < lo || x > hi) bad(std::to_string(x) + " does not fit in " + gguf_type_name(v.type));
  };
  switch (v.type) {
    case GgufType::UINT8: return check_u(UINT8_MAX);
    case GgufType::UINT16: return check_u(UINT16_MAX);
    case GgufType::UINT32: return check_u(UINT32_MAX);
    case GgufType::UINT64: return check_u(UINT64_MAX);
    case GgufType::INT8: return check_i(INT8_MIN, INT8_MAX);
    case GgufType::INT16: return check_i(INT16_MIN, INT16_MAX);
    case GgufType::INT32: return check_i(INT32_MIN, INT32_MAX);
    case GgufType::INT64: return check_i(INT64_MIN, INT64_MAX);
    case GgufType::FLOAT32:
    case GgufType::FLOAT64:
      if (!std::holds_alternative<double>(v.value)) bad("float value not stored as double");
      return;
    case GgufType::BOOL:
      if (!std::holds_alternative<bool>(v.value)) bad("bool value not stored as bool");
      return;
    case GgufType::STRING:
      if (!std::holds_alternative<std::string>(v.value)) bad("string value not stored as string");
      return;
    case GgufType::ARRAY: {
      if (!std::holds_alternative<GgufArray>(v.value)) bad("array value not stored as GgufArray");
      if (depth >= kMaxArrayDepth) bad("arrays nested deeper than " + std::to_string(kMaxArrayDepth));
      const GgufArray& a = std::get<GgufArray>(v.value);
      for (const GgufValue& e : a.values) {
        if (e.type != a.elem_type)
          bad(std::string("array of ") + gguf_type_name(a.elem_type) + " holds a " + gguf_type_name(e.type));
        check_value(key, e, depth + 1);
      }
      return;
    }
  }
}

void write_value(OutFile& out, const GgufValue& v) {
  switch (v.type) {
    case GgufType::UINT8: return out.pod(static_cast<uint8_t>(std::get<uint64_t>(v.value)));
    case GgufType::UINT16: return out.pod(static_cast<uint16_t>(std::get<uint64_t>(v.value)));
    case GgufType::UINT32: return out.pod(static_cast<uint32_t>(std::get<uint64_t>(v.value)));
    case GgufType::UINT64: return out.pod(std::get<uint64_t>(v.value));
    case GgufType::INT8: return out.pod(static_cast<int8_t>(std::get<int64_t>(v.value)));
    case GgufType::INT16: return out.pod(static_cast<int16_t>(std::get<int64_t>(v.value)));
    case GgufType::INT32: return out.pod(static_cast<int32_t>(std::get<int64_t>(v.value)));
    case GgufType::INT64: return out.pod(std::get<int64_t>(v.value));
    case GgufType::FLOAT32: return out.pod(static_cast<float>(std::get<double>(v.value)));
    case GgufType::FLOAT64: return out.pod(std::get<double>(v.value));
    case GgufType::BOOL: return out.pod(static_cast<uint8_t>(std::get<bool>(v.value) ? 1 : 0));
    case GgufType::STRING: return out.string(std::get<std::string>(v.value));
    case GgufType::ARRAY: {
      const GgufArray& a = std::get<GgufArray>(v.value);
      out.pod(static_cast<uint32_t>(a.elem_type));
      out.pod<uint64_t>(a.values.size());
      for (const GgufValue& e : a.values) write_value(out, e);
      return;
    }
  }
}

}  // namespace

GgufWriter::GgufWriter(uint32_t version, uint64_t alignment) : version_(version), alignment_(alignment) {
  if (version != 2 && version != 3)
    fail("gguf_writer", "cannot write GGUF version " + std::to_string(version), "choose version 2 or 3");
  if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > kMaxAlignment)
    fail("gguf_writer", "alignment " + std::to_string(alignment) + " is not a power of two in [1, 2^30]", "use e.g. 32 or 64");
  // Readers only learn a non-default alignment from this key.
  if (alignment != kDefaultAlignment)
    metadata_.emplace_back("general.alignment", GgufValue::u32(static_cast<uint32_t>(alignment)));
}

void GgufWriter::set(const std::string& key, GgufValue value) {
  check_value(key, value, 0);
  for (auto& [k, v] : metadata_)
    if (k == key) {
      v = std::move(value);
      return;
    }
  metadata_.emplace_back(key, std::move(value));
}

void GgufWriter::add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> ne, FillFn fill) {
  const std::string where = "tensor '" + name + "'";
  for (const Tensor& t : tensors_)
    if (t.name == name) fail("gguf_writer", "duplicate " + where, "tensor names must be unique");
  if (!type_is_known(static_cast<uint32_t>(type)))
    fail("gguf_writer", where + " has unknown type " + std::to_string(static_cast<uint32_t>(type)), "use a GgmlType from ggml_type.h");
  if (ne.empty() || ne.size() > 4)
    fail("gguf_writer", where + " has " + std::to_string(ne.size()) + " dimensions", "tensors have 1 to 4 dimensions");
  int64_t n = 1;
  for (int64_t d : ne) {
    if (d <= 0 || n > std::numeric_limits<int64_t>::max() / d)
      fail("gguf_writer", where + " has a non-positive or overflowing dimension " + std::to_string(d), "check the shape");
    n *= d;
  }
  if (ne[0] % type_traits(type).block_size != 0)
    fail("gguf_writer", where + ": ne[0] = " + std::to_string(ne[0]) + " is not a multiple of the " + type_name(type) +
                            " block size " + std::to_string(type_traits(type).block_size),
         "pad the rows or choose another type");
  if (!fill) fail("gguf_writer", where + " has no fill callback", "pass a function that writes the tensor's bytes");
  tensors_.push_back({name, type, std::move(ne), std::move(fill)});
}

void GgufWriter::write(const std::string& path) const {
  for (const auto& [k, v] : metadata_)
    if (k == "general.alignment" && (!(is_unsigned_int(v.type) || is_signed_int(v.type)) || v.as_u64() != alignment_))
      fail("gguf_writer", path + ": general.alignment was set to a value other than the writer's alignment " +
                              std::to_string(alignment_),
           "pass the alignment to the GgufWriter constructor instead");

  // Tensor sizes and offsets, laid out in insertion order.
  std::vector<uint64_t> sizes, offsets;
  uint64_t data_bytes = 0, max_bytes = 0;
  for (const Tensor& t : tensors_) {
    uint64_t rows = 1;
    for (size_t d = 1; d < t.ne.size(); ++d) rows *= static_cast<uint64_t>(t.ne[d]);
    uint64_t n = row_size(t.type, t.ne[0]) * rows;
    data_bytes = align_up(data_bytes, alignment_);
    offsets.push_back(data_bytes);
    sizes.push_back(n);
    data_bytes += n;
    max_bytes = std::max(max_bytes, n);
  }

  // Write to a temporary name and rename at the end, so a failed write never leaves a
  // truncated file under the real name.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) fail("gguf_writer", tmp + ": cannot create: " + std::strerror(errno), "check the directory and its permissions");
  try {
    OutFile out(tmp, fd.get());
    out.pod(kMagic);
    out.pod(version_);
    out.pod<uint64_t>(tensors_.size());
    out.pod<uint64_t>(metadata_.size());
    for (const auto& [k, v] : metadata_) {
      out.string(k);
      out.pod(static_cast<uint32_t>(v.type));
      write_value(out, v);
    }
    for (size_t i = 0; i < tensors_.size(); ++i) {
      const Tensor& t = tensors_[i];
      out.string(t.name);
      out.pod(static_cast<uint32_t>(t.ne.size()));
      for (int64_t d : t.ne) out.pod(d);
      out.pod(static_cast<uint32_t>(t.type));
      out.pod(offsets[i]);
    }
    out.zeros(align_up(out.pos(), alignment_) - out.pos());

    // One buffer, sized for the largest tensor, reused for all; left uninitialised because
    // fill() overwrites it completely and zeroing GBs would cost as much as writing them.
    std::unique_ptr<uint8_t[]> buf(max_bytes ? new uint8_t[max_bytes] : nullptr);
    const uint64_t data_start = out.pos();
    for (size_t i = 0; i < tensors_.size(); ++i) {
      out.zeros(data_start + offsets[i] - out.pos());
      tensors_[i].fill(buf.get(), sizes[i]);
      out.bytes(buf.get(), sizes[i]);
    }
    out.flush();
    // No fsync: converters rewrite on failure anyway, and syncing would halve the write speed.
    if (::close(fd.release()) != 0)
      fail("gguf_writer", tmp + ": close failed: " + std::strerror(errno), "check free disk space");
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      fail("gguf_writer", path + ": cannot rename from " + tmp + ": " + std::strerror(errno), "check the directory");
  } catch (...) {
    fd.reset();
    ::unlink(tmp.c_str());
    throw;
  }
}

}  // namespace swapmoe
