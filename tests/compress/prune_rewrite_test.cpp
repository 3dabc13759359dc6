#include "shrink/compress/prune_rewrite.h"

#include "compress/prune_test_util.h"
#include "support/test_graphs.h"

#include "shrink/core/error.h"
#include "shrink/exec/reference.h"
#include "shrink/ir/text.h"
#include "shrink/ir/verifier.h"

#include <catch2/catch.hpp>

using namespace shrink;
using namespace shrink::prune_test;

namespace {

std::vector<std::vector<int64_t>> removal(const std::vector<PruneGroup>& groups,
                                          const PruneGroup& g, std::vector<int64_t> units) {
  std::vector<std::vector<int64_t>> r(groups.size());
  r[static_cast<size_t>(g.id)] = std::move(units);
  return r;
}

Shape shape_of(const Graph& g, const std::string& value) {
  return g.find_value(value)->type().concrete();
}

} // namespace

TEST_CASE("slice_tensor keeps the chosen indices of one axis", "[prune]") {
  Tensor t = Tensor::from_vector<float>({2, 3}, {0, 1, 2, 3, 4, 5});
  CHECK(slice_tensor(t, 1, {0, 2}).to_doubles() == std::vector<double>{0, 2, 3, 5});
  CHECK(slice_tensor(t, 0, {1}).to_doubles() == std::vector<double>{3, 4, 5});
  CHECK(slice_tensor(t, 1, {}).shape() == Shape{2, 0});

  Tensor q = Tensor::from_vector<int8_t>({3, 2}, {1, 2, 3, 4, 5, 6});
  q.set_quant(QuantParams{{0.5f, 0.25f, 0.125f}, {0, 1, 2}, 0});
  Tensor s = slice_tensor(q, 0, {0, 2});
  CHECK(s.dtype() == DType::i8);
  CHECK(s.to_doubles() == std::vector<double>{1, 2, 5, 6});
  REQUIRE(s.quant());
  CHECK(s.quant()->scales == std::vector<float>{0.5f, 0.125f});
  CHECK(s.quant()->zero_points == std::vector<int32_t>{0, 2});
  CHECK_THROWS_AS(slice_tensor(t, 2, {0}), Error);
}

TEST_CASE("remove_units: conv -> batchnorm -> conv inside a residual block", "[prune]") {
  Graph g = testing::residual_cnn_block();
  std::vector<PruneGroup> groups = find_prune_groups(g);
  const PruneGroup& inner = group_of(groups, "block_conv1");
  Graph pruned = check_pruning_exact(g, groups, removal(groups, inner, {1, 4, 6}));
  CHECK(shape_of(pruned, "block_conv1_w") == Shape{5, 8, 3, 3});
  CHECK(shape_of(pruned, "block_conv1_b") == Shape{5});
  CHECK(shape_of(pruned, "block_bn1_var") == Shape{5});
  CHECK(shape_of(pruned, "block_conv2_w") == Shape{8, 5, 3, 3});
  CHECK(print_type(pruned.find_value("block_relu1")->type()) == "f32[N,5,8,8]");
  // The kept filters are the original ones, in order.
  const Tensor& before = g.find_value("block_conv1_w")->initializer();
  const Tensor& after = pruned.find_value("block_conv1_w")->initializer();
  CHECK(after.equals(slice_tensor(before, 0, {0, 2, 3, 5, 7})));
  // The original graph is untouched.
  CHECK(shape_of(g, "block_conv1_w") == Shape{8, 8, 3, 3});
}

TEST_CASE("remove_units: the residual stream of a small CNN, through pooling and Flatten",
          "[prune]") {
  Graph g = testing::small_cnn();
  std::vector<PruneGroup> groups = find_prune_groups(g);
  std::vector<std::vector<int64_t>> r(groups.size());
  r[static_cast<size_t>(group_of(groups, "stem_conv").id)] = {0, 3, 7};
  r[static_cast<size_t>(group_of(groups, "block_conv1").id)] = {2};
  Graph pruned = check_pruning_exact(g, groups, r);
  CHECK(shape_of(pruned, "stem_conv_w") == Shape{5, 1, 3, 3});
  CHECK(shape_of(pruned, "block_conv1_w") == Shape{7, 5, 3, 3});
  CHECK(shape_of(pruned, "block_conv2_w") == Shape{5, 7, 3, 3});
  CHECK(shape_of(pruned, "fc_w") == Shape{10, 5});
  CHECK(pruned.num_parameters() < g.num_parameters());
}

