//! Reverse-mode differentiation over the statement DAG.
//!
//! For every read of a tensor `T_{g(i, r)}` in a statement `X_i = f(...)`
//! (an [`Occurrence`]), the chain rule gives the contribution
//!
//! ```text
//! \bar T_k += \sum_{i, r} [g(i, r) = k] \, \bar X_i \, \partial f / \partial T_{g(i,r)}
//! ```
//!
//! (the scatter form). A shared weight's gradient is the sum of the
//! contributions of all its occurrences, and each contribution sums over
//! every index point that reads the element. [`eliminate_delta`] solves the
//! affine equation `g(i, r) = k` for summation variables, turning the
//! scatter into a gather whose remaining sums are bounded by the kernel, with
//! exact boundary conditions (`\max`/`\min` limits, stride divisibility).
//!
//! Invariant: differentiation is correct before simplification; it only
//! calls [`crate::simplify`] on finished terms to make them readable.

use crate::ir::*;
use crate::poly::Poly;
use crate::resolve::visit_reads;
use crate::simplify::simplify;
use std::collections::BTreeSet;

/// The derivative of a user function's body with respect to its parameter.
pub fn derivative_wrt_param(body: &Expr) -> Expr {
    d_param(body)
}

fn d_param(e: &Expr) -> Expr {
    match e {
        Expr::Param(_) => Expr::Num(1.0),
        Expr::Num(_) | Expr::Size(_) | Expr::Index(_) | Expr::Read(_) | Expr::Indicator(_) => {
            Expr::Num(0.0)
        }
        Expr::Add(ts) => Expr::Add(ts.iter().map(d_param).collect()),
        Expr::Neg(a) => Expr::Neg(Box::new(d_param(a))),
        Expr::Mul(fs) => Expr::Add(
            (0..fs.len())
                .map(|j| {
                    let mut f: Vec<Expr> = fs.clone();
                    f[j] = d_param(&fs[j]);
                    Expr::Mul(f)
                })
                .collect(),
        ),
        Expr::Div(a, b) => Expr::Add(vec![
            Expr::Div(Box::new(d_param(a)), b.clone()),
            Expr::Mul(vec![d_param(b), quotient_partial(a, b)]),
        ]),
        Expr::Pow(a, p) => Expr::Mul(vec![power_partial(a, *p), d_param(a)]),
        Expr::Call(f, args) => {
            let mut terms = Vec::new();
            for (j, a) in args.iter().enumerate() {
                terms.push(Expr::Mul(vec![call_partial(f, args, j), d_param(a)]));
            }
            Expr::Add(terms)
        }
        Expr::Reduce {
            op,
            var,
            range,
            body,
        } => match op {
            ReduceOp::Sum => Expr::Reduce {
                op: *op,
                var: var.clone(),
                range: range.clone(),
                body: Box::new(d_param(body)),
            },
            // The resolver rejects `\max` reductions in function bodies.
            ReduceOp::Max => Expr::Num(0.0),
        },
    }
}

/// `\partial (a/b) / \partial b = -a / b^2`.
fn quotient_partial(a: &Expr, b: &Expr) -> Expr {
    Expr::Neg(Box::new(Expr::Div(
        Box::new(a.clone()),
        Box::new(Expr::Pow(Box::new(b.clone()), 2.0)),
    )))
}

/// `\partial u^p / \partial u = p u^{p-1}`.
fn power_partial(u: &Expr, p: f64) -> Expr {
    Expr::Mul(vec![Expr::Num(p), Expr::Pow(Box::new(u.clone()), p - 1.0)])
}

