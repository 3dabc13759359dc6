#pragma once
/// \file
/// Registration of the compression passes.
///
/// | name      | what it does                                                               |
/// |-----------|----------------------------------------------------------------------------|
/// | `lowrank` | factorizes Gemm/MatMul/Conv weights into two thinner layers (truncated SVD) |
/// | `prune-channels` | removes the least important channels with every coupled weight   |
/// | `prune-heads` | removes the least important attention heads                           |
///
/// The global registry (`PassRegistry::global()`) loads these passes on first use in every
/// program that links the `shrink` umbrella target; call `register_compress_passes` yourself to
/// fill a registry of your own.

namespace shrink {

class PassRegistry;

/// Registers every compression pass with `registry`. Idempotent.
void register_compress_passes(PassRegistry& registry);

} // namespace shrink
