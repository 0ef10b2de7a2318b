//! The calls into `sharegrad_core::codegen`: the generated module's items
//! and the naming maps from the model's names to Rust identifiers.

use proc_macro2::{Span, TokenStream};
use sharegrad_core::codegen::{self, Options, RealType};
use sharegrad_core::Model;

/// The items of the generated module (see `docs/GENERATED_API.md`), generic
/// over its `Real` trait; with `gemm`, contractions call
/// `::sharegrad::runtime::gemm`.
pub fn module_tokens(model: &Model, gemm: bool) -> Result<TokenStream, String> {
    // The LaTeX derivation goes into `DERIVATION`, as the macros document.
    let opts = Options {
        real: RealType::Generic,
        derivation: Some(sharegrad_core::latex::derivation(model)),
        gemm,
        runtime: Some("::sharegrad::runtime".into()),
    };
    codegen::module_tokens(model, &opts)
        .map_err(|e| format!("sharegrad could not generate code: {e}"))
}

/// Whether a `gemm` flag (written at `flag`) can be honoured: the runtime is
/// re-exported by `sharegrad` only with its `gemm` feature, which turns on
/// this crate's.
pub fn gemm_flag(flag: Option<Span>) -> syn::Result<bool> {
    match flag {
        None => Ok(false),
        Some(_) if cfg!(feature = "gemm") => Ok(true),
        Some(span) => Err(syn::Error::new(
            span,
            "the `gemm` flag needs sharegrad's `gemm` feature: `sharegrad = { version = \"...\", features = [\"gemm\"] }`",
        )),
    }
}

/// The Rust field name of every tensor, by id (`y^0` → `y0`; see
/// [`codegen::tensor_idents`]).
pub fn tensor_idents(p: &sharegrad_core::ir::Program) -> Vec<String> {
    codegen::tensor_idents(p)
}

/// The field of `Sizes` for a size (`n` → `n`; a keyword gets `_`).
pub fn size_field(name: &str) -> String {
    codegen::size_field(name)
}
