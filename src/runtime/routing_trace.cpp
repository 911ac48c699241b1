#include "runtime/routing_trace.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace swapmoe {

namespace {
std::vector<int> moe_indices(const Model& m, int* n_moe, int* first) {
  std::vector<int> idx(m.layers.size(), -1);
  *n_moe = 0;
  *first = -1;
  for (size_t l = 0; l < m.layers.size(); ++l)
    if (m.layers[l].is_moe) {
      if (*first < 0) *first = static_cast<int>(l);
      idx[l] = (*n_moe)++;
    }
  return idx;
}
}  // namespace

RoutingTraceWriter::RoutingTraceWriter(const std::string& path, const Model& model) : out_(path), path_(path) {
  if (!out_) fail("routing trace", fmt::format("cannot create '{}'", path), "check that the folder exists and is writable");
  moe_index_ = moe_indices(model, &n_moe_, &first_moe_);
}

void RoutingTraceWriter::record(const RoutingEvent& e) {
  if (e.layer == first_moe_ && e.pos == 0) {
    ++seq_;
    open_.clear();
  }
  if (seq_ < 0) seq_ = 0;
  Token& t = open_[e.pos];
  if (t.ids.empty()) {
    t.ids.resize(n_moe_);
    t.weights.resize(n_moe_);
  }
  const int i = moe_index_[e.layer];
  t.ids[i].assign(e.ids, e.ids + e.k);
  t.weights[i].assign(e.weights, e.weights + e.k);
  if (++t.filled < n_moe_) return;
  nlohmann::json j = {{"seq", seq_}, {"pos", e.pos}, {"experts", t.ids}, {"weights", t.weights}};
  out_ << j.dump() << '\n';
  if (!out_) fail("routing trace", fmt::format("writing '{}' failed", path_), "is the disk full?");
  open_.erase(e.pos);
}

RoutingTraceReader::RoutingTraceReader(const std::string& path, const Model& model) {
  int n_moe = 0;
  moe_index_ = moe_indices(model, &n_moe, &first_moe_);
  std::ifstream in(path);
  if (!in) fail("routing trace", fmt::format("cannot open '{}'", path), "check the path given with --replay-routing");
  const int64_t k = model.config().n_expert_used, n_expert = model.config().n_expert;
  std::string line;
  for (int64_t line_no = 1; std::getline(in, line); ++line_no) {
    if (line.empty()) continue;
    try {
      const auto j = nlohmann::json::parse(line);
      Record r;
      r.ids = j.at("experts").get<std::vector<std::vector<int32_t>>>();
      r.weights = j.at("weights").get<std::vector<std::vector<float>>>();
      if (static_cast<int>(r.ids.size()) != n_moe || r.weights.size() != r.ids.size())
        fail("routing trace", fmt::format("{}:{}: {} layers, the model has {} MoE layers", path, line_no, r.ids.size(), n_moe),
             "replay a trace recorded on the same model");
      for (size_t l = 0; l < r.ids.size(); ++l) {
        if (static_cast<int64_t>(r.ids[l].size()) != k || r.weights[l].size() != r.ids[l].size())
          fail("routing trace", fmt::format("{}:{}: layer {} has {} experts, the model uses {}", path, line_no, l,
                                            r.ids[l].size(), k),
               "replay a trace recorded on the same model");
        for (int32_t id : r.ids[l])
          if (id < 0 || id >= n_expert)
            fail("routing trace", fmt::format("{}:{}: expert id {} out of range", path, line_no, id),
                 "replay a trace recorded on the same model");
      }
      records_[{j.at("seq").get<int64_t>(), j.at("pos").get<int64_t>()}] = std::move(r);
    } catch (const nlohmann::json::exception& e) {
      fail("routing trace", fmt::format("{}:{}: {}", path, line_no, e.what()), "each line must be one JSON record");
    }
  }
}

bool RoutingTraceReader::replay(int64_t pos, int layer, int k, int32_t* ids, float* weights) {
  if (layer == first_moe_ && pos == 0) ++seq_;
  auto it = records_.find({seq_ < 0 ? 0 : seq_, pos});
  if (it == records_.end()) {
    ++misses_;
    return false;
  }
  const int i = moe_index_[layer];
  for (int j = 0; j < k; ++j) {
    ids[j] = it->second.ids[i][j];
    weights[j] = it->second.weights[i][j];
  }
  return true;
}

}  // namespace swapmoe
