// Text data: UTF-8 normalization, the character tokenizer and its JSON table, token windows and
// the fortunes corpus. The rules mirror scripts/models/train_fortunes_gpt.py so that a model
// trained there sees the same ids here.
#include "shrink/io/datasets.h"

#include "shrink/core/error.h"
#include "shrink/io/files.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sys/stat.h>

namespace shrink {

namespace {

constexpr char32_t kReplacement = 0xFFFD;

// Decodes UTF-8, replacing each maximal invalid subsequence by U+FFFD (the Unicode recommended
// practice, which is also what Python's errors="replace" does, so both count the same number of
// characters). `offsets`, when given, receives the byte offset of every code point.
std::u32string decode_utf8(const std::string& s, std::vector<size_t>* offsets = nullptr) {
  std::u32string out;
  out.reserve(s.size());
  size_t n = s.size(), i = 0;
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  while (i < n) {
    if (offsets) offsets->push_back(i);
    unsigned char b0 = byte(i);
    if (b0 < 0x80) {
      out.push_back(b0);
      ++i;
      continue;
    }
    int len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    char32_t cp = 0;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      len = 2;
      cp = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      len = 3;
      cp = b0 & 0x0F;
      if (b0 == 0xE0) lo = 0xA0;
      if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      len = 4;
      cp = b0 & 0x07;
      if (b0 == 0xF0) lo = 0x90;
      if (b0 == 0xF4) hi = 0x8F;
    }
    if (len == 0) {
      out.push_back(kReplacement);
      ++i;
      continue;
    }
    int k = 1;
    for (; k < len && i + k < n; ++k) {
      unsigned char b = byte(i + k);
      unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
      if (b < l || b > h) break;
      cp = (cp << 6) | (b & 0x3F);
    }
    if (k == len) {
      out.push_back(cp);
      i += len;
    } else {
      out.push_back(kReplacement);
      i += k;
    }
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string char_name(char32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(cp));
  std::string s = buf;
  if (cp >= 0x20 && cp != 0x7F) {
    s += " '";
    append_utf8(s, cp);
    s += "'";
  }
  return s;
}

// ---- a small JSON reader, enough for tokenizer tables ---------------------------------------

struct Json {
  enum class Kind { null, boolean, number, string, array, object } kind = Kind::null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::vector<std::pair<std::string, Json>> object;

  const Json* find(const std::string& key) const {
    for (const auto& kv : object)
      if (kv.first == key) return &kv.second;
    return nullptr;
  }
};

class JsonReader {
public:
  JsonReader(const std::string& text, const std::string& source) : s_(text), source_(source) {}

