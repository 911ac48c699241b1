// The IDX format, as the MNIST and Fashion-MNIST files are shipped (e.g.
// /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz): a big-endian header, magic
// 00 00 08 <dims> (unsigned bytes, <dims> dimensions), one u32 size per dimension, then the data.
// Files may be gzip-compressed or not: told apart by the gzip magic, not by the file name.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "vision/image_set.h"

namespace swapmoe {

// Largest pixel (or label) payload accepted, checked against the header before anything is
// allocated: a corrupt header must not make us allocate terabytes.
inline constexpr uint64_t kMaxIdxPayloadBytes = uint64_t{1} << 31;

// idx3-ubyte: magic 0x00000803, n, rows, cols. Grey images (channels 1), no labels; names
// "path#i" with i counted from 0.
ImageSet read_idx_images(const std::string& path);
// idx1-ubyte: magic 0x00000801, n; one label 0..255 per entry.
std::vector<int32_t> read_idx_labels(const std::string& path);

// The labels file that belongs to an images file by the MNIST naming ("X-images-idx3-ubyte[.gz]"
// -> "X-labels-idx1-ubyte[.gz]", also "X-images.idx3-ubyte" style), if such a file exists (with
// the images' compression suffix first, then the other); "" otherwise.
std::string idx_labels_path_for(const std::string& images_path);

// Reads images and, if labels_path is non-empty, the labels (their count must match the images).
ImageSet read_idx(const std::string& images_path, const std::string& labels_path);

// The same parsing from memory (an HTTP body), gzip or not; `name` stands for the path in
// messages and in the images' names.
ImageSet parse_idx_images(std::span<const uint8_t> bytes, const std::string& name);
std::vector<int32_t> parse_idx_labels(std::span<const uint8_t> bytes, const std::string& name);

}  // namespace swapmoe
