//! `sharegrad rust FILE [--type f32|f64|generic] [--gemm]`: the generated
//! Rust module on standard output.
//!
//! The default is `generic`: the module's kernels are generic over its
//! `Real` trait, implemented for `f32` and `f64`, so one pasted module serves
//! both. `--type f32` or `--type f64` gives concrete, trait-free code.
//! `--gemm` lowers contractions (convolutions, matrix products) to calls of
//! `sharegrad_runtime::gemm`: faster, but the module then needs the
//! `sharegrad-runtime` crate (unless nothing lowers: then a note says so).

use sharegrad_core::codegen::{self, Options, RealType};
use sharegrad_core::Model;

/// The element type named by `--type`, or why it is not one.
pub fn real_type(arg: Option<&str>) -> Result<RealType, String> {
    match arg {
        None | Some("generic") => Ok(RealType::Generic),
        Some("f32") => Ok(RealType::F32),
        Some("f64") => Ok(RealType::F64),
        Some(other) => Err(format!("`--type` takes f32, f64 or generic, not `{other}`")),
    }
}

/// The formatted module for `model`, with GEMM lowering when `gemm`.
pub fn module(model: &Model, real: RealType, gemm: bool) -> Result<String, String> {
    let opts = Options {
        real,
        gemm,
        ..Options::default()
    };
    codegen::module_source(model, &opts).map_err(|e| e.to_string())
}