  Json parse_document() {
    Json v = parse_value(0);
    skip_ws();
    if (pos_ != s_.size()) fail("unexpected text after the JSON value");
    return v;
  }

private:
  [[noreturn]] void fail(const std::string& message) const {
    int line = 1, column = 1;
    for (size_t i = 0; i < pos_ && i < s_.size(); ++i) {
      if (s_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    throw ParseError(source_, line, column, message);
  }

  void skip_ws() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }

  bool consume(const char* word) {
    size_t len = std::strlen(word);
    if (s_.compare(pos_, len, word) != 0) return false;
    pos_ += len;
    return true;
  }

  Json parse_value(int depth) {
    if (depth > 64) fail("JSON nested too deeply");
    skip_ws();
    if (pos_ >= s_.size()) fail("unexpected end of the JSON text");
    Json v;
    char c = s_[pos_];
    if (c == '{') {
      v.kind = Json::Kind::object;
      ++pos_;
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        return v;
      }
      while (true) {
        skip_ws();
        if (pos_ >= s_.size() || s_[pos_] != '"') fail("expected a quoted key");
        std::string key = parse_string();
        skip_ws();
        if (pos_ >= s_.size() || s_[pos_] != ':')
          fail("expected ':' after the key \"" + key + "\"");
        ++pos_;
        v.object.emplace_back(std::move(key), parse_value(depth + 1));
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < s_.size() && s_[pos_] == '}') {
          ++pos_;
          return v;
        }
        fail("expected ',' or '}' in an object");
      }
    }
    if (c == '[') {
      v.kind = Json::Kind::array;
      ++pos_;
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        return v;
      }
      while (true) {
        v.array.push_back(parse_value(depth + 1));
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < s_.size() && s_[pos_] == ']') {
          ++pos_;
          return v;
        }
        fail("expected ',' or ']' in an array");
      }
    }
    if (c == '"') {
      v.kind = Json::Kind::string;
      v.string = parse_string();
      return v;
    }
    if (consume("true")) {
      v.kind = Json::Kind::boolean;
      v.boolean = true;
      return v;
    }
    if (consume("false")) {
      v.kind = Json::Kind::boolean;
      return v;
    }
    if (consume("null")) return v;
    if (c == '-' || (c >= '0' && c <= '9')) {
      const char* begin = s_.c_str() + pos_;
      char* end = nullptr;
      v.kind = Json::Kind::number;
      v.number = std::strtod(begin, &end);
      if (end == begin) fail("bad number");
      pos_ += static_cast<size_t>(end - begin);
      return v;
    }
    fail(std::string("unexpected character '") + c + "'");
  }

  unsigned hex4() {
    if (pos_ + 4 > s_.size()) fail("truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      char h = s_[pos_++];
      v <<= 4;
      if (h >= '0' && h <= '9')
        v |= static_cast<unsigned>(h - '0');
      else if (h >= 'a' && h <= 'f')
        v |= static_cast<unsigned>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F')
        v |= static_cast<unsigned>(h - 'A' + 10);
      else
        fail("bad hex digit in a \\u escape");
    }
    return v;
  }

  std::string parse_string() {
    ++pos_; // the opening quote
    std::string out;
    while (true) {
      if (pos_ >= s_.size()) fail("unterminated string");
      char c = s_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20)
        fail("control character inside a string (write it as an escape)");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) fail("unterminated escape");
      char e = s_[pos_++];
      switch (e) {
      case '"':
        out += '"';
        break;
      case '\\':
        out += '\\';
        break;
      case '/':
        out += '/';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        char32_t cp = hex4();
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (s_.compare(pos_, 2, "\\u") != 0)
            fail("a high surrogate \\u escape must be followed by a low one");
          pos_ += 2;
          unsigned low = hex4();
          if (low < 0xDC00 || low > 0xDFFF) fail("bad low surrogate in a \\u escape");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          fail("a lone low surrogate in a \\u escape");
        }
        append_utf8(out, cp);
        break;
      }
      default:
        fail(std::string("unknown escape '\\") + e + "'");
      }
    }
  }

  const std::string& s_;
  std::string source_;
  size_t pos_ = 0;
};

std::string strip_newlines(const std::string& s) {
  size_t b = s.find_first_not_of('\n');
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of('\n');
  return s.substr(b, e - b + 1);
}

// Fortunes of one normalized file: the text between lines that hold a single "%".
void split_fortunes(const std::string& text, std::vector<std::string>& out) {
  size_t start = 0;
  auto emit = [&](size_t end) {
    std::string chunk = strip_newlines(text.substr(start, end - start));
    if (!chunk.empty()) out.push_back(std::move(chunk));
  };
  for (size_t p = 0; p + 1 < text.size(); ++p) {
    if (text[p] == '%' && text[p + 1] == '\n' && (p == 0 || text[p - 1] == '\n')) {
      emit(p);
      start = p + 2;
      ++p;
    }
  }
  emit(text.size());
}

void check_fraction(double f) {
  if (!(f >= 0.0 && f <= 1.0))
    throw Error("validation fraction " + std::to_string(f) + " must be in [0, 1]");
}

