// libswapmoe_storage_faults.so: an LD_PRELOAD library for tests that makes the real binary's
// file system calls fail the way storage does (short reads, EINTR, EIO, ENOSPC, O_DIRECT refused).
//
// Configured by the environment variable SWAPMOE_FAULTS, a list of key=value separated by ',':
//   match=TEXT        reads: only files whose path (as opened) contains TEXT are faulted
//   short=N           every read of a matched file returns at most N bytes (rounded down to
//                     4096, and at least 4096, on an O_DIRECT descriptor, as a filesystem would)
//   eintr=K           every K-th read call of a matched file fails with EINTR, reading nothing
//   eio_offset=OFF    a read of a matched file that covers byte OFF fails with EIO (a bad sector)
//   eio_call=N        the N-th read call of a matched file (from 1) and every later one fail with EIO
//   eio_while=PATH    reads of a matched file fail with EIO while PATH exists (a transient fault)
//   odirect=einval    open(O_DIRECT) of a matched file fails with EINVAL (tmpfs before Linux 6.6)
//   enospc=TEXT       writes to files whose path contains TEXT fail with ENOSPC ...
//   enospc_after=N    ... once N bytes went to that descriptor (the write crossing N is short)
//   at_flush=K        on the K-th fflush of stdout or stderr (a run flushes each token, perplexity
//                     each progress line), change the first matched file under the running process:
//   truncate=BYTES    ... truncate it to BYTES (a file truncated in place while in use)
//   replace=SRC       ... rename SRC over it (a file replaced while in use)
//   log=1             one line on stderr per injected fault
// Reads are read, pread, pread64 and preadv; writes are write, pwrite, pwrite64. Descriptors are
// tracked from open/open64/openat/openat64/creat (and their fortified forms) and fopen/fopen64
// until close (fclose closes inside libc, so a descriptor reused after fclose keeps its flags
// until its next open: harmless for the engine, which opens model files with open).
// The library only ever adds faults; without SWAPMOE_FAULTS every call passes straight through.
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

// ---------------------------------------------------------------------------------------------
// Configuration, parsed once from SWAPMOE_FAULTS

struct Config {
  char match[256] = "";
  char enospc[256] = "";
  char eio_while[512] = "";
  char replace[512] = "";
  uint64_t at_flush = 0;
  uint64_t truncate_to = UINT64_MAX;
  uint64_t short_bytes = 0;
  uint64_t eintr_every = 0;
  uint64_t eio_offset = UINT64_MAX;
  uint64_t eio_call = 0;
  uint64_t enospc_after = 0;
  bool odirect_einval = false;
  bool log = false;
};

Config g_config;
std::atomic<int> g_config_state{0};  // 0: not parsed, 1: parsing, 2: ready

void copy_value(char* dst, size_t cap, const char* src, size_t n) {
  n = n < cap - 1 ? n : cap - 1;
  std::memcpy(dst, src, n);
  dst[n] = '\0';
}

void parse_item(Config& c, const char* item, size_t len) {
  const char* eq = static_cast<const char*>(std::memchr(item, '=', len));
  if (!eq) return;
  const size_t key_len = static_cast<size_t>(eq - item);
  const char* value = eq + 1;
  const size_t value_len = len - key_len - 1;
  char number[32];
  copy_value(number, sizeof number, value, value_len);
  const uint64_t n = std::strtoull(number, nullptr, 10);
  auto is = [&](const char* key) { return std::strlen(key) == key_len && std::memcmp(key, item, key_len) == 0; };
  if (is("match")) copy_value(c.match, sizeof c.match, value, value_len);
  else if (is("enospc")) copy_value(c.enospc, sizeof c.enospc, value, value_len);
  else if (is("eio_while")) copy_value(c.eio_while, sizeof c.eio_while, value, value_len);
  else if (is("replace")) copy_value(c.replace, sizeof c.replace, value, value_len);
  else if (is("at_flush")) c.at_flush = n;
  else if (is("truncate")) c.truncate_to = n;
  else if (is("short")) c.short_bytes = n;
  else if (is("eintr")) c.eintr_every = n;
  else if (is("eio_offset")) c.eio_offset = n;
  else if (is("eio_call")) c.eio_call = n;
  else if (is("enospc_after")) c.enospc_after = n;
  else if (is("odirect")) c.odirect_einval = std::strncmp(value, "einval", value_len) == 0;
  else if (is("log")) c.log = n != 0;
  else std::fprintf(stderr, "storage_faults: unknown key in SWAPMOE_FAULTS: %.*s\n", static_cast<int>(len), item);
}

