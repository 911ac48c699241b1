// swapmoe_vision: IDX files (plain and gzip) and their errors, PNG decode/encode and conversions,
// image orders, and the Fashion-MNIST test set when it is installed.
#include <gtest/gtest.h>
#include <png.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>

#include "core/error.h"
#include "io/gguf_test_util.h"
#include "vision/idx_file.h"
#include "vision/image_order.h"
#include "vision/png_image.h"

namespace swapmoe {
namespace {

using Bytes = std::vector<uint8_t>;

using test::ScratchDir;  // io/gguf_test_util.h

void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

void write_text(const std::string& path, const std::string& text) { write_bytes(path, Bytes(text.begin(), text.end())); }

// The message of the swapmoe::Error that f throws ("" and a test failure if it throws none).
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a swapmoe::Error";
  return "";
}

#define EXPECT_MENTIONS(message, needle) \
  EXPECT_NE((message).find(needle), std::string::npos) << "message: " << (message) << "\nexpected: " << (needle)

// An IDX file: magic 00 00 <type> <dims>, big-endian u32 sizes, then the payload.
Bytes idx(uint8_t type, const std::vector<uint32_t>& sizes, const Bytes& payload) {
  Bytes b{0, 0, type, static_cast<uint8_t>(sizes.size())};
  for (uint32_t s : sizes)
    for (int shift : {24, 16, 8, 0}) b.push_back(static_cast<uint8_t>(s >> shift));
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes gzip(const Bytes& raw) {
  z_stream z{};
  EXPECT_EQ(Z_OK, deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY));
  Bytes out(deflateBound(&z, raw.size()));
  z.next_in = const_cast<Bytef*>(raw.data());
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(Z_STREAM_END, deflate(&z, Z_FINISH));
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

Bytes pattern(size_t n, uint32_t seed) {
  Bytes v(n);
  for (auto& b : v) {
    seed = seed * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(seed >> 24);
  }
  return v;
}

// Five 3 x 4 images and their labels.
struct SmallIdx {
  Bytes pixels = pattern(5 * 3 * 4, 7);
  Bytes labels{3, 1, 4, 1, 5};
  Bytes images_file() const { return idx(0x08, {5, 3, 4}, pixels); }
  Bytes labels_file() const { return idx(0x08, {5}, labels); }
};

// ---- IDX: round trips ----

TEST(IdxFile, PlainAndGzipRoundTrip) {
  ScratchDir dir;
  SmallIdx data;
  for (bool compressed : {false, true}) {
    SCOPED_TRACE(compressed ? "gzip" : "plain");
    const std::string images = dir.file(compressed ? "a-images-idx3-ubyte.gz" : "a-images-idx3-ubyte");
    const std::string labels = dir.file(compressed ? "a-labels-idx1-ubyte.gz" : "a-labels-idx1-ubyte");
    write_bytes(images, compressed ? gzip(data.images_file()) : data.images_file());
    write_bytes(labels, compressed ? gzip(data.labels_file()) : data.labels_file());
    const ImageSet set = read_idx(images, labels);
    EXPECT_EQ(set.n, 5);
    EXPECT_EQ(set.rows, 3);
    EXPECT_EQ(set.cols, 4);
    EXPECT_EQ(set.channels, 1);
    EXPECT_EQ(set.image_bytes(), 12);
    EXPECT_EQ(set.pixels, data.pixels);
    EXPECT_EQ(set.labels, std::vector<int32_t>({3, 1, 4, 1, 5}));
    ASSERT_EQ(set.names.size(), 5u);
    EXPECT_EQ(set.names[0], images + "#0");
    EXPECT_EQ(set.names[4], images + "#4");
    EXPECT_EQ(0, std::memcmp(set.image(2), data.pixels.data() + 24, 12));
    EXPECT_TRUE(read_idx(images, "").labels.empty());
  }
}

TEST(IdxFile, GzipIsToldByItsMagicNotItsName) {
  ScratchDir dir;
  SmallIdx data;
  const std::string plain_named_gz = dir.file("plain.gz"), gzip_named_plain = dir.file("gzip-idx3-ubyte");
  write_bytes(plain_named_gz, data.images_file());
  write_bytes(gzip_named_plain, gzip(data.images_file()));
  EXPECT_EQ(read_idx_images(plain_named_gz).pixels, data.pixels);
  EXPECT_EQ(read_idx_images(gzip_named_plain).pixels, data.pixels);
}

TEST(IdxFile, ParsesFromMemory) {
  SmallIdx data;
  for (const Bytes& body : {data.images_file(), gzip(data.images_file())}) {
    const ImageSet set = parse_idx_images(body, "upload");
    EXPECT_EQ(set.pixels, data.pixels);
    EXPECT_EQ(set.names[1], "upload#1");
  }
  EXPECT_EQ(parse_idx_labels(gzip(data.labels_file()), "body"), std::vector<int32_t>({3, 1, 4, 1, 5}));
}

TEST(IdxFile, ConcatenatedGzipMembersReadAsOneStream) {
  SmallIdx data;
  const Bytes file = data.images_file();
  const Bytes first(file.begin(), file.begin() + 30), second(file.begin() + 30, file.end());
  Bytes joined = gzip(first);
  const Bytes tail = gzip(second);
  joined.insert(joined.end(), tail.begin(), tail.end());
  EXPECT_EQ(parse_idx_images(joined, "cat").pixels, data.pixels);
}

TEST(IdxFile, EmptySetIsValid) {
  const ImageSet set = parse_idx_images(idx(0x08, {0, 28, 28}, {}), "none");
  EXPECT_EQ(set.n, 0);
  EXPECT_EQ(set.rows, 28);
  EXPECT_TRUE(set.pixels.empty());
}

TEST(IdxFile, LabelsPathByMnistNaming) {
  ScratchDir dir;
  write_text(dir.file("t10k-labels-idx1-ubyte.gz"), "x");
  write_text(dir.file("old-labels.idx1-ubyte"), "x");
  write_text(dir.file("mixed-labels-idx1-ubyte"), "x");
  EXPECT_EQ(idx_labels_path_for(dir.file("t10k-images-idx3-ubyte.gz")), dir.file("t10k-labels-idx1-ubyte.gz"));
  EXPECT_EQ(idx_labels_path_for(dir.file("old-images.idx3-ubyte")), dir.file("old-labels.idx1-ubyte"));
  // The other compression, when only that one is there.
  EXPECT_EQ(idx_labels_path_for(dir.file("t10k-images-idx3-ubyte")), dir.file("t10k-labels-idx1-ubyte.gz"));
  EXPECT_EQ(idx_labels_path_for(dir.file("mixed-images-idx3-ubyte.gz")), dir.file("mixed-labels-idx1-ubyte"));
  EXPECT_EQ(idx_labels_path_for(dir.file("train-images-idx3-ubyte.gz")), "");  // no such labels file
  EXPECT_EQ(idx_labels_path_for(dir.file("digits.idx")), "");                  // not MNIST naming
  // Only the file name is renamed, never a folder.
  std::filesystem::create_directories(dir.file("x-images-idx3-ubyte"));
  write_text(dir.file("x-images-idx3-ubyte/y-labels-idx1-ubyte"), "x");
  EXPECT_EQ(idx_labels_path_for(dir.file("x-images-idx3-ubyte/y-images-idx3-ubyte")),
            dir.file("x-images-idx3-ubyte/y-labels-idx1-ubyte"));
  EXPECT_EQ(idx_labels_path_for(dir.file("x-images-idx3-ubyte/z.bin")), "");
}

// ---- IDX: errors ----

TEST(IdxErrors, MissingFile) {
  const std::string path = "/nonexistent/t10k-images-idx3-ubyte.gz";
  const std::string msg = error_of([&] { read_idx_images(path); });
  EXPECT_MENTIONS(msg, path);
  EXPECT_MENTIONS(msg, "cannot open");
  EXPECT_MENTIONS(msg, "No such file");
  EXPECT_MENTIONS(msg, "check the path");
  EXPECT_MENTIONS(error_of([&] { read_idx_labels(path); }), "cannot open");
}

TEST(IdxErrors, DirectoryIsNotAFile) {
  ScratchDir dir;
  EXPECT_MENTIONS(error_of([&] { read_idx_images(dir.file("")); }), "is a directory");
}

TEST(IdxErrors, NotAnIdxFile) {
  ScratchDir dir;
  const std::string path = dir.file("notes-images-idx3-ubyte");
  write_text(path, "hello, these are not images\n");
  std::string msg = error_of([&] { read_idx_images(path); });
  EXPECT_MENTIONS(msg, path);
  EXPECT_MENTIONS(msg, "is not an IDX file");
  EXPECT_MENTIONS(msg, "starts with 68 65 6c 6c");
  EXPECT_MENTIONS(msg, "00 00 08 03");
  // The same text gzip-compressed: the message says the bytes are those after decompressing.
  msg = error_of([&] { parse_idx_images(gzip(Bytes(path.begin(), path.end())), "body"); });
  EXPECT_MENTIONS(msg, "is not an IDX file");
  EXPECT_MENTIONS(msg, "after decompressing");
  // A PNG passed as IDX gets a hint about PNGs.
  msg = error_of([&] { parse_idx_images(encode_png(pattern(4, 1).data(), 2, 2, 1), "digit.png"); });
  EXPECT_MENTIONS(msg, "PNG image");
  EXPECT_MENTIONS(error_of([&] { parse_idx_images(Bytes{}, "empty"); }), "empty: is empty");
  EXPECT_MENTIONS(error_of([&] { parse_idx_images(Bytes{0, 0}, "two"); }), "too short");
}

TEST(IdxErrors, UnsupportedElementType) {
  const std::string msg = error_of([] { parse_idx_images(idx(0x0D, {1, 2, 2}, Bytes(16)), "floats"); });
  EXPECT_MENTIONS(msg, "float32");
  EXPECT_MENTIONS(msg, "only unsigned bytes");
}

TEST(IdxErrors, TruncatedPlainFile) {
  ScratchDir dir;
  SmallIdx data;
  Bytes file = data.images_file();
  file.resize(16 + 30);  // the header announces 60 bytes of pixels
  const std::string path = dir.file("cut-images-idx3-ubyte");
  write_bytes(path, file);
  const std::string msg = error_of([&] { read_idx_images(path); });
  EXPECT_MENTIONS(msg, path);
  EXPECT_MENTIONS(msg, "5 images of 3 x 4");
  EXPECT_MENTIONS(msg, "60 bytes");
  EXPECT_MENTIONS(msg, "only 30 bytes");
  EXPECT_MENTIONS(msg, "truncated");
  EXPECT_MENTIONS(msg, "download it again");
  file.resize(10);  // inside the header
  EXPECT_MENTIONS(error_of([&] { parse_idx_images(file, "head"); }), "header is cut short");
  Bytes labels = data.labels_file();
  labels.pop_back();
  EXPECT_MENTIONS(error_of([&] { parse_idx_labels(labels, "labels"); }), "only 4 bytes");
}

TEST(IdxErrors, TruncatedGzipFile) {
  SmallIdx data;
  Bytes big_file = idx(0x08, {100, 28, 28}, pattern(100 * 28 * 28, 3));
  Bytes gz = gzip(big_file);
  gz.resize(gz.size() / 2);
  std::string msg = error_of([&] { parse_idx_images(gz, "half.gz"); });
  EXPECT_MENTIONS(msg, "78400 bytes");
  EXPECT_MENTIONS(msg, "after decompressing");
  EXPECT_MENTIONS(msg, "truncated");
  // All the data there, but the gzip trailer (CRC and length) cut off.
  gz = gzip(data.images_file());
  gz.resize(gz.size() - 8);
  msg = error_of([&] { parse_idx_images(gz, "no-trailer.gz"); });
  EXPECT_MENTIONS(msg, "end marker");
  EXPECT_MENTIONS(msg, "truncated");
}

TEST(IdxErrors, CorruptGzipData) {
  SmallIdx data;
  // A deflate block of the reserved type 3 right after the gzip header.
  Bytes bad = gzip(data.images_file());
  bad[10] = 0x07;
  std::string msg = error_of([&] { parse_idx_images(bad, "bad.gz"); });
  EXPECT_MENTIONS(msg, "bad.gz: corrupt gzip data");
  EXPECT_MENTIONS(msg, "invalid block type");
  EXPECT_MENTIONS(msg, "gzip -t");
  // Intact deflate data with a wrong CRC.
  bad = gzip(data.images_file());
  bad[bad.size() - 8] ^= 0xff;
  msg = error_of([&] { parse_idx_images(bad, "crc.gz"); });
  EXPECT_MENTIONS(msg, "corrupt gzip data");
  EXPECT_MENTIONS(msg, "incorrect data check");
}

TEST(IdxErrors, MoreDataThanTheHeaderAnnounces) {
  SmallIdx data;
  Bytes file = data.images_file();
  file.push_back(0);
  file.push_back(0);
  EXPECT_MENTIONS(error_of([&] { parse_idx_images(file, "long"); }), "2 bytes more than its header announces");
  EXPECT_MENTIONS(error_of([&] { parse_idx_images(gzip(file), "long.gz"); }), "more data (after decompressing)");
}

TEST(IdxErrors, ZeroOrAbsurdSizesAreRefusedBeforeAllocating) {
  std::string msg = error_of([] { parse_idx_images(idx(0x08, {10, 0, 28}, {}), "flat"); });
  EXPECT_MENTIONS(msg, "10 images of 0 x 28");
  EXPECT_MENTIONS(msg, "at least one pixel");
  EXPECT_MENTIONS(error_of([] { parse_idx_images(idx(0x08, {10, 28, 0}, {}), "thin"); }), "at least one pixel");
  // 2^32-1 cubed would overflow 64 bits if multiplied blindly.
  msg = error_of([] { parse_idx_images(idx(0x08, {0xffffffff, 0xffffffff, 0xffffffff}, {}), "huge"); });
  EXPECT_MENTIONS(msg, "more than the 2147483648 bytes");
  EXPECT_MENTIONS(msg, "header is corrupt");
  // Just over 2^31 bytes in all: 2739138 images of 28 x 28 = 2147484192 bytes.
  EXPECT_MENTIONS(error_of([] { parse_idx_images(idx(0x08, {2739138, 28, 28}, {}), "big"); }),
                  "more than the 2147483648 bytes");
  EXPECT_MENTIONS(error_of([] { parse_idx_labels(idx(0x08, {0xffffffff}, {}), "labels"); }), "4294967295 labels");
  // Just within the limit (2147483408 bytes) but with no data: found short after one step of
  // reading, without first allocating 2 GiB.
  EXPECT_MENTIONS(error_of([] { parse_idx_images(idx(0x08, {2739137, 28, 28}, {}), "empty body"); }),
                  "2147483408 bytes of data, but only 0 bytes");
}

TEST(IdxErrors, LabelsCountDiffersFromImages) {
  ScratchDir dir;
  SmallIdx data;
  const std::string images = dir.file("a-images-idx3-ubyte"), labels = dir.file("b-labels-idx1-ubyte");
  write_bytes(images, data.images_file());
  write_bytes(labels, idx(0x08, {4}, {1, 2, 3, 4}));
  const std::string msg = error_of([&] { read_idx(images, labels); });
  EXPECT_MENTIONS(msg, images + " has 5 images but " + labels + " has 4 labels");
  EXPECT_MENTIONS(msg, "belongs to these images");
}

TEST(IdxErrors, LabelsGivenAsImagesAndViceVersa) {
  ScratchDir dir;
  SmallIdx data;
  const std::string images = dir.file("a-images-idx3-ubyte.gz"), labels = dir.file("a-labels-idx1-ubyte.gz");
  write_bytes(images, gzip(data.images_file()));
  write_bytes(labels, gzip(data.labels_file()));
  std::string msg = error_of([&] { read_idx(labels, images); });
  EXPECT_MENTIONS(msg, labels + ": is an IDX labels file");
  EXPECT_MENTIONS(msg, "not images");
  msg = error_of([&] { read_idx_labels(images); });
  EXPECT_MENTIONS(msg, images + ": is an IDX images file");
  EXPECT_MENTIONS(msg, "not labels");
  EXPECT_MENTIONS(error_of([] { parse_idx_images(idx(0x08, {1, 2}, {0, 0}), "2d"); }), "has 2 dimensions");
}

// ---- PNG ----

TEST(Png, GreyRoundTrip) {
  ScratchDir dir;
  const Bytes grey = pattern(5 * 7, 11);
  const std::string a = dir.file("a.png"), b = dir.file("b.png");
  write_png(a, grey.data(), 5, 7, 1);
  write_png(b, grey.data(), 5, 7, 1);
  const ImageSet set = read_png_images({a, b}, 5, 7, 1);
  EXPECT_EQ(set.n, 2);
  EXPECT_EQ(set.rows, 5);
  EXPECT_EQ(set.cols, 7);
  EXPECT_EQ(set.channels, 1);
  EXPECT_EQ(Bytes(set.image(0), set.image(0) + 35), grey);
  EXPECT_EQ(Bytes(set.image(1), set.image(1) + 35), grey);
  EXPECT_EQ(set.names, std::vector<std::string>({a, b}));
  EXPECT_TRUE(set.labels.empty());
  EXPECT_EQ(read_png_images({}, 5, 7, 1).n, 0);
}

TEST(Png, RgbRoundTripKeepsChannelPlanes) {
  const Bytes rgb = pattern(3 * 4 * 6, 13);  // [3][4][6]
  const ImageSet set = decode_png(encode_png(rgb.data(), 4, 6, 3), "mem", 4, 6, 3);
  EXPECT_EQ(set.channels, 3);
  EXPECT_EQ(set.pixels, rgb);
  EXPECT_EQ(set.names, std::vector<std::string>({"mem"}));
}

TEST(Png, GreyToRgbRepeatsTheValue) {
  const Bytes grey = pattern(3 * 5, 17);
  const ImageSet set = decode_png(encode_png(grey.data(), 3, 5, 1), "g", 3, 5, 3);
  ASSERT_EQ(set.pixels.size(), 45u);
  for (int c = 0; c < 3; ++c) EXPECT_EQ(Bytes(set.pixels.begin() + c * 15, set.pixels.begin() + (c + 1) * 15), grey);
}

TEST(Png, RgbToGreyIsLuminance) {
  // One row of pixels: black, white, grey 100, red, green, blue.
  const Bytes r{0, 255, 100, 255, 0, 0}, g{0, 255, 100, 0, 255, 0}, b{0, 255, 100, 0, 0, 255};
  Bytes planes = r;
  planes.insert(planes.end(), g.begin(), g.end());
  planes.insert(planes.end(), b.begin(), b.end());
  const ImageSet set = decode_png(encode_png(planes.data(), 1, 6, 3), "rgb", 1, 6, 1);
  ASSERT_EQ(set.pixels.size(), 6u);
  EXPECT_EQ(set.pixels[0], 0);
  EXPECT_EQ(set.pixels[1], 255);
  EXPECT_NEAR(set.pixels[2], 100, 1);
  // Luminance on linear light: 0.2126, 0.7152 and 0.0722 of full, sRGB-encoded.
  EXPECT_NEAR(set.pixels[3], 127, 2);
  EXPECT_NEAR(set.pixels[4], 220, 2);
  EXPECT_NEAR(set.pixels[5], 76, 2);
}

// PNG bytes written by libpng straight from interleaved samples (formats encode_png never writes).
Bytes libpng_encode(uint32_t format, uint32_t width, uint32_t height, const void* samples, const void* colormap = nullptr,
                    uint32_t colormap_entries = 0) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = width;
  image.height = height;
  image.format = format;
  image.colormap_entries = colormap_entries;
  png_alloc_size_t size = 0;
  EXPECT_TRUE(png_image_write_get_memory_size(image, size, 0, samples, 0, colormap)) << image.message;
  Bytes out(size);
  EXPECT_TRUE(png_image_write_to_memory(&image, out.data(), &size, 0, samples, 0, colormap)) << image.message;
  out.resize(size);
  return out;
}

TEST(Png, AlphaIsCompositedOverBlack) {
  // Grey + alpha: white opaque, white transparent, white half transparent.
  const Bytes ga{255, 255, 255, 0, 255, 128};
  const ImageSet grey = decode_png(libpng_encode(PNG_FORMAT_GA, 3, 1, ga.data()), "ga", 1, 3, 1);
  EXPECT_EQ(grey.pixels[0], 255);
  EXPECT_EQ(grey.pixels[1], 0);
  EXPECT_GT(grey.pixels[2], 100);  // half of white on black (in linear light: brighter than 128)
  EXPECT_LT(grey.pixels[2], 255);
  // RGBA red, transparent green.
  const Bytes rgba{255, 0, 0, 255, 0, 255, 0, 0};
  const ImageSet rgb = decode_png(libpng_encode(PNG_FORMAT_RGBA, 2, 1, rgba.data()), "rgba", 1, 2, 3);
  EXPECT_EQ(rgb.pixels, Bytes({255, 0, 0, 0, 0, 0}));
}

TEST(Png, SixteenBitAndPaletteImages) {
  // 16-bit linear grey: 0 and full scale stay black and white.
  const std::vector<uint16_t> deep{0, 65535};
  const ImageSet grey = decode_png(libpng_encode(PNG_FORMAT_LINEAR_Y, 2, 1, deep.data()), "deep", 1, 2, 1);
  EXPECT_EQ(grey.pixels, Bytes({0, 255}));
  // A palette of three colours, indices 2, 0, 1.
  const Bytes palette{10, 20, 30, 40, 50, 60, 70, 80, 90}, indices{2, 0, 1};
  const Bytes png = libpng_encode(PNG_FORMAT_RGB_COLORMAP, 3, 1, indices.data(), palette.data(), 3);
  const ImageSet rgb = decode_png(png, "palette", 1, 3, 3);
  EXPECT_EQ(rgb.pixels, Bytes({70, 10, 40, 80, 20, 50, 90, 30, 60}));
}

TEST(Png, NotAPng) {
  ScratchDir dir;
  const std::string path = dir.file("x.png");
  write_text(path, "this is a text file\n");
  const std::string msg = error_of([&] { read_png_images({path}, 28, 28, 1); });
  EXPECT_MENTIONS(msg, path + ": is not a PNG file");
  EXPECT_MENTIONS(msg, "give PNG images");
  EXPECT_MENTIONS(error_of([] { decode_png(Bytes{}, "empty", 28, 28, 1); }), "is not a PNG file");
}

TEST(Png, DamagedPng) {
  const Bytes grey = pattern(28 * 28, 5);
  Bytes png = encode_png(grey.data(), 28, 28, 1);
  png.resize(png.size() / 2);
  EXPECT_MENTIONS(error_of([&] { decode_png(png, "half.png", 28, 28, 1); }), "half.png: cannot decode the PNG data");
  png.resize(20);  // inside the header chunk
  EXPECT_MENTIONS(error_of([&] { decode_png(png, "head.png", 28, 28, 1); }), "head.png: cannot read the PNG header");
}

TEST(Png, WrongSize) {
  ScratchDir dir;
  const std::string path = dir.file("big.png");
  const Bytes grey = pattern(30 * 32, 9);
  write_png(path, grey.data(), 30, 32, 1);
  const std::string msg = error_of([&] { read_png_images({path}, 28, 28, 1); });
  EXPECT_MENTIONS(msg, path);
  EXPECT_MENTIONS(msg, "is 30 x 32 pixels (rows x cols)");
  EXPECT_MENTIONS(msg, "the model takes 28 x 28");
  EXPECT_MENTIONS(msg, "resize");
}

TEST(Png, MissingFileAndBadArguments) {
  const std::string msg = error_of([] { read_png_images({"/nonexistent/a.png"}, 28, 28, 1); });
  EXPECT_MENTIONS(msg, "/nonexistent/a.png: cannot open");
  const Bytes grey(4);
  EXPECT_MENTIONS(error_of([&] { decode_png(encode_png(grey.data(), 2, 2, 1), "x", 2, 2, 2); }), "2 channels");
  EXPECT_MENTIONS(error_of([&] { encode_png(grey.data(), 0, 2, 1); }), "not possible");
  ScratchDir dir;
  EXPECT_MENTIONS(error_of([&] { write_png(dir.file("no/such/dir.png"), grey.data(), 2, 2, 1); }), "cannot create");
}

// ---- Image orders ----

ImageSet labelled(const std::vector<int32_t>& labels) {
  ImageSet set;
  set.n = static_cast<int64_t>(labels.size());
  set.labels = labels;
  return set;
}

bool is_permutation_of_n(const std::vector<int64_t>& order, int64_t n) {
  std::vector<int64_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < static_cast<int64_t>(sorted.size()); ++i)
    if (sorted[i] != i) return false;
  return static_cast<int64_t>(sorted.size()) == n;
}

