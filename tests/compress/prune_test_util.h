#pragma once
/// \file
/// Helpers shared by the pruning tests: small graphs with concat branches, depthwise, grouped,
/// split and slice layers (in the IR text form), and the numeric contract of pruning.
///
/// The contract: removing units from a graph gives exactly the outputs of the original graph in
/// which the consumers' weights for those units are zero (a unit only reaches other units through
/// the input-channel slices of the layers that consume it). `check_pruning_exact` builds both,
/// runs them with the reference executor and compares every graph output and, for the kept
/// units, every activation of the pruned groups.

#include "shrink/compress/dependency.h"
#include "shrink/compress/prune_rewrite.h"
#include "shrink/core/error.h"
#include "shrink/exec/reference.h"
#include "shrink/ir/text.h"
#include "shrink/ir/verifier.h"
#include "support/test_graphs.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace shrink::prune_test {

/// Two Conv branches (4 and 6 channels) concatenated and read by a 1x1 Conv; the result is
/// pooled so that the graph output has no channel axis to block the branches.
inline Graph concat_graph() {
  return parse(R"(graph @concat(%x: f32[N,3,6,6]) {
  %wa = const f32[4,3,3,3] random(seed=1)
  %ba = const f32[4] random(seed=2)
  %wb = const f32[6,3,1,1] random(seed=3)
  %wc = const f32[5,10,1,1] random(seed=4)
  %wd = const f32[7,5] random(seed=5)
  %a = Conv(%x, %wa, %ba) {pads=[1,1,1,1]} : f32[N,4,6,6]
  %ra = Relu(%a) : f32[N,4,6,6]
  %b = Conv(%x, %wb) : f32[N,6,6,6]
  %rb = Sigmoid(%b) : f32[N,6,6,6]
  %cat = Concat(%ra, %rb) {axis=1} : f32[N,10,6,6]
  %c = Conv(%cat, %wc) : f32[N,5,6,6]
  %p = GlobalAveragePool(%c) : f32[N,5,1,1]
  %f = Flatten(%p) {axis=1} : f32[N,5]
  %y = Gemm(%f, %wd) {transB=1} : f32[N,7]
  return %y
})");
}

/// Conv (8 channels) -> depthwise Conv (group 8) -> BatchNormalization -> Relu -> grouped Conv
/// (group 2) -> pointwise Conv -> pooled output.
inline Graph depthwise_graph() {
  return parse(R"(graph @depthwise(%x: f32[N,3,6,6]) {
  %w1 = const f32[8,3,1,1] random(seed=11)
  %wd = const f32[8,1,3,3] random(seed=12)
  %bd = const f32[8] random(seed=13)
  %g = const f32[8] [1.0, 0.5, 2.0, 1.5, 0.8, 1.2, 0.9, 1.1]
  %b = const f32[8] [0.1, -0.1, 0.2, 0.0, 0.3, -0.2, 0.1, 0.0]
  %m = const f32[8] [0.0, 0.1, -0.1, 0.2, 0.0, 0.0, 0.1, -0.2]
  %v = const f32[8] [1.0, 2.0, 1.5, 0.5, 1.0, 1.0, 2.0, 1.0]
  %wg = const f32[6,4,3,3] random(seed=14)
  %wp = const f32[4,6,1,1] random(seed=15)
  %c1 = Conv(%x, %w1) : f32[N,8,6,6]
  %dw = Conv(%c1, %wd, %bd) {group=8, pads=[1,1,1,1]} : f32[N,8,6,6]
  %bn = BatchNormalization(%dw, %g, %b, %m, %v) : f32[N,8,6,6]
  %r = Relu(%bn) : f32[N,8,6,6]
  %gc = Conv(%r, %wg) {group=2, pads=[1,1,1,1]} : f32[N,6,6,6]
  %pw = Conv(%gc, %wp) : f32[N,4,6,6]
  %y = GlobalAveragePool(%pw) : f32[N,4,1,1]
  return %y
})");
}

/// Conv (8 channels) split 3/5 into two Convs, and a Conv (6 channels) sliced [1:5) into a
/// third, everything summed after pooling.
inline Graph split_slice_graph() {
  return parse(R"(graph @split_slice(%x: f32[N,2,4,4]) {
  %w0 = const f32[8,2,1,1] random(seed=21)
  %split = const i64[2] [3, 5]
  %w1 = const f32[4,3,1,1] random(seed=22)
  %w2 = const f32[4,5,1,1] random(seed=23)
  %w3 = const f32[6,2,1,1] random(seed=24)
  %starts = const i64[1] [1]
  %ends = const i64[1] [5]
  %axes = const i64[1] [1]
  %w4 = const f32[4,4,1,1] random(seed=25)
  %c0 = Conv(%x, %w0) : f32[N,8,4,4]
  %s0, %s1 = Split(%c0, %split) {axis=1} : f32[N,3,4,4], f32[N,5,4,4]
  %a = Conv(%s0, %w1) : f32[N,4,4,4]
  %b = Conv(%s1, %w2) : f32[N,4,4,4]
  %c3 = Conv(%x, %w3) : f32[N,6,4,4]
  %sl = Slice(%c3, %starts, %ends, %axes) : f32[N,4,4,4]
  %c = Conv(%sl, %w4) : f32[N,4,4,4]
  %ab = Add(%a, %b) : f32[N,4,4,4]
  %abc = Add(%ab, %c) : f32[N,4,4,4]
  %y = ReduceMean(%abc) {axes=[2,3], keepdims=0} : f32[N,4]
  return %y
})");
}

