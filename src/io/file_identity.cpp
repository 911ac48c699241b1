// FileIdentity: fstat, and the message for a model file changed under the engine.
#include "io/file_identity.h"

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace swapmoe {

FileIdentity file_identity(const struct stat& st) {
  return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

FileIdentity file_identity(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    fail("file", path + ": cannot stat: " + std::strerror(errno), "check the path and the storage it is on");
  return file_identity(st);
}

void require_same_file(const FileIdentity& then, const FileIdentity& now, const std::string& path, const char* where) {
  if (then == now) return;
  const bool other_file = then.device != now.device || then.inode != now.inode;
  const std::string what =
      other_file ? "was replaced by another file while it was being opened"
      : now.size != then.size
          ? "changed size while in use (" + std::to_string(then.size) + " -> " + std::to_string(now.size) + " bytes)"
          : "was modified in place while in use";
  fail(where, path + ": " + what,
       "replace model files with a rename (mv new old), never by writing into them; then run or serve again");
}

}  // namespace swapmoe