const Config& config() {
  int state = g_config_state.load(std::memory_order_acquire);
  if (state == 2) return g_config;
  int expected = 0;
  if (g_config_state.compare_exchange_strong(expected, 1)) {
    if (const char* spec = std::getenv("SWAPMOE_FAULTS")) {
      for (const char* p = spec; *p;) {
        const char* end = std::strchr(p, ',');
        const size_t len = end ? static_cast<size_t>(end - p) : std::strlen(p);
        parse_item(g_config, p, len);
        p += len + (end ? 1 : 0);
      }
    }
    g_config_state.store(2, std::memory_order_release);
  } else {
    while (g_config_state.load(std::memory_order_acquire) != 2) {
    }
  }
  return g_config;
}

// ---------------------------------------------------------------------------------------------
// Descriptors being faulted (set at open, cleared at close)

constexpr int kMaxFd = 65536;
constexpr uint8_t kRead = 1, kWrite = 2, kDirect = 4;
std::atomic<uint8_t> g_fd_flags[kMaxFd];
std::atomic<uint64_t> g_fd_written[kMaxFd];
std::atomic<uint64_t> g_read_calls{0};
std::atomic<uint64_t> g_flushes{0};
char g_matched_path[1024] = "";  // the first matched file opened, for at_flush's change
std::atomic<bool> g_matched_path_set{false};

bool contains(const char* path, const char* text) { return text[0] != '\0' && path && std::strstr(path, text); }

uint8_t flags_of(int fd) { return fd >= 0 && fd < kMaxFd ? g_fd_flags[fd].load(std::memory_order_relaxed) : 0; }

void note(const char* what, int fd, uint64_t offset) {
  if (config().log) std::fprintf(stderr, "storage_faults: %s on fd %d at offset %llu\n", what, fd,
                                 static_cast<unsigned long long>(offset));
}

// Refuses an O_DIRECT open when asked to; returns false (errno set) to fail the open.
bool allow_open(const char* path, int flags) {
  const Config& c = config();
  if (c.odirect_einval && (flags & O_DIRECT) && contains(path, c.match)) {
    if (c.log) std::fprintf(stderr, "storage_faults: EINVAL for O_DIRECT open of %s\n", path);
    errno = EINVAL;
    return false;
  }
  return true;
}

int track(int fd, const char* path, int flags) {
  if (fd < 0 || fd >= kMaxFd) return fd;
  const Config& c = config();
  uint8_t f = 0;
  if (contains(path, c.match)) {
    f |= kRead;
    bool expected = false;
    if (g_matched_path_set.compare_exchange_strong(expected, true))
      copy_value(g_matched_path, sizeof g_matched_path, path, std::strlen(path));
  }
  if (contains(path, c.enospc)) f |= kWrite;
  if (flags & O_DIRECT) f |= kDirect;
  g_fd_flags[fd].store(f, std::memory_order_relaxed);
  g_fd_written[fd].store(0, std::memory_order_relaxed);
  return fd;
}

