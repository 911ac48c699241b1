// GgufFile::open: parses and validates the header, metadata and tensor infos of an untrusted file.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "core/error.h"
#include "io/file_cursor.h"
#include "io/file_identity.h"
#include "io/gguf.h"
#include "io/gguf_format.h"
#include "io/gguf_impl.h"

namespace swapmoe {

using namespace gguf_format;

namespace {

constexpr const char* kCorrupt = "the file is corrupt or not a GGUF model; re-download or re-convert it";

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Metadata values

class ValueParser {
 public:
  ValueParser(FileCursor& in, const std::string& key, uint64_t& n_values) : in_(in), key_(key), n_values_(n_values) {}

  GgufValue value(GgufType type, int depth) {
    switch (type) {
      case GgufType::UINT8: return GgufValue::u8(in_.u8("uint8 value"));
      case GgufType::INT8: return GgufValue::i8(static_cast<int8_t>(in_.u8("int8 value")));
      case GgufType::UINT16: return GgufValue::u16(in_.u16("uint16 value"));
      case GgufType::INT16: return GgufValue::i16(static_cast<int16_t>(in_.u16("int16 value")));
      case GgufType::UINT32: return GgufValue::u32(in_.u32("uint32 value"));
      case GgufType::INT32: return GgufValue::i32(static_cast<int32_t>(in_.u32("int32 value")));
      case GgufType::UINT64: return GgufValue::u64(in_.u64("uint64 value"));
      case GgufType::INT64: return GgufValue::i64(in_.i64("int64 value"));
      case GgufType::FLOAT32: {
        uint32_t bits = in_.u32("float32 value");
        float f;
        std::memcpy(&f, &bits, 4);
        return GgufValue::f32(f);
      }
      case GgufType::FLOAT64: {
        uint64_t bits = in_.u64("float64 value");
        double d;
        std::memcpy(&d, &bits, 8);
        return GgufValue::f64(d);
      }
      case GgufType::BOOL: {
        uint8_t b = in_.u8("bool value");
        if (b > 1)
          fail("gguf", in_.path() + ": key '" + key_ + "' has bool byte " + std::to_string(b) + " (must be 0 or 1)", kCorrupt);
        return GgufValue::boolean(b != 0);
      }
      case GgufType::STRING: return GgufValue::string(in_.string("string value"));
      case GgufType::ARRAY: return array(depth + 1);
    }
    fail("gguf", in_.path() + ": key '" + key_ + "' has unknown value type " + std::to_string(static_cast<uint32_t>(type)), kCorrupt);
  }

  GgufType type_tag(const char* what) {
    uint64_t at = in_.pos();
    uint32_t raw = in_.u32(what);
    if (!is_valid_type(raw))
      fail("gguf", in_.path() + ": key '" + key_ + "' has unknown metadata " + what + " " + std::to_string(raw) + " at offset " +
                       std::to_string(at) + " (known types are 0..12)",
           "the file may come from a newer GGUF version or be corrupt");
    return static_cast<GgufType>(raw);
  }

 private:
  GgufValue array(int depth) {
    if (depth > kMaxArrayDepth)
      fail("gguf", in_.path() + ": key '" + key_ + "' nests arrays " + std::to_string(depth) + " deep (limit " +
                       std::to_string(kMaxArrayDepth) + ")",
           kCorrupt);
    GgufType elem = type_tag("array element type");
    uint64_t count = in_.u64("array length");
    // Reject counts the remaining bytes cannot hold before reserving anything.
    uint64_t min_bytes = min_value_bytes(elem);
    if (count > in_.remaining() / min_bytes)
      fail("gguf", in_.path() + ": key '" + key_ + "' is an array of " + std::to_string(count) + " " + gguf_type_name(elem) +
                       " values, but only " + std::to_string(in_.remaining()) + " bytes remain",
           "the array length is corrupt or the file is truncated");
    n_values_ += count;
    if (n_values_ > kMaxMetadataValues)
      fail("gguf", in_.path() + ": key '" + key_ + "' brings the metadata to " + std::to_string(n_values_) +
                       " array values (limit " + std::to_string(kMaxMetadataValues) + ")",
           "no real model needs this many; the file is corrupt or hostile");
    GgufArray arr;
    arr.elem_type = elem;
    arr.values.reserve(static_cast<size_t>(count));
    for (uint64_t i = 0; i < count; ++i) arr.values.push_back(value(elem, depth));
    GgufValue v;
    v.type = GgufType::ARRAY;
    v.value = std::move(arr);
    return v;
  }

