// FileIdentity: which file an open descriptor is, and in what state, so that a file replaced
// (renamed over) or changed in place while the engine uses it is noticed instead of read.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>

namespace swapmoe {

struct FileIdentity {
  uint64_t device = 0;
  uint64_t inode = 0;
  uint64_t size = 0;      // bytes
  int64_t mtime_ns = 0;   // a write or truncate in place moves it
  bool operator==(const FileIdentity&) const = default;
};

FileIdentity file_identity(const struct stat& st);
// fstat of `fd`; throws swapmoe::Error naming `path` when fstat fails.
FileIdentity file_identity(int fd, const std::string& path);

// Throws "[where] PATH changed while in use" unless `now` is the same file, unchanged, as `then`.
void require_same_file(const FileIdentity& then, const FileIdentity& now, const std::string& path, const char* where);

}  // namespace swapmoe
