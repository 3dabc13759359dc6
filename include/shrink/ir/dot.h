#pragma once
/// \file
/// Graphviz export of a Graph, for looking at models (`dot -Tsvg model.dot -o model.svg`).

#include <string>

namespace shrink {

class Graph;

/// Returns the graph in Graphviz DOT. Each node is a box labelled with its op and name; each
/// edge carries the type of the value it stands for; graph inputs and outputs are distinct
/// shapes (`invhouse` / `house`). Initializers are folded into the label of the node that uses
/// them (`W: %w f32[16,16,3,3]`) instead of being drawn as boxes of their own, so that weights do
/// not clutter the picture; an initializer that is itself a graph output gets its own note.
/// Names are escaped, so any value or node name is safe.
std::string to_dot(const Graph& graph);

} // namespace shrink
