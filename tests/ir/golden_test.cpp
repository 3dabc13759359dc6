// Golden IR tests: every tests/ir/golden/**/*.mir file holds cases separated by `// -----`. Each
// case is a graph in the IR text form, the pipeline to run on it (`// PIPELINE: ...`, given once
// for the file or per case) and FileCheck-like lines matched against the printed result:
//
//   // CHECK: text        `text` occurs at or after the end of the previous match
//   // CHECK-NEXT: text   `text` occurs on the line right after the previous match
//   // CHECK-NOT: text    `text` does not occur between the previous and the next match (or
//                         the end of the output)
//
// Matching is by substring, with the pattern's surrounding spaces trimmed.
#include "shrink/core/error.h"
#include "shrink/ir/text.h"
#include "shrink/pass/pass_manager.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace shrink;

namespace {

namespace fs = std::filesystem;

enum class CheckKind { Check, Next, Not };

struct Check {
  CheckKind kind;
  std::string pattern;
  int line; ///< 1-based line in the .mir file.
};

struct GoldenCase {
  std::string file;
  int first_line = 1;    ///< 1-based line where the case starts.
  std::string text;      ///< The whole file with the other cases' lines blanked.
  std::string pipeline;  ///< Empty when the case has no PIPELINE line (the file's applies).
  int pipeline_line = 0; ///< Where the pipeline was given.
  std::vector<Check> checks;
};

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

/// The directive on a `// KEY: value` line, or false.
bool directive(const std::string& line, const std::string& key, std::string* value) {
  std::string t = trim(line);
  const std::string prefix = "// " + key + ":";
  if (t.compare(0, prefix.size(), prefix) != 0) return false;
  *value = trim(t.substr(prefix.size()));
  return true;
}

std::vector<GoldenCase> read_cases(const fs::path& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);)
    lines.push_back(l);

  std::vector<GoldenCase> cases;
  std::string file_pipeline;
  int file_pipeline_line = 0;
  size_t start = 0;
  auto finish_case = [&](size_t end) {
    GoldenCase c;
    c.file = path.string();
    c.first_line = static_cast<int>(start) + 1;
    for (size_t i = 0; i < lines.size(); ++i) {
      bool inside = i >= start && i < end;
      c.text += (inside ? lines[i] : std::string()) + "\n";
      if (!inside) continue;
      std::string v;
      const int line_no = static_cast<int>(i) + 1;
      if (directive(lines[i], "PIPELINE", &v)) {
        c.pipeline = v;
        c.pipeline_line = line_no;
      } else if (directive(lines[i], "CHECK-NEXT", &v)) {
        c.checks.push_back({CheckKind::Next, v, line_no});
      } else if (directive(lines[i], "CHECK-NOT", &v)) {
        c.checks.push_back({CheckKind::Not, v, line_no});
      } else if (directive(lines[i], "CHECK", &v)) {
        c.checks.push_back({CheckKind::Check, v, line_no});
      }
    }
    // The first case's PIPELINE line is the file's default.
    if (cases.empty() && !c.pipeline.empty()) {
      file_pipeline = c.pipeline;
      file_pipeline_line = c.pipeline_line;
    } else if (c.pipeline.empty()) {
      c.pipeline = file_pipeline;
      c.pipeline_line = file_pipeline_line;
    }
    cases.push_back(std::move(c));
  };
  for (size_t i = 0; i < lines.size(); ++i) {
    if (trim(lines[i]) != "// -----") continue;
    finish_case(i);
    start = i + 1;
  }
  finish_case(lines.size());
  return cases;
}

