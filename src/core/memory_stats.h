// Process memory figures read from /proc (Linux); zero where unavailable.
#pragma once

#include <cstdint>
#include <string>

namespace swapmoe {

uint64_t peak_rss_bytes();     // VmHWM: the high-water mark of resident memory
uint64_t current_rss_bytes();  // VmRSS
uint64_t physical_memory_bytes();  // the machine's RAM (sysconf), whatever a cgroup allows

// Parses "512M", "3.5G", "1024K", "123" (bytes); returns false on malformed text.
// Percentages are handled by the caller, which knows what 100% is.
bool parse_byte_size(const std::string& text, uint64_t* bytes);
// Parses "25%" or "37.5%" into 25 / 37.5; false unless it is a number in (0, 100] followed by %.
bool parse_percentage(const std::string& text, double* pct);
std::string format_bytes(uint64_t bytes);  // "1.23 GiB"

}  // namespace swapmoe
