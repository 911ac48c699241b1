// Architecture registry: each supported `general.architecture` has one file (arch_<name>.cpp)
// that maps its GGUF tensor names and shapes onto the shared LayerWeights layout.
#pragma once

#include <string>
#include <vector>

#include "model/model.h"

namespace swapmoe {

// Looks up a tensor by name and checks its shape; throws a swapmoe::Error naming the tensor,
// the expected and the actual shape when they differ, or when the type cannot be computed with.
class TensorBinder {
 public:
  explicit TensorBinder(const GgufFile& file) : file_(file) {}
  TensorView require(const std::string& name, std::vector<int64_t> shape) const;
  // Empty view (data == nullptr) when absent; shape-checked when present.
  TensorView optional(const std::string& name, std::vector<int64_t> shape) const;
  const GgufTensorInfo* info(const std::string& name) const { return file_.find_tensor(name); }
  // Norm weights are applied element-wise in f32.
  TensorView require_f32(const std::string& name, int64_t n) const;

 private:
  const GgufFile& file_;
};

void bind_llama(Model& model, const TensorBinder& bind);

// Names of the architectures this build can run (for error hints).
std::vector<std::string> supported_architectures();

}  // namespace swapmoe
