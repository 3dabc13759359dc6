#pragma once
// Lexical rules of the IR text form shared by the printer and the parser, so that what one writes
// bare the other reads back as one token.

#include <string>

namespace shrink::text_syntax {

/// True for the characters a bare `%name` or `@name` may contain. ONNX names use `.`, `/`, `:`
/// and `-` freely.
inline bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == ':' || c == '/' || c == '-';
}

/// True when `name` can be written after `%` or `@` without quotes. A trailing `:` is not part of
/// a bare name (it separates `%x: f32` in the graph header), so such names are quoted.
inline bool is_bare_name(const std::string& name) {
  if (name.empty() || name.back() == ':') return false;
  for (char c : name)
    if (!is_name_char(c)) return false;
  return true;
}

/// True for identifiers: a letter or `_`, then letters, digits and `_`.
inline bool is_identifier(const std::string& s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

} // namespace shrink::text_syntax