TEST(ImageOrder, ParseAndText) {
  for (const char* text : {"file", "shuffled", "runs:1", "runs:8", "runs:1000"})
    EXPECT_EQ(parse_image_order(text).text(), text);
  EXPECT_EQ(parse_image_order("runs:8").kind, ImageOrder::RUNS);
  EXPECT_EQ(parse_image_order("runs:8").run_length, 8);
  EXPECT_EQ(parse_image_order("shuffled").kind, ImageOrder::SHUFFLED);
  EXPECT_EQ(ImageOrder{}.text(), "file");
  for (const char* bad : {"", "random", "Shuffled", "runs", "runs:", "runs:0", "runs:-2", "runs:3x", "runs: 3"}) {
    SCOPED_TRACE(bad);
    const std::string msg = error_of([&] { parse_image_order(bad); });
    EXPECT_MENTIONS(msg, "[image order]");
    std::string quoted = "'";  // built piece by piece: "'" + s + "'" trips g++ 12's -Wrestrict (a false alarm)
    quoted += bad;
    quoted += '\'';
    EXPECT_MENTIONS(msg, quoted);
    EXPECT_MENTIONS(msg, "file (as stored), shuffled");
    EXPECT_MENTIONS(msg, "runs:N");
  }
}

TEST(ImageOrder, FileAndShuffled) {
  const ImageSet set = labelled(std::vector<int32_t>(100, 0));
  const auto file = order_images(set, parse_image_order("file"), 1);
  EXPECT_TRUE(is_permutation_of_n(file, 100));
  EXPECT_TRUE(std::is_sorted(file.begin(), file.end()));
  const ImageOrder shuffled = parse_image_order("shuffled");
  const auto a = order_images(set, shuffled, 1);
  EXPECT_TRUE(is_permutation_of_n(a, 100));
  EXPECT_NE(a, file);
  EXPECT_EQ(a, order_images(set, shuffled, 1));  // deterministic per seed
  EXPECT_NE(a, order_images(set, shuffled, 2));
  EXPECT_TRUE(order_images(ImageSet{}, shuffled, 1).empty());
  // Needs no labels.
  ImageSet unlabelled;
  unlabelled.n = 10;
  EXPECT_TRUE(is_permutation_of_n(order_images(unlabelled, shuffled, 3), 10));
}

