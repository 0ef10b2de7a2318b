//! Plain-text views of the IR: the `sharegrad check` summary and the
//! adjoint equations in a compact ASCII notation (`dE/dw[k] = sum_{i=0}^{n-3} ...`).
//! Read-only over the IR, like every back end.

use crate::ir::*;
use crate::poly::Poly;
use crate::resolve::builtin_name;
use crate::Model;
use std::fmt::Write as _;

/// How a tensor is written in text: `y^1[i+a-1]`, `E`, `bar x^2[i]`.
pub fn read_text(p: &Program, r: &Read) -> String {
    let t = &p.tensors[r.tensor];
    let mut s = String::new();
    if r.slot == Slot::Adjoint {
        s.push_str("bar ");
    }
    s.push_str(&t.key);
    if !r.index.is_empty() {
        let ix: Vec<String> = r
            .index
            .iter()
            .map(|i| i.to_string().replace(' ', ""))
            .collect();
        let _ = write!(s, "[{}]", ix.join(","));
    }
    s
}

fn range_text(r: &Range) -> String {
    format!("{}..={}", r.lo, r.hi)
}

/// A value expression in text.
pub fn expr_text(p: &Program, e: &Expr) -> String {
    prec_text(p, e, 0)
}

fn prec_text(p: &Program, e: &Expr, ctx: u8) -> String {
    // Precedence: 0 sum, 1 product, 2 unary/power operand.
    let (s, prec) = match e {
        Expr::Num(x) => (fmt_num(*x), if *x < 0.0 { 0 } else { 3 }),
        Expr::Size(n) => (n.clone(), 3),
        Expr::Index(i) => (format!("({i})"), 3),
        Expr::Param(n) => (n.clone(), 3),
        Expr::Read(r) => (read_text(p, r), 3),
        Expr::Add(ts) => {
            let mut s = String::new();
            for (k, t) in ts.iter().enumerate() {
                match t {
                    Expr::Neg(a) if k > 0 => {
                        let _ = write!(s, " - {}", prec_text(p, a, 1));
                    }
                    _ => {
                        if k > 0 {
                            s.push_str(" + ");
                        }
                        s.push_str(&prec_text(p, t, 0));
                    }
                }
            }
            (s, 0)
        }
        Expr::Mul(fs) => (
            fs.iter()
                .map(|f| prec_text(p, f, 2))
                .collect::<Vec<_>>()
                .join(" * "),
            1,
        ),
        Expr::Neg(a) => (format!("-{}", prec_text(p, a, 2)), 0),
        Expr::Div(a, b) => (
            format!("{} / {}", prec_text(p, a, 1), prec_text(p, b, 2)),
            1,
        ),
        Expr::Pow(a, x) => (format!("{}^{}", prec_text(p, a, 3), fmt_num(*x)), 2),
        Expr::Call(f, args) => {
            let name = match f {
                Func::Builtin(b) => builtin_name(*b)
                    .trim_start_matches('\\')
                    .replace("operatorname{", "")
                    .replace('}', ""),
                Func::User { name, prime } => format!("{name}{}", if *prime { "'" } else { "" }),
            };
            let a: Vec<String> = args.iter().map(|x| prec_text(p, x, 0)).collect();
            (format!("{name}({})", a.join(", ")), 3)
        }
        Expr::Reduce {
            op,
            var,
            range,
            body,
        } => {
            let op = match op {
                ReduceOp::Sum => "sum",
                ReduceOp::Max => "max",
            };
            (
                format!(
                    "{op}_{{{var}={}}} {}",
                    range_text(range),
                    prec_text(p, body, 2)
                ),
                1,
            )
        }
        Expr::Indicator(pr) => (format!("[{}]", pred_text(p, pr)), 3),
    };
    if prec < ctx {
        format!("({s})")
    } else {
        s
    }
}

