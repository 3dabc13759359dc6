#pragma once
/// \file
/// Per-layer records in a pass's `Stats`: passes that report on each layer (`lowrank`,
/// `quantize`, `analyze-sensitivity`, ...) store field `f` of layer `node` under the key
/// `layer:<node>:<f>`, so that a report rebuilt from a saved `PassRecord` can list them.

#include "shrink/pass/pass.h"

#include <string>

namespace shrink {

/// The stats key of field `field` of layer `node`: `layer:<node>:<field>`.
inline std::string layer_stat_key(const std::string& node, const std::string& field) {
  return "layer:" + node + ":" + field;
}

/// Calls `fn(node, field, value)` for every `layer:<node>:<field>` entry of `stats`, in key
/// order. Node names may contain ':'; the field is what follows the last one.
template <class Fn> void for_each_layer_stat(const Stats& stats, Fn&& fn) {
  static const std::string prefix = "layer:";
  for (auto it = stats.lower_bound(prefix); it != stats.end(); ++it) {
    const std::string& key = it->first;
    if (key.compare(0, prefix.size(), prefix) != 0) break;
    const size_t colon = key.rfind(':');
    if (colon <= prefix.size()) continue;
    fn(key.substr(prefix.size(), colon - prefix.size()), key.substr(colon + 1), it->second);
  }
}

} // namespace shrink
