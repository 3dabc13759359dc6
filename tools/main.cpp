// The `shrink` command-line tool: dispatches to subcommands and maps errors to exit codes.

#include "cli.h"

#include "shrink/core/error.h"

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

namespace {

struct Command {
  const char* name;
  int (*run)(const std::vector<std::string>&);
  const char* summary;
};

const Command kCommands[] = {
    {"info", shrink::cli::cmd_info, "print a model's size, cost, ops, inputs and outputs"},
    {"opt", shrink::cli::cmd_opt, "run a pass pipeline on a model and write the result"},
    {"run", shrink::cli::cmd_run, "run a YAML recipe: passes, evaluation, output model and report"},
    {"eval", shrink::cli::cmd_eval, "evaluate a model on a data set (accuracy, perplexity, ...)"},
    {"bench", shrink::cli::cmd_bench, "measure a model's latency on the oneDNN runtime"},
    {"convert", shrink::cli::cmd_convert, "convert a model between .onnx and .mir"},
    {"passes", shrink::cli::cmd_passes, "list the registered passes"},
    {"ops", shrink::cli::cmd_ops, "list the operators the IR supports"},
};

void print_usage(std::ostream& out) {
  out << "usage: shrink <command> [options]\n\ncommands:\n";
  for (const Command& c : kCommands)
    out << "  " << c.name << std::string(10 - std::string(c.name).size(), ' ') << c.summary << "\n";
  out << "\nRun 'shrink <command> --help' for a command's options.\n";
}

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_usage(args.empty() ? std::cerr : std::cout);
    return args.empty() ? shrink::cli::kExitUsage : shrink::cli::kExitOk;
  }
  std::string name = args[0];
  args.erase(args.begin());
  for (const Command& c : kCommands) {
    if (name != c.name) continue;
    try {
      return c.run(args);
    } catch (const shrink::cli::UsageError& e) {
      std::cerr << "shrink " << name << ": " << e.message << "\n"
                << "Run 'shrink " << name << " --help' for usage.\n";
      return shrink::cli::kExitUsage;
    } catch (const std::exception& e) {
      std::cerr << "shrink " << name << ": error: " << e.what() << "\n";
      return shrink::cli::kExitFailure;
    }
  }
  std::vector<std::string> names;
  for (const Command& c : kCommands)
    names.push_back(c.name);
  std::string hint = shrink::closest_name(name, names);
  std::cerr << "shrink: unknown command '" << name << "'"
            << (hint.empty() ? "" : " (did you mean '" + hint + "'?)") << "\n\n";
  print_usage(std::cerr);
  return shrink::cli::kExitUsage;
}
