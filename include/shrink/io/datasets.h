#pragma once
/// \file
/// Data sets as `DataSource`s (see ir/interfaces.h): Fashion-MNIST / MNIST IDX files, text cut
/// into fixed-length token windows, `.npy` arrays, in-memory tensors, and subset views for
/// calibration sets.
///
/// Every source is cheap to share (`std::shared_ptr<const DataSource>`), re-iterable and reads
/// its samples per batch: IDX files are memory-mapped (or, when gzip-compressed, held as their
/// raw bytes) and converted to floats one batch at a time. See docs/data.md.
///
/// ```cpp
/// auto test = shrink::fashion_mnist("test");            // 10000 x f32[1,28,28], labels i64
/// auto calib = shrink::random_subset(shrink::fashion_mnist("train"), 512, /*seed=*/0);
/// shrink::Batch b = test->batch(0, 64);                 // b.inputs[0]: f32[64,1,28,28]
/// ```

#include "shrink/ir/interfaces.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace shrink {

// ---- IDX (MNIST, Fashion-MNIST) -------------------------------------------------------------

/// Images and labels stored as IDX files (the MNIST format), plain or gzip-compressed.
///
/// Images must be unsigned-byte IDX arrays of rank 3 (`count x rows x cols`); a batch holds them
/// as f32 `N x 1 x rows x cols` with values byte / 255 in [0, 1]. Labels must be an unsigned-byte
/// IDX array of rank 1 with the same count; a batch holds them as i64 `N`. Uncompressed files are
/// memory-mapped; gzip files are decompressed once into their raw bytes (47 MB for the 60000
/// Fashion-MNIST training images), never into floats for the whole set. A bad magic number,
/// wrong rank, truncated data, trailing bytes or a label/image count mismatch is an `Error` that
/// names the file.
class IdxDataSource : public DataSource {
public:
  /// Opens `images_path` and (when not empty) `labels_path`. `name` is used by `describe()`
  /// (the images path when empty). `limit` >= 0 keeps only the first `limit` samples.
  IdxDataSource(const std::string& images_path, const std::string& labels_path,
                std::string name = "", int64_t limit = -1);
  ~IdxDataSource() override;

  /// Number of samples (after the limit).
  int64_t size() const override;
  /// Images `[start, start + count)` as f32 `N x 1 x rows x cols` and their i64 labels.
  Batch batch(int64_t start, int64_t count) const override;
  /// "<name> (<count> samples)".
  std::string describe() const override;
  /// The shape of one sample: `[1, rows, cols]`.
  Shape sample_shape() const;
  /// True when the source has labels.
  bool has_labels() const;

private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

/// The folder `fashion_mnist` reads: `$SHRINK_DATA_DIR` when set, else
/// `/usr/share/datasets/fashion-mnist` (Debian package `dataset-fashion-mnist`).
std::string fashion_mnist_dir();

/// Fashion-MNIST `split` ("train": 60000 samples, "test": 10000) from `dir` (default
/// `fashion_mnist_dir()`), reading `<prefix>-images-idx3-ubyte[.gz]` and
/// `<prefix>-labels-idx1-ubyte[.gz]` with prefix "train" or "t10k". `limit` >= 0 keeps the first
/// `limit` samples. Throws `Error` "Fashion-MNIST not found at <dir>: install the Debian package
/// dataset-fashion-mnist (apt-get install dataset-fashion-mnist)" when the files are missing, and
/// names the known splits for an unknown one.
std::shared_ptr<IdxDataSource> fashion_mnist(const std::string& split, int64_t limit = -1,
                                             const std::string& dir = "");

// ---- Text ----------------------------------------------------------------------------------

/// Normalizes raw text bytes the way the fortunes-gpt tokenizer expects: decodes UTF-8 (each
/// invalid byte sequence becomes U+FFFD), deletes every "X<backspace>" overstrike pair and any
/// stray backspace, and turns CRLF and lone CR into LF. Returns valid UTF-8.
std::string normalize_text(const std::string& raw);

/// A character-level tokenizer: one id per Unicode code point, from a fixed table.
///
/// The table file is JSON (the format `scripts/models/train_fortunes_gpt.py` writes to
/// `examples/models/fortunes-gpt.vocab.json`): an object with `"tokens"`, an array of strings
/// where entry i is the character of id i, and optional `"unk_id"` (the id for characters not in
/// the table; the entry at that id is a name such as "<unk>", not a character) and `"context"`
/// (the model's longest sequence). Other keys are ignored.
class CharTokenizer {
public:
  /// A table from `tokens` (one code point each, except the entry at `unk_id`); `unk_id` -1
  /// means characters outside the table are an error. Throws `Error` on duplicates or
  /// multi-character tokens.
  CharTokenizer(std::vector<std::string> tokens, int64_t unk_id, int64_t context = 0);
  /// Reads a vocabulary JSON file. Throws `Error` (or `ParseError` for bad JSON) naming it.
  static CharTokenizer load(const std::string& path);
  /// Parses vocabulary JSON text; `source` names it in errors.
  static CharTokenizer from_json(const std::string& json, const std::string& source = "<string>");
  /// The fortunes-gpt table: 98 ids, 0 `<unk>`, 1 TAB, 2 LF, 3..97 ASCII 32..126.
  static CharTokenizer printable_ascii();

