// The pass registry: registration, look-up, suggestions, built-ins and static registration.
#include "shrink/core/error.h"
#include "shrink/pass/registry.h"
#include "shrink/transforms/builtin.h"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace shrink;

namespace {

class NamedPass : public Pass {
public:
  explicit NamedPass(const Options& options) {
    OptionReader reader("test-named", options);
    level_ = reader.get_int("level", 1);
    reader.finish();
  }
  const PassInfo& info() const override {
    static const PassInfo info{"test-named", "A pass for registry tests.", {}, {}, {}, {}};
    return info;
  }
  PassResult run(Graph&, PassContext&) override { return {}; }
  int64_t level_;
};

SHRINK_REGISTER_PASS(register_test_static_pass, NamedPass, "test-static-pass",
                     "Registered by a static object in a test file.");

} // namespace

TEST_CASE("PassRegistry registers, finds and creates passes", "[passes][registry]") {
  PassRegistry r;
  r.register_pass("test-named", "A pass for registry tests.", pass_factory<NamedPass>());
  r.register_pass("alpha-pass", "First.", pass_factory<NamedPass>());
  CHECK(r.contains("test-named"));
  CHECK_FALSE(r.contains("missing"));
  CHECK(r.names() == std::vector<std::string>{"alpha-pass", "test-named"});
  CHECK(r.find("alpha-pass").summary == "First.");
  auto pass = r.create("test-named", {{"level", "3"}});
  REQUIRE(pass);
  CHECK(static_cast<NamedPass&>(*pass).level_ == 3);
  // Same name and summary again is a no-op; another summary under the name is a clash.
  CHECK_NOTHROW(r.register_pass("alpha-pass", "First.", pass_factory<NamedPass>()));
  CHECK(r.names().size() == 2);
  CHECK_THROWS_WITH(r.register_pass("alpha-pass", "Other.", pass_factory<NamedPass>()),
                    Catch::Contains("registered twice"));
  CHECK_THROWS_WITH(r.register_pass("Bad_Name", "x", pass_factory<NamedPass>()),
                    Catch::Contains("kebab-case"));
  CHECK_THROWS_WITH(r.register_pass("fixpoint", "x", pass_factory<NamedPass>()),
                    Catch::Contains("reserved"));
}

TEST_CASE("PassRegistry suggests the closest name for an unknown pass", "[passes][registry]") {
  PassRegistry& r = PassRegistry::global();
  CHECK_THROWS_AS(r.find("fold-batchnrom"), RecipeError);
  CHECK_THROWS_WITH(r.find("fold-batchnrom"),
                    Catch::Contains("unknown pass 'fold-batchnrom'") &&
                        Catch::Contains("did you mean 'fold-batchnorm'?"));
  CHECK_THROWS_WITH(r.create("const-fold", {{"max_elemnts", "5"}}),
                    Catch::Contains("did you mean 'max_elements'?"));
  CHECK_THROWS_WITH(r.find("zzzzzzzzzzzz"), !Catch::Contains("did you mean"));
}

TEST_CASE("The global registry knows the built-in and statically registered passes",
          "[passes][registry]") {
  std::vector<std::string> names = PassRegistry::global().names();
  for (const char* n : {"infer-shapes", "dce", "const-fold", "fold-batchnorm", "fuse",
                        "remove-identity", "test-static-pass"})
    CHECK(std::count(names.begin(), names.end(), n) == 1);
  CHECK(std::is_sorted(names.begin(), names.end()));
  // Idempotent: registering again changes nothing.
  register_builtin_passes();
  CHECK(PassRegistry::global().names() == names);

  PassRegistry local;
  CHECK(local.names().empty());
  register_builtin_passes(local);
  CHECK(local.names().size() == 6);
  for (const PassEntry& e : local.entries()) {
    CAPTURE(e.name);
    auto pass = e.factory({});
    CHECK(pass->info().name == e.name);
    CHECK(pass->info().summary == e.summary);
    CHECK_FALSE(e.summary.empty());
  }
}
