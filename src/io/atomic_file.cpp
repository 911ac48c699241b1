// write_file_atomically: temporary file, full write, close, rename; nothing partial is left.
#include "io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "io/unique_fd.h"

namespace swapmoe {

void write_file_atomically(const std::string& path, std::string_view bytes, std::string_view hint) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) fail("write", path + ": cannot create " + tmp + ": " + std::strerror(errno), hint);
  auto give_up = [&](const std::string& what, int err) {
    fd.reset();
    ::unlink(tmp.c_str());
    fail("write", path + ": " + what + ": " + std::strerror(err) + "; the file was left as it was", hint);
  };
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) give_up("write at offset " + std::to_string(done) + " failed", n < 0 ? errno : ENOSPC);
    done += static_cast<size_t>(n);
  }
  // close reports the errors of delayed allocation (NFS, some ENOSPC): only then is the data in.
  if (::close(fd.release()) != 0) give_up("close failed", errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) give_up("rename from " + tmp + " failed", errno);
}

}  // namespace swapmoe
