#pragma once
/// \file
/// Choosing layers by node name: the glob patterns of the `include` / `exclude` options that
/// `lowrank`, `quantize`, `equalize`, `smooth-quant` and the pruning passes accept.

#include <string>
#include <vector>

namespace shrink {

/// Matches `name` against a glob `pattern`: `*` matches any run of characters, `?` one
/// character, everything else itself. The whole name must match.
bool glob_match(const std::string& pattern, const std::string& name);

/// A pass's `include` / `exclude` patterns over node names. An empty `include` selects every
/// candidate; `exclude` wins over `include`.
struct NodeFilter {
  std::vector<std::string> include; ///< Glob patterns; a candidate must match one (if any).
  std::vector<std::string> exclude; ///< Glob patterns; a candidate matching one is left alone.

  /// Why the filter rejects `name` ("not matched by any include pattern", "excluded by pattern
  /// 'p'"), or an empty string when it selects it.
  std::string rejects(const std::string& name) const;
  /// The same for a unit of several nodes chosen together (e.g. a LayerNorm and the layers
  /// reading it): `include` needs one of `names` to match, `exclude` rejects if any matches.
  std::string rejects(const std::vector<std::string>& names) const;

  /// Throws `RecipeError` when a pattern matches none of `candidates`, since that is almost
  /// always a typo. The message names `pass`, the option, the pattern, what the candidates are
  /// (`what`, e.g. "Gemm, MatMul or Conv node with constant weights") and the first few of
  /// them.
  void check(const std::string& pass, const std::string& what,
             const std::vector<std::string>& candidates) const;
};

/// Throws the `RecipeError` of `NodeFilter::check` for one pattern of option `key` that matches
/// none of `candidates`; passes with pattern options of their own (`quantize`'s `methods`) use
/// it so that every pass words the error the same way.
[[noreturn]] void throw_pattern_matches_nothing(const std::string& pass, const std::string& key,
                                                const std::string& pattern, const std::string& what,
                                                const std::vector<std::string>& candidates);

} // namespace shrink
