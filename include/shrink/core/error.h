#pragma once
/// \file
/// The exception types of shrink. Every error a user can cause is one of these, with a message
/// that says what is wrong, where (file, line, node name) and what to do about it.

#include <stdexcept>
#include <string>
#include <vector>

namespace shrink {

/// Base class of every exception shrink throws on purpose.
class Error : public std::runtime_error {
public:
  /// Creates an error with a complete, user-facing message.
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

/// Text that does not parse (IR text, pipeline text, YAML recipes). Carries the location.
class ParseError : public Error {
public:
  /// `source` is a file name or "<string>"; line and column count from 1.
  ParseError(const std::string& source, int line, int column, const std::string& message);
  /// The file name or "<string>".
  const std::string& source() const { return source_; }
  /// The 1-based line of the problem.
  int line() const { return line_; }
  /// The 1-based column of the problem.
  int column() const { return column_; }

private:
  std::string source_;
  int line_;
  int column_;
};

/// A graph that breaks the IR's invariants. Carries every diagnostic, not only the first.
class VerifyError : public Error {
public:
  /// `diagnostics` holds one line per problem, each naming the node or value concerned.
  explicit VerifyError(std::vector<std::string> diagnostics);
  /// All problems found, one per entry.
  const std::vector<std::string>& diagnostics() const { return diagnostics_; }

private:
  std::vector<std::string> diagnostics_;
};

/// A recipe (YAML or pipeline text) that is well-formed but wrong: unknown pass, bad option.
class RecipeError : public Error {
public:
  using Error::Error;
};

/// Input that uses something shrink does not support. Lists every unsupported item at once.
class UnsupportedError : public Error {
public:
  /// `items` are the unsupported things (e.g. "op 'Foo' (node 'n3', opset 13)").
  UnsupportedError(const std::string& what, std::vector<std::string> items);
  /// The unsupported items.
  const std::vector<std::string>& items() const { return items_; }

private:
  std::vector<std::string> items_;
};

/// Returns the known name closest to `name` by edit distance, or "" when none is close.
std::string closest_name(const std::string& name, const std::vector<std::string>& known);

/// Throws `Error(message)` when `condition` is false.
inline void check(bool condition, const std::string& message) {
  if (!condition) throw Error(message);
}

} // namespace shrink
