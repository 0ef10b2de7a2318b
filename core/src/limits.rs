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
//! of a run that does not end; real layers stay far below them. Besides the
//! two shape limits, [`copy_cost`] bounds the size of the partials as a
//! whole (a nest of functions of long sums stays under the depth limit and
//! still grows quadratically).

use crate::diagnostics::Diagnostic;
use sharegrad_grammar::ast::{Expr, File, Item};

/// Most factors in one product (`y_i y_i ... y_i`).
pub const MAX_FACTORS: usize = 256;

/// Most quotients, powers, function calls and `\max` reductions nested
/// inside one another in one right-hand side.
pub const MAX_NONLINEAR_DEPTH: usize = 32;

/// Largest [`copy_cost`] of one right-hand side.
pub const MAX_COPY_COST: usize = 1 << 19;

/// How much the partials of a right-hand side copy: for every tensor read,
/// the sizes (in syntax-tree nodes) of the products, quotients, powers,
/// calls and `\max` reductions around it, whose derivatives repeat their
/// other operands or their argument in the read's partial. A sum costs
/// nothing (its partials do not copy the other terms). This tracks the
/// size of the derivative: nested functions of long sums
/// (`\tanh(\tanh(a) + b \tanh(a))`, each level doubling the text) grow it
/// quadratically in the text, beyond what the depth limit catches.
pub fn copy_cost(e: &Expr) -> usize {
    // Adds each read's cost to `total`; `around` is the size of the copying
    // constructs above `e`.
    fn walk(e: &Expr, around: usize, total: &mut usize) {
        let copies = matches!(
            e,
            Expr::Product(..) | Expr::Div(..) | Expr::Pow(..) | Expr::Call { .. }
        ) || matches!(e, Expr::Reduce { op, .. } if *op == sharegrad_grammar::ast::ReduceOp::Max);
        let around = if copies {
            around.saturating_add(size(e))
        } else {
            around
        };
        if let Expr::Tensor { .. } = e {
            *total = total.saturating_add(around);
        }
        for c in e.children() {
            walk(c, around, total);
        }
    }
    fn size(e: &Expr) -> usize {
        1 + e.children().into_iter().map(size).sum::<usize>()
    }
    let mut total = 0;
    walk(e, 0, &mut total);
    total
}

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
            let cost = copy_cost(e);
            if cost > MAX_COPY_COST {
                out.push(
                    Diagnostic::new(
                        e.span(),
                        format!(
                            "this right-hand side is too large to differentiate in one piece: its partials would copy {cost} nodes (at most {MAX_COPY_COST})"
                        ),
                    )
                    .note(
                        "functions, products and quotients repeat their arguments in each read's partial; define repeated or inner parts as tensors of their own (`u_i = ...`)",
                    ),
                );
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
    if let Expr::Product(fs, span) = e {
        if fs.len() > MAX_FACTORS {
            return Some(
                Diagnostic::new(
                    *span,
                    format!("a product of {} factors; at most {MAX_FACTORS}", fs.len()),
                )
                .note(
                    "its derivative repeats the other factors for each one; write repeated factors as a power (`y_i^{300}`) or split the product into statements",
                ),
            );
        }
    }
    e.children()
        .into_iter()
        .find_map(|c| first_excess(c, depth))
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

    /// `\tanh(e + x \tanh(e))` nested `d` deep, doubling the text per level.
    fn doubling_nest(d: usize) -> String {
        let mut e = String::from("y_i + y_{i+1} y_i");
        for _ in 0..d {
            e = format!("\\tanh({e}) + y_{{i+1}} \\tanh({e})");
        }
        format!("input y_i, 0 \\le i < n\nx_i = \\tanh({e}), 0 \\le i < n\n")
    }

    #[test]
    fn partials_too_large_in_all_are_refused_at_the_right_hand_side() {
        // Depth 6 (about 1400 characters) differentiates in well under a
        // second; depth 8 (5400) took gigabytes before this limit.
        assert!(limits(&doubling_nest(5)).is_empty());
        let d = limits(&doubling_nest(7));
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0]
            .message
            .contains("too large to differentiate in one piece"));
        assert_eq!(d[0].span.start, "input y_i, 0 \\le i < n\nx_i = ".len());
        // A long sum of small products is linear and stays allowed.
        let sum = format!(
            "input y_i, 0 \\le i < n\nparam w_a, 0 \\le a < 3\nx_i = {}\n",
            vec!["w_1 y_i"; 60000].join(" + ")
        );
        assert!(limits(&sum).is_empty());
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
