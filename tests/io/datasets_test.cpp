// Data sources: IDX (plain and gzip, corrupt files, Fashion-MNIST), text windows and the
// fortunes corpus, .npy and in-memory sources, subsets.
#include "io_test_support.h"

#include "shrink/core/error.h"
#include "shrink/io/datasets.h"
#include "shrink/io/npy.h"

#include <catch2/catch.hpp>
#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <sys/stat.h>

using namespace shrink;
using Catch::Matchers::Contains;
using shrink::test::TempDir;
using shrink::test::write_bytes;

namespace {

std::string be32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i)
    s[i] = static_cast<char>((v >> (24 - 8 * i)) & 0xff);
  return s;
}

// An unsigned-byte IDX file with the given dims and payload.
std::string idx_bytes(const std::vector<uint32_t>& dims, const std::string& payload) {
  std::string s = {'\0', '\0', '\x08', static_cast<char>(dims.size())};
  for (uint32_t d : dims)
    s += be32(d);
  return s + payload;
}

// `n` images of 3 x 4 pixels: pixel j of image i is (i * 12 + j) * 3 % 256; label i is i % 10.
void write_idx_pair(const std::string& images, const std::string& labels, uint32_t n) {
  std::string pix, lab;
  for (uint32_t i = 0; i < n; ++i) {
    for (uint32_t j = 0; j < 12; ++j)
      pix += static_cast<char>((i * 12 + j) * 3 % 256);
    lab += static_cast<char>(i % 10);
  }
  write_bytes(images, idx_bytes({n, 3, 4}, pix));
  write_bytes(labels, idx_bytes({n}, lab));
}

void gzip_file(const std::string& from, const std::string& to) {
  std::string bytes;
  {
    std::FILE* f = std::fopen(from.c_str(), "rb");
    REQUIRE(f);
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
      bytes.append(buf, n);
    std::fclose(f);
  }
  gzFile g = gzopen(to.c_str(), "wb");
  REQUIRE(g);
  REQUIRE(gzwrite(g, bytes.data(), static_cast<unsigned>(bytes.size())) ==
          static_cast<int>(bytes.size()));
  REQUIRE(gzclose(g) == Z_OK);
}

std::string read_all(const std::string& path) {
  std::string bytes;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  REQUIRE(f);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
    bytes.append(buf, n);
  std::fclose(f);
  return bytes;
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Sets an environment variable for the scope of a test.
class ScopedEnv {
public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    const char* old = std::getenv(name);
    if (old) old_ = old;
    had_ = old != nullptr;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (had_)
      ::setenv(name_, old_.c_str(), 1);
    else
      ::unsetenv(name_);
  }

private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

void check_small_idx(const IdxDataSource& src) {
  REQUIRE(src.size() == 7);
  REQUIRE(src.has_labels());
  REQUIRE(src.sample_shape() == Shape{1, 3, 4});
  Batch b = src.batch(2, 3);
  REQUIRE(b.inputs.size() == 1);
  REQUIRE(b.inputs[0].dtype() == DType::f32);
  REQUIRE(b.inputs[0].shape() == Shape{3, 1, 3, 4});
  const float* x = b.inputs[0].data<float>();
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 12; ++j)
      REQUIRE(x[i * 12 + j] == static_cast<float>(((2 + i) * 12 + j) * 3 % 256) / 255.0f);
  REQUIRE(b.labels);
  REQUIRE(b.labels->dtype() == DType::i64);
  REQUIRE(b.labels->to_doubles() == std::vector<double>{2, 3, 4});
  // The last batch is clipped at the end.
  Batch tail = src.batch(5, 10);
  REQUIRE(tail.inputs[0].shape() == Shape{2, 1, 3, 4});
  REQUIRE(tail.labels->to_doubles() == std::vector<double>{5, 6});
  REQUIRE(src.batch(7, 4).inputs[0].dim(0) == 0);
  REQUIRE_THROWS_WITH(src.batch(8, 1), Contains("outside"));
}

} // namespace

