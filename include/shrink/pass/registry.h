#pragma once
/// \file
/// The one pass registry: kebab-case name -> summary and factory.
///
/// Every pass registers itself from its own .cpp file with `SHRINK_REGISTER_PASS`. Because the
/// libraries are static, a file nobody references would be dropped by the linker together with
/// its static registration, so the macro also defines a named hook function; the layer's
/// explicit `register_..._passes()` function calls those hooks (see transforms/builtin.h). The
/// global registry calls `register_builtin_passes()` on first use, so `PassRegistry::global()`
/// always knows the cleanup passes.

#include "shrink/pass/pass.h"

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace shrink {

/// Builds a pass instance from its raw options. Reads them with an `OptionReader` and calls
/// `finish()`, so that an unknown key is a `RecipeError`.
using PassFactory = std::function<std::unique_ptr<Pass>(const Options&)>;

/// One registered pass.
struct PassEntry {
  std::string name;    ///< Kebab-case name ("fold-batchnorm").
  std::string summary; ///< One sentence for `--help` and docs.
  PassFactory factory; ///< Builds an instance from options.
};

/// A name -> factory table. Thread-safe.
class PassRegistry {
public:
  /// An empty registry (for tests and embedders); it does not load the built-in passes.
  PassRegistry() = default;

  /// The process-wide registry. The first look-up loads the built-in cleanup passes.
  static PassRegistry& global();

  /// Registers a pass. Registering the same name again with the same summary does nothing (a
  /// pass file's static registration and an explicit `register_..._passes()` call may both
  /// run); a different summary under a taken name is a programming error and throws `Error`, as
  /// do names that are not kebab-case and the reserved name "fixpoint".
  void register_pass(const std::string& name, const std::string& summary, PassFactory factory);

  /// True when `name` is registered.
  bool contains(const std::string& name) const;

  /// The entry for `name`. Throws `RecipeError` ("unknown pass 'fold-batchnrom' (did you mean
  /// 'fold-batchnorm'?)") when there is none.
  PassEntry find(const std::string& name) const;

  /// Builds an instance of `name` with `options`; throws `RecipeError` for an unknown name or bad
  /// options.
  std::unique_ptr<Pass> create(const std::string& name, const Options& options = {}) const;

  /// Every registered name, sorted.
  std::vector<std::string> names() const;

  /// Every entry, sorted by name.
  std::vector<PassEntry> entries() const;

  /// The options pass `name` reads, with types and defaults, found by building the pass with no
  /// options under an `OptionRecorder`. A pass that refuses to be built without options (one
  /// that needs a target such as `ratio`) is still described by the options it read before
  /// refusing. Throws `RecipeError` for an unknown name.
  std::vector<OptionInfo> options(const std::string& name) const;

private:
  void ensure_builtins() const;

  mutable std::recursive_mutex mutex_;
  std::vector<PassEntry> entries_;
  bool is_global_ = false;
  mutable bool builtins_loaded_ = false;
};

/// Registers a pass with the global registry when constructed; for static registration objects.
struct PassRegistration {
  /// Calls `hook(PassRegistry::global())`.
  explicit PassRegistration(void (*hook)(PassRegistry&));
};

/// Returns a factory that builds `P` from options (`P` must have a constructor taking
/// `const Options&`).
template <typename P> PassFactory pass_factory() {
  return
      [](const Options& options) -> std::unique_ptr<Pass> { return std::make_unique<P>(options); };
}

} // namespace shrink

/// Registers pass class `PassClass` (constructible from `const Options&`) under `name` with
/// `summary`. Defines `void hook_fn(shrink::PassRegistry&)` in the enclosing namespace, which
/// registers the pass with the given registry, and a static object that calls it on the global
/// registry at start-up. Call `hook_fn` from your layer's explicit registration function so that
/// the static library keeps the file.
#define SHRINK_REGISTER_PASS(hook_fn, PassClass, name, summary)                                    \
  void hook_fn(::shrink::PassRegistry& registry) {                                                 \
    registry.register_pass(name, summary, ::shrink::pass_factory<PassClass>());                    \
  }                                                                                                \
  static const ::shrink::PassRegistration hook_fn##_registration(&hook_fn)