/// The partial derivative of `f(args)` with respect to argument `j`.
fn call_partial(f: &Func, args: &[Expr], j: usize) -> Expr {
    let u = args[0].clone();
    let call = |b: Builtin, x: Expr| Expr::Call(Func::Builtin(b), vec![x]);
    match f {
        Func::Builtin(b) => match b {
            Builtin::Exp => call(Builtin::Exp, u),
            Builtin::Log => Expr::Div(Box::new(Expr::Num(1.0)), Box::new(u)),
            Builtin::Tanh => Expr::Add(vec![
                Expr::Num(1.0),
                Expr::Neg(Box::new(Expr::Pow(Box::new(call(Builtin::Tanh, u)), 2.0))),
            ]),
            Builtin::Sigma => Expr::Mul(vec![
                call(Builtin::Sigma, u.clone()),
                Expr::Add(vec![
                    Expr::Num(1.0),
                    Expr::Neg(Box::new(call(Builtin::Sigma, u))),
                ]),
            ]),
            Builtin::Sqrt => Expr::Div(
                Box::new(Expr::Num(1.0)),
                Box::new(Expr::Mul(vec![Expr::Num(2.0), call(Builtin::Sqrt, u)])),
            ),
            Builtin::Relu => Expr::Indicator(Box::new(Pred::Gt(u, Expr::Num(0.0)))),
            Builtin::Softplus => call(Builtin::Sigma, u),
            Builtin::Max => {
                let (a, b) = (args[0].clone(), args[1].clone());
                // The first maximal argument takes the adjoint.
                if j == 0 {
                    Expr::Indicator(Box::new(Pred::Ge(a, b)))
                } else {
                    Expr::Indicator(Box::new(Pred::Gt(b, a)))
                }
            }
        },
        Func::User { name, prime } => {
            if *prime {
                // Second derivatives are never needed: gradients are first order.
                Expr::Num(f64::NAN)
            } else {
                Expr::Call(
                    Func::User {
                        name: name.clone(),
                        prime: true,
                    },
                    vec![u],
                )
            }
        }
    }
}

/// A read inside a right-hand side with its local partial derivative.
struct Partial {
    read: Read,
    factor: Expr,
    binders: Vec<(String, Range)>,
}

/// Every read in `e`, left to right, with `\partial e / \partial read`
/// as a function of the enclosing reduction variables.
fn partials(
    e: &Expr,
    binders: &mut Vec<(String, Range)>,
    taken: &mut BTreeSet<String>,
) -> Vec<Partial> {
    let scale = |ps: Vec<Partial>, by: &dyn Fn(Expr) -> Expr| -> Vec<Partial> {
        ps.into_iter()
            .map(|p| Partial {
                factor: by(p.factor),
                ..p
            })
            .collect()
    };
    match e {
        Expr::Num(_) | Expr::Size(_) | Expr::Index(_) | Expr::Param(_) | Expr::Indicator(_) => {
            Vec::new()
        }
        Expr::Read(r) => vec![Partial {
            read: r.clone(),
            factor: Expr::Num(1.0),
            binders: binders.clone(),
        }],
        Expr::Add(ts) => ts
            .iter()
            .flat_map(|t| partials(t, binders, taken))
            .collect(),
        Expr::Neg(a) => scale(partials(a, binders, taken), &|f| Expr::Neg(Box::new(f))),
        Expr::Mul(fs) => {
            let mut out = Vec::new();
            for j in 0..fs.len() {
                let inner = partials(&fs[j], binders, taken);
                out.extend(scale(inner, &|f| {
                    let mut g = fs.clone();
                    g[j] = f;
                    Expr::Mul(g)
                }));
            }
            out
        }
        Expr::Div(a, b) => {
            let mut out = scale(partials(a, binders, taken), &|f| {
                Expr::Div(Box::new(f), b.clone())
            });
            out.extend(scale(partials(b, binders, taken), &|f| {
                Expr::Mul(vec![f, quotient_partial(a, b)])
            }));
            out
        }
        Expr::Pow(a, p) => scale(partials(a, binders, taken), &|f| {
            Expr::Mul(vec![f, power_partial(a, *p)])
        }),
        Expr::Call(func, args) => {
            let mut out = Vec::new();
            for (j, a) in args.iter().enumerate() {
                let d = call_partial(func, args, j);
                out.extend(scale(partials(a, binders, taken), &|f| {
                    Expr::Mul(vec![f, d.clone()])
                }));
            }
            out
        }
        Expr::Reduce {
            op: ReduceOp::Sum,
            var,
            range,
            body,
        } => {
            binders.push((var.clone(), range.clone()));
            let out = partials(body, binders, taken);
            binders.pop();
            out
        }
        Expr::Reduce {
            op: ReduceOp::Max, ..
        } => {
            // Peel a chain of directly nested maxes: \max_{a,b} is one argmax
            // in row-major order of (a, b).
            let mut chain: Vec<(String, Range)> = Vec::new();
            let mut inner = e;
            while let Expr::Reduce {
                op: ReduceOp::Max,
                var,
                range,
                body,
            } = inner
            {
                chain.push((var.clone(), range.clone()));
                inner = body;
            }
            let mut fresh: Vec<(String, Range)> = Vec::new();
            let mut test_body = inner.clone();
            for (v, r) in &chain {
                let name = fresh_prime(v, taken);
                test_body = rename_var(&test_body, v, &name);
                fresh.push((name, r.clone()));
            }
            let at: Vec<Poly> = chain.iter().map(|(v, _)| Poly::var(v)).collect();
            let test = Expr::Indicator(Box::new(Pred::FirstArgMax {
                binders: fresh,
                body: test_body,
                at,
            }));
            let n = binders.len();
            binders.extend(chain.iter().cloned());
            let out = partials(inner, binders, taken);
            binders.truncate(n);
            scale(out, &|f| Expr::Mul(vec![test.clone(), f]))
        }
    }
}