// Splits an order into maximal stretches of one class: (class, length).
std::vector<std::pair<int32_t, int64_t>> stretches(const ImageSet& set, const std::vector<int64_t>& order) {
  std::vector<std::pair<int32_t, int64_t>> out;
  for (int64_t i : order) {
    if (out.empty() || out.back().first != set.labels[i]) out.push_back({set.labels[i], 0});
    ++out.back().second;
  }
  return out;
}

TEST(ImageOrder, RunsOfOneClass) {
  // 10 classes of 23 images each, interleaved in the file: runs:5 makes runs 5, 5, 5, 5, 3.
  std::vector<int32_t> labels;
  for (int i = 0; i < 230; ++i) labels.push_back(i % 10);
  const ImageSet set = labelled(labels);
  const ImageOrder runs = parse_image_order("runs:5");
  for (uint64_t seed : {1, 2, 3, 42}) {
    SCOPED_TRACE(seed);
    const auto order = order_images(set, runs, seed);
    ASSERT_TRUE(is_permutation_of_n(order, 230));
    const auto parts = stretches(set, order);
    ASSERT_EQ(parts.size(), 50u);  // no class twice in a row, so every stretch is one run
    std::map<int32_t, std::vector<int64_t>> lengths;
    for (auto [label, length] : parts) lengths[label].push_back(length);
    for (auto& [label, l] : lengths) EXPECT_EQ(l, std::vector<int64_t>({5, 5, 5, 5, 3})) << "class " << label;
    EXPECT_EQ(order, order_images(set, runs, seed));
  }
  EXPECT_NE(order_images(set, runs, 1), order_images(set, runs, 2));
  // One run per class when N covers each class; every class's images together.
  EXPECT_EQ(stretches(set, order_images(set, parse_image_order("runs:100"), 5)).size(), 10u);
}

