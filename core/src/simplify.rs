//! Simplification by named rewrite rules, applied bottom-up to a fixed point.
//!
//! Every rule has a name (shown by `sharegrad check --rules` and tested in
//! one line below) and only makes a term smaller, so the rewriting stops.
//! Delta elimination and "sum-of-one" live in [`crate::diff`], which works
//! on whole contributions; the rules here work on value expressions.

use crate::ir::*;

/// A rewrite rule: a name and a function that rewrites one node, or
/// declines with None.
pub struct Rule {
    /// Kebab-case name, e.g. `mul-one`.
    pub name: &'static str,
    /// What it does, for documentation.
    pub doc: &'static str,
    /// Rewrites a node whose children are already simplified.
    pub apply: fn(&Expr) -> Option<Expr>,
}

/// Every value rule, in the order they are tried.
pub const RULES: &[Rule] = &[
    Rule { name: "flatten-add", doc: "a + (b + c) = a + b + c", apply: flatten_add },
    Rule { name: "flatten-mul", doc: "a (b c) = a b c", apply: flatten_mul },
    Rule { name: "fold-constants", doc: "2 \\cdot 3 = 6, 1 + 2 = 3: numbers in a sum or product combine", apply: fold_constants },
    Rule { name: "fold-fraction", doc: "\\frac{1}{2} \\cdot 2 = 1: a numeric fraction folds into the other numbers of a product", apply: fold_fraction },
    Rule { name: "mul-zero", doc: "0 \\cdot a = 0", apply: mul_zero },
    Rule { name: "mul-one", doc: "1 \\cdot a = a", apply: mul_one },
    Rule { name: "add-zero", doc: "a + 0 = a", apply: add_zero },
    Rule { name: "single-term", doc: "a sum or product of one term is that term", apply: single_term },
    Rule { name: "neg-neg", doc: "-(-a) = a", apply: neg_neg },
    Rule { name: "neg-num", doc: "-(2) = -2", apply: neg_num },
    Rule { name: "neg-mul", doc: "(-a) b = -(a b): pull signs out of products", apply: neg_mul },
    Rule { name: "mul-minus-one", doc: "(-1) a = -a", apply: mul_minus_one },
    Rule { name: "div-one", doc: "a / 1 = a", apply: div_one },
    Rule { name: "zero-div", doc: "0 / a = 0", apply: zero_div },
    Rule { name: "pow-one", doc: "a^1 = a", apply: pow_one },
    Rule { name: "pow-zero", doc: "a^0 = 1", apply: pow_zero },
    Rule { name: "sum-of-zero", doc: "\\sum_a 0 = 0", apply: sum_of_zero },
];

/// Simplifies with [`RULES`] until nothing changes.
pub fn simplify(e: &Expr) -> Expr {
    let mut cur = e.clone();
    // Each pass is bottom-up; rules only shrink, so few passes are needed.
    for _ in 0..16 {
        let next = pass(&cur);
        if next == cur {
            break;
        }
        cur = next;
    }
    cur
}

fn pass(e: &Expr) -> Expr {
    let e = map_children(e, &pass);
    let mut cur = e;
    'again: loop {
        for r in RULES {
            if let Some(next) = (r.apply)(&cur) {
                cur = next;
                continue 'again;
            }
        }
        return cur;
    }
}

/// Applies `f` to every direct child.
pub fn map_children(e: &Expr, f: &dyn Fn(&Expr) -> Expr) -> Expr {
    match e {
        Expr::Num(_) | Expr::Size(_) | Expr::Index(_) | Expr::Param(_) | Expr::Read(_) => e.clone(),
        Expr::Add(xs) => Expr::Add(xs.iter().map(f).collect()),
        Expr::Mul(xs) => Expr::Mul(xs.iter().map(f).collect()),
        Expr::Call(func, xs) => Expr::Call(func.clone(), xs.iter().map(f).collect()),
        Expr::Neg(a) => Expr::Neg(Box::new(f(a))),
        Expr::Pow(a, p) => Expr::Pow(Box::new(f(a)), *p),
        Expr::Div(a, b) => Expr::Div(Box::new(f(a)), Box::new(f(b))),
        Expr::Reduce {
            op,
            var,
            range,
            body,
        } => Expr::Reduce {
            op: *op,
            var: var.clone(),
            range: range.clone(),
            body: Box::new(f(body)),
        },
        Expr::Indicator(p) => Expr::Indicator(Box::new(match &**p {
            Pred::Gt(a, b) => Pred::Gt(f(a), f(b)),
            Pred::Ge(a, b) => Pred::Ge(f(a), f(b)),
            Pred::FirstArgMax { binders, body, at } => Pred::FirstArgMax {
                binders: binders.clone(),
                body: f(body),
                at: at.clone(),
            },
        })),
    }
}

