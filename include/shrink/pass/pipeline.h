#pragma once
/// \file
/// Pipeline text: a comma-separated list of passes with options, and `fixpoint(...)` groups.
///
/// ```
/// fold-batchnorm,prune-channels{ratio=0.5,criterion=l1},fixpoint(fuse,dce)
/// quantize{exclude=[head, "block 3"],calibration="min max"}
/// ```
///
/// Grammar (whitespace is allowed between tokens):
///
/// ```
/// pipeline := [ item { "," item } ]
/// item     := name [ "{" [ option { "," option } ] "}" ] [ "(" pipeline ")" ]
/// option   := key "=" value
/// value    := bare | quoted | "[" [ element { "," element } ] "]"
/// element  := bare | quoted
/// ```
///
/// Names and keys are letters, digits, `-` and `_`. A bare value is any run of characters other
/// than whitespace and `,{}[]()="`; a quoted value is `"..."` with `\"` and `\\` escapes. A list
/// value is kept in its canonical text form (`[a,b]`) in `Options`, which `OptionReader::get_list`
/// reads. Only `fixpoint` takes a parenthesised child list.

#include "shrink/pass/pass.h"

#include <string>
#include <vector>

namespace shrink {

/// The name of the pseudo-pass that repeats its children until none changes the graph.
inline constexpr const char* kFixpointPass = "fixpoint";

/// One item of a pipeline: a pass name with options, or `fixpoint` with children.
struct PassSpec {
  std::string name;               ///< Registry name, or "fixpoint".
  Options options;                ///< Raw options as written.
  std::vector<PassSpec> children; ///< The passes a `fixpoint` repeats; empty otherwise.
  int line = 0;                   ///< 1-based line in the pipeline text (0 when not parsed).
  int column = 0;                 ///< 1-based column in the pipeline text (0 when not parsed).

  /// A spec for pass `name` with `options`.
  static PassSpec of(std::string name, Options options = {});
  /// A `fixpoint` over `children`.
  static PassSpec fixpoint(std::vector<PassSpec> children, Options options = {});

  /// Equal names, options and children (positions are ignored).
  bool operator==(const PassSpec& other) const;
  /// Negation of `==`.
  bool operator!=(const PassSpec& other) const { return !(*this == other); }
};

/// Parses pipeline text. `source` names the text in errors ("<pipeline>", a recipe file name).
/// Throws `ParseError` with line and column for malformed text. It does not look names up: the
/// `PassManager` does that when it validates.
std::vector<PassSpec> parse_pipeline(const std::string& text,
                                     const std::string& source = "<pipeline>");

/// Canonical text of a pipeline: no spaces, options sorted by key, values quoted only when they
/// need it. `parse_pipeline(print_pipeline(s)) == s`.
std::string print_pipeline(const std::vector<PassSpec>& specs);

/// Canonical text of one option value (quoted when it is not a bare word or a list).
std::string quote_option_value(const std::string& value);

/// Splits a list value ("[a, \"b c\"]", "a,b" or "a b") into its elements, honouring quotes.
/// Throws `Error` for an unterminated quote.
std::vector<std::string> split_option_list(const std::string& value);

} // namespace shrink
