//! LaTeX for the IR's pieces: tensor names, index polynomials, value
//! expressions, ranges, boundary conditions. Every function here only reads
//! the IR; the document in [`super`] arranges the results.
//!
//! Index variables are written in a reader's order, not the canonical one:
//! a [`Notation`] carries the variables in the order they should appear
//! (`i + a - 1`, the statement's position before the kernel offset), with a
//! positive term first (`j - a + 1`, never `-a + j + 1`).

use crate::ir::*;
use crate::poly::{Atom, Monomial, Poly};
use crate::report::fmt_num;
use crate::resolve::builtin_name;

/// How variables are ordered and how adjoints and deltas are written in one
/// context (a statement, a contribution, a derivation).
#[derive(Clone, Debug, Default)]
pub struct Notation {
    /// Index variables in the order a reader expects them; others follow
    /// alphabetically.
    pub order: Vec<String>,
    /// Write Kronecker deltas as Iverson brackets `[g = k]` (when a tensor is
    /// itself called `\delta`).
    pub iverson_deltas: bool,
}

impl Notation {
    /// A notation with the given variable order.
    pub fn with_order<S: AsRef<str>>(order: &[S]) -> Notation {
        let mut n = Notation::default();
        for v in order {
            n.push(v.as_ref());
        }
        n
    }
    /// Appends a variable to the order unless it is already there.
    pub fn push(&mut self, v: &str) {
        if !self.order.iter().any(|o| o == v) {
            self.order.push(v.to_string());
        }
    }
    fn rank(&self, v: &str) -> (usize, String) {
        match self.order.iter().position(|o| o == v) {
            Some(k) => (k, String::new()),
            None => (self.order.len(), v.to_string()),
        }
    }
}

/// A one-letter name or a Greek letter spelled out, as LaTeX.
pub fn letter(name: &str, greek: bool) -> String {
    if greek {
        format!("\\{name}")
    } else {
        name_tex(name)
    }
}

/// A size or variable name: one letter as is, primes kept (`a'`), `k_0` with
/// a braced subscript, longer names upright.
pub fn name_tex(name: &str) -> String {
    let primes = name.len() - name.trim_end_matches('\'').len();
    let base = name.trim_end_matches('\'');
    let mut s = if let Some((b, sub)) = base.split_once('_') {
        format!("{}_{{{}}}", name_tex(b), sub)
    } else if base.chars().count() <= 1 {
        base.to_string()
    } else {
        format!("\\mathit{{{base}}}")
    };
    for _ in 0..primes {
        s.push('\'');
    }
    s
}

/// A tensor's name with its label: `y^{0}`, `W^{\mathrm{out}}`, `S^{[1]}`.
pub fn tensor_name(t: &Tensor) -> String {
    let mut s = letter(&t.letter, t.greek);
    if let Some(l) = &t.label {
        s.push_str(&format!("^{{{}}}", label_tex(l)));
    }
    s
}

fn label_tex(l: &str) -> String {
    if l.chars().count() > 1 && l.chars().all(|c| c.is_ascii_alphabetic()) {
        format!("\\mathrm{{{l}}}")
    } else {
        l.to_string()
    }
}

/// The adjoint's name `\bar{y}^{0}`.
pub fn adjoint_name(t: &Tensor) -> String {
    let mut s = format!("\\bar{{{}}}", letter(&t.letter, t.greek));
    if let Some(l) = &t.label {
        s.push_str(&format!("^{{{}}}", label_tex(l)));
    }
    s
}

/// A tensor element with LaTeX subscripts already rendered.
pub fn element(t: &Tensor, slot: Slot, subs: &[String]) -> String {
    let mut s = match slot {
        Slot::Value => tensor_name(t),
        Slot::Adjoint => adjoint_name(t),
    };
    if !subs.is_empty() {
        s.push_str(&format!("_{{{}}}", subs.join(",")));
    }
    s
}

/// A read `y^{1}_{i+a-1}` or `\bar{x}^{2}_{j}`.
pub fn read(p: &Program, r: &Read, n: &Notation) -> String {
    let subs: Vec<String> = r.index.iter().map(|i| poly(i, n)).collect();
    element(&p.tensors[r.tensor], r.slot, &subs)
}