TEST_CASE("IdxDataSource reads images as f32 byte/255 and labels as i64", "[data]") {
  TempDir dir("idx");
  write_idx_pair(dir.file("img"), dir.file("lab"), 7);
  IdxDataSource src(dir.file("img"), dir.file("lab"), "tiny");
  check_small_idx(src);
  REQUIRE(src.describe() == "tiny (7 samples)");

  SECTION("gzip-compressed files read the same") {
    gzip_file(dir.file("img"), dir.file("img.gz"));
    gzip_file(dir.file("lab"), dir.file("lab.gz"));
    IdxDataSource gz(dir.file("img.gz"), dir.file("lab.gz"), "tiny");
    check_small_idx(gz);
  }
  SECTION("a limit keeps the first samples") {
    IdxDataSource limited(dir.file("img"), dir.file("lab"), "tiny", 3);
    REQUIRE(limited.size() == 3);
    REQUIRE(limited.batch(0, 10).labels->to_doubles() == std::vector<double>{0, 1, 2});
  }
  SECTION("labels are optional") {
    IdxDataSource images_only(dir.file("img"), "");
    REQUIRE_FALSE(images_only.has_labels());
    REQUIRE_FALSE(images_only.batch(0, 2).labels);
    REQUIRE(images_only.describe() == dir.file("img") + " (7 samples)");
  }
}

TEST_CASE("Corrupt IDX files are errors that name the file", "[data]") {
  TempDir dir("idx_bad");
  write_idx_pair(dir.file("img"), dir.file("lab"), 4);
  std::string good_img = read_all(dir.file("img"));
  std::string good_lab = read_all(dir.file("lab"));
  std::string bad = dir.file("bad");
  auto open_images = [&] { IdxDataSource s(bad, dir.file("lab")); };
  auto open_labels = [&] { IdxDataSource s(dir.file("img"), bad); };

  SECTION("bad magic") {
    write_bytes(bad, "\x12\x34" + good_img.substr(2));
    REQUIRE_THROWS_WITH(open_images(), Contains(bad) && Contains("bad magic number 0x1234"));
  }
  SECTION("unsupported element type") {
    std::string b = good_img;
    b[2] = '\x0D';
    write_bytes(bad, b);
    REQUIRE_THROWS_WITH(open_images(), Contains(bad) && Contains("element type 0x0D"));
  }
  SECTION("wrong rank: a label file given as images") {
    write_bytes(bad, good_lab);
    REQUIRE_THROWS_WITH(open_images(), Contains(bad) && Contains("rank 1, expected 3"));
  }
  SECTION("truncated data") {
    write_bytes(bad, good_img.substr(0, good_img.size() - 5));
    REQUIRE_THROWS_WITH(open_images(), Contains(bad) && Contains("truncated"));
  }
  SECTION("truncated header") {
    write_bytes(bad, good_img.substr(0, 10));
    REQUIRE_THROWS_WITH(open_images(), Contains(bad) && Contains("header is truncated"));
  }
  SECTION("empty file") {
    write_bytes(bad, "");
    REQUIRE_THROWS_WITH(open_images(), Contains(bad) && Contains("truncated"));
  }
  SECTION("trailing bytes") {
    write_bytes(bad, good_lab + "xyz");
    REQUIRE_THROWS_WITH(open_labels(), Contains(bad) && Contains("3 bytes after"));
  }
  SECTION("label count differs from image count") {
    write_bytes(bad, idx_bytes({3}, std::string("\0\1\2", 3)));
    REQUIRE_THROWS_WITH(open_labels(), Contains(dir.file("img")) && Contains(bad) &&
                                           Contains("4 images") && Contains("3 labels"));
  }
  SECTION("a huge count in the header of a small file") {
    write_bytes(bad, idx_bytes({4000000000u, 3, 4}, good_img.substr(16)));
    REQUIRE_THROWS_WITH(open_images(), Contains(bad) && Contains("truncated"));
  }
  SECTION("a huge count in the header of a small gzip file") {
    write_bytes(dir.file("raw"), idx_bytes({4000000000u, 3, 4}, good_img.substr(16)));
    gzip_file(dir.file("raw"), bad);
    REQUIRE_THROWS_WITH(open_images(), Contains(bad) && Contains("truncated"));
  }
  SECTION("truncated gzip stream") {
    gzip_file(dir.file("img"), dir.file("img.gz"));
    std::string gz = read_all(dir.file("img.gz"));
    write_bytes(bad, gz.substr(0, gz.size() / 2));
    REQUIRE_THROWS_WITH(open_images(), Contains(bad) && Contains("truncated"));
  }
  SECTION("gzip of a corrupt IDX file") {
    write_bytes(dir.file("raw"), "\x12\x34" + good_img.substr(2));
    gzip_file(dir.file("raw"), bad);
    REQUIRE_THROWS_WITH(open_images(), Contains(bad) && Contains("bad magic"));
  }
  SECTION("missing file") {
    REQUIRE_THROWS_WITH(open_images(), Contains(bad) && Contains("cannot open"));
  }
}

