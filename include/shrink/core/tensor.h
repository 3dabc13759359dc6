#pragma once
/// \file
/// A dense tensor with shared, 64-byte aligned storage.
///
/// Copying a Tensor is cheap: the copy shares the storage. Graph initializers are treated as
/// immutable; a pass that changes a weight builds a new Tensor (see `Tensor::clone`).

#include "shrink/core/dtype.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace shrink {

namespace detail {
[[noreturn]] void throw_dtype_mismatch(DType have, DType want);
[[noreturn]] void throw_size_mismatch(size_t have, int64_t want);
} // namespace detail

/// A concrete shape: every dimension known.
using Shape = std::vector<int64_t>;

/// Number of elements of a concrete shape (1 for a scalar).
int64_t shape_numel(const Shape& shape);

/// "[2,3,4]".
std::string shape_str(const Shape& shape);

/// Quantization parameters attached to a quantized tensor: per tensor (one scale) or per axis.
struct QuantParams {
  std::vector<float> scales;        ///< One per tensor, or one per index of `axis`.
  std::vector<int32_t> zero_points; ///< Same length as `scales`.
  int axis = -1;                    ///< The channel axis for per-axis parameters, -1 otherwise.
  /// True when there is one scale per index of `axis`.
  bool per_axis() const { return axis >= 0; }
};

/// A dense, row-major tensor of any `DType`.
class Tensor {
public:
  /// An empty f32 tensor (shape [0], no elements).
  Tensor();
  /// A zero-filled tensor of the given type and shape.
  Tensor(DType dtype, Shape shape);

  /// A tensor of type T filled from `values` (size must equal the shape's element count).
  template <typename T> static Tensor from_vector(const Shape& shape, const std::vector<T>& values);
  /// A 0-d f32 tensor.
  static Tensor scalar(float value);
  /// Deterministic pseudo-random f32 values, uniform in [-1, 1), from `seed`.
  static Tensor random(const Shape& shape, uint64_t seed, DType dtype = DType::f32);

  /// The element type.
  DType dtype() const { return dtype_; }
  /// The shape.
  const Shape& shape() const { return shape_; }
  /// The rank (number of dimensions).
  int rank() const { return static_cast<int>(shape_.size()); }
  /// Dimension `i`; negative `i` counts from the end.
  int64_t dim(int i) const;
  /// Number of elements.
  int64_t numel() const { return numel_; }
  /// Size of the data in bytes.
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }

  /// Raw bytes (aligned to 64).
  const void* raw() const;
  /// Raw bytes for writing. Shared storage is written for every copy: see `clone`.
  void* raw_mutable();
  /// Typed read access; throws `Error` when T does not match the dtype.
  template <typename T> const T* data() const;
  /// Typed write access; throws `Error` when T does not match the dtype.
  template <typename T> T* data_mutable();

  /// A deep copy with its own storage.
  Tensor clone() const;
  /// The same storage seen with another shape of the same element count.
  Tensor reshaped(const Shape& shape) const;
  /// The values converted to another dtype. Conversions to integer types truncate toward zero
  /// (as C++ and ONNX `Cast`) and saturate at the type's range; NaN becomes 0.
  Tensor cast(DType to) const;
  /// The values as doubles (any dtype), for tests and printing.
  std::vector<double> to_doubles() const;
  /// Element `i` (flat index) converted to double.
  double at(int64_t i) const;

  /// Optional quantization parameters.
  const std::optional<QuantParams>& quant() const { return quant_; }
  /// Sets or clears quantization parameters.
  void set_quant(std::optional<QuantParams> q) { quant_ = std::move(q); }

  /// True when both tensors share storage.
  bool shares_storage(const Tensor& other) const { return storage_ == other.storage_; }
  /// True when no other Tensor (copy, view or reshape) refers to this tensor's storage.
  bool storage_unique() const { return storage_.use_count() == 1; }
  /// A stable 64-bit hash of dtype, shape and bytes (FNV-1a), printed for elided constants.
  uint64_t content_hash() const;
  /// True when dtype, shape and every byte are equal.
  bool equals(const Tensor& other) const;

private:
  DType dtype_ = DType::f32;
  Shape shape_;
  int64_t numel_ = 0;
  std::shared_ptr<void> storage_;
  std::optional<QuantParams> quant_;
};

/// Largest relative difference max|a-b| / max(max|b|, tiny) of two tensors of equal shape.
double max_relative_error(const Tensor& a, const Tensor& b);

/// Signal-to-quantization-noise ratio 10*log10(|ref|^2 / |ref-test|^2) in dB.
double sqnr_db(const Tensor& reference, const Tensor& test);

// ---- template definitions -------------------------------------------------------------------

template <typename T> const T* Tensor::data() const {
  if (DTypeOf<T>::value != dtype_) detail::throw_dtype_mismatch(dtype_, DTypeOf<T>::value);
  return static_cast<const T*>(raw());
}

template <typename T> T* Tensor::data_mutable() {
  if (DTypeOf<T>::value != dtype_) detail::throw_dtype_mismatch(dtype_, DTypeOf<T>::value);
  return static_cast<T*>(raw_mutable());
}

template <typename T> Tensor Tensor::from_vector(const Shape& shape, const std::vector<T>& values) {
  Tensor t(DTypeOf<T>::value, shape);
  if (static_cast<int64_t>(values.size()) != t.numel())
    detail::throw_size_mismatch(values.size(), t.numel());
  T* out = t.data_mutable<T>();
  for (size_t i = 0; i < values.size(); ++i)
    out[i] = values[i];
  return t;
}

} // namespace shrink