/// The element `T_{vars}` of a tensor at plain variables.
pub fn at_vars(p: &Program, t: TensorId, slot: Slot, vars: &[String]) -> String {
    let subs: Vec<String> = vars.iter().map(|v| name_tex(v)).collect();
    element(&p.tensors[t], slot, &subs)
}

/// An integer polynomial, terms in the reader's order: `j - a + 1`,
/// `2i + a`, `\lfloor (L-2)/2 \rfloor`, `\max(1, j-n+4)`.
pub fn poly(p: &Poly, n: &Notation) -> String {
    let mut terms: Vec<(&Monomial, i64)> = p.terms().collect();
    if terms.is_empty() {
        return "0".into();
    }
    terms.sort_by_key(|(m, _)| monomial_key(m, n));
    // A positive term first when there is one.
    if terms[0].1 < 0 {
        if let Some(k) = terms.iter().position(|(m, c)| *c > 0 && !m.is_empty()) {
            let t = terms.remove(k);
            terms.insert(0, t);
        }
    }
    let mut s = String::new();
    for (k, (m, c)) in terms.iter().enumerate() {
        let mag = c.abs();
        if k == 0 {
            if *c < 0 {
                s.push('-');
            }
        } else {
            s.push_str(if *c < 0 { "-" } else { "+" });
        }
        if m.is_empty() {
            s.push_str(&mag.to_string());
            continue;
        }
        if mag != 1 {
            s.push_str(&mag.to_string());
        }
        let mut prev_letter = false;
        for a in m.iter() {
            let t = atom(a, n);
            let simple = matches!(a, Atom::Size(_) | Atom::Var(_));
            if prev_letter && simple {
                s.push_str("\\,");
            }
            s.push_str(&t);
            prev_letter = simple;
        }
    }
    s
}

fn monomial_key(m: &Monomial, n: &Notation) -> (u8, (usize, String), String) {
    if m.is_empty() {
        return (3, (0, String::new()), String::new());
    }
    let var_rank = m
        .iter()
        .filter_map(|a| match a {
            Atom::Var(v) => Some(n.rank(v)),
            _ => None,
        })
        .min();
    let complex = m.iter().any(|a| !matches!(a, Atom::Size(_) | Atom::Var(_)));
    match (complex, var_rank) {
        (false, Some(r)) => (0, r, String::new()),
        (false, None) => (1, (0, String::new()), format!("{m:?}")),
        (true, _) => (2, (0, String::new()), format!("{m:?}")),
    }
}

