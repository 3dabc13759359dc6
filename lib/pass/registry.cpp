#include "shrink/pass/registry.h"

#include "shrink/core/error.h"
#include "shrink/pass/pipeline.h"
#include "shrink/transforms/builtin.h"

#include <algorithm>
#include <cctype>

namespace shrink {

// The compression passes live in a higher layer (shrink_compress) that this library may not
// depend on. A weak reference lets the global registry load them whenever they are linked in; it
// is null in programs that link only the lower layers.
void register_compress_passes(PassRegistry& registry) __attribute__((weak));

namespace {

bool is_kebab_case(const std::string& name) {
  if (name.empty() || !std::islower(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name)
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '-'))
      return false;
  return name.back() != '-';
}

} // namespace

PassRegistry& PassRegistry::global() {
  static PassRegistry* registry = [] {
    // Never destroyed: static registration objects and late users may outlive static teardown.
    auto* r = new PassRegistry();
    r->is_global_ = true;
    return r;
  }();
  return *registry;
}

void PassRegistry::ensure_builtins() const {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  if (!is_global_ || builtins_loaded_) return;
  // Set first: the built-in hooks register into this same registry.
  builtins_loaded_ = true;
  register_builtin_passes();
  if (register_compress_passes) register_compress_passes(PassRegistry::global());
}

void PassRegistry::register_pass(const std::string& name, const std::string& summary,
                                 PassFactory factory) {
  if (!is_kebab_case(name))
    throw Error("cannot register pass '" + name +
                "': pass names are kebab-case (lower-case letters, digits and '-')");
  if (name == kFixpointPass)
    throw Error("cannot register pass 'fixpoint': the name is reserved for fixpoint(...) groups");
  if (!factory) throw Error("cannot register pass '" + name + "' without a factory");
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  for (const PassEntry& e : entries_) {
    if (e.name != name) continue;
    if (e.summary == summary) return;
    throw Error("pass '" + name + "' is registered twice with different summaries ('" + e.summary +
                "' and '" + summary + "'): two passes cannot share a name");
  }
  entries_.push_back(PassEntry{name, summary, std::move(factory)});
  std::sort(entries_.begin(), entries_.end(),
            [](const PassEntry& a, const PassEntry& b) { return a.name < b.name; });
}

bool PassRegistry::contains(const std::string& name) const {
  ensure_builtins();
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const PassEntry& e) { return e.name == name; });
}

PassEntry PassRegistry::find(const std::string& name) const {
  ensure_builtins();
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  for (const PassEntry& e : entries_)
    if (e.name == name) return e;
  std::vector<std::string> known;
  for (const PassEntry& e : entries_)
    known.push_back(e.name);
  known.push_back(kFixpointPass);
  std::string hint = closest_name(name, known);
  std::string message = "unknown pass '" + name + "'";
  if (!hint.empty()) message += " (did you mean '" + hint + "'?)";
  message += "; known passes: ";
  for (size_t i = 0; i < known.size(); ++i)
    message += (i ? ", " : "") + known[i];
  throw RecipeError(message);
}

std::unique_ptr<Pass> PassRegistry::create(const std::string& name, const Options& options) const {
  PassEntry entry = find(name);
  std::unique_ptr<Pass> pass = entry.factory(options);
  if (!pass) throw Error("the factory of pass '" + name + "' returned no pass");
  return pass;
}

std::vector<std::string> PassRegistry::names() const {
  ensure_builtins();
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  std::vector<std::string> out;
  for (const PassEntry& e : entries_)
    out.push_back(e.name);
  return out;
}

std::vector<PassEntry> PassRegistry::entries() const {
  ensure_builtins();
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  return entries_;
}

std::vector<OptionInfo> PassRegistry::options(const std::string& name) const {
  PassEntry entry = find(name);
  OptionRecorder recorder;
  try {
    entry.factory({});
  } catch (const std::exception&) {
    // Expected for passes with a required option; what was read before the refusal still counts.
  }
  return recorder.options();
}

PassRegistration::PassRegistration(void (*hook)(PassRegistry&)) {
  hook(PassRegistry::global());
}

} // namespace shrink
