// GgufState: the parsed state of one GGUF file, shared by the parser and GgufFile's accessors.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "io/file_identity.h"
#include "io/gguf.h"
#include "io/unique_fd.h"

namespace swapmoe {

// Lives at namespace scope (GgufFile::Impl is private) so the parser's helpers can take it.
struct GgufState {
  std::string path;
  UniqueFd fd;  // kept open so that the lazy map sees the same file that was parsed
  uint32_t version = 0;
  uint64_t file_size = 0;
  FileIdentity identity;  // at open: readers opened later by path must see this same file
  uint64_t alignment = 32;
  uint64_t data_offset = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata;
  std::unordered_map<std::string_view, size_t> metadata_index;  // key -> index into metadata
  std::vector<GgufTensorInfo> tensors;
  std::unordered_map<std::string_view, size_t> tensor_index;    // name -> index into tensors

  // The read-only map, created on first use; with read_not_map, anonymous memory the file is
  // read into instead (--no-mmap).
  bool read_not_map = false;
  mutable std::once_flag map_once;
  mutable const uint8_t* map = nullptr;
  mutable size_t map_bytes = 0;

  GgufState() = default;
  GgufState(const GgufState&) = delete;
  GgufState& operator=(const GgufState&) = delete;
  ~GgufState();
};

struct GgufFile::Impl : GgufState {};

}  // namespace swapmoe
