//! The calls into `sharegrad_core::codegen`: the generated module's items
//! and the naming maps from the model's names to Rust identifiers.

use proc_macro2::TokenStream;
use sharegrad_core::codegen::{self, Options, RealType};
use sharegrad_core::Model;

/// The items of the generated module (see `docs/GENERATED_API.md`), generic
/// over its `Real` trait.
pub fn module_tokens(model: &Model) -> Result<TokenStream, String> {
    // The LaTeX derivation goes into `DERIVATION`, as the macros document.
    let opts = Options {
        real: RealType::Generic,
        derivation: Some(sharegrad_core::latex::derivation(model)),
        gemm: false,
    };
    codegen::module_tokens(model, &opts)
        .map_err(|e| format!("sharegrad could not generate code: {e}"))
}

/// The Rust identifier of a tensor key (`y^0` → `y0`).
pub fn rust_ident(key: &str) -> String {
    codegen::rust_ident(key)
}

/// The field of `Sizes` for a size (`n` → `n`; a keyword gets `_`).
pub fn size_field(name: &str) -> String {
    codegen::size_field(name)
}