TEST_CASE("fashion_mnist finds the IDX files or names the Debian package", "[data]") {
  TempDir dir("fmnist");
  SECTION("missing files") {
    REQUIRE_THROWS_WITH(fashion_mnist("train", -1, dir.path()),
                        Contains("Fashion-MNIST not found at " + dir.path()) &&
                            Contains("install the Debian package dataset-fashion-mnist "
                                     "(apt-get install dataset-fashion-mnist)"));
    ScopedEnv env("SHRINK_DATA_DIR", dir.file("nowhere"));
    REQUIRE(fashion_mnist_dir() == dir.file("nowhere"));
    REQUIRE_THROWS_WITH(fashion_mnist("test"),
                        Contains("Fashion-MNIST not found at " + dir.file("nowhere")));
  }
  SECTION("unknown split") {
    REQUIRE_THROWS_WITH(fashion_mnist("tran", -1, dir.path()),
                        Contains("unknown Fashion-MNIST split 'tran'") &&
                            Contains("did you mean 'train'"));
  }
  SECTION("plain and gzip files under the Debian names, found through SHRINK_DATA_DIR") {
    write_idx_pair(dir.file("t10k-images-idx3-ubyte"), dir.file("t10k-labels-idx1-ubyte"), 7);
    gzip_file(dir.file("t10k-images-idx3-ubyte"), dir.file("train-images-idx3-ubyte.gz"));
    gzip_file(dir.file("t10k-labels-idx1-ubyte"), dir.file("train-labels-idx1-ubyte.gz"));
    ScopedEnv env("SHRINK_DATA_DIR", dir.path());
    auto test = fashion_mnist("test");
    check_small_idx(*test);
    REQUIRE(test->describe() == "fashion-mnist test (7 samples)");
    auto train = fashion_mnist("train", 5);
    REQUIRE(train->size() == 5);
    REQUIRE(train->describe() == "fashion-mnist train (5 samples)");
  }
}

TEST_CASE("The real Fashion-MNIST from the Debian package", "[data]") {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!exists(dir + "/t10k-images-idx3-ubyte.gz") && !exists(dir + "/t10k-images-idx3-ubyte")) {
    WARN("skipped: install dataset-fashion-mnist to check the real data");
    return;
  }
  for (auto [split, count] : {std::pair<std::string, int64_t>{"train", 60000}, {"test", 10000}}) {
    auto data = fashion_mnist(split, -1, dir);
    REQUIRE(data->size() == count);
    REQUIRE(data->sample_shape() == Shape{1, 28, 28});
    float lo = 1e9f, hi = -1e9f;
    std::vector<int64_t> per_class(10, 0);
    for (int64_t start = 0; start < data->size(); start += 5000) {
      Batch b = data->batch(start, 5000);
      REQUIRE(b.inputs[0].shape() == Shape{5000, 1, 28, 28});
      const float* x = b.inputs[0].data<float>();
      for (int64_t i = 0; i < b.inputs[0].numel(); ++i) {
        lo = std::min(lo, x[i]);
        hi = std::max(hi, x[i]);
      }
      const int64_t* y = b.labels->data<int64_t>();
      int64_t outside = 0;
      for (int64_t i = 0; i < 5000; ++i) {
        if (y[i] < 0 || y[i] > 9)
          ++outside;
        else
          ++per_class[y[i]];
      }
      REQUIRE(outside == 0);
    }
    REQUIRE(lo == 0.0f);
    REQUIRE(hi == 1.0f);
    // Fashion-MNIST is balanced: 6000 (train) or 1000 (test) images per class.
    for (int64_t c = 0; c < 10; ++c)
      REQUIRE(per_class[c] == count / 10);
  }
}

