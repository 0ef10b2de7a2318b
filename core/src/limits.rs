//! Limits on the shape of a right-hand side that keep differentiation
//! cheap, checked on the syntax tree before anything is resolved.
//!
//! The derivative of one statement is built symbolically, so some shapes
//! make it far larger than the statement: a product of `N` factors has `N`
//! partials of `N - 1` factors each, and every quotient, power or function
//! nested inside another repeats its argument in its own derivative (the
//! quotient rule twice), so that a few dozen nested `\frac`s took minutes.
//! Split across statements, the same model is linear: each statement's
//! partials stay local and the chain rule runs through the adjoints. These
//! limits turn such input into an error that says so, at the spot, instead
//! of a run that does not end; real layers stay far below them.

use crate::diagnostics::Diagnostic;
use sharegrad_grammar::ast::{Expr, File, Item};

/// Most factors in one product (`y_i y_i ... y_i`).
pub const MAX_FACTORS: usize = 256;

/// Most quotients, powers, function calls and `\max` reductions nested
/// inside one another in one right-hand side.
pub const MAX_NONLINEAR_DEPTH: usize = 32;

/// One diagnostic per right-hand side (or function body) that exceeds a
/// limit, at the first construct that does.
pub fn check(file: &File) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for item in &file.items {
        let exprs: Vec<&Expr> = match item {
            Item::Equation(eq) => std::iter::once(&eq.rhs).chain(&eq.restated).collect(),
            Item::FnDef(f) => vec![&f.body],
            Item::Decl(_) | Item::Output(_) => Vec::new(),
        };
        for e in exprs {
            if let Some(d) = first_excess(e, 0) {
                out.push(d);
                break;
            }
        }
    }
    out
}

/// The first construct of `e` over a limit, `depth` non-linear constructs
/// already around it.
fn first_excess(e: &Expr, depth: usize) -> Option<Diagnostic> {
    let nonlinear = match e {
        Expr::Div(_, den, _) => !matches!(**den, Expr::Num { .. }),
        Expr::Pow(..) | Expr::Call { .. } => true,
        Expr::Reduce { op, .. } => *op == sharegrad_grammar::ast::ReduceOp::Max,
        _ => false,
    };
    let depth = depth + usize::from(nonlinear);
    if depth > MAX_NONLINEAR_DEPTH {
        return Some(
            Diagnostic::new(
                e.span(),
                format!(
                    "quotients, powers and functions nested more than {MAX_NONLINEAR_DEPTH} deep"
                ),
            )
            .note(
                "each one repeats its argument in its derivative; define the inner part as a tensor of its own (`u_i = ...`), which keeps the derivation linear",
            ),
        );
    }
    match e {
        Expr::Num { .. } | Expr::Tensor { .. } => None,
        Expr::Sum(terms, _) => terms.iter().find_map(|(_, t)| first_excess(t, depth)),
        Expr::Product(fs, span) => {
            if fs.len() > MAX_FACTORS {
                return Some(
                    Diagnostic::new(
                        *span,
                        format!(
                            "a product of {} factors; at most {MAX_FACTORS}",
                            fs.len()
                        ),
                    )
                    .note(
                        "its derivative repeats the other factors for each one; write repeated factors as a power (`y_i^{300}`) or split the product into statements",
                    ),
                );
            }
            fs.iter().find_map(|f| first_excess(f, depth))
        }
        Expr::Div(a, b, _) | Expr::Pow(a, b, _) => {
            first_excess(a, depth).or_else(|| first_excess(b, depth))
        }
        Expr::Neg(a, _) => first_excess(a, depth),
        Expr::Call { args, .. } => args.iter().find_map(|a| first_excess(a, depth)),
        Expr::Reduce { body, .. } => first_excess(body, depth),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(src: &str) -> Vec<Diagnostic> {
        let (file, syntax) = sharegrad_grammar::parse(src);
        assert!(syntax.is_empty(), "{syntax:?}");
        check(&file)
    }

    #[test]
    fn products_of_many_factors_are_refused_at_the_product() {
        let head = "input y_i, 0 \\le i < n\nx_i = ";
        let ok = format!("{head}{}\n", vec!["y_i"; MAX_FACTORS].join(" "));
        assert!(limits(&ok).is_empty());
        let bad = format!("{head}{}\n", vec!["y_i"; MAX_FACTORS + 1].join(" "));
        let d = limits(&bad);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].span.start, head.len());
        assert!(d[0].message.contains("a product of 257 factors"), "{d:?}");
    }

    #[test]
    fn nested_quotients_are_refused_at_the_first_too_deep() {
        let head = "input y_i, 0 \\le i < n\nx_i = ";
        let nest = |d: usize| format!("{head}{}y_i{}\n", "\\frac{y_i}{".repeat(d), "}".repeat(d));
        assert!(limits(&nest(MAX_NONLINEAR_DEPTH)).is_empty());
        let d = limits(&nest(MAX_NONLINEAR_DEPTH + 1));
        assert_eq!(d.len(), 1);
        // The innermost quotient is the 33rd: it starts 32 `\frac{y_i}{` in.
        assert_eq!(
            d[0].span.start,
            head.len() + MAX_NONLINEAR_DEPTH * "\\frac{y_i}{".len()
        );
        // Division by a number is linear and does not count.
        let by_two = format!("{head}{}y_i{}\n", "(".repeat(40), "/2)".repeat(40));
        assert!(limits(&by_two).is_empty());
    }
}
