// Routing traces: the unmasked top-k experts and weights of every token and MoE layer, written
// as JSON Lines, and replayed to drive the routing of a later run.
//
// One line per evaluated token, in evaluation order:
//   {"seq":0,"pos":5,"experts":[[3,7],[1,12]],"weights":[[0.61,0.39],[0.55,0.45]]}
// seq counts sequences (it increases whenever position 0 is evaluated again, e.g. for each
// perplexity chunk); experts[i] and weights[i] belong to the i-th MoE layer.
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
  RoutingTraceWriter(const std::string& path, const Model& model);
  // Install as Transformer::on_routing.
  void record(const RoutingEvent& e);
  void flush() { out_.flush(); }

 private:
  struct Token {
    std::vector<std::vector<int32_t>> ids;
    std::vector<std::vector<float>> weights;
    int filled = 0;
  };
  std::ofstream out_;
  std::string path_;
  std::vector<int> moe_index_;  // layer -> index among MoE layers, -1 for dense
  int n_moe_ = 0;
  int first_moe_ = -1;
  int64_t seq_ = -1;
  std::map<int64_t, Token> open_;  // pos -> layers seen so far
};

class RoutingTraceReader {
 public:
  // Reads the whole trace; throws swapmoe::Error naming the line of a malformed record or a
  // trace recorded on a model with another shape.
  RoutingTraceReader(const std::string& path, const Model& model);
  // Install as Transformer::replay_routing.
  bool replay(int64_t pos, int layer, int k, int32_t* ids, float* weights);
  size_t n_tokens() const { return records_.size(); }
  uint64_t misses() const { return misses_; }

 private:
  struct Record {
    std::vector<std::vector<int32_t>> ids;
    std::vector<std::vector<float>> weights;
  };
  std::map<std::pair<int64_t, int64_t>, Record> records_;  // (seq, pos)
  std::vector<int> moe_index_;
  int first_moe_ = -1;
  int64_t seq_ = -1;
  uint64_t misses_ = 0;
};

}  // namespace swapmoe