TEST_CASE("normalize_text removes overstrikes and carriage returns", "[data]") {
  REQUIRE(normalize_text("a_\bb c\r\nd\re") == "ab c\nd\ne");
  // A backspace pairs with any character before it, even another backspace; strays vanish.
  REQUIRE(normalize_text("\b\bx\by\b") == "");
  REQUIRE(normalize_text("\bq") == "q");
  // "\r\b\n": the overstrike pair goes first, leaving a plain LF.
  REQUIRE(normalize_text("a\r\b\nb") == "a\nb");
  // Invalid UTF-8: each maximal invalid subsequence becomes one U+FFFD.
  REQUIRE(normalize_text("x\xff y\xe2\x82z") == "x\xEF\xBF\xBD y\xEF\xBF\xBDz");
  REQUIRE(normalize_text("caf\xC3\xA9") == "caf\xC3\xA9");
}

TEST_CASE("CharTokenizer encodes and decodes with the fortunes-gpt table", "[data]") {
  CharTokenizer tok = CharTokenizer::printable_ascii();
  REQUIRE(tok.vocab_size() == 98);
  REQUIRE(tok.unk_id() == 0);
  // Ids: 0 <unk>, 1 TAB, 2 LF, 3..97 ASCII 32..126 (id = code - 29).
  REQUIRE(tok.encode("A\t\n ~") == std::vector<int64_t>{65 - 29, 1, 2, 3, 97});
  REQUIRE(tok.encode("caf\xC3\xA9!") ==
          std::vector<int64_t>{'c' - 29, 'a' - 29, 'f' - 29, 0, '!' - 29});
  REQUIRE(tok.decode(tok.encode("Hello,\tworld\n")) == "Hello,\tworld\n");
  REQUIRE(tok.decode({0, 3}) == "\xEF\xBF\xBD ");
  REQUIRE_THROWS_WITH(tok.decode({98}), Contains("token id 98"));

  SECTION("the JSON table the training script writes") {
    // The layout of examples/models/fortunes-gpt.vocab.json (json.dump, ensure_ascii).
    std::string json = "{\n  \"name\": \"fortunes-gpt character tokenizer\",\n"
                       "  \"vocab_size\": 98,\n  \"unk_id\": 0,\n  \"context\": 128,\n"
                       "  \"tokens\": [\n    \"<unk>\",\n    \"\\t\",\n    \"\\n\"";
    for (int c = 32; c < 127; ++c) {
      std::string t(1, static_cast<char>(c));
      if (c == '"' || c == '\\') t = "\\" + t;
      json += ",\n    \"" + t + "\"";
    }
    json += "\n  ],\n  \"corpus\": {\"files\": [\"art\"], \"split\": \"i % 10 == 9\"}\n}\n";
    TempDir dir("vocab");
    write_bytes(dir.file("v.json"), json);
    CharTokenizer loaded = CharTokenizer::load(dir.file("v.json"));
    REQUIRE(loaded.tokens() == tok.tokens());
    REQUIRE(loaded.unk_id() == 0);
    REQUIRE(loaded.context() == 128);
    REQUIRE(loaded.encode("\"x\\y\"") == tok.encode("\"x\\y\""));
  }
  SECTION("non-ASCII tokens and \\u escapes") {
    CharTokenizer t =
        CharTokenizer::from_json(R"({"tokens": ["a", "\u00e9", "\ud83d\ude00", "\u0000"]})");
    REQUIRE(t.unk_id() == -1);
    REQUIRE(t.encode("a\xC3\xA9\xF0\x9F\x98\x80") == std::vector<int64_t>{0, 1, 2});
    REQUIRE(t.encode(std::string("\0", 1)) == std::vector<int64_t>{3});
    REQUIRE_THROWS_WITH(t.encode("ab"),
                        Contains("U+0062 'b' at byte offset 1") && Contains("no unk_id"));
  }
  SECTION("bad tables") {
    REQUIRE_THROWS_AS(CharTokenizer::from_json("{\"tokens\": [\"a\",\n \"b\" \"c\"]}", "v.json"),
                      ParseError);
    try {
      CharTokenizer::from_json("{\"tokens\": [\"a\",\n \"b\" \"c\"]}", "v.json");
    } catch (const ParseError& e) {
      REQUIRE(e.source() == "v.json");
      REQUIRE(e.line() == 2);
    }
    REQUIRE_THROWS_WITH(CharTokenizer::from_json(R"({"tokens": ["a", "a"]})", "v.json"),
                        Contains("v.json") && Contains("tokens 0 and 1 are both U+0061"));
    REQUIRE_THROWS_WITH(CharTokenizer::from_json(R"({"tokens": ["ab"]})"),
                        Contains("exactly one per id"));
    REQUIRE_THROWS_WITH(CharTokenizer::from_json(R"({"tokens": ["a"], "unk_id": 3})"),
                        Contains("unk_id 3 is outside"));
    REQUIRE_THROWS_WITH(CharTokenizer::from_json(R"({"tokens": ["a"], "vocab_size": 2})"),
                        Contains("vocab_size"));
    REQUIRE_THROWS_WITH(CharTokenizer::from_json(R"(["a"])"), Contains("\"tokens\""));
    REQUIRE_THROWS_WITH(CharTokenizer::load("/nonexistent/v.json"),
                        Contains("/nonexistent/v.json"));
  }
}

