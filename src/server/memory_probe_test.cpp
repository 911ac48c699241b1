// The memory probe's parsers on sample file contents, the system probe on fake /proc and
// cgroup trees (v1, v2 with ancestors, namespaced), and once on the real system.
#include "server/memory_probe.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace swapmoe::server {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;

// ---- parsers ---------------------------------------------------------------------------------

TEST(MemoryProbeParse, Meminfo) {
  const char* meminfo =
      "MemTotal:       24683620 kB\n"
      "MemFree:        20910972 kB\n"
      "MemAvailable:   23902796 kB\n"
      "Buffers:           34272 kB\n"
      "Cached:          3219092 kB\n";
  EXPECT_EQ(parse_mem_available(meminfo), 23902796ll * 1024);
  EXPECT_EQ(parse_kb_field(meminfo, "MemFree"), 20910972ll * 1024);
  EXPECT_EQ(parse_kb_field(meminfo, "Mem"), -1);  // a prefix is not a key
  // Before Linux 3.14: free + buffers + cache.
  EXPECT_EQ(parse_mem_available("MemTotal: 100 kB\nMemFree: 10 kB\nBuffers: 2 kB\nCached: 5 kB\n"), 17 * 1024);
  EXPECT_EQ(parse_mem_available(""), -1);
  EXPECT_EQ(parse_kb_field("Name:\tswapmoe\nVmHWM:\t  9000 kB\nVmRSS:\t  8192 kB\n", "VmRSS"), 8192 * 1024);
}

