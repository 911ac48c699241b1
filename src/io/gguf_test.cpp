// GGUF reader/writer: round trips of metadata and tensors, getters, and a real vocab file.
#include "io/gguf.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <thread>

#include "io/gguf_test_util.h"

namespace swapmoe {
namespace {

using test::ScratchDir;

bool same_value(const GgufValue& a, const GgufValue& b) { return a == b; }

// Every value type, including empty and nested arrays.
std::vector<std::pair<std::string, GgufValue>> all_kinds_of_metadata() {
  using V = GgufValue;
  std::vector<std::pair<std::string, GgufValue>> m;
  m.emplace_back("t.u8", V::u8(250));
  m.emplace_back("t.i8", V::i8(-120));
  m.emplace_back("t.u16", V::u16(65000));
  m.emplace_back("t.i16", V::i16(-32000));
  m.emplace_back("t.u32", V::u32(4000000000u));
  m.emplace_back("t.i32", V::i32(-2000000000));
  m.emplace_back("t.u64", V::u64(UINT64_MAX));
  m.emplace_back("t.i64", V::i64(INT64_MIN));
  m.emplace_back("t.f32", V::f32(3.25f));
  m.emplace_back("t.f64", V::f64(-1e300));
  m.emplace_back("t.bool_true", V::boolean(true));
  m.emplace_back("t.bool_false", V::boolean(false));
  m.emplace_back("t.string", V::string("héllo ▁world"));
  m.emplace_back("t.string_empty", V::string(""));
  m.emplace_back("t.string_nul", V::string(std::string("a\0b", 3)));
  m.emplace_back("t.arr_u8", V::array(GgufType::UINT8, {V::u8(1), V::u8(2), V::u8(255)}));
  m.emplace_back("t.arr_i8", V::array(GgufType::INT8, {V::i8(-1), V::i8(127)}));
  m.emplace_back("t.arr_u16", V::array(GgufType::UINT16, {V::u16(7)}));
  m.emplace_back("t.arr_i16", V::array(GgufType::INT16, {V::i16(-7), V::i16(9)}));
  m.emplace_back("t.arr_u32", V::array(GgufType::UINT32, {V::u32(1), V::u32(2)}));
  m.emplace_back("t.arr_i32", V::i32_array({-1, 0, 1}));
  m.emplace_back("t.arr_u64", V::array(GgufType::UINT64, {V::u64(1ull << 40)}));
  m.emplace_back("t.arr_i64", V::array(GgufType::INT64, {V::i64(-(1ll << 40))}));
  m.emplace_back("t.arr_f32", V::f32_array({0.5f, -2.0f, 1e-7f}));
  m.emplace_back("t.arr_f64", V::array(GgufType::FLOAT64, {V::f64(0.1), V::f64(1e-300)}));
  m.emplace_back("t.arr_bool", V::array(GgufType::BOOL, {V::boolean(true), V::boolean(false)}));
  m.emplace_back("t.arr_string", V::string_array({"a", "", "<0x0A>"}));
  m.emplace_back("t.arr_empty", V::array(GgufType::FLOAT32, {}));
  m.emplace_back("t.arr_of_arr",
                 V::array(GgufType::ARRAY, {V::i32_array({1, 2, 3}), V::i32_array({}), V::string_array({"x", "y"})}));
  m.emplace_back("t.arr_3deep", V::array(GgufType::ARRAY, {V::array(GgufType::ARRAY, {V::f32_array({1.0f})})}));
  return m;
}

class GgufRoundTrip : public ::testing::TestWithParam<uint32_t> {};

TEST_P(GgufRoundTrip, EveryMetadataTypeSurvives) {
  ScratchDir dir;
  const auto meta = all_kinds_of_metadata();
  GgufWriter w(GetParam());
  for (const auto& [k, v] : meta) w.set(k, v);
  w.write(dir.file("m.gguf"));

  GgufFile f = GgufFile::open(dir.file("m.gguf"));
  EXPECT_EQ(f.version(), GetParam());
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_TRUE(f.tensors().empty());
  ASSERT_EQ(f.metadata().size(), meta.size());
  for (size_t i = 0; i < meta.size(); ++i) {
    EXPECT_EQ(f.metadata()[i].first, meta[i].first);
    EXPECT_TRUE(same_value(f.metadata()[i].second, meta[i].second)) << meta[i].first;
    const GgufValue* found = f.find(meta[i].first);
    ASSERT_NE(found, nullptr);
    EXPECT_TRUE(same_value(*found, meta[i].second)) << meta[i].first;
  }
  const GgufArray& nested = f.find("t.arr_of_arr")->as_array();
  ASSERT_EQ(nested.values.size(), 3u);
  EXPECT_EQ(nested.values[0].as_array().values[2].as_i64(), 3);
  EXPECT_EQ(nested.values[2].as_array().values[1].as_string(), "y");
}

TEST_P(GgufRoundTrip, TensorsKeepShapeTypeOffsetsAndBytes) {
  for (uint64_t alignment : {32ull, 64ull, 4096ull}) {
    ScratchDir dir;
    struct Spec {
      std::string name;
      GgmlType type;
      std::vector<int64_t> ne;
    };
    const std::vector<Spec> specs = {
        {"a.f32", GgmlType::F32, {8, 3}},
        {"b.q8_0", GgmlType::Q8_0, {64, 2}},
        {"c.f16", GgmlType::F16, {5}},
        {"d.q4_k", GgmlType::Q4_K, {256, 2, 3}},
        {"e.i8", GgmlType::I8, {3, 1, 1, 2}},
    };
    GgufWriter w(GetParam(), alignment);
    w.set("general.architecture", GgufValue::string("test"));
    for (size_t i = 0; i < specs.size(); ++i)
      w.add_tensor(specs[i].name, specs[i].type, specs[i].ne, [i](uint8_t* dst, size_t n) {
        for (size_t j = 0; j < n; ++j) dst[j] = static_cast<uint8_t>(j * 7 + i);
      });
    w.write(dir.file("t.gguf"));

    GgufFile f = GgufFile::open(dir.file("t.gguf"));
    EXPECT_EQ(f.alignment(), alignment);
    EXPECT_EQ(f.data_offset() % alignment, 0u);
    EXPECT_EQ(f.find("general.alignment") != nullptr, alignment != 32);
    ASSERT_EQ(f.tensors().size(), specs.size());
    for (size_t i = 0; i < specs.size(); ++i) {
      const GgufTensorInfo& t = f.tensors()[i];
      SCOPED_TRACE(t.name);
      EXPECT_EQ(t.name, specs[i].name);
      EXPECT_EQ(t.type, specs[i].type);
      EXPECT_EQ(t.ne, specs[i].ne);
      EXPECT_EQ(t.offset % alignment, 0u);
      EXPECT_EQ(t.file_offset, f.data_offset() + t.offset);
      uint64_t rows = 1;
      for (size_t d = 1; d < t.ne.size(); ++d) rows *= t.ne[d];
      EXPECT_EQ(t.n_bytes, row_size(t.type, t.ne[0]) * rows);
      ASSERT_EQ(f.find_tensor(t.name), &t);

      TensorView v = f.tensor_view(t);
      EXPECT_EQ(v.type, t.type);
      EXPECT_EQ(v.n_bytes(), t.n_bytes);
      EXPECT_EQ(v.nb[1], row_size(t.type, t.ne[0]));
      EXPECT_EQ(static_cast<const uint8_t*>(v.data), f.mapped_data() + t.file_offset);
      const auto* p = static_cast<const uint8_t*>(v.data);
      for (size_t j = 0; j < t.n_bytes; ++j) ASSERT_EQ(p[j], static_cast<uint8_t>(j * 7 + i)) << j;
    }
    EXPECT_EQ(f.find_tensor("missing"), nullptr);
    // The last tensor ends the file: no trailing padding.
    EXPECT_EQ(f.tensors().back().file_offset + f.tensors().back().n_bytes, f.file_size());
  }
}

INSTANTIATE_TEST_SUITE_P(Versions, GgufRoundTrip, ::testing::Values(2u, 3u));

TEST(GgufFile, TypedGettersNameTheKey) {
  ScratchDir dir;
  GgufWriter w;
  w.set("n", GgufValue::u32(7));
  w.set("neg", GgufValue::i32(-3));
  w.set("x", GgufValue::f32(0.5f));
  w.set("s", GgufValue::string("llama"));
  w.set("b", GgufValue::boolean(true));
  w.set("n", GgufValue::u32(8));  // replaces
  w.write(dir.file("g.gguf"));

  GgufFile f = GgufFile::open(dir.file("g.gguf"));
  EXPECT_EQ(f.metadata().size(), 5u);
  EXPECT_EQ(f.get_u64("n"), 8u);
  EXPECT_EQ(f.get_u64("absent", 42), 42u);
  EXPECT_DOUBLE_EQ(f.get_f64("x"), 0.5);
  EXPECT_DOUBLE_EQ(f.get_f64("n"), 8.0);
  EXPECT_DOUBLE_EQ(f.get_f64("absent", 1.5), 1.5);
  EXPECT_TRUE(f.get_bool("b", false));
  EXPECT_FALSE(f.get_bool("absent", false));
  EXPECT_EQ(f.get_string("s"), "llama");
  EXPECT_EQ(f.get_string("absent", "dflt"), "dflt");
  EXPECT_EQ(f.find("neg")->as_i64(), -3);
  EXPECT_SWAPMOE_ERROR(f.get_u64("absent"), "'absent' is missing");
  EXPECT_SWAPMOE_ERROR(f.get_string("n"), "'n'");
  EXPECT_SWAPMOE_ERROR(f.get_string("n"), "expected a string but the value is uint32");
  EXPECT_SWAPMOE_ERROR(f.get_u64("neg"), "negative");
  EXPECT_SWAPMOE_ERROR(f.get_u64("s", 1), "'s'");
  EXPECT_SWAPMOE_ERROR(f.find("s")->as_array(), "expected an array");
}

TEST(GgufFile, MapIsCreatedOnceAcrossThreadsAndSurvivesMoves) {
  ScratchDir dir;
  GgufWriter w;
  w.add_tensor("w", GgmlType::F32, {16, 4}, [](uint8_t* dst, size_t n) {
    for (size_t i = 0; i < n / 4; ++i) reinterpret_cast<float*>(dst)[i] = static_cast<float>(i);
  });
  w.write(dir.file("w.gguf"));
  GgufFile f = GgufFile::open(dir.file("w.gguf"));
  std::vector<const void*> seen(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&, i] { seen[i] = f.tensor_view(f.tensors()[0]).data; });
  for (auto& t : threads) t.join();
  for (const void* p : seen) EXPECT_EQ(p, seen[0]);

