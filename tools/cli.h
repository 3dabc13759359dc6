#pragma once
// Shared pieces of the `shrink` command-line tool: argument parsing and output helpers.

#include <map>
#include <set>
#include <string>
#include <vector>

namespace shrink::cli {

/// Exit codes: 0 success, 1 the work failed (bad model, failed pass), 2 bad usage.
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

/// Thrown for a command line that does not fit the command; main prints it with the usage.
struct UsageError {
  std::string message;
};

/// Parsed arguments of one subcommand: positionals, `--flag`, and `--key value` / `--key=value`.
class Args {
public:
  /// `value_options` are the options that take a value; anything else starting with `--` is a
  /// flag. Unknown options are a UsageError with a suggestion.
  Args(const std::vector<std::string>& argv, const std::set<std::string>& flags,
       const std::set<std::string>& value_options);
  /// Positional arguments in order.
  const std::vector<std::string>& positional() const { return positional_; }
  /// True when the flag was given.
  bool flag(const std::string& name) const { return flags_.count(name) != 0; }
  /// The option's value, or `def`.
  std::string value(const std::string& name, const std::string& def = "") const;
  /// True when the option was given.
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  /// Every value given for a repeatable option, in order.
  std::vector<std::string> values(const std::string& name) const;

private:
  std::vector<std::string> positional_;
  std::set<std::string> flags_;
  std::multimap<std::string, std::string> values_;
};

/// Subcommands; each returns an exit code.
int cmd_info(const std::vector<std::string>& argv);
int cmd_opt(const std::vector<std::string>& argv);
int cmd_passes(const std::vector<std::string>& argv);
int cmd_ops(const std::vector<std::string>& argv);

/// Escapes a string for JSON output.
std::string json_escape(const std::string& s);

} // namespace shrink::cli
