#pragma once
/// \file
/// The physical rewrite behind structured pruning: removes chosen units (channels or heads) of
/// prune groups from a graph, so that the smaller graph verifies, runs and exports.

#include "shrink/compress/dependency.h"

#include <cstdint>
#include <vector>

namespace shrink {

/// Removes units from `graph`: for each group `i`, the units listed in `removed[i]` (indices
/// into `groups[i]`'s units, any order; `removed` may be shorter than `groups`).
///
/// Constant members are sliced into new tensors (`Graph::set_initializer`; a `Constant` node's
/// value becomes a new initializer), `Reshape` targets (constant, or a `Concat` of 1-D pieces),
/// `Split` sizes, `Slice` starts/ends and the `group` attribute of grouped convolutions are
/// updated, and shape inference runs again. Groups refer to values by name, so they may come
/// from a clone of `graph`. Afterwards every activation member is checked to have shrunk by
/// exactly the removed count.
///
/// Throws `Error` naming the group when a blocked group would be pruned, when a group would
/// lose every unit, when a unit index is out of range, or when a member is missing from `graph`.
void remove_units(Graph& graph, const std::vector<PruneGroup>& groups,
                  const std::vector<std::vector<int64_t>>& removed);

/// Returns `t` with only the indices `keep` (ascending) along `axis`; per-axis quantization
/// parameters on that axis are kept in step. Works for every dtype.
Tensor slice_tensor(const Tensor& t, int axis, const std::vector<int64_t>& keep);

} // namespace shrink
