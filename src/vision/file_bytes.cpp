// read_file_bytes / write_file_bytes: open, fstat, read/write in a loop (short reads and EINTR).
#include "vision/file_bytes.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace swapmoe {
namespace {

// Closes the descriptor on every path out, exceptions included.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::vector<uint8_t> read_file_bytes(const std::string& path, uint64_t max_bytes, std::string_view where) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(where, path + ": cannot open: " + std::strerror(errno), "check the path");
  FdCloser closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail(where, path + ": cannot stat: " + std::strerror(errno), "check the path");
  if (S_ISDIR(st.st_mode)) fail(where, path + ": is a directory, not a file", "give the path of a file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes)
    fail(where, path + ": is " + std::to_string(size) + " bytes, more than the " + std::to_string(max_bytes) +
                    " this reader accepts",
         "check that this is the right file");
  std::vector<uint8_t> bytes(size);
  uint64_t done = 0;
  while (done < size) {
    const ssize_t got = ::read(fd, bytes.data() + done, size - done);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail(where, path + ": read error: " + std::strerror(errno), "check the file and its storage");
    if (got == 0) break;  // shrank while being read: the parser reports the missing bytes
    done += static_cast<uint64_t>(got);
  }
  bytes.resize(done);
  return bytes;
}

void write_file_bytes(const std::string& path, const std::vector<uint8_t>& bytes, std::string_view where) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(where, path + ": cannot create: " + std::strerror(errno), "check that the folder exists and is writable");
  FdCloser closer{fd};
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t put = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) fail(where, path + ": write error: " + std::strerror(errno), "check the free space");
    done += static_cast<size_t>(put);
  }
  closer.fd = -1;
  if (::close(fd) != 0) fail(where, path + ": write error on close: " + std::strerror(errno), "check the free space");
}

}  // namespace swapmoe