[[noreturn]] void unknown_split(const std::string& split) {
  std::string hint = closest_name(split, {"train", "validation", "all"});
  throw Error("unknown text split '" + split + "': use 'train', 'validation' or 'all'" +
              (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
}

bool is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

[[noreturn]] void vocab_fail(const std::string& source, const std::string& what) {
  throw Error("tokenizer table '" + source + "': " + what);
}

bool is_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

} // namespace

// ---- normalization and tokenizer -------------------------------------------------------------

std::string normalize_text(const std::string& raw) {
  std::u32string cps = decode_utf8(raw);
  // Overstrike pairs go first, left to right, as the regex '.\x08' (DOTALL) does; a backspace
  // that pairs with nothing is then dropped.
  std::u32string kept;
  kept.reserve(cps.size());
  for (size_t i = 0; i < cps.size();) {
    if (i + 1 < cps.size() && cps[i + 1] == U'\b') {
      i += 2;
    } else {
      if (cps[i] != U'\b') kept.push_back(cps[i]);
      ++i;
    }
  }
  std::string out;
  out.reserve(kept.size());
  for (size_t i = 0; i < kept.size(); ++i) {
    if (kept[i] == U'\r') {
      out += '\n';
      if (i + 1 < kept.size() && kept[i + 1] == U'\n') ++i;
    } else {
      append_utf8(out, kept[i]);
    }
  }
  return out;
}

CharTokenizer::CharTokenizer(std::vector<std::string> tokens, int64_t unk_id, int64_t context)
    : tokens_(std::move(tokens)), unk_id_(unk_id), context_(context) {
  int64_t n = vocab_size();
  if (n == 0) throw Error("a character tokenizer needs at least one token");
  if (unk_id_ < -1 || unk_id_ >= n)
    throw Error("tokenizer unk_id " + std::to_string(unk_id_) + " is outside its " +
                std::to_string(n) + " tokens");
  if (context_ < 0) throw Error("tokenizer context " + std::to_string(context_) + " is negative");
  chars_.assign(static_cast<size_t>(n), 0);
  ascii_.assign(128, -1);
  for (int64_t id = 0; id < n; ++id) {
    if (id == unk_id_) continue;
    std::u32string cps = decode_utf8(tokens_[id]);
    if (cps.size() != 1)
      throw Error("token " + std::to_string(id) + " (\"" + tokens_[id] + "\") is " +
                  std::to_string(cps.size()) +
                  " characters; a character tokenizer needs exactly one per id (only the "
                  "unk_id entry may be a name such as \"<unk>\")");
    char32_t cp = cps[0];
    chars_[id] = cp;
    if (cp < 128) {
      if (ascii_[cp] >= 0)
        throw Error("tokens " + std::to_string(ascii_[cp]) + " and " + std::to_string(id) +
                    " are both " + char_name(cp));
      ascii_[cp] = id;
    } else {
      others_.emplace_back(cp, id);
    }
  }
  std::sort(others_.begin(), others_.end());
  for (size_t i = 1; i < others_.size(); ++i)
    if (others_[i].first == others_[i - 1].first)
      throw Error("tokens " + std::to_string(others_[i - 1].second) + " and " +
                  std::to_string(others_[i].second) + " are both " + char_name(others_[i].first));
}

CharTokenizer CharTokenizer::load(const std::string& path) {
  return from_json(read_file(path, "tokenizer table"), path);
}

CharTokenizer CharTokenizer::from_json(const std::string& json, const std::string& source) {
  Json doc = JsonReader(json, source).parse_document();
  auto bad = [&](const std::string& what) { vocab_fail(source, what); };
  if (doc.kind != Json::Kind::object)
    bad("the top level must be a JSON object with a \"tokens\" array");
  const Json* tokens = doc.find("tokens");
  if (!tokens || tokens->kind != Json::Kind::array)
    bad("it has no \"tokens\" array (entry i is the character of id i)");
  std::vector<std::string> list;
  for (size_t i = 0; i < tokens->array.size(); ++i) {
    if (tokens->array[i].kind != Json::Kind::string)
      bad("\"tokens\" entry " + std::to_string(i) + " is not a string");
    list.push_back(tokens->array[i].string);
  }
  auto integer = [&](const char* key, int64_t def) -> int64_t {
    const Json* v = doc.find(key);
    if (!v || v->kind == Json::Kind::null) return def;
    if (v->kind != Json::Kind::number || v->number != std::floor(v->number) ||
        std::fabs(v->number) > 1e15)
      vocab_fail(source, std::string("\"") + key + "\" must be an integer");
    return static_cast<int64_t>(v->number);
  };
  int64_t unk = integer("unk_id", -1);
  int64_t context = integer("context", 0);
  if (const Json* size = doc.find("vocab_size")) {
    if (size->kind != Json::Kind::number || size->number != static_cast<double>(list.size()))
      bad("\"vocab_size\" does not match the " + std::to_string(list.size()) + " tokens");
  }
  try {
    return CharTokenizer(std::move(list), unk, context);
  } catch (const ParseError&) {
    throw;
  } catch (const Error& e) {
    vocab_fail(source, e.what());
  }
}

CharTokenizer CharTokenizer::printable_ascii() {
  std::vector<std::string> tokens = {"<unk>", "\t", "\n"};
  for (char c = 32; c < 127; ++c)
    tokens.emplace_back(1, c);
  return CharTokenizer(std::move(tokens), 0);
}

std::vector<int64_t> CharTokenizer::encode(const std::string& text) const {
  std::vector<size_t> offsets;
  std::u32string cps = decode_utf8(text, unk_id_ < 0 ? &offsets : nullptr);
  std::vector<int64_t> ids(cps.size());
  for (size_t i = 0; i < cps.size(); ++i) {
    char32_t cp = cps[i];
    int64_t id = -1;
    if (cp < 128) {
      id = ascii_[cp];
    } else {
      auto it = std::lower_bound(others_.begin(), others_.end(), std::make_pair(cp, int64_t{-1}));
      if (it != others_.end() && it->first == cp) id = it->second;
    }
    if (id < 0) {
      if (unk_id_ < 0)
        throw Error("character " + char_name(cp) + " at byte offset " + std::to_string(offsets[i]) +
                    " is not in the tokenizer's table, and the table has no unk_id");
      id = unk_id_;
    }
    ids[i] = id;
  }
  return ids;
}

std::string CharTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string out;
  out.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    int64_t id = ids[i];
    if (id < 0 || id >= vocab_size())
      throw Error("token id " + std::to_string(id) + " at position " + std::to_string(i) +
                  " is outside the tokenizer's " + std::to_string(vocab_size()) + " ids");
    append_utf8(out, id == unk_id_ ? kReplacement : chars_[id]);
  }
  return out;
}

