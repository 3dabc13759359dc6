#pragma once
/// \file
/// Static types of IR values: an element type and a shape whose dimensions may be symbolic.

#include "shrink/core/dtype.h"
#include "shrink/core/tensor.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace shrink {

/// One dimension of a static shape: a known size, a named symbol (`N`), or unknown (`?`).
struct Dim {
  int64_t value = -1; ///< The size when known, -1 otherwise.
  std::string symbol; ///< The symbol's name when symbolic ("N"); empty for known or unknown.

  /// A known dimension.
  static Dim known(int64_t v) { return Dim{v, {}}; }
  /// A symbolic dimension such as the batch size `N`.
  static Dim sym(std::string name) { return Dim{-1, std::move(name)}; }
  /// A dimension nothing is known about.
  static Dim unknown() { return Dim{}; }
  /// True when the size is known.
  bool is_known() const { return value >= 0; }
  /// True when the dimension is a named symbol.
  bool is_symbolic() const { return value < 0 && !symbol.empty(); }
  /// "16", "N" or "?".
  std::string str() const;
  /// Same size, or the same symbol.
  bool operator==(const Dim& o) const { return value == o.value && symbol == o.symbol; }
  bool operator!=(const Dim& o) const { return !(*this == o); }
};

/// The type of an IR value: dtype plus an optional (ranked) shape.
struct TensorType {
  DType dtype = DType::f32;             ///< Element type.
  std::optional<std::vector<Dim>> dims; ///< Shape when the rank is known; nullopt when unranked.

  /// An unranked type of the given dtype.
  static TensorType unranked(DType d) { return TensorType{d, std::nullopt}; }
  /// A type with a fully known shape.
  static TensorType of(DType d, const Shape& shape);
  /// True when the rank is known.
  bool ranked() const { return dims.has_value(); }
  /// The rank; requires `ranked()`.
  int rank() const { return static_cast<int>(dims->size()); }
  /// True when ranked and every dimension is known.
  bool fully_known() const;
  /// The concrete shape; requires `fully_known()`.
  Shape concrete() const;
  /// "f32[N,16,8,8]", "f32[]" for a scalar, "f32" for unranked.
  std::string str() const;
  bool operator==(const TensorType& o) const { return dtype == o.dtype && dims == o.dims; }
  bool operator!=(const TensorType& o) const { return !(*this == o); }
};

} // namespace shrink