fn pred_text(p: &Program, pr: &Pred) -> String {
    match pr {
        Pred::Gt(a, b) => format!("{} > {}", expr_text(p, a), expr_text(p, b)),
        Pred::Ge(a, b) => format!("{} >= {}", expr_text(p, a), expr_text(p, b)),
        Pred::FirstArgMax { binders, body, at } => {
            let vs: Vec<String> = binders
                .iter()
                .map(|(v, r)| format!("{v}={}", range_text(r)))
                .collect();
            let at: Vec<String> = at.iter().map(|a| a.to_string()).collect();
            format!(
                "({}) = first argmax_{{{}}} {}",
                at.join(","),
                vs.join(", "),
                expr_text(p, body)
            )
        }
    }
}

/// Numbers as people write them: `2`, `0.5`, `-1`.
pub fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn cond_text(c: &Cond) -> String {
    match c {
        Cond::Divides { den, num } => format!("{den} | {num}"),
        Cond::Within { e, lo, hi } if lo == hi => format!("{e} = {lo}"),
        Cond::Within { e, lo, hi } => format!("{lo} <= {e} <= {hi}"),
    }
}

/// The gather form of one contribution: `[conds] sum_{a=..}^{..} body`.
pub fn gather_text(p: &Program, g: &Gather) -> String {
    // A condition goes right after the innermost sum whose variable it
    // mentions (before all sums when it is on target indices alone).
    let mentions = |c: &Cond, v: &str| match c {
        Cond::Divides { den, num } => den.mentions(v) || num.mentions(v),
        Cond::Within { e, lo, hi } => e.mentions(v) || lo.mentions(v) || hi.mentions(v),
    };
    let depth = |c: &Cond| {
        g.sums
            .iter()
            .rposition(|s| mentions(c, &s.var))
            .map_or(0, |i| i + 1)
    };
    let mut s = String::new();
    for level in 0..=g.sums.len() {
        if level > 0 {
            let v = &g.sums[level - 1];
            let _ = write!(s, "sum_{{{}={}}} ", v.var, range_text(&v.range));
        }
        for c in g.conds.iter().filter(|c| depth(c) == level) {
            let _ = write!(s, "[{}] ", cond_text(c));
        }
    }
    s.push_str(&prec_text(
        p,
        &g.body,
        if g.sums.is_empty() { 0 } else { 1 },
    ));
    s
}

/// Points per element of an occurrence, as text: the product of the
/// extents of the sums left after delta elimination, or "1".
pub fn multiplicity_text(g: &Gather) -> String {
    if g.sums.is_empty() {
        return "1".into();
    }
    g.sums
        .iter()
        .map(|s| {
            let ext = s.range.extent();
            let t = ext.to_string();
            if ext.as_const().is_some() || g.sums.len() == 1 {
                t
            } else {
                format!("({t})")
            }
        })
        .collect::<Vec<_>>()
        .join(" * ")
}