TEST_CASE("TextDataSource cuts ids into next-token windows", "[data]") {
  std::vector<int64_t> ids(21);
  for (int i = 0; i < 21; ++i)
    ids[i] = i;
  TextDataSource text(ids, 4, "numbers");
  // Every window needs window + 1 ids: (21 - 1 - 4) / 4 + 1 = 5 windows.
  REQUIRE(text.size() == 5);
  REQUIRE(text.describe() == "numbers (5 windows of 4 tokens)");
  Batch b = text.batch(1, 2);
  REQUIRE(b.inputs[0].dtype() == DType::i64);
  REQUIRE(b.inputs[0].shape() == Shape{2, 4});
  REQUIRE(b.inputs[0].to_doubles() == std::vector<double>{4, 5, 6, 7, 8, 9, 10, 11});
  REQUIRE(b.labels->shape() == Shape{2, 4});
  REQUIRE(b.labels->to_doubles() == std::vector<double>{5, 6, 7, 8, 9, 10, 11, 12});
  REQUIRE(text.batch(4, 9).labels->to_doubles() == std::vector<double>{17, 18, 19, 20});

  TextDataSource overlapping(ids, 4, "numbers", 2);
  REQUIRE(overlapping.size() == 9);
  REQUIRE(overlapping.batch(8, 1).inputs[0].to_doubles() == std::vector<double>{16, 17, 18, 19});
  REQUIRE(TextDataSource({1, 2, 3, 4}, 4, "short").size() == 0);
  REQUIRE_THROWS_WITH(TextDataSource(ids, 0, "x"), Contains("window length"));
}

