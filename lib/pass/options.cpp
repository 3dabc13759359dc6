#include "shrink/core/error.h"
#include "shrink/pass/pass.h"
#include "shrink/pass/pipeline.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace shrink {

namespace {

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i)
    out += (i ? sep : "") + items[i];
  return out;
}

std::string lower(std::string s) {
  for (char& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

thread_local OptionRecorder* current_recorder = nullptr;

// The shortest decimal text that reads back as exactly `v`.
std::string shortest_number(double v) {
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

} // namespace

OptionRecorder::OptionRecorder() : previous_(current_recorder) {
  current_recorder = this;
}

OptionRecorder::~OptionRecorder() {
  current_recorder = previous_;
}

void OptionReader::record(const std::string& key, const char* type, std::string def,
                          std::vector<std::string> allowed) {
  OptionRecorder* recorder = current_recorder;
  if (!recorder) return;
  for (const OptionInfo& o : recorder->options_)
    if (o.key == key) return;
  recorder->options_.push_back(OptionInfo{key, type, std::move(def), std::move(allowed)});
}

OptionReader::OptionReader(std::string pass, const Options& options)
    : pass_(std::move(pass)), options_(options) {}

double OptionReader::get_double(const std::string& key, double def) {
  read_.insert(key);
  record(key, "number", shortest_number(def));
  auto it = options_.find(key);
  if (it == options_.end()) return def;
  const std::string& text = it->second;
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE || !std::isfinite(v))
    throw RecipeError("pass '" + pass_ + "': option '" + key + "' must be a number, got '" + text +
                      "'");
  return v;
}

int64_t OptionReader::get_int(const std::string& key, int64_t def) {
  read_.insert(key);
  record(key, "integer", std::to_string(def));
  auto it = options_.find(key);
  if (it == options_.end()) return def;
  const std::string& text = it->second;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE)
    throw RecipeError("pass '" + pass_ + "': option '" + key + "' must be an integer, got '" +
                      text + "'");
  return static_cast<int64_t>(v);
}

bool OptionReader::get_bool(const std::string& key, bool def) {
  read_.insert(key);
  record(key, "bool", def ? "true" : "false");
  auto it = options_.find(key);
  if (it == options_.end()) return def;
  std::string v = lower(it->second);
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  throw RecipeError("pass '" + pass_ + "': option '" + key + "' must be true or false, got '" +
                    it->second + "'");
}

std::string OptionReader::get_string(const std::string& key, const std::string& def,
                                     const std::vector<std::string>& allowed) {
  read_.insert(key);
  record(key, "string", def, allowed);
  auto it = options_.find(key);
  if (it == options_.end()) return def;
  const std::string& v = it->second;
  if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
    std::string hint = closest_name(v, allowed);
    throw RecipeError("pass '" + pass_ + "': option '" + key + "' is '" + v + "'" +
                      (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
                      "; allowed values: " + join(allowed, ", "));
  }
  return v;
}

std::vector<std::string> OptionReader::get_list(const std::string& key,
                                                std::vector<std::string> def) {
  read_.insert(key);
  if (current_recorder) {
    std::string text = "[";
    for (size_t i = 0; i < def.size(); ++i)
      text += (i ? "," : "") + quote_option_value(def[i]);
    record(key, "list", text + "]");
  }
  auto it = options_.find(key);
  if (it == options_.end()) return def;
  try {
    return split_option_list(it->second);
  } catch (const Error& e) {
    throw RecipeError("pass '" + pass_ + "': option '" + key + "': " + e.what());
  }
}

void OptionReader::finish() {
  std::vector<std::string> known(read_.begin(), read_.end());
  std::vector<std::string> problems;
  for (const auto& [key, value] : options_) {
    if (read_.count(key)) continue;
    std::string hint = closest_name(key, known);
    std::string msg = "pass '" + pass_ + "' has no option '" + key + "'";
    if (!hint.empty()) msg += " (did you mean '" + hint + "'?)";
    problems.push_back(msg);
  }
  if (problems.empty()) return;
  std::string message = join(problems, "; ");
  message += known.empty() ? "; it takes no options" : "; known options: " + join(known, ", ");
  throw RecipeError(message);
}

} // namespace shrink
