#include "shrink/core/tensor.h"

#include "shrink/core/error.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>

namespace shrink {

namespace detail {
void throw_dtype_mismatch(DType have, DType want) {
  throw Error(std::string("tensor has dtype ") + dtype_name(have) + ", accessed as " +
              dtype_name(want));
}
void throw_size_mismatch(size_t have, int64_t want) {
  throw Error("tensor of " + std::to_string(want) + " elements built from " + std::to_string(have) +
              " values");
}
} // namespace detail

namespace {
constexpr size_t kAlign = 64;

std::shared_ptr<void> allocate(size_t bytes) {
  size_t rounded = std::max<size_t>(kAlign, (bytes + kAlign - 1) / kAlign * kAlign);
  void* p = std::aligned_alloc(kAlign, rounded);
  if (!p) throw Error("out of memory allocating a tensor of " + std::to_string(bytes) + " bytes");
  std::memset(p, 0, rounded);
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

// splitmix64: portable and deterministic across compilers, unlike std distributions.
uint64_t splitmix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double read_as_double(const void* base, DType d, int64_t i) {
  switch (d) {
  case DType::f32:
    return static_cast<const float*>(base)[i];
  case DType::f16:
    return half_to_float(static_cast<const uint16_t*>(base)[i]);
  case DType::bf16:
    return bf16_to_float(static_cast<const uint16_t*>(base)[i]);
  case DType::i8:
    return static_cast<const int8_t*>(base)[i];
  case DType::u8:
    return static_cast<const uint8_t*>(base)[i];
  case DType::i32:
    return static_cast<const int32_t*>(base)[i];
  case DType::i64:
    return static_cast<double>(static_cast<const int64_t*>(base)[i]);
  case DType::boolean:
    return static_cast<const bool*>(base)[i] ? 1.0 : 0.0;
  }
  return 0;
}

template <typename T> T saturate(double v) {
  if (std::isnan(v)) return 0;
  v = std::trunc(v);
  if (v <= static_cast<double>(std::numeric_limits<T>::lowest()))
    return std::numeric_limits<T>::lowest();
  if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

void write_from_double(void* base, DType d, int64_t i, double v) {
  switch (d) {
  case DType::f32:
    static_cast<float*>(base)[i] = static_cast<float>(v);
    break;
  case DType::f16:
    static_cast<uint16_t*>(base)[i] = float_to_half(static_cast<float>(v));
    break;
  case DType::bf16:
    static_cast<uint16_t*>(base)[i] = float_to_bf16(static_cast<float>(v));
    break;
  case DType::i8:
    static_cast<int8_t*>(base)[i] = saturate<int8_t>(v);
    break;
  case DType::u8:
    static_cast<uint8_t*>(base)[i] = saturate<uint8_t>(v);
    break;
  case DType::i32:
    static_cast<int32_t*>(base)[i] = saturate<int32_t>(v);
    break;
  case DType::i64:
    static_cast<int64_t*>(base)[i] = saturate<int64_t>(v);
    break;
  case DType::boolean:
    static_cast<bool*>(base)[i] = v != 0.0;
    break;
  }
}
} // namespace

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw Error("negative dimension in shape " + shape_str(shape));
    n *= d;
  }
  return n;
}

std::string shape_str(const Shape& shape) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < shape.size(); ++i)
    out << (i ? "," : "") << shape[i];
  out << "]";
  return out.str();
}

Tensor::Tensor() : Tensor(DType::f32, Shape{0}) {}

Tensor::Tensor(DType dtype, Shape shape)
    : dtype_(dtype), shape_(std::move(shape)), numel_(shape_numel(shape_)),
      storage_(allocate(nbytes())) {}

Tensor Tensor::scalar(float value) {
  Tensor t(DType::f32, Shape{});
  t.data_mutable<float>()[0] = value;
  return t;
}

