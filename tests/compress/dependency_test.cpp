#include "shrink/compress/dependency.h"

#include "compress/prune_test_util.h"
#include "support/test_graphs.h"

#include "shrink/ir/text.h"

#include <catch2/catch.hpp>

using namespace shrink;
using namespace shrink::prune_test;

namespace {

std::vector<int64_t> flat(const std::vector<std::vector<int64_t>>& units) {
  std::vector<int64_t> out;
  for (const auto& u : units)
    out.insert(out.end(), u.begin(), u.end());
  return out;
}

bool has_blocker(const PruneGroup& g, const std::string& text) {
  for (const std::string& b : g.blockers)
    if (b.find(text) != std::string::npos) return true;
  return false;
}

} // namespace

TEST_CASE("dependency: a residual block couples conv2, the shortcut and conv1's input",
          "[dependency][prune]") {
  Graph g = testing::residual_cnn_block();
  std::vector<PruneGroup> groups = find_prune_groups(g);
  REQUIRE(groups.size() == 2);

  const PruneGroup& inner = groups[0];
  CHECK(inner.name() == "block_conv1");
  CHECK(inner.kind == PruneUnitKind::Channel);
  CHECK(inner.units == 8);
  CHECK(inner.prunable());
  CHECK(inner.producers == std::vector<std::string>{"block_conv1"});
  CHECK(inner.consumers == std::vector<std::string>{"block_conv2"});
  REQUIRE(member_of(inner, "block_conv1_w", 0));
  CHECK(member_of(inner, "block_conv1_w", 0)->role == PruneRole::Output);
  CHECK(member_of(inner, "block_conv1_b", 0)->role == PruneRole::Parameter);
  CHECK(member_of(inner, "block_bn1_gamma", 0)->layer_op == "BatchNormalization");
  CHECK(member_of(inner, "block_conv2_w", 1)->role == PruneRole::Input);
  CHECK(member_of(inner, "block_relu1", 1)->role == PruneRole::Activation);
  CHECK(flat(member_of(inner, "block_conv2_w", 1)->units) ==
        std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7});

  // The residual stream reaches the graph input and output, so it is blocked, with reasons.
  const PruneGroup& stream = groups[1];
  CHECK(stream.name() == "block_conv2");
  CHECK_FALSE(stream.prunable());
  CHECK(has_blocker(stream, "'x' is a graph input"));
  CHECK(has_blocker(stream, "'block_out' is a graph output"));
  CHECK(member_of(stream, "block_conv1_w", 1) != nullptr);
  CHECK(member_of(stream, "x", 1) != nullptr);
}

TEST_CASE("dependency: a residual stream between layers is one prunable group",
          "[dependency][prune]") {
  Graph g = testing::small_cnn();
  std::vector<PruneGroup> groups = find_prune_groups(g);
  REQUIRE(groups.size() == 3);
  const PruneGroup& stream = group_of(groups, "stem_conv");
  CHECK(stream.prunable());
  CHECK(stream.producers == std::vector<std::string>{"stem_conv", "block_conv2"});
  CHECK(stream.consumers == std::vector<std::string>{"block_conv1", "logits"});
  // Through GlobalAveragePool and Flatten to the classifier's input columns.
  CHECK(member_of(stream, "fc_w", 1) != nullptr);
  CHECK(member_of(stream, "stem_bn_var", 0) != nullptr);
  const PruneGroup& logits = group_of(groups, "logits");
  CHECK_FALSE(logits.prunable());
  CHECK(has_blocker(logits, "'logits' is a graph output"));
}