template <typename Fn>
Fn next(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

// The fault for a read of `count` bytes at `offset` on a matched fd: returns -1 with errno set
// to fail it, or 0 and the (maybe shortened) count to pass to the real call.
int read_fault(int fd, uint64_t offset, size_t* count) {
  const uint8_t f = flags_of(fd);
  if (!(f & kRead)) return 0;
  const Config& c = config();
  const uint64_t call = g_read_calls.fetch_add(1, std::memory_order_relaxed) + 1;
  if (c.eintr_every && call % c.eintr_every == 0) {
    note("EINTR", fd, offset);
    errno = EINTR;
    return -1;
  }
  const bool bad_sector = c.eio_offset != UINT64_MAX && offset <= c.eio_offset && c.eio_offset < offset + *count;
  const bool late_call = c.eio_call && call >= c.eio_call;
  const bool transient = c.eio_while[0] && access(c.eio_while, F_OK) == 0;
  if (bad_sector || late_call || transient) {
    note("EIO", fd, offset);
    errno = EIO;
    return -1;
  }
  if (c.short_bytes && *count > c.short_bytes) {
    uint64_t cap = c.short_bytes;
    if (f & kDirect) cap = cap < 4096 ? 4096 : cap / 4096 * 4096;
    if (*count > cap) *count = static_cast<size_t>(cap);
  }
  return 0;
}

// The fault for a write of `count` bytes: -1 (ENOSPC) or 0 with the count the disk has room for.
int write_fault(int fd, size_t* count) {
  if (!(flags_of(fd) & kWrite)) return 0;
  const uint64_t limit = config().enospc_after;
  const uint64_t written = g_fd_written[fd].load(std::memory_order_relaxed);
  if (written >= limit) {
    note("ENOSPC", fd, written);
    errno = ENOSPC;
    return -1;
  }
  if (*count > limit - written) *count = static_cast<size_t>(limit - written);
  return 0;
}

void count_written(int fd, ssize_t n) {
  if (n > 0 && (flags_of(fd) & kWrite)) g_fd_written[fd].fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
}

// at_flush: the K-th flush of stdout or stderr changes the matched file, between two tokens of a
// run. (Counted at fflush: libc's own writes to stdout do not go through the interposed write.)
void change_file_on_flush(FILE* f) {
  const Config& c = config();
  if ((f != stdout && f != stderr) || !c.at_flush || !g_matched_path_set.load()) return;
  if (g_flushes.fetch_add(1, std::memory_order_relaxed) + 1 != c.at_flush) return;
  if (c.truncate_to != UINT64_MAX && ::truncate(g_matched_path, static_cast<off_t>(c.truncate_to)) == 0 && c.log)
    std::fprintf(stderr, "storage_faults: truncated %s to %llu bytes\n", g_matched_path,
                 static_cast<unsigned long long>(c.truncate_to));
  if (c.replace[0] && std::rename(c.replace, g_matched_path) == 0 && c.log)
    std::fprintf(stderr, "storage_faults: renamed %s over %s\n", c.replace, g_matched_path);
}

mode_t mode_arg(int flags, va_list ap) { return (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0; }

// The bodies of the interposed calls, given the real function found by dlsym.
using OpenFn = int (*)(const char*, int, ...);
using OpenatFn = int (*)(int, const char*, int, ...);
using FopenFn = FILE* (*)(const char*, const char*);
using PreadFn = ssize_t (*)(int, void*, size_t, off_t);
using PwriteFn = ssize_t (*)(int, const void*, size_t, off_t);

int faulted_open(OpenFn real, const char* path, int flags, mode_t mode) {
  if (!allow_open(path, flags)) return -1;
  return track(real(path, flags, mode), path, flags);
}

int faulted_openat(OpenatFn real, int dirfd, const char* path, int flags, mode_t mode) {
  if (!allow_open(path, flags)) return -1;
  return track(real(dirfd, path, flags, mode), path, flags);
}

FILE* tracked_fopen(FopenFn real, const char* path, const char* mode) {
  FILE* f = real(path, mode);
  if (f) track(fileno(f), path, 0);
  return f;
}

ssize_t faulted_pread(PreadFn real, int fd, void* buf, size_t count, off_t offset) {
  if (read_fault(fd, static_cast<uint64_t>(offset), &count) < 0) return -1;
  return real(fd, buf, count, offset);
}

ssize_t faulted_pwrite(PwriteFn real, int fd, const void* buf, size_t count, off_t offset) {
  if (write_fault(fd, &count) < 0) return -1;
  const ssize_t n = real(fd, buf, count, offset);
  count_written(fd, n);
  return n;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The interposed calls

extern "C" {

int open(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  static auto real = next<OpenFn>("open");
  return faulted_open(real, path, flags, mode);
}

int openat(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  static auto real = next<OpenatFn>("openat");
  return faulted_openat(real, dirfd, path, flags, mode);
}

int __open_2(const char* path, int flags) { return open(path, flags); }
int __open64_2(const char* path, int flags) { return open(path, flags); }
int creat(const char* path, mode_t mode) { return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode); }

// Streams (std::ifstream, std::ofstream) open through fopen, whose inner open is not interposable.
FILE* fopen(const char* path, const char* mode) {
  static auto real = next<FopenFn>("fopen");
  return tracked_fopen(real, path, mode);
}

int fflush(FILE* f) {
  static auto real = next<int (*)(FILE*)>("fflush");
  const int r = real(f);
  change_file_on_flush(f);
  return r;
}

int close(int fd) {
  static auto real = next<int (*)(int)>("close");
  if (fd >= 0 && fd < kMaxFd) g_fd_flags[fd].store(0, std::memory_order_relaxed);
  return real(fd);
}

ssize_t read(int fd, void* buf, size_t count) {
  static auto real = next<ssize_t (*)(int, void*, size_t)>("read");
  if (flags_of(fd) & kRead) {
    static auto real_lseek = next<off_t (*)(int, off_t, int)>("lseek");
    const off_t pos = real_lseek(fd, 0, SEEK_CUR);
    if (read_fault(fd, pos < 0 ? 0 : static_cast<uint64_t>(pos), &count) < 0) return -1;
  }
  return real(fd, buf, count);
}

ssize_t pread(int fd, void* buf, size_t count, off_t offset) {
  static auto real = next<PreadFn>("pread");
  return faulted_pread(real, fd, buf, count, offset);
}

ssize_t preadv(int fd, const struct iovec* iov, int iovcnt, off_t offset) {
  static auto real = next<ssize_t (*)(int, const struct iovec*, int, off_t)>("preadv");
  if (flags_of(fd) & kRead) {
    // Faults apply to the first buffer alone, which is enough to shorten or fail the call.
    if (iovcnt < 1) return real(fd, iov, iovcnt, offset);
    size_t first = iov[0].iov_len;
    if (read_fault(fd, static_cast<uint64_t>(offset), &first) < 0) return -1;
    if (first < iov[0].iov_len) {
      struct iovec one = {iov[0].iov_base, first};
      return real(fd, &one, 1, offset);
    }
  }
  return real(fd, iov, iovcnt, offset);
}

ssize_t write(int fd, const void* buf, size_t count) {
  static auto real = next<ssize_t (*)(int, const void*, size_t)>("write");
  if (write_fault(fd, &count) < 0) return -1;
  const ssize_t n = real(fd, buf, count);
  count_written(fd, n);
  return n;
}

ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  static auto real = next<PwriteFn>("pwrite");
  return faulted_pwrite(real, fd, buf, count, offset);
}

// On a 64-bit libc the *64 calls are the same calls: one body each.
static_assert(sizeof(off_t) == 8, "storage_faults assumes a 64-bit off_t");
int open64(const char* path, int flags, ...) __attribute__((alias("open")));
int openat64(int dirfd, const char* path, int flags, ...) __attribute__((alias("openat")));
FILE* fopen64(const char* path, const char* mode) __attribute__((alias("fopen")));
ssize_t pread64(int fd, void* buf, size_t count, off_t offset) __attribute__((alias("pread")));
ssize_t pwrite64(int fd, const void* buf, size_t count, off_t offset) __attribute__((alias("pwrite")));

}  // extern "C"
