// Pipeline text: parsing, printing, round trips and error positions.
#include "shrink/core/error.h"
#include "shrink/pass/pipeline.h"

#include <catch2/catch.hpp>

using namespace shrink;

TEST_CASE("parse_pipeline reads names, options and fixpoint groups", "[passes][pipeline]") {
  auto specs =
      parse_pipeline("fold-batchnorm,prune-channels{ratio=0.5,criterion=l1},fixpoint(fuse,dce)");
  REQUIRE(specs.size() == 3);
  CHECK(specs[0].name == "fold-batchnorm");
  CHECK(specs[0].options.empty());
  CHECK(specs[0].column == 1);
  CHECK(specs[1].name == "prune-channels");
  CHECK(specs[1].options == Options{{"ratio", "0.5"}, {"criterion", "l1"}});
  CHECK(specs[1].column == 16);
  CHECK(specs[2].name == "fixpoint");
  REQUIRE(specs[2].children.size() == 2);
  CHECK(specs[2].children[0].name == "fuse");
  CHECK(specs[2].children[1].name == "dce");
  CHECK(specs[2].children[1].column == 69);
}

TEST_CASE("parse_pipeline reads lists, quoted strings and whitespace", "[passes][pipeline]") {
  auto specs =
      parse_pipeline(" quantize { exclude = [head, \"block 3\"], note=\"a, \\\"b\\\"\" } ,\n dce ");
  REQUIRE(specs.size() == 2);
  CHECK(specs[0].options.at("exclude") == "[head,\"block 3\"]");
  CHECK(specs[0].options.at("note") == "a, \"b\"");
  CHECK(split_option_list(specs[0].options.at("exclude")) ==
        std::vector<std::string>{"head", "block 3"});
  CHECK(specs[1].name == "dce");
  CHECK(specs[1].line == 2);
  CHECK(specs[1].column == 2);
  CHECK(parse_pipeline("").empty());
  CHECK(parse_pipeline("p{}").at(0).options.empty());
  CHECK(parse_pipeline("p{v=[]}").at(0).options.at("v") == "[]");
}

TEST_CASE("print_pipeline gives canonical text that parses back", "[passes][pipeline]") {
  const std::vector<std::string> texts = {
      "fold-batchnorm,prune-channels{ratio=0.5,criterion=l1},fixpoint(fuse,dce)",
      "quantize{exclude=[head, \"block 3\"],mode=\"min max\",empty=\"\"}",
      "fixpoint{max_rounds=4}(a,fixpoint(b{x=1},c),d)",
      "p{path=/tmp/a.onnx,neg=-1e-3,list=[\"x,y\",z]}",
  };
  for (const auto& text : texts) {
    auto specs = parse_pipeline(text);
    std::string canonical = print_pipeline(specs);
    CAPTURE(text, canonical);
    CHECK(parse_pipeline(canonical) == specs);
    CHECK(print_pipeline(parse_pipeline(canonical)) == canonical);
    bool spaces_only_in_quotes =
        canonical.find(' ') == std::string::npos || canonical.find('"') != std::string::npos;
    CHECK(spaces_only_in_quotes);
  }
  CHECK(print_pipeline(parse_pipeline("b{z=1, a=2}")) == "b{a=2,z=1}");
  CHECK(print_pipeline({PassSpec::of("p", {{"k", "two words"}})}) == "p{k=\"two words\"}");
  CHECK(print_pipeline({PassSpec::fixpoint({PassSpec::of("dce")})}) == "fixpoint(dce)");
}

namespace {
ParseError parse_error(const std::string& text) {
  try {
    parse_pipeline(text);
  } catch (const ParseError& e) {
    return e;
  }
  FAIL("no ParseError for '" << text << "'");
  throw;
}
} // namespace

TEST_CASE("parse_pipeline reports bad text with line and column", "[passes][pipeline]") {
  struct Case {
    std::string text;
    int column;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {"dce,,fuse", 5, "expected a pass name"},
      {"dce,", 5, "expected a pass name"},
      {"fuse{ratio}", 11, "expected '='"},
      {"fuse{ratio=0.5", 15, "expected '}'"},
      {"fuse{ratio=0.5 x=1}", 16, "expected ',' or '}'"},
      {"fixpoint(fuse,dce", 9, "never closed"},
      {"fixpoint()", 9, "at least one pass"},
      {"fuse(dce)", 5, "only 'fixpoint'"},
      {"fixpoint", 9, "fixpoint needs a list"},
      {"dce)", 4, "unbalanced ')'"},
      {"p{s=\"abc}", 5, "unterminated string"},
      {"p{a=1,a=2}", 7, "given twice"},
      {"p{l=[a,b}", 9, "expected ',' or ']'"},
      {"dce fuse", 5, "expected ','"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    ParseError e = parse_error(c.text);
    CHECK(e.line() == 1);
    CHECK(e.column() == c.column);
    CHECK_THAT(e.what(), Catch::Contains(c.fragment));
    CHECK_THAT(e.what(), Catch::StartsWith("<pipeline>:1:"));
  }
  ParseError multi = parse_error("dce,\n  fuse{x}");
  CHECK(multi.line() == 2);
  CHECK(multi.column() == 9);
}

TEST_CASE("split_option_list accepts brackets, commas and spaces", "[passes][pipeline]") {
  CHECK(split_option_list("[a,b]") == std::vector<std::string>{"a", "b"});
  CHECK(split_option_list("a, b c") == std::vector<std::string>{"a", "b", "c"});
  CHECK(split_option_list("[]").empty());
  CHECK(split_option_list("[\"\",x]") == std::vector<std::string>{"", "x"});
  CHECK_THROWS_AS(split_option_list("[\"a]"), Error);
}
