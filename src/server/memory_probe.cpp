#include "server/memory_probe.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <optional>

#include <fmt/format.h>

namespace swapmoe::server {

namespace {

// ---- text helpers ----------------------------------------------------------------------------

// Calls fn(line) for every line of text (without the newline).
template <typename Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  while (!text.empty()) {
    size_t end = text.find('\n');
    fn(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

// Splits on runs of spaces and tabs.
std::vector<std::string_view> split_words(std::string_view line) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
  return words;
}

std::optional<uint64_t> to_u64(std::string_view s) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end == s.data()) return std::nullopt;
  return v;
}

int64_t to_i64_or_unknown(std::string_view s) {
  auto v = to_u64(s);
  return v && *v <= static_cast<uint64_t>(INT64_MAX) ? static_cast<int64_t>(*v) : -1;
}

bool has_token(std::string_view list, std::string_view token, char sep) {
  while (true) {
    size_t end = list.find(sep);
    if (list.substr(0, end) == token) return true;
    if (end == std::string_view::npos) return false;
    list.remove_prefix(end + 1);
  }
}

// Mount tables escape space, tab, newline and backslash as \ooo (octal).
std::string unescape_octal(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() &&
        std::all_of(s.begin() + i + 1, s.begin() + i + 4, [](char c) { return c >= '0' && c <= '7'; })) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Reads a whole (small, /proc- or /sys-style) file; nullopt when it cannot be opened or read
// (PSI switched off answers reads with EOPNOTSUPP).
std::optional<std::string> read_text(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string text;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return text;
}

// v1 writes "no limit" as the page counter's maximum, 2^63 rounded down to a page.
uint64_t limit_or_none(uint64_t v) { return v >= (uint64_t{1} << 62) ? 0 : v; }

uint64_t known_or_zero(int64_t v) { return v < 0 ? 0 : static_cast<uint64_t>(v); }

// The smaller of two limits where 0 means none.
uint64_t min_limit(uint64_t a, uint64_t b) {
  if (a == 0) return b;
  if (b == 0) return a;
  return std::min(a, b);
}

}  // namespace

// ---- figures ---------------------------------------------------------------------------------

uint64_t MemorySnapshot::cgroup_working_set() const {
  return cgroup_usage - std::min(cgroup_inactive_file, cgroup_usage);
}

int64_t MemorySnapshot::headroom() const {
  int64_t h = mem_available;
  if (cgroup_limit != 0) {
    uint64_t ws = cgroup_working_set();
    int64_t cg = ws >= cgroup_limit ? 0 : static_cast<int64_t>(std::min<uint64_t>(cgroup_limit - ws, INT64_MAX));
    h = h < 0 ? cg : std::min(h, cg);
  }
  return h < 0 ? -1 : h;
}

// ---- parsers ---------------------------------------------------------------------------------

int64_t parse_kb_field(std::string_view text, std::string_view key) {
  int64_t result = -1;
  for_each_line(text, [&](std::string_view line) {
    if (result >= 0 || line.size() <= key.size() || line.substr(0, key.size()) != key || line[key.size()] != ':') return;
    auto words = split_words(line.substr(key.size() + 1));
    if (words.empty()) return;
    auto v = to_u64(words[0]);
    if (!v) return;
    uint64_t mult = words.size() > 1 && (words[1] == "kB" || words[1] == "KB") ? 1024 : 1;
    result = static_cast<int64_t>(*v * mult);
  });
  return result;
}

int64_t parse_mem_available(std::string_view meminfo) {
  int64_t available = parse_kb_field(meminfo, "MemAvailable");
  if (available >= 0) return available;
  int64_t free = parse_kb_field(meminfo, "MemFree");
  if (free < 0) return -1;
  return free + std::max<int64_t>(0, parse_kb_field(meminfo, "Buffers")) +
         std::max<int64_t>(0, parse_kb_field(meminfo, "Cached"));
}

PsiFigures parse_psi(std::string_view text) {
  PsiFigures psi;
  for_each_line(text, [&](std::string_view line) {
    auto words = split_words(line);
    if (words.empty() || (words[0] != "some" && words[0] != "full")) return;
    bool some = words[0] == "some";
    for (size_t i = 1; i < words.size(); ++i) {
      std::string_view w = words[i];
      size_t eq = w.find('=');
      if (eq == std::string_view::npos) continue;
      std::string_view name = w.substr(0, eq), value = w.substr(eq + 1);
      if (name == "avg10") {
        double v = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
        if (ec == std::errc() && end != value.data()) (some ? psi.some_avg10 : psi.full_avg10) = v;
      } else if (name == "total") {
        (some ? psi.some_total_us : psi.full_total_us) = to_i64_or_unknown(value);
      }
    }
  });
  return psi;
}