TEST_CASE("Text splits by fraction and text_file", "[data]") {
  std::vector<int64_t> ids(10);
  for (int i = 0; i < 10; ++i)
    ids[i] = i;
  REQUIRE(split_ids(ids, "train", 0.3) == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6});
  REQUIRE(split_ids(ids, "validation", 0.3) == std::vector<int64_t>{7, 8, 9});
  REQUIRE(split_ids(ids, "all", 0.3) == ids);
  REQUIRE(split_ids(ids, "validation", 0.0).empty());
  REQUIRE_THROWS_WITH(split_ids(ids, "validaton", 0.1), Contains("did you mean 'validation'"));
  REQUIRE_THROWS_WITH(split_ids(ids, "train", 1.5), Contains("[0, 1]"));

  TempDir dir("text");
  write_bytes(dir.file("t.txt"), "abcdefghij\r\nklmnopqrs");
  CharTokenizer tok = CharTokenizer::printable_ascii();
  auto all = text_file(dir.file("t.txt"), tok, 5);
  REQUIRE(all->num_tokens() == 20); // CRLF became LF
  auto train = text_file(dir.file("t.txt"), tok, 5, "train", 0.5);
  auto val = text_file(dir.file("t.txt"), tok, 5, "validation", 0.5);
  REQUIRE(train->num_tokens() == 10);
  REQUIRE(val->num_tokens() == 10);
  Tensor first = val->batch(0, 1).inputs[0];
  const int64_t* p = first.data<int64_t>();
  REQUIRE(tok.decode(std::vector<int64_t>(p, p + 5)) == "\nklmn");
  REQUIRE_THROWS_WITH(text_file(dir.file("missing.txt"), tok, 5), Contains("missing.txt"));
}

TEST_CASE("fortunes_text reads the fixed file list and splits every 10th fortune", "[data]") {
  TempDir dir("fortunes");
  // Fortune files where fortune k (counted over all files) is "F<k>".
  int k = 0;
  for (const std::string& name : fortune_files()) {
    std::string text;
    for (int j = 0; j < 3; ++j)
      text += "F" + std::to_string(k++) + "\n%\n";
    write_bytes(dir.file(name), text);
  }
  write_bytes(dir.file("art.dat"), "index, not text");
  REQUIRE(fortune_files().size() == 41);
  std::string val = fortunes_text("validation", 0.1, dir.path());
  std::string expected_val;
  std::string expected_train;
  for (int i = 0; i < k; ++i)
    (i % 10 == 9 ? expected_val : expected_train) += "F" + std::to_string(i) + "\n%\n";
  REQUIRE(val == expected_val);
  REQUIRE(fortunes_text("train", 0.1, dir.path()) == expected_train);
  REQUIRE(fortunes_text("all", 0.1, dir.path()).size() ==
          expected_val.size() + expected_train.size());
  // A fraction of 0.5 takes every other fortune.
  REQUIRE(fortunes_text("validation", 0.5, dir.path()).substr(0, 12) == "F1\n%\nF3\n%\nF5");

  auto windows = fortunes("validation", CharTokenizer::printable_ascii(), 8, 0.1, dir.path());
  REQUIRE(windows->num_tokens() == static_cast<int64_t>(expected_val.size()));
  REQUIRE(windows->describe().find("fortunes validation") == 0);

  SECTION("a missing file names the Debian package") {
    std::remove(dir.file("zippy").c_str());
    REQUIRE_THROWS_WITH(fortunes_text("all", 0.1, dir.path()),
                        Contains(dir.file("zippy")) &&
                            Contains("install the Debian package fortunes"));
    REQUIRE_THROWS_WITH(fortunes_text("all", 0.1, dir.file("none")),
                        Contains("install the Debian package fortunes"));
  }
}

