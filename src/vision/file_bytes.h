// Reads a whole (small) input file into memory, with the errors a user can act on.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace swapmoe {

// The file's bytes. Fails naming `path` (under the tag `where`) if it cannot be opened, is a
// directory, or is larger than max_bytes (checked before anything is allocated).
std::vector<uint8_t> read_file_bytes(const std::string& path, uint64_t max_bytes, std::string_view where);

// Writes `bytes` to `path` (replacing it), failing with the path and the system's reason.
void write_file_bytes(const std::string& path, const std::vector<uint8_t>& bytes, std::string_view where);

}  // namespace swapmoe
