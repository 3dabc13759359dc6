#pragma once
/// \file
/// Size and cost of a graph: what `shrink info` prints and what reports record per step.

#include "shrink/ir/graph.h"

#include <cstdint>
#include <map>
#include <string>

namespace shrink {

/// Sizes bound to symbolic dimensions for counting (`{"T", 128}`); unbound symbols count as 1.
using SymbolSizes = std::map<std::string, int64_t>;

/// Summary numbers of a graph.
struct GraphStats {
  int64_t nodes = 0;                  ///< Number of nodes.
  std::map<std::string, int64_t> ops; ///< Node count per op.
  int64_t parameters = 0;             ///< Elements in all initializers.
  int64_t parameter_bytes = 0;        ///< Bytes of all initializers.
  /// Floating-point (or integer) operations for one sample, counting a multiply-add as 2. Symbolic
  /// dimensions count at the size bound to them (1 when unbound, so the batch `N` gives "per
  /// sample"). Values whose shape is unknown contribute nothing (see `complete`).
  int64_t flops = 0;
  /// False when some node's output shape was unknown, so `flops` is a lower bound.
  bool complete = true;
};

/// Computes the statistics from the graph's current value types (run shape inference first for
/// FLOPs).
/// Symbolic dimensions count at their size in `sizes` (1 when absent).
GraphStats graph_stats(const Graph& graph, const SymbolSizes& sizes = {});

/// Multiply-add based FLOPs of one node for one sample (symbolic dimensions at their size in
/// `sizes`, else 1), or -1
/// when a needed shape is unknown.
int64_t node_flops(const Node& node, const SymbolSizes& sizes = {});

/// "1.23M", "456K", "12": compact counts for tables.
std::string human_count(double n);

/// "4.6 MiB", "512 B".
std::string human_bytes(double bytes);

} // namespace shrink