  GgufFile moved = std::move(f);
  TensorView v = moved.tensor_view(*moved.find_tensor("w"));
  EXPECT_EQ(v.data, seen[0]);
  EXPECT_EQ(reinterpret_cast<const float*>(v.row(3))[5], 53.0f);
}

TEST(GgufFile, TensorViewRejectsForeignInfo) {
  ScratchDir dir;
  GgufWriter w;
  w.add_tensor("w", GgmlType::F32, {4}, [](uint8_t* dst, size_t n) { std::memset(dst, 0, n); });
  w.write(dir.file("w.gguf"));
  GgufFile f = GgufFile::open(dir.file("w.gguf"));
  GgufTensorInfo bogus = f.tensors()[0];
  bogus.file_offset = f.file_size();
  EXPECT_SWAPMOE_ERROR(f.tensor_view(bogus), "not inside this file");
}

TEST(GgufWriter, RejectsBadInput) {
  EXPECT_SWAPMOE_ERROR(GgufWriter(1), "version 1");
  EXPECT_SWAPMOE_ERROR(GgufWriter(3, 48), "power of two");
  EXPECT_SWAPMOE_ERROR(GgufWriter(3, 0), "power of two");
  GgufWriter w;
  auto fill = [](uint8_t*, size_t) {};
  w.add_tensor("a", GgmlType::F32, {4}, fill);
  EXPECT_SWAPMOE_ERROR(w.add_tensor("a", GgmlType::F32, {4}, fill), "duplicate tensor 'a'");
  EXPECT_SWAPMOE_ERROR(w.add_tensor("b", GgmlType::Q8_0, {33}, fill), "block size 32");
  EXPECT_SWAPMOE_ERROR(w.add_tensor("c", GgmlType::F32, {}, fill), "0 dimensions");
  EXPECT_SWAPMOE_ERROR(w.add_tensor("d", GgmlType::F32, {1, 1, 1, 1, 1}, fill), "5 dimensions");
  EXPECT_SWAPMOE_ERROR(w.add_tensor("e", GgmlType::F32, {4, 0}, fill), "dimension 0");
  EXPECT_SWAPMOE_ERROR(w.add_tensor("f", static_cast<GgmlType>(5), {4}, fill), "unknown type 5");
  GgufValue v = GgufValue::u8(1);
  v.value = uint64_t{300};
  EXPECT_SWAPMOE_ERROR(w.set("k", v), "300 does not fit in uint8");
  v.value = std::string("x");
  EXPECT_SWAPMOE_ERROR(w.set("k", v), "not stored as uint64");
  EXPECT_SWAPMOE_ERROR(GgufValue::array(GgufType::INT32, {GgufValue::u8(1)}), "array of int32");
}

TEST(GgufWriter, AlignmentKeyMustMatchTheWriter) {
  ScratchDir dir;
  GgufWriter w(3, 64);
  w.set("general.alignment", GgufValue::u32(128));
  EXPECT_SWAPMOE_ERROR(w.write(dir.file("a.gguf")), "general.alignment");
  EXPECT_FALSE(std::filesystem::exists(dir.file("a.gguf")));
}

// ---------------------------------------------------------------------------------------------
// A real file from llama.cpp's test vocabularies.

TEST(GgufFile, ParsesLlamaSpmVocab) {
  const std::string path = std::string(SWAPMOE_SHARED_DATA_DIR) + "/vocab/ggml-vocab-llama-spm.gguf";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "missing " << path << " (shared test data not checked out)";
  GgufFile f = GgufFile::open(path);
  EXPECT_GE(f.version(), 2u);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "llama");
  const GgufArray& tokens = f.find("tokenizer.ggml.tokens")->as_array();
  EXPECT_EQ(tokens.elem_type, GgufType::STRING);
  ASSERT_EQ(tokens.values.size(), 32000u);
  EXPECT_EQ(tokens.values[0].as_string(), "<unk>");
  EXPECT_EQ(tokens.values[1].as_string(), "<s>");
  const GgufArray& scores = f.find("tokenizer.ggml.scores")->as_array();
  EXPECT_EQ(scores.elem_type, GgufType::FLOAT32);
  EXPECT_EQ(scores.values.size(), 32000u);
  EXPECT_EQ(f.get_u64("tokenizer.ggml.bos_token_id"), 1u);
}

TEST(GgufFile, ParsesGpt2Vocab) {
  const std::string path = std::string(SWAPMOE_SHARED_DATA_DIR) + "/vocab/ggml-vocab-gpt-2.gguf";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "missing " << path << " (shared test data not checked out)";
  GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_GT(f.find("tokenizer.ggml.merges")->as_array().values.size(), 10000u);
}

}  // namespace
}  // namespace swapmoe
