#pragma once
/// \file
/// The IR verifier: checks every invariant of a Graph and reports every problem at once.
///
/// Checked: use-lists match node inputs (both directions); producers match node outputs; every
/// input is defined before its use in program order; the graph is acyclic; every op is in the op
/// table; input and output counts are within the op's arity and required inputs are present;
/// attribute kinds match the op table (unknown attribute names are reported too); every
/// initializer's tensor has its value's dtype and shape; graph inputs and outputs are values of
/// the graph; value and node names are unique and non-empty.

#include <string>
#include <vector>

namespace shrink {

class Graph;

/// Returns one message per problem found in `graph`, in a deterministic order; empty when the
/// graph is well-formed. Each message names the node or value concerned, e.g.
/// "node 'c' (Conv): expects 2..3 inputs, has 1". Never throws for a malformed graph.
std::vector<std::string> verify(const Graph& graph);

/// Throws `VerifyError` carrying every problem `verify` finds; returns when there is none.
void verify_or_throw(const Graph& graph);

} // namespace shrink
