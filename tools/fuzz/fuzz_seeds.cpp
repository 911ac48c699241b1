// fuzz_seeds: writes the seed corpora of the libFuzzer targets (scripts/fuzz) into the build tree.
//
//   fuzz_seeds OUT [--shared DIR] [--model FILE] [--json DIR]
//
// OUT/<target>/ gets, for
//   gguf_fuzz, model_fuzz: small synth models of every architecture (the `swapmoe synth` presets
//     shrunk to a few KiB, also with their sizes stored as u64), the shipped model's metadata and
//     tokenizer on such a model, and each shared vocabulary trimmed to a few hundred tokens, alone
//     and on a model;
//   tokenizer_fuzz: the shared vocabularies' test strings (*.inp), plain and with special tokens;
//   chat_template_fuzz: every real template's source, and each template with a short conversation;
//   request_fuzz: the hand-written request bodies of DIR (tools/fuzz/seeds), to their endpoints.
// Inputs start with the mode byte each fuzzer reads (see its source). Shared data is copied, so
// the corpora live in the build tree only; without the shared folder its seeds are left out.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <zlib.h>

#include "chat/chat_template.h"
#include "core/error.h"
#include "io/gguf.h"
#include "model/model.h"
#include "model/synth_model.h"
#include "tokenizer/tokenizer.h"
#include "vision/png_image.h"

namespace swapmoe {
namespace {

namespace fs = std::filesystem;

struct Paths {
  fs::path out;
  fs::path shared = SWAPMOE_SHARED_DATA_DIR;
  fs::path model = SWAPMOE_MODELS_DIR "/shakespeare-moe.gguf";
  fs::path json = SWAPMOE_SOURCE_DIR "/tools/fuzz/seeds";
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const fs::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) fail("fuzz_seeds", fmt::format("cannot write {}", p.string()), "check the build folder");
}

// A seed for a fuzzer that reads a mode byte first.
void write_seed(const fs::path& dir, const std::string& name, uint8_t mode, std::string_view body) {
  write_file(dir / name, std::string(1, static_cast<char>(mode)) + std::string(body));
}

// ---- small models ----------------------------------------------------------------------------

// A preset of `swapmoe synth` shrunk so that the whole file fits the model fuzzer's max_len
// (64 KiB): 16-wide embeddings, narrow FFNs, 4 experts and the byte-level vocabulary's minimum.
SynthSpec tiny_spec(const std::string& preset) {
  SynthSpec s = synth_preset(preset);
  s.n_vocab = 260;
  s.n_embd = 16;
  s.n_ff = 16;
  if (s.n_ff_exp) s.n_ff_exp = 16;
  if (s.n_ff_shexp) s.n_ff_shexp = 16;
  if (s.head_dim) s.head_dim = 8;
  if (s.n_expert) s.n_expert = 4, s.n_expert_used = std::min<int64_t>(s.n_expert_used, 2);
  if (s.n_expert_groups) s.n_expert_groups = 2, s.n_expert_groups_used = 1;
  if (s.kv_lora_rank) s.kv_lora_rank = 8, s.n_rot = 4, s.head_dim_k_mla = 8, s.head_dim_v_mla = 4;
  if (s.q_lora_rank) s.q_lora_rank = 8;
  if (s.n_layer_dense_lead == 0) s.n_layer = 1;  // deepseek2 keeps its leading dense layer
  s.n_ctx_train = 256;
  if (s.rope_yarn_orig_ctx) s.rope_yarn_orig_ctx = 64;
  s.type = GgmlType::F16;
  return s;
}

// Writes the model `base` with the metadata of `donor` over it: base's architecture keys and
// tensors; donor's other keys and its tokenizer, trimmed to the first `keep` tokens plus every
// special one (ids renumbered, merges kept when all their tokens are). No donor: base alone.
void write_model(const GgufFile& base, const GgufFile* donor, size_t keep, const fs::path& out);

GgufValue remap_ids(const GgufValue& v, const std::map<int64_t, int64_t>& new_id) {
  const auto it = new_id.find(v.as_i64());
  return it == new_id.end() ? v : GgufValue::u32(static_cast<uint32_t>(it->second));
}

void add_trimmed_tokenizer(GgufWriter& w, const GgufFile& donor, size_t keep) {
  const GgufValue* tokens = donor.find("tokenizer.ggml.tokens");
  const GgufValue* types = donor.find("tokenizer.ggml.token_type");
  const auto& texts = tokens->as_array().values;
  // Special tokens are kept, user-defined ones only up to 32 (DeepSeek has 2398 of them).
  std::set<int64_t> kept;
  int user_defined = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const int64_t type = types ? types->as_array().values.at(i).as_i64() : 1;
    if (i < keep || (type != 1 && type != 4) || (type == 4 && ++user_defined <= 32)) kept.insert(static_cast<int64_t>(i));
  }
  for (const auto& [key, v] : donor.metadata())
    if (key.starts_with("tokenizer.ggml.") && key.ends_with("_token_id")) kept.insert(v.as_i64());
  std::map<int64_t, int64_t> new_id;
  for (int64_t id : kept)
    if (id >= 0 && id < static_cast<int64_t>(texts.size())) new_id.emplace(id, static_cast<int64_t>(new_id.size()));
  std::set<std::string> kept_texts;
  for (const auto& [id, n] : new_id) kept_texts.insert(texts[static_cast<size_t>(id)].as_string());

