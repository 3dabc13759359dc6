#include "shrink/core/error.h"

#include <algorithm>
#include <sstream>

namespace shrink {

namespace {
std::string join_lines(const std::string& head, const std::vector<std::string>& lines) {
  std::ostringstream out;
  out << head;
  for (const auto& l : lines)
    out << "\n  " << l;
  return out.str();
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (std::tolower(a[i - 1]) == std::tolower(b[j - 1]) ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}
} // namespace

ParseError::ParseError(const std::string& source, int line, int column, const std::string& message)
    : Error(source + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message),
      source_(source), line_(line), column_(column) {}

VerifyError::VerifyError(std::vector<std::string> diagnostics)
    : Error(join_lines("graph failed verification (" + std::to_string(diagnostics.size()) +
                           " problem" + (diagnostics.size() == 1 ? "" : "s") + "):",
                       diagnostics)),
      diagnostics_(std::move(diagnostics)) {}

UnsupportedError::UnsupportedError(const std::string& what, std::vector<std::string> items)
    : Error(join_lines(what, items)), items_(std::move(items)) {}

std::string closest_name(const std::string& name, const std::vector<std::string>& known) {
  std::string best;
  size_t best_d = std::string::npos;
  for (const auto& k : known) {
    size_t d = edit_distance(name, k);
    if (d < best_d) {
      best_d = d;
      best = k;
    }
  }
  // A suggestion is only useful when it is closer than a rewrite of half the word.
  if (best_d == std::string::npos || best_d > std::max<size_t>(2, name.size() / 2)) return "";
  return best;
}

} // namespace shrink
