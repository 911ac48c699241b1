// MapFaultGuard: a model file that shrinks while it is memory-mapped makes the next touch of a
// lost page raise SIGBUS. No read can be retried from there, so the process ends, but with a
// message that names the file and the offset and with exit status 74 (EX_IOERR), not a crash.
#pragma once

#include <cstddef>
#include <string>

namespace swapmoe {

// Exit status of a process ended by a fault in a registered map.
constexpr int kMapFaultExitStatus = 74;

// Registers [base, base + bytes) as the map of `path` (the first call installs the SIGBUS
// handler; a fault outside every registered map is passed on to the previous handler).
void map_fault_guard_add(const void* base, size_t bytes, const std::string& path);
void map_fault_guard_remove(const void* base);

}  // namespace swapmoe
