#pragma once
// Shared checks of the oneDNN runtime tests: parity against the reference executor.

#include "shrink/exec/onednn.h"
#include "shrink/exec/reference.h"
#include "shrink/ir/graph.h"

#include "exec/onednn_models.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace shrink::testing {

/// Largest absolute elementwise difference of two tensors of equal shape (any dtypes).
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  double m = 0.0;
  for (int64_t i = 0; i < a.numel(); ++i)
    m = std::max(m, std::fabs(a.at(i) - b.at(i)));
  return m;
}

/// Runs `g` on both executors and requires every output (and fetched value) to agree within
/// `rel` relative to the reference's largest magnitude. Returns the oneDNN results.
inline std::vector<Tensor> check_parity(const Graph& g, const std::vector<Tensor>& inputs,
                                        OneDnnExecutor& exec, double rel = 1e-4,
                                        const std::vector<std::string>& fetch = {}) {
  ReferenceExecutor ref;
  const std::vector<Tensor> want = ref.run(g, inputs, fetch);
  const std::vector<Tensor> got = exec.run(g, inputs, fetch);
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("result " << i);
    REQUIRE(got[i].dtype() == want[i].dtype());
    REQUIRE(got[i].shape() == want[i].shape());
    CHECK(max_relative_error(got[i], want[i]) <= rel);
  }
  return got;
}

/// A quantized tensor's value range in steps: requires u8/i8 results to differ by at most
/// `steps` from the reference's.
inline void check_within_steps(const Tensor& got, const Tensor& want, double steps = 1.0) {
  REQUIRE(got.dtype() == want.dtype());
  CHECK(max_abs_diff(got, want) <= steps);
}

/// The names of a plan's steps of `kind`, for messages.
inline std::string plan_text(const OneDnnExecutor& exec) {
  return exec.plan_info().str();
}

} // namespace shrink::testing
