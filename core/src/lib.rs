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

pub mod codegen;
pub mod diagnostics;
pub mod diff;
pub mod eval;
pub mod ir;
pub mod latex;
pub mod limits;
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
    let broken = failed_definitions(src, &syntax);
    let mut diags: Vec<Diagnostic> = syntax
        .into_iter()
        .map(|e| Diagnostic::new(e.span, e.message))
        .collect();
    diags.extend(limits::check(&file));
    // Resolve what parsed even when some statements did not, so independent
    // errors are reported together; never differentiate a broken model.
    match resolve::resolve_with_broken(&file, src, broken) {
        Ok(program) if diags.is_empty() => {
            if let Err(e) = eval::check_restatements(&program) {
                let span = e.span.unwrap_or_default();
                return Err(vec![Diagnostic::new(span, e.message)]);
            }
            let gradient = diff::differentiate(&program);
            Ok(Model { program, gradient })
        }
        Ok(_) => Err(diags),
        Err(more) => {
            diags.extend(more);
            diags.sort_by_key(|d| (d.span.start, d.span.end));
            Err(diags)
        }
    }
}

/// The keys of tensors defined or declared on lines that failed to parse,
/// read off the text before `=` (or after the keyword), so that reading
/// them later is not reported as a second error.
fn failed_definitions(
    src: &str,
    errors: &[sharegrad_grammar::ast::SyntaxError],
) -> std::collections::BTreeSet<String> {
    let mut keys = std::collections::BTreeSet::new();
    for e in errors {
        let start = src
            .get(..e.span.start.min(src.len()))
            .and_then(|before| before.rfind(['\n', '\r']))
            .map_or(0, |i| i + 1);
        let line = src[start..].split(['\n', '\r']).next().unwrap_or("");
        let line = line.trim_start_matches('\u{feff}');
        let mut head = line.split('=').next().unwrap_or("").trim();
        for kw in ["input", "param", "const"] {
            if let Some(rest) = head.strip_prefix(kw) {
                head = rest.trim_start();
            }
        }
        let head = head.trim_start_matches(['$', '\\', '(', '[', ' ']);
        let mut chars = head.chars();
        let Some(letter) = chars.next().filter(|c| c.is_ascii_alphabetic()) else {
            continue;
        };
        let mut key = letter.to_string();
        let rest: String = chars.collect();
        if let Some(label) = rest.strip_prefix('^') {
            let label = match label.strip_prefix('{') {
                Some(l) => l.split('}').next().unwrap_or(""),
                None => &label[..label.chars().next().map_or(0, |c| c.len_utf8())],
            };
            key = format!("{letter}^{label}");
        }
        keys.insert(key);
    }
    keys
}
