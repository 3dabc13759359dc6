#pragma once
/// \file
/// Registration of the built-in cleanup passes and the standard cleanup pipeline.
///
/// | name              | what it does                                                       |
/// |-------------------|--------------------------------------------------------------------|
/// | `infer-shapes`    | infers the type of every value                                     |
/// | `dce`             | removes unused nodes and initializers                              |
/// | `const-fold`      | evaluates nodes whose inputs are all constant                      |
/// | `fold-batchnorm`  | folds BatchNormalization into the Conv/Gemm/MatMul before it       |
/// | `fuse`            | LayerNorm, GELU, Gemm and HardSwish fusions                        |
/// | `remove-identity` | removes Identity, Dropout and no-op Reshape/Transpose/Cast         |

namespace shrink {

class PassRegistry;

/// The cleanup pipeline the CLI and recipes use by default: lossless, and idempotent.
inline constexpr const char* kCleanupPipeline =
    "fixpoint(remove-identity,const-fold,fold-batchnorm,fuse,dce)";

/// Registers every built-in cleanup pass with the global registry. Idempotent. The global
/// registry calls it on first use; call it yourself only to be explicit.
void register_builtin_passes();

/// Registers every built-in cleanup pass with `registry`. Idempotent.
void register_builtin_passes(PassRegistry& registry);

} // namespace shrink
