#pragma once
/// \file
/// Registration of the compression passes.
///
/// | name      | what it does                                                               |
/// |-----------|----------------------------------------------------------------------------|
/// | `lowrank` | factorizes Gemm/MatMul/Conv weights into two thinner layers (truncated SVD) |
/// | `prune-channels` | removes the least important channels with every coupled weight   |
/// | `prune-heads` | removes the least important attention heads                           |
/// | `distill` | trains the graph against a teacher (knowledge distillation, via `Trainer`)  |
/// | `quantize` | int8 static / int8-int4 weight-only quantization into QDQ form            |
/// | `equalize` | cross-layer equalization of consecutive layers' channel ranges (lossless) |
/// | `analyze-sensitivity` | per-layer quantization sensitivity (SQNR, task metric)         |
/// | `smooth-quant` | moves activation outliers into MatMul/Gemm weights before `quantize` |
///
/// The global registry (`PassRegistry::global()`) loads these passes on first use in every
/// program that links the `shrink` umbrella target; call `register_compress_passes` yourself to
/// fill a registry of your own.

namespace shrink {

class PassRegistry;

/// Registers every compression pass with `registry`. Idempotent.
void register_compress_passes(PassRegistry& registry);

} // namespace shrink