  for (const auto& [key, v] : donor.metadata()) {
    if (!key.starts_with("tokenizer.")) continue;
    if (key.ends_with("_token_id")) {
      w.set(key, remap_ids(v, new_id));
    } else if (key == "tokenizer.ggml.merges") {
      std::vector<GgufValue> merges;
      for (const GgufValue& m : v.as_array().values) {
        const std::string& s = m.as_string();
        const size_t space = s.find(' ', 1);
        if (space != std::string::npos && kept_texts.count(s.substr(0, space)) && kept_texts.count(s.substr(space + 1)) &&
            kept_texts.count(s.substr(0, space) + s.substr(space + 1)))
          merges.push_back(m);
      }
      w.set(key, GgufValue::array(GgufType::STRING, std::move(merges)));
    } else if (v.type == GgufType::ARRAY && v.as_array().values.size() == texts.size()) {
      std::vector<GgufValue> per_token;
      for (const auto& [id, n] : new_id) per_token.push_back(v.as_array().values[static_cast<size_t>(id)]);
      w.set(key, GgufValue::array(v.as_array().elem_type, std::move(per_token)));
    } else {
      w.set(key, v);
    }
  }
}

void write_model(const GgufFile& base, const GgufFile* donor, size_t keep, const fs::path& out) {
  GgufWriter w;
  const bool donor_tokenizer = donor && donor->find("tokenizer.ggml.tokens");
  if (donor)  // the donor's own architecture keys would contradict the tensors
    for (const auto& [key, v] : donor->metadata())
      if (key.starts_with("general.") && key != "general.architecture" && key != "general.alignment") w.set(key, v);
  for (const auto& [key, v] : base.metadata())
    if (!(donor_tokenizer && key.starts_with("tokenizer."))) w.set(key, v);
  if (donor_tokenizer) add_trimmed_tokenizer(w, *donor, keep);
  for (const GgufTensorInfo& t : base.tensors()) {
    const TensorView view = base.tensor_view(t);
    w.add_tensor(t.name, t.type, t.ne, [view](uint8_t* dst, size_t n) { std::memcpy(dst, view.data, n); });
  }
  w.write(out.string());
}

// `base` with every u32 metadata value stored as u64 (as some converters write them): the
// fuzzer's integer mutations then reach sizes near 2^63 and 2^64, which a u32 cannot hold.
void write_widened(const GgufFile& base, const fs::path& out) {
  GgufWriter w;
  for (const auto& [key, v] : base.metadata()) w.set(key, v.type == GgufType::UINT32 ? GgufValue::u64(v.as_u64()) : v);
  for (const GgufTensorInfo& t : base.tensors()) {
    const TensorView view = base.tensor_view(t);
    w.add_tensor(t.name, t.type, t.ne, [view](uint8_t* dst, size_t n) { std::memcpy(dst, view.data, n); });
  }
  w.write(out.string());
}

