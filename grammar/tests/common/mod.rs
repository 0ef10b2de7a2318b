//! Test helpers: a compact S-expression view of the syntax tree, so that
//! expectations are exact shapes written by hand (spans are checked
//! separately).

#![allow(dead_code)]

use sharegrad_grammar::ast::*;
use sharegrad_grammar::parse;

pub fn name(n: &TensorName) -> String {
    let letter = if n.greek {
        format!("\\{}", n.letter)
    } else {
        n.letter.clone()
    };
    match &n.label {
        Some(l) => format!("{letter}^{l}"),
        None => letter,
    }
}

pub fn int(e: &IntExpr) -> String {
    match e {
        IntExpr::Num(v, _) => v.to_string(),
        IntExpr::Sym(i) => i.name.clone(),
        IntExpr::Sum(ts, _) => {
            let mut s = String::from("(");
            for (i, (neg, t)) in ts.iter().enumerate() {
                match (i, neg) {
                    (0, false) => {}
                    (0, true) => s.push_str("- "),
                    (_, false) => s.push_str(" + "),
                    (_, true) => s.push_str(" - "),
                }
                s.push_str(&int(t));
            }
            s + ")"
        }
        IntExpr::Product(fs, _) => {
            format!("(* {})", fs.iter().map(int).collect::<Vec<_>>().join(" "))
        }
        IntExpr::Neg(a, _) => format!("(neg {})", int(a)),
        IntExpr::FloorDiv(a, b, _) => format!("(floor {} {})", int(a), int(b)),
        IntExpr::CeilDiv(a, b, _) => format!("(ceil {} {})", int(a), int(b)),
        IntExpr::Div(a, b, _) => format!("(/ {} {})", int(a), int(b)),
    }
}

fn rel(r: Rel) -> &'static str {
    match r {
        Rel::Lt => "<",
        Rel::Le => "<=",
    }
}

pub fn binder(b: &Binder) -> String {
    let mut s = String::new();
    if let Some((lo, r)) = &b.lo {
        s += &format!("{}{}", int(lo), rel(*r));
    }
    s += &b.var.name;
    if let Some((hi, r)) = &b.hi {
        s += &format!("{}{}", rel(*r), int(hi));
    }
    s
}

pub fn bound(b: &Bound) -> String {
    format!(
        "{}{}{}{}{}",
        int(&b.lo),
        rel(b.lo_rel),
        b.var.name,
        rel(b.hi_rel),
        int(&b.hi)
    )
}

pub fn subs(v: &[IntExpr]) -> String {
    if v.is_empty() {
        String::new()
    } else {
        format!("[{}]", v.iter().map(int).collect::<Vec<_>>().join(","))
    }
}

pub fn sx(e: &Expr) -> String {
    match e {
        Expr::Num { value, .. } => value.to_string(),
        Expr::Tensor {
            name: n,
            subscripts,
            ..
        } => format!("{}{}", name(n), subs(subscripts)),
        Expr::Sum(ts, _) => {
            let mut s = String::from("(");
            for (i, (neg, t)) in ts.iter().enumerate() {
                match (i, neg) {
                    (0, false) => {}
                    (0, true) => s.push_str("- "),
                    (_, false) => s.push_str(" + "),
                    (_, true) => s.push_str(" - "),
                }
                s.push_str(&sx(t));
            }
            s + ")"
        }
        Expr::Product(fs, _) => format!("(* {})", fs.iter().map(sx).collect::<Vec<_>>().join(" ")),
        Expr::Div(a, b, _) => format!("(/ {} {})", sx(a), sx(b)),
        Expr::Neg(a, _) => format!("(neg {})", sx(a)),
        Expr::Pow(a, b, _) => format!("(^ {} {})", sx(a), sx(b)),
        Expr::Call { callee, args, .. } => {
            let f = match callee {
                Callee::Builtin(b) => format!("{b:?}").to_lowercase(),
                Callee::User(i) => format!("{}!", i.name),
            };
            let args: Vec<String> = args.iter().map(sx).collect();
            format!("({f} {})", args.join(" "))
        }
        Expr::Reduce {
            op, binders, body, ..
        } => {
            let op = match op {
                ReduceOp::Sum => "sum",
                ReduceOp::Max => "max",
            };
            let bs: Vec<String> = binders.iter().map(binder).collect();
            format!("({op}{{{}}} {})", bs.join(","), sx(body))
        }
    }
}

pub fn item(i: &Item) -> String {
    match i {
        Item::Decl(d) => {
            let mut s = format!(
                "{} {}{}",
                format!("{:?}", d.kind).to_lowercase(),
                name(&d.name),
                subs(&d.indices)
            );
            for b in &d.bounds {
                s += &format!(", {}", bound(b));
            }
            s
        }
        Item::Output(o) => format!(
            "output {}",
            o.names.iter().map(name).collect::<Vec<_>>().join(", ")
        ),
        Item::FnDef(f) => format!(
            "{}({}) := {}",
            f.name.name,
            f.params
                .iter()
                .map(|p| p.name.clone())
                .collect::<Vec<_>>()
                .join(","),
            sx(&f.body)
        ),
        Item::Equation(e) => {
            let mut s = format!("{}{} := {}", name(&e.lhs), subs(&e.lhs_indices), sx(&e.rhs));
            for r in &e.restated {
                s += &format!(" = {}", sx(r));
            }
            for b in &e.bounds {
                s += &format!(", {}", bound(b));
            }
            s
        }
    }
}

/// Parses a file that must have no error; one line per item.
pub fn ok(src: &str) -> Vec<String> {
    let (file, errors) = parse(src);
    assert!(
        errors.is_empty(),
        "unexpected errors for {src:?}: {errors:?}"
    );
    file.items.iter().map(item).collect()
}

/// The right-hand side of the single equation `x = RHS`.
pub fn rhs(src_rhs: &str) -> String {
    let src = format!("x = {src_rhs}");
    let (file, errors) = parse(&src);
    assert!(
        errors.is_empty(),
        "unexpected errors for {src:?}: {errors:?}"
    );
    assert_eq!(file.items.len(), 1, "{src:?}");
    match &file.items[0] {
        Item::Equation(e) => sx(&e.rhs),
        other => panic!("not an equation: {other:?}"),
    }
}

/// The parsed equation `x = RHS` itself.
pub fn equation(src: &str) -> Equation {
    let (file, errors) = parse(src);
    assert!(
        errors.is_empty(),
        "unexpected errors for {src:?}: {errors:?}"
    );
    match file.items.into_iter().next() {
        Some(Item::Equation(e)) => e,
        other => panic!("not an equation: {other:?}"),
    }
}

/// The errors of `src` as (text under the span, message).
pub fn errs(src: &str) -> Vec<(String, String)> {
    let (_, errors) = parse(src);
    errors
        .iter()
        .map(|e| (src[e.span.start..e.span.end].to_owned(), e.message.clone()))
        .collect()
}

/// The one error of `src`.
pub fn err1(src: &str) -> (String, String) {
    let e = errs(src);
    assert_eq!(e.len(), 1, "expected one error for {src:?}, got {e:?}");
    e.into_iter().next().unwrap()
}
