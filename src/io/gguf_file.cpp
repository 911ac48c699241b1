// GgufFile accessors and the lazy read-only memory map of the tensor data.
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "core/error.h"
#include "io/gguf.h"
#include "io/gguf_impl.h"
#include "io/map_fault_guard.h"

namespace swapmoe {

GgufState::~GgufState() {
  if (!map) return;
  if (!read_not_map) map_fault_guard_remove(map);
  ::munmap(const_cast<uint8_t*>(map), map_bytes);
}

GgufFile::GgufFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GgufFile::GgufFile(GgufFile&&) noexcept = default;
GgufFile& GgufFile::operator=(GgufFile&&) noexcept = default;
GgufFile::~GgufFile() = default;

const std::string& GgufFile::path() const { return impl_->path; }
uint32_t GgufFile::version() const { return impl_->version; }
uint64_t GgufFile::file_size() const { return impl_->file_size; }
const FileIdentity& GgufFile::identity() const { return impl_->identity; }
uint64_t GgufFile::alignment() const { return impl_->alignment; }
uint64_t GgufFile::data_offset() const { return impl_->data_offset; }

const std::vector<std::pair<std::string, GgufValue>>& GgufFile::metadata() const { return impl_->metadata; }

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = impl_->metadata_index.find(key);
  return it == impl_->metadata_index.end() ? nullptr : &impl_->metadata[it->second].second;
}

const std::vector<GgufTensorInfo>& GgufFile::tensors() const { return impl_->tensors; }

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = impl_->tensor_index.find(name);
  return it == impl_->tensor_index.end() ? nullptr : &impl_->tensors[it->second];
}

// ---------------------------------------------------------------------------------------------
// Typed getters: a missing key or a wrong type names the key and the file.

namespace {

const GgufValue& require_key(const GgufFile& f, std::string_view key) {
  const GgufValue* v = f.find(key);
  if (!v)
    fail("gguf", f.path() + ": required metadata key '" + std::string(key) + "' is missing",
         "the model was converted without it; re-convert with a current llama.cpp");
  return *v;
}

template <typename Fn>
auto with_key(const GgufFile& f, std::string_view key, Fn&& fn) {
  try {
    return fn();
  } catch (const Error& e) {
    fail("gguf", f.path() + ": metadata key '" + std::string(key) + "': " + e.what());
  }
}

}  // namespace

uint64_t GgufFile::get_u64(std::string_view key) const {
  const GgufValue& v = require_key(*this, key);
  return with_key(*this, key, [&] { return v.as_u64(); });
}

uint64_t GgufFile::get_u64(std::string_view key, uint64_t fallback) const {
  const GgufValue* v = find(key);
  return v ? with_key(*this, key, [&] { return v->as_u64(); }) : fallback;
}

double GgufFile::get_f64(std::string_view key) const {
  const GgufValue& v = require_key(*this, key);
  return with_key(*this, key, [&] { return v.as_f64(); });
}

double GgufFile::get_f64(std::string_view key, double fallback) const {
  const GgufValue* v = find(key);
  return v ? with_key(*this, key, [&] { return v->as_f64(); }) : fallback;
}

bool GgufFile::get_bool(std::string_view key, bool fallback) const {
  const GgufValue* v = find(key);
  return v ? with_key(*this, key, [&] { return v->as_bool(); }) : fallback;
}

std::string GgufFile::get_string(std::string_view key) const {
  const GgufValue& v = require_key(*this, key);
  return with_key(*this, key, [&] { return v.as_string(); });
}

std::string GgufFile::get_string(std::string_view key, const std::string& fallback) const {
  const GgufValue* v = find(key);
  return v ? with_key(*this, key, [&] { return v->as_string(); }) : fallback;
}

// ---------------------------------------------------------------------------------------------
// Memory map

namespace {
// Anonymous memory (so the destructor's munmap frees it too) filled with pread.
void read_whole_file(GgufState& f) {
  void* p = ::mmap(nullptr, f.file_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    fail("gguf", f.path + ": cannot allocate " + std::to_string(f.file_size) + " bytes to read the model into",
         "free some memory, or drop --no-mmap to map the file instead");
  auto* dst = static_cast<uint8_t*>(p);
  for (uint64_t done = 0; done < f.file_size;) {
    const ssize_t n = ::pread(f.fd.get(), dst + done, f.file_size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = n < 0 ? std::strerror(errno) : "the file ended early";
      ::munmap(p, f.file_size);
      fail("gguf", f.path + ": read failed at byte " + std::to_string(done) + ": " + why,
           "check the file and the storage it is on");
    }
    done += static_cast<uint64_t>(n);
  }
  ::mprotect(p, f.file_size, PROT_READ);
  f.map = dst;
  f.map_bytes = f.file_size;
}
}  // namespace

void GgufFile::read_instead_of_map() { impl_->read_not_map = true; }

void GgufFile::edit_copy(const std::function<void(uint8_t* base)>& edit) {
  Impl& f = *impl_;
  if (!f.read_not_map) fail("gguf", f.path + ": only a copy read into memory can be edited", "a bug in the loader");
  auto* base = const_cast<uint8_t*>(mapped_data());
  if (::mprotect(base, f.file_size, PROT_READ | PROT_WRITE) != 0)
    fail("gguf", f.path + ": cannot make the model's copy writable: " + std::strerror(errno));
  edit(base);
  ::mprotect(base, f.file_size, PROT_READ);
}

const uint8_t* GgufFile::mapped_data() const {
  Impl& f = *impl_;
  std::call_once(f.map_once, [&f] {
    // The file was validated at open; refuse to map it if it has since changed, since touching
    // pages past a new end would raise SIGBUS and changed bytes would give wrong tokens.
    require_same_file(f.identity, file_identity(f.fd.get(), f.path), f.path, "gguf");
    if (f.read_not_map) {
      read_whole_file(f);
      require_same_file(f.identity, file_identity(f.fd.get(), f.path), f.path, "gguf");  // changed while read?
      return;
    }
    void* p = ::mmap(nullptr, f.file_size, PROT_READ, MAP_SHARED, f.fd.get(), 0);
    if (p == MAP_FAILED)
      fail("gguf", f.path + ": mmap of " + std::to_string(f.file_size) + " bytes failed: " + std::strerror(errno),
           "check the address-space limit (ulimit -v)");
    f.map = static_cast<const uint8_t*>(p);
    f.map_bytes = f.file_size;
    map_fault_guard_add(p, f.file_size, f.path);  // the file shrinking now is a clear exit, not a crash
  });
  return f.map;
}

TensorView GgufFile::tensor_view(const GgufTensorInfo& info) const {
  // Infos may be copied or built by callers, so re-check the range against this file.
  if (info.file_offset > impl_->file_size || info.n_bytes > impl_->file_size - info.file_offset || info.ne.empty() ||
      info.ne.size() > 4)
    fail("gguf", impl_->path + ": tensor '" + info.name + "' range [" + std::to_string(info.file_offset) + ", +" +
                     std::to_string(info.n_bytes) + ") is not inside this file",
         "pass a GgufTensorInfo from this file's tensors()");
  const uint8_t* base = mapped_data();
  return TensorView::contiguous(info.type, info.ne.data(), static_cast<int>(info.ne.size()), base + info.file_offset);
}

}  // namespace swapmoe