// A vocabulary alone (no tensors), trimmed like write_model's.
void write_vocab(const GgufFile& vocab, size_t keep, const fs::path& out) {
  GgufWriter w;
  for (const auto& [key, v] : vocab.metadata())
    if (!key.starts_with("tokenizer.")) w.set(key, v);
  add_trimmed_tokenizer(w, vocab, keep);
  w.write(out.string());
}

std::vector<fs::path> files_with(const fs::path& dir, std::string_view extension) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == extension) files.push_back(e.path());
  std::sort(files.begin(), files.end());  // the fuzzers number vocabularies and templates this way
  return files;
}

// What model_fuzz will make of a seed: a model and a tokenizer, or where it is refused. A seed
// refused early still helps, but the list shows what the corpus covers.
void report(const fs::path& seed) {
  std::string what = "model";
  try {
    const auto model = Model::load(seed.string(), DenseWeights::LAZY);
    what += fmt::format(" {} ({} layers)", model->config().arch, model->config().n_layer);
  } catch (const Error& e) {
    std::string why = e.what();
    for (size_t at; (at = why.find(seed.string())) != std::string::npos;) why.replace(at, seed.string().size(), "");
    what = fmt::format("no model: {}", why.substr(0, 70));
  }
  try {
    const Tokenizer t = Tokenizer::from_gguf(GgufFile::open(seed.string()));
    what += fmt::format(", {} tokenizer of {} tokens", vocab_type_name(t.vocab().type()), t.n_vocab());
  } catch (const Error& e) {
    what += ", no tokenizer";
  }
  std::printf("  %-48s %6ju bytes  %s\n", seed.filename().c_str(), static_cast<uintmax_t>(fs::file_size(seed)),
              what.c_str());
}

void model_seeds(const Paths& p, const fs::path& dir) {
  const fs::path scratch = dir / "base.tmp";
  int n = 0;
  for (const std::string& preset : synth_preset_names()) {
    if (!preset.starts_with("tiny")) continue;
    SynthSpec s = tiny_spec(preset);
    const fs::path file = dir / fmt::format("synth-{}.gguf", preset);
    write_synth_model(s, file.string(), 1);
    write_widened(GgufFile::open(file.string()), dir / fmt::format("synth-{}-u64.gguf", preset));
    n += 2;
    if (preset == "tiny") {  // the other matrix types' layouts, and a tied head
      s.n_embd = 32, s.n_ff = 32, s.type = GgmlType::Q8_0, s.tied_output = true;
      write_synth_model(s, (dir / "synth-tiny-q8_0-tied.gguf").string(), 1);
      ++n;
    }
    if (preset == "tiny-gptoss") {
      s.n_embd = 32, s.n_ff = s.n_ff_exp = 32, s.expert_type = GgmlType::MXFP4;
      write_synth_model(s, (dir / "synth-tiny-gptoss-mxfp4.gguf").string(), 1);
      ++n;
    }
  }
  // The shipped model's metadata and tokenizer (trimmed) on a tiny model of its architecture.
  SynthSpec base_spec = tiny_spec("tiny");
  base_spec.n_vocab = 300;
  write_synth_model(base_spec, scratch.string(), 1);
  const GgufFile base = GgufFile::open(scratch.string());
  if (fs::exists(p.model)) {
    const GgufFile shipped = GgufFile::open(p.model.string());
    write_model(base, &shipped, 300, dir / "shipped-on-tiny.gguf");
    ++n;
  }
  for (const fs::path& f : files_with(p.shared / "vocab", ".gguf")) {
    const GgufFile vocab = GgufFile::open(f.string());
    write_vocab(vocab, 300, dir / fmt::format("vocab-{}", f.filename().string()));
    write_model(base, &vocab, 300, dir / fmt::format("vocab-on-tiny-{}", f.filename().string()));
    n += 2;
  }
  fs::remove(scratch);
  std::printf("fuzz_seeds: %d models in %s\n", n, dir.c_str());
  for (const fs::path& f : files_with(dir, ".gguf")) report(f);
}

// ---- text seeds ------------------------------------------------------------------------------