TEST_CASE("remove_units: concat branches", "[prune]") {
  Graph g = concat_graph();
  std::vector<PruneGroup> groups = find_prune_groups(g);
  std::vector<std::vector<int64_t>> r(groups.size());
  r[static_cast<size_t>(group_of(groups, "a").id)] = {1};
  r[static_cast<size_t>(group_of(groups, "b").id)] = {0, 4, 5};
  r[static_cast<size_t>(group_of(groups, "c").id)] = {2};
  Graph pruned = check_pruning_exact(g, groups, r);
  CHECK(print_type(pruned.find_value("cat")->type()) == "f32[N,6,6,6]");
  CHECK(shape_of(pruned, "wc") == Shape{4, 6, 1, 1});
  CHECK(shape_of(pruned, "wd") == Shape{7, 4});
  // wc's input columns: a's channels 0, 2, 3 then b's 1, 2, 3 (original columns 5, 6, 7).
  const Tensor& wc = g.find_value("wc")->initializer();
  CHECK(pruned.find_value("wc")->initializer().equals(
      slice_tensor(slice_tensor(wc, 1, {0, 2, 3, 5, 6, 7}), 0, {0, 1, 3, 4})));
}

TEST_CASE("remove_units: depthwise and grouped convolutions keep their group counts right",
          "[prune]") {
  Graph g = depthwise_graph();
  std::vector<PruneGroup> groups = find_prune_groups(g);
  const PruneGroup& front = group_of(groups, "c1");
  Graph pruned = check_pruning_exact(g, groups, removal(groups, front, {0}));
  const Node* dw = pruned.find_node("dw");
  const Node* gc = pruned.find_node("gc");
  CHECK(dw->attr_int("group", 0) == 4);
  CHECK(gc->attr_int("group", 0) == 1);
  CHECK(shape_of(pruned, "wd") == Shape{4, 1, 3, 3});
  CHECK(shape_of(pruned, "wg") == Shape{3, 4, 3, 3});
  CHECK(shape_of(pruned, "wp") == Shape{4, 3, 1, 1});

  // A plain depthwise chain, pruned channel by channel.
  Graph chain = parse(R"(graph @dw(%x: f32[N,3,6,6]) {
  %w1 = const f32[8,3,1,1] random(seed=11)
  %wd = const f32[8,1,3,3] random(seed=12)
  %wp = const f32[4,8,1,1] random(seed=15)
  %c1 = Conv(%x, %w1) : f32[N,8,6,6]
  %d = Conv(%c1, %wd) {group=8, pads=[1,1,1,1]} : f32[N,8,6,6]
  %r = Relu(%d) : f32[N,8,6,6]
  %p = Conv(%r, %wp) : f32[N,4,6,6]
  %y = GlobalAveragePool(%p) : f32[N,4,1,1]
  return %y
})");
  std::vector<PruneGroup> cg = find_prune_groups(chain);
  Graph pc = check_pruning_exact(chain, cg, removal(cg, group_of(cg, "c1"), {1, 2, 5}));
  CHECK(pc.find_node("d")->attr_int("group", 0) == 5);
}

TEST_CASE("remove_units: Split sizes and Slice bounds follow the channels", "[prune]") {
  Graph g = split_slice_graph();
  std::vector<PruneGroup> groups = find_prune_groups(g);
  std::vector<std::vector<int64_t>> r(groups.size());
  for (const PruneGroup& grp : groups) {
    if (grp.producers.empty()) continue;
    const std::string& p = grp.producers.front();
    if (p == "c0" && grp.units == 3) r[static_cast<size_t>(grp.id)] = {0};
    if (p == "c0" && grp.units == 5) r[static_cast<size_t>(grp.id)] = {1, 4};
    // c3: remove channel 2 (inside the slice) and the dead channel 0 (before it).
    if (p == "c3" && !grp.consumers.empty()) r[static_cast<size_t>(grp.id)] = {1};
    if (p == "c3" && grp.consumers.empty()) r[static_cast<size_t>(grp.id)] = {0};
  }
  Graph pruned = check_pruning_exact(g, groups, r);
  CHECK(pruned.find_value("split")->initializer().to_doubles() == std::vector<double>{2, 3});
  CHECK(shape_of(pruned, "w0") == Shape{5, 2, 1, 1});
  CHECK(pruned.find_value("starts")->initializer().to_doubles() == std::vector<double>{0});
  CHECK(pruned.find_value("ends")->initializer().to_doubles() == std::vector<double>{3});
  CHECK(print_type(pruned.find_value("sl")->type()) == "f32[N,3,4,4]");
}