fn num(e: &Expr) -> Option<f64> {
    match e {
        Expr::Num(x) => Some(*x),
        _ => None,
    }
}

fn flatten_add(e: &Expr) -> Option<Expr> {
    let Expr::Add(xs) = e else { return None };
    if !xs.iter().any(|x| matches!(x, Expr::Add(_))) {
        return None;
    }
    let mut out = Vec::new();
    for x in xs {
        match x {
            Expr::Add(ys) => out.extend(ys.iter().cloned()),
            _ => out.push(x.clone()),
        }
    }
    Some(Expr::Add(out))
}

fn flatten_mul(e: &Expr) -> Option<Expr> {
    let Expr::Mul(xs) = e else { return None };
    if !xs.iter().any(|x| matches!(x, Expr::Mul(_))) {
        return None;
    }
    let mut out = Vec::new();
    for x in xs {
        match x {
            Expr::Mul(ys) => out.extend(ys.iter().cloned()),
            _ => out.push(x.clone()),
        }
    }
    Some(Expr::Mul(out))
}

fn fold_constants(e: &Expr) -> Option<Expr> {
    let (xs, is_add) = match e {
        Expr::Add(xs) => (xs, true),
        Expr::Mul(xs) => (xs, false),
        _ => return None,
    };
    let nums: Vec<f64> = xs.iter().filter_map(num).collect();
    if nums.len() < 2 {
        return None;
    }
    let folded = if is_add {
        nums.iter().sum()
    } else {
        nums.iter().product()
    };
    let mut out: Vec<Expr> = Vec::new();
    // Keep the folded number where the first number stood (leading factor).
    let mut placed = false;
    for x in xs {
        if num(x).is_some() {
            if !placed {
                out.push(Expr::Num(folded));
                placed = true;
            }
        } else {
            out.push(x.clone());
        }
    }
    Some(if is_add {
        Expr::Add(out)
    } else {
        Expr::Mul(out)
    })
}

fn fold_fraction(e: &Expr) -> Option<Expr> {
    let Expr::Mul(xs) = e else { return None };
    let frac = |x: &Expr| match x {
        Expr::Div(a, b) => Some((num(a)?, num(b)?)),
        _ => None,
    };
    let fi = xs.iter().position(|x| frac(x).is_some())?;
    let ni = xs.iter().position(|x| num(x).is_some())?;
    let (a, b) = frac(&xs[fi])?;
    let v = num(&xs[ni])? * a / b;
    let mut out: Vec<Expr> = Vec::new();
    for (k, x) in xs.iter().enumerate() {
        if k == fi.min(ni) {
            out.push(Expr::Num(v));
        } else if k != fi && k != ni {
            out.push(x.clone());
        }
    }
    Some(Expr::Mul(out))
}

fn mul_zero(e: &Expr) -> Option<Expr> {
    let Expr::Mul(xs) = e else { return None };
    // Only a literal zero: NaN and infinities stay out of symbolic terms.
    xs.iter()
        .any(|x| num(x) == Some(0.0))
        .then_some(Expr::Num(0.0))
}

fn mul_one(e: &Expr) -> Option<Expr> {
    let Expr::Mul(xs) = e else { return None };
    if xs.len() > 1 && xs.iter().any(|x| num(x) == Some(1.0)) {
        let rest: Vec<Expr> = xs.iter().filter(|x| num(x) != Some(1.0)).cloned().collect();
        return Some(if rest.is_empty() {
            Expr::Num(1.0)
        } else {
            Expr::Mul(rest)
        });
    }
    None
}