int64_t parse_keyed_value(std::string_view text, std::string_view key) {
  int64_t result = -1;
  for_each_line(text, [&](std::string_view line) {
    auto words = split_words(line);
    if (result < 0 && words.size() >= 2 && words[0] == key) result = to_i64_or_unknown(words[1]);
  });
  return result;
}

int64_t parse_cgroup_limit(std::string_view text) {
  text = trim(text);
  if (text == "max") return 0;
  auto v = to_u64(text);
  if (!v || text.find_first_not_of("0123456789") != std::string_view::npos) return -1;
  return static_cast<int64_t>(limit_or_none(*v));
}

CgroupMembership parse_proc_cgroup(std::string_view text) {
  CgroupMembership m;
  for_each_line(text, [&](std::string_view line) {
    size_t a = line.find(':');
    if (a == std::string_view::npos) return;
    size_t b = line.find(':', a + 1);
    if (b == std::string_view::npos) return;
    std::string_view id = line.substr(0, a), controllers = line.substr(a + 1, b - a - 1);
    std::string path(line.substr(b + 1));
    if (id == "0" && controllers.empty()) m.v2 = path;
    else if (has_token(controllers, "memory", ',')) m.v1_memory = path;
  });
  return m;
}

std::vector<MountEntry> parse_mountinfo(std::string_view text) {
  // "36 35 98:0 /root /mnt/point rw,noatime master:1 - cgroup cgroup rw,memory"
  std::vector<MountEntry> mounts;
  for_each_line(text, [&](std::string_view line) {
    auto words = split_words(line);
    auto dash = std::find(words.begin(), words.end(), std::string_view("-"));
    if (dash - words.begin() < 6 || words.end() - dash < 4) return;  // 6 fields, "-", type, source, options
    mounts.push_back({unescape_octal(words[3]), unescape_octal(words[4]), std::string(dash[1]), std::string(dash[3])});
  });
  return mounts;
}

std::vector<MountEntry> parse_mounts(std::string_view text) {
  // "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0"
  std::vector<MountEntry> mounts;
  for_each_line(text, [&](std::string_view line) {
    auto words = split_words(line);
    if (words.size() < 4) return;
    mounts.push_back({"/", unescape_octal(words[1]), std::string(words[2]), std::string(words[3])});
  });
  return mounts;
}

std::vector<std::string> cgroup_dir_candidates(const MountEntry& mount, const std::string& path) {
  auto join = [&](std::string_view rel) {
    while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
    if (rel.empty()) return mount.mount_point;
    return mount.mount_point + (mount.mount_point.ends_with('/') ? "" : "/") + std::string(rel);
  };
  std::vector<std::string> dirs;
  auto add = [&](std::string dir) {
    if (std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) dirs.push_back(std::move(dir));
  };
  std::string_view root = mount.root == "/" ? "" : std::string_view(mount.root);
  if (root.empty()) add(join(path));
  else if (path == root || (path.starts_with(root) && path[root.size()] == '/')) add(join(path.substr(root.size())));
  add(join(path));
  add(mount.mount_point);
  return dirs;
}

// ---- the system probe ------------------------------------------------------------------------

namespace {

class SystemMemoryProbe final : public MemoryProbe {
 public:
  explicit SystemMemoryProbe(std::string root) : root_(std::move(root)) { locate(); }

  MemorySnapshot read() override {
    MemorySnapshot s;
    s.time = std::chrono::steady_clock::now();
    if (auto meminfo = read_text(root_ + "/proc/meminfo")) s.mem_available = parse_mem_available(*meminfo);
    if (auto status = read_text(root_ + "/proc/self/status")) s.process_rss = parse_kb_field(*status, "VmRSS");
    if (version_ != 0 && !read_cgroup(s)) {
      locate();  // the group went away or the process moved: find it again for the next read
      MemorySnapshot system_only;
      system_only.time = s.time;
      system_only.mem_available = s.mem_available;
      system_only.process_rss = s.process_rss;
      s = system_only;
    }
    if (auto psi = read_text(root_ + psi_path_)) s.psi = parse_psi(*psi);
    return s;
  }

  std::string describe() const override {
    std::string where = version_ == 0 ? std::string("no memory cgroup found")
                                      : fmt::format("cgroup v{} at {}", version_, dir_);
    return fmt::format("{}; MemAvailable from /proc/meminfo; PSI from {}", where, psi_path_);
  }

 private:
  std::optional<std::string> file(const std::string& dir, const char* name) const {
    return read_text(root_ + dir + "/" + name);
  }
  bool exists(const std::string& dir, const char* name) const {
    std::error_code ec;
    return std::filesystem::exists(root_ + dir + "/" + name, ec);
  }

