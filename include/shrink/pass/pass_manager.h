#pragma once
/// \file
/// The pass manager: validates a pipeline against its context before anything runs, then runs
/// it, verifying the graph after each pass that changed it and recording what each pass did.
///
/// ```cpp
/// PassManager pm(parse_pipeline("fold-batchnorm,fixpoint(const-fold,fuse,dce)"));
/// PassContext ctx;
/// PipelineReport report = pm.run(graph, ctx);   // throws before running when invalid
/// ```

#include "shrink/pass/pass.h"
#include "shrink/pass/pipeline.h"
#include "shrink/pass/registry.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace shrink {

/// What one pass (or one `fixpoint` group) did.
struct PassRecord {
  std::string name;     ///< Registry name, or "fixpoint".
  Options options;      ///< Options as given.
  double seconds = 0;   ///< Wall time (summed over rounds inside a fixpoint).
  bool changed = false; ///< True when the pass changed the graph (in any round).
  Stats stats;          ///< The pass's counters (summed over rounds); "rounds" for a fixpoint.
  std::vector<std::string>
      warnings;             ///< The pass's warnings (in a fixpoint, each distinct one once).
  int64_t params_after = 0; ///< `Graph::num_parameters()` after the pass.
  int64_t bytes_after = 0;  ///< `Graph::parameter_bytes()` after the pass.
  int64_t nodes_after = 0;  ///< Number of nodes after the pass.
  bool automatic = false;   ///< True for an `infer-shapes` the manager inserted itself.
  std::vector<PassRecord> children; ///< For a fixpoint: one record per child, over all rounds.
};

/// What a whole pipeline run did.
struct PipelineReport {
  std::vector<PassRecord> passes; ///< One record per top-level item, in order.
  double seconds = 0;             ///< Total wall time.
  int64_t params_before = 0;      ///< `Graph::num_parameters()` before the run.
  int64_t bytes_before = 0;       ///< `Graph::parameter_bytes()` before the run.
  int64_t nodes_before = 0;       ///< Number of nodes before the run.
  int64_t params_after = 0;       ///< `Graph::num_parameters()` after the run.
  int64_t bytes_after = 0;        ///< `Graph::parameter_bytes()` after the run.
  int64_t nodes_after = 0;        ///< Number of nodes after the run.

  /// Every warning of every pass, prefixed with the pass name.
  std::vector<std::string> warnings() const;
  /// The first top-level record named `name` (children of fixpoints included), or nullptr.
  const PassRecord* find(const std::string& name) const;
};

/// Runs a list of passes on a graph.
class PassManager {
public:
  /// Property the manager establishes itself by running `infer_shapes`.
  static constexpr const char* kShapes = "shapes";
  /// Most rounds a `fixpoint` runs before it stops with a warning.
  static constexpr int kMaxFixpointRounds = 32;

  /// An empty pipeline using the global registry.
  PassManager();
  /// A pipeline from specs; names are looked up in `registry` (which must outlive the manager)
  /// when validating.
  explicit PassManager(std::vector<PassSpec> specs,
                       const PassRegistry& registry = PassRegistry::global());
  /// A pipeline parsed from text (`ParseError` on malformed text).
  static PassManager from_text(const std::string& pipeline,
                               const PassRegistry& registry = PassRegistry::global());
  ~PassManager();
  PassManager(PassManager&&) noexcept;
  PassManager& operator=(PassManager&&) noexcept;

  /// Appends a pass given by spec (looked up when validating).
  PassManager& add(PassSpec spec);
  /// Appends a ready-made pass object.
  PassManager& add(std::unique_ptr<Pass> pass);
  /// Appends a fixpoint group of ready-made pass objects.
  PassManager& add_fixpoint(std::vector<std::unique_ptr<Pass>> passes);

  /// Verify the graph after every pass that changed it (default on).
  void set_verify_each(bool on) { verify_each_ = on; }

  /// Checks, before anything runs, that every pass exists, its options are valid, every `needs`
  /// is met by `ctx` and every `requires` property is established by an earlier pass (or is
  /// "shapes", which the manager establishes itself). Throws `RecipeError` listing every
  /// problem.
  void validate(const PassContext& ctx);

  /// Validates, then runs the passes in order on `graph`. A fixpoint repeats its children until
  /// none changes the graph (at most `kMaxFixpointRounds` rounds, then a warning). After each
  /// pass that changed the graph, the graph is verified; a broken graph throws `VerifyError`
  /// naming the pass. Returns what each pass did.
  PipelineReport run(Graph& graph, PassContext& ctx);

  /// The pipeline as canonical text (ready-made passes print by their `info().name`).
  std::string str() const;

private:
  struct Step;
  static std::unique_ptr<Step> make_step(PassSpec spec);
  static bool needs_teacher(const std::vector<std::unique_ptr<Step>>& steps);
  PassRecord run_step(Step& step, Graph& graph, PassContext& ctx, Props& props);
  PassRecord run_pass(Step& step, Graph& graph, PassContext& ctx, Props& props);
  void ensure_shapes(Graph& graph, Props& props, std::vector<PassRecord>& records);

  std::vector<std::unique_ptr<Step>> steps_;
  const PassRegistry* registry_;
  bool verify_each_ = true;
  bool validated_ = false;
};

} // namespace shrink
