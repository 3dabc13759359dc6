// OptionReader: typed option values and the unknown-key check.
#include "shrink/core/error.h"
#include "shrink/pass/pass.h"

#include <catch2/catch.hpp>

using namespace shrink;

TEST_CASE("OptionReader reads typed values with defaults", "[passes][options]") {
  OptionReader r("prune-channels", {{"ratio", "0.25"},
                                    {"steps", "3"},
                                    {"verbose", "true"},
                                    {"criterion", "l1"},
                                    {"exclude", "[head, stem]"}});
  CHECK(r.get_double("ratio", 0.5) == 0.25);
  CHECK(r.get_int("steps", 1) == 3);
  CHECK(r.get_bool("verbose", false));
  CHECK(r.get_string("criterion", "l2", {"l1", "l2"}) == "l1");
  CHECK(r.get_list("exclude") == std::vector<std::string>{"head", "stem"});
  CHECK(r.get_double("missing", 1.5) == 1.5);
  CHECK(r.get_list("none", {"x"}) == std::vector<std::string>{"x"});
  CHECK_NOTHROW(r.finish());
}

TEST_CASE("OptionReader rejects values of the wrong type", "[passes][options]") {
  OptionReader r("quantize",
                 {{"bits", "eight"}, {"ratio", "0.5x"}, {"on", "maybe"}, {"mode", "minmax"}});
  CHECK_THROWS_WITH(r.get_int("bits", 8),
                    Catch::Contains("quantize") && Catch::Contains("'bits' must be an integer"));
  CHECK_THROWS_WITH(r.get_double("ratio", 0), Catch::Contains("must be a number"));
  CHECK_THROWS_WITH(r.get_bool("on", false), Catch::Contains("true or false"));
  CHECK_THROWS_WITH(r.get_string("mode", "", {"min-max", "percentile"}),
                    Catch::Contains("did you mean 'min-max'") &&
                        Catch::Contains("allowed values: min-max, percentile"));
}

TEST_CASE("OptionReader::finish names unknown keys and the closest known one",
          "[passes][options]") {
  OptionReader r("prune-channels", {{"ratoi", "0.5"}});
  r.get_double("ratio", 0.5);
  r.get_string("criterion", "l1");
  try {
    r.finish();
    FAIL("finish() accepted an unknown key");
  } catch (const RecipeError& e) {
    std::string msg = e.what();
    CHECK_THAT(msg, Catch::Contains("pass 'prune-channels' has no option 'ratoi'"));
    CHECK_THAT(msg, Catch::Contains("did you mean 'ratio'?"));
    CHECK_THAT(msg, Catch::Contains("known options: criterion, ratio"));
  }
  OptionReader none("dce", {{"x", "1"}});
  CHECK_THROWS_WITH(none.finish(), Catch::Contains("takes no options"));
}
