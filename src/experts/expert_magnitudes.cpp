#include "experts/expert_magnitudes.h"

#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "core/aligned_buffer.h"
#include "core/error.h"
#include "io/atomic_file.h"

namespace swapmoe {

namespace {

double sum_of_squares(const TensorView& v, std::vector<float>& row) {
  const TypeTraits& t = type_traits(v.type);
  row.resize(v.ne[0]);
  double s = 0;
  for (int64_t r = 0; r < v.n_rows(); ++r) {
    t.to_float(v.row(r), row.data(), v.ne[0]);
    for (float x : row) s += static_cast<double>(x) * x;
  }
  return s;
}

std::string cache_key(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return {};
  return fmt::format("swapmoe-expert-norms v1 {} {}", static_cast<long long>(st.st_size),
                     static_cast<long long>(st.st_mtim.tv_sec));
}

}  // namespace

std::vector<std::vector<float>> compute_expert_magnitudes(const ExpertStore& store, ThreadPool& pool) {
  const Model& m = store.model();
  std::vector<std::vector<float>> out(m.layers.size());
  std::vector<std::pair<int, int>> jobs;
  for (size_t l = 0; l < m.layers.size(); ++l) {
    if (!m.layers[l].is_moe) continue;
    out[l].assign(m.config().n_expert, 0.0f);
    for (int e = 0; e < m.config().n_expert; ++e) jobs.emplace_back(static_cast<int>(l), e);
  }
  pool.run([&](int ith, int nth) {
    AlignedBuffer buf(store.buffer_bytes(), 4096);
    std::vector<float> row;
    for (size_t j = ith; j < jobs.size(); j += nth) {
      auto [l, e] = jobs[j];
      store.read(l, e, buf.data());
      const ExpertWeights w = store.views(l, buf.data());
      out[l][e] = static_cast<float>(std::sqrt(sum_of_squares(w.gate, row) + sum_of_squares(w.up, row) +
                                               sum_of_squares(w.down, row)));
    }
  });
  return out;
}

std::vector<std::vector<float>> expert_magnitudes(const ExpertStore& store, ThreadPool& pool) {
  const Model& m = store.model();
  const std::string cache = m.file().path() + ".expert-norms";
  const std::string key = cache_key(m.file().path());
  {
    std::ifstream in(cache);
    std::string header;
    if (in && std::getline(in, header) && header == key && !key.empty()) {
      std::vector<std::vector<float>> out(m.layers.size());
      bool ok = true;
      for (size_t l = 0; l < m.layers.size() && ok; ++l) {
        std::string line;
        ok = static_cast<bool>(std::getline(in, line));
        std::istringstream ss(line);
        float v;
        while (ss >> v) out[l].push_back(v);
        ok = ok && out[l].size() == (m.layers[l].is_moe ? static_cast<size_t>(m.config().n_expert) : 0u);
      }
      if (ok) return out;
    }
  }
  auto out = compute_expert_magnitudes(store, pool);
  std::string text = key + "\n";
  for (const auto& row : out) {
    for (size_t i = 0; i < row.size(); ++i) text += fmt::format("{}{:.9g}", i ? " " : "", row[i]);
    text += "\n";
  }
  // A cache: when it cannot be written (full disk, read-only folder) the run goes on with the
  // norms just computed; written whole or not at all, a cut-off file is never read back.
  try {
    write_file_atomically(cache, text, "the norms are computed again on the next start");
  } catch (const Error& e) {
    std::fprintf(stderr, "note: expert-norms cache not saved: %s\n", e.what());
  }
  return out;
}

}  // namespace swapmoe
