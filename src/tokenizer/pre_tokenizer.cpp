// PreTokenizer: regex lists per pre-tokenizer name, their translation to the collapsed
// alphabet, and the PCRE2 (32-bit code units, JIT) matching loop.
#define PCRE2_CODE_UNIT_WIDTH 32
#include "tokenizer/pre_tokenizer.h"

#include <pcre2.h>

#include <array>

#include "core/error.h"
#include "tokenizer/unicode_classes.h"

namespace swapmoe {

namespace {

constexpr const char* k_pre_where = "pre-tokenizer";

// Stand-ins for non-ASCII code points in the collapsed text; ASCII members of each class are
// listed beside them so that a class test sees both.
constexpr uint32_t k_collapsed_other = 0xD0;
constexpr uint32_t k_collapsed_whitespace = 0x0B;

uint32_t collapsed_stand_in(CpClass c) {
  switch (c) {
    case CpClass::NUMBER: return 0xD1;
    case CpClass::LETTER: return 0xD2;
    case CpClass::PUNCTUATION: return 0xD3;
    case CpClass::MARK: return 0xD4;
    case CpClass::SYMBOL: return 0xD5;
    default: return k_collapsed_other;
  }
}

// Class body (without brackets) for \p{X} in the collapsed alphabet; "" if X is not handled.
std::string_view collapsed_class_body(std::string_view name) {
  if (name == "N") return "\\x{D1}0-9";
  if (name == "L" || name == "Lu" || name == "Ll" || name == "Lt" || name == "Lm" || name == "Lo") {
    return "\\x{D2}A-Za-z";  // llama.cpp does not tell letter kinds apart either
  }
  if (name == "P") return "\\x{D3}\\x{21}-\\x{23}\\x{25}-\\x{2A}\\x{2C}-\\x{2F}\\x{3A}\\x{3B}\\x{3F}\\x{40}\\x{5B}-\\x{5D}\\x{5F}\\x{7B}\\x{7D}";
  if (name == "M") return "\\x{D4}";
  if (name == "S") return "\\x{D5}\\x{24}\\x{2B}\\x{3C}-\\x{3E}\\x{5E}\\x{60}\\x{7C}\\x{7E}";
  return {};
}

// Rewrites every \p{X} of `pattern` into the collapsed alphabet: a bracketed class outside
// brackets, the bare body inside them. Other escapes are copied unchanged.
std::string collapse_pattern(std::string_view pattern) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      if (pattern[i + 1] == 'p' && i + 2 < pattern.size() && pattern[i + 2] == '{') {
        const size_t close = pattern.find('}', i + 3);
        const std::string_view name = pattern.substr(i + 3, close - (i + 3));
        const std::string_view body = collapsed_class_body(name);
        if (close == std::string_view::npos || body.empty()) {
          fail(k_pre_where, "unsupported class in pattern: " + std::string(pattern.substr(i, 8)));
        }
        out += in_class ? std::string(body) : "[" + std::string(body) + "]";
        i = close;
        continue;
      }
      out += c;
      out += pattern[++i];
      continue;
    }
    if (c == '[') in_class = true;
    if (c == ']') in_class = false;
    out += c;
  }
  return out;
}

struct PreTokenizerSpec {
  std::vector<std::string_view> names;
  std::vector<std::string_view> patterns;
  bool ignore_merges = false;
  bool add_bos = false;
};

// Contractions, case-insensitively spelled out (the Llama 3 / Qwen2 tokenizer.json form).
#define CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define GPT2_WORDS "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"