/// `a'`, `a''`, ...: the first primed name not yet taken.
fn fresh_prime(v: &str, taken: &mut BTreeSet<String>) -> String {
    let mut name = format!("{v}'");
    while taken.contains(&name) {
        name.push('\'');
    }
    taken.insert(name.clone());
    name
}

/// Renames a free index variable (binders in `e` never reuse it).
pub fn rename_var(e: &Expr, from: &str, to: &str) -> Expr {
    substitute(e, from, &Poly::var(to))
}

/// Replaces the index variable `v` by `by` in every index map, bound and
/// test; binders named `v` shadow it.
pub fn substitute(e: &Expr, v: &str, by: &Poly) -> Expr {
    let sub = |p: &Poly| p.substitute(v, by);
    let range = |r: &Range| Range {
        lo: sub(&r.lo),
        hi: sub(&r.hi),
    };
    match e {
        Expr::Index(p) => Expr::Index(sub(p)),
        Expr::Read(r) => Expr::Read(Read {
            tensor: r.tensor,
            slot: r.slot,
            index: r.index.iter().map(sub).collect(),
        }),
        Expr::Reduce {
            op,
            var,
            range: r,
            body,
        } => Expr::Reduce {
            op: *op,
            var: var.clone(),
            range: range(r),
            body: Box::new(if var == v {
                (**body).clone()
            } else {
                substitute(body, v, by)
            }),
        },
        Expr::Indicator(p) => Expr::Indicator(Box::new(match &**p {
            Pred::Gt(a, b) => Pred::Gt(substitute(a, v, by), substitute(b, v, by)),
            Pred::Ge(a, b) => Pred::Ge(substitute(a, v, by), substitute(b, v, by)),
            Pred::FirstArgMax { binders, body, at } => Pred::FirstArgMax {
                binders: binders.iter().map(|(n, r)| (n.clone(), range(r))).collect(),
                body: if binders.iter().any(|(n, _)| n == v) {
                    body.clone()
                } else {
                    substitute(body, v, by)
                },
                at: at.iter().map(sub).collect(),
            },
        })),
        // Numbers, sizes, parameters and the arithmetic nodes: only their
        // children can mention `v`.
        _ => crate::simplify::map_children(e, &|c| substitute(c, v, by)),
    }
}