TEST_CASE("remove_units: an even Split gets explicit sizes", "[prune]") {
  Graph g = parse(R"(graph @even(%x: f32[N,2,4,4]) {
  %w0 = const f32[6,2,1,1] random(seed=1)
  %w1 = const f32[2,3,1,1] random(seed=2)
  %w2 = const f32[2,3,1,1] random(seed=3)
  %c0 = Conv(%x, %w0) : f32[N,6,4,4]
  %s0, %s1 = Split(%c0) {axis=1, num_outputs=2} : f32[N,3,4,4], f32[N,3,4,4]
  %a = Conv(%s0, %w1) : f32[N,2,4,4]
  %b = Conv(%s1, %w2) : f32[N,2,4,4]
  %y = Add(%a, %b) : f32[N,2,4,4]
  %z = GlobalAveragePool(%y) : f32[N,2,1,1]
  return %z
})");
  std::vector<PruneGroup> groups = find_prune_groups(g);
  std::vector<std::vector<int64_t>> r(groups.size());
  for (const PruneGroup& grp : groups)
    if (!grp.producers.empty() && grp.producers.front() == "c0" &&
        member_of(grp, "s0", 1) != nullptr)
      r[static_cast<size_t>(grp.id)] = {2};
  Graph pruned = check_pruning_exact(g, groups, r);
  const Node* split = pruned.find_node("s0");
  CHECK_FALSE(split->has_attr("num_outputs"));
  REQUIRE(split->input(1));
  CHECK(split->input(1)->initializer().to_doubles() == std::vector<double>{2, 3});
}

TEST_CASE("remove_units: attention heads update the Reshape targets", "[prune]") {
  Graph g = testing::transformer_encoder_block();
  std::vector<PruneGroup> groups = find_prune_groups(g);
  const PruneGroup& heads = group_of(groups, "q_proj_matmul");
  Graph pruned = check_pruning_exact(g, groups, removal(groups, heads, {1}), 2e-5);
  // The shared target keeps its name and now has 3 heads; the merge target 24 features.
  CHECK(pruned.find_value("heads_shape")->initializer().to_doubles() ==
        std::vector<double>{-1, 16, 3, 8});
  CHECK(pruned.find_value("merged_shape")->initializer().to_doubles() ==
        std::vector<double>{-1, 16, 24});
  CHECK(shape_of(pruned, "q_proj_w") == Shape{32, 24});
  CHECK(shape_of(pruned, "v_proj_b") == Shape{24});
  CHECK(shape_of(pruned, "out_proj_w") == Shape{24, 32});
  CHECK(print_type(pruned.find_value("probs")->type()) == "f32[N,3,16,16]");
  // Head 1's columns are the ones gone.
  const Tensor& kw = g.find_value("k_proj_w")->initializer();
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < 32; ++i)
    if (i < 8 || i >= 16) keep.push_back(i);
  CHECK(pruned.find_value("k_proj_w")->initializer().equals(slice_tensor(kw, 1, keep)));
}

TEST_CASE("remove_units: MLP hidden neurons of a transformer block", "[prune]") {
  Graph g = testing::transformer_encoder_block();
  std::vector<PruneGroup> groups = find_prune_groups(g);
  const PruneGroup& mlp = group_of(groups, "fc1_matmul");
  std::vector<int64_t> units;
  for (int64_t u = 0; u < 64; u += 3)
    units.push_back(u);
  Graph pruned = check_pruning_exact(g, groups, removal(groups, mlp, units), 2e-5);
  CHECK(shape_of(pruned, "fc1_w") == Shape{32, 64 - static_cast<int64_t>(units.size())});
  CHECK(shape_of(pruned, "fc2_w") == Shape{64 - static_cast<int64_t>(units.size()), 32});
}