TEST_CASE("fortunes_text on the real corpus matches the training script's rules", "[data]") {
  const std::string dir = "/usr/share/games/fortunes";
  if (!exists(dir + "/zippy") || !exists(dir + "/science")) {
    WARN("skipped: install the Debian package fortunes to check the real corpus");
    return;
  }
  std::string train = fortunes_text("train");
  std::string val = fortunes_text("validation");
  REQUIRE(val.size() > 100000);
  REQUIRE(train.size() > 8 * val.size());
  // The same rules written with Python's regular expressions (as in
  // scripts/models/train_fortunes_gpt.py); compare lengths and a checksum of both splits.
  if (!shrink::test::python_has("re")) {
    WARN("skipped the Python cross-check: /usr/bin/python3 is missing");
    return;
  }
  std::string files;
  for (const std::string& f : fortune_files())
    files += "'" + f + "',";
  std::string script =
      "import re, zlib\n"
      "fs = []\n"
      "for n in [" +
      files +
      "]:\n"
      "    t = open('" +
      dir +
      "/' + n, 'rb').read().decode('utf-8', errors='replace')\n"
      "    t = re.sub(r'.\\x08', '', t, flags=re.DOTALL)\n"
      "    t = t.replace('\\x08', '').replace('\\r\\n', '\\n').replace('\\r', '\\n')\n"
      "    fs += [c.strip('\\n') for c in re.split(r'^%\\n', t, flags=re.MULTILINE) "
      "if c.strip('\\n')]\n"
      "tr = '\\n%\\n'.join(f for i, f in enumerate(fs) if i % 10 != 9) + '\\n%\\n'\n"
      "va = '\\n%\\n'.join(f for i, f in enumerate(fs) if i % 10 == 9) + '\\n%\\n'\n"
      "b = lambda s: s.encode('utf-8')\n"
      "print(len(b(tr)), zlib.crc32(b(tr)), len(b(va)), zlib.crc32(b(va)))\n";
  TempDir tmp("fortunes_py");
  write_bytes(tmp.file("check.py"), script);
  auto r =
      shrink::test::run_command(std::string(shrink::test::kPython) + " " + tmp.file("check.py"));
  REQUIRE(r.status == 0);
  auto crc = [](const std::string& s) {
    return crc32(0L, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(s.size()));
  };
  std::string mine = std::to_string(train.size()) + " " + std::to_string(crc(train)) + " " +
                     std::to_string(val.size()) + " " + std::to_string(crc(val)) + "\n";
  REQUIRE(r.output == mine);
}

TEST_CASE("TensorDataSource and NpyDataSource slice samples as stored", "[data]") {
  Tensor x =
      Tensor::from_vector<uint8_t>({4, 2, 3}, {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                               12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23});
  Tensor z = Tensor::from_vector<float>({4}, {0.5f, 1.5f, 2.5f, 3.5f});
  Tensor y = Tensor::from_vector<int64_t>({4}, {3, 1, 4, 1});

  TensorDataSource mem({x, z}, y, "mem");
  REQUIRE(mem.size() == 4);
  REQUIRE(mem.describe() == "mem (4 samples)");
  Batch b = mem.batch(1, 2);
  REQUIRE(b.inputs.size() == 2);
  REQUIRE(b.inputs[0].dtype() == DType::u8);
  REQUIRE(b.inputs[0].shape() == Shape{2, 2, 3});
  REQUIRE(b.inputs[0].to_doubles() ==
          std::vector<double>{6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17});
  REQUIRE(b.inputs[1].to_doubles() == std::vector<double>{1.5, 2.5});
  REQUIRE(b.labels->to_doubles() == std::vector<double>{1, 4});
  REQUIRE_THROWS_WITH(TensorDataSource({x}, Tensor::from_vector<int64_t>({3}, {1, 2, 3})),
                      Contains("labels [3] and input 0 [4,2,3] differ"));
  REQUIRE_THROWS_WITH(TensorDataSource({Tensor::scalar(1.0f)}), Contains("scalar"));

  TempDir dir("npy");
  save_npy(dir.file("x.npy"), x);
  save_npy(dir.file("z.npy"), z);
  save_npy(dir.file("y.npy"), y);
  NpyDataSource npy({dir.file("x.npy"), dir.file("z.npy")}, dir.file("y.npy"));
  REQUIRE(npy.size() == 4);
  Batch nb = npy.batch(1, 2);
  REQUIRE(nb.inputs[0].equals(b.inputs[0]));
  REQUIRE(nb.inputs[1].equals(b.inputs[1]));
  REQUIRE(nb.labels->equals(*b.labels));
  REQUIRE(npy.describe() == dir.file("x.npy") + " (4 samples)");
  NpyDataSource unlabeled({dir.file("x.npy")});
  REQUIRE_FALSE(unlabeled.batch(0, 4).labels);

  save_npy(dir.file("short.npy"), Tensor::from_vector<int64_t>({3}, {1, 2, 3}));
  REQUIRE_THROWS_WITH(NpyDataSource({dir.file("x.npy")}, dir.file("short.npy")),
                      Contains(dir.file("x.npy")) && Contains(dir.file("short.npy")));
  REQUIRE_THROWS_WITH(NpyDataSource({dir.file("nope.npy")}), Contains("nope.npy"));
}