/// The `sharegrad check` summary: sizes, tensors with index ranges,
/// statements, every leaf's occurrences with multiplicities, and the
/// simplified adjoint equations.
pub fn check_summary(m: &Model) -> String {
    let p = &m.program;
    let g = &m.gradient;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "sizes: {}",
        if p.sizes.is_empty() {
            "(none)".into()
        } else {
            p.sizes.join(", ")
        }
    );
    let _ = writeln!(out, "\ntensors:");
    let outputs: std::collections::BTreeSet<TensorId> = p.outputs.iter().copied().collect();
    for (id, t) in p.tensors.iter().enumerate() {
        let kind = match t.kind {
            TensorKind::Leaf(DeclKind::Input) => "input",
            TensorKind::Leaf(DeclKind::Param) => "param",
            TensorKind::Leaf(DeclKind::Const) => "const",
            TensorKind::Defined(_) if t.auxiliary => "aux",
            TensorKind::Defined(_) => "defined",
        };
        let dims: Vec<String> = t
            .indices
            .iter()
            .zip(&t.dims)
            .map(|(i, r)| format!("{} <= {i} <= {}", r.lo, r.hi))
            .collect();
        let out_mark = if outputs.contains(&id) {
            "  (output)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {kind:<7} {}{}{}",
            t.key,
            if dims.is_empty() {
                String::new()
            } else {
                format!("  {}", dims.join(", "))
            },
            out_mark
        );
    }
    let _ = writeln!(out, "\nstatements:");
    for s in &p.statements {
        let t = &p.tensors[s.lhs];
        let lhs = read_text(
            p,
            &Read {
                tensor: s.lhs,
                slot: Slot::Value,
                index: s.vars.iter().map(|v| Poly::var(v)).collect(),
            },
        );
        let how = if t.auxiliary {
            "  (hoisted reduction)"
        } else if s.bounds_written {
            "  (bounds written: zero padding)"
        } else {
            "  (valid range inferred)"
        };
        let _ = writeln!(out, "  {lhs} = {}{how}", expr_text(p, &s.rhs));
    }
    let _ = writeln!(out, "\noccurrences:");
    // The gather of each occurrence's contribution, if it has one; looked up
    // once, so a statement with many reads stays linear.
    let mut contribution: Vec<Option<&Gather>> = vec![None; g.occurrences.len()];
    for c in g.adjoints.iter().flat_map(|a| a.terms.iter()) {
        if let Some(slot) = contribution.get_mut(c.occurrence) {
            slot.get_or_insert(&c.gather);
        }
    }
    let mut occurrences_of: Vec<Vec<(usize, &Occurrence)>> = vec![Vec::new(); p.tensors.len()];
    for (oi, o) in g.occurrences.iter().enumerate() {
        if let Some(list) = occurrences_of.get_mut(o.tensor) {
            list.push((oi, o));
        }
    }
    for (tid, t) in p.tensors.iter().enumerate() {
        if !t.is_leaf() {
            continue;
        }
        let occ = std::mem::take(&mut occurrences_of[tid]);
        let grad = if t.wants_gradient() {
            "gets a gradient"
        } else {
            "no gradient"
        };
        let _ = writeln!(
            out,
            "  {} ({grad}): {} occurrence{}",
            t.key,
            occ.len(),
            if occ.len() == 1 { "" } else { "s" }
        );
        for (oi, o) in occ {
            let s = &p.statements[o.statement];
            let read = read_text(
                p,
                &Read {
                    tensor: tid,
                    slot: Slot::Value,
                    index: o.index.clone(),
                },
            );
            let scope: Vec<String> = o
                .scope
                .iter()
                .map(|(v, r)| format!("{v} in {}", range_text(r)))
                .collect();
            let mult = contribution[oi].map(multiplicity_text);
            let _ = writeln!(
                out,
                "    in {} = ...: reads {read} over {}{}",
                p.tensors[s.lhs].key,
                scope.join(", "),
                match mult {
                    Some(m) => format!("; each element used at up to {m} point(s)"),
                    None => String::new(),
                }
            );
        }
    }
    let _ = writeln!(out, "\nadjoints:");
    let _ = write!(out, "{}", adjoints_text(m));
    out
}

/// The simplified adjoint equations, one contribution per line.
pub fn adjoints_text(m: &Model) -> String {
    let p = &m.program;
    let mut out = String::new();
    for a in &m.gradient.adjoints {
        let t = &p.tensors[a.tensor];
        let lhs = read_text(
            p,
            &Read {
                tensor: a.tensor,
                slot: Slot::Adjoint,
                index: a.vars.iter().map(|v| Poly::var(v)).collect(),
            },
        );
        let dims: Vec<String> = a
            .vars
            .iter()
            .zip(&t.dims)
            .map(|(v, r)| format!("{} <= {v} <= {}", r.lo, r.hi))
            .collect();
        let _ = writeln!(
            out,
            "  {lhs}{} =",
            if dims.is_empty() {
                String::new()
            } else {
                format!("  ({})", dims.join(", "))
            }
        );
        if a.seeded {
            let _ = writeln!(out, "      seed");
        }
        for c in &a.terms {
            let _ = writeln!(out, "    + {}", gather_text(p, &c.gather));
        }
        if !a.seeded && a.terms.is_empty() {
            let _ = writeln!(out, "      0");
        }
    }
    out
}