void tokenizer_seeds(const Paths& p, const fs::path& dir) {
  int n = 0;
  const std::vector<fs::path> vocabs = files_with(p.shared / "vocab", ".gguf");
  for (size_t i = 0; i < vocabs.size(); ++i) {
    // llama.cpp's test strings, separated by lines "__ggml_vocab_test__".
    const std::string inp = read_file(vocabs[i].string() + ".inp");
    const std::string_view sep = "\n__ggml_vocab_test__\n";
    size_t at = 0;
    for (int k = 0; at < inp.size(); ++k) {
      size_t end = inp.find(sep, at);
      if (end == std::string::npos) end = inp.size();
      const std::string_view text = std::string_view(inp).substr(at, end - at);
      at = end + sep.size();
      for (uint8_t flags : {0x00, 0x30}) {  // plain; special tokens parsed and BOS added
        write_seed(dir, fmt::format("{}-{}-{:02x}", vocabs[i].stem().string(), k, flags),
                   static_cast<uint8_t>(i | flags), text);
        ++n;
      }
    }
  }
  for (uint8_t flags : {0x10, 0x50})
    write_seed(dir, fmt::format("specials-{:02x}", flags), flags,
               "<s>[INST] hi [/INST]</s><|im_start|>user\nhi<|im_end|><|endoftext|><|begin_of_text|>\xe2\x96\x81x");
  std::printf("fuzz_seeds: %d tokenizer inputs in %s\n", n + 2, dir.c_str());
}

void chat_seeds(const Paths& p, const fs::path& dir) {
  // The fuzzer's list: built-in templates first, then the shared ones, sorted.
  std::vector<std::string> sources;
  for (const std::string& name : ChatTemplate::builtin_names()) sources.push_back(ChatTemplate::builtin(name).source());
  for (const fs::path& f : files_with(p.shared / "chat-templates", ".jinja")) sources.push_back(read_file(f));
  const std::string conversation = "You are terse.\x1fHello!\x1fHi, how can I help?\x1f<tool_call>{\"a\": 1}</tool_call> \u00e9\xf0\x9f\x99\x82";
  for (size_t i = 0; i < sources.size(); ++i) {
    write_seed(dir, fmt::format("source-{}", i), 0, sources[i]);
    write_seed(dir, fmt::format("conversation-{}", i), 1 | 2 | 4, std::string(1, static_cast<char>(i)) + conversation);
  }
  // Small sources at the interpreter's limits (jinja_limits_test.cpp has the same kinds).
  const char* const edges[] = {
      "{{ range(100000) | length }}{{ range(-5, 5, 3) | list }}",
      "{{ 9223372036854775807 + 1 }}{{ 2 ** 62 }}{{ -7 // 2 }}{{ -7 % 3 }}{{ 1e999 }}",
      "{% macro m(n) %}{% if n > 0 %}{{ m(n - 1) }}{% endif %}{{ n }}{% endmacro %}{{ m(3) }}",
      "{% set ns = namespace(x=[]) %}{% for i in range(3) %}{% set ns.x = [ns.x, i] %}{% endfor %}{{ ns.x | tojson }}",
      "{{ 'ab' * 3 }}{{ '\\x41\\u00e9' }}{{ [1, [2, {'a': 3}]] | tojson(indent=2) }}{{ 'a\\nb' | indent(2, true) }}",
      "{{ '12' | int }}{{ 1.5 | int }}{{ [1, 2] | sum }}{{ -3 | abs }}{{ [[1, 2]] | map(attribute='1') | list }}",
  };
  size_t n_edges = 0;
  for (const char* source : edges) write_seed(dir, fmt::format("edge-{}", n_edges++), 0, source);
  std::printf("fuzz_seeds: %zu chat inputs in %s\n", 2 * sources.size() + n_edges, dir.c_str());
}