TEST(ImageOrder, RunsAvoidRepeatsWhenTheyCan) {
  // Runs of one image: class 0 has three, classes 1 and 2 one each. Only 0 x 0 y 0 avoids
  // repeats; drawing classes without looking ahead often ends in 0 0.
  const ImageSet avoidable = labelled({0, 0, 0, 1, 2});
  for (uint64_t seed = 0; seed < 200; ++seed) {
    const auto order = order_images(avoidable, parse_image_order("runs:1"), seed);
    ASSERT_TRUE(is_permutation_of_n(order, 5));
    EXPECT_EQ(stretches(avoidable, order).size(), 5u) << "seed " << seed;
  }
  // Class 0 has five runs, class 1 one: repeats are unavoidable; the fewest (three) put the 1
  // between 0s, as in 0 1 0 0 0 0: three stretches, where 1 0 0 0 0 0 would make two.
  const ImageSet dominated = labelled({0, 0, 0, 0, 0, 1});
  for (uint64_t seed = 0; seed < 50; ++seed) {
    const auto order = order_images(dominated, parse_image_order("runs:1"), seed);
    ASSERT_TRUE(is_permutation_of_n(order, 6));
    EXPECT_EQ(stretches(dominated, order).size(), 3u) << "seed " << seed;
  }
}

