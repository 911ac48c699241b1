// MapFaultGuard: a fixed table of maps read by an async-signal-safe SIGBUS handler.
#include "io/map_fault_guard.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>

namespace swapmoe {

namespace {

// A process maps one or a few models; entries are claimed with a CAS on base and never moved,
// so the handler can read them without a lock.
constexpr int kMaxMaps = 16;
struct MapEntry {
  std::atomic<uintptr_t> base{0};
  std::atomic<size_t> bytes{0};
  char path[1024] = {};
};
MapEntry g_maps[kMaxMaps];
struct sigaction g_previous {};

void put(const char* s) { (void)!::write(STDERR_FILENO, s, std::strlen(s)); }

void put_number(uint64_t v) {
  char buf[24];
  int i = sizeof buf;
  buf[--i] = '\0';
  do buf[--i] = static_cast<char>('0' + v % 10), v /= 10;
  while (v != 0 && i > 0);
  put(buf + i);
}

void on_sigbus(int sig, siginfo_t* info, void* context) {
  const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  for (MapEntry& m : g_maps) {
    const uintptr_t base = m.base.load(std::memory_order_acquire);
    if (base == 0 || addr < base || addr - base >= m.bytes.load(std::memory_order_acquire)) continue;
    put("\nerror: [gguf] ");
    put(m.path);
    put(": a read of the mapped model file at offset ");
    put_number(addr - base);
    put(" failed (SIGBUS: the file shrank while in use, or the storage failed); hint: replace model files with a "
        "rename (mv new old), never truncate or rewrite them in place while in use; --no-mmap or a --memory-budget "
        "reads them without a map\n");
    ::_exit(kMapFaultExitStatus);
  }
  // Not ours: hand the fault to whoever handled SIGBUS before (by default, the process dies).
  ::sigaction(SIGBUS, &g_previous, nullptr);
  if (!(g_previous.sa_flags & SA_SIGINFO) && g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN)
    g_previous.sa_handler(sig);
  else if ((g_previous.sa_flags & SA_SIGINFO) && g_previous.sa_sigaction)
    g_previous.sa_sigaction(sig, info, context);
  // SIG_DFL: returning re-runs the faulting access, which now ends the process as before.
}

void install_handler() {
  struct sigaction sa {};
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGBUS, &sa, &g_previous);
}

}  // namespace

void map_fault_guard_add(const void* base, size_t bytes, const std::string& path) {
  static std::once_flag installed;
  std::call_once(installed, install_handler);
  for (MapEntry& m : g_maps) {
    uintptr_t expected = 0;
    if (!m.base.compare_exchange_strong(expected, UINTPTR_MAX)) continue;  // claimed; filled below
    const size_t n = std::min(path.size(), sizeof m.path - 1);
    std::memcpy(m.path, path.data(), n);
    m.path[n] = '\0';
    m.bytes.store(bytes, std::memory_order_release);
    m.base.store(reinterpret_cast<uintptr_t>(base), std::memory_order_release);
    return;
  }
  // Table full: this map goes unguarded, and a fault in it ends the process with SIGBUS as before.
}

void map_fault_guard_remove(const void* base) {
  for (MapEntry& m : g_maps)
    if (m.base.load(std::memory_order_acquire) == reinterpret_cast<uintptr_t>(base)) {
      m.bytes.store(0, std::memory_order_release);
      m.base.store(0, std::memory_order_release);
      return;
    }
}

}  // namespace swapmoe
