#include "core/memory_stats.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <unistd.h>

namespace swapmoe {

namespace {
uint64_t read_status_kb(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  size_t key_len = std::strlen(key);
  while (std::getline(f, line)) {
    if (line.compare(0, key_len, key) == 0) return std::strtoull(line.c_str() + key_len, nullptr, 10);
  }
  return 0;
}
}  // namespace

uint64_t peak_rss_bytes() { return read_status_kb("VmHWM:") * 1024; }
uint64_t current_rss_bytes() { return read_status_kb("VmRSS:") * 1024; }

uint64_t physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
}

bool parse_byte_size(const std::string& text, uint64_t* bytes) {
  if (text.empty()) return false;
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !std::isfinite(value) || value < 0) return false;
  std::string unit(end);
  if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.pop_back();
  if (!unit.empty() && (unit.back() == 'i')) unit.pop_back();
  double mult = 1;
  if (unit.empty()) mult = 1;
  else if (unit == "K" || unit == "k") mult = 1024.0;
  else if (unit == "M" || unit == "m") mult = 1024.0 * 1024;
  else if (unit == "G" || unit == "g") mult = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "t") mult = 1024.0 * 1024 * 1024 * 1024;
  else return false;
  // Converting a double of 2^64 or more to uint64 is undefined behaviour ("99999999999999999999G").
  if (!(value * mult < 0x1p64)) return false;
  *bytes = static_cast<uint64_t>(value * mult);
  return true;
}

bool parse_percentage(const std::string& text, double* pct) {
  if (text.size() < 2 || text.back() != '%') return false;
  char* end = nullptr;
  *pct = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size() - 1 && *pct > 0 && *pct <= 100;
}

std::string format_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
  return buf;
}

}  // namespace swapmoe
