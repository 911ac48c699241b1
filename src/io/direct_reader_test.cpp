// DirectFileReader: byte-exact reads at any offset/size, EOF and error handling, threads.
#include "io/direct_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <thread>

#include "io/fault_injecting_reader.h"
#include "io/gguf_test_util.h"

namespace swapmoe {
namespace {

using test::ScratchDir;

std::vector<uint8_t> pattern(size_t n) {
  std::vector<uint8_t> v(n);
  uint32_t x = 12345;
  for (auto& b : v) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(x >> 24);
  }
  return v;
}

// (offset, size) pairs around 4 KiB boundaries, the bounce-buffer size and the end of the file.
std::vector<std::pair<uint64_t, uint64_t>> awkward_ranges(uint64_t file_size) {
  return {{0, 0},         {0, 1},          {1, 1},          {4095, 1},       {4095, 2},
          {4096, 4096},   {4097, 8191},    {13, 100000},    {8191, 20000},   {0, file_size},
          {1, file_size - 1}, {file_size - 1, 1}, {file_size - 4097, 4097}, {file_size - 5000, 5000},
          {12345, 300000}};
}

void check_ranges(DirectFileReader& r, const std::vector<uint8_t>& want) {
  std::vector<uint8_t> buf(want.size() + 64);
  for (auto [off, n] : awkward_ranges(want.size()))
    for (size_t dst_skew : {0, 1, 7}) {
      SCOPED_TRACE("offset " + std::to_string(off) + " n " + std::to_string(n) + " skew " + std::to_string(dst_skew));
      uint8_t* dst = buf.data() + dst_skew;
      r.read(off, n, dst);
      ASSERT_EQ(0, std::memcmp(dst, want.data() + off, n));
    }
}

class DirectReader : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = pattern(3 * 1024 * 1024 + 777);
    path_ = dir_.file("data.bin");
    test::write_bytes(path_, data_);
  }
  ScratchDir dir_;
  std::string path_;
  std::vector<uint8_t> data_;
};

TEST_F(DirectReader, OddOffsetsAndSizesMatchTheFile) {
  DirectFileReader r(path_, {.bounce_bytes = 8192});  // small bounce: many chunks per read
  EXPECT_EQ(r.size(), data_.size());
  EXPECT_EQ(r.path(), path_);
  std::cout << "[ info ] O_DIRECT on " << path_ << ": " << (r.uses_o_direct() ? "yes" : "no (fallback)") << "\n";
  check_ranges(r, data_);
}

TEST_F(DirectReader, FallbackWithoutODirect) {
  DirectFileReader r(path_, {.try_o_direct = false});
  EXPECT_FALSE(r.uses_o_direct());
  check_ranges(r, data_);
}

TEST_F(DirectReader, ShortReadsAreRetried) {
  for (bool direct : {true, false}) {
    DirectFileReader r(path_, {.try_o_direct = direct, .bounce_bytes = 64 * 1024, .max_pread_bytes = 4096 + 13});
    check_ranges(r, data_);
  }
}

TEST_F(DirectReader, AlignedFastPath) {
  DirectFileReader r(path_);
  AlignedBuffer buf(3 * 4096, 4096);
  r.read_aligned(8192, 3 * 4096, buf.data());
  EXPECT_EQ(0, std::memcmp(buf.data(), data_.data() + 8192, 3 * 4096));
  EXPECT_SWAPMOE_ERROR(r.read_aligned(100, 4096, buf.data()), "not 4096-byte aligned");
  EXPECT_SWAPMOE_ERROR(r.read_aligned(0, 100, buf.data()), "not 4096-byte aligned");
  EXPECT_SWAPMOE_ERROR(r.read_aligned(0, 4096, buf.data() + 1), "not 4096-byte aligned");
}

TEST_F(DirectReader, ReadPastEndThrowsNamingPathAndOffset) {
  DirectFileReader r(path_);
  std::vector<uint8_t> buf(8192);
  EXPECT_SWAPMOE_ERROR(r.read(data_.size() - 10, 11, buf.data()), "11 bytes at offset " + std::to_string(data_.size() - 10));
  EXPECT_SWAPMOE_ERROR(r.read(data_.size() - 10, 11, buf.data()), path_);
  EXPECT_SWAPMOE_ERROR(r.read(UINT64_MAX - 2, 5, buf.data()), "past the end");
  EXPECT_NO_THROW(r.read(data_.size(), 0, buf.data()));
}

TEST_F(DirectReader, FileShrinkingUnderTheReaderThrows) {
  DirectFileReader r(path_);
  ASSERT_EQ(0, ::truncate(path_.c_str(), 10000));
  std::vector<uint8_t> buf(20000);
  EXPECT_SWAPMOE_ERROR(r.read(9000, 5000, buf.data()), "unexpected end of file");
  EXPECT_SWAPMOE_ERROR(r.read(1 << 20, 5000, buf.data()), "unexpected end of file");
}

TEST_F(DirectReader, MissingFileThrows) {
  EXPECT_SWAPMOE_ERROR(DirectFileReader(dir_.file("nope.bin")), "cannot open");
}

TEST_F(DirectReader, ConcurrentReadsFromSeveralThreads) {
  DirectFileReader r(path_, {.bounce_bytes = 16384});
  std::atomic<int> bad{0};
  auto worker = [&](uint32_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<uint8_t> buf(200000);
    for (int i = 0; i < 300; ++i) {
      uint64_t n = rng() % buf.size();
      uint64_t off = rng() % (data_.size() - n);
      r.read(off, n, buf.data());
      if (std::memcmp(buf.data(), data_.data() + off, n) != 0) bad.fetch_add(1);
    }
  };
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < 4; ++t) threads.emplace_back(worker, t + 1);
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST_F(DirectReader, WorksOnTmpfs) {
  // tmpfs may refuse O_DIRECT (older kernels): either way the bytes must be right.
  if (!std::filesystem::exists("/dev/shm")) GTEST_SKIP() << "no /dev/shm";
  const std::string shm = "/dev/shm/swapmoe_direct_reader_test_" + std::to_string(::getpid());
  test::write_bytes(shm, data_);
  {
    DirectFileReader r(shm, {.bounce_bytes = 8192});
    std::cout << "[ info ] O_DIRECT on tmpfs: " << (r.uses_o_direct() ? "yes" : "no (fallback)") << "\n";
    check_ranges(r, data_);
  }
  std::filesystem::remove(shm);
}

TEST_F(DirectReader, FaultInjectionThroughTheInterface) {
  DirectFileReader real(path_);
  FaultInjectingReader faulty(real);
  ByteRangeReader& reader = faulty;  // what loaders will hold
  std::vector<uint8_t> buf(100);
  reader.read(5, 100, buf.data());
  EXPECT_EQ(0, std::memcmp(buf.data(), data_.data() + 5, 100));
  faulty.fail_range(1000, 10);
  EXPECT_NO_THROW(reader.read(0, 100, buf.data()));
  EXPECT_SWAPMOE_ERROR(reader.read(950, 100, buf.data()), "injected failure reading 100 bytes at offset 950");
  faulty.fail_from_call(4);
  EXPECT_NO_THROW(reader.read(0, 10, buf.data()));
  EXPECT_SWAPMOE_ERROR(reader.read(0, 10, buf.data()), "injected failure");
  EXPECT_EQ(faulty.n_calls(), 5u);
}

}  // namespace
}  // namespace swapmoe