fn add_zero(e: &Expr) -> Option<Expr> {
    let Expr::Add(xs) = e else { return None };
    if xs.iter().any(|x| num(x) == Some(0.0)) {
        let rest: Vec<Expr> = xs.iter().filter(|x| num(x) != Some(0.0)).cloned().collect();
        return Some(if rest.is_empty() {
            Expr::Num(0.0)
        } else {
            Expr::Add(rest)
        });
    }
    None
}

fn single_term(e: &Expr) -> Option<Expr> {
    match e {
        Expr::Add(xs) | Expr::Mul(xs) if xs.len() == 1 => Some(xs[0].clone()),
        Expr::Add(xs) if xs.is_empty() => Some(Expr::Num(0.0)),
        Expr::Mul(xs) if xs.is_empty() => Some(Expr::Num(1.0)),
        _ => None,
    }
}

fn neg_neg(e: &Expr) -> Option<Expr> {
    match e {
        Expr::Neg(a) => match &**a {
            Expr::Neg(b) => Some((**b).clone()),
            _ => None,
        },
        _ => None,
    }
}

fn neg_num(e: &Expr) -> Option<Expr> {
    match e {
        Expr::Neg(a) => num(a).map(|x| Expr::Num(-x)),
        _ => None,
    }
}

fn neg_mul(e: &Expr) -> Option<Expr> {
    let Expr::Mul(xs) = e else { return None };
    let pos = xs.iter().position(|x| matches!(x, Expr::Neg(_)))?;
    let mut ys = xs.clone();
    if let Expr::Neg(a) = &xs[pos] {
        ys[pos] = (**a).clone();
    }
    Some(Expr::Neg(Box::new(Expr::Mul(ys))))
}

fn mul_minus_one(e: &Expr) -> Option<Expr> {
    let Expr::Mul(xs) = e else { return None };
    let pos = xs.iter().position(|x| num(x) == Some(-1.0))?;
    let mut ys = xs.clone();
    ys.remove(pos);
    Some(Expr::Neg(Box::new(Expr::Mul(ys))))
}

fn div_one(e: &Expr) -> Option<Expr> {
    match e {
        Expr::Div(a, b) if num(b) == Some(1.0) => Some((**a).clone()),
        _ => None,
    }
}

fn zero_div(e: &Expr) -> Option<Expr> {
    match e {
        Expr::Div(a, _) if num(a) == Some(0.0) => Some(Expr::Num(0.0)),
        _ => None,
    }
}

fn pow_one(e: &Expr) -> Option<Expr> {
    match e {
        Expr::Pow(a, p) if *p == 1.0 => Some((**a).clone()),
        _ => None,
    }
}

fn pow_zero(e: &Expr) -> Option<Expr> {
    match e {
        Expr::Pow(_, p) if *p == 0.0 => Some(Expr::Num(1.0)),
        _ => None,
    }
}