TEST_CASE("Subsets: first samples and seeded random subsets", "[data]") {
  std::vector<int64_t> values(50);
  for (int i = 0; i < 50; ++i)
    values[i] = i;
  Tensor x = Tensor::from_vector<int64_t>({50, 1}, values);
  Tensor y = Tensor::from_vector<int64_t>({50}, values);
  auto src = std::make_shared<TensorDataSource>(std::vector<Tensor>{x}, y, "fifty");

  auto first = first_samples(src, 8);
  REQUIRE(first->size() == 8);
  REQUIRE(first->describe() == "first 8 of fifty (50 samples)");
  REQUIRE(first->batch(6, 5).labels->to_doubles() == std::vector<double>{6, 7});
  REQUIRE(first_samples(src, 500)->size() == 50);
  REQUIRE_THROWS_WITH(first_samples(src, -1), Contains("negative"));

  auto a = random_subset(src, 10, 7);
  auto a2 = random_subset(src, 10, 7);
  auto c = random_subset(src, 10, 8);
  REQUIRE(a->size() == 10);
  REQUIRE(a->indices() == a2->indices());
  REQUIRE(a->indices() != c->indices());
  // Pinned: mt19937_64 is specified by the standard, so a seed picks these samples everywhere.
  REQUIRE(a->indices() == std::vector<int64_t>{2, 6, 16, 18, 19, 22, 23, 40, 42, 48});
  REQUIRE(std::is_sorted(a->indices().begin(), a->indices().end()));
  REQUIRE(std::set<int64_t>(a->indices().begin(), a->indices().end()).size() == 10);
  // The batch holds exactly the selected samples, inputs and labels together.
  Batch b = a->batch(0, 10);
  std::vector<double> want(a->indices().begin(), a->indices().end());
  REQUIRE(b.inputs[0].shape() == Shape{10, 1});
  REQUIRE(b.inputs[0].to_doubles() == want);
  REQUIRE(b.labels->to_doubles() == want);
  REQUIRE(a->batch(3, 2).labels->to_doubles() == std::vector<double>{want[3], want[4]});
  REQUIRE(random_subset(src, 80, 1)->size() == 50);

  SubsetDataSource picked(src, {5, 6, 7, 2}, "picked");
  REQUIRE(picked.batch(0, 4).labels->to_doubles() == std::vector<double>{5, 6, 7, 2});
  REQUIRE(picked.describe() == "picked of fifty (50 samples)");
  REQUIRE_THROWS_WITH(SubsetDataSource(src, {50}, "bad"), Contains("subset index 50"));
}

TEST_CASE("concat_batches joins samples and rejects mismatches", "[data]") {
  Batch a{{Tensor::from_vector<float>({1, 2}, {1, 2})}, Tensor::from_vector<int64_t>({1}, {0})};
  Batch b{{Tensor::from_vector<float>({2, 2}, {3, 4, 5, 6})},
          Tensor::from_vector<int64_t>({2}, {1, 2})};
  Batch c = concat_batches({a, b});
  REQUIRE(c.inputs[0].shape() == Shape{3, 2});
  REQUIRE(c.inputs[0].to_doubles() == std::vector<double>{1, 2, 3, 4, 5, 6});
  REQUIRE(c.labels->to_doubles() == std::vector<double>{0, 1, 2});
  Batch wrong{{Tensor::from_vector<float>({1, 3}, {1, 2, 3})}, std::nullopt};
  REQUIRE_THROWS_WITH(concat_batches({a, wrong}), Contains("samples must agree"));
  Batch unlabeled{{Tensor::from_vector<float>({1, 2}, {1, 2})}, std::nullopt};
  REQUIRE_THROWS_WITH(concat_batches({a, unlabeled}), Contains("labels"));
}
