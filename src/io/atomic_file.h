// write_file_atomically: a small file (cache, profile, plan) appears whole or not at all.
#pragma once

#include <string>
#include <string_view>

namespace swapmoe {

// Writes `bytes` to "<path>.tmp.<pid>" and renames it over `path`. On any failure (ENOSPC,
// EIO, a read-only folder) the temporary file is removed, `path` keeps its old content, and
// swapmoe::Error names the file, the cause and `hint`.
void write_file_atomically(const std::string& path, std::string_view bytes, std::string_view hint);

}  // namespace swapmoe