Tensor Tensor::random(const Shape& shape, uint64_t seed, DType dtype) {
  Tensor f(DType::f32, shape);
  float* p = f.data_mutable<float>();
  uint64_t state = seed * 0x2545f4914f6cdd1dull + 1;
  for (int64_t i = 0; i < f.numel(); ++i) {
    // 24 random bits -> exactly representable floats in [-1, 1).
    uint64_t r = splitmix(state) >> 40;
    p[i] = static_cast<float>(static_cast<double>(r) / 8388608.0 - 1.0);
  }
  return dtype == DType::f32 ? f : f.cast(dtype);
}

int64_t Tensor::dim(int i) const {
  int r = rank();
  int j = i < 0 ? i + r : i;
  if (j < 0 || j >= r)
    throw Error("dimension " + std::to_string(i) + " out of range for a tensor of rank " +
                std::to_string(r));
  return shape_[j];
}

const void* Tensor::raw() const {
  return storage_.get();
}
void* Tensor::raw_mutable() {
  return storage_.get();
}

Tensor Tensor::clone() const {
  Tensor t(dtype_, shape_);
  std::memcpy(t.raw_mutable(), raw(), nbytes());
  t.quant_ = quant_;
  return t;
}

Tensor Tensor::reshaped(const Shape& shape) const {
  if (shape_numel(shape) != numel_)
    throw Error("cannot reshape a tensor of shape " + shape_str(shape_) + " to " +
                shape_str(shape));
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::cast(DType to) const {
  if (to == dtype_) return clone();
  Tensor t(to, shape_);
  for (int64_t i = 0; i < numel_; ++i)
    write_from_double(t.raw_mutable(), to, i, read_as_double(raw(), dtype_, i));
  return t;
}

std::vector<double> Tensor::to_doubles() const {
  std::vector<double> v(static_cast<size_t>(numel_));
  for (int64_t i = 0; i < numel_; ++i)
    v[i] = read_as_double(raw(), dtype_, i);
  return v;
}

double Tensor::at(int64_t i) const {
  if (i < 0 || i >= numel_)
    throw Error("index " + std::to_string(i) + " out of range for a tensor of " +
                std::to_string(numel_) + " elements");
  return read_as_double(raw(), dtype_, i);
}

uint64_t Tensor::content_hash() const {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](const void* p, size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) {
      h ^= b[i];
      h *= 1099511628211ull;
    }
  };
  auto d = static_cast<uint8_t>(dtype_);
  mix(&d, 1);
  for (int64_t s : shape_)
    mix(&s, sizeof(s));
  mix(raw(), nbytes());
  return h;
}

bool Tensor::equals(const Tensor& o) const {
  return dtype_ == o.dtype_ && shape_ == o.shape_ && std::memcmp(raw(), o.raw(), nbytes()) == 0;
}

double max_relative_error(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape())
    throw Error("max_relative_error: shapes " + shape_str(a.shape()) + " and " +
                shape_str(b.shape()) + " differ");
  auto va = a.to_doubles(), vb = b.to_doubles();
  double max_diff = 0, max_ref = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    if (std::isnan(va[i]) != std::isnan(vb[i])) return std::numeric_limits<double>::infinity();
    if (std::isnan(va[i])) continue;
    max_diff = std::max(max_diff, std::abs(va[i] - vb[i]));
    max_ref = std::max(max_ref, std::abs(vb[i]));
  }
  return max_diff / std::max(max_ref, 1e-12);
}

double sqnr_db(const Tensor& reference, const Tensor& test) {
  if (reference.shape() != test.shape())
    throw Error("sqnr_db: shapes " + shape_str(reference.shape()) + " and " +
                shape_str(test.shape()) + " differ");
  auto r = reference.to_doubles(), t = test.to_doubles();
  double signal = 0, noise = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    signal += r[i] * r[i];
    noise += (r[i] - t[i]) * (r[i] - t[i]);
  }
  if (noise == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(signal / noise);
}

} // namespace shrink
