// swapmoe tokenize: text to token ids with a GGUF file's tokenizer, like llama-tokenize. Only
// the vocabulary is read, so vocabulary-only GGUF files work too.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include "core/error.h"
#include "io/gguf.h"
#include "tokenizer/tokenizer.h"

namespace swapmoe::cli {

namespace {

struct TokenizeOptions {
  std::string model;
  std::string prompt;
  std::string file;
  bool ids_only = false;
  bool no_bos = false;
  bool parse_special = false;
};

std::string read_prompt_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    fail("tokenize", fmt::format("'{}' is a directory, not a text file", path), "pass a text file with -f");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("tokenize", fmt::format("cannot open text file '{}'", path), "check the path given with -f");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void run(const TokenizeOptions& o) {
  if (o.prompt.empty() == o.file.empty()) {
    fail("tokenize", "give the text with exactly one of -p TEXT and -f FILE");
  }
  if (!std::filesystem::exists(o.model)) {
    fail("tokenize", fmt::format("model file '{}' does not exist", o.model), "check the path given with -m");
  }
  const std::string text = o.file.empty() ? o.prompt : read_prompt_file(o.file);
  const GgufFile file = GgufFile::open(o.model);
  if (file.get_string("general.architecture", "") == "vmoe")
    fail("tokenize", fmt::format("{} is a vision model: it classifies images and has no tokenizer", o.model),
         fmt::format("use swapmoe classify -m {} IMAGES", o.model));
  const Tokenizer tok = Tokenizer::from_gguf(file);
  const std::vector<int32_t> ids = tok.encode(text, tok.add_bos() && !o.no_bos, o.parse_special);

  std::string out;
  if (o.ids_only) {
    // The same Python-list form llama-tokenize --ids prints.
    out += '[';
    for (size_t i = 0; i < ids.size(); ++i) out += fmt::format("{}{}", i == 0 ? "" : ", ", ids[i]);
    out += "]\n";
  } else {
    for (const int32_t id : ids) out += fmt::format("{:6d} -> '{}'\n", id, tok.token_to_piece(id, true));
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
}

}  // namespace

void register_tokenize(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  CLI::App* sub = app.add_subcommand("tokenize", "print the token ids of a text (like llama-tokenize)");
  sub->add_option("-m,--model", o->model, "GGUF file: a model or a vocabulary-only file")->required();
  sub->add_option("-p,--prompt", o->prompt, "text to tokenize");
  sub->add_option("-f,--file", o->file, "read the text from this file");
  sub->add_flag("--ids", o->ids_only, "print only the ids, as [id, id, ...]");
  sub->add_flag("--no-bos", o->no_bos, "do not add BOS even if the vocabulary asks for it");
  sub->add_flag("--parse-special", o->parse_special,
                "turn special-token texts (<|im_start|>, <s>, ...) into those tokens instead of plain text");
  sub->callback([o] { run(*o); });
}

}  // namespace swapmoe::cli