TEST_CASE("dependency: Concat gives each branch its own group with offsets",
          "[dependency][prune]") {
  Graph g = concat_graph();
  std::vector<PruneGroup> groups = find_prune_groups(g);
  const PruneGroup& a = group_of(groups, "a");
  const PruneGroup& b = group_of(groups, "b");
  CHECK(a.units == 4);
  CHECK(b.units == 6);
  CHECK(a.prunable());
  CHECK(b.prunable());
  CHECK(flat(member_of(a, "wc", 1)->units) == std::vector<int64_t>{0, 1, 2, 3});
  CHECK(flat(member_of(b, "wc", 1)->units) == std::vector<int64_t>{4, 5, 6, 7, 8, 9});
  CHECK(flat(member_of(b, "cat", 1)->units) == std::vector<int64_t>{4, 5, 6, 7, 8, 9});
  // The 1x1 Conv's own channels go through pooling and Flatten to the Gemm.
  const PruneGroup& c = group_of(groups, "c");
  CHECK(c.prunable());
  CHECK(member_of(c, "wd", 1) != nullptr);
}

TEST_CASE("dependency: depthwise and grouped convolutions", "[dependency][prune]") {
  Graph g = depthwise_graph();
  std::vector<PruneGroup> groups = find_prune_groups(g);
  // c1, the depthwise conv and the grouped conv's input groups are one group: the depthwise
  // conv maps channel to channel, and the group-2 conv couples its 4 input channels per group
  // with its 3 output channels per group, so a unit is one group of the grouped conv.
  const PruneGroup& front = group_of(groups, "c1");
  CHECK(front.prunable());
  CHECK(front.units == 2);
  CHECK(front.producers == std::vector<std::string>{"c1", "dw", "gc"});
  CHECK(flat(member_of(front, "wd", 0)->units) == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7});
  CHECK(member_of(front, "wd", 0)->units[1] == std::vector<int64_t>{4, 5, 6, 7});
  CHECK(member_of(front, "wg", 0)->units[1] == std::vector<int64_t>{3, 4, 5});
  CHECK(member_of(front, "wp", 1) != nullptr);
  CHECK(member_of(front, "wg", 1) == nullptr); // per-group input axis is never cut
  CHECK(member_of(front, "g", 0) != nullptr);

  // Without the grouped conv, the depthwise chain prunes channel by channel.
  Graph dw = parse(R"(graph @dw(%x: f32[N,3,6,6]) {
  %w1 = const f32[8,3,1,1] random(seed=11)
  %wd = const f32[8,1,3,3] random(seed=12)
  %wp = const f32[4,8,1,1] random(seed=15)
  %c1 = Conv(%x, %w1) : f32[N,8,6,6]
  %d = Conv(%c1, %wd) {group=8, pads=[1,1,1,1]} : f32[N,8,6,6]
  %p = Conv(%d, %wp) : f32[N,4,6,6]
  %y = ReduceMean(%p) {axes=[1,2,3], keepdims=0} : f32[N]
  return %y
})");
  std::vector<PruneGroup> dg = find_prune_groups(dw);
  const PruneGroup& chain = group_of(dg, "c1");
  CHECK(chain.units == 8);
  CHECK(chain.producers == std::vector<std::string>{"c1", "d"});
  // The pointwise conv's output is reduced over its channels: blocked, named.
  const PruneGroup& last = group_of(dg, "p");
  CHECK(has_blocker(last, "node 'y' (ReduceMean) reduces over the channels"));
}