/// Differentiates a resolved program: occurrences of every read, and an
/// adjoint for every tensor between a leaf with a gradient and an output.
pub fn differentiate(p: &Program) -> Gradient {
    let n = p.tensors.len();
    // Which tensors depend on a leaf that wants a gradient...
    let mut depends = vec![false; n];
    for (id, t) in p.tensors.iter().enumerate() {
        depends[id] = t.wants_gradient();
    }
    for s in &p.statements {
        let mut d = false;
        visit_reads(&s.rhs, &mut Vec::new(), &mut |r, _| d |= depends[r.tensor]);
        depends[s.lhs] = d;
    }
    // ...and which reach an output.
    let mut reaches = vec![false; n];
    for &o in &p.outputs {
        reaches[o] = true;
    }
    for s in p.statements.iter().rev() {
        if reaches[s.lhs] {
            visit_reads(&s.rhs, &mut Vec::new(), &mut |r, _| {
                reaches[r.tensor] = true
            });
        }
    }
    let needs: Vec<bool> = (0..n).map(|t| depends[t] && reaches[t]).collect();

    let mut occurrences = Vec::new();
    // Contributions per target tensor: (occurrence index, statement index, partial).
    let mut by_tensor: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    let mut partial_list: Vec<Partial> = Vec::new();
    for (si, s) in p.statements.iter().enumerate() {
        let mut taken = statement_names(s);
        let parts = partials(&s.rhs, &mut Vec::new(), &mut taken);
        let x = &p.tensors[s.lhs];
        for part in parts {
            let mut scope: Vec<(String, Range)> =
                s.vars.iter().cloned().zip(x.dims.iter().cloned()).collect();
            scope.extend(part.binders.iter().cloned());
            let oi = occurrences.len();
            occurrences.push(Occurrence {
                tensor: part.read.tensor,
                statement: si,
                index: part.read.index.clone(),
                scope,
                partial: simplify(&part.factor),
            });
            if needs[part.read.tensor] && needs[s.lhs] {
                by_tensor[part.read.tensor].push((oi, si));
            }
            partial_list.push(part);
        }
    }

    // Sizes and tensor letters are never fresh target names; collected once,
    // so many statements stay linear.
    let mut reserved: BTreeSet<String> = p.sizes.iter().cloned().collect();
    reserved.extend(p.tensors.iter().map(|tt| tt.letter.clone()));
    let mut names_of: Vec<Option<BTreeSet<String>>> = vec![None; p.statements.len()];
    let mut adjoints = Vec::new();
    // Reverse statement order, then leaves: each adjoint only reads adjoints
    // of tensors defined later, which are complete by then.
    let mut order: Vec<TensorId> = p.statements.iter().rev().map(|s| s.lhs).collect();
    order.extend((0..n).filter(|&t| p.tensors[t].is_leaf()));
    for t in order {
        if !needs[t] {
            continue;
        }
        let tensor = &p.tensors[t];
        let mut avoid: BTreeSet<String> = reserved.clone();
        let readers: BTreeSet<usize> = by_tensor[t].iter().map(|&(_, si)| si).collect();
        for si in readers {
            let names = names_of[si].get_or_insert_with(|| statement_names(&p.statements[si]));
            avoid.extend(names.iter().cloned());
        }
        let vars = fresh_targets(tensor, &avoid);
        let mut terms = Vec::new();
        for &(oi, si) in &by_tensor[t] {
            let occ = &occurrences[oi];
            let s = &p.statements[si];
            let adj = Expr::Read(Read {
                tensor: s.lhs,
                slot: Slot::Adjoint,
                index: s.vars.iter().map(|v| Poly::var(v)).collect(),
            });
            let factor = simplify(&Expr::Mul(vec![adj, partial_list[oi].factor.clone()]));
            let scatter = Scatter {
                sums: occ
                    .scope
                    .iter()
                    .map(|(v, r)| SumVar {
                        var: v.clone(),
                        range: r.clone(),
                    })
                    .collect(),
                delta: occ
                    .index
                    .iter()
                    .cloned()
                    .zip(vars.iter().cloned())
                    .collect(),
                factor,
            };
            if let Some(gather) = eliminate_delta(&scatter, &s.vars, tensor) {
                terms.push(Contribution {
                    occurrence: oi,
                    scatter,
                    gather,
                });
            }
        }
        adjoints.push(Adjoint {
            tensor: t,
            vars,
            seeded: p.outputs.contains(&t),
            terms,
        });
    }
    Gradient {
        occurrences,
        adjoints,
    }
}

