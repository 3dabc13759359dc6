#pragma once
/// \file
/// Dependency analysis for structured pruning: which tensor dimensions are coupled, so that
/// removing a channel (or an attention head) in one place forces the same removal elsewhere.
///
/// The analysis starts at every layer with constant weights (Conv, ConvTranspose, Gemm, a MatMul
/// with a constant 2-D right operand) and follows the layer's output channel axis through the
/// graph in both directions: into BatchNormalization parameters, elementwise ops and their
/// constant operands, residual `Add` joins, `Concat` (with offsets), `Split` and `Slice`,
/// grouped and depthwise convolutions, `Flatten`/`Reshape` (channels to features, features to
/// attention heads and back), `Transpose`, batched `MatMul` over heads, and into the next layer's
/// input channels. Every element of every dimension it reaches is joined with the elements it
/// must live or die with (a union-find over individual indices), so one *unit* of a group is
/// exactly the set of indices, across all coupled tensors, that one channel or one head owns.
///
/// For the residual block of `residual_cnn_block()` (tests/support/test_graphs.h):
/// ```
/// group 0 'block_conv1': 8 channels, prunable
///   out:    block_conv1
///   in:     block_conv2
///   via:    block_bn1, block_relu1
///   params: block_conv1_w[0], block_conv1_b[0], block_bn1_gamma[0], block_bn1_beta[0], ...
/// group 1 'block_conv2': 8 channels, blocked
///   out:    block_conv2
///   in:     block_conv1
///   via:    block_bn2, block_add, block_out
///   params: block_conv2_w[0], block_bn2_gamma[0], ..., block_conv1_w[1]
///   blocked: 'x' is a graph input (its shape is fixed)
///   blocked: 'block_out' is a graph output (its shape is fixed)
/// ```
///
/// A group is *blocked* (cannot be pruned) when one of its dimensions is a graph input or
/// output, or reaches an op that mixes the channels with each other (Softmax, LayerNormalization
/// or a reduction over the channel axis, an op shrink has no channel rule for, a Reshape whose
/// target is computed at run time, ...). Each reason names the node and value concerned.

#include "shrink/ir/graph.h"

#include <cstdint>
#include <string>
#include <vector>

namespace shrink {

/// What one unit of a group is.
enum class PruneUnitKind {
  Channel, ///< One output channel (or hidden neuron) of the group's producers.
  Head,    ///< One attention head: a block of channels in the Q, K, V projections.
};

/// How a member dimension takes part in its group.
enum class PruneRole {
  Output,     ///< The output-channel axis of a layer's weight (Conv W axis 0, Gemm/MatMul N).
  Input,      ///< The input-channel axis of a layer's weight (Conv W axis 1, Gemm/MatMul K).
  Parameter,  ///< Another constant: a bias, BatchNormalization parameters, an elementwise operand.
  Activation, ///< A computed value; its shape follows once the constants are rewritten.
};

/// "output", "input", "parameter", "activation".
const char* prune_role_name(PruneRole role);

/// One tensor dimension that shrinks when units of its group are removed.
struct PruneMember {
  std::string value; ///< The value's name (initializer, Constant output or activation).
  int axis = 0;      ///< The axis that shrinks.
  int64_t size = 0;  ///< The axis's size before pruning.
  PruneRole role = PruneRole::Activation; ///< How the dimension takes part.
  std::string layer;    ///< For constants: the first node that reads it ("" for activations).
  std::string layer_op; ///< That node's op.
  int layer_input = -1; ///< Which input of `layer` the constant is.
  /// For each unit of the group, the indices along `axis` that the unit owns, ascending. A
  /// channel owns one index in most members, a block in a flattened or per-head member.
  std::vector<std::vector<int64_t>> units;
};

/// A set of coupled dimensions whose units must be pruned together.
struct PruneGroup {
  int id = 0;                                  ///< Position in `find_prune_groups`'s result.
  PruneUnitKind kind = PruneUnitKind::Channel; ///< Channels or attention heads.
  int64_t units = 0;                           ///< Number of units (channels or heads).
  std::vector<std::string> producers;          ///< Layers whose output channels the units are.
  std::vector<std::string> consumers; ///< Layers that read the units through their weights.
  std::vector<std::string> carriers;  ///< Other nodes the units pass through.
  std::vector<PruneMember> members;   ///< Every coupled dimension, in discovery order.
  std::vector<std::string> blockers;  ///< Why the group cannot be pruned; empty when it can.

  /// True when the group can be pruned.
  bool prunable() const { return blockers.empty(); }
  /// A short name: the first producer, else the first member's value.
  std::string name() const;
};

/// Finds every group of coupled dimensions in `graph`, blocked ones included (with reasons).
/// Needs known channel sizes: run shape inference first (values of unknown shape block the
/// groups that reach them). Groups are ordered by their first producer's position in the graph;
/// units within a group by their index in the first member. Never throws for a well-formed
/// graph; the graph is not changed.
std::vector<PruneGroup> find_prune_groups(const Graph& graph);

/// A readable listing of `groups`: one header line per group (id, name, unit count, kind,
/// prunable or blocked) and indented lines for producers, consumers, the nodes in between,
/// constant members and blocking reasons. What `shrink info --prune-groups` prints.
std::string describe_groups(const std::vector<PruneGroup>& groups);

} // namespace shrink
