#include "runtime/routing_trace.h"

#include <algorithm>

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

RoutingTraceWriter::RoutingTraceWriter(const std::string& path, const Model& model, int prediction_depth)
    : out_(path), path_(path), prediction_depth_(std::clamp(prediction_depth, 0, RoutingStats::kMaxDepth)) {
  if (!out_) fail("routing trace", fmt::format("cannot create '{}'", path), "check that the folder exists and is writable");
  moe_index_ = moe_indices(model, &n_moe_, &first_moe_);
}

RoutingTraceWriter::Token& RoutingTraceWriter::token(int64_t pos) {
  Token& t = open_[pos];
  if (t.ids.empty()) {
    t.ids.resize(n_moe_);
    t.weights.resize(n_moe_);
    t.predicted.assign(prediction_depth_, std::vector<std::vector<int32_t>>(n_moe_));
    t.predicted_weights.assign(prediction_depth_, std::vector<std::vector<float>>(n_moe_));
  }
  return t;
}

void RoutingTraceWriter::record(const RoutingEvent& e) {
  if (e.layer == first_moe_ && e.pos == 0) {
    ++seq_;
    // What the last sequence left unfinished goes; the new sequence's predictions, made at its
    // first MoE layer just before this routing, stay.
    std::erase_if(open_, [](const auto& p) { return p.second.filled > 0; });
  }
  if (seq_ < 0) seq_ = 0;
  Token& t = token(e.pos);
  const int i = moe_index_[e.layer];
  t.ids[i].assign(e.ids, e.ids + e.k);
  t.weights[i].assign(e.weights, e.weights + e.k);
  if (++t.filled < n_moe_) return;
  nlohmann::json j = {{"seq", seq_}, {"pos", e.pos}, {"experts", t.ids}, {"weights", t.weights}};
  if (prediction_depth_ > 0) j["predicted"] = t.predicted, j["predicted_weights"] = t.predicted_weights;
  out_ << j.dump() << '\n';
  if (!out_) fail("routing trace", fmt::format("writing '{}' failed", path_), "is the disk full?");
  open_.erase(e.pos);
}

void RoutingTraceWriter::record_prediction(int64_t pos, int layer, int depth, int k, const int32_t* ids,
                                           const float* weights) {
  if (depth < 1 || depth > prediction_depth_ || moe_index_[layer] < 0) return;
  Token& t = token(pos);
  const int i = moe_index_[layer];
  t.predicted[depth - 1][i].assign(ids, ids + k);
  t.predicted_weights[depth - 1][i].assign(weights, weights + k);
}

RoutingTraceReader::RoutingTraceReader(const std::string& path, const Model& model) {
  int n_moe = 0;
  moe_index_ = moe_indices(model, &n_moe, &first_moe_);
  std::ifstream in(path);
  if (!in) fail("routing trace", fmt::format("cannot open '{}'", path), "check the path given with --replay-routing");
  k_ = model.config().n_expert_used;
  n_expert_ = model.config().n_expert;
  std::string line;
  for (int64_t line_no = 1; std::getline(in, line); ++line_no) {
    if (line.empty()) continue;
    const std::string where = fmt::format("{}:{}", path, line_no);
    try {
      const auto j = nlohmann::json::parse(line);
      Record r;
      r.ids = j.at("experts").get<std::vector<std::vector<int32_t>>>();
      r.weights = j.at("weights").get<std::vector<std::vector<float>>>();
      if (static_cast<int>(r.ids.size()) != n_moe)
        fail("routing trace", fmt::format("{}: {} layers, the model has {} MoE layers", where, r.ids.size(), n_moe),
             "replay a trace recorded on the same model");
      check_choices(r.ids, r.weights, false, where);
      if (j.contains("predicted")) {
        r.predicted = j.at("predicted").get<std::vector<std::vector<std::vector<int32_t>>>>();
        r.predicted_weights = j.at("predicted_weights").get<std::vector<std::vector<std::vector<float>>>>();
        if (r.predicted.size() != r.predicted_weights.size() || r.predicted.size() > RoutingStats::kMaxDepth)
          fail("routing trace", fmt::format("{}: {} predicted depths", where, r.predicted.size()),
               "predicted and predicted_weights hold one entry per depth, at most 4");
        for (size_t d = 0; d < r.predicted.size(); ++d) {
          if (static_cast<int>(r.predicted[d].size()) != n_moe)
            fail("routing trace", fmt::format("{}: depth {} predicts {} layers, the model has {} MoE layers", where,
                                              d + 1, r.predicted[d].size(), n_moe),
                 "replay a trace recorded on the same model");
          check_choices(r.predicted[d], r.predicted_weights[d], true, where);
        }
        prediction_depth_ = std::max(prediction_depth_, static_cast<int>(r.predicted.size()));
      }
      records_[{j.at("seq").get<int64_t>(), j.at("pos").get<int64_t>()}] = std::move(r);
    } catch (const nlohmann::json::exception& e) {
      fail("routing trace", fmt::format("{}: {}", where, e.what()), "each line must be one JSON record");
    }
  }
}

void RoutingTraceReader::check_choices(const std::vector<std::vector<int32_t>>& ids,
                                       const std::vector<std::vector<float>>& weights, bool may_be_empty,
                                       const std::string& where) const {
  if (weights.size() != ids.size())
    fail("routing trace", fmt::format("{}: {} layers of ids, {} of weights", where, ids.size(), weights.size()),
         "each layer's experts need their weights");
  for (size_t l = 0; l < ids.size(); ++l) {
    if (may_be_empty && ids[l].empty() && weights[l].empty()) continue;
    if (static_cast<int64_t>(ids[l].size()) != k_ || weights[l].size() != ids[l].size())
      fail("routing trace", fmt::format("{}: layer {} has {} experts, the model uses {}", where, l, ids[l].size(), k_),
           "replay a trace recorded on the same model");
    for (int32_t id : ids[l])
      if (id < 0 || id >= n_expert_)
        fail("routing trace", fmt::format("{}: expert id {} out of range", where, id),
             "replay a trace recorded on the same model");
  }
}

bool RoutingTraceReader::replay(int64_t pos, int layer, int k, int32_t* ids, float* weights) {
  if (layer == first_moe_ && pos == 0) prediction_seq_ = ++seq_;
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

bool RoutingTraceReader::replay_prediction(int64_t pos, int layer, int depth, int k, int32_t* ids, float* weights) {
  const int i = moe_index_[layer];
  if (i < 0 || depth < 1 || depth > prediction_depth_) return false;
  if (i - depth == 0 && pos == 0) prediction_seq_ = seq_ + 1;  // made at the first MoE layer of a new sequence
  auto it = records_.find({prediction_seq_, pos});
  if (it == records_.end() || static_cast<int>(it->second.predicted.size()) < depth) return false;
  const std::vector<int32_t>& p = it->second.predicted[depth - 1][i];
  if (static_cast<int>(p.size()) != k) return false;
  std::copy(p.begin(), p.end(), ids);
  const std::vector<float>& w = it->second.predicted_weights[depth - 1][i];
  std::copy(w.begin(), w.end(), weights);
  return true;
}

}  // namespace swapmoe
