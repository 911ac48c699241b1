// ExpertStore: reads one expert's bytes (gate, up, down) from the model file by byte range into a
// buffer the caller owns, and builds weight views over such a buffer.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "io/byte_range_reader.h"
#include "model/model.h"

namespace swapmoe {

class ExpertStore {
 public:
  // The reader must read the model's own file (tests pass one that injects faults).
  // `interleave`: parts whose type has an interleaved form the active CPU level computes faster
  // with (tensor/interleave.h) are rearranged into it as they are read, on the reading thread,
  // and views() gives them that type. Off, buffers hold the file's bytes as they are.
  ExpertStore(const Model& model, ByteRangeReader& reader, bool interleave = false);

  // Bytes of one expert buffer: gate, up and down, each starting 4096-aligned so that reads
  // can go straight to the buffer. Same for every layer (the largest if they differ).
  uint64_t buffer_bytes() const { return buffer_bytes_; }
  uint64_t expert_bytes(int layer) const { return model_.layers[layer].expert_bytes(); }

  // Reads expert `expert` of `layer` into buffer (buffer_bytes(), 4096-aligned). Thread-safe.
  // A failed or short read is retried once, then throws swapmoe::Error naming the expert.
  void read(int layer, int expert, uint8_t* buffer) const;
  // One of the three parts (0 gate, 1 up, 2 down) of that read, to its place in the buffer, so
  // that a loader may read the parts in parallel. Same retry and errors.
  void read_part(int layer, int expert, int part, uint8_t* buffer) const;

  // Views of the expert held in `buffer`.
  ExpertWeights views(int layer, const uint8_t* buffer) const;

  const Model& model() const { return model_; }

 private:
  const Model& model_;
  ByteRangeReader& reader_;
  uint64_t part_offset_[3] = {0, 0, 0};  // gate, up, down offsets inside a buffer
  uint64_t buffer_bytes_ = 0;
  std::vector<std::array<bool, 3>> interleaved_;  // per layer, per part
};

}  // namespace swapmoe
