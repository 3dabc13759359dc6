#pragma once
/// \file
/// Importance criteria for structured pruning: how much each unit (channel or head) of a prune
/// group matters, so that the least important units are removed first.
///
/// | criterion    | score of one unit in one member                                          |
/// |--------------|--------------------------------------------------------------------------|
/// | `l1`         | sum of \|w\| over the unit's slice of a layer weight                     |
/// | `l2`         | Euclidean norm of the unit's slice of a layer weight                     |
/// | `bn-scale`   | \|gamma\| of the BatchNormalization that normalizes the unit             |
/// | `taylor`     | \|sum of w * dL/dw\| over the unit's slice of every constant (first-order |
/// |              | Taylor estimate of the loss change), gradients from `PassContext::trainer`|
/// | `activation` | mean \|activation\| of the unit at the group's producers' outputs on     |
/// |              | calibration data, run by `PassContext::executor`                         |
/// | `random`     | uniform random, seeded: a baseline                                       |
///
/// A group's importance of unit u is the sum over its members of the member's score of u divided
/// by the member's mean score, so that every member (a Conv weight, the next layer's input
/// slice, ...) counts equally whatever its scale.

#include "shrink/compress/dependency.h"
#include "shrink/pass/pass.h"

#include <cstdint>
#include <string>
#include <vector>

namespace shrink {

/// How unit importance is measured.
enum class PruneCriterion { L1, L2, BnScale, Taylor, Activation, Random };

/// The criterion names as options spell them: "l1", "l2", "bn-scale", "taylor", "activation",
/// "random".
const std::vector<std::string>& prune_criterion_names();

/// The criterion named `name`; throws `RecipeError` listing the known names otherwise.
PruneCriterion parse_prune_criterion(const std::string& name);

/// The option spelling of `criterion`.
std::string prune_criterion_name(PruneCriterion criterion);

/// Settings of `unit_importance`.
struct ImportanceOptions {
  PruneCriterion criterion = PruneCriterion::L1; ///< What to measure.
  int64_t samples = 256;      ///< Most samples read for `taylor` and `activation`.
  int64_t batch_size = 32;    ///< Batch size for `activation`.
  uint64_t seed = 0;          ///< Seed for `random` (combined with `PassContext::seed`).
  std::string pass = "prune"; ///< Names the pass in errors and warnings.
};

/// The importance of every unit of every group with `which[i]` true (every group when `which`
/// is empty); other groups get an empty vector. Higher means more important. Notes (a group
/// without BatchNormalization under `bn-scale`, ...) are appended to `warnings` when given.
///
/// Throws `Error` when the criterion's context is missing: `taylor` needs `ctx.trainer` and
/// data (`ctx.train` or `ctx.calibration`): "taylor needs a trainer"; `activation` needs
/// `ctx.executor` and `ctx.calibration`.
std::vector<std::vector<double>> unit_importance(const Graph& graph,
                                                 const std::vector<PruneGroup>& groups,
                                                 const std::vector<bool>& which,
                                                 const ImportanceOptions& options, PassContext& ctx,
                                                 std::vector<std::string>* warnings = nullptr);

} // namespace shrink
