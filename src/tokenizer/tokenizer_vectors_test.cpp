// llama.cpp's tokenizer test vectors, read from shared/data/vocab: for every vocabulary there
// (SPM and byte-level BPE), every string must encode to exactly the reference ids (no BOS) and
// decode back to itself.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/gguf.h"
#include "tokenizer/streaming_detokenizer.h"
#include "tokenizer/tokenizer.h"

namespace swapmoe {
namespace {

const std::string k_vocab_dir = std::string(SWAPMOE_SHARED_DATA_DIR) + "/vocab";
const std::string k_vocab_path = k_vocab_dir + "/ggml-vocab-llama-spm.gguf";

std::string vocab_path(const std::string& name) { return k_vocab_dir + "/ggml-vocab-" + name + ".gguf"; }

struct Vector {
  std::string text;
  std::vector<int32_t> ids;
};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Same format rules as llama.cpp's test-tokenizer-0: inputs separated by
// "\n__ggml_vocab_test__\n", one output line of space-separated ids per input.
std::vector<Vector> read_vectors(const std::string& base) {
  const std::string inp = read_all(base + ".inp");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t pos = 0; pos < inp.size();) {
    const size_t next = inp.find(sep, pos);
    if (next == std::string::npos) {
      texts.push_back(inp.substr(pos));
      break;
    }
    texts.push_back(inp.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::ifstream out(base + ".out");
  std::vector<Vector> vectors;
  std::string line;
  for (size_t i = 0; std::getline(out, line); ++i) {
    Vector v;
    v.text = i < texts.size() ? texts[i] : "";
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) v.ids.push_back(id);
    vectors.push_back(std::move(v));
  }
  EXPECT_EQ(vectors.size(), texts.size()) << "input and output files disagree on the number of tests";
  return vectors;
}

class LlamaSpmVectors : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(k_vocab_path)) {
      GTEST_SKIP() << "shared test data not found at " << k_vocab_path << " (needs ../shared/data beside the checkout)";
    }
  }
};

TEST_F(LlamaSpmVectors, MetadataIsRead) {
  const Tokenizer tok = Tokenizer::from_gguf(GgufFile::open(k_vocab_path));
  EXPECT_EQ(tok.n_vocab(), 32000);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_TRUE(tok.add_bos());
  EXPECT_TRUE(tok.vocab().config().add_space_prefix);
  EXPECT_TRUE(tok.is_eog(2));
  EXPECT_EQ(tok.vocab().token(13).type, TokenType::BYTE);  // <0x0A>
  EXPECT_EQ(tok.token_to_piece(13), "\n");
  EXPECT_EQ(tok.token_to_piece(1), "");
  EXPECT_EQ(tok.encode("Hello world", true), (std::vector<int32_t>{1, 15043, 3186}));
}

TEST_F(LlamaSpmVectors, EveryVectorEncodesExactly) {
  const Tokenizer tok = Tokenizer::from_gguf(GgufFile::open(k_vocab_path));
  const auto vectors = read_vectors(k_vocab_path);
  ASSERT_FALSE(vectors.empty());
  int passed = 0;
  for (const auto& v : vectors) {
    const auto ids = tok.encode(v.text, false);
    EXPECT_EQ(ids, v.ids) << "text: '" << v.text << "'";
    passed += ids == v.ids;
  }
  std::printf("llama-spm vectors: %d of %zu pass\n", passed, vectors.size());
}

TEST_F(LlamaSpmVectors, EveryVectorDecodesBack) {
  const Tokenizer tok = Tokenizer::from_gguf(GgufFile::open(k_vocab_path));
  for (const auto& v : read_vectors(k_vocab_path)) {
    EXPECT_EQ(tok.decode(v.ids), v.text);
    // With BOS in front, the text keeps the space encode added (llama.cpp's rule).
    std::vector<int32_t> with_bos = {tok.bos_id()};
    with_bos.insert(with_bos.end(), v.ids.begin(), v.ids.end());
    EXPECT_EQ(tok.decode(with_bos), v.text.empty() ? "" : " " + v.text);

    StreamingDetokenizer stream(tok, StreamStart::BEGINNING);
    std::string streamed;
    for (int32_t id : v.ids) streamed += stream.push(id);
    streamed += stream.flush();
    EXPECT_EQ(streamed, v.text);
  }
}

// Every byte-level BPE vocabulary with llama.cpp test vectors.
class BpeVectors : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(vocab_path(GetParam()))) {
      GTEST_SKIP() << "shared test data not found at " << vocab_path(GetParam())
                   << " (needs ../shared/data beside the checkout)";
    }
  }
};

TEST_P(BpeVectors, EveryVectorEncodesExactlyAndDecodesBack) {
  const std::string path = vocab_path(GetParam());
  const Tokenizer tok = Tokenizer::from_gguf(GgufFile::open(path));
  EXPECT_EQ(tok.vocab().type(), VocabType::BPE);
  const auto vectors = read_vectors(path);
  ASSERT_FALSE(vectors.empty());
  int passed = 0;
  for (const auto& v : vectors) {
    const auto ids = tok.encode(v.text, false);
    EXPECT_EQ(ids, v.ids) << GetParam() << " text: '" << v.text << "'";
    passed += ids == v.ids;
    EXPECT_EQ(tok.decode(v.ids), v.text) << GetParam();

    StreamingDetokenizer stream(tok, StreamStart::BEGINNING);
    std::string streamed;
    for (int32_t id : v.ids) streamed += stream.push(id);
    streamed += stream.flush();
    EXPECT_EQ(streamed, v.text) << GetParam();
  }
  std::printf("%s vectors: %d of %zu pass\n", GetParam().c_str(), passed, vectors.size());
}

INSTANTIATE_TEST_SUITE_P(AllBpeVocabularies, BpeVectors,
                         ::testing::Values("gpt-2", "llama-bpe", "qwen2", "qwen35", "deepseek-llm", "deepseek-coder"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return name;
                         });

}  // namespace
}  // namespace swapmoe