  void locate() {
    version_ = 0;
    dir_.clear();
    top_.clear();
    psi_path_ = "/proc/pressure/memory";
    auto membership_text = read_text(root_ + "/proc/self/cgroup");
    if (!membership_text) return;
    CgroupMembership member = parse_proc_cgroup(*membership_text);
    std::vector<MountEntry> mounts;
    if (auto info = read_text(root_ + "/proc/self/mountinfo")) mounts = parse_mountinfo(*info);
    if (mounts.empty()) {
      if (auto table = read_text(root_ + "/proc/mounts")) mounts = parse_mounts(*table);
    }
    // A v1 memory hierarchy, where mounted, is the one that accounts memory (hybrid systems
    // also mount an unified hierarchy without the memory controller).
    if (!member.v1_memory.empty()) {
      for (const MountEntry& m : mounts) {
        if (m.fs_type != "cgroup" || !has_token(m.options, "memory", ',')) continue;
        for (const std::string& dir : cgroup_dir_candidates(m, member.v1_memory)) {
          if (exists(dir, "memory.limit_in_bytes")) return found(1, dir, m.mount_point);
        }
      }
    }
    if (!member.v2.empty()) {
      for (const MountEntry& m : mounts) {
        if (m.fs_type != "cgroup2") continue;
        for (const std::string& dir : cgroup_dir_candidates(m, member.v2)) {
          if (exists(dir, "memory.max")) return found(2, dir, m.mount_point);  // the root group has none
        }
      }
    }
  }

  void found(int version, const std::string& dir, const std::string& top) {
    version_ = version;
    dir_ = dir;
    top_ = top;
    if (version == 2 && exists(dir, "memory.pressure")) psi_path_ = dir + "/memory.pressure";
  }

  // Fills the cgroup fields; false when the group's files are gone.
  bool read_cgroup(MemorySnapshot& s) const {
    if (version_ == 1) {
      auto limit = file(dir_, "memory.limit_in_bytes");
      auto usage = file(dir_, "memory.usage_in_bytes");
      if (!limit || !usage) return false;
      s.cgroup_version = 1;
      s.cgroup_limit = known_or_zero(parse_cgroup_limit(*limit));
      s.cgroup_usage = known_or_zero(to_i64_or_unknown(trim(*usage)));
      if (auto stat = file(dir_, "memory.stat")) {
        // The ancestors' limits bind too; the kernel reports the lowest of them here.
        s.cgroup_limit = min_limit(s.cgroup_limit, limit_or_none(known_or_zero(parse_keyed_value(*stat, "hierarchical_memory_limit"))));
        int64_t inactive = parse_keyed_value(*stat, "total_inactive_file");  // the group and its children
        if (inactive < 0) inactive = parse_keyed_value(*stat, "inactive_file");
        s.cgroup_inactive_file = known_or_zero(inactive);
      }
      int64_t hits = -1;
      for (const char* name : {"memory.failcnt", "memory.memsw.failcnt"}) {
        if (auto t = file(dir_, name)) hits = std::max(hits, to_i64_or_unknown(trim(*t)));
      }
      s.cgroup_limit_hits = hits;
      if (auto oom = file(dir_, "memory.oom_control")) s.cgroup_oom_events = parse_keyed_value(*oom, "oom_kill");
      return true;
    }
    auto current = file(dir_, "memory.current");
    if (!current) return false;
    s.cgroup_version = 2;
    s.cgroup_usage = known_or_zero(to_i64_or_unknown(trim(*current)));
    // memory.max and memory.high of the group and every ancestor up to the mount bind it.
    uint64_t limit = 0;
    for (std::filesystem::path dir = dir_;; dir = dir.parent_path()) {
      for (const char* name : {"memory.max", "memory.high"}) {
        if (auto t = file(dir.string(), name)) limit = min_limit(limit, known_or_zero(parse_cgroup_limit(*t)));
      }
      if (dir.string().size() <= top_.size() || dir == dir.parent_path()) break;
    }
    s.cgroup_limit = limit;
    if (auto stat = file(dir_, "memory.stat")) s.cgroup_inactive_file = known_or_zero(parse_keyed_value(*stat, "inactive_file"));
    if (auto events = file(dir_, "memory.events")) {
      s.cgroup_limit_hits = parse_keyed_value(*events, "max");
      s.cgroup_high_events = parse_keyed_value(*events, "high");
      s.cgroup_oom_events = parse_keyed_value(*events, "oom_kill");
    }
    return true;
  }

  std::string root_;
  int version_ = 0;
  std::string dir_;  // the group's directory (without root_)
  std::string top_;  // its hierarchy's mount point: v2 limits are read up to here
  std::string psi_path_;
};

}  // namespace

std::unique_ptr<MemoryProbe> system_memory_probe(std::string root) {
  return std::make_unique<SystemMemoryProbe>(std::move(root));
}

}  // namespace swapmoe::server
