// Memory probe: what memory is free to this process (MemAvailable, its cgroup's limit and usage)
// and whether memory is under pressure (PSI, the cgroup's limit-hit and OOM counters), read
// from /proc and the cgroup files (v1 or v2). The parsers take file text, so they are tested on
// samples; a missing or unreadable file leaves its fields unknown, never fails.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace swapmoe::server {

// ---- figures ---------------------------------------------------------------------------------

// One PSI file (/proc/pressure/memory, a v2 cgroup's memory.pressure).
struct PsiFigures {
  double some_avg10 = -1;        // percent of the last 10 s some task stalled on memory; -1 unknown
  double full_avg10 = -1;        // percent of the last 10 s every non-idle task stalled
  int64_t some_total_us = -1;    // stall time since boot, microseconds; -1 unknown
  int64_t full_total_us = -1;
};

// One reading of everything the governor decides on. Byte counts; -1 (or 0 where said) unknown.
struct MemorySnapshot {
  std::chrono::steady_clock::time_point time;  // when it was read
  int64_t mem_available = -1;  // /proc/meminfo MemAvailable
  int64_t process_rss = -1;    // this process's VmRSS
  int cgroup_version = 0;      // 0: no memory cgroup found; 1 or 2
  uint64_t cgroup_limit = 0;   // the lowest limit of the group and its ancestors (v2: max and high); 0: none
  uint64_t cgroup_usage = 0;   // charged to the group, page cache included
  uint64_t cgroup_inactive_file = 0;  // part of the usage that is inactive page cache (reclaimed first)
  int64_t cgroup_limit_hits = -1;     // v1 failcnt (the larger of memory and memsw), v2 events "max"
  int64_t cgroup_high_events = -1;    // v2 events "high" (v1: unknown)
  int64_t cgroup_oom_events = -1;     // OOM kills in the group: v1 oom_control, v2 events "oom_kill"
  PsiFigures psi;

  // What the cgroup holds that reclaim cannot simply drop: usage less inactive page cache.
  uint64_t cgroup_working_set() const;
  // Bytes this process may still take: min(MemAvailable, cgroup limit - working set), at
  // least 0; -1 when neither is known.
  int64_t headroom() const;
};

// ---- the probe -------------------------------------------------------------------------------

class MemoryProbe {
 public:
  virtual ~MemoryProbe() = default;
  virtual MemorySnapshot read() = 0;
  virtual std::string describe() const = 0;  // where it reads from, for the start-up log
};

// Reads this process's figures from the live system. `root` prefixes every path it opens
// (tests point it at a fake tree); the cgroup is located once and again when its files vanish.
std::unique_ptr<MemoryProbe> system_memory_probe(std::string root = "");

// ---- parsers (file text in, figures out) -----------------------------------------------------

// "Key:   123 kB" files (/proc/meminfo, /proc/self/status): the value in bytes, -1 if absent.
int64_t parse_kb_field(std::string_view text, std::string_view key);
// MemAvailable; kernels before 3.14 lack it: MemFree + Buffers + Cached then. -1 if unknown.
int64_t parse_mem_available(std::string_view meminfo);
PsiFigures parse_psi(std::string_view text);
// "key value" lines (memory.stat, memory.events, memory.oom_control): the value, -1 if absent.
int64_t parse_keyed_value(std::string_view text, std::string_view key);
// A limit file (v1 memory.limit_in_bytes, v2 memory.max / memory.high): bytes, 0 for none
// ("max", or v1's "unlimited" page-counter maximum), -1 if it is not a number.
int64_t parse_cgroup_limit(std::string_view text);

// The process's memory cgroup paths, from /proc/self/cgroup ("" where it has none).
struct CgroupMembership {
  std::string v1_memory;  // the path in the v1 hierarchy whose controllers include memory
  std::string v2;         // the path in the unified hierarchy ("0::/path")
};
CgroupMembership parse_proc_cgroup(std::string_view text);

struct MountEntry {
  std::string root;         // the hierarchy path mounted there ("/" unless bind- or ns-mounted)
  std::string mount_point;
  std::string fs_type;      // "cgroup", "cgroup2", ...
  std::string options;      // the super-block options, where v1 lists its controllers
};
std::vector<MountEntry> parse_mountinfo(std::string_view text);  // /proc/self/mountinfo
std::vector<MountEntry> parse_mounts(std::string_view text);     // /proc/mounts (root "/")
// Where a cgroup's files may be under a mount, best first: the path relative to the mount's
// root, the path as is, and the mount point itself (a cgroup namespace shows the group there).
std::vector<std::string> cgroup_dir_candidates(const MountEntry& mount, const std::string& path);

}  // namespace swapmoe::server
