#pragma once
/// \file
/// `prune-channels` and `prune-heads`: structured pruning that physically removes channels
/// (Conv filters, Gemm/MatMul output neurons, MLP hidden neurons) or attention heads, together
/// with everything coupled to them (see compress/dependency.h).
///
/// Before (`conv1`'s channels feed `bn1` and `conv2`):
/// ```
/// graph @main(%x: f32[N,2,4,4]) {
///   %w1 = const f32[4,2,1,1] [1.0, 0.0, 0.1, 0.1, 0.0, 0.5, 2.0, 0.0]
///   %g = const f32[4] [1.0, 1.0, 1.0, 1.0]
///   %b = const f32[4] [0.0, 0.0, 0.0, 0.0]
///   %m = const f32[4] [0.0, 0.0, 0.0, 0.0]
///   %v = const f32[4] [1.0, 1.0, 1.0, 1.0]
///   %w2 = const f32[2,4,1,1] [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5]
///   %c1 = Conv(%x, %w1) : f32[N,4,4,4]
///   %bn = BatchNormalization(%c1, %g, %b, %m, %v) : f32[N,4,4,4]
///   %r = Relu(%bn) : f32[N,4,4,4]
///   %y = Conv(%r, %w2) : f32[N,2,4,4]
///   return %y
/// }
/// ```
/// After `prune-channels{ratio=0.5,criterion=l1}` (the two channels with the smallest weights,
/// 1 and 2, are gone from `w1`, the BatchNormalization parameters and `w2`'s input axis):
/// ```
/// graph @main(%x: f32[N,2,4,4]) {
///   %w1 = const f32[2,2,1,1] [1.0, 0.0, 2.0, 0.0]
///   %g = const f32[2] [1.0, 1.0]
///   %b = const f32[2] [0.0, 0.0]
///   %m = const f32[2] [0.0, 0.0]
///   %v = const f32[2] [1.0, 1.0]
///   %w2 = const f32[2,2,1,1] [1.0, 1.0, 0.5, 0.5]
///   %c1 = Conv(%x, %w1) : f32[N,2,4,4]
///   %bn = BatchNormalization(%c1, %g, %b, %m, %v) : f32[N,2,4,4]
///   %r = Relu(%bn) : f32[N,2,4,4]
///   %y = Conv(%r, %w2) : f32[N,2,4,4]
///   return %y
/// }
/// ```
///
/// Options (both passes; `prune-heads` spells `min-channels` as `min-heads`):
///
/// | option         | meaning                                                                 |
/// |----------------|-------------------------------------------------------------------------|
/// | `ratio`        | fraction of units to remove, in [0, 1): per group, or overall with `global` |
/// | `global`       | rank units of all groups together (importance normalized per group)    |
/// | `ratios`       | per-layer overrides `[pattern:ratio, ...]` (per-group mode)             |
/// | `params`       | parameter budget: <= 1 a fraction of the model's, > 1 a count           |
/// | `flops`        | FLOP budget, same convention                                            |
/// | `criterion`    | `l1` (default), `l2`, `bn-scale`, `taylor`, `activation`, `random`      |
/// | `min-channels` | fewest units a group keeps (default 1)                                  |
/// | `round`        | kept units rounded up to a multiple of this (default 1)                 |
/// | `protect`      | name patterns: groups whose producers or consumers match stay whole     |
/// | `layers`       | name patterns: prune only groups whose producers match                  |
/// | `samples`      | samples read by `taylor` and `activation` (default 256)                 |
/// | `seed`         | seed of `random` (default 0, combined with the context's seed)          |
///
/// Exactly one target is given: `ratio` and/or `ratios`, or `params`, or `flops`. A pattern
/// containing `*` or `?` is a glob over the whole node name; any other pattern matches names
/// that contain it. docs/pruning.md has the details.

#include "shrink/compress/dependency.h"
#include "shrink/compress/prune_importance.h"
#include "shrink/pass/pass.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace shrink {

class PassRegistry;