  /// Number of ids.
  int64_t vocab_size() const { return static_cast<int64_t>(tokens_.size()); }
  /// The id of unknown characters, or -1.
  int64_t unk_id() const { return unk_id_; }
  /// The model's context length from the table file, 0 when not given.
  int64_t context() const { return context_; }
  /// The token strings, indexed by id.
  const std::vector<std::string>& tokens() const { return tokens_; }

  /// Maps UTF-8 text to ids (one per code point). Characters outside the table become
  /// `unk_id()`; without one they are an `Error` naming the character and its offset.
  std::vector<int64_t> encode(const std::string& text) const;
  /// Maps ids back to UTF-8 text; `unk_id()` becomes U+FFFD. Throws `Error` for ids out of range.
  std::string decode(const std::vector<int64_t>& ids) const;

private:
  std::vector<std::string> tokens_;
  std::vector<char32_t> chars_;                      // code point of each id (0 for the unk entry)
  std::vector<int64_t> ascii_;                       // id of each code point < 128, -1 when absent
  std::vector<std::pair<char32_t, int64_t>> others_; // sorted, for code points >= 128
  int64_t unk_id_ = -1;
  int64_t context_ = 0;
};

/// Token ids cut into fixed-length windows for next-token prediction.
///
/// Sample i covers ids `[i*stride, i*stride + window)`; its input is those ids (i64 `window`)
/// and its label the ids one position later (i64 `window`), so every window needs
/// `window + 1` ids. A batch holds inputs i64 `N x window` and labels i64 `N x window`. The
/// ids that do not fill a last window are not used.
class TextDataSource : public DataSource {
public:
  /// Windows over `ids`; `stride` 0 means `window` (non-overlapping windows).
  TextDataSource(std::vector<int64_t> ids, int64_t window, std::string name, int64_t stride = 0);

  /// Number of windows.
  int64_t size() const override;
  /// Windows `[start, start + count)`: inputs i64 `N x window`, labels i64 `N x window`.
  Batch batch(int64_t start, int64_t count) const override;
  /// "<name> (<count> windows of <window> tokens)".
  std::string describe() const override;
  /// The window length T.
  int64_t window() const { return window_; }
  /// Number of token ids.
  int64_t num_tokens() const { return static_cast<int64_t>(ids_->size()); }

private:
  std::shared_ptr<const std::vector<int64_t>> ids_;
  int64_t window_;
  int64_t stride_;
  std::string name_;
};

/// Splits `ids` at a fixed point: "train" is the first `1 - validation_fraction` of the ids,
/// "validation" the rest, "all" everything. Throws `Error` for other split names or a fraction
/// outside [0, 1].
std::vector<int64_t> split_ids(const std::vector<int64_t>& ids, const std::string& split,
                               double validation_fraction);

/// A UTF-8 text file, normalized (`normalize_text`), tokenized, split by `split_ids` and cut
/// into windows of `window` tokens.
std::shared_ptr<TextDataSource> text_file(const std::string& path, const CharTokenizer& tokenizer,
                                          int64_t window, const std::string& split = "all",
                                          double validation_fraction = 0.1);

/// The fixed list of plain-text fortune files `fortunes_text` reads, in order: every file of the
/// Debian `fortunes` and `fortunes-min` packages except the `.dat`/`.u8` index files,
/// `ascii-art` (pictures) and `translate-me` (a stub). The list the fortunes-gpt model was
/// trained on.
const std::vector<std::string>& fortune_files();

/// The folder `fortunes_text` reads: `$SHRINK_FORTUNES_DIR` when set, else
/// `/usr/share/games/fortunes`.
std::string fortunes_dir();

/// The fortunes collection as one text per split. The files of `fortune_files()` are read from
/// `dir` (default `fortunes_dir()`), normalized, and cut into fortunes at lines holding a single
/// "%" (leading and trailing newlines stripped, empty ones dropped). Fortune i (counting over
/// all files) goes to validation when floor((i+1) f) > floor(i f) for f =
/// `validation_fraction` (f = 0.1: every 10th fortune, i % 10 == 9), else to train. The split
/// ("train", "validation" or "all") is returned as its fortunes each followed by "\n%\n". Throws
/// `Error` naming the Debian package `fortunes` when a file is missing.
std::string fortunes_text(const std::string& split = "all", double validation_fraction = 0.1,
                          const std::string& dir = "");

/// `fortunes_text(split, validation_fraction, dir)` tokenized and cut into windows.
std::shared_ptr<TextDataSource> fortunes(const std::string& split, const CharTokenizer& tokenizer,
                                         int64_t window, double validation_fraction = 0.1,
                                         const std::string& dir = "");

// ---- Arrays --------------------------------------------------------------------------------

/// Samples from in-memory tensors; the first dimension of every tensor is the sample.
class TensorDataSource : public DataSource {
public:
  /// `inputs` (one per graph input) and optional `labels` must agree on the first dimension;
  /// throws `Error` otherwise. The tensors are shared, not copied.
  TensorDataSource(std::vector<Tensor> inputs, std::optional<Tensor> labels = std::nullopt,
                   std::string name = "tensors");