void request_seeds(const Paths& p, const fs::path& dir) {
  // The file name's first word is the endpoint: request_fuzz's mode byte.
  const std::map<std::string, uint8_t> endpoints = {{"chat", 0}, {"completion", 1}, {"memory", 2}, {"object", 3}};
  int n = 0;
  for (const fs::path& f : files_with(p.json, ".json")) {
    const std::string name = f.stem().string();
    const auto it = endpoints.find(name.substr(0, name.find('-')));
    if (it == endpoints.end()) fail("fuzz_seeds", fmt::format("{}: no endpoint named by the file name", f.string()),
                                    "name seeds chat-*, completion-*, memory-* or object-*");
    write_seed(dir, name, it->second, read_file(f));
    ++n;
  }
  std::printf("fuzz_seeds: %d request bodies in %s\n", n, dir.c_str());
}

// `bytes` as a gzip stream (zlib's deflate with a gzip header), as the IDX files are shipped.
std::string gzip_bytes(const std::string& bytes) {
  z_stream z{};
  if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) fail("fuzz_seeds", "deflateInit2 failed");
  std::string out(deflateBound(&z, bytes.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) fail("fuzz_seeds", "deflate did not finish");
  return out;
}

// image_fuzz: small IDX files (images and labels, plain and gzip) and PNGs (grey 28x28, RGB 8x8,
// and the other way round), each behind the mode byte of its decoder.
void image_seeds(const fs::path& dir) {
  auto idx = [](uint32_t magic, std::vector<uint32_t> dims, size_t n_bytes) {
    std::string s;
    for (uint32_t v : {magic}) for (int i = 3; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    for (uint32_t v : dims) for (int i = 3; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    for (size_t i = 0; i < n_bytes; ++i) s.push_back(static_cast<char>((i * 37) & 0xff));
    return s;
  };
  const std::string images = idx(0x803, {2, 28, 28}, 2 * 784), labels = idx(0x801, {5}, 5);
  write_seed(dir, "idx-images", 0, images);
  write_seed(dir, "idx-images-gz", 0, gzip_bytes(images));
  write_seed(dir, "idx-labels", 1, labels);
  write_seed(dir, "idx-labels-gz", 1, gzip_bytes(labels));
  std::vector<uint8_t> grey(28 * 28), rgb(3 * 8 * 8);
  for (size_t i = 0; i < grey.size(); ++i) grey[i] = static_cast<uint8_t>(i * 7);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 13);
  const std::vector<uint8_t> g = encode_png(grey.data(), 28, 28, 1), c = encode_png(rgb.data(), 8, 8, 3);
  write_seed(dir, "png-grey", 2, {reinterpret_cast<const char*>(g.data()), g.size()});
  write_seed(dir, "png-rgb", 3, {reinterpret_cast<const char*>(c.data()), c.size()});
  write_seed(dir, "png-rgb-as-grey", 2, {reinterpret_cast<const char*>(c.data()), c.size()});
  std::printf("fuzz_seeds: 7 image inputs in %s\n", dir.c_str());
}

void run(const Paths& p) {
  auto target = [&](const char* name) {
    const fs::path dir = p.out / name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
  };
  model_seeds(p, target("model_fuzz"));
  fs::remove_all(p.out / "gguf_fuzz");
  fs::copy(p.out / "model_fuzz", p.out / "gguf_fuzz");
  tokenizer_seeds(p, target("tokenizer_fuzz"));
  chat_seeds(p, target("chat_template_fuzz"));
  request_seeds(p, target("request_fuzz"));
  image_seeds(target("image_fuzz"));
}

}  // namespace
}  // namespace swapmoe

int main(int argc, char** argv) {
  swapmoe::Paths p;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (i + 1 < argc && a == "--shared") p.shared = argv[++i];
    else if (i + 1 < argc && a == "--model") p.model = argv[++i];
    else if (i + 1 < argc && a == "--json") p.json = argv[++i];
    else if (!a.starts_with("-") && p.out.empty()) p.out = a;
    else {
      std::fprintf(stderr, "usage: fuzz_seeds OUT [--shared DIR] [--model FILE] [--json DIR]\n");
      return 2;
    }
  }
  if (p.out.empty()) {
    std::fprintf(stderr, "usage: fuzz_seeds OUT [--shared DIR] [--model FILE] [--json DIR]\n");
    return 2;
  }
  try {
    swapmoe::run(p);
  } catch (const swapmoe::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
