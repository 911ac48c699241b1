// For the GGUF libFuzzer targets: a mutator that knows where a GGUF file keeps its numbers.
//
// Byte-level mutations rarely turn a size into one near 2^63 or 2^64 (a u64 of 8 has to gain a
// top byte of 0x7f or 0x80 at exactly the right place), yet those are the values that overflow
// arithmetic. Half of the mutations therefore find the header's integers (metadata values, array
// lengths, tensor dimensions, types and offsets), most often one outside the arrays, and set it
// to an edge value; the other half are libFuzzer's own. The scan only reads what lies inside the
// input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace swapmoe::gguf_fuzz {

// Where an integer of `width` bytes (1, 2, 4 or 8) sits in the input.
struct Field {
  size_t at;
  int width;
  bool in_array;  // an array's element or length: a vocabulary has hundreds, the shape a dozen
};

// The header's integers, in file order, as far as the header parses.
inline std::vector<Field> integer_fields(const uint8_t* data, size_t size) {
  std::vector<Field> fields;
  size_t p = 0;
  auto have = [&](size_t n) { return n <= size - p; };
  auto u32 = [&] { uint32_t v; std::memcpy(&v, data + p, 4); p += 4; return v; };
  auto u64 = [&] { uint64_t v; std::memcpy(&v, data + p, 8); p += 8; return v; };
  int array_depth = 0;
  auto field = [&](int width) { fields.push_back({p, width, array_depth > 0}); };
  // A GGUF string: its length is a field too; false when it runs past the end.
  auto skip_string = [&] {
    if (!have(8)) return false;
    field(8);
    const uint64_t n = u64();
    if (n > size - p) return false;
    p += static_cast<size_t>(n);
    return true;
  };
  static constexpr int k_width[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};  // by GGUF value type
  // One value of type t (arrays nest at most 4 deep here); false when the input ends.
  auto value = [&](auto&& self, uint32_t t, int depth) -> bool {
    if (t > 12 || depth > 4) return false;
    if (t == 8) return skip_string();
    if (t == 9) {
      if (!have(12)) return false;
      ++array_depth;
      field(4);
      const uint32_t elem = u32();
      field(8);
      const uint64_t n = u64();
      bool ok = true;
      for (uint64_t i = 0; i < n && ok && fields.size() < 4096; ++i) ok = self(self, elem, depth + 1);
      --array_depth;
      return ok;
    }
    const int w = k_width[t];
    if (!have(static_cast<size_t>(w))) return false;
    if (t != 6 && t != 12) field(w);  // floats are left to libFuzzer
    p += static_cast<size_t>(w);
    return true;
  };
  if (!have(24)) return fields;
  p = 4;  // magic
  field(4);
  u32();  // version
  field(8);
  const uint64_t n_tensors = u64();
  field(8);
  const uint64_t n_kv = u64();
  for (uint64_t i = 0; i < n_kv; ++i) {
    if (!skip_string() || !have(4)) return fields;
    field(4);
    if (!value(value, u32(), 0)) return fields;
  }
  for (uint64_t i = 0; i < n_tensors; ++i) {
    if (!skip_string() || !have(4)) return fields;
    field(4);
    const uint32_t n_dims = u32();
    for (uint32_t d = 0; d < n_dims && d < 8; ++d) {
      if (!have(8)) return fields;
      field(8);
      p += 8;
    }
    if (!have(12)) return fields;
    field(4);  // type
    p += 4;
    field(8);  // offset
    p += 8;
  }
  return fields;
}

// An edge value for a field now holding `old`: the limits of every width, around them, and
// simple changes of the old value.
inline uint64_t edge_value(uint64_t old, std::mt19937_64& rng) {
  static constexpr uint64_t k_edges[] = {0,
                                         1,
                                         2,
                                         3,
                                         0x7f,
                                         0x80,
                                         0xff,
                                         0x7fff,
                                         0x8000,
                                         0xffff,
                                         0x7fffffff,
                                         0x80000000,
                                         0xffffffff,
                                         0x100000000,
                                         0x7fffffffffffffff,
                                         0x8000000000000000,
                                         0xffffffffffffffff,
                                         0x4000000000000000,
                                         0x7ffffffffffffff0,
                                         0x8000000000000010,
                                         0xfffffffffffffff0};
  switch (rng() % 6) {
    case 0: return old + 1;
    case 1: return old - 1;
    case 2: return old * 2;
    case 3: return old << (1 + rng() % 40);
    case 4: return rng();
    default: return k_edges[rng() % std::size(k_edges)];
  }
}

inline size_t mutate(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  std::mt19937_64 rng(seed);
  if (rng() % 2 == 0) {
    std::vector<Field> fields = integer_fields(data, size);
    // Mostly the shape: scalar metadata (sizes, counts, ids) and tensor infos.
    std::vector<Field> shape;
    for (const Field& f : fields)
      if (!f.in_array) shape.push_back(f);
    if (!shape.empty() && rng() % 5 != 0) fields = std::move(shape);
    if (!fields.empty()) {
      const Field f = fields[rng() % fields.size()];
      uint64_t old = 0;
      std::memcpy(&old, data + f.at, static_cast<size_t>(f.width));
      const uint64_t v = edge_value(old, rng);
      std::memcpy(data + f.at, &v, static_cast<size_t>(f.width));  // little-endian: the low bytes
      return size;
    }
  }
  return LLVMFuzzerMutate(data, size, max_size);
}

}  // namespace swapmoe::gguf_fuzz
