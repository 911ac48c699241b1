// Byte-level BPE beyond the plain test vectors: special tokens parsed or not (expected ids
// computed once with llama.cpp's llama_tokenize on the same files), end-of-generation tokens,
// invalid UTF-8, and the Tiny Shakespeare round trip.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/gguf.h"
#include "tokenizer/streaming_detokenizer.h"
#include "tokenizer/tokenizer.h"

namespace swapmoe {
namespace {

const std::string k_special_data = std::string(SWAPMOE_SHARED_DATA_DIR);

std::string special_vocab_path(const std::string& name) { return k_special_data + "/vocab/ggml-vocab-" + name + ".gguf"; }

#define REQUIRE_FILE(path) \
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "shared test data not found at " << (path)

using Ids = std::vector<int32_t>;

TEST(BpeSpecialTokens, ParsedOnlyWhenAskedLikeLlamaCpp) {
  REQUIRE_FILE(special_vocab_path("qwen2"));
  const Tokenizer qwen = Tokenizer::from_gguf(GgufFile::open(special_vocab_path("qwen2")));
  EXPECT_EQ(qwen.encode("<|im_start|>user\nHi<|im_end|>\n", false, true), (Ids{151644, 872, 198, 13048, 151645, 198}));
  EXPECT_EQ(qwen.encode("Hello world<|im_end|> 123", false, true), (Ids{9707, 1879, 151645, 220, 16, 17, 18}));
  EXPECT_EQ(qwen.encode("Hello world<|im_end|> 123", false),
            (Ids{9707, 1879, 27, 91, 318, 6213, 91, 29, 220, 16, 17, 18}));
  EXPECT_FALSE(qwen.add_bos());
  EXPECT_TRUE(qwen.is_eog(151645));  // <|im_end|>
  EXPECT_EQ(qwen.token_to_piece(151645), "");
  EXPECT_EQ(qwen.token_to_piece(151645, true), "<|im_end|>");
  EXPECT_EQ(qwen.decode({9707, 151645}, true), "Hello<|im_end|>");

  REQUIRE_FILE(special_vocab_path("llama-bpe"));
  const Tokenizer llama3 = Tokenizer::from_gguf(GgufFile::open(special_vocab_path("llama-bpe")));
  EXPECT_EQ(llama3.encode("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", false, true),
            (Ids{128006, 882, 128007, 271, 13347, 128009}));
  EXPECT_EQ(llama3.encode("<|start_header_id|>user<|end_header_id|>", false),
            (Ids{27, 91, 2527, 8932, 851, 91, 29, 882, 27, 91, 408, 8932, 851, 91, 29}));
  EXPECT_TRUE(llama3.add_bos());  // Llama 3's default
  EXPECT_TRUE(llama3.is_eog(128009));  // <|eot_id|>
  EXPECT_EQ(llama3.encode("Hi", true).front(), llama3.bos_id());

  REQUIRE_FILE(special_vocab_path("deepseek-coder"));
  const Tokenizer coder = Tokenizer::from_gguf(GgufFile::open(special_vocab_path("deepseek-coder")));
  EXPECT_EQ(coder.encode("a<\xEF\xBD\x9C" "fim\xE2\x96\x81" "hole\xEF\xBD\x9C>b", false, true), (Ids{64, 32015, 65}));
}

TEST(BpeSpecialTokens, SpmParsesSpecialTokensToo) {
  REQUIRE_FILE(special_vocab_path("llama-spm"));
  const Tokenizer spm = Tokenizer::from_gguf(GgufFile::open(special_vocab_path("llama-spm")));
  EXPECT_EQ(spm.encode("<s>Hi</s> x", false, true), (Ids{1, 6324, 2, 29871, 921}));
}

TEST(BpeInvalidUtf8, BecomesReplacementCharactersLikeLlamaCpp) {
  REQUIRE_FILE(special_vocab_path("qwen2"));
  const Tokenizer qwen = Tokenizer::from_gguf(GgufFile::open(special_vocab_path("qwen2")));
  // llama.cpp decodes each byte that starts no valid sequence as U+FFFD (id 5691 here).
  EXPECT_EQ(qwen.encode("a\xFF" "b\xC3", false), (Ids{64, 5691, 65, 5691}));
  EXPECT_EQ(qwen.decode({64, 5691, 65, 5691}), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD");
  // Lone continuation bytes, truncated sequences, NUL: no crash, every byte accounted for.
  const std::string junk("\x80\x80\xE2\x82\0\xF0\x9F\x98", 8);
  EXPECT_EQ(qwen.encode(junk, false).empty(), false);
}

TEST(BpeRoundTrip, TinyShakespeareDecodesBackExactly) {
  const std::string text_path = k_special_data + "/tinyshakespeare/input.txt";
  REQUIRE_FILE(text_path);
  std::ifstream in(text_path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  for (const char* name : {"gpt-2", "llama-bpe", "qwen2", "qwen35", "deepseek-llm", "deepseek-coder"}) {
    REQUIRE_FILE(special_vocab_path(name));
    const Tokenizer tok = Tokenizer::from_gguf(GgufFile::open(special_vocab_path(name)));
    const Ids ids = tok.encode(text, false);
    EXPECT_EQ(tok.decode(ids), text) << name;
    StreamingDetokenizer stream(tok, StreamStart::BEGINNING);
    std::string streamed;
    for (const int32_t id : ids) streamed += stream.push(id);
    streamed += stream.flush();
    EXPECT_EQ(streamed, text) << name;
  }
}

}  // namespace
}  // namespace swapmoe
