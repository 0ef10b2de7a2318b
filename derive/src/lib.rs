//! The proc macros of [sharegrad](https://docs.rs/sharegrad): forward and
//! backward Rust code generated from index-notation equations, inside your
//! crate. Use them through the `sharegrad` crate, which re-exports them.
//!
//! Each macro parses its input with `syn`, compiles the equations with
//! `sharegrad_core::compile`, and asks `sharegrad_core::codegen` for the
//! items of a module whose API is described in `docs/GENERATED_API.md`:
//! `Sizes`, `Inputs`, `Values`, `forward`, `Seeds`, `Grads`, `backward`,
//! `DERIVATION`. No engine logic lives here.
//!
//! # `model!`: a module per model
//!
//! ```
//! # use sharegrad_derive as sharegrad;
//! sharegrad::model! {
//!     /// Valid 1-D convolution.
//!     pub mod conv1d {
//!         r"
//!         input y_j, 0 \le j < L
//!         param w_a, 0 \le a < 3
//!         x_i = \sum_a w_a y_{i+a}
//!         "
//!     }
//!     // A `.eq` file, relative to the crate's `Cargo.toml`:
//!     // pub mod seed = "examples/seed.eq";
//! }
//!
//! let sizes = conv1d::Sizes { L: 5 };
//! let inputs = conv1d::Inputs { y: &[1.0, 2.0, 3.0, 4.0, 5.0], w: &[1.0, 0.0, -1.0] };
//! let mut values = conv1d::Values::<f64>::new(&sizes);
//! conv1d::forward(&sizes, &inputs, &mut values);
//! assert_eq!(values.x, [-2.0, -2.0, -2.0]);
//!
//! let mut grad_w = [0.0; 3];
//! let seeds = conv1d::Seeds { x: &[1.0, 1.0, 1.0] };
//! let mut grads = conv1d::Grads { y: None, w: Some(&mut grad_w) };
//! conv1d::backward(&sizes, &inputs, &values, &seeds, &mut grads);
//! assert_eq!(grad_w, [6.0, 9.0, 12.0]);
//! ```
//!
//! Each item is `VIS mod NAME = "path.eq";` (a file, relative to
//! `CARGO_MANIFEST_DIR`; editing it recompiles the crate) or
//! `VIS mod NAME { "equations" }`, with any outer attributes. The module is
//! generic over its `Real` trait (implemented for `f32` and `f64`).
//!
//! # `#[layer]`: a function whose body is generated
//!
//! ```
//! # use sharegrad_derive as sharegrad;
//! #[sharegrad::layer(r"
//!     input y_j, 0 \le j < L
//!     param w_a, 0 \le a < 3
//!     x_i = \sum_a w_a y_{i+a}
//! ")]
//! fn conv1d(y: &[f64], w: &[f64], x: &mut [f64], L: usize) {}
//!
//! let (y, w) = ([1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 0.0, -1.0]);
//! let mut x = [0.0; 3];
//! conv1d(&y, &w, &mut x, 5);
//! assert_eq!(x, [-2.0, -2.0, -2.0]);
//!
//! // Leaves, output seeds, gradients (accumulated; None skips), sizes.
//! let mut grad_w = [0.0; 3];
//! conv1d_backward(&y, &w, &[1.0, 1.0, 1.0], None, Some(&mut grad_w), 5);
//! assert_eq!(grad_w, [6.0, 9.0, 12.0]);
//! assert!(CONV1D_DERIVATION.contains(r"\bar"));
//! ```
//!
//! The attribute takes the equations as a string literal or
//! `file = "path.eq"`. The signature names every tensor by its Rust
//! identifier (`y^0` → `y0`, `y^{(1)}` → `y1`, `W^{out}` → `W_out`, Greek
//! spelled out: `\beta` → `beta`; see `docs/GENERATED_API.md`) and every
//! size by its name:
//!
//! | in the model | parameter |
//! |---|---|
//! | `input`, `param`, `const` | `y: &[T]` (a scalar may be `&T`) |
//! | an output | `x: &mut [T]` (a scalar may be `&mut T`) |
//! | another defined tensor | optional, `&mut [T]`, receives its values |
//! | a size | `n: usize` |
//! | a symbolic function `h` | `h: fn(T) -> T` and `h_prime: fn(T) -> T` |
//!
//! `T` is `f32` or `f64`, the same for every tensor. The body must be empty
//! (`{}`): it is generated. Next to the function `NAME` the macro emits:
//!
//! - `NAME_backward(leaves..., d_OUT..., grad_LEAF..., sizes..., functions...)`:
//!   the leaves as in `NAME` (in its order), then for each output its seed
//!   `d_x: &[T]` (`d_E: T` for an output taken as `&mut T`), then for each
//!   input and param `grad_y: Option<&mut [T]>`, then the sizes, then the
//!   symbolic functions, each group in the order of `NAME`'s parameters.
//!   Gradients accumulate (`+=`); `None` skips one. The forward pass is
//!   recomputed inside.
//! - `NAME_DERIVATION: &str` (upper-cased): the LaTeX derivation.
//!
//! The attribute goes on free functions (the generated module sits beside
//! the function).
//!
//! # `#[derive(Layer)]`: a struct whose fields are the params
//!
//! ```
//! # use sharegrad_derive as sharegrad;
//! #[derive(sharegrad::Layer)]
//! #[sharegrad(r"
//!     input y_{c,j}, 0 \le c < C, 0 \le j < L
//!     param w_{c,a}, 0 \le c < C, 0 \le a < 2
//!     param \beta
//!     x_i = \sum_{c,a} w_{c,a} y_{c,i+a} + \beta
//! ")]
//! struct Conv {
//!     w: Vec<f32>,
//!     beta: f32,
//! }
//!
//! let layer = Conv { w: vec![1.0, -1.0, 0.5, 0.5], beta: 0.25 };
//! let sizes = ConvSizes { C: 2, L: 3 };
//! let inputs = ConvInputs { y: &[1.0, 2.0, 4.0, 0.0, 2.0, 2.0] };
//! let values = layer.forward(&sizes, &inputs);
//! assert_eq!(values.x, [0.25, 0.25]);
//!
//! let mut grads = layer.zero_grads();
//! let mut grad_y = [0.0f32; 6];
//! let seeds = ConvSeeds { x: &[1.0, 1.0] };
//! layer.backward(&sizes, &inputs, &values, &seeds, &mut grads, ConvInputGrads { y: Some(&mut grad_y) });
//! assert_eq!(grads.beta, 2.0);
//! assert_eq!(grads.w, [3.0, 6.0, 2.0, 4.0]);
//! ```
//!
//! Every `param` must be a field and every field a param (other state is
//! marked `#[sharegrad(skip)]`), stored as `Vec<T>`, `[T; N]` or, for a
//! scalar, `T`. For a struct `Name` the derive emits:
//!
//! - `NameSizes`, `NameValues`, `NameSeeds<'a>`: the generated module's
//!   `Sizes`, `Values<T>` and `Seeds<'a, T>`;
//! - `NameInputs<'a>`: the leaves that are not params (inputs and consts,
//!   `&'a [T]`) and symbolic functions (`h`, `h_prime`);
//! - `NameInputGrads<'a>`: `Option<&'a mut [T]>` per input, `Default` is all
//!   `None`;
//! - `NameGrads`: one field per param with the field's type, accumulated
//!   into, with `zeros_like(&layer)` and `fill_zero()`;
//! - `impl Name { const DERIVATION; fn forward(&self, &NameSizes, &NameInputs) -> NameValues;
//!   fn forward_into(..., &mut NameValues); fn backward(&self, &NameSizes, &NameInputs,
//!   &NameValues, &NameSeeds, &mut NameGrads, NameInputGrads); fn zero_grads(&self) -> NameGrads }`.
//!
//! # Errors
//!
//! Mistakes are compile errors on the offending token: a wrong parameter's
//! type, an unknown parameter's name, the function's or struct's name for a
//! missing one. An error in the equations points at the string literal (at
//! the exact spot where the compiler supports `Literal::subspan`), with the
//! line and column inside the equations and a caret excerpt in the message;
//! for a file, at the path.
#![warn(missing_docs)]

mod ast;
mod engine;
mod layer_fn;
mod layer_struct;
mod model_mod;
mod source;
mod types;

use proc_macro::TokenStream;

/// Generates one module per `VIS mod NAME = "file.eq";` or
/// `VIS mod NAME { "equations" }` item. See the [crate docs](crate).
#[proc_macro]
pub fn model(input: TokenStream) -> TokenStream {
    model_mod::expand(input.into()).into()
}

/// On `fn NAME(...) {}`: generates the body from the equations, plus
/// `NAME_backward` and `NAME_DERIVATION`. See the [crate docs](crate).
#[proc_macro_attribute]
pub fn layer(attr: TokenStream, item: TokenStream) -> TokenStream {
    layer_fn::expand(attr.into(), item.into()).into()
}

/// On a struct whose fields are the params of the equations in its
/// `#[sharegrad(...)]` attribute: `forward`, `backward`, `DERIVATION` and
/// a gradients struct. See the [crate docs](crate).
#[proc_macro_derive(Layer, attributes(sharegrad))]
pub fn derive_layer(input: TokenStream) -> TokenStream {
    layer_struct::expand(input.into()).into()
}