fn sum_of_zero(e: &Expr) -> Option<Expr> {
    match e {
        Expr::Reduce {
            op: ReduceOp::Sum,
            body,
            ..
        } if num(body) == Some(0.0) => Some(Expr::Num(0.0)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poly::Poly;

    fn x() -> Expr {
        Expr::Read(Read {
            tensor: 0,
            slot: Slot::Value,
            index: vec![Poly::var("i")],
        })
    }
    fn n(v: f64) -> Expr {
        Expr::Num(v)
    }
    fn rule(name: &str) -> fn(&Expr) -> Option<Expr> {
        RULES
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.apply)
            .unwrap()
    }

    #[test]
    fn flatten_add_rule() {
        assert_eq!(
            rule("flatten-add")(&Expr::Add(vec![x(), Expr::Add(vec![x(), n(1.0)])])),
            Some(Expr::Add(vec![x(), x(), n(1.0)]))
        );
    }
    #[test]
    fn flatten_mul_rule() {
        assert_eq!(
            rule("flatten-mul")(&Expr::Mul(vec![x(), Expr::Mul(vec![n(2.0), x()])])),
            Some(Expr::Mul(vec![x(), n(2.0), x()]))
        );
    }
    #[test]
    fn fold_constants_rule() {
        assert_eq!(
            rule("fold-constants")(&Expr::Mul(vec![n(2.0), x(), n(3.0)])),
            Some(Expr::Mul(vec![n(6.0), x()]))
        );
    }
    #[test]
    fn fold_fraction_rule() {
        let half = Expr::Div(Box::new(n(1.0)), Box::new(n(2.0)));
        assert_eq!(
            rule("fold-fraction")(&Expr::Mul(vec![x(), half, n(2.0)])),
            Some(Expr::Mul(vec![x(), n(1.0)]))
        );
    }
    #[test]
    fn mul_zero_rule() {
        assert_eq!(
            rule("mul-zero")(&Expr::Mul(vec![x(), n(0.0)])),
            Some(n(0.0))
        );
    }
    #[test]
    fn mul_one_rule() {
        assert_eq!(
            rule("mul-one")(&Expr::Mul(vec![n(1.0), x()])),
            Some(Expr::Mul(vec![x()]))
        );
    }
    #[test]
    fn add_zero_rule() {
        assert_eq!(
            rule("add-zero")(&Expr::Add(vec![x(), n(0.0)])),
            Some(Expr::Add(vec![x()]))
        );
    }
    #[test]
    fn single_term_rule() {
        assert_eq!(rule("single-term")(&Expr::Mul(vec![x()])), Some(x()));
    }
    #[test]
    fn neg_neg_rule() {
        assert_eq!(
            rule("neg-neg")(&Expr::Neg(Box::new(Expr::Neg(Box::new(x()))))),
            Some(x())
        );
    }
    #[test]
    fn neg_num_rule() {
        assert_eq!(rule("neg-num")(&Expr::Neg(Box::new(n(2.0)))), Some(n(-2.0)));
    }
    #[test]
    fn neg_mul_rule() {
        assert_eq!(
            rule("neg-mul")(&Expr::Mul(vec![x(), Expr::Neg(Box::new(x()))])),
            Some(Expr::Neg(Box::new(Expr::Mul(vec![x(), x()]))))
        );
    }
    #[test]
    fn mul_minus_one_rule() {
        assert_eq!(
            rule("mul-minus-one")(&Expr::Mul(vec![n(-1.0), x()])),
            Some(Expr::Neg(Box::new(Expr::Mul(vec![x()]))))
        );
    }
    #[test]
    fn div_one_rule() {
        assert_eq!(
            rule("div-one")(&Expr::Div(Box::new(x()), Box::new(n(1.0)))),
            Some(x())
        );
    }
    #[test]
    fn zero_div_rule() {
        assert_eq!(
            rule("zero-div")(&Expr::Div(Box::new(n(0.0)), Box::new(x()))),
            Some(n(0.0))
        );
    }
    #[test]
    fn pow_one_rule() {
        assert_eq!(rule("pow-one")(&Expr::Pow(Box::new(x()), 1.0)), Some(x()));
    }
    #[test]
    fn pow_zero_rule() {
        assert_eq!(
            rule("pow-zero")(&Expr::Pow(Box::new(x()), 0.0)),
            Some(n(1.0))
        );
    }
    #[test]
    fn sum_of_zero_rule() {
        let r = Range {
            lo: Poly::int(0),
            hi: Poly::int(2),
        };
        let e = Expr::Reduce {
            op: ReduceOp::Sum,
            var: "a".into(),
            range: r,
            body: Box::new(n(0.0)),
        };
        assert_eq!(rule("sum-of-zero")(&e), Some(n(0.0)));
    }
    #[test]
    fn every_rule_is_tested_here() {
        // Guards against a rule added without its one-line test above.
        assert_eq!(RULES.len(), 17);
    }
    #[test]
    fn simplify_reaches_a_fixed_point() {
        let e = Expr::Mul(vec![
            n(1.0),
            Expr::Mul(vec![x(), n(1.0)]),
            Expr::Neg(Box::new(Expr::Neg(Box::new(n(2.0))))),
        ]);
        assert_eq!(simplify(&e), Expr::Mul(vec![n(2.0), x()]));
    }
}