  FileCursor& in_;
  const std::string& key_;
  uint64_t& n_values_;  // array elements parsed so far, across all keys
};

// ---------------------------------------------------------------------------------------------
// Header checks

void read_header(FileCursor& in, GgufState& f, uint64_t& n_tensors, uint64_t& n_kv) {
  uint32_t magic = in.u32("magic");
  if (magic != kMagic)
    fail("gguf", f.path + ": bad magic " + hex32(magic) + " (expected \"GGUF\" = " + hex32(kMagic) + ")",
         "this is not a GGUF file; llama.cpp's convert_hf_to_gguf.py produces them");
  f.version = in.u32("version");
  if (f.version == 1)
    fail("gguf", f.path + ": GGUF version 1 is not supported", "re-convert the model with a current llama.cpp (v2/v3 files)");
  if (f.version != 2 && f.version != 3)
    fail("gguf", f.path + ": unsupported GGUF version " + std::to_string(f.version) + " (supported: 2, 3)",
         f.version > 0x00010000 ? "the file may be big-endian or corrupt" : "the file is corrupt or from a newer format");
  n_tensors = in.u64("tensor count");
  n_kv = in.u64("metadata count");
  if (n_kv > in.remaining() / kMinKvBytes)
    fail("gguf", f.path + ": metadata count " + std::to_string(n_kv) + " is absurd for " + std::to_string(in.remaining()) +
                     " remaining bytes",
         kCorrupt);
  if (n_tensors > in.remaining() / kMinTensorInfoBytes)
    fail("gguf", f.path + ": tensor count " + std::to_string(n_tensors) + " is absurd for " +
                     std::to_string(in.remaining()) + " remaining bytes",
         kCorrupt);
}

// Keys are ASCII names (general.architecture). Control bytes or invalid UTF-8 in one mean its
// length field is corrupt: say so, showing the bytes escaped, instead of printing them raw.
void check_key_is_text(const GgufState& f, const std::string& key, uint64_t index, uint64_t offset) {
  bool ok = !key.empty();
  for (unsigned char c : key) ok = ok && c >= 0x20 && c != 0x7f && c < 0x80;
  if (ok) return;
  std::string shown;
  for (unsigned char c : key.substr(0, 64)) {
    if (c >= 0x20 && c < 0x7f) shown += static_cast<char>(c);
    else shown += fmt::format("\\x{:02x}", c);
  }
  if (key.size() > 64) shown += "...";
  fail("gguf",
       fmt::format("{}: metadata key #{} at offset {} is not a printable name: '{}' ({} bytes)", f.path, index, offset,
                   shown, key.size()),
       "the key's length field is probably corrupt; re-download the file");
}

void read_metadata(FileCursor& in, GgufState& f, uint64_t n_kv) {
  uint64_t n_values = 0;
  for (uint64_t i = 0; i < n_kv; ++i) {
    const uint64_t key_offset = in.pos();
    std::string key = in.string("metadata key");
    check_key_is_text(f, key, i, key_offset);
    ValueParser p(in, key, n_values);
    GgufType type = p.type_tag("value type");
    GgufValue v = p.value(type, 0);
    f.metadata.emplace_back(std::move(key), std::move(v));
  }
  // Index once the vector stops moving: the string_views point into its keys.
  f.metadata_index.reserve(f.metadata.size());
  for (size_t i = 0; i < f.metadata.size(); ++i)
    if (!f.metadata_index.emplace(f.metadata[i].first, i).second)
      fail("gguf", f.path + ": duplicate metadata key '" + f.metadata[i].first + "'", kCorrupt);
}

void read_alignment(GgufState& f) {
  auto it = f.metadata_index.find("general.alignment");
  if (it == f.metadata_index.end()) return;
  const GgufValue& v = f.metadata[it->second].second;
  if (!is_unsigned_int(v.type) && !is_signed_int(v.type))
    fail("gguf", f.path + ": general.alignment has type " + gguf_type_name(v.type) + ", expected an integer", kCorrupt);
  bool negative = is_signed_int(v.type) && std::get<int64_t>(v.value) < 0;
  uint64_t a = negative ? 0 : v.as_u64();
  if (negative || a == 0 || (a & (a - 1)) != 0 || a > kMaxAlignment)
    fail("gguf", f.path + ": general.alignment = " + (negative ? std::to_string(std::get<int64_t>(v.value)) : std::to_string(a)) +
                     " is not a power of two in [1, 2^30]",
         kCorrupt);
  f.alignment = a;
}

// ---------------------------------------------------------------------------------------------
// Tensor infos

GgufTensorInfo read_tensor_info(FileCursor& in, const GgufState& f) {
  GgufTensorInfo t;
  t.name = in.string("tensor name");
  const std::string where = f.path + ": tensor '" + t.name + "'";
  uint32_t n_dims = in.u32("tensor n_dims");
  if (n_dims == 0 || n_dims > kMaxDims)
    fail("gguf", where + " has " + std::to_string(n_dims) + " dimensions (must be 1 to 4)", kCorrupt);
  t.ne.resize(n_dims);
  for (uint32_t d = 0; d < n_dims; ++d) t.ne[d] = in.i64("tensor dimension");
  uint32_t raw_type = in.u32("tensor type");
  t.offset = in.u64("tensor offset");

  int64_t n_elements = 1;
  for (uint32_t d = 0; d < n_dims; ++d) {
    if (t.ne[d] <= 0)
      fail("gguf", where + " has dimension ne[" + std::to_string(d) + "] = " + std::to_string(t.ne[d]) + " (must be positive)", kCorrupt);
    if (n_elements > std::numeric_limits<int64_t>::max() / t.ne[d])
      fail("gguf", where + " has too many elements (the product of its dimensions overflows int64)", kCorrupt);
    n_elements *= t.ne[d];
  }
  if (!type_is_known(raw_type))
    fail("gguf", where + " has unknown ggml type " + std::to_string(raw_type),
         "re-quantise the model to a type swapmoe computes with, e.g. q4_K or q8_0");
  t.type = static_cast<GgmlType>(raw_type);
  const TypeTraits& tr = type_traits(t.type);
  if (t.ne[0] % tr.block_size != 0)
    fail("gguf", where + " has ne[0] = " + std::to_string(t.ne[0]) + ", not a multiple of the " + type_name(t.type) +
                     " block size " + std::to_string(tr.block_size),
         kCorrupt);
  // n_elements fits in int64, so rows and blocks do too; only the byte count can overflow.
  uint64_t row_bytes = row_size(t.type, t.ne[0]);
  uint64_t n_rows = static_cast<uint64_t>(n_elements / t.ne[0]);
  if (n_rows != 0 && row_bytes > std::numeric_limits<uint64_t>::max() / n_rows)
    fail("gguf", where + " byte size overflows", kCorrupt);
  t.n_bytes = row_bytes * n_rows;
  if (t.offset % f.alignment != 0)
    fail("gguf", where + " has offset " + std::to_string(t.offset) + ", not a multiple of the alignment " +
                     std::to_string(f.alignment),
         kCorrupt);
  return t;
}

void check_tensor_ranges(GgufState& f) {
  for (GgufTensorInfo& t : f.tensors) {
    uint64_t data_bytes = f.file_size > f.data_offset ? f.file_size - f.data_offset : 0;
    if (t.offset > data_bytes || t.n_bytes > data_bytes - t.offset)
      fail("gguf", f.path + ": tensor '" + t.name + "' data [" + std::to_string(t.offset) + ", +" + std::to_string(t.n_bytes) +
                       ") runs past the end of the data section (" + std::to_string(data_bytes) + " bytes from offset " +
                       std::to_string(f.data_offset) + ")",
           "the file is truncated; re-download it");
    t.file_offset = f.data_offset + t.offset;
  }
  std::vector<const GgufTensorInfo*> by_offset;
  by_offset.reserve(f.tensors.size());
  for (const GgufTensorInfo& t : f.tensors) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const GgufTensorInfo& a = *by_offset[i - 1];
    const GgufTensorInfo& b = *by_offset[i];
    if (a.offset + a.n_bytes > b.offset)
      fail("gguf", f.path + ": tensors '" + a.name + "' [" + std::to_string(a.offset) + ", " + std::to_string(a.offset + a.n_bytes) +
                       ") and '" + b.name + "' [" + std::to_string(b.offset) + ", " + std::to_string(b.offset + b.n_bytes) +
                       ") overlap",
           kCorrupt);
  }
}

void read_tensor_infos(FileCursor& in, GgufState& f, uint64_t n_tensors) {
  for (uint64_t i = 0; i < n_tensors; ++i) f.tensors.push_back(read_tensor_info(in, f));
  f.tensor_index.reserve(f.tensors.size());
  for (size_t i = 0; i < f.tensors.size(); ++i)
    if (!f.tensor_index.emplace(f.tensors[i].name, i).second)
      fail("gguf", f.path + ": duplicate tensor name '" + f.tensors[i].name + "'", kCorrupt);
}

}  // namespace

GgufFile GgufFile::open(const std::string& path) {
  auto f = std::make_unique<Impl>();
  f->path = path;
  f->fd = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!f->fd.valid())
    fail("gguf", path + ": cannot open: " + std::strerror(errno), "check the path and its permissions");
  struct stat st {};
  if (::fstat(f->fd.get(), &st) != 0)
    fail("gguf", path + ": cannot stat: " + std::strerror(errno), "check the path and its permissions");
  if (!S_ISREG(st.st_mode)) fail("gguf", path + ": not a regular file", "pass the path of a .gguf file");
  f->file_size = static_cast<uint64_t>(st.st_size);
  f->identity = file_identity(st);

  FileCursor in(f->fd.get(), path, f->file_size);
  uint64_t n_tensors = 0, n_kv = 0;
  read_header(in, *f, n_tensors, n_kv);
  read_metadata(in, *f, n_kv);
  read_alignment(*f);
  read_tensor_infos(in, *f, n_tensors);
  f->data_offset = align_up(in.pos(), f->alignment);
  check_tensor_ranges(*f);
  return GgufFile(std::move(f));
}

}  // namespace swapmoe
