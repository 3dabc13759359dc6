#pragma once
/// \file
/// The reference executor: runs every op of the op table with its plain C++ reference kernel.
/// It is the ground truth the other executors and the lossless passes are tested against.
///
/// ```cpp
/// shrink::ReferenceExecutor exec;
/// std::vector<shrink::Tensor> out = exec.run(graph, {images}, {"conv3_out"});
/// // out[0..k) are the graph outputs, then the fetched value "conv3_out".
/// ```

#include "shrink/ir/interfaces.h"

#include <string>
#include <vector>

namespace shrink {

/// Runs graphs node by node with the reference kernels (`evaluate_node`), for any batch size.
///
/// Before running, the graph is verified (`verify`; a broken graph is refused with a
/// `VerifyError` listing every problem) and the inputs are checked against the graph input types:
/// count, dtype, rank, known dimensions, and symbolic dimensions bound consistently across inputs
/// (`N` must be the same in every input that uses it). Intermediate tensors are freed after their
/// last use. An error inside a node is rethrown with the node named: "while running node 'conv3'
/// (Conv): ...". A node output whose static type is ranked must match it in dtype, rank and known
/// dimensions, so a wrong type annotation is caught where it appears.
class ReferenceExecutor : public Executor {
public:
  /// "reference".
  std::string name() const override { return "reference"; }

  /// Runs `graph` on `inputs` (one per graph input, in order). Returns the graph outputs in
  /// order, followed by the values named in `fetch` (graph inputs, initializers and node outputs
  /// may all be fetched). Returned tensors never share storage with initializers or `inputs`.
  /// Throws `VerifyError` for a broken graph, `Error` for wrong inputs or an unknown fetch name,
  /// and the node's error (with the node named) when a kernel fails.
  std::vector<Tensor> run(const Graph& graph, const std::vector<Tensor>& inputs,
                          const std::vector<std::string>& fetch = {}) override;
};

} // namespace shrink
