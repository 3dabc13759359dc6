#pragma once
// Helpers for the reference-kernel tests: run one op on concrete tensors and compare results.

#include "shrink/core/tensor.h"
#include "shrink/ir/graph.h"
#include "shrink/ir/op_table.h"

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

namespace shrink::testing {

/// Runs `op` on `inputs` (nullopt for an absent optional input) through the op table.
inline std::vector<Tensor> run_op(const std::string& op,
                                  const std::vector<std::optional<Tensor>>& inputs,
                                  Attributes attrs = {}, int num_outputs = 1) {
  Graph g("kernel_test");
  std::vector<Value*> values;
  std::vector<const Tensor*> ptrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i]) {
      values.push_back(nullptr);
      ptrs.push_back(nullptr);
      continue;
    }
    values.push_back(g.add_input("in" + std::to_string(i),
                                 TensorType::of(inputs[i]->dtype(), inputs[i]->shape())));
    ptrs.push_back(&*inputs[i]);
  }
  Node* node = g.add_node(op, values, num_outputs, std::move(attrs), "n");
  return evaluate_node(*node, ptrs);
}

/// The single output of `op`.
inline Tensor run1(const std::string& op, const std::vector<std::optional<Tensor>>& inputs,
                   Attributes attrs = {}) {
  std::vector<Tensor> out = run_op(op, inputs, std::move(attrs), 1);
  REQUIRE(out.size() == 1);
  return out[0];
}

inline Tensor f32(const Shape& shape, const std::vector<float>& v) {
  return Tensor::from_vector<float>(shape, v);
}
inline Tensor i64(const Shape& shape, const std::vector<int64_t>& v) {
  return Tensor::from_vector<int64_t>(shape, v);
}
inline Tensor i32(const Shape& shape, const std::vector<int32_t>& v) {
  return Tensor::from_vector<int32_t>(shape, v);
}
inline Tensor u8(const Shape& shape, const std::vector<uint8_t>& v) {
  return Tensor::from_vector<uint8_t>(shape, v);
}
inline Tensor i8(const Shape& shape, const std::vector<int8_t>& v) {
  return Tensor::from_vector<int8_t>(shape, v);
}
inline Tensor boolean(const Shape& shape, const std::vector<bool>& v) {
  Tensor t(DType::boolean, shape);
  REQUIRE(static_cast<int64_t>(v.size()) == t.numel());
  for (size_t i = 0; i < v.size(); ++i)
    t.data_mutable<bool>()[i] = v[i];
  return t;
}

/// Checks dtype, shape and every value (within `tol`, absolute).
inline void expect_tensor(const Tensor& got, DType dtype, const Shape& shape,
                          const std::vector<double>& want, double tol = 1e-5) {
  INFO("got " << dtype_name(got.dtype()) << shape_str(got.shape()));
  REQUIRE(got.dtype() == dtype);
  REQUIRE(got.shape() == shape);
  REQUIRE(got.numel() == static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("element " << i);
    CHECK(got.at(static_cast<int64_t>(i)) == Approx(want[i]).margin(tol));
  }
}

/// Shorthand for f32 results.
inline void expect_f32(const Tensor& got, const Shape& shape, const std::vector<double>& want,
                       double tol = 1e-5) {
  expect_tensor(got, DType::f32, shape, want, tol);
}

} // namespace shrink::testing
