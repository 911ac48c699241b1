// GGUF reader on hostile input: each broken file must raise swapmoe::Error naming the problem.
#include <gtest/gtest.h>

#include "io/gguf.h"
#include "io/gguf_test_util.h"

namespace swapmoe {
namespace {

using test::RawGguf;
using test::ScratchDir;

constexpr uint32_t kF32 = 0, kQ8_0 = 8;
constexpr uint32_t kTypeString = 8, kTypeArray = 9;

class GgufMalformed : public ::testing::Test {
 protected:
  // Writes the bytes and expects open() to fail with a message containing `needle`.
  void expect_rejected(const RawGguf& raw, const std::string& needle) {
    const std::string path = dir_.file("bad.gguf");
    test::write_bytes(path, raw.b);
    EXPECT_SWAPMOE_ERROR(GgufFile::open(path), needle);
    EXPECT_SWAPMOE_ERROR(GgufFile::open(path), path);  // every message names the file
  }
  ScratchDir dir_;
};

TEST_F(GgufMalformed, BadMagic) {
  RawGguf r;
  r.b = {'G', 'G', 'M', 'L'};
  r.u32(3).u64(0).u64(0);
  expect_rejected(r, "bad magic");
}

TEST_F(GgufMalformed, Version1IsRejected) { expect_rejected(RawGguf().header(0, 0, 1), "version 1 is not supported"); }

TEST_F(GgufMalformed, UnknownVersion) { expect_rejected(RawGguf().header(0, 0, 4), "unsupported GGUF version 4"); }

TEST_F(GgufMalformed, EmptyFile) { expect_rejected(RawGguf(), "truncated while reading magic"); }

TEST_F(GgufMalformed, TruncatedHeader) {
  RawGguf r = RawGguf().header(0, 0);
  r.b.resize(r.b.size() - 3);
  expect_rejected(r, "truncated while reading metadata count");
}

TEST_F(GgufMalformed, AbsurdTensorCount) { expect_rejected(RawGguf().header(1ull << 60, 0), "tensor count 1152921504606846976 is absurd"); }

TEST_F(GgufMalformed, AbsurdMetadataCount) { expect_rejected(RawGguf().header(0, UINT64_MAX), "metadata count"); }

TEST_F(GgufMalformed, KeyLengthPastEof) {
  RawGguf r = RawGguf().header(0, 1);
  r.u64(1ull << 40).b.insert(r.b.end(), 20, 'k');
  expect_rejected(r, "metadata key has length 1099511627776");
}

TEST_F(GgufMalformed, KeyLengthTooLongShowsTheBytesEscaped) {
  // The length of "general.architecture" off by one: the key swallows the value type's first
  // byte. The message shows it as \x08 instead of printing a raw backspace.
  RawGguf r = RawGguf().header(0, 1);
  const std::string key = "general.architecture";
  r.u64(key.size() + 1);
  r.b.insert(r.b.end(), key.begin(), key.end());
  r.u32(8).u64(5).b.insert(r.b.end(), {'l', 'l', 'a', 'm', 'a'});
  expect_rejected(r, "metadata key #0 at offset 24 is not a printable name: 'general.architecture\\x08'");
}

TEST_F(GgufMalformed, StringValueLengthPastEof) {
  RawGguf r = RawGguf().header(0, 1);
  r.str("general.name").u32(kTypeString).u64(1000).str("short");
  expect_rejected(r, "string value has length 1000");
}

TEST_F(GgufMalformed, UnknownMetadataType) {
  RawGguf r = RawGguf().header(0, 1);
  r.str("odd.key").u32(13).u64(0);
  expect_rejected(r, "key 'odd.key' has unknown metadata value type 13");
}

TEST_F(GgufMalformed, UnknownArrayElementType) {
  RawGguf r = RawGguf().header(0, 1);
  r.str("arr").u32(kTypeArray).u32(99).u64(1).u64(0);
  expect_rejected(r, "unknown metadata array element type 99");
}

TEST_F(GgufMalformed, ArrayCountLargerThanTheFile) {
  // 2^61 uint32 values cannot fit; must fail before reserving anything.
  RawGguf r = RawGguf().header(0, 1);
  r.str("tokenizer.ggml.token_type").u32(kTypeArray).u32(4).u64(1ull << 61).u32(1).u32(2);
  expect_rejected(r, "array of 2305843009213693952 uint32 values");
}

TEST_F(GgufMalformed, StringArrayCountLargerThanTheFile) {
  RawGguf r = RawGguf().header(0, 1);
  r.str("tokenizer.ggml.tokens").u32(kTypeArray).u32(kTypeString).u64(100).str("a").str("b");
  expect_rejected(r, "array of 100 string values");
}

TEST_F(GgufMalformed, ArraysNestedTooDeep) {
  RawGguf r = RawGguf().header(0, 1);
  r.str("deep").u32(kTypeArray);
  for (int i = 0; i < 20; ++i) r.u32(kTypeArray).u64(1);
  r.u32(4).u64(0);
  expect_rejected(r, "nests arrays");
}

TEST_F(GgufMalformed, TooManyMetadataValues) {
  // Small on disk, ~48x larger once parsed: refused before it is built.
  const uint64_t n = (1ull << 24) + 1;
  RawGguf r = RawGguf().header(0, 1);
  r.str("blob").u32(kTypeArray).u32(0).u64(n).zeros(n);
  expect_rejected(r, "limit 16777216");
}

TEST_F(GgufMalformed, BoolByteOutOfRange) {
  RawGguf r = RawGguf().header(0, 1);
  r.str("flag").u32(7).u8(2);
  expect_rejected(r, "bool byte 2");
}

TEST_F(GgufMalformed, DuplicateKey) {
  expect_rejected(RawGguf().header(0, 2).kv_u32("general.x", 1).kv_u32("general.x", 2), "duplicate metadata key 'general.x'");
}

TEST_F(GgufMalformed, AlignmentNotAPowerOfTwo) {
  expect_rejected(RawGguf().header(0, 1).kv_u32("general.alignment", 48), "general.alignment = 48 is not a power of two");
  expect_rejected(RawGguf().header(0, 1).kv_u32("general.alignment", 0), "general.alignment = 0");
  expect_rejected(RawGguf().header(0, 1).kv_str("general.alignment", "32"), "general.alignment has type string");
}

// A one-tensor file: header, optional extra metadata, tensor info, padding, `data_bytes` of data.
RawGguf one_tensor(std::vector<int64_t> ne, uint32_t type, uint64_t offset, size_t data_bytes) {
  RawGguf r = RawGguf().header(1, 0).tensor("blk.0.w", std::move(ne), type, offset);
  r.pad_to(32).zeros(data_bytes);
  return r;
}

TEST_F(GgufMalformed, UnknownTensorType) { expect_rejected(one_tensor({4}, 4, 0, 64), "tensor 'blk.0.w' has unknown ggml type 4"); }

TEST_F(GgufMalformed, ZeroDims) { expect_rejected(one_tensor({}, kF32, 0, 64), "has 0 dimensions"); }

TEST_F(GgufMalformed, FiveDims) { expect_rejected(one_tensor({1, 1, 1, 1, 1}, kF32, 0, 64), "has 5 dimensions"); }

TEST_F(GgufMalformed, ZeroDimension) { expect_rejected(one_tensor({4, 0}, kF32, 0, 64), "ne[1] = 0"); }

TEST_F(GgufMalformed, NegativeDimension) { expect_rejected(one_tensor({-4}, kF32, 0, 64), "ne[0] = -4"); }

TEST_F(GgufMalformed, ElementCountOverflow) {
  expect_rejected(one_tensor({1ll << 32, 1ll << 32}, kF32, 0, 64), "overflows");
}

TEST_F(GgufMalformed, ByteCountOverflow) {
  // 2^62 elements fit in int64, but 4 bytes each do not fit in uint64.
  expect_rejected(one_tensor({1ll << 31, 1ll << 31}, kF32, 0, 64), "overflows");
}

TEST_F(GgufMalformed, RowNotAMultipleOfTheBlockSize) {
  expect_rejected(one_tensor({33, 2}, kQ8_0, 0, 128), "ne[0] = 33, not a multiple of the q8_0 block size 32");
}

TEST_F(GgufMalformed, TensorDataPastEof) { expect_rejected(one_tensor({16}, kF32, 0, 60), "runs past the end"); }

TEST_F(GgufMalformed, TensorOffsetPastEof) { expect_rejected(one_tensor({4}, kF32, 1ull << 62, 64), "runs past the end"); }

TEST_F(GgufMalformed, MisalignedTensorOffset) {
  expect_rejected(one_tensor({4}, kF32, 8, 64), "offset 8, not a multiple of the alignment 32");
}

TEST_F(GgufMalformed, OverlappingTensors) {
  RawGguf r = RawGguf().header(2, 0).tensor("a", {16}, kF32, 0).tensor("b", {16}, kF32, 32);
  r.pad_to(32).zeros(128);
  expect_rejected(r, "tensors 'a' [0, 64) and 'b' [32, 96) overlap");
}

TEST_F(GgufMalformed, DuplicateTensorNames) {
  RawGguf r = RawGguf().header(2, 0).tensor("w", {8}, kF32, 0).tensor("w", {8}, kF32, 32);
  r.pad_to(32).zeros(64);
  expect_rejected(r, "duplicate tensor name 'w'");
}

TEST_F(GgufMalformed, TensorNameLengthPastEof) {
  RawGguf r = RawGguf().header(1, 0);
  r.u64(UINT64_MAX / 2).zeros(40);
  expect_rejected(r, "tensor name has length");
}

TEST_F(GgufMalformed, HandMadeValidFileParses) {
  // Guards the cases above: the same builder produces files the reader accepts.
  RawGguf r = RawGguf().header(2, 1).kv_u32("general.alignment", 64).tensor("a", {16}, kF32, 0).tensor("b", {32}, kQ8_0, 64);
  r.pad_to(64).zeros(64 + 34);
  const std::string path = dir_.file("ok.gguf");
  test::write_bytes(path, r.b);
  GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.tensors()[1].n_bytes, 34u);
}

TEST_F(GgufMalformed, NotARegularFile) { EXPECT_SWAPMOE_ERROR(GgufFile::open("/tmp"), "not a regular file"); }

TEST_F(GgufMalformed, MissingFile) { EXPECT_SWAPMOE_ERROR(GgufFile::open(dir_.file("none.gguf")), "cannot open"); }

// Every prefix of a valid file must be rejected cleanly (tensor data runs to the last byte).
TEST_F(GgufMalformed, EveryTruncationThrows) {
  GgufWriter w(3, 64);
  w.set("general.architecture", GgufValue::string("llama"));
  w.set("tokenizer.ggml.tokens", GgufValue::string_array({"<unk>", "<s>", "</s>", "hello"}));
  w.set("nested", GgufValue::array(GgufType::ARRAY, {GgufValue::f32_array({1, 2}), GgufValue::f32_array({})}));
  w.set("f", GgufValue::f64(2.5));
  w.add_tensor("a", GgmlType::F32, {8, 2}, [](uint8_t* d, size_t n) { std::memset(d, 1, n); });
  w.add_tensor("b", GgmlType::Q8_0, {32}, [](uint8_t* d, size_t n) { std::memset(d, 2, n); });
  const std::string full = dir_.file("full.gguf");
  w.write(full);
  const std::vector<uint8_t> bytes = test::read_bytes(full);
  ASSERT_NO_THROW(GgufFile::open(full));

  const std::string cut = dir_.file("cut.gguf");
  for (size_t n = 0; n < bytes.size(); ++n) {
    test::write_bytes(cut, bytes, n);
    try {
      GgufFile::open(cut);
      ADD_FAILURE() << "prefix of " << n << " bytes parsed";
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_TRUE(msg.find("truncated") != std::string::npos || msg.find("past the end") != std::string::npos ||
                  msg.find("remain") != std::string::npos || msg.find("absurd") != std::string::npos)
          << n << ": " << msg;
    }
  }
}

}  // namespace
}  // namespace swapmoe
