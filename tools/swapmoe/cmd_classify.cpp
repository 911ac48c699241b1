// swapmoe classify: a vision MoE model (vmoe) on images (an IDX file or PNG files), under the same
// memory budgets and expert policies as `run`: labels (top-k), accuracy when labels are known,
// images/s and the expert figures.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>

#include <fmt/format.h>

#include "cli_common.h"
#include "core/error.h"
#include "core/memory_stats.h"
#include "core/timer.h"
#include "runtime/image_classifier.h"
#include "runtime/metrics.h"
#include "vision/idx_file.h"
#include "vision/image_order.h"
#include "vision/png_image.h"

namespace swapmoe::cli {

namespace {

struct ClassifyOptions {
  ModelOptions model;
  std::vector<std::string> images;
  std::string labels;  // IDX labels; default: the file beside an IDX images file
  int top = 1;
  std::string order = "file";
  uint64_t seed = 1;
  int image_batch = kDefaultImageBatch;
  int64_t limit = 0;
  bool summary_only = false;
  std::string dump_logits;
};

// A PNG by its name or by its first bytes: a file named .png that is not one is then refused by
// the PNG reader with a message that says so, not taken for an IDX file.
bool is_png(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".png") return true;
  std::ifstream f(path, std::ios::binary);
  char magic[8] = {};
  f.read(magic, 8);
  return f.gcount() == 8 && std::equal(magic, magic + 8, "\x89PNG\r\n\x1a\n");
}

// The images as given: one IDX file (gzip or not, labels beside it or from --labels), or PNG files.
ImageSet load_images(const ClassifyOptions& o, const VisionConfig& v) {
  std::vector<std::string> pngs;
  for (const std::string& p : o.images) if (is_png(p)) pngs.push_back(p);
  ImageSet set;
  if (!pngs.empty()) {
    if (pngs.size() != o.images.size())
      fail("classify", "PNG files and an IDX file were given together", "pass one IDX file, or PNG files only");
    set = read_png_images(pngs, v.image_size, v.image_size, v.n_channels);
    if (!o.labels.empty()) {
      set.labels = read_idx_labels(o.labels);
      if (static_cast<int64_t>(set.labels.size()) != set.n)
        fail("classify", fmt::format("{} holds {} labels for {} images", o.labels, set.labels.size(), set.n),
             "pass the labels that belong to these images");
    }
    return set;
  }
  if (o.images.size() != 1)
    fail("classify", fmt::format("{} files given and none is a PNG image", o.images.size()),
         "pass one IDX images file (gzip or not), or PNG files");
  const std::string labels = !o.labels.empty() ? o.labels : idx_labels_path_for(o.images[0]);
  set = read_idx(o.images[0], labels);
  if (set.rows != v.image_size || set.cols != v.image_size || set.channels != v.n_channels)
    fail("classify",
         fmt::format("{} holds {}x{} images with {} channel(s); the model takes {}x{} with {}", o.images[0], set.rows,
                     set.cols, set.channels, v.image_size, v.image_size, v.n_channels),
         "pass images of the model's size");
  return set;
}

// Probabilities of one row of logits (softmax), for the top-k listing.
std::vector<float> softmax_of(const float* logits, int64_t n) {
  std::vector<float> p(logits, logits + n);
  const float m = *std::max_element(p.begin(), p.end());
  float sum = 0;
  for (float& x : p) sum += (x = std::exp(x - m));
  for (float& x : p) x /= sum;
  return p;
}

void run(const ClassifyOptions& o) {
  ModelOptions mo = o.model;
  mo.model = resolve_model_path(mo.model, "fashion-vmoe.gguf");
  const EngineOptions eo = vision_engine_options(engine_options(mo), o.image_batch);
  const ImageOrder order = parse_image_order(o.order);
  Engine engine(eo);
  lock_memory_if_asked(mo);
  note_plan_scaling(engine);
  if (!mo.dump_routing.empty() || !mo.replay_routing.empty())
    fail("classify", "routing traces (--dump-routing, --replay-routing) record text positions",
         "leave them out for a vision model");
  ImageClassifier classifier(engine);
  const VisionConfig& v = classifier.vision();
  const int64_t C = classifier.n_classes();

  ImageSet set = load_images(o, v);
  for (int32_t label : set.labels)
    if (label < 0 || label >= C)
      fail("classify", fmt::format("the labels include class {}, but the model has {} classes", label, C),
           "pass the labels that belong to these images (--labels)");
  std::vector<int64_t> sequence = order_images(set, order, o.seed);
  if (o.limit > 0 && static_cast<int64_t>(sequence.size()) > o.limit) sequence.resize(static_cast<size_t>(o.limit));
  const int64_t n = static_cast<int64_t>(sequence.size());
  // The stream in its order, so that successive batches see successive images.
  std::vector<uint8_t> pixels(static_cast<size_t>(n * set.image_bytes()));
  for (int64_t i = 0; i < n; ++i)
    std::copy_n(set.image(sequence[i]), set.image_bytes(), pixels.begin() + i * set.image_bytes());
  std::cerr << fmt::format("classify: {} images of {}x{} ({} order), {} a batch, {} threads\n", n, v.image_size,
                           v.image_size, order.text(), classifier.batch(), engine.pool().size());

  std::vector<float> logits(static_cast<size_t>(n * C));
  const Timer timer;
  classifier.classify(pixels.data(), n, logits.data());
  const double seconds = timer.seconds();

  int64_t correct = 0;
  const bool labelled = !set.labels.empty();
  for (int64_t i = 0; i < n; ++i) {
    const float* row = &logits[i * C];
    const std::vector<int> best = top_classes(row, C, std::max(o.top, 1));
    const int64_t src = sequence[i];
    const bool right = labelled && best[0] == set.labels[src];
    correct += right;
    if (o.summary_only) continue;
    std::string line = fmt::format("{}\t{}\t{}", i, set.names[src], v.labels[best[0]]);
    if (o.top > 1) {
      const std::vector<float> p = softmax_of(row, C);
      for (int c : best) line += fmt::format("\t{} {:.3f}", v.labels[c], p[c]);
    }
    if (labelled && !right) line += fmt::format("\t(label: {})", v.labels[set.labels[src]]);
    std::cout << line << "\n";
  }
  if (!o.dump_logits.empty()) {
    // The images classified in the file's order, whatever order the stream ran in, so that dumps
    // of every order compare.
    std::vector<int64_t> by_file(static_cast<size_t>(n));
    std::iota(by_file.begin(), by_file.end(), 0);
    std::sort(by_file.begin(), by_file.end(), [&](int64_t a, int64_t b) { return sequence[a] < sequence[b]; });
    std::vector<float> rows;
    rows.reserve(logits.size());
    for (int64_t i : by_file) rows.insert(rows.end(), &logits[i * C], &logits[i * C] + C);
    std::ofstream f(o.dump_logits, std::ios::binary);
    f.write(reinterpret_cast<const char*>(rows.data()), static_cast<std::streamsize>(rows.size() * sizeof(float)));
    if (!f) fail("classify", fmt::format("cannot write {}", o.dump_logits), "check the path and free space");
  }

  const double ips = seconds > 0 ? static_cast<double>(n) / seconds : 0;
  const double accuracy = labelled && n > 0 ? static_cast<double>(correct) / static_cast<double>(n) : NAN;
  if (labelled) std::cerr << fmt::format("accuracy {:.2f}% ({} of {})\n", 100 * accuracy, correct, n);
  const uint64_t peak = peak_rss_bytes();
  std::cerr << fmt::format("{} images in {:.2f} s: {:.1f} images/s, peak RSS {}\n", n, seconds, ips, format_bytes(peak));
  const RunMetrics m = collect_metrics(engine);
  std::cerr << format_metrics_line(m) << "\n";
  if (mo.json) {
    nlohmann::json j = to_json(m);
    j.update({{"model", engine.options().model_path},
              {"images", n},
              {"order", order.text()},
              {"seconds", seconds},
              {"images_per_s", ips},
              {"peak_rss_bytes", peak}});
    if (labelled) j.update({{"accuracy", accuracy}, {"correct", correct}});
    print_json_line(j);
  }
}

}  // namespace