TEST_CASE("remove_units: a run-time flatten and Constant nodes", "[prune]") {
  Graph g = testing::noisy_graph(false);
  std::vector<PruneGroup> groups = find_prune_groups(g);
  const PruneGroup& conv = group_of(groups, "conv");
  Graph pruned = check_pruning_exact(g, groups, removal(groups, conv, {0, 5}));
  CHECK(shape_of(pruned, "fc_w") == Shape{10, 4 * 64});
  CHECK(print_type(pruned.find_value("flatten")->type()) == "f32[N,256]");
}

TEST_CASE("remove_units: a computed Reshape entry becomes the new constant size", "[prune]") {
  // Heads merged back with reshape(n, t, c), where c is read from the input's shape at run
  // time, as torch.onnx writes `y.reshape(n, t, c)` with `n, t, c = x.size()`.
  Graph g = parse(R"(graph @merge(%x: f32[N,4,8]) {
  %wq = const f32[8,8] random(seed=1)
  %wo = const f32[8,8] random(seed=2)
  %split_shape = const i64[4] [0, 0, 2, 4]
  %zero = const i64[1] [0]
  %one = const i64[1] [1]
  %two = const i64[1] [2]
  %q = MatMul(%x, %wq) : f32[N,4,8]
  %qh = Reshape(%q, %split_shape) : f32[N,4,2,4]
  %qt = Transpose(%qh) {perm=[0,2,1,3]} : f32[N,2,4,4]
  %kt = Transpose(%qh) {perm=[0,2,3,1]} : f32[N,2,4,4]
  %s = MatMul(%qt, %kt) : f32[N,2,4,4]
  %p = Softmax(%s) {axis=-1} : f32[N,2,4,4]
  %ctx = MatMul(%p, %qt) : f32[N,2,4,4]
  %ct = Transpose(%ctx) {perm=[0,2,1,3]} : f32[N,4,2,4]
  %shape = Shape(%x) : i64[3]
  %n = Gather(%shape, %zero) {axis=0} : i64[1]
  %t = Gather(%shape, %one) {axis=0} : i64[1]
  %c = Gather(%shape, %two) {axis=0} : i64[1]
  %target = Concat(%n, %t, %c) {axis=0} : i64[3]
  %m = Reshape(%ct, %target) : f32[N,4,8]
  %y = MatMul(%m, %wo) : f32[N,4,8]
  return %y
})");
  std::vector<PruneGroup> groups = find_prune_groups(g);
  const PruneGroup& heads = group_of(groups, "q");
  REQUIRE(heads.prunable());
  CHECK(heads.kind == PruneUnitKind::Head);
  CHECK(heads.units == 2);
  Graph pruned = check_pruning_exact(g, groups, removal(groups, heads, {0}));
  const Node* concat = pruned.find_value("target")->producer();
  REQUIRE(concat->input(2)->is_initializer());
  CHECK(concat->input(2)->initializer().to_doubles() == std::vector<double>{4});
  CHECK(pruned.find_value("split_shape")->initializer().to_doubles() ==
        std::vector<double>{0, 0, 1, 4});
}

TEST_CASE("remove_units: bad requests name the group", "[prune]") {
  Graph g = testing::residual_cnn_block();
  std::vector<PruneGroup> groups = find_prune_groups(g);
  const PruneGroup& inner = group_of(groups, "block_conv1");
  const PruneGroup& stream = group_of(groups, "block_conv2");

  CHECK_THROWS_WITH(remove_units(g, groups, removal(groups, stream, {0})),
                    Catch::Contains("group 1 'block_conv2' cannot be pruned") &&
                        Catch::Contains("graph input"));
  CHECK_THROWS_WITH(remove_units(g, groups, removal(groups, inner, {0, 1, 2, 3, 4, 5, 6, 7})),
                    Catch::Contains("would lose all of its 8 units"));
  CHECK_THROWS_WITH(remove_units(g, groups, removal(groups, inner, {8})),
                    Catch::Contains("unit 8 does not exist"));
  // Groups found on another graph (small_cnn has a residual block with the same names and sizes,
  // so the check needs a graph without them).
  Graph other = testing::transformer_encoder_block();
  CHECK_THROWS_WITH(remove_units(other, groups, removal(groups, inner, {0})),
                    Catch::Contains("does not match the graph"));
  // Nothing changed by the failed calls.
  CHECK(shape_of(g, "block_conv1_w") == Shape{8, 8, 3, 3});
  // No removal is a no-op.
  const uint64_t version = g.version();
  remove_units(g, groups, {});
  CHECK(g.version() == version);
}
