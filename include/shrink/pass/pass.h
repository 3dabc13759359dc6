#pragma once
/// \file
/// The pass interface. Every transformation — cleanup or compression — is a `Pass` that turns
/// one Graph into another in place, declares what it needs, and reports statistics.

#include "shrink/ir/graph.h"
#include "shrink/ir/interfaces.h"

#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <vector>

namespace shrink {

/// Graph properties a pass can require, establish or invalidate (e.g. "shapes": every value has
/// an inferred type).
using Props = std::set<std::string>;

/// What a pass needs from its context before it can run.
struct Needs {
  bool calibration_data = false; ///< `PassContext::calibration`.
  bool train_data = false;       ///< `PassContext::train`.
  bool eval_data = false;        ///< `PassContext::eval`.
  bool trainer = false;          ///< `PassContext::trainer`.
  bool teacher = false;          ///< `PassContext::teacher` (defaults to the pipeline input).
};

/// Static description of a pass.
struct PassInfo {
  std::string name;    ///< Kebab-case registry name ("fold-batchnorm").
  std::string summary; ///< One sentence for `--help` and docs.
  Props requires;      ///< Properties that must hold before the pass runs.
  Props establishes;   ///< Properties that hold after it.
  Props invalidates;   ///< Properties it may break.
  Needs needs;         ///< Context it needs.
};

/// Statistics a pass reports: ordered name -> number ("folded": 3).
using Stats = std::map<std::string, double>;

/// What a pass returns.
struct PassResult {
  bool changed = false;              ///< False when the graph is exactly as before.
  Stats stats;                       ///< Counters for the report.
  std::vector<std::string> warnings; ///< Non-fatal notes for the user.
};

/// Everything a pass may use besides the graph. Pointers are not owned and may be null.
struct PassContext {
  Executor* executor = nullptr; ///< Fast execution (calibration, evaluation).
  Trainer* trainer = nullptr;   ///< Gradients and training (LibTorch).
  const DataSource* calibration = nullptr;
  const DataSource* train = nullptr;
  const DataSource* eval = nullptr;
  const Graph* teacher = nullptr; ///< The frozen teacher for distillation.
  uint64_t seed = 0;              ///< Seed for every random choice.
  ProgressFn progress;            ///< Progress of long work (may be empty).
  std::ostream* log = nullptr;    ///< Human-readable notes (may be null).
};

/// A Graph -> Graph transformation.
class Pass {
public:
  virtual ~Pass() = default;
  /// Name, summary, requirements.
  virtual const PassInfo& info() const = 0;
  /// Transforms `graph` in place.
  virtual PassResult run(Graph& graph, PassContext& ctx) = 0;
};

/// Raw options of one pass instance, as written in pipeline text or YAML (`ratio=0.5`).
using Options = std::map<std::string, std::string>;

/// Reads typed values from `Options` and, in `finish()`, rejects keys nobody read with a
/// `RecipeError` that names the pass and suggests the closest known key.
class OptionReader {
public:
  /// `pass` names the pass in error messages.
  OptionReader(std::string pass, const Options& options);
  /// A number option (accepts integers and decimals).
  double get_double(const std::string& key, double def);
  /// An integer option.
  int64_t get_int(const std::string& key, int64_t def);
  /// A boolean option ("true"/"false"/"1"/"0").
  bool get_bool(const std::string& key, bool def);
  /// A string option; when `allowed` is not empty the value must be one of them.
  std::string get_string(const std::string& key, const std::string& def,
                         const std::vector<std::string>& allowed = {});
  /// A comma- or space-separated list of strings ("[a,b]" and "a,b" both work).
  std::vector<std::string> get_list(const std::string& key, std::vector<std::string> def = {});
  /// Throws `RecipeError` for any key that no getter asked for.
  void finish();

private:
  void record(const std::string& key, const char* type, std::string def,
              std::vector<std::string> allowed = {});

  std::string pass_;
  Options options_;
  std::set<std::string> read_;
};

/// One option of a pass as its `OptionReader` reads it (see `PassRegistry::options`).
struct OptionInfo {
  std::string key;                  ///< The option's name.
  std::string type;                 ///< "number", "integer", "bool", "string" or "list".
  std::string default_value;        ///< The default in pipeline-text form ("0.5", "[a,b]", "").
  std::vector<std::string> allowed; ///< The allowed values of a string option (empty: any).
};

/// While alive, records every option that `OptionReader`s on this thread read, with its type and
/// default. Describing a pass by running its factory keeps the description from drifting away
/// from the code that reads the options. Recorders nest; the innermost one records.
class OptionRecorder {
public:
  /// Starts recording on this thread.
  OptionRecorder();
  /// Stops recording and restores the enclosing recorder.
  ~OptionRecorder();
  OptionRecorder(const OptionRecorder&) = delete;
  OptionRecorder& operator=(const OptionRecorder&) = delete;
  /// The options read so far, in the order they were first read.
  const std::vector<OptionInfo>& options() const { return options_; }

private:
  friend class OptionReader;
  std::vector<OptionInfo> options_;
  OptionRecorder* previous_;
};

} // namespace shrink
