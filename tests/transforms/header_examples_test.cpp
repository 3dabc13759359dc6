// Every cleanup pass header opens with a before/after example in the IR text form. This test
// runs the pass on each "before" and compares with the "after", so the examples stay true.
#include "shrink/core/error.h"
#include "shrink/ir/text.h"
#include "shrink/pass/pass_manager.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace shrink;

namespace {

namespace fs = std::filesystem;

struct Example {
  std::string pass;
  std::string before;
  std::string after;
};

/// The first two ``` blocks of the header's leading `///` comment and the pass named in the
/// "After `name`" line between them.
bool read_example(const fs::path& header, Example& ex) {
  std::ifstream in(header);
  std::vector<std::string> blocks;
  std::string current, line;
  bool inside = false;
  while (std::getline(in, line) && blocks.size() < 2) {
    if (line.rfind("///", 0) != 0) {
      if (line.rfind("#pragma", 0) == 0) continue;
      break;
    }
    std::string text = line.size() > 4 ? line.substr(4) : std::string();
    if (line.rfind("/// ```", 0) == 0) {
      if (inside) blocks.push_back(current);
      current.clear();
      inside = !inside;
      continue;
    }
    if (inside) {
      current += text + "\n";
    } else if (blocks.size() == 1 && ex.pass.empty()) {
      size_t at = text.find("After `");
      if (at != std::string::npos) {
        size_t end = text.find('`', at + 7);
        ex.pass = text.substr(at + 7, end - at - 7);
      }
    }
  }
  if (blocks.size() != 2 || ex.pass.empty()) return false;
  ex.before = blocks[0];
  ex.after = blocks[1];
  return true;
}

} // namespace

TEST_CASE("each cleanup pass header's example is what the pass does", "[transforms]") {
  fs::path dir = fs::path(SHRINK_TEST_DIR) / ".." / "include" / "shrink" / "transforms";
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename() == "builtin.h") continue;
    Example ex;
    CAPTURE(entry.path().filename().string());
    REQUIRE(read_example(entry.path(), ex));
    Graph g = parse(ex.before, entry.path().string());
    PassContext ctx;
    PassManager::from_text(ex.pass).run(g, ctx);
    // Printing the parsed "after" normalises `random(seed=K)` to the values it stands for.
    CHECK(print(g) == print(parse(ex.after, entry.path().string())));
    ++checked;
  }
  CHECK(checked == 6);
}
