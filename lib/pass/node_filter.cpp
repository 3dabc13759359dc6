#include "shrink/pass/node_filter.h"

#include "shrink/core/error.h"

#include <algorithm>

namespace shrink {

bool glob_match(const std::string& pattern, const std::string& name) {
  // Iterative match that backtracks to the last '*': linear in practice, no recursion.
  size_t p = 0, n = 0, star = std::string::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (star != std::string::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*')
    ++p;
  return p == pattern.size();
}

std::string NodeFilter::rejects(const std::string& name) const {
  return rejects(std::vector<std::string>{name});
}

std::string NodeFilter::rejects(const std::vector<std::string>& names) const {
  auto matches = [&](const std::string& p) {
    return std::any_of(names.begin(), names.end(),
                       [&](const std::string& n) { return glob_match(p, n); });
  };
  if (!include.empty() && std::none_of(include.begin(), include.end(), matches))
    return "not matched by any include pattern";
  auto ex = std::find_if(exclude.begin(), exclude.end(), matches);
  if (ex != exclude.end()) return "excluded by pattern '" + *ex + "'";
  return {};
}

void NodeFilter::check(const std::string& pass, const std::string& what,
                       const std::vector<std::string>& candidates) const {
  for (const auto* list : {&include, &exclude})
    for (const std::string& pat : *list)
      if (std::none_of(candidates.begin(), candidates.end(),
                       [&](const std::string& c) { return glob_match(pat, c); }))
        throw_pattern_matches_nothing(pass, list == &include ? "include" : "exclude", pat, what,
                                      candidates);
}

void throw_pattern_matches_nothing(const std::string& pass, const std::string& key,
                                   const std::string& pattern, const std::string& what,
                                   const std::vector<std::string>& candidates) {
  std::string names;
  const size_t shown = std::min<size_t>(candidates.size(), 12);
  for (size_t i = 0; i < shown; ++i)
    names += (i ? ", " : "") + candidates[i];
  if (candidates.size() > shown) names += ", ...";
  throw RecipeError(
      "pass '" + pass + "': " + key + " pattern '" + pattern + "' matches no " + what +
      (names.empty() ? std::string(" (the graph has none)") : " (they are: " + names + ")") +
      "; patterns are globs over node names ('*' any run, '?' one character)");
}

} // namespace shrink
