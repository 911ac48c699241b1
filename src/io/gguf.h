// GGUF (v2, v3) reader and writer. The file is untrusted: every count, offset and size is
// checked against the file before use, and problems raise swapmoe::Error naming them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "io/file_identity.h"
#include "tensor/ggml_type.h"
#include "tensor/tensor_view.h"

namespace swapmoe {

// Metadata value types, numbered as in the GGUF specification.
enum class GgufType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
  BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
const char* gguf_type_name(GgufType t);

struct GgufValue;
struct GgufArray {
  GgufType elem_type = GgufType::UINT8;
  std::vector<GgufValue> values;
  bool operator==(const GgufArray&) const = default;
};

// One metadata value. Integers are stored widened (signed in i64, unsigned in u64),
// floats in double; `type` keeps the exact on-disk type so that writing round-trips.
struct GgufValue {
  GgufType type = GgufType::UINT8;
  std::variant<uint64_t, int64_t, double, bool, std::string, GgufArray> value;

  // Same on-disk type and same value (arrays compared element by element).
  bool operator==(const GgufValue&) const = default;

  // Checked accessors: throw swapmoe::Error (mentioning the expected and actual types) on misuse.
  uint64_t as_u64() const;  // any integer type, non-negative
  int64_t as_i64() const;   // any integer type that fits
  double as_f64() const;    // float or integer types
  bool as_bool() const;
  const std::string& as_string() const;
  const GgufArray& as_array() const;

  static GgufValue u8(uint8_t v);
  static GgufValue i8(int8_t v);
  static GgufValue u16(uint16_t v);
  static GgufValue i16(int16_t v);
  static GgufValue u32(uint32_t v);
  static GgufValue i32(int32_t v);
  static GgufValue u64(uint64_t v);
  static GgufValue i64(int64_t v);
  static GgufValue f32(float v);
  static GgufValue f64(double v);
  static GgufValue boolean(bool v);
  static GgufValue string(std::string v);
  static GgufValue array(GgufType elem_type, std::vector<GgufValue> values);
  static GgufValue string_array(const std::vector<std::string>& v);
  static GgufValue f32_array(const std::vector<float>& v);
  static GgufValue i32_array(const std::vector<int32_t>& v);
};

struct GgufTensorInfo {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<int64_t> ne;   // dimensions, innermost first (1 to 4 of them)
  uint64_t offset = 0;       // from the start of the data section
  uint64_t n_bytes = 0;      // derived from type and ne
  uint64_t file_offset = 0;  // absolute: data_offset + offset
};

// A parsed GGUF file. Tensor data is reached either through a read-only memory map
// (tensor_view) or by byte range (file_offset, n_bytes) with the readers in io/.
class GgufFile {
 public:
  // Parses the header, metadata and tensor infos; validates every tensor's range against the
  // file size. Maps the file lazily on the first call to tensor_view()/mapped_data().
  static GgufFile open(const std::string& path);

  GgufFile(GgufFile&&) noexcept;
  GgufFile& operator=(GgufFile&&) noexcept;
  ~GgufFile();

  const std::string& path() const;
  uint32_t version() const;
  uint64_t file_size() const;
  const FileIdentity& identity() const;  // the file as it was at open (device, inode, size, mtime)
  uint64_t alignment() const;    // general.alignment, default 32
  uint64_t data_offset() const;  // absolute offset of the (aligned) data section

  const std::vector<std::pair<std::string, GgufValue>>& metadata() const;  // in file order
  const GgufValue* find(std::string_view key) const;                      // nullptr if absent

  // Typed getters. The one-argument forms throw (naming the key) when the key is missing; all
  // forms throw when the key exists with an incompatible type (the fallback is only for absence).
  uint64_t get_u64(std::string_view key) const;
  uint64_t get_u64(std::string_view key, uint64_t fallback) const;
  double get_f64(std::string_view key) const;
  double get_f64(std::string_view key, double fallback) const;
  bool get_bool(std::string_view key, bool fallback) const;
  std::string get_string(std::string_view key) const;
  std::string get_string(std::string_view key, const std::string& fallback) const;

  const std::vector<GgufTensorInfo>& tensors() const;
  const GgufTensorInfo* find_tensor(std::string_view name) const;  // nullptr if absent

  // A view of the tensor's bytes inside the memory map (the map is created on first use).
  TensorView tensor_view(const GgufTensorInfo& info) const;
  const uint8_t* mapped_data() const;  // start of the file in the map

  // Before the first tensor_view()/mapped_data(): read the whole file into process memory on
  // first use instead of mapping it (llama.cpp's --no-mmap). The data then stays resident
  // whatever the page cache does, at the cost of a copy.
  void read_instead_of_map();
  // With read_instead_of_map(): the copy, writable while `edit` runs (the loader rearranges
  // weights in place, tensor/interleave.h), read-only again afterwards. Throws otherwise.
  void edit_copy(const std::function<void(uint8_t* base)>& edit);

 private:
  struct Impl;
  explicit GgufFile(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Writes a GGUF file. Tensor bytes are produced by a callback at write time, tensor by tensor,
// so that multi-GB files are streamed rather than held in memory.
class GgufWriter {
 public:
  explicit GgufWriter(uint32_t version = 3, uint64_t alignment = 32);

  void set(const std::string& key, GgufValue value);  // replaces an existing key

  // fill(dst) must write exactly row_size(type, ne[0]) * (product of the other ne) bytes.
  using FillFn = std::function<void(uint8_t* dst, size_t n_bytes)>;
  void add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> ne, FillFn fill);

  // Writes the whole file; throws swapmoe::Error naming the path on I/O failure.
  void write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> ne;
    FillFn fill;
  };
  uint32_t version_;
  uint64_t alignment_;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<Tensor> tensors_;
};

}  // namespace swapmoe