/// Matches `checks` against `output`; returns "" on success or a description of the first
/// failing check.
std::string match_checks(const std::vector<Check>& checks, const std::string& output) {
  std::vector<std::string> lines;
  std::istringstream ss(output);
  for (std::string l; std::getline(ss, l);)
    lines.push_back(l);
  // Position after the previous match: line index and column.
  size_t line = 0, col = 0;
  bool matched_any = false;
  size_t matched_line = 0;
  std::vector<const Check*> pending_not;

  // Finds `pattern` at or after (line, col); returns false when absent.
  auto find_from = [&](const std::string& pattern, size_t l, size_t c, size_t* at_line,
                       size_t* at_col) {
    for (size_t i = l; i < lines.size(); ++i) {
      size_t p = lines[i].find(pattern, i == l ? c : 0);
      if (p != std::string::npos) {
        *at_line = i;
        *at_col = p;
        return true;
      }
    }
    return false;
  };
  // A CHECK-NOT fails when its pattern occurs in [from, to).
  auto check_nots = [&](size_t to_line, size_t to_col) -> std::string {
    for (const Check* n : pending_not) {
      size_t fl = 0, fc = 0;
      if (!find_from(n->pattern, line, col, &fl, &fc)) continue;
      if (fl < to_line || (fl == to_line && fc < to_col))
        return "line " + std::to_string(n->line) + ": CHECK-NOT: " + n->pattern +
               "\n  found on output line " + std::to_string(fl + 1) + ": " + lines[fl];
    }
    pending_not.clear();
    return "";
  };

  for (const Check& c : checks) {
    if (c.kind == CheckKind::Not) {
      pending_not.push_back(&c);
      continue;
    }
    size_t fl = 0, fc = 0;
    bool found = false;
    if (c.kind == CheckKind::Next) {
      if (!matched_any)
        return "line " + std::to_string(c.line) + ": CHECK-NEXT without a CHECK before it";
      size_t next = matched_line + 1;
      if (next < lines.size()) {
        size_t p = lines[next].find(c.pattern);
        if (p != std::string::npos) {
          fl = next;
          fc = p;
          found = true;
        }
      }
      if (!found)
        return "line " + std::to_string(c.line) + ": CHECK-NEXT: " + c.pattern +
               "\n  expected on output line " + std::to_string(next + 1) + ": " +
               (next < lines.size() ? lines[next] : std::string("<end of output>"));
    } else {
      found = find_from(c.pattern, line, col, &fl, &fc);
      if (!found)
        return "line " + std::to_string(c.line) + ": CHECK: " + c.pattern +
               "\n  not found after output line " + std::to_string(line + 1);
    }
    std::string bad = check_nots(fl, fc);
    if (!bad.empty()) return bad;
    matched_any = true;
    matched_line = fl;
    line = fl;
    col = fc + c.pattern.size();
  }
  return check_nots(lines.size(), 0);
}

std::vector<fs::path> golden_files() {
  std::vector<fs::path> files;
  fs::path root = fs::path(SHRINK_TEST_DIR) / "ir" / "golden";
  if (!fs::exists(root)) return files;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file() && e.path().extension() == ".mir") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

/// Runs one case; returns "" on success or the failure description.
std::string run_case(const GoldenCase& c) {
  if (c.pipeline.empty()) return "no '// PIPELINE:' line for this case or its file";
  if (c.checks.empty()) return "the case has no CHECK lines";
  std::string output;
  try {
    Graph g = parse(c.text, c.file);
    PassContext ctx;
    PassManager pm(parse_pipeline(c.pipeline, c.file + ":" + std::to_string(c.pipeline_line)));
    pm.run(g, ctx);
    output = print(g);
  } catch (const Error& e) {
    return std::string("error: ") + e.what();
  }
  std::string failure = match_checks(c.checks, output);
  if (failure.empty()) return "";
  return failure + "\n--- output ---\n" + output;
}

} // namespace

TEST_CASE("golden IR files: run each case's pipeline and match its CHECK lines",
          "[passes][golden]") {
  std::vector<fs::path> files = golden_files();
  REQUIRE_FALSE(files.empty());
  for (const fs::path& file : files) {
    std::vector<GoldenCase> cases = read_cases(file);
    for (const GoldenCase& c : cases) {
      std::string where =
          fs::relative(file, SHRINK_TEST_DIR).string() + ":" + std::to_string(c.first_line);
      DYNAMIC_SECTION(where) {
        std::string failure = run_case(c);
        if (!failure.empty())
          FAIL_CHECK(c.file << ":" << c.first_line << ": " << failure);
        else
          SUCCEED();
      }
    }
  }
}

TEST_CASE("the golden matcher fails when it should", "[passes][golden]") {
  const std::string out = "graph @g() {\n  %a = Relu(%x)\n  %b = Tanh(%a)\n  return %b\n}\n";
  auto checks = [](std::vector<std::pair<CheckKind, std::string>> list) {
    std::vector<Check> v;
    int line = 1;
    for (auto& [k, p] : list)
      v.push_back({k, p, line++});
    return v;
  };
  using K = CheckKind;
  CHECK(match_checks(checks({{K::Check, "Relu"}, {K::Next, "Tanh"}}), out).empty());
  CHECK(match_checks(checks({{K::Check, "%a"}, {K::Check, "%a"}}), out).empty());
  CHECK(match_checks(checks({{K::Check, "Relu"}, {K::Not, "Sigmoid"}, {K::Check, "return"}}), out)
            .empty());
  CHECK_THAT(match_checks(checks({{K::Check, "Tanh"}, {K::Check, "Relu"}}), out),
             Catch::Contains("CHECK: Relu"));
  CHECK_THAT(match_checks(checks({{K::Check, "Relu"}, {K::Next, "return"}}), out),
             Catch::Contains("CHECK-NEXT: return"));
  CHECK_THAT(
      match_checks(checks({{K::Check, "graph"}, {K::Not, "Tanh"}, {K::Check, "return"}}), out),
      Catch::Contains("CHECK-NOT: Tanh"));
  CHECK_THAT(match_checks(checks({{K::Check, "Tanh"}, {K::Not, "Relu"}, {K::Not, "%b"}}), out),
             Catch::Contains("CHECK-NOT: %b"));
}