TEST_CASE("dependency: Split and Slice", "[dependency][prune]") {
  Graph g = split_slice_graph();
  std::vector<PruneGroup> groups = find_prune_groups(g);
  // c0's 8 channels: the first 3 feed `a`, the other 5 feed `b`: two groups.
  std::vector<const PruneGroup*> c0;
  for (const PruneGroup& grp : groups)
    if (!grp.producers.empty() && grp.producers.front() == "c0") c0.push_back(&grp);
  REQUIRE(c0.size() == 2);
  CHECK(c0[0]->units == 3);
  CHECK(c0[1]->units == 5);
  CHECK(flat(member_of(*c0[1], "w0", 0)->units) == std::vector<int64_t>{3, 4, 5, 6, 7});
  CHECK(flat(member_of(*c0[1], "w2", 1)->units) == std::vector<int64_t>{0, 1, 2, 3, 4});
  // c3's channels 1..4 reach `c`; channels 0 and 5 are sliced away and form their own group.
  std::vector<const PruneGroup*> c3;
  for (const PruneGroup& grp : groups)
    if (!grp.producers.empty() && grp.producers.front() == "c3") c3.push_back(&grp);
  REQUIRE(c3.size() == 2);
  const PruneGroup* used = c3[0]->consumers.empty() ? c3[1] : c3[0];
  const PruneGroup* dead = c3[0]->consumers.empty() ? c3[0] : c3[1];
  CHECK(flat(member_of(*used, "w3", 0)->units) == std::vector<int64_t>{1, 2, 3, 4});
  CHECK(flat(member_of(*dead, "w3", 0)->units) == std::vector<int64_t>{0, 5});
  CHECK(used->prunable());
  CHECK(dead->prunable());
}

TEST_CASE("dependency: a transformer block has head, MLP and blocked residual groups",
          "[dependency][prune]") {
  Graph g = testing::transformer_encoder_block();
  std::vector<PruneGroup> groups = find_prune_groups(g);
  const PruneGroup& heads = group_of(groups, "q_proj_matmul");
  CHECK(heads.kind == PruneUnitKind::Head);
  CHECK(heads.units == 4);
  CHECK(heads.prunable());
  CHECK(heads.producers ==
        std::vector<std::string>{"q_proj_matmul", "k_proj_matmul", "v_proj_matmul"});
  CHECK(heads.consumers == std::vector<std::string>{"out_proj_matmul"});
  // Head 1 owns columns 8..15 of every projection and rows 8..15 of the output projection.
  const std::vector<int64_t> head1 = {8, 9, 10, 11, 12, 13, 14, 15};
  CHECK(member_of(heads, "q_proj_w", 1)->units[1] == head1);
  CHECK(member_of(heads, "k_proj_b", 0)->units[1] == head1);
  CHECK(member_of(heads, "v_proj_w", 1)->units[1] == head1);
  CHECK(member_of(heads, "out_proj_w", 0)->units[1] == head1);
  CHECK(member_of(heads, "scores", 1)->units[1] == std::vector<int64_t>{1});

  const PruneGroup& mlp = group_of(groups, "fc1_matmul");
  CHECK(mlp.kind == PruneUnitKind::Channel);
  CHECK(mlp.units == 64);
  CHECK(mlp.prunable());
  CHECK(mlp.consumers == std::vector<std::string>{"fc2_matmul"});
  CHECK(member_of(mlp, "fc1_b", 0) != nullptr);
  CHECK(member_of(mlp, "fc2_w", 0)->role == PruneRole::Input);

  const PruneGroup& stream = group_of(groups, "out_proj_matmul");
  CHECK_FALSE(stream.prunable());
  CHECK(has_blocker(stream, "node 'ln1_mean' (ReduceMean) reduces over the channels"));
}

TEST_CASE("dependency: ops that mix channels block their group and are named",
          "[dependency][prune]") {
  Graph g = parse(R"(graph @mix(%x: f32[N,2,4,4]) {
  %w = const f32[4,2,1,1] random(seed=1)
  %w2 = const f32[3,2,1,1] random(seed=2)
  %c = Conv(%x, %w) : f32[N,4,4,4]
  %s = Softmax(%c) {axis=1} : f32[N,4,4,4]
  %c2 = Conv(%x, %w2) : f32[N,3,4,4]
  %t = Transpose(%c2) {perm=[0,2,3,1]} : f32[N,4,4,3]
  %f = Flatten(%t) {axis=1} : f32[N,48]
  %y = ReduceSum(%s) {axes=[1,2,3], keepdims=0} : f32[N]
  return %y, %t, %f
})");
  std::vector<PruneGroup> groups = find_prune_groups(g);
  const PruneGroup& c = group_of(groups, "c");
  CHECK_FALSE(c.prunable());
  CHECK(has_blocker(c, "node 's' (Softmax) normalizes over the channels (axis 1 of 'c')"));
  const PruneGroup& c2 = group_of(groups, "c2");
  CHECK_FALSE(c2.prunable());
  // A transposed channel axis is followed to the output...
  CHECK(has_blocker(c2, "'t' is a graph output"));
  // ...and a Flatten that interleaves the channels with other axes is named.
  CHECK(has_blocker(c2, "node 'f' (Flatten)"));
}

