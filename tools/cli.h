#pragma once
// Shared pieces of the `shrink` command-line tool: argument parsing and output helpers.

#include <cstdint>
#include <functional>
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
int cmd_run(const std::vector<std::string>& argv);
int cmd_eval(const std::vector<std::string>& argv);
int cmd_bench(const std::vector<std::string>& argv);
int cmd_convert(const std::vector<std::string>& argv);

/// A one-line progress bar on stderr, drawn only when stderr is a terminal and not `quiet`;
/// redrawn at most ten times a second. `fn()` gives the callback for `PassContext::progress`.
class ProgressBar {
public:
  /// A bar that draws nothing when `quiet`.
  explicit ProgressBar(bool quiet);
  /// Clears the line if anything was drawn.
  ~ProgressBar();
  /// Draws done/total with a status.
  void update(int64_t done, int64_t total, const std::string& status);
  /// Clears the bar's line.
  void clear();
  /// A callback that calls `update`.
  std::function<void(int64_t, int64_t, const std::string&)> fn();

private:
  bool enabled_;
  bool drawn_ = false;
  double last_ = 0;
};

/// Escapes a string for JSON output.
std::string json_escape(const std::string& s);

} // namespace shrink::cli
