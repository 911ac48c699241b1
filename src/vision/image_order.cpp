// Image orders: file, shuffled (Fisher-Yates) and runs:N (random classes, no class twice in a row
// when avoidable).
#include "vision/image_order.h"

#include <charconv>
#include <map>
#include <numeric>

#include "core/error.h"

namespace swapmoe {
namespace {

constexpr const char* kOrderWhere = "image order";
constexpr const char* kForms =
    "use file (as stored), shuffled (a seeded random order) or runs:N (N >= 1 images of one class in a row, "
    "e.g. runs:8)";

// splitmix64: small, fast, and the same numbers everywhere (std::mt19937_64 is too, but the
// standard distributions and std::shuffle are not).
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, bound) for bound >= 1, without modulo bias (rejection of the short last range).
  uint64_t below(uint64_t bound) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t x;
    do x = next();
    while (x >= limit);
    return x % bound;
  }

 private:
  uint64_t state_;
};

template <typename T>
void shuffle(std::vector<T>& v, Random& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
}

// The class of each next run. A valid sequence (no class twice in a row) of the remaining runs
// exists, given the previous class p, exactly when no class holds more than half of them
// (rounded up), and p not even half. Picking c keeps that true unless some class k holds more
// than half of the remaining runs (2 r_k > T): then k must be next. Otherwise any class but p
// will do, and one is drawn with weight r_c, so that runs spread evenly over the stream instead
// of the larger classes bunching up at its end. When repeats cannot be avoided (one class has
// too many runs), the largest class comes whenever it is not the previous one, which makes the
// fewest repeats. O(runs x classes): fine for the tens to hundreds of classes of a classifier.
std::vector<size_t> run_classes(std::vector<int64_t> runs_left, Random& rng) {
  int64_t total = std::accumulate(runs_left.begin(), runs_left.end(), int64_t{0});
  std::vector<size_t> sequence;
  sequence.reserve(static_cast<size_t>(total));
  const size_t none = SIZE_MAX;
  size_t prev = none;
  for (; total > 0; --total) {
    size_t largest = 0;
    for (size_t c = 1; c < runs_left.size(); ++c)
      if (runs_left[c] > runs_left[largest]) largest = c;
    size_t pick = none;
    if (2 * runs_left[largest] > total && largest != prev) {
      pick = largest;  // forced: it needs every other place from here on
    } else {
      int64_t weight = 0;
      for (size_t c = 0; c < runs_left.size(); ++c)
        if (c != prev) weight += runs_left[c];
      if (weight == 0) {
        pick = prev;  // only the previous class is left: the repeat is unavoidable
      } else {
        int64_t r = static_cast<int64_t>(rng.below(static_cast<uint64_t>(weight)));
        for (size_t c = 0; c < runs_left.size(); ++c) {
          if (c == prev) continue;
          if (r < runs_left[c]) {
            pick = c;
            break;
          }
          r -= runs_left[c];
        }
      }
    }
    --runs_left[pick];
    sequence.push_back(pick);
    prev = pick;
  }
  return sequence;
}

std::vector<int64_t> runs_order(const ImageSet& images, int64_t run_length, Random& rng) {
  if (images.labels.empty() && images.n > 0)
    fail(kOrderWhere, "runs:" + std::to_string(run_length) + " groups images by class, but these images have no labels",
         "give the labels (the X-labels-idx1-ubyte file beside the images), or use the order shuffled or file");
  if (static_cast<int64_t>(images.labels.size()) != images.n)
    fail(kOrderWhere, std::to_string(images.n) + " images but " + std::to_string(images.labels.size()) + " labels",
         "give one label per image");
  // The images of each class, in a random order; classes in ascending label order so that the
  // result depends only on the data and the seed.
  std::map<int32_t, std::vector<int64_t>> by_label;
  for (int64_t i = 0; i < images.n; ++i) by_label[images.labels[i]].push_back(i);
  std::vector<std::vector<int64_t>> classes;
  std::vector<int64_t> runs_left;
  for (auto& [label, members] : by_label) {
    shuffle(members, rng);
    runs_left.push_back((static_cast<int64_t>(members.size()) + run_length - 1) / run_length);
    classes.push_back(std::move(members));
  }
  std::vector<size_t> next_image(classes.size(), 0);
  std::vector<int64_t> order;
  order.reserve(static_cast<size_t>(images.n));
  for (size_t c : run_classes(std::move(runs_left), rng)) {
    const std::vector<int64_t>& members = classes[c];
    const size_t end = std::min(members.size(), next_image[c] + static_cast<size_t>(run_length));
    order.insert(order.end(), members.begin() + static_cast<std::ptrdiff_t>(next_image[c]),
                 members.begin() + static_cast<std::ptrdiff_t>(end));
    next_image[c] = end;
  }
  return order;
}

}  // namespace

std::string ImageOrder::text() const {
  switch (kind) {
    case FILE: return "file";
    case SHUFFLED: return "shuffled";
    case RUNS: return "runs:" + std::to_string(run_length);
  }
  return "?";
}

ImageOrder parse_image_order(const std::string& text) {
  if (text == "file") return {ImageOrder::FILE, 0};
  if (text == "shuffled") return {ImageOrder::SHUFFLED, 0};
  const std::string prefix = "runs:";
  if (text.compare(0, prefix.size(), prefix) == 0) {
    const char* first = text.data() + prefix.size();
    const char* last = text.data() + text.size();
    int64_t n = 0;
    const auto [end, ec] = std::from_chars(first, last, n);
    if (ec == std::errc() && end == last && first != last && n >= 1) return {ImageOrder::RUNS, n};
    fail(kOrderWhere, "'" + text + "': the run length must be a whole number >= 1", kForms);
  }
  fail(kOrderWhere, "unknown image order '" + text + "'", kForms);
}

std::vector<int64_t> order_images(const ImageSet& images, const ImageOrder& order, uint64_t seed) {
  Random rng(seed);
  switch (order.kind) {
    case ImageOrder::FILE:
    case ImageOrder::SHUFFLED: {
      std::vector<int64_t> indices(static_cast<size_t>(images.n));
      std::iota(indices.begin(), indices.end(), int64_t{0});
      if (order.kind == ImageOrder::SHUFFLED) shuffle(indices, rng);
      return indices;
    }
    case ImageOrder::RUNS:
      if (order.run_length < 1)
        fail(kOrderWhere, "runs:" + std::to_string(order.run_length) + ": the run length must be at least 1", kForms);
      return runs_order(images, order.run_length, rng);
  }
  fail(kOrderWhere, "unknown image order kind " + std::to_string(static_cast<int>(order.kind)), kForms);
}

}  // namespace swapmoe
