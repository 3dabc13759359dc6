// `shrink ops`: the operators the IR supports, from the op table.

#include "cli.h"

#include "shrink/ir/op_table.h"

#include <cstdio>
#include <iostream>

namespace shrink::cli {

int cmd_ops(const std::vector<std::string>& argv) {
  Args args(argv, {"help"}, {});
  if (args.flag("help")) {
    std::cout << "usage: shrink ops\n\nLists every operator of the IR's op table with its arity "
                 "and attributes (ONNX semantics).\n";
    return kExitOk;
  }
  auto range = [](int lo, int hi) {
    if (hi < 0) return std::to_string(lo) + "+";
    return lo == hi ? std::to_string(lo) : std::to_string(lo) + ".." + std::to_string(hi);
  };
  for (const OpSchema* s : all_ops()) {
    char line[96];
    std::snprintf(line, sizeof line, "%-20s in %-5s out %-4s", s->name.c_str(),
                  range(s->min_inputs, s->max_inputs).c_str(),
                  range(s->min_outputs, s->max_outputs).c_str());
    std::cout << line;
    for (const auto& [name, kind] : s->attrs)
      std::cout << " " << name << ":" << attr_kind_name(kind);
    std::cout << "\n";
  }
  return kExitOk;
}

} // namespace shrink::cli