fn atom(a: &Atom, n: &Notation) -> String {
    let grouped = |p: &Poly| {
        let t = poly(p, n);
        if p.terms().count() > 1 || p.terms().any(|(_, c)| c < 0) {
            format!("({t})")
        } else {
            t
        }
    };
    match a {
        Atom::Size(s) | Atom::Var(s) => name_tex(s),
        Atom::FloorDiv(p, q) => format!("\\lfloor {}/{} \\rfloor", grouped(p), grouped(q)),
        Atom::CeilDiv(p, q) => format!("\\lceil {}/{} \\rceil", grouped(p), grouped(q)),
        Atom::ExactDiv(p, q) => format!("{}/{}", grouped(p), grouped(q)),
        Atom::Max(ps) => format!(
            "\\max({})",
            ps.iter().map(|p| poly(p, n)).collect::<Vec<_>>().join(", ")
        ),
        Atom::Min(ps) => format!(
            "\\min({})",
            ps.iter().map(|p| poly(p, n)).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// `lo \le v \le hi`, or `v = lo` for a single point.
pub fn range_cond(var: &str, r: &Range, n: &Notation) -> String {
    if r.hi == r.lo {
        return format!("{} = {}", name_tex(var), poly(&r.lo, n));
    }
    format!(
        "{} \\le {} \\le {}",
        poly(&r.lo, n),
        name_tex(var),
        poly(&r.hi, n)
    )
}

/// `\sum_{v=lo}^{hi}`.
pub fn sum_op(var: &str, r: &Range, n: &Notation) -> String {
    format!(
        "\\sum_{{{}={}}}^{{{}}}",
        name_tex(var),
        poly(&r.lo, n),
        poly(&r.hi, n)
    )
}

/// A boundary condition as an Iverson bracket: `[j = 0]`,
/// `[1 \le j \le 3]`, `[2 \mid k - a]`.
pub fn cond(c: &Cond, n: &Notation) -> String {
    format!("\\left[{}\\right]", cond_body(c, n))
}

/// The condition without brackets.
pub fn cond_body(c: &Cond, n: &Notation) -> String {
    match c {
        Cond::Divides { den, num } => format!("{} \\mid {}", poly(den, n), poly(num, n)),
        Cond::Within { e, lo, hi } if lo == hi => format!("{} = {}", poly(e, n), poly(lo, n)),
        Cond::Within { e, lo, hi } => {
            format!("{} \\le {} \\le {}", poly(lo, n), poly(e, n), poly(hi, n))
        }
    }
}

/// A Kronecker delta `\delta_{g,\,k}` (or `[g = k]`).
pub fn delta(g: &Poly, k: &str, n: &Notation) -> String {
    if n.iverson_deltas {
        format!("\\left[{} = {}\\right]", poly(g, n), name_tex(k))
    } else {
        format!("\\delta_{{{},\\,{}}}", poly(g, n), name_tex(k))
    }
}

/// Precedence of a rendered expression: 0 sum, 1 product, 2 unary, 3 atom.
fn prec_of(e: &Expr) -> u8 {
    match e {
        Expr::Num(x) if *x < 0.0 => 0,
        Expr::Num(_)
        | Expr::Size(_)
        | Expr::Param(_)
        | Expr::Read(_)
        | Expr::Call(..)
        | Expr::Div(..) => 3,
        Expr::Indicator(_) => 3,
        Expr::Index(p) => {
            if p.terms().count() > 1 || p.terms().any(|(_, c)| c < 0) {
                0
            } else {
                3
            }
        }
        Expr::Add(_) | Expr::Neg(_) => 0,
        Expr::Mul(_) | Expr::Reduce { .. } => 1,
        Expr::Pow(..) => 2,
    }
}

/// A value expression in LaTeX.
pub fn expr(p: &Program, e: &Expr, n: &Notation) -> String {
    match e {
        Expr::Num(x) => num(*x),
        Expr::Size(s) | Expr::Param(s) => name_tex(s),
        Expr::Index(q) => poly(q, n),
        Expr::Read(r) => read(p, r, n),
        Expr::Add(ts) => {
            let mut s = String::new();
            for (k, t) in ts.iter().enumerate() {
                let (neg, body) = match t {
                    Expr::Neg(a) if k > 0 => (true, a.as_ref()),
                    Expr::Num(x) if k > 0 && *x < 0.0 => {
                        s.push_str(" - ");
                        s.push_str(&num(-*x));
                        continue;
                    }
                    _ => (false, t),
                };
                if k > 0 {
                    s.push_str(if neg { " - " } else { " + " });
                }
                s.push_str(&wrap(p, body, if neg { 1 } else { 0 }, n));
            }
            s
        }
        Expr::Mul(fs) => factors(p, fs, n).concat(),
        Expr::Neg(a) => format!("-{}", wrap(p, a, 1, n)),
        Expr::Div(a, b) => format!("\\frac{{{}}}{{{}}}", expr(p, a, n), expr(p, b, n)),
        Expr::Pow(a, x) => {
            let base = expr(p, a, n);
            // A base that already carries a superscript (a labelled tensor,
            // a power) or is compound gets parentheses.
            let needs = prec_of(a) < 3
                || base.contains('^')
                || matches!(**a, Expr::Call(..) if base.contains("\\left"));
            let base = if needs { paren(&base) } else { base };
            format!("{base}^{{{}}}", exponent(*x))
        }
        Expr::Call(f, args) => call(p, f, args, n),
        Expr::Reduce {
            op,
            var,
            range,
            body,
        } => {
            let head = match op {
                ReduceOp::Sum => sum_op(var, range, n),
                ReduceOp::Max => format!("\\max_{{{}}}", range_cond(var, range, n)),
            };
            format!("{head} {}", wrap(p, body, 1, n))
        }
        Expr::Indicator(pr) => format!("\\left[{}\\right]", pred(p, pr, n)),
    }
}

/// The factors of a product, each already joined to the previous one
/// (`\,` or `\cdot` before a number); concatenated they are the product.
pub fn factors(p: &Program, fs: &[Expr], n: &Notation) -> Vec<String> {
    let mut out = Vec::new();
    for (k, f) in fs.iter().enumerate() {
        let t = wrap(p, f, 2, n);
        if k == 0 {
            out.push(t);
        } else if matches!(f, Expr::Num(_)) || t.starts_with(|c: char| c.is_ascii_digit()) {
            out.push(format!(" \\cdot {t}"));
        } else {
            out.push(format!("\\, {t}"));
        }
    }
    out
}

/// `e` in parentheses when its precedence is below `ctx`.
pub fn wrap(p: &Program, e: &Expr, ctx: u8, n: &Notation) -> String {
    let t = expr(p, e, n);
    if prec_of(e) < ctx {
        paren(&t)
    } else {
        t
    }
}

/// Parentheses, sized when the content is tall.
pub fn paren(t: &str) -> String {
    if is_tall(t) {
        format!("\\left({t}\\right)")
    } else {
        format!("({t})")
    }
}

fn is_tall(t: &str) -> bool {
    t.contains("\\frac")
        || t.contains("\\sum")
        || t.contains("\\max_")
        || t.contains("\\left[")
        || t.contains("\\sqrt")
}

fn call(p: &Program, f: &Func, args: &[Expr], n: &Notation) -> String {
    let a: Vec<String> = args.iter().map(|x| expr(p, x, n)).collect();
    let joined = a.join(", ");
    match f {
        Func::Builtin(Builtin::Sqrt) => format!("\\sqrt{{{joined}}}"),
        Func::Builtin(b) => format!("{}{}", builtin_name(*b), paren(&joined)),
        Func::User { name, prime } => format!(
            "{}{}{}",
            name_tex(name),
            if *prime { "'" } else { "" },
            paren(&joined)
        ),
    }
}

fn pred(p: &Program, pr: &Pred, n: &Notation) -> String {
    match pr {
        Pred::Gt(a, b) => format!("{} > {}", expr(p, a, n), expr(p, b, n)),
        Pred::Ge(a, b) => format!("{} \\ge {}", expr(p, a, n), expr(p, b, n)),
        Pred::FirstArgMax { binders, body, at } => {
            let mut inner = n.clone();
            for (v, _) in binders {
                inner.push(v);
            }
            let ranges: Vec<String> = binders
                .iter()
                .map(|(v, r)| range_cond(v, r, &inner))
                .collect();
            let at: Vec<String> = at.iter().map(|q| poly(q, n)).collect();
            let lhs = if at.len() == 1 {
                at[0].clone()
            } else {
                format!("({})", at.join(", "))
            };
            format!(
                "{lhs} = \\operatorname*{{arg\\,max}}_{{{}}} {}",
                ranges.join(",\\, "),
                wrap(p, body, 1, &inner)
            )
        }
    }
}

/// A number as people write it; simple fractions as `\tfrac{1}{2}`.
pub fn num(x: f64) -> String {
    // `\pi` in the model is this number in the IR.
    if x == std::f64::consts::PI {
        return "\\pi".to_string();
    }
    if x.fract() != 0.0 && x.is_finite() {
        for d in [2.0, 3.0, 4.0, 5.0, 8.0] {
            let k = x * d;
            if (k - k.round()).abs() < 1e-12 && k.round().abs() < 1e6 {
                let k = k.round() as i64;
                let sign = if k < 0 { "-" } else { "" };
                return format!("{sign}\\tfrac{{{}}}{{{}}}", k.abs(), d as i64);
            }
        }
    }
    fmt_num(x)
}

/// An exponent: `2`, `3/2`, `-1`.
fn exponent(x: f64) -> String {
    if x.fract() != 0.0 {
        for d in [2.0, 3.0, 4.0] {
            let k = x * d;
            if (k - k.round()).abs() < 1e-12 {
                return format!("{}/{}", k.round() as i64, d as i64);
            }
        }
    }
    fmt_num(x)
}

/// Width (em) beyond which a parenthesised sum factor is opened into
/// breakable pieces.
const LONG_FACTOR_EM: f32 = 24.0;

/// Splits an expression into pieces at the places a long display line may
/// break: between the terms of a sum, between the factors of a product,
/// inside a long sum that is a product's last factor, after the operator of
/// a reduction. Concatenated, the pieces are [`expr`] (with `\Bigl( \Bigr)`
/// around such an opened sum).
pub fn pieces(p: &Program, e: &Expr, n: &Notation) -> Vec<String> {
    match e {
        Expr::Add(ts) => {
            let mut out = Vec::new();
            for (k, t) in ts.iter().enumerate() {
                let (neg, body) = match t {
                    Expr::Neg(a) if k > 0 => (true, a.as_ref()),
                    _ => (false, t),
                };
                let mut sub = if prec_of(body) >= 1 && !matches!(body, Expr::Num(x) if *x < 0.0) {
                    pieces(p, body, n)
                } else {
                    vec![wrap(p, body, if neg { 1 } else { 0 }, n)]
                };
                if k > 0 {
                    sub[0] = format!(" {} {}", if neg { "-" } else { "+" }, sub[0]);
                }
                out.extend(sub);
            }
            out
        }
        // A long sum as the last factor (a derivative `\tfrac12 (1 + ... )`)
        // opens into its terms, between parentheses that may sit on
        // different lines (`\Bigl( \Bigr)`, unlike `\left( \right)`).
        Expr::Mul(fs)
            if matches!(fs.last(), Some(Expr::Add(_)))
                && super::layout::width(&expr(p, &fs[fs.len() - 1], n)) > LONG_FACTOR_EM =>
        {
            let (last, head) = fs.split_last().expect("a last factor");
            let mut out = factors(p, head, n);
            let mut inner = pieces(p, last, n);
            let sep = if head.is_empty() { "" } else { "\\, " };
            inner[0] = format!("{sep}\\Bigl({}", inner[0]);
            if let Some(end) = inner.last_mut() {
                end.push_str("\\Bigr)");
            }
            out.extend(inner);
            out
        }
        Expr::Mul(fs) => factors(p, fs, n),
        Expr::Reduce {
            op: ReduceOp::Sum,
            var,
            range,
            body,
        } if prec_of(body) >= 1 => {
            let mut out = vec![sum_op(var, range, n)];
            let mut rest = pieces(p, body, n);
            if let Some(first) = rest.first_mut() {
                *first = format!(" {first}");
            }
            out.extend(rest);
            out
        }
        _ => vec![expr(p, e, n)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> Notation {
        Notation::with_order(&["i", "j", "a"])
    }

    #[test]
    fn polynomials_read_in_the_given_order() {
        let p = Poly::var("a").add(&Poly::var("i")).add_int(-1);
        assert_eq!(poly(&p, &order()), "i+a-1");
        let q = Poly::var("j").sub(&Poly::var("a")).add_int(1);
        assert_eq!(poly(&q, &order()), "j-a+1");
        let r = Poly::var("j").sub(&Poly::size("n")).add_int(4);
        assert_eq!(poly(&r, &order()), "j-n+4");
        assert_eq!(poly(&Poly::var("i").scale(2), &order()), "2i");
    }

    #[test]
    fn floor_and_max_atoms() {
        let n = Notation::default();
        let f = Poly::size("L").add_int(-2).floor_div(&Poly::int(2));
        assert_eq!(poly(&f, &n), "\\lfloor (L-2)/2 \\rfloor");
        let m = Poly::int(1).max_of(&Poly::var("j").add_int(-2));
        assert!(poly(&m, &n).starts_with("\\max("));
    }

    #[test]
    fn numbers_and_names() {
        assert_eq!(num(0.5), "\\tfrac{1}{2}");
        assert_eq!(num(-2.0), "-2");
        assert_eq!(name_tex("a'"), "a'");
        assert_eq!(name_tex("k_0"), "k_{0}");
        assert_eq!(exponent(1.5), "3/2");
    }
}
