// Command-line argument parsing for the `shrink` tool.

#include "cli.h"

#include "shrink/core/error.h"
#include "shrink/recipe/report.h"

#include <cstdio>

namespace shrink::cli {

Args::Args(const std::vector<std::string>& argv, const std::set<std::string>& flags,
           const std::set<std::string>& value_options) {
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.size() < 3 || a.compare(0, 2, "--") != 0) {
      positional_.push_back(a);
      continue;
    }
    std::string key = a.substr(2), value;
    bool has_value = false;
    if (auto eq = key.find('='); eq != std::string::npos) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
      has_value = true;
    }
    if (flags.count(key)) {
      if (has_value) throw UsageError{"option --" + key + " takes no value"};
      flags_.insert(key);
    } else if (value_options.count(key)) {
      if (!has_value) {
        if (i + 1 >= argv.size()) throw UsageError{"option --" + key + " needs a value"};
        value = argv[++i];
      }
      values_.emplace(key, value);
    } else {
      std::vector<std::string> known(flags.begin(), flags.end());
      known.insert(known.end(), value_options.begin(), value_options.end());
      std::string hint = closest_name(key, known);
      throw UsageError{"unknown option --" + key +
                       (hint.empty() ? "" : " (did you mean --" + hint + "?)")};
    }
  }
}

std::string Args::value(const std::string& name, const std::string& def) const {
  auto it = values_.find(name);
  return it == values_.end() ? def : it->second;
}

std::vector<std::string> Args::values(const std::string& name) const {
  std::vector<std::string> out;
  auto range = values_.equal_range(name);
  for (auto it = range.first; it != range.second; ++it)
    out.push_back(it->second);
  return out;
}

std::string json_escape(const std::string& s) {
  // One JSON escaper in the project: the report's; here without its surrounding quotes.
  const std::string quoted = json_string(s);
  return quoted.substr(1, quoted.size() - 2);
}

} // namespace shrink::cli
