// Code point classes (a flat table built once from the generated ranges), lenient UTF-8
// decoding and the GPT-2 byte map.
#include "tokenizer/unicode_classes.h"

#include <array>

namespace swapmoe {

namespace {

constexpr uint32_t k_max_cp = 0x110000;

// One byte per code point (1.1 MB): classification is on the hot path of every pre-tokenizer.
const std::vector<uint8_t>& class_table() {
  static const std::vector<uint8_t> table = [] {
    std::vector<uint8_t> t(k_max_cp, 0);
    for (size_t i = 0; i < k_unicode_class_range_count; ++i) {
      const uint32_t end = i + 1 < k_unicode_class_range_count ? k_unicode_class_ranges[i + 1].first : k_max_cp;
      for (uint32_t cp = k_unicode_class_ranges[i].first; cp < end; ++cp) t[cp] = k_unicode_class_ranges[i].class_byte;
    }
    return t;
  }();
  return table;
}

bool is_printable_latin1(int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

struct ByteMaps {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, 512> to_byte{};  // every mapped code point is below U+0200
};

const ByteMaps& byte_maps() {
  static const ByteMaps maps = [] {
    ByteMaps m;
    m.to_byte.fill(-1);
    uint32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      m.to_cp[b] = is_printable_latin1(b) ? static_cast<uint32_t>(b) : next++;
      m.to_byte[m.to_cp[b]] = static_cast<int16_t>(b);
    }
    return m;
  }();
  return maps;
}

bool is_continuation(uint8_t c) { return (c & 0xC0) == 0x80; }

}  // namespace

uint8_t cp_class_byte(uint32_t cp) {
  if (cp >= k_max_cp) return static_cast<uint8_t>(CpClass::UNASSIGNED);
  return class_table()[cp];
}

std::vector<uint32_t> decode_utf8_lenient(std::string_view text) {
  std::vector<uint32_t> cps;
  cps.reserve(text.size());
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    const uint8_t c = s[i];
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      len = 1, cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07;
    }
    bool ok = len > 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) {
      ok = is_continuation(s[i + k]);
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if (!ok) {
      cps.push_back(0xFFFD);
      ++i;
      continue;
    }
    cps.push_back(cp);
    i += len;
  }
  return cps;
}

uint32_t byte_to_unicode(uint8_t byte) { return byte_maps().to_cp[byte]; }

int unicode_to_byte(uint32_t cp) { return cp < 512 ? byte_maps().to_byte[cp] : -1; }

}  // namespace swapmoe