/// Every index variable name a statement uses (its own, its binders', primes).
fn statement_names(s: &Statement) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = s.vars.iter().cloned().collect();
    collect_binders(&s.rhs, &mut names);
    names
}

fn collect_binders(e: &Expr, out: &mut BTreeSet<String>) {
    match e {
        Expr::Reduce { var, body, .. } => {
            out.insert(var.clone());
            collect_binders(body, out);
        }
        Expr::Add(xs) | Expr::Mul(xs) | Expr::Call(_, xs) => {
            xs.iter().for_each(|x| collect_binders(x, out))
        }
        Expr::Neg(a) | Expr::Pow(a, _) => collect_binders(a, out),
        Expr::Div(a, b) => {
            collect_binders(a, out);
            collect_binders(b, out);
        }
        Expr::Indicator(p) => {
            if let Pred::FirstArgMax { binders, body, .. } = &**p {
                out.extend(binders.iter().map(|(v, _)| v.clone()));
                collect_binders(body, out);
            }
        }
        _ => {}
    }
}

/// Target index names for an adjoint: fresh letters, in the order a reader
/// expects (`j`, `k`, `l`, ...).
fn fresh_targets(t: &Tensor, avoid: &BTreeSet<String>) -> Vec<String> {
    const POOL: &[&str] = &[
        "j", "k", "l", "m", "p", "q", "r", "s", "t", "u", "v", "g", "e", "f", "o",
    ];
    let mut out = Vec::new();
    let mut pool = POOL
        .iter()
        .map(|s| s.to_string())
        .filter(|s| !avoid.contains(s));
    for d in 0..t.dims.len() {
        let name = pool.next().unwrap_or_else(|| format!("k_{d}"));
        out.push(name);
    }
    out
}

/// One side of a solved delta: `var = num / den` (den = 1 when exact).
#[derive(Clone)]
struct Solution {
    var: String,
    num: Poly,
    den: Poly,
}

