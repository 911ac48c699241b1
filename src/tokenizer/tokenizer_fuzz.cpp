// libFuzzer entry for the tokenizers: any bytes, with and without special-token parsing, through
// the SPM and BPE tokenizers of real vocabularies, then back with decode and the streaming
// detokenizer. Ids must stay in the vocabulary, and valid UTF-8 without special tokens must come
// back unchanged (SPM: unless it holds U+2581, which SPM stores as a space).
//
// Vocabularies: SWAPMOE_FUZZ_VOCAB (a .gguf file or a folder of them), by default the shared
// vocab folder. Without any the fuzzer says so and exits 0 (skipped).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "io/gguf.h"
#include "tokenizer/streaming_detokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace swapmoe {
namespace {

std::vector<Tokenizer>& tokenizers() {
  static std::vector<Tokenizer> t;
  return t;
}

[[noreturn]] void violated(const Tokenizer& tok, std::string_view what) {
  std::fprintf(stderr, "tokenizer_fuzz: %s vocabulary (%d tokens, pre '%s'): %.*s\n", vocab_type_name(tok.vocab().type()),
               tok.n_vocab(), tok.vocab().config().pre.c_str(), static_cast<int>(what.size()), what.data());
  std::abort();
}

bool valid_utf8(std::string_view s) {
  while (!s.empty()) {
    const int n = utf8_check_prefix(s);
    if (n <= 0) return false;
    s.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void load(const std::filesystem::path& path) {
  try {
    tokenizers().push_back(Tokenizer::from_gguf(GgufFile::open(path.string())));
    std::fprintf(stderr, "tokenizer_fuzz: %s\n", path.filename().c_str());
  } catch (const Error& e) {
    std::fprintf(stderr, "tokenizer_fuzz: %s not used: %s\n", path.c_str(), e.what());
  }
}

}  // namespace
}  // namespace swapmoe

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  namespace fs = std::filesystem;
  const char* env = std::getenv("SWAPMOE_FUZZ_VOCAB");
  const fs::path where = env && *env ? fs::path(env) : fs::path(SWAPMOE_SHARED_DATA_DIR) / "vocab";
  std::vector<fs::path> files;
  std::error_code ec;
  if (fs::is_directory(where, ec)) {
    for (const auto& e : fs::directory_iterator(where, ec))
      if (e.path().extension() == ".gguf") files.push_back(e.path());
  } else if (fs::is_regular_file(where, ec)) {
    files.push_back(where);
  }
  std::sort(files.begin(), files.end());  // the same input picks the same vocabulary every run
  for (const fs::path& f : files) swapmoe::load(f);
  if (swapmoe::tokenizers().empty()) {
    std::fprintf(stderr, "tokenizer_fuzz: skipped: no vocabulary GGUF at %s (set SWAPMOE_FUZZ_VOCAB)\n", where.c_str());
    std::exit(0);
  }
  return 0;
}

// The first byte picks the vocabulary (low bits) and the flags; the rest is the text.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace swapmoe;
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const std::vector<Tokenizer>& all = tokenizers();
  const Tokenizer& tok = all[(mode & 0x0f) % all.size()];
  const bool parse_special = mode & 0x10, add_bos = mode & 0x20, render_special = mode & 0x40;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  const std::vector<int32_t> ids = tok.encode(text, add_bos, parse_special);
  for (int32_t id : ids)
    if (!tok.vocab().is_valid(id)) violated(tok, "encode returned an id outside the vocabulary");
  const std::string decoded = tok.decode(ids, render_special);

  // The stream must give what decode gives, once completed or flushed (invalid UTF-8 aside).
  StreamingDetokenizer stream(tok, StreamStart::BEGINNING);
  std::string streamed;
  for (int32_t id : ids) streamed += stream.push(id);
  streamed += stream.flush();
  if (!render_special && valid_utf8(decoded) && streamed != decoded)
    violated(tok, "the streaming detokenizer disagrees with decode");

  const bool spm_space = tok.vocab().type() == VocabType::SPM && text.find("\xe2\x96\x81") != std::string_view::npos;
  if (!parse_special && !add_bos && !spm_space && valid_utf8(text) && decoded != text)
    violated(tok, "decode(encode(text)) differs from valid UTF-8 text");
  return 0;
}