// ---- windows -------------------------------------------------------------------------------

TextDataSource::TextDataSource(std::vector<int64_t> ids, int64_t window, std::string name,
                               int64_t stride)
    : ids_(std::make_shared<const std::vector<int64_t>>(std::move(ids))), window_(window),
      stride_(stride == 0 ? window : stride), name_(std::move(name)) {
  if (window_ <= 0)
    throw Error("text window length must be positive, got " + std::to_string(window_) + " for " +
                name_);
  if (stride_ < 0)
    throw Error("text window stride must be positive, got " + std::to_string(stride_) + " for " +
                name_);
}

int64_t TextDataSource::size() const {
  int64_t n = num_tokens();
  return n < window_ + 1 ? 0 : (n - 1 - window_) / stride_ + 1;
}

Batch TextDataSource::batch(int64_t start, int64_t count) const {
  int64_t total = size();
  if (start < 0 || start > total || count < 0)
    throw Error("batch(" + std::to_string(start) + ", " + std::to_string(count) + ") is outside " +
                describe() + ": start must be in [0, " + std::to_string(total) +
                "] and count >= 0");
  int64_t n = std::min(count, total - start);
  Tensor inputs(DType::i64, {n, window_});
  Tensor labels(DType::i64, {n, window_});
  int64_t* x = inputs.data_mutable<int64_t>();
  int64_t* y = labels.data_mutable<int64_t>();
  const int64_t* ids = ids_->data();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t* w = ids + (start + i) * stride_;
    std::copy(w, w + window_, x + i * window_);
    std::copy(w + 1, w + 1 + window_, y + i * window_);
  }
  Batch b;
  b.inputs.push_back(std::move(inputs));
  b.labels = std::move(labels);
  return b;
}