TEST(MemoryProbeParse, Psi) {
  PsiFigures p = parse_psi(
      "some avg10=12.50 avg60=3.00 avg300=0.50 total=26691486\n"
      "full avg10=4.25 avg60=1.00 avg300=0.10 total=26338325\n");
  EXPECT_DOUBLE_EQ(p.some_avg10, 12.5);
  EXPECT_DOUBLE_EQ(p.full_avg10, 4.25);
  EXPECT_EQ(p.some_total_us, 26691486);
  EXPECT_EQ(p.full_total_us, 26338325);
  PsiFigures some_only = parse_psi("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
  EXPECT_DOUBLE_EQ(some_only.some_avg10, 0);
  EXPECT_EQ(some_only.some_total_us, 0);
  EXPECT_EQ(some_only.full_avg10, -1);
  EXPECT_EQ(some_only.full_total_us, -1);
  PsiFigures none = parse_psi("");
  EXPECT_EQ(none.some_avg10, -1);
  EXPECT_EQ(none.some_total_us, -1);
}

TEST(MemoryProbeParse, KeyedFilesAndLimits) {
  const char* v1_stat =
      "cache 1286144\nrss 1667072\ninactive_file 372736\nactive_file 913408\n"
      "hierarchical_memory_limit 9223372036854771712\ntotal_cache 1286144\ntotal_inactive_file 400000\n";
  EXPECT_EQ(parse_keyed_value(v1_stat, "inactive_file"), 372736);
  EXPECT_EQ(parse_keyed_value(v1_stat, "total_inactive_file"), 400000);
  EXPECT_EQ(parse_keyed_value(v1_stat, "hierarchical_memory_limit"), 9223372036854771712ll);
  EXPECT_EQ(parse_keyed_value(v1_stat, "swap"), -1);
  const char* v2_events = "low 0\nhigh 12\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n";
  EXPECT_EQ(parse_keyed_value(v2_events, "max"), 3);
  EXPECT_EQ(parse_keyed_value(v2_events, "high"), 12);
  EXPECT_EQ(parse_keyed_value(v2_events, "oom_kill"), 1);
  EXPECT_EQ(parse_keyed_value("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", "oom_kill"), 2);

  EXPECT_EQ(parse_cgroup_limit("max\n"), 0);
  EXPECT_EQ(parse_cgroup_limit("9223372036854771712\n"), 0);  // v1's "unlimited"
  EXPECT_EQ(parse_cgroup_limit("6442450944\n"), 6442450944ll);
  EXPECT_EQ(parse_cgroup_limit("lots"), -1);
  EXPECT_EQ(parse_cgroup_limit("12abc"), -1);
}

TEST(MemoryProbeParse, ProcSelfCgroup) {
  // Hybrid (this project's CI): v1 controllers, and an unified hierarchy without memory.
  CgroupMembership hybrid = parse_proc_cgroup(
      "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/41389cebcdd0394cd1f762c1d3838333\n"
      "3:cpuset:/\n1:cpu,cpuacct:/x\n0::/\n");
  EXPECT_EQ(hybrid.v1_memory, "/process_api/41389cebcdd0394cd1f762c1d3838333");
  EXPECT_EQ(hybrid.v2, "/");
  CgroupMembership v2 = parse_proc_cgroup("0::/user.slice/user-1000.slice/session-2.scope\n");
  EXPECT_EQ(v2.v1_memory, "");
  EXPECT_EQ(v2.v2, "/user.slice/user-1000.slice/session-2.scope");
  EXPECT_EQ(parse_proc_cgroup("5:memory,hugetlb:/a:b\n").v1_memory, "/a:b");  // ':' inside the path
  EXPECT_EQ(parse_proc_cgroup("5:memoryx:/a\n").v1_memory, "");
}

TEST(MemoryProbeParse, Mounts) {
  auto info = parse_mountinfo(
      "25 30 0:22 / /sys rw,nosuid - sysfs sysfs rw\n"
      "34 25 0:30 / /sys/fs/cgroup/memory rw,nosuid shared:15 - cgroup cgroup rw,memory\n"
      "40 25 0:35 /docker/abc /sys/fs/cgroup/my\\040group rw - cgroup2 cgroup2 rw,nsdelegate\n"
      "garbage line\n");
  ASSERT_EQ(info.size(), 3u);
  EXPECT_EQ(info[1].mount_point, "/sys/fs/cgroup/memory");
  EXPECT_EQ(info[1].fs_type, "cgroup");
  EXPECT_EQ(info[1].options, "rw,memory");
  EXPECT_EQ(info[1].root, "/");
  EXPECT_EQ(info[2].root, "/docker/abc");
  EXPECT_EQ(info[2].mount_point, "/sys/fs/cgroup/my group");
  EXPECT_EQ(info[2].fs_type, "cgroup2");

  auto mounts = parse_mounts(
      "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n"
      "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n");
  ASSERT_EQ(mounts.size(), 2u);
  EXPECT_EQ(mounts[0].root, "/");
  EXPECT_EQ(mounts[0].options, "rw,relatime,memory");
  EXPECT_EQ(mounts[1].fs_type, "cgroup2");
}

TEST(MemoryProbeParse, CgroupDirCandidates) {
  MountEntry plain{"/", "/sys/fs/cgroup/memory", "cgroup", "rw,memory"};
  EXPECT_EQ(cgroup_dir_candidates(plain, "/process_api/x"),
            (std::vector<std::string>{"/sys/fs/cgroup/memory/process_api/x", "/sys/fs/cgroup/memory"}));
  EXPECT_EQ(cgroup_dir_candidates(plain, "/"), (std::vector<std::string>{"/sys/fs/cgroup/memory"}));
  // A container's bind mount of its own group: the path is relative to the mount's root.
  MountEntry bound{"/docker/abc", "/sys/fs/cgroup", "cgroup2", "rw"};
  EXPECT_EQ(cgroup_dir_candidates(bound, "/docker/abc/sub"),
            (std::vector<std::string>{"/sys/fs/cgroup/sub", "/sys/fs/cgroup/docker/abc/sub", "/sys/fs/cgroup"}));
  EXPECT_EQ(cgroup_dir_candidates(bound, "/docker/abcdef")[0], "/sys/fs/cgroup/docker/abcdef");
}

TEST(MemoryProbeParse, Headroom) {
  MemorySnapshot s;
  EXPECT_EQ(s.headroom(), -1);
  s.mem_available = static_cast<int64_t>(20 * kGiB);
  EXPECT_EQ(s.headroom(), static_cast<int64_t>(20 * kGiB));
  s.cgroup_limit = 6 * kGiB;
  s.cgroup_usage = 5 * kGiB;
  s.cgroup_inactive_file = 512 * kMiB;  // reclaimable cache does not count
  EXPECT_EQ(s.cgroup_working_set(), 4 * kGiB + 512 * kMiB);
  EXPECT_EQ(s.headroom(), static_cast<int64_t>(1536 * kMiB));
  s.mem_available = static_cast<int64_t>(1 * kGiB);  // the system is tighter than the group
  EXPECT_EQ(s.headroom(), static_cast<int64_t>(1 * kGiB));
  s.cgroup_usage = 7 * kGiB;
  s.cgroup_inactive_file = 0;
  EXPECT_EQ(s.headroom(), 0);  // over the limit: nothing left, never negative
}

// ---- the system probe on fake trees ----------------------------------------------------------

class FakeTree {
 public:
  FakeTree() {
    char tmpl[] = "/tmp/swapmoe-probe-XXXXXX";
    root_ = ::mkdtemp(tmpl);
  }
  ~FakeTree() { std::filesystem::remove_all(root_); }
  const std::string& root() const { return root_; }
  void write(const std::string& path, const std::string& text) {
    std::filesystem::create_directories(std::filesystem::path(root_ + path).parent_path());
    std::ofstream(root_ + path) << text;
  }
  // Several files of one folder: {name, text}.
  void write_all(const std::string& dir, std::initializer_list<std::pair<const char*, const char*>> files) {
    for (const auto& [name, text] : files) write(dir + "/" + name, text);
  }
  void remove(const std::string& path) { std::filesystem::remove_all(root_ + path); }
  // The files every tree has: meminfo, status, system PSI.
  void write_proc() {
    write("/proc/meminfo", "MemTotal: 16000000 kB\nMemFree: 9000000 kB\nMemAvailable: 10485760 kB\n");
    write("/proc/self/status", "Name:\tswapmoe\nVmRSS:\t  204800 kB\n");
    write("/proc/pressure/memory",
          "some avg10=1.50 avg60=0.00 avg300=0.00 total=1000\nfull avg10=0.50 avg60=0.00 avg300=0.00 total=400\n");
  }

 private:
  std::string root_;
};

TEST(SystemMemoryProbe, CgroupV1) {
  FakeTree t;
  t.write_proc();
  t.write("/proc/self/cgroup", "4:memory:/process_api/abc\n0::/\n");
  t.write("/proc/self/mountinfo",
          "34 25 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
          "35 25 0:31 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n");
  t.write_all("/sys/fs/cgroup/memory/process_api/abc",
              {{"memory.limit_in_bytes", "6442450944\n"},
               {"memory.usage_in_bytes", "2147483648\n"},
               {"memory.stat", "cache 100\ninactive_file 100\nhierarchical_memory_limit 5368709120\ntotal_inactive_file 268435456\n"},
               {"memory.failcnt", "3\n"},
               {"memory.memsw.failcnt", "7\n"},
               {"memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n"}});
  auto probe = system_memory_probe(t.root());
  EXPECT_NE(probe->describe().find("cgroup v1 at /sys/fs/cgroup/memory/process_api/abc"), std::string::npos)
      << probe->describe();
  MemorySnapshot s = probe->read();
  EXPECT_EQ(s.mem_available, static_cast<int64_t>(10 * kGiB));
  EXPECT_EQ(s.process_rss, static_cast<int64_t>(200 * kMiB));
  EXPECT_EQ(s.cgroup_version, 1);
  EXPECT_EQ(s.cgroup_limit, 5 * kGiB);  // the ancestors' lower limit binds
  EXPECT_EQ(s.cgroup_usage, 2 * kGiB);
  EXPECT_EQ(s.cgroup_inactive_file, 256 * kMiB);
  EXPECT_EQ(s.cgroup_limit_hits, 7);
  EXPECT_EQ(s.cgroup_high_events, -1);
  EXPECT_EQ(s.cgroup_oom_events, 1);
  EXPECT_DOUBLE_EQ(s.psi.some_avg10, 1.5);  // v1: the system's PSI
  EXPECT_EQ(s.psi.full_total_us, 400);
  EXPECT_EQ(s.headroom(), static_cast<int64_t>(3 * kGiB + 256 * kMiB));

  // The group goes away (the process was moved): fields unknown, then found again at the root.
  t.remove("/sys/fs/cgroup/memory/process_api");
  t.write("/proc/self/cgroup", "4:memory:/\n0::/\n");
  t.write("/sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
  t.write("/sys/fs/cgroup/memory/memory.usage_in_bytes", "1000\n");
  MemorySnapshot gone = probe->read();
  EXPECT_EQ(gone.cgroup_version, 0);
  EXPECT_EQ(gone.mem_available, static_cast<int64_t>(10 * kGiB));
  MemorySnapshot again = probe->read();
  EXPECT_EQ(again.cgroup_version, 1);
  EXPECT_EQ(again.cgroup_limit, 0u);
  EXPECT_EQ(again.cgroup_usage, 1000u);
}

TEST(SystemMemoryProbe, CgroupV2WithAncestorsAndOwnPressure) {
  FakeTree t;
  t.write_proc();
  t.write("/proc/self/cgroup", "0::/serve.slice/swapmoe\n");
  t.write("/proc/self/mountinfo", "30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n");
  t.write("/sys/fs/cgroup/cgroup.controllers", "cpu io memory pids\n");
  t.write_all("/sys/fs/cgroup/serve.slice", {{"memory.max", "4294967296\n"}, {"memory.high", "max\n"}});  // the parent binds
  const std::string g = "/sys/fs/cgroup/serve.slice/swapmoe";
  t.write_all(g, {{"memory.max", "8589934592\n"},
                  {"memory.high", "max\n"},
                  {"memory.current", "1073741824\n"},
                  {"memory.stat", "anon 900000000\nfile 100000000\ninactive_file 67108864\n"},
                  {"memory.events", "low 0\nhigh 2\nmax 5\noom 1\noom_kill 1\n"},
                  {"memory.pressure",
                   "some avg10=30.00 avg60=0.00 avg300=0.00 total=777\nfull avg10=20.00 avg60=0.00 avg300=0.00 total=555\n"}});
  MemorySnapshot s = system_memory_probe(t.root())->read();
  EXPECT_EQ(s.cgroup_version, 2);
  EXPECT_EQ(s.cgroup_limit, 4 * kGiB);
  EXPECT_EQ(s.cgroup_usage, 1 * kGiB);
  EXPECT_EQ(s.cgroup_inactive_file, 64 * kMiB);
  EXPECT_EQ(s.cgroup_limit_hits, 5);
  EXPECT_EQ(s.cgroup_high_events, 2);
  EXPECT_EQ(s.cgroup_oom_events, 1);
  EXPECT_DOUBLE_EQ(s.psi.some_avg10, 30);  // the group's own PSI, not the system's
  EXPECT_EQ(s.psi.full_total_us, 555);

  t.write(g + "/memory.high", "2147483648\n");  // memory.high throttles: it counts as a limit
  EXPECT_EQ(system_memory_probe(t.root())->read().cgroup_limit, 2 * kGiB);
}

TEST(SystemMemoryProbe, CgroupV2NamespacedAndMissingFiles) {
  FakeTree t;
  t.write_proc();
  t.remove("/proc/pressure");  // PSI off: unknown, not an error
  // Inside a cgroup namespace the group is "/" and its files are at the mount point.
  t.write("/proc/self/cgroup", "0::/\n");
  t.write("/proc/mounts", "cgroup2 /sys/fs/cgroup cgroup2 rw,relatime 0 0\n");  // no mountinfo
  t.write_all("/sys/fs/cgroup", {{"memory.max", "3221225472\n"}, {"memory.current", "1073741824\n"}});
  MemorySnapshot s = system_memory_probe(t.root())->read();
  EXPECT_EQ(s.cgroup_version, 2);
  EXPECT_EQ(s.cgroup_limit, 3 * kGiB);
  EXPECT_EQ(s.cgroup_limit_hits, -1);  // no memory.events
  EXPECT_EQ(s.psi.some_avg10, -1);
  EXPECT_EQ(s.psi.some_total_us, -1);

  FakeTree bare;  // nothing at all
  MemorySnapshot n = system_memory_probe(bare.root())->read();
  EXPECT_EQ(n.mem_available, -1);
  EXPECT_EQ(n.cgroup_version, 0);
  EXPECT_EQ(n.headroom(), -1);
}

// ---- the real system -------------------------------------------------------------------------

TEST(SystemMemoryProbe, RealSystemIsSane) {
  auto probe = system_memory_probe();
  MemorySnapshot s = probe->read();
  std::printf("probe: %s\n", probe->describe().c_str());
  std::printf("MemAvailable %lld, RSS %lld, cgroup v%d limit %llu usage %llu inactive_file %llu hits %lld oom %lld, "
              "PSI some %.2f%% (total %lld us)\n",
              static_cast<long long>(s.mem_available), static_cast<long long>(s.process_rss), s.cgroup_version,
              static_cast<unsigned long long>(s.cgroup_limit), static_cast<unsigned long long>(s.cgroup_usage),
              static_cast<unsigned long long>(s.cgroup_inactive_file), static_cast<long long>(s.cgroup_limit_hits),
              static_cast<long long>(s.cgroup_oom_events), s.psi.some_avg10, static_cast<long long>(s.psi.some_total_us));
  EXPECT_GT(s.mem_available, 0);
  EXPECT_GT(s.process_rss, 0);
  EXPECT_GE(s.headroom(), 0);
  if (s.cgroup_version != 0) {
    EXPECT_GT(s.cgroup_usage, 0u);
    EXPECT_LE(s.cgroup_inactive_file, s.cgroup_usage + 64 * kMiB);  // read a moment apart
  }
  if (s.psi.some_avg10 >= 0) {
    EXPECT_LE(s.psi.some_avg10, 100);
    EXPECT_GE(s.psi.some_total_us, 0);
  }
  MemorySnapshot later = probe->read();
  EXPECT_GE(later.time, s.time);
  if (s.psi.some_total_us >= 0 && later.psi.some_total_us >= 0) {
    EXPECT_GE(later.psi.some_total_us, s.psi.some_total_us);
  }
}

}  // namespace
}  // namespace swapmoe::server
