//! sharegrad: backpropagation through shared weights, from index-notation
//! equations written in LaTeX, as a LaTeX derivation and as Rust forward and
//! backward functions.
//!
//! This crate is the one dependency to add. It re-exports
//!
//! - the macros that generate code inside your crate: [`model!`] (a module
//!   per model), [`#[layer]`](macro@layer) (a function whose body is
//!   generated, plus its `_backward` sibling) and [`#[derive(Layer)]`](derive@Layer)
//!   (a struct whose fields are the params);
//! - the engine, [`engine`] (`sharegrad_core`): [`compile`], evaluation,
//!   the derivation report, code generation.
//!
//! The generated code is self-contained (no dependency on this crate at run
//! time, no `unsafe`) unless you opt into the `gemm` flag (feature `gemm`:
//! convolutions and matrix products through `sharegrad::runtime`'s GEMM, several
//! times faster): contiguous row-major slices plus a sizes struct, and
//! gradients that **accumulate** (`+=`), so a weight shared by several
//! layers sums its gradients over every use.
//!
//! ```
//! #[sharegrad::layer(r"
//!     input y_j, 0 \le j < L
//!     param w_a, 0 \le a < 3
//!     x_i = \sum_a w_a y_{i+a}
//! ")]
//! fn conv1d(y: &[f64], w: &[f64], x: &mut [f64], L: usize) {}
//!
//! let (y, w) = ([1.0, 2.0, 3.0, 4.0, 5.0], [0.5, 0.0, -1.0]);
//! let mut x = [0.0; 3];
//! conv1d(&y, &w, &mut x, 5);
//! assert_eq!(x, [-2.5, -3.0, -3.5]);
//!
//! // d(sum x)/dw, accumulated into grad_w; the gradient of y is skipped.
//! let mut grad_w = [0.0; 3];
//! conv1d_backward(&y, &w, &[1.0; 3], None, Some(&mut grad_w), 5);
//! assert_eq!(grad_w, [6.0, 9.0, 12.0]);
//! ```
//!
//! The same equations through the engine:
//!
//! ```
//! let model = sharegrad::compile("input y_j, 0 \\le j < L\nparam w_a, 0 \\le a < 3\nx_i = \\sum_a w_a y_{i+a}\n")
//!     .expect("a valid model");
//! assert_eq!(model.program.sizes, ["L"]);
//! ```
#![warn(missing_docs)]

pub use sharegrad_core as engine;
pub use sharegrad_core::{compile, Diagnostic, Model};
pub use sharegrad_derive::{layer, model, Layer};

/// The runtime of code generated with the `gemm` flag (`model!` items with
/// `#[sharegrad(gemm)]`, `#[layer(gemm, ...)]`, `#[sharegrad(gemm, ...)]`):
/// a checked strided GEMM. Needs the `gemm` feature.
#[cfg(feature = "gemm")]
pub use sharegrad_runtime as runtime;