TEST_CASE("dependency: an op without a channel rule blocks its group", "[dependency][prune]") {
  Graph g = parse(R"(graph @unknown(%x: f32[N,2,4,4]) {
  %w = const f32[4,2,1,1] random(seed=1)
  %c = Conv(%x, %w) : f32[N,4,4,4]
  return %c
})");
  // An op from outside the op table (as a future importer might produce).
  Value* c = g.find_value("c");
  Node* n = g.add_node("CumSum", {c}, 1, {}, "cumsum");
  n->output(0)->set_type(c->type());
  g.set_outputs({n->output(0)});
  std::vector<PruneGroup> groups = find_prune_groups(g);
  REQUIRE(groups.size() == 1);
  CHECK(has_blocker(groups[0], "node 'cumsum' (CumSum) has no channel rule"));

  // A value whose channel count is unknown blocks with a hint to infer shapes.
  Graph u = parse(R"(graph @unknown_size(%x: f32[N,2,4,4]) {
  %w = const f32[4,2,1,1] random(seed=1)
  %w2 = const f32[3,4,1,1] random(seed=2)
  %c = Conv(%x, %w) : f32
  %y = Conv(%c, %w2) : f32[N,3,4,4]
  return %y
})");
  std::vector<PruneGroup> ug = find_prune_groups(u);
  bool hinted = false;
  for (const PruneGroup& grp : ug)
    hinted = hinted || has_blocker(grp, "run infer-shapes first");
  CHECK(hinted);
}

TEST_CASE("dependency: a flatten built from Shape/Gather/Concat is followed",
          "[dependency][prune]") {
  Graph g = testing::noisy_graph(false);
  std::vector<PruneGroup> groups = find_prune_groups(g);
  const PruneGroup& conv = group_of(groups, "conv");
  CHECK(conv.prunable());
  CHECK(conv.units == 6);
  // Each channel owns its 8x8 = 64 columns of the classifier.
  CHECK(member_of(conv, "fc_w", 1)->units[2].size() == 64);
  CHECK(member_of(conv, "fc_w", 1)->units[2].front() == 128);
}

TEST_CASE("dependency: describe_groups lists producers, consumers, params and reasons",
          "[dependency][prune]") {
  Graph g = testing::residual_cnn_block();
  const std::string text = describe_groups(find_prune_groups(g));
  CHECK(text.find("group 0 'block_conv1': 8 channels, prunable\n") != std::string::npos);
  CHECK(text.find("  out:    block_conv1\n") != std::string::npos);
  CHECK(text.find("  in:     block_conv2\n") != std::string::npos);
  CHECK(text.find("block_conv2_w[1]") != std::string::npos);
  CHECK(text.find("group 1 'block_conv2': 8 channels, blocked\n") != std::string::npos);
  CHECK(text.find("  blocked: 'x' is a graph input (its shape is fixed)\n") != std::string::npos);

  Graph t = testing::transformer_encoder_block();
  const std::string heads = describe_groups(find_prune_groups(t));
  CHECK(heads.find("group 0 'q_proj_matmul': 4 heads, prunable") != std::string::npos);
  CHECK(heads.find("q_proj_w[1] x8") != std::string::npos);
}

TEST_CASE("dependency: the analysis does not change the graph", "[dependency][prune]") {
  Graph g = testing::transformer_encoder_block();
  const std::string before = print(g);
  const uint64_t version = g.version();
  find_prune_groups(g);
  CHECK(print(g) == before);
  CHECK(g.version() == version);
}