void register_classify(CLI::App& app) {
  auto o = std::make_shared<ClassifyOptions>();
  CLI::App* cmd = app.add_subcommand("classify", "classify images with a vision MoE model (vmoe)");
  add_model_options(cmd, o->model, 0);
  add_budget_options(cmd, o->model);
  cmd->add_option("images", o->images, "an IDX images file (gzip or not), or PNG files")->required();
  cmd->add_option("--labels", o->labels,
                  "IDX labels file (default: the labels file beside an IDX images file, if any)");
  cmd->add_option("--top", o->top, "print the k most likely classes with their probabilities")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--order", o->order,
                  "the order the images stream in: file, shuffled, or runs:N (runs of N images of one class, "
                  "like video frames)");
  cmd->add_option("-s,--seed", o->seed, "seed of the shuffled and runs orders");
  cmd->add_option("--image-batch", o->image_batch, "images evaluated together in one forward")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--limit", o->limit, "classify at most this many images (after ordering)")
      ->check(CLI::Range(int64_t{1}, INT64_MAX));
  cmd->add_flag("--summary-only", o->summary_only, "print no line per image, only the summary");
  cmd->add_option("--dump-logits", o->dump_logits,
                  "write the logits of the images classified as little-endian f32 [images][classes], in the "
                  "file's order");
  cmd->callback([o] { run(*o); });
}

}  // namespace swapmoe::cli
