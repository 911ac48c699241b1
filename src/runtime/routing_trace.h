// Routing traces: the unmasked top-k experts and weights of every token and MoE layer, written
// as JSON Lines, and replayed to drive the routing of a later run.
//
// One line per evaluated token, in evaluation order:
//   {"seq":0,"pos":5,"experts":[[3,7],[1,12]],"weights":[[0.61,0.39],[0.55,0.45]]}
// seq counts sequences (it increases whenever position 0 is evaluated again, e.g. for each
// perplexity chunk); experts[i] and weights[i] belong to the i-th MoE layer.
// The expert predictor's guesses ride along (expert_prediction.h), when the writer was given a
// depth: "predicted":[[[],[3,9]],...] and "predicted_weights" of the same shape, indexed
// [depth - 1][MoE layer] (empty where no layer lies that far before). A replay then prefetches
// what the recorded model predicted; traces without them replay as before.
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "model/transformer.h"

namespace swapmoe {

class RoutingTraceWriter {
 public:
  // prediction_depth: MoE layers ahead whose predictions are recorded (0: none).
  RoutingTraceWriter(const std::string& path, const Model& model, int prediction_depth = 0);
  // Install as RoutingHooks::on_routing.
  void record(const RoutingEvent& e);
  // Install as RoutingHooks::on_prediction (with RoutingHooks::prediction_depth = prediction_depth()).
  void record_prediction(int64_t pos, int layer, int depth, int k, const int32_t* ids, const float* weights);
  int prediction_depth() const { return prediction_depth_; }
  void flush() { out_.flush(); }

 private:
  struct Token {
    std::vector<std::vector<int32_t>> ids;
    std::vector<std::vector<float>> weights;
    std::vector<std::vector<std::vector<int32_t>>> predicted;  // [depth - 1][MoE layer]
    std::vector<std::vector<std::vector<float>>> predicted_weights;
    int filled = 0;
  };
  Token& token(int64_t pos);
  std::ofstream out_;
  std::string path_;
  std::vector<int> moe_index_;  // layer -> index among MoE layers, -1 for dense
  int n_moe_ = 0;
  int first_moe_ = -1;
  int prediction_depth_ = 0;
  int64_t seq_ = -1;
  std::map<int64_t, Token> open_;  // pos -> layers seen so far
};

class RoutingTraceReader {
 public:
  // Reads the whole trace; throws swapmoe::Error naming the line of a malformed record or a
  // trace recorded on a model with another shape.
  RoutingTraceReader(const std::string& path, const Model& model);
  // Install as RoutingHooks::replay_routing.
  bool replay(int64_t pos, int layer, int k, int32_t* ids, float* weights);
  // Install as RoutingHooks::replay_prediction; false where the trace holds no such prediction.
  bool replay_prediction(int64_t pos, int layer, int depth, int k, int32_t* ids, float* weights);
  size_t n_tokens() const { return records_.size(); }
  int prediction_depth() const { return prediction_depth_; }  // depths the trace holds
  uint64_t misses() const { return misses_; }

 private:
  struct Record {
    std::vector<std::vector<int32_t>> ids;
    std::vector<std::vector<float>> weights;
    std::vector<std::vector<std::vector<int32_t>>> predicted;  // [depth - 1][MoE layer]
    std::vector<std::vector<std::vector<float>>> predicted_weights;
  };
  void check_choices(const std::vector<std::vector<int32_t>>& ids, const std::vector<std::vector<float>>& weights,
                     bool may_be_empty, const std::string& where) const;
  std::map<std::pair<int64_t, int64_t>, Record> records_;  // (seq, pos)
  std::vector<int> moe_index_;
  int first_moe_ = -1;
  int64_t seq_ = -1;
  // Predictions made at the first MoE layer come before its routing starts a new sequence: they
  // belong to the sequence that routing is about to open.
  int64_t prediction_seq_ = 0;
  int prediction_depth_ = 0;
  int64_t k_ = 0, n_expert_ = 0;
  uint64_t misses_ = 0;
};

}  // namespace swapmoe