std::string TextDataSource::describe() const {
  return name_ + " (" + std::to_string(size()) + " windows of " + std::to_string(window_) +
         " tokens)";
}

std::vector<int64_t> split_ids(const std::vector<int64_t>& ids, const std::string& split,
                               double validation_fraction) {
  check_fraction(validation_fraction);
  if (split == "all") return ids;
  auto cut = static_cast<size_t>(
      std::llround(static_cast<double>(ids.size()) * (1.0 - validation_fraction)));
  cut = std::min(cut, ids.size());
  if (split == "train")
    return std::vector<int64_t>(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(cut));
  if (split == "validation")
    return std::vector<int64_t>(ids.begin() + static_cast<std::ptrdiff_t>(cut), ids.end());
  unknown_split(split);
}

std::shared_ptr<TextDataSource> text_file(const std::string& path, const CharTokenizer& tokenizer,
                                          int64_t window, const std::string& split,
                                          double validation_fraction) {
  if (split != "all" && split != "train" && split != "validation") unknown_split(split);
  std::vector<int64_t> ids = tokenizer.encode(normalize_text(read_file(path, "text file")));
  return std::make_shared<TextDataSource>(split_ids(ids, split, validation_fraction), window,
                                          path + " " + split);
}

// ---- fortunes ------------------------------------------------------------------------------

const std::vector<std::string>& fortune_files() {
  static const std::vector<std::string> files = {
      "art",        "computers", "cookie",   "debian",   "definitions", "disclaimer",
      "drugs",      "education", "ethnic",   "food",     "fortunes",    "goedel",
      "humorists",  "kids",      "knghtbrd", "law",      "linux",       "linuxcookie",
      "literature", "love",      "magic",    "medicine", "men-women",   "miscellaneous",
      "news",       "paradoxum", "people",   "perl",     "pets",        "platitudes",
      "politics",   "pratchett", "riddles",  "science",  "songs-poems", "sports",
      "startrek",   "tao",       "wisdom",   "work",     "zippy"};
  return files;
}

std::string fortunes_dir() {
  const char* env = std::getenv("SHRINK_FORTUNES_DIR");
  return env && *env ? std::string(env) : std::string("/usr/share/games/fortunes");
}

std::string fortunes_text(const std::string& split, double validation_fraction,
                          const std::string& dir) {
  if (split != "all" && split != "train" && split != "validation") unknown_split(split);
  check_fraction(validation_fraction);
  std::string folder = dir.empty() ? fortunes_dir() : dir;
  const char* install = ": install the Debian package fortunes (apt-get install fortunes), or "
                        "set SHRINK_FORTUNES_DIR to a folder with the fortune files";
  if (!is_directory(folder))
    throw Error("the fortunes collection was not found at " + folder + install);
  std::vector<std::string> all;
  for (const std::string& name : fortune_files()) {
    std::string path = folder + "/" + name;
    if (!is_file(path)) throw Error("fortune file " + path + " is missing" + install);
    split_fortunes(normalize_text(read_file(path, "fortune file")), all);
  }
  // floor(i * f) counts the validation fortunes among the first i; the epsilon keeps exact
  // multiples (10 * 0.1) from rounding down.
  auto quota = [&](size_t i) {
    return static_cast<int64_t>(std::floor(static_cast<double>(i) * validation_fraction + 1e-9));
  };
  std::string out;
  for (size_t i = 0; i < all.size(); ++i) {
    bool validation = quota(i + 1) > quota(i);
    if (split == "all" || (split == "validation") == validation) {
      out += all[i];
      out += "\n%\n";
    }
  }
  return out;
}

std::shared_ptr<TextDataSource> fortunes(const std::string& split, const CharTokenizer& tokenizer,
                                         int64_t window, double validation_fraction,
                                         const std::string& dir) {
  return std::make_shared<TextDataSource>(
      tokenizer.encode(fortunes_text(split, validation_fraction, dir)), window,
      "fortunes " + split);
}

} // namespace shrink