/// Delta elimination ("eliminate-delta"): solves `g(i, r) = k` for
/// summation variables, preferring unit coefficients and the reading
/// statement's own indices, so the remaining sums run over the kernel.
/// The ranges of solved variables become limits on the remaining ones
/// (`\max`/`\min`) or conditions on the target; non-unit coefficients
/// (strides) add divisibility conditions. None when the contribution is
/// identically zero (for instance `w_0` seen from target `w_1`).
pub fn eliminate_delta(sc: &Scatter, stmt_vars: &[String], target: &Tensor) -> Option<Gather> {
    let mut sums: Vec<SumVar> = sc.sums.clone();
    let targets: Vec<String> = sc.delta.iter().map(|(_, k)| k.clone()).collect();
    // Equations `e = 0`.
    let mut eqs: Vec<Poly> = sc.delta.iter().map(|(g, k)| g.sub(&Poly::var(k))).collect();
    // Constraints `lo <= num/den <= hi` from the ranges of solved variables.
    let mut limits: Vec<(Poly, Poly, Range)> = Vec::new();
    let mut conds: Vec<Cond> = Vec::new();
    let mut solved: Vec<Solution> = Vec::new();

    for d in 0..eqs.len() {
        let e = eqs[d].clone();
        let mut best: Option<(usize, Poly, Poly, (bool, bool))> = None;
        for (si, s) in sums.iter().enumerate() {
            let Some((c, rest)) = e.linear_in(&s.var) else {
                continue;
            };
            if c.is_zero() || !c.vars().is_empty() {
                continue;
            }
            let unit = c.as_const().is_some_and(|x| x.abs() == 1);
            let own = stmt_vars.contains(&s.var);
            let rank = (unit, own);
            if best.as_ref().is_none_or(|b| rank > b.3) {
                best = Some((si, c, rest, rank));
            }
        }
        let Some((si, c, rest, _)) = best else {
            if !e.vars().iter().any(|v| sums.iter().any(|s| s.var == *v)) {
                match e.as_const() {
                    Some(0) => {}
                    Some(_) => return None,
                    None => conds.push(Cond::Within {
                        e: e.clone(),
                        lo: Poly::zero(),
                        hi: Poly::zero(),
                    }),
                }
            }
            continue;
        };
        let s = sums.remove(si);
        // c v + rest = 0  =>  v = -rest / c, with den > 0.
        let sign = c.sign_assuming_positive_sizes().unwrap_or(1);
        let (num, den) = if sign > 0 {
            (rest.neg(), c)
        } else {
            (rest, c.neg())
        };
        if den.as_const() != Some(1) {
            conds.push(Cond::Divides {
                den: den.clone(),
                num: num.clone(),
            });
        }
        let sol = Solution {
            var: s.var.clone(),
            num,
            den,
        };
        for later in eqs.iter_mut().skip(d + 1) {
            *later = substitute_scaled(later, &sol).0;
        }
        for (n, dd, _) in limits.iter_mut() {
            let (n2, scale) = substitute_scaled(n, &sol);
            *n = n2;
            *dd = dd.mul(&scale);
        }
        for c in conds.iter_mut() {
            if let Cond::Divides { den, num } = c {
                let (n2, scale) = substitute_scaled(num, &sol);
                *num = n2;
                *den = den.mul(&scale);
            }
        }
        limits.push((sol.num.clone(), sol.den.clone(), s.range.clone()));
        solved.push(sol);
    }

    // Turn limits into ranges of the innermost remaining sum they mention.
    for (num, den, r) in limits {
        let lo_n = r.lo.mul(&den);
        let hi_n = r.hi.mul(&den);
        let inner = sums.iter().rposition(|s| num.mentions(&s.var));
        match inner {
            None => {
                if let Some(c) = implied_or_cond(&num, &lo_n, &hi_n, target, &targets) {
                    conds.push(c);
                }
            }
            Some(wi) => {
                let w = sums[wi].var.clone();
                let (cw, rest) = num.linear_in(&w).unwrap_or((Poly::int(1), Poly::zero()));
                let sign = cw.sign_assuming_positive_sizes().unwrap_or(1);
                let (lo, hi) = if sign > 0 {
                    (
                        lo_n.sub(&rest).ceil_div(&cw),
                        hi_n.sub(&rest).floor_div(&cw),
                    )
                } else {
                    let m = cw.neg();
                    (rest.sub(&hi_n).ceil_div(&m), rest.sub(&lo_n).floor_div(&m))
                };
                let sv = &mut sums[wi];
                sv.range = Range {
                    lo: sv.range.lo.max_of(&lo),
                    hi: sv.range.hi.min_of(&hi),
                };
            }
        }
    }

    // Substitute the solutions into the summand, last solved first so that
    // earlier solutions see the later ones' variables replaced.
    let mut body = sc.factor.clone();
    let mut values: Vec<(String, Poly)> = Vec::new();
    for sol in solved.iter().rev() {
        let mut v = sol.num.exact_div(&sol.den);
        for (name, val) in &values {
            v = v.substitute(name, val);
        }
        values.push((sol.var.clone(), v));
    }
    values.reverse();
    for (name, val) in &values {
        body = substitute(&body, name, val);
    }
    // "sum-of-one": a sum whose range is a single point is a substitution.
    let mut kept = Vec::new();
    for s in sums {
        if s.range.hi.sub(&s.range.lo).as_const() == Some(0) {
            let at = s.range.lo.clone();
            body = substitute(&body, &s.var, &at);
            for c in conds.iter_mut() {
                match c {
                    Cond::Divides { num, .. } => *num = num.substitute(&s.var, &at),
                    Cond::Within { e, .. } => *e = e.substitute(&s.var, &at),
                }
            }
            values = values
                .into_iter()
                .map(|(n, p)| (n, p.substitute(&s.var, &at)))
                .collect();
            for k in kept.iter_mut() {
                let k: &mut SumVar = k;
                k.range = Range {
                    lo: k.range.lo.substitute(&s.var, &at),
                    hi: k.range.hi.substitute(&s.var, &at),
                };
            }
        } else {
            kept.push(s);
        }
    }
    // A condition that is a constant decides the whole term.
    let mut live = Vec::new();
    for c in conds {
        match &c {
            Cond::Divides { den, num } => match (den.as_const(), num.as_const()) {
                (Some(d), Some(n)) if d > 0 => {
                    if n.rem_euclid(d) != 0 {
                        return None;
                    }
                }
                _ => live.push(c),
            },
            Cond::Within { e, lo, hi } => match (e.sub(lo).as_const(), hi.sub(e).as_const()) {
                (Some(a), Some(b)) => {
                    if a < 0 || b < 0 {
                        return None;
                    }
                }
                _ => live.push(c),
            },
        }
    }
    let live = live.into_iter().map(normalize_cond).collect();
    Some(Gather {
        solved: values,
        sums: kept,
        conds: live,
        body: simplify(&body),
    })
}