  /// Number of samples.
  int64_t size() const override { return size_; }
  /// Rows `[start, start + count)` of every tensor (copied).
  Batch batch(int64_t start, int64_t count) const override;
  /// "<name> (<count> samples)".
  std::string describe() const override;

private:
  std::vector<Tensor> inputs_;
  std::optional<Tensor> labels_;
  std::string name_;
  int64_t size_ = 0;
};

/// Samples from `.npy` files, used exactly as stored (no normalization or type conversion): the
/// first dimension is the sample. The arrays are read with `load_npy` once and shared.
class NpyDataSource : public DataSource {
public:
  /// One `.npy` file per graph input, plus an optional labels file (empty: no labels). Throws
  /// `Error` naming the files when their first dimensions differ or an array is a scalar.
  NpyDataSource(const std::vector<std::string>& input_paths, const std::string& labels_path = "");

  /// Number of samples.
  int64_t size() const override { return data_.size(); }
  /// Rows `[start, start + count)` of every array.
  Batch batch(int64_t start, int64_t count) const override { return data_.batch(start, count); }
  /// "<first input file> (<count> samples)".
  std::string describe() const override { return data_.describe(); }

private:
  TensorDataSource data_;
};

// ---- Subsets -------------------------------------------------------------------------------

/// The first `limit` samples of another source.
class LimitedDataSource : public DataSource {
public:
  /// Keeps samples `[0, min(limit, source->size()))`. Throws `Error` for a negative limit.
  LimitedDataSource(std::shared_ptr<const DataSource> source, int64_t limit);
  /// Number of samples.
  int64_t size() const override { return size_; }
  /// Samples of the underlying source, clipped at the limit.
  Batch batch(int64_t start, int64_t count) const override;
  /// "first <K> of <source>".
  std::string describe() const override;

private:
  std::shared_ptr<const DataSource> source_;
  int64_t size_;
};

/// Selected samples of another source, by index, in the given order.
class SubsetDataSource : public DataSource {
public:
  /// Sample i is `source` sample `indices[i]`. Throws `Error` for an index out of range.
  SubsetDataSource(std::shared_ptr<const DataSource> source, std::vector<int64_t> indices,
                   std::string name);
  /// Number of samples.
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  /// The selected samples (consecutive indices are read as one batch of the source).
  Batch batch(int64_t start, int64_t count) const override;
  /// "<name> of <source>".
  std::string describe() const override;
  /// The selected indices.
  const std::vector<int64_t>& indices() const { return indices_; }

private:
  std::shared_ptr<const DataSource> source_;
  std::vector<int64_t> indices_;
  std::string name_;
};

/// The first `limit` samples of `source` (all of them when it has fewer).
std::shared_ptr<LimitedDataSource> first_samples(std::shared_ptr<const DataSource> source,
                                                 int64_t limit);

/// `count` distinct samples of `source` chosen uniformly at random with `seed` (the same seed
/// always picks the same samples, on every platform), kept in increasing index order. All
/// samples when `count` >= `source->size()`.
std::shared_ptr<SubsetDataSource> random_subset(std::shared_ptr<const DataSource> source,
                                                int64_t count, uint64_t seed);

/// Concatenates batches along the first dimension (inputs and labels). All batches must have
/// the same number of inputs, matching dtypes and sample shapes; throws `Error` otherwise.
Batch concat_batches(const std::vector<Batch>& batches);

} // namespace shrink