TEST(ImageOrder, RunsNeedLabels) {
  ImageSet set;
  set.n = 10;
  const std::string msg = error_of([&] { order_images(set, parse_image_order("runs:4"), 1); });
  EXPECT_MENTIONS(msg, "runs:4");
  EXPECT_MENTIONS(msg, "no labels");
  EXPECT_MENTIONS(msg, "labels-idx1-ubyte");
  set.labels = {1, 2};
  EXPECT_MENTIONS(error_of([&] { order_images(set, parse_image_order("runs:4"), 1); }), "10 images but 2 labels");
  EXPECT_MENTIONS(error_of([&] { order_images(set, ImageOrder{ImageOrder::RUNS, 0}, 1); }), "at least 1");
}

// ---- The real data set, when installed (Debian package dataset-fashion-mnist) ----

TEST(FashionMnist, TestSetIsTenThousandBalancedImages) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  const std::string images = dir + "/t10k-images-idx3-ubyte.gz";
  if (!std::filesystem::exists(images)) GTEST_SKIP() << images << " is not installed (package dataset-fashion-mnist)";
  const std::string labels = idx_labels_path_for(images);
  EXPECT_EQ(labels, dir + "/t10k-labels-idx1-ubyte.gz");
  const ImageSet set = read_idx(images, labels);
  EXPECT_EQ(set.n, 10000);
  EXPECT_EQ(set.rows, 28);
  EXPECT_EQ(set.cols, 28);
  EXPECT_EQ(set.channels, 1);
  EXPECT_EQ(set.pixels.size(), 10000u * 28 * 28);
  ASSERT_EQ(set.labels.size(), 10000u);
  std::vector<int> histogram(10, 0);
  for (int32_t label : set.labels) {
    ASSERT_GE(label, 0);
    ASSERT_LE(label, 9);
    ++histogram[label];
  }
  EXPECT_EQ(histogram, std::vector<int>(10, 1000));
  EXPECT_GT(*std::max_element(set.pixels.begin(), set.pixels.end()), 200);  // not all black
  EXPECT_EQ(set.names[9999], images + "#9999");
}

}  // namespace
}  // namespace swapmoe
