#pragma once
/// \file
/// The IR text form: a deterministic, line-per-node printer and its parser.
///
/// ```
/// graph @block(%x: f32[N,16,8,8]) {
///   %w = const f32[16,16,3,3] random(seed=1)
///   %b = const f32[4] [0.5, 1.0, -2.0, 3.0]
///   %c = Conv(%x, %w) {pads=[1,1,1,1]} : f32[N,16,8,8]
///   %y = Relu(%c) : f32[N,16,8,8]
///   return %y
/// }
/// ```
///
/// `print(parse(t)) == t` holds for canonical text (text that `print` produced), and
/// `parse(print(g))` rebuilds `g` exactly: names, attributes, types and every constant small
/// enough to print inline. The grammar and the rules (node names, elided constants, quoting) are
/// described in docs/ir.md.

#include <cstdint>
#include <string>

namespace shrink {

class Graph;
class Node;
struct TensorType;

/// Options of the printer.
struct PrintOptions {
  /// Constants (initializers and tensor attributes) with at most this many elements print their
  /// values inline; larger ones print as `hash(0x...)` of their content. A negative value prints
  /// every constant inline, which makes `parse(print(g))` exact for any graph.
  int64_t max_inline_elements = 16;
};

/// Prints `graph` in the text form. Deterministic: equal graphs print equal text.
std::string print(const Graph& graph, const PrintOptions& options = {});

/// Prints one node as its line in the text form (without indentation or newline), for error
/// messages and debugging.
std::string print_node(const Node& node, const PrintOptions& options = {});

/// Prints a type as the text form writes it: `f32[N,16,8,8]`, `f32[]` (scalar), `f32`
/// (unranked), `?` for an unknown dimension.
std::string print_type(const TensorType& type);

/// Parses the text form into a Graph. `source` names the text in error messages (a file name or
/// "<string>"). Throws `ParseError` with line and column for malformed text, undefined or
/// duplicate values and unknown ops. An elided constant (`hash(0x...)`) becomes a deterministic
/// placeholder tensor of the printed dtype and shape, not the original values: use it in tests
/// only.
Graph parse(const std::string& text, const std::string& source = "<string>");

/// Reads and parses a file in the text form; the file name appears in error messages. Throws
/// `Error` when the file cannot be read.
Graph parse_file(const std::string& path);

} // namespace shrink