/// The group whose first producer is `name`; fails the test when there is none.
inline const PruneGroup& group_of(const std::vector<PruneGroup>& groups, const std::string& name) {
  for (const PruneGroup& g : groups)
    if (std::find(g.producers.begin(), g.producers.end(), name) != g.producers.end()) return g;
  FAIL("no group produced by '" << name << "'");
  return groups.front();
}

/// The member of `g` for (value, axis), or nullptr.
inline const PruneMember* member_of(const PruneGroup& g, const std::string& value, int axis) {
  for (const PruneMember& m : g.members)
    if (m.value == value && m.axis == axis) return &m;
  return nullptr;
}

/// `graph` with the consumers' input-channel weights of the removed units set to zero.
inline Graph zero_consumers(const Graph& graph, const std::vector<PruneGroup>& groups,
                            const std::vector<std::vector<int64_t>>& removed) {
  Graph g = graph.clone();
  for (size_t gi = 0; gi < removed.size(); ++gi)
    for (const PruneMember& m : groups[gi].members) {
      if (m.role != PruneRole::Input) continue;
      Value* v = g.find_value(m.value);
      Tensor t = v->initializer().clone();
      float* p = t.data_mutable<float>();
      int64_t inner = 1;
      for (int i = m.axis + 1; i < t.rank(); ++i)
        inner *= t.dim(i);
      std::set<int64_t> gone;
      for (int64_t u : removed[gi])
        for (int64_t i : m.units[static_cast<size_t>(u)])
          gone.insert(i);
      for (int64_t i = 0; i < t.numel(); ++i)
        if (gone.count((i / inner) % t.dim(m.axis))) p[i] = 0.0f;
      g.set_initializer(v, t);
    }
  return g;
}

/// Largest |a - b| over two tensors of equal shape.
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    worst = std::max(worst, std::fabs(a.at(i) - b.at(i)));
  return worst;
}

/// `t` restricted to the indices `keep` of `axis`.
inline Tensor keep_indices(const Tensor& t, int axis, const std::vector<int64_t>& keep) {
  return slice_tensor(t, axis, keep);
}

/// Prunes `removed` from a copy of `graph` and checks the numeric contract (see the file
/// comment) within `tolerance`; returns the pruned graph.
inline Graph check_pruning_exact(const Graph& graph, const std::vector<PruneGroup>& groups,
                                 const std::vector<std::vector<int64_t>>& removed,
                                 double tolerance = 1e-5) {
  Graph pruned = graph.clone();
  remove_units(pruned, groups, removed);
  REQUIRE(verify(pruned).empty());
  Graph reference = zero_consumers(graph, groups, removed);

  // Every activation member of the pruned groups, with the indices removed from it by any
  // group, to compare the kept units.
  std::map<std::pair<std::string, int>, std::set<int64_t>> gone;
  for (size_t gi = 0; gi < removed.size(); ++gi)
    for (const PruneMember& m : groups[gi].members)
      if (m.role == PruneRole::Activation && !graph.is_output(graph.find_value(m.value)))
        for (int64_t u : removed[gi])
          for (int64_t i : m.units[static_cast<size_t>(u)])
            gone[{m.value, m.axis}].insert(i);
  std::vector<std::string> fetch;
  for (const auto& kv : gone)
    fetch.push_back(kv.first.first);
  std::vector<Tensor> inputs = testing::random_inputs(graph, 2, 17);
  ReferenceExecutor exec;
  std::vector<Tensor> want = exec.run(reference, inputs, fetch);
  std::vector<Tensor> got = exec.run(pruned, inputs, fetch);
  const size_t n_out = graph.outputs().size();
  for (size_t i = 0; i < n_out; ++i) {
    INFO("graph output " << graph.outputs()[i]->name());
    CHECK(max_abs_diff(got[i], want[i]) <= tolerance);
  }
  size_t k = n_out;
  for (const auto& [key, removed_indices] : gone) {
    const Tensor& full = want[k];
    std::vector<int64_t> keep;
    for (int64_t i = 0; i < full.dim(key.second); ++i)
      if (!removed_indices.count(i)) keep.push_back(i);
    INFO("activation " << key.first << " axis " << key.second);
    CHECK(max_abs_diff(got[k], keep_indices(full, key.second, keep)) <= tolerance);
    ++k;
  }
  return pruned;
}

} // namespace shrink::prune_test