/// Substitutes `var = num/den` into an affine `p`, scaled to stay
/// polynomial: returns `(p', scale)` with `p = p' / scale`.
fn substitute_scaled(p: &Poly, sol: &Solution) -> (Poly, Poly) {
    match p.linear_in(&sol.var) {
        Some((c, rest)) if !c.is_zero() => {
            if sol.den.as_const() == Some(1) {
                (rest.add(&c.mul(&sol.num)), Poly::int(1))
            } else {
                (c.mul(&sol.num).add(&sol.den.mul(&rest)), sol.den.clone())
            }
        }
        _ => (p.clone(), Poly::int(1)),
    }
}

/// `lo <= e <= hi` on target indices alone: dropped when the target's own
/// range already implies it ("drop-implied-condition"). `e` is affine in the
/// target indices with constant coefficients (`p - 1` for a tap shifted by
/// one, `2k + 1`); its least and greatest values over the target's ranges
/// are compared with the limits, and the condition goes when both
/// differences are non-negative numbers.
fn implied_or_cond(
    e: &Poly,
    lo: &Poly,
    hi: &Poly,
    target: &Tensor,
    targets: &[String],
) -> Option<Cond> {
    let cond = Cond::Within {
        e: e.clone(),
        lo: lo.clone(),
        hi: hi.clone(),
    };
    let (mut least, mut most) = (e.clone(), e.clone());
    for (k, r) in targets.iter().zip(&target.dims) {
        if !e.mentions(k) {
            continue;
        }
        let Some(c) = e.linear_in(k).and_then(|(c, _)| c.as_const()) else {
            return Some(cond);
        };
        let (at_least, at_most) = if c > 0 {
            (&r.lo, &r.hi)
        } else {
            (&r.hi, &r.lo)
        };
        least = least.substitute(k, at_least);
        most = most.substitute(k, at_most);
    }
    // A difference that still holds a variable is not a number: kept.
    let nonneg = |p: Poly| p.as_const().is_some_and(|x| x >= 0);
    if nonneg(least.sub(lo)) && nonneg(hi.sub(&most)) {
        return None;
    }
    Some(cond)
}

/// Writes a condition the way a reader expects: `j = 0` rather than
/// `-j = 0`, a divisor's dividend with a positive leading variable.
fn normalize_cond(c: Cond) -> Cond {
    let leading_negative = |e: &Poly| {
        e.terms()
            .find(|(m, _)| !m.is_empty())
            .is_some_and(|(_, c)| c < 0)
    };
    match c {
        Cond::Within { e, lo, hi } if leading_negative(&e) => Cond::Within {
            e: e.neg(),
            lo: hi.neg(),
            hi: lo.neg(),
        },
        Cond::Divides { den, num } if leading_negative(&num) => Cond::Divides {
            den,
            num: num.neg(),
        },
        other => other,
    }
}
