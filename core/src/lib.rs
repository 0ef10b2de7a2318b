//! sharegrad's engine.
//!
//! ```text
//! text ──parse──> syntax tree ──resolve──> Program ──differentiate──> Gradient
//!      ──simplify──> { LaTeX derivation, Rust code, evaluator }
//! ```
//!
//! [`compile`] runs the front end and the differentiation in one call:
//!
//! ```
//! let src = "input y_j, 0 \\le j < L\nparam w_a, 0 \\le a < 3\nx_i = \\sum_a w_a y_{i+a}\n";
//! let model = sharegrad_core::compile(src).expect("a valid model");
//! // One adjoint for the output, one for each leaf with a gradient.
//! assert_eq!(model.gradient.adjoints.len(), 3);
//! ```
#![warn(missing_docs)]

pub mod diagnostics;
pub mod diff;
pub mod eval;
pub mod ir;
pub mod poly;
pub mod report;
pub mod resolve;
pub mod simplify;

pub use diagnostics::Diagnostic;

/// A resolved and differentiated model.
#[derive(Clone, Debug)]
pub struct Model {
    /// The resolved program.
    pub program: ir::Program,
    /// Its adjoint equations.
    pub gradient: ir::Gradient,
}

/// Parses, resolves and differentiates a model. On failure, every problem
/// found, each with a byte range into `src`.
pub fn compile(src: &str) -> Result<Model, Vec<Diagnostic>> {
    let (file, syntax) = sharegrad_grammar::parse(src);
    let mut diags: Vec<Diagnostic> =
        syntax.into_iter().map(|e| Diagnostic::new(e.span, e.message)).collect();
    // Resolve what parsed even when some statements did not, so independent
    // errors are reported together; but never differentiate a broken model.
    match resolve::resolve(&file, src) {
        Ok(program) if diags.is_empty() => {
            let gradient = diff::differentiate(&program);
            Ok(Model { program, gradient })
        }
        Ok(_) => Err(diags),
        Err(more) => {
            if diags.is_empty() {
                diags = more;
            } else {
                // Resolution errors caused by a statement that failed to parse
                // (e.g. "undeclared tensor") would be noise: keep syntax errors.
                diags.extend(more.into_iter().filter(|d| !d.message.starts_with("undeclared tensor")
                    && !d.message.contains("is read before it is defined")));
            }
            diags.sort_by_key(|d| (d.span.start, d.span.end));
            Err(diags)
        }
    }
}
