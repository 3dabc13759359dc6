#include "shrink/io/datasets.h"

#include "shrink/core/error.h"
#include "shrink/io/npy.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <random>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_set>

namespace shrink {

namespace {

// ---- shared helpers ------------------------------------------------------------------------

// Clips [start, start + count) to [0, size); a start outside the source is a caller bug worth a
// clear message rather than an empty batch.
int64_t clip_count(int64_t start, int64_t count, int64_t size, const std::string& what) {
  if (start < 0 || start > size || count < 0)
    throw Error("batch(" + std::to_string(start) + ", " + std::to_string(count) + ") is outside " +
                what + ": start must be in [0, " + std::to_string(size) + "] and count >= 0");
  return std::min(count, size - start);
}

Tensor slice_rows(const Tensor& t, int64_t start, int64_t count) {
  Shape shape = t.shape();
  shape[0] = count;
  Tensor out(t.dtype(), shape);
  size_t row_bytes = t.dim(0) ? t.nbytes() / static_cast<size_t>(t.dim(0)) : 0;
  if (count && row_bytes)
    std::memcpy(out.raw_mutable(), static_cast<const char*>(t.raw()) + start * row_bytes,
                count * row_bytes);
  return out;
}

Tensor concat_rows(const std::vector<const Tensor*>& parts, const std::string& what) {
  const Tensor& first = *parts.front();
  if (parts.size() == 1) return first;
  Shape shape = first.shape();
  int64_t rows = 0;
  for (const Tensor* p : parts) {
    Shape a(p->shape().begin() + 1, p->shape().end());
    Shape b(first.shape().begin() + 1, first.shape().end());
    if (p->dtype() != first.dtype() || p->rank() != first.rank() || a != b)
      throw Error("cannot concatenate batches: " + what + " is " + dtype_name(p->dtype()) +
                  shape_str(p->shape()) + " in one batch and " + dtype_name(first.dtype()) +
                  shape_str(first.shape()) + " in another (the samples must agree)");
    rows += p->dim(0);
  }
  shape[0] = rows;
  Tensor out(first.dtype(), shape);
  char* dst = static_cast<char*>(out.raw_mutable());
  for (const Tensor* p : parts) {
    if (p->nbytes()) std::memcpy(dst, p->raw(), p->nbytes());
    dst += p->nbytes();
  }
  return out;
}

std::string count_str(int64_t n, const char* unit) {
  return std::to_string(n) + " " + unit + (n == 1 ? "" : "s");
}

// ---- IDX -----------------------------------------------------------------------------------

constexpr uint8_t kIdxUnsignedByte = 0x08;

// One IDX array: the decoded header and a pointer to the payload inside bytes that `owner`
// keeps alive (a memory mapping or a decompressed buffer).
struct IdxArray {
  std::shared_ptr<const void> owner;
  const uint8_t* data = nullptr;
  Shape dims;
};

[[noreturn]] void idx_fail(const std::string& path, const std::string& what) {
  throw Error("'" + path + "' is not a valid IDX file: " + what);
}

std::string hex(uint32_t v, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%0*X", digits, v);
  return buf;
}

const char* idx_type_name(uint8_t code) {
  switch (code) {
  case 0x08:
    return "unsigned byte";
  case 0x09:
    return "signed byte";
  case 0x0B:
    return "short";
  case 0x0C:
    return "int";
  case 0x0D:
    return "float";
  case 0x0E:
    return "double";
  default:
    return "unknown";
  }
}

uint32_t read_be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// Checks the 4-byte magic and returns the rank.
int check_idx_magic(const uint8_t* magic, int want_rank, const std::string& path) {
  if (magic[0] != 0 || magic[1] != 0)
    idx_fail(path, "bad magic number " + hex(read_be32(magic), 8) +
                       " (an IDX file starts with two zero bytes, the element type and the rank)");
  if (magic[2] != kIdxUnsignedByte)
    idx_fail(path, "element type " + hex(magic[2], 2) + " (" + idx_type_name(magic[2]) +
                       ") is not supported; image and label files hold unsigned bytes (0x08)");
  if (magic[3] != want_rank)
    idx_fail(path, "it has rank " + std::to_string(magic[3]) + ", expected " +
                       std::to_string(want_rank) +
                       (want_rank == 3 ? " (count x rows x cols images)" : " (count labels)"));
  return magic[3];
}

// Product of the dimensions; every dimension is < 2^32 and the rank at most 3, so this cannot
// overflow int64.
int64_t payload_size(const Shape& dims) {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

Shape parse_dims(const uint8_t* p, int rank, const std::string& path) {
  Shape dims;
  for (int i = 0; i < rank; ++i) {
    dims.push_back(read_be32(p + 4 * i));
    if (dims.back() == 0 && i > 0) idx_fail(path, "dimension " + std::to_string(i) + " is zero");
  }
  return dims;
}

IdxArray map_idx(const std::string& path, int rank) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot open IDX file '" + path + "': " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw Error("cannot read IDX file '" + path + "': " + std::strerror(err));
  }
  size_t size = static_cast<size_t>(st.st_size);
  size_t header = 4 + 4 * static_cast<size_t>(rank);
  if (size < 4) {
    ::close(fd);
    idx_fail(path, "the file is truncated (" + std::to_string(size) + " bytes)");
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  ::close(fd);
  if (map == MAP_FAILED) throw Error("cannot map IDX file '" + path + "': " + std::strerror(err));
  std::shared_ptr<const void> owner(
      map, [size](const void* p) { ::munmap(const_cast<void*>(p), size); });
  const uint8_t* bytes = static_cast<const uint8_t*>(map);
  check_idx_magic(bytes, rank, path);
  if (size < header)
    idx_fail(path, "the header is truncated (" + std::to_string(size) + " bytes, need " +
                       std::to_string(header) + ")");
  IdxArray a;
  a.dims = parse_dims(bytes + 4, rank, path);
  int64_t need = payload_size(a.dims);
  int64_t have = static_cast<int64_t>(size - header);
  if (have < need)
    idx_fail(path, "the data is truncated: the header says " + shape_str(a.dims) + " (" +
                       std::to_string(need) + " bytes), the file has " + std::to_string(have));
  if (have > need)
    idx_fail(path, "it has " + std::to_string(have - need) + " bytes after the " +
                       shape_str(a.dims) + " data the header describes");
  a.owner = std::move(owner);
  a.data = bytes + header;
  return a;
}

// Reads exactly `n` bytes; returns how many were available.
size_t gz_read_fully(gzFile f, void* dst, size_t n, const std::string& path) {
  size_t done = 0;
  while (done < n) {
    unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
    int got = gzread(f, static_cast<char*>(dst) + done, chunk);
    if (got < 0) {
      int code = 0;
      const char* msg = gzerror(f, &code);
      idx_fail(path, std::string("the gzip data is corrupt or truncated: ") +
                         (msg ? msg : "unknown zlib error"));
    }
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  return done;
}

IdxArray read_gz_idx(const std::string& path, int rank) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw Error("cannot open IDX file '" + path + "': " + std::strerror(errno));
  std::unique_ptr<gzFile_s, int (*)(gzFile)> guard(f, gzclose);
  gzbuffer(f, 1 << 17);
  // The header is decompressed first so that the payload size is known (and bounded by the
  // dimensions) before anything large is allocated.
  uint8_t head[16];
  size_t header = 4 + 4 * static_cast<size_t>(rank);
  size_t got = gz_read_fully(f, head, 4, path);
  if (got < 4)
    idx_fail(path, "the file is truncated (" + std::to_string(got) + " bytes after decompression)");
  check_idx_magic(head, rank, path);
  got = gz_read_fully(f, head + 4, header - 4, path);
  if (got < header - 4)
    idx_fail(path, "the header is truncated (" + std::to_string(4 + got) + " bytes, need " +
                       std::to_string(header) + ")");
  IdxArray a;
  a.dims = parse_dims(head + 4, rank, path);
  int64_t need = payload_size(a.dims);
  // The buffer grows as data arrives, so a corrupt header that claims billions of images in a
  // small file fails as truncated instead of allocating what it claims.
  auto buffer = std::make_shared<std::vector<uint8_t>>();
  constexpr size_t kChunk = size_t{16} << 20;
  got = 0;
  while (static_cast<int64_t>(got) < need) {
    size_t want = std::min(kChunk, static_cast<size_t>(need) - got);
    buffer->resize(got + want);
    size_t n = gz_read_fully(f, buffer->data() + got, want, path);
    got += n;
    if (n < want) break;
  }
  if (static_cast<int64_t>(got) < need)
    idx_fail(path, "the data is truncated: the header says " + shape_str(a.dims) + " (" +
                       std::to_string(need) + " bytes), the file has " + std::to_string(got));
  uint8_t extra;
  if (gz_read_fully(f, &extra, 1, path) != 0)
    idx_fail(path, "it has bytes after the " + shape_str(a.dims) + " data the header describes");
  int code = 0;
  gzerror(f, &code);
  // Z_BUF_ERROR: the compressed stream ended early; the payload may still be complete when
  // only the gzip trailer is missing, but the file is damaged either way.
  if (code == Z_BUF_ERROR) idx_fail(path, "the gzip stream is truncated");
  a.data = buffer->data();
  a.owner = std::move(buffer);
  return a;
}

bool is_gzip(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw Error("cannot open IDX file '" + path + "': " + std::strerror(errno));
  unsigned char m[2] = {0, 0};
  size_t n = std::fread(m, 1, 2, f);
  std::fclose(f);
  return n == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

IdxArray open_idx(const std::string& path, int rank) {
  return is_gzip(path) ? read_gz_idx(path, rank) : map_idx(path, rank);
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// "<dir>/<name>" or "<dir>/<name>.gz", whichever exists; empty when neither does.
std::string find_idx(const std::string& dir, const std::string& name) {
  std::string base = dir + "/" + name;
  if (file_exists(base)) return base;
  if (file_exists(base + ".gz")) return base + ".gz";
  return "";
}

} // namespace

// ---- IdxDataSource -------------------------------------------------------------------------

struct IdxDataSource::Impl {
  IdxArray images;
  std::optional<IdxArray> labels;
  int64_t count = 0;
  std::string name;
};

IdxDataSource::IdxDataSource(const std::string& images_path, const std::string& labels_path,
                             std::string name, int64_t limit) {
  auto impl = std::make_shared<Impl>();
  impl->images = open_idx(images_path, 3);
  impl->count = impl->images.dims[0];
  if (!labels_path.empty()) {
    impl->labels = open_idx(labels_path, 1);
    if (impl->labels->dims[0] != impl->count)
      throw Error("IDX files do not match: '" + images_path + "' holds " +
                  count_str(impl->count, "image") + " but '" + labels_path + "' holds " +
                  count_str(impl->labels->dims[0], "label"));
  }
  if (limit >= 0) impl->count = std::min(impl->count, limit);
  impl->name = name.empty() ? images_path : std::move(name);
  impl_ = std::move(impl);
}

IdxDataSource::~IdxDataSource() = default;

int64_t IdxDataSource::size() const {
  return impl_->count;
}

bool IdxDataSource::has_labels() const {
  return impl_->labels.has_value();
}

Shape IdxDataSource::sample_shape() const {
  return {1, impl_->images.dims[1], impl_->images.dims[2]};
}

std::string IdxDataSource::describe() const {
  return impl_->name + " (" + count_str(impl_->count, "sample") + ")";
}

Batch IdxDataSource::batch(int64_t start, int64_t count) const {
  int64_t n = clip_count(start, count, impl_->count, describe());
  int64_t rows = impl_->images.dims[1], cols = impl_->images.dims[2];
  int64_t pixels = rows * cols;
  Batch b;
  Tensor images(DType::f32, {n, 1, rows, cols});
  float* dst = images.data_mutable<float>();
  const uint8_t* src = impl_->images.data + start * pixels;
  // Division (not multiplication by 1/255) gives the same floats as torchvision's ToTensor; the
  // table makes it one load per pixel.
  static const std::array<float, 256> kScale = [] {
    std::array<float, 256> t{};
    for (int v = 0; v < 256; ++v)
      t[v] = static_cast<float>(v) / 255.0f;
    return t;
  }();
  for (int64_t i = 0; i < n * pixels; ++i)
    dst[i] = kScale[src[i]];
  b.inputs.push_back(std::move(images));
  if (impl_->labels) {
    Tensor labels(DType::i64, {n});
    int64_t* l = labels.data_mutable<int64_t>();
    for (int64_t i = 0; i < n; ++i)
      l[i] = impl_->labels->data[start + i];
    b.labels = std::move(labels);
  }
  return b;
}

std::string fashion_mnist_dir() {
  const char* env = std::getenv("SHRINK_DATA_DIR");
  return env && *env ? std::string(env) : std::string("/usr/share/datasets/fashion-mnist");
}

std::shared_ptr<IdxDataSource> fashion_mnist(const std::string& split, int64_t limit,
                                             const std::string& dir) {
  std::string prefix;
  if (split == "train")
    prefix = "train";
  else if (split == "test")
    prefix = "t10k";
  else {
    std::string hint = closest_name(split, {"train", "test"});
    throw Error("unknown Fashion-MNIST split '" + split + "': use 'train' or 'test'" +
                (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
  }
  std::string folder = dir.empty() ? fashion_mnist_dir() : dir;
  std::string images = find_idx(folder, prefix + "-images-idx3-ubyte");
  std::string labels = find_idx(folder, prefix + "-labels-idx1-ubyte");
  if (images.empty() || labels.empty()) {
    std::string missing =
        images.empty() ? prefix + "-images-idx3-ubyte[.gz]" : prefix + "-labels-idx1-ubyte[.gz]";
    throw Error("Fashion-MNIST not found at " + folder + " (" + missing +
                " is missing): install the Debian package dataset-fashion-mnist (apt-get "
                "install dataset-fashion-mnist), or set SHRINK_DATA_DIR to a folder with the "
                "IDX files");
  }
  return std::make_shared<IdxDataSource>(images, labels, "fashion-mnist " + split, limit);
}

// ---- TensorDataSource ----------------------------------------------------------------------

TensorDataSource::TensorDataSource(std::vector<Tensor> inputs, std::optional<Tensor> labels,
                                   std::string name)
    : inputs_(std::move(inputs)), labels_(std::move(labels)), name_(std::move(name)) {
  if (inputs_.empty()) throw Error("data source '" + name_ + "' needs at least one input tensor");
  auto check_rows = [&](const Tensor& t, const std::string& what) {
    if (t.rank() == 0)
      throw Error("data source '" + name_ + "': " + what +
                  " is a scalar; the first dimension of every tensor must be the sample");
    if (t.dim(0) != inputs_[0].dim(0))
      throw Error("data source '" + name_ + "': " + what + " " + shape_str(t.shape()) +
                  " and input 0 " + shape_str(inputs_[0].shape()) +
                  " differ in the first dimension (the number of samples)");
  };
  for (size_t i = 0; i < inputs_.size(); ++i)
    check_rows(inputs_[i], "input " + std::to_string(i));
  if (labels_) check_rows(*labels_, "labels");
  size_ = inputs_[0].dim(0);
}

Batch TensorDataSource::batch(int64_t start, int64_t count) const {
  int64_t n = clip_count(start, count, size_, describe());
  Batch b;
  for (const Tensor& t : inputs_)
    b.inputs.push_back(slice_rows(t, start, n));
  if (labels_) b.labels = slice_rows(*labels_, start, n);
  return b;
}

std::string TensorDataSource::describe() const {
  return name_ + " (" + count_str(size_, "sample") + ")";
}

// ---- NpyDataSource -------------------------------------------------------------------------

namespace {

TensorDataSource load_npy_source(const std::vector<std::string>& input_paths,
                                 const std::string& labels_path) {
  if (input_paths.empty()) throw Error("an .npy data source needs at least one input file");
  std::vector<Tensor> inputs;
  for (const std::string& p : input_paths) {
    inputs.push_back(load_npy(p));
    if (inputs.back().rank() == 0)
      throw Error("'" + p +
                  "' holds a scalar; an .npy data source needs the samples along the "
                  "first dimension");
  }
  std::optional<Tensor> labels;
  if (!labels_path.empty()) labels = load_npy(labels_path);
  auto rows = [](const Tensor& t) { return t.rank() ? t.dim(0) : -1; };
  auto mismatch = [&](const std::string& p, const Tensor& t) {
    throw Error("the .npy files do not match: '" + input_paths[0] + "' holds " +
                count_str(inputs[0].dim(0), "sample") + " (shape " + shape_str(inputs[0].shape()) +
                ") but '" + p + "' has shape " + shape_str(t.shape()));
  };
  for (size_t i = 1; i < inputs.size(); ++i)
    if (rows(inputs[i]) != inputs[0].dim(0)) mismatch(input_paths[i], inputs[i]);
  if (labels && rows(*labels) != inputs[0].dim(0)) mismatch(labels_path, *labels);
  return TensorDataSource(std::move(inputs), std::move(labels), input_paths[0]);
}

} // namespace

NpyDataSource::NpyDataSource(const std::vector<std::string>& input_paths,
                             const std::string& labels_path)
    : data_(load_npy_source(input_paths, labels_path)) {}

// ---- Subsets -------------------------------------------------------------------------------

LimitedDataSource::LimitedDataSource(std::shared_ptr<const DataSource> source, int64_t limit)
    : source_(std::move(source)) {
  check(source_ != nullptr, "LimitedDataSource needs a data source, got null");
  if (limit < 0)
    throw Error("sample limit " + std::to_string(limit) + " for " + source_->describe() +
                " is negative");
  size_ = std::min(limit, source_->size());
}

Batch LimitedDataSource::batch(int64_t start, int64_t count) const {
  int64_t n = clip_count(start, count, size_, describe());
  return source_->batch(start, n);
}

std::string LimitedDataSource::describe() const {
  return "first " + std::to_string(size_) + " of " + source_->describe();
}

SubsetDataSource::SubsetDataSource(std::shared_ptr<const DataSource> source,
                                   std::vector<int64_t> indices, std::string name)
    : source_(std::move(source)), indices_(std::move(indices)), name_(std::move(name)) {
  check(source_ != nullptr, "SubsetDataSource needs a data source, got null");
  int64_t n = source_->size();
  for (size_t i = 0; i < indices_.size(); ++i)
    if (indices_[i] < 0 || indices_[i] >= n)
      throw Error("subset index " + std::to_string(indices_[i]) + " (entry " + std::to_string(i) +
                  ") is outside " + source_->describe());
}

Batch SubsetDataSource::batch(int64_t start, int64_t count) const {
  int64_t n = clip_count(start, count, size(), describe());
  std::vector<Batch> parts;
  // Runs of consecutive indices become one read of the source, so a prefix subset or a sorted
  // dense subset costs about as much as reading the source directly.
  for (int64_t i = start; i < start + n;) {
    int64_t j = i + 1;
    while (j < start + n && indices_[j] == indices_[j - 1] + 1)
      ++j;
    parts.push_back(source_->batch(indices_[i], j - i));
    i = j;
  }
  if (parts.empty()) return source_->batch(0, 0);
  return concat_batches(parts);
}

std::string SubsetDataSource::describe() const {
  return name_ + " of " + source_->describe();
}

std::shared_ptr<LimitedDataSource> first_samples(std::shared_ptr<const DataSource> source,
                                                 int64_t limit) {
  return std::make_shared<LimitedDataSource>(std::move(source), limit);
}

std::shared_ptr<SubsetDataSource> random_subset(std::shared_ptr<const DataSource> source,
                                                int64_t count, uint64_t seed) {
  check(source != nullptr, "random_subset needs a data source, got null");
  if (count < 0)
    throw Error("random subset size " + std::to_string(count) + " for " + source->describe() +
                " is negative");
  int64_t n = source->size();
  count = std::min(count, n);
  // Floyd's sampling: O(count) memory however large the source, driven directly by
  // mt19937_64, whose output sequence the standard fixes (std::uniform_int_distribution is
  // implementation-defined and would pick different samples with another standard library).
  std::mt19937_64 gen(seed);
  std::unordered_set<int64_t> chosen;
  std::vector<int64_t> all;
  all.reserve(static_cast<size_t>(count));
  for (int64_t j = n - count; j < n; ++j) {
    int64_t t = static_cast<int64_t>(gen() % static_cast<uint64_t>(j + 1));
    int64_t pick = chosen.count(t) ? j : t;
    chosen.insert(pick);
    all.push_back(pick);
  }
  std::sort(all.begin(), all.end());
  return std::make_shared<SubsetDataSource>(std::move(source), std::move(all),
                                            "random " + std::to_string(count) + " (seed " +
                                                std::to_string(seed) + ")");
}

Batch concat_batches(const std::vector<Batch>& batches) {
  check(!batches.empty(), "concat_batches needs at least one batch");
  const Batch& first = batches.front();
  Batch out;
  for (size_t i = 0; i < first.inputs.size(); ++i) {
    std::vector<const Tensor*> parts;
    for (const Batch& b : batches) {
      if (b.inputs.size() != first.inputs.size())
        throw Error("cannot concatenate batches with " + std::to_string(first.inputs.size()) +
                    " and " + std::to_string(b.inputs.size()) + " inputs");
      if (b.inputs[i].rank() == 0)
        throw Error("cannot concatenate batches: input " + std::to_string(i) + " is a scalar");
      parts.push_back(&b.inputs[i]);
    }
    out.inputs.push_back(concat_rows(parts, "input " + std::to_string(i)));
  }
  if (first.labels) {
    std::vector<const Tensor*> parts;
    for (const Batch& b : batches) {
      if (!b.labels) throw Error("cannot concatenate batches: some have labels and some do not");
      parts.push_back(&*b.labels);
    }
    out.labels = concat_rows(parts, "the labels");
  } else {
    for (const Batch& b : batches)
      if (b.labels) throw Error("cannot concatenate batches: some have labels and some do not");
  }
  return out;
}

} // namespace shrink