/// Parsed options of `prune-channels` / `prune-heads`.
struct PruneOptions {
  PruneCriterion criterion = PruneCriterion::L1; ///< How units are ranked.
  double ratio = -1;   ///< Fraction of units to remove; negative when not given.
  bool global = false; ///< Rank all groups' units together.
  std::vector<std::pair<std::string, double>> ratios; ///< Per-layer (pattern, ratio) overrides.
  double params = 0;     ///< Parameter budget (<= 1: fraction, > 1: count); 0 when not given.
  double flops = 0;      ///< FLOP budget, same convention; 0 when not given.
  int64_t min_units = 1; ///< Fewest units a group keeps.
  int64_t round = 1;     ///< Kept units are rounded up to a multiple of this.
  std::vector<std::string> protect; ///< Patterns of layers that must stay whole.
  std::vector<std::string> layers;  ///< Patterns restricting which groups are pruned.
  int64_t samples = 256;            ///< Samples for `taylor` and `activation`.
  uint64_t seed = 0;                ///< Seed for `random`.

  /// Reads and checks options for pass `pass` (`kind` picks the `min-...` spelling). Throws
  /// `RecipeError` naming the pass for a ratio outside [0, 1), a missing or doubled target, an
  /// unknown criterion or an unknown key.
  static PruneOptions parse(const std::string& pass, PruneUnitKind kind, const Options& options);
};

/// What pruning will remove, before the graph is changed.
struct PrunePlan {
  std::vector<PruneGroup> groups;            ///< Every group of the graph.
  std::vector<std::vector<int64_t>> removed; ///< Per group, the units to remove (ascending).
  std::vector<std::string> warnings;         ///< Protected and blocked groups, fallbacks.
  Stats stats;                               ///< Counters (see `PrunePass::run`).
};

/// Decides which units of `graph` to remove under `options`, for groups of `kind`. Throws
/// `Error` for a pattern that matches no node, a group selected by `layers` that is blocked
/// (naming its nodes and the reason), when no group of `kind` can be pruned at all, and when a
/// criterion's context is missing.
PrunePlan plan_pruning(const Graph& graph, const PruneOptions& options, PruneUnitKind kind,
                       PassContext& ctx, const std::string& pass = "prune-channels");

/// True when node name `name` matches `pattern`: a glob (`*`, `?`) over the whole name when the
/// pattern has wildcards, a substring otherwise.
bool prune_pattern_matches(const std::string& pattern, const std::string& name);

/// The pass behind `prune-channels` and `prune-heads`.
class PrunePass : public Pass {
public:
  /// Builds the pass for units of `kind` from raw options.
  PrunePass(PruneUnitKind kind, const Options& options);
  const PassInfo& info() const override;
  /// Plans and applies the pruning. Stats: "groups", "prunable_groups", "blocked_groups",
  /// "protected_groups", "pruned_groups", "units_before", "units_removed", "params_before",
  /// "params_after", "flops_before", "flops_after". Warnings name every protected or blocked
  /// group of the pass's kind.
  PassResult run(Graph& graph, PassContext& ctx) override;
  /// The parsed options.
  const PruneOptions& options() const { return options_; }

private:
  PruneUnitKind kind_;
  PruneOptions options_;
  PassInfo info_;
};

/// `prune-channels`: removes channels and hidden neurons.
class PruneChannelsPass : public PrunePass {
public:
  /// Builds the pass from options (see the table above).
  explicit PruneChannelsPass(const Options& options = {})
      : PrunePass(PruneUnitKind::Channel, options) {}
};

/// `prune-heads`: removes attention heads.
class PruneHeadsPass : public PrunePass {
public:
  /// Builds the pass from options (see the table above).
  explicit PruneHeadsPass(const Options& options = {}) : PrunePass(PruneUnitKind::Head, options) {}
};

/// Registers `prune-channels` with `registry` (idempotent).
void register_prune_channels_pass(PassRegistry& registry);

/// Registers `prune-heads` with `registry` (idempotent).
void register_prune_heads_pass(PassRegistry& registry);

} // namespace shrink