// The regexes of the Hugging Face tokenizer.json files as llama.cpp adapts them (its
// llm_tokenizer_bpe constructor), for the pre-tokenizers this engine serves.
const std::vector<PreTokenizerSpec>& specs() {
  static const std::vector<PreTokenizerSpec> list = {
      {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"},
       {CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
       true, true},
      {{"dbrx", "smaug-bpe", "chatglm-bpe"},
       {CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
      {{"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "stablelm2", "hunyuan", "solar-open"},
       {CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
      {{"qwen35"},
       {CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
      {{"deepseek-llm"},
       {"[\r\n]",
        // Latin, Greek, Cyrillic, ... letters, as code points: editors may normalise the literals.
        "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}"
        "\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}"
        "\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-"
        "\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}"
        "\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-"
        "\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-"
        "\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-"
        "\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-"
        "\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}"
        "\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}"
        "\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-"
        "\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}"
        "\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}"
        "\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+",
        "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$", "[一-龥ࠀ-一가-퟿]+", "\\p{N}+"}},
      {{"deepseek-coder"}, {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"}},
      {{"deepseek-v3", "hunyuan-dense", "joyai-llm", "hy-v4"},
       {"\\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+",
        "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"}},
      {{"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
        "modern-bert", "jina-v1-en", "jina-v2-code", "roberta-bpe", "exaone4", "mpt", "olmo", "jais", "trillion",
        "granite-docling"},
       {GPT2_WORDS}},
      {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2"},
       {"\\p{N}", GPT2_WORDS}},
      {{"gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"},
       {"[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+" CONTRACTIONS
        "?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*" CONTRACTIONS
        "?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
      {{"default", ""}, {"[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_WORDS, "\\p{N}+", "[0-9][0-9][0-9]"}},
  };
  return list;
}

#undef CONTRACTIONS
#undef GPT2_WORDS

}  // namespace

struct PreTokenizer::Compiled {
  pcre2_code* code = nullptr;
  bool collapsed = false;  // runs on the collapsed text
  ~Compiled() { pcre2_code_free(code); }
};

std::string supported_pre_tokenizers() {
  std::string out;
  for (const auto& spec : specs()) {
    for (auto name : spec.names) {
      if (name.empty()) continue;
      if (!out.empty()) out += ", ";
      out += name;
    }
  }
  return out;
}

PreTokenizer::PreTokenizer(std::string_view pre_name) {
  const PreTokenizerSpec* found = nullptr;
  for (const auto& spec : specs()) {
    for (auto name : spec.names) {
      if (name == pre_name) found = &spec;
    }
  }
  if (found == nullptr) {
    fail(k_pre_where, "tokenizer.ggml.pre '" + std::string(pre_name) + "' is not supported",
         "supported: " + supported_pre_tokenizers());
  }
  ignore_merges_ = found->ignore_merges;
  default_add_bos_ = found->add_bos;
  for (std::string_view source : found->patterns) {
    auto compiled = std::make_unique<Compiled>();
    compiled->collapsed = source.find("\\p{") != std::string_view::npos;
    const std::string utf8 = compiled->collapsed ? collapse_pattern(source) : std::string(source);
    // The pattern goes in as code points: 32-bit code units without UTF mode, so that the
    // subject may hold any value (stand-ins, lone surrogates) and \s stays ASCII.
    const std::vector<uint32_t> cps = decode_utf8_lenient(utf8);
    std::vector<PCRE2_UCHAR> units(cps.begin(), cps.end());
    int error = 0;
    PCRE2_SIZE error_offset = 0;
    // '$' only at the very end, like ECMAScript (std::regex) rather than Perl.
    compiled->code = pcre2_compile(units.data(), units.size(), PCRE2_DOLLAR_ENDONLY, &error, &error_offset, nullptr);
    if (compiled->code == nullptr) {
      std::array<PCRE2_UCHAR, 256> message{};
      pcre2_get_error_message(error, message.data(), message.size());
      std::string text;
      for (PCRE2_UCHAR ch : message) {
        if (ch == 0) break;
        text += static_cast<char>(ch);
      }
      fail(k_pre_where, "cannot compile pattern for '" + std::string(pre_name) + "' at " + std::to_string(error_offset) +
                        ": " + text);
    }
    pcre2_jit_compile(compiled->code, PCRE2_JIT_COMPLETE);  // without JIT, matching still works
    patterns_.push_back(std::move(compiled));
  }
}

PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

void PreTokenizer::split(std::string_view text, std::vector<std::string>& words) const {
  words.clear();
  const std::vector<uint32_t> cps = decode_utf8_lenient(text);
  if (cps.empty()) return;

  std::vector<PCRE2_UCHAR> collapsed;
  std::vector<PCRE2_UCHAR> raw;
  for (const auto& p : patterns_) {
    std::vector<PCRE2_UCHAR>& subject = p->collapsed ? collapsed : raw;
    if (!subject.empty()) continue;
    subject.resize(cps.size());
    for (size_t i = 0; i < cps.size(); ++i) {
      const uint32_t cp = cps[i];
      if (cp < 0x80) {
        subject[i] = cp;
      } else if (cp_is_whitespace(cp)) {
        subject[i] = k_collapsed_whitespace;
      } else {
        subject[i] = p->collapsed ? collapsed_stand_in(cp_class(cp)) : cp;
      }
    }
  }

  // Piece lengths in code points; each pattern refines the previous split.
  std::vector<size_t> pieces{cps.size()};
  std::vector<size_t> next;
  pcre2_match_data* match = pcre2_match_data_create(1, nullptr);
  for (const auto& p : patterns_) {
    const std::vector<PCRE2_UCHAR>& subject = p->collapsed ? collapsed : raw;
    next.clear();
    next.reserve(pieces.size() * 2);
    size_t start = 0;
    for (const size_t length : pieces) {
      // Each piece is matched as a string of its own: lookaheads end at its boundary.
      const PCRE2_UCHAR* base = subject.data() + start;
      size_t done = 0;  // end of the last piece emitted
      size_t from = 0;  // where the next search starts
      while (from < length) {
        const int rc = pcre2_match(p->code, base, length, from, 0, match, nullptr);
        if (rc < 0) break;  // no match (or a resource limit): the rest stays one piece
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match);
        if (ov[1] == ov[0]) {  // an empty match splits nothing; look further on
          from = ov[0] + 1;
          continue;
        }
        if (ov[0] > done) next.push_back(ov[0] - done);
        next.push_back(ov[1] - ov[0]);
        done = from = ov[1];
      }
      if (done < length) next.push_back(length - done);
      start += length;
    }
    pieces.swap(next);
  }
  pcre2_match_data_free(match);

  words.reserve(pieces.size());
  size_t start = 0;
  std::string utf8;
  for (const size_t length : pieces) {
    utf8.clear();
    for (size_t i = start; i < start + length; ++i) append_utf8(utf8, cps[i]);
    std::string word;
    word.reserve(utf8.size() * 2);
    for (const char byte : utf8) append_utf8(word, byte_to_unicode(static_cast<uint8_t>(byte)));
    words.push_back(std::move(word));
    start += length;
  }
}

}  // namespace swapmoe
