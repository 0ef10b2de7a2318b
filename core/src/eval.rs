//! Numerical evaluation of a [`Program`] (forward pass) and its [`Gradient`]
//! (backward pass, from the gather forms), for `sharegrad eval`.
//!
//! Nothing is interpreted from the IR in the inner loops: once the sizes are
//! known, every [`Expr`] is compiled into a small tree of [`CExpr`] nodes
//! whose index variables live in numbered slots of an `i64` environment,
//! every [`Poly`] into an [`IExpr`] (a constant, `slot + c`, an affine form
//! `c0 + Σ c_v·slot_v`, or a generic fallback for floor/ceil/exact divisions
//! and `max`/`min`), and every tensor read into `Σ stride·index` with one range
//! check per dimension (reads outside a tensor's ranges are zero: zero
//! padding). The work is proportional to the number of index points visited:
//! each statement's domain times its reduction ranges, each adjoint's target
//! points times its gather sums.
//!
//! A sum whose summand is a product of reads affine in the summation index
//! (a convolution, either direction of its gradient) takes a fast path: the
//! sub-range where every read is in bounds (and every `Within` condition
//! holds) is computed once per sum, and the loop reads memory at fixed
//! strides without checks. Out-of-range terms are skipped rather than
//! multiplied by zero, so an infinite weight next to zero padding gives a
//! finite result there.
//!
//! Conventions beyond the language reference:
//! - `\max` over an empty range is 0, and so is `\max` reduced over nothing;
//!   ties go to the first maximum in row-major order of the reduction
//!   indices (the same rule as the derivative's `FirstArgMax`).
//! - `\operatorname{relu}(x)` is `x` for `x > 0`, else 0 (NaN propagates);
//!   `\sigma` and `\operatorname{softplus}` are evaluated in their
//!   numerically stable forms.
//! - A scalar output without a seed is seeded with 1; a tensor output needs
//!   one.

use crate::ir::{
    Builtin, Cond, DeclKind, Expr, Func, Gradient, Pred, Program, Range, Read, ReduceOp, Slot,
    Span, Tensor, TensorKind,
};
use crate::poly::{Atom, Poly};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The run-time inputs of an evaluation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Data {
    /// A value for every size the program uses (extra ones are ignored).
    pub sizes: BTreeMap<String, i64>,
    /// Every leaf (input, param, const) by key, flattened row-major, each
    /// index from its lower bound up; a scalar is a one-element vector.
    pub tensors: BTreeMap<String, Vec<f64>>,
    /// The adjoint of each output, same layout; optional for scalar outputs
    /// (then 1).
    pub seeds: BTreeMap<String, Vec<f64>>,
    /// For a tensor or seed given as nested arrays (`[[1, 2, 3], [4, 5, 6]]`),
    /// its nesting, outermost first (`[2, 3]`), by key; seeds under
    /// `"seed KEY"`. Checked against the tensor's ranges, so that a
    /// transposed nesting with the right count is an error, not a silent
    /// reinterpretation. Flat arrays and numbers have none.
    pub shapes: BTreeMap<String, Vec<usize>>,
}

/// What an evaluation computes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Results {
    /// Every defined, non-auxiliary tensor by key.
    pub values: BTreeMap<String, Vec<f64>>,
    /// The gradient of every input and param leaf by key (zeros when nothing
    /// depends on it).
    pub grads: BTreeMap<String, Vec<f64>>,
    /// The keys in `values` and `grads` whose tensor has no indices.
    pub scalar: BTreeSet<String>,
}

/// Why an evaluation failed: a lower-case message without final period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvalError {
    /// The message, e.g. "size `n` is missing from the data".
    pub message: String,
    /// Where in the model the problem is, when it is in one place (the
    /// statement whose value is not finite, the first use of a function
    /// without a definition); None for problems of the data as a whole.
    pub span: Option<Span>,
}

impl EvalError {
    fn new(message: impl Into<String>) -> EvalError {
        EvalError {
            message: message.into(),
            span: None,
        }
    }
    fn at(mut self, span: Span) -> EvalError {
        self.span = Some(span);
        self
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EvalError {}

type Res<T> = Result<T, EvalError>;

/// Largest number of elements of one tensor.
const MAX_ELEMENTS: i64 = 1 << 34;

/// Largest number of values the evaluator holds at once, over every
/// tensor's values and adjoint (2^30 f64 values are 8 GiB). Larger sizes are
/// an error before anything is allocated, rather than an abort when the
/// allocation fails or the machine runs out of memory.
const MAX_TOTAL_VALUES: u64 = 1 << 30;

/// The most terms [`evaluate`] takes on for the forward pass (see
/// [`check_work`]): at the tens of millions of terms a second it evaluates,
/// about ten minutes.
const MAX_WORK: f64 = (1u64 << 34) as f64;

/// Largest number of values a restatement check holds in one size draw
/// (literal extents can make even small sizes large), and largest number of
/// terms it evaluates (see [`work`]); a larger draw is skipped, so that
/// `compile` (and every macro expansion) stays fast.
const RESTATEMENT_BUDGET: usize = 1 << 22;
const RESTATEMENT_WORK: f64 = (1u64 << 28) as f64;

/// Evaluates the program on `data`, then its gradient.
///
/// Statements run in order, each over its left-hand side's domain; then the
/// adjoints in `g.adjoints` order, each target point summing its gather
/// contributions (plus the seed for outputs). The gradient of a leaf is its
/// adjoint.
pub fn evaluate(p: &Program, g: &Gradient, data: &Data) -> Result<Results, EvalError> {
    for s in &p.sizes {
        if !data.sizes.contains_key(s) {
            return Err(missing_size(s));
        }
    }
    let layouts = p
        .tensors
        .iter()
        .map(|t| Layout::new(t, &data.sizes))
        .collect::<Res<Vec<_>>>()?;
    check_budget(p, &layouts)?;
    check_work(p, &data.sizes, &layouts)?;
    check_data(p, data, &layouts)?;
    check_strides(p, &data.sizes)?;

    let fault = Cell::new(false);
    // Computed tensors; leaves are read from `data` in place.
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); p.tensors.len()];
    let mut adjoints: Vec<Vec<f64>> = vec![Vec::new(); p.tensors.len()];
    let leaves: Vec<Option<&[f64]>> = p
        .tensors
        .iter()
        .map(|t| {
            if t.is_leaf() {
                data.tensors.get(&t.key).map(|v| &v[..])
            } else {
                None
            }
        })
        .collect();

    // Which statement defines each tensor, and when each adjoint is ready.
    let mut adjoint_pos: Vec<Option<usize>> = vec![None; p.tensors.len()];
    for (k, a) in g.adjoints.iter().enumerate() {
        if a.tensor >= p.tensors.len() {
            return Err(EvalError::new(format!(
                "internal error: adjoint of unknown tensor {}",
                a.tensor
            )));
        }
        adjoint_pos[a.tensor].get_or_insert(k);
    }

    // Forward.
    forward(
        p,
        data,
        &layouts,
        &leaves,
        &adjoint_pos,
        &fault,
        &mut values,
        false,
    )?;

    // Backward.
    for (ai, adj) in g.adjoints.iter().enumerate() {
        let t = adj.tensor;
        let tensor = &p.tensors[t];
        let layout = &layouts[t];
        if adj.vars.len() != layout.lo.len() {
            return Err(EvalError::new(format!(
                "internal error: adjoint of `{}` has {} indices, the tensor {}",
                tensor.key,
                adj.vars.len(),
                layout.lo.len()
            )));
        }
        let mut terms = Vec::with_capacity(adj.terms.len());
        let (mut nslots, mut nfslots) = (adj.vars.len(), 0);
        for term in &adj.terms {
            let mut c = Compiler::new(
                p,
                &data.sizes,
                &layouts,
                Phase::Backward(ai),
                &adjoint_pos,
                &tensor.key,
            );
            for v in &adj.vars {
                c.push(v);
            }
            terms.push(c.gather(&term.gather)?);
            nslots = nslots.max(c.nslots);
            nfslots = nfslots.max(c.nfslots);
        }
        let ones;
        let seed: Option<&[f64]> = if adj.seeded {
            Some(match data.seeds.get(&tensor.key) {
                Some(s) => s,
                None => {
                    ones = vec![1.0; layout.len];
                    &ones
                }
            })
        } else {
            None
        };
        let mut env = Env::new(nslots, nfslots);
        let out = {
            let (vv, av) = (view(&values, &leaves), view(&adjoints, &[]));
            let rt = Rt {
                values: &vv,
                adjoints: &av,
                fault: &fault,
            };
            let mut out = vec![0.0; layout.len];
            for_each_point(layout, &mut env, |k, env| {
                let mut v = seed.map_or(0.0, |s| s[k]);
                for term in &terms {
                    v += term.value(0, env, &rt);
                }
                out[k] = v;
            });
            out
        };
        check_fault(&fault, &format!("\\bar{{{}}}", tensor.key))?;
        check_finite(&out, layout, &tensor.key, "gradient", tensor.span)?;
        if adjoints[t].is_empty() {
            adjoints[t] = out;
        } else {
            // A second adjoint entry for the same tensor adds up.
            for (a, b) in adjoints[t].iter_mut().zip(out) {
                *a += b;
            }
        }
    }

    let mut r = Results::default();
    for (t, tensor) in p.tensors.iter().enumerate() {
        let key = tensor.key.clone();
        let include = if matches!(tensor.kind, TensorKind::Defined(_)) && !tensor.auxiliary {
            r.values.insert(key.clone(), std::mem::take(&mut values[t]));
            true
        } else if tensor.wants_gradient() {
            let grad = if adjoint_pos[t].is_some() {
                std::mem::take(&mut adjoints[t])
            } else {
                vec![0.0; layouts[t].len]
            };
            r.grads.insert(key.clone(), grad);
            true
        } else {
            false
        };
        if include && tensor.dims.is_empty() {
            r.scalar.insert(key);
        }
    }
    Ok(r)
}

/// Runs the statements in order into `values` (leaves are read from
/// `leaves`). With `restated`, each restatement of a chained equality is
/// evaluated at every point too, and the first that differs from the
/// definition is returned (an error at the restatement) and the run stops.
#[allow(clippy::too_many_arguments)]
fn forward(
    p: &Program,
    data: &Data,
    layouts: &[Layout],
    leaves: &[Option<&[f64]>],
    adjoint_pos: &[Option<usize>],
    fault: &Cell<bool>,
    values: &mut [Vec<f64>],
    restated: bool,
) -> Res<Option<EvalError>> {
    let no_adjoints: Vec<Vec<f64>> = vec![Vec::new(); p.tensors.len()];
    for (si, st) in p.statements.iter().enumerate() {
        let t = st.lhs;
        let tensor = p
            .tensors
            .get(t)
            .ok_or_else(|| EvalError::new("internal error: statement defines an unknown tensor"))?;
        let mut c = Compiler::new(
            p,
            &data.sizes,
            layouts,
            Phase::Forward(si),
            adjoint_pos,
            &tensor.key,
        );
        for v in &st.vars {
            c.push(v);
        }
        if st.vars.len() != layouts[t].lo.len() {
            return Err(EvalError::new(format!(
                "internal error: statement for `{}` has {} indices, the tensor {}",
                tensor.key,
                st.vars.len(),
                layouts[t].lo.len()
            )));
        }
        let rhs = c.expr(&st.rhs)?;
        let others = if restated {
            st.restated
                .iter()
                .map(|(e, span)| Ok((c.expr(e)?, *span)))
                .collect::<Res<Vec<_>>>()?
        } else {
            Vec::new()
        };
        let mut env = Env::new(c.nslots, c.nfslots);
        // The first point where a restatement differs: (point, which, its value).
        let mut differs: Option<(usize, usize, f64)> = None;
        let out = {
            let (vv, av) = (view(values, leaves), view(&no_adjoints, &[]));
            let rt = Rt {
                values: &vv,
                adjoints: &av,
                fault,
            };
            let mut out = vec![0.0; layouts[t].len];
            for_each_point(&layouts[t], &mut env, |k, env| {
                let v = rhs.eval(env, &rt);
                out[k] = v;
                if differs.is_none() {
                    for (r, (other, _)) in others.iter().enumerate() {
                        let w = other.eval(env, &rt);
                        if !agree(v, w) {
                            differs = Some((k, r, w));
                            break;
                        }
                    }
                }
            });
            out
        };
        check_fault(fault, &tensor.key)?;
        check_finite(&out, &layouts[t], &tensor.key, "value", st.span)?;
        if let Some((k, r, w)) = differs {
            return Ok(Some(EvalError::new(format!(
                "this restatement differs from the definition of `{}`: for {} the definition gives {} and the restatement {}",
                tensor.key,
                element(&layouts[t], &tensor.key, k),
                out[k],
                w
            ))
            .at(others[r].1)));
        }
        values[t] = out;
    }
    Ok(None)
}

/// Checks every restatement of a chained equality (`x = A = B`) against the
/// definition it restates: the model runs on random data at a few size
/// draws, and a restatement that differs anywhere (beyond rounding) is an
/// error at the restatement. A function without a definition (the seed's
/// `h`) stands for any function, so it is replaced by a fixed smooth one,
/// the same at every use. A draw that cannot run (sizes that give a
/// negative extent or break a stride, a value that is not finite) checks
/// nothing; one that runs checks every point.
pub fn check_restatements(p: &Program) -> Result<(), EvalError> {
    if p.statements.iter().all(|s| s.restated.is_empty()) {
        return Ok(());
    }
    let mut p = p.clone();
    let mut stood_in = Vec::new();
    for (name, f) in p.functions.iter_mut() {
        if f.body.is_none() {
            let param = if f.param.is_empty() { "z" } else { &f.param };
            f.body = Some(stand_in(name, param));
            stood_in.push(format!("`{name}`"));
        }
    }
    let mut state: u64 = 0x7e57_a7ed_5eed_0001;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for draw in 0..3usize {
        // Equal sizes, then unequal ones (a transposed read that only agrees
        // on square tensors shows there).
        let sizes: BTreeMap<String, i64> = p
            .sizes
            .iter()
            .enumerate()
            .map(|(i, s)| {
                (
                    s.clone(),
                    [4, 5 + (i % 3), 3 + (2 * i + 1) % 5][draw] as i64,
                )
            })
            .collect();
        let Ok(layouts) = p
            .tensors
            .iter()
            .map(|t| Layout::new(t, &sizes))
            .collect::<Res<Vec<_>>>()
        else {
            continue;
        };
        let total: usize = layouts.iter().map(|l| l.len).sum();
        let terms = forward_work(&p, &sizes, &layouts, true);
        if total > RESTATEMENT_BUDGET
            || terms > RESTATEMENT_WORK
            || check_strides(&p, &sizes).is_err()
        {
            continue;
        }
        // Values of both signs, then positive ones (in the domain of a
        // logarithm or a square root of a leaf).
        let (lo, width) = if draw == 1 { (0.25, 1.0) } else { (-1.0, 2.0) };
        let data: Vec<Vec<f64>> = p
            .tensors
            .iter()
            .zip(&layouts)
            .map(|(t, l)| {
                if t.is_leaf() {
                    (0..l.len).map(|_| lo + width * uniform()).collect()
                } else {
                    Vec::new()
                }
            })
            .collect();
        let leaves: Vec<Option<&[f64]>> = p
            .tensors
            .iter()
            .zip(&data)
            .map(|(t, v)| t.is_leaf().then_some(&v[..]))
            .collect();
        let run = Data {
            sizes,
            ..Data::default()
        };
        let fault = Cell::new(false);
        let mut values = vec![Vec::new(); p.tensors.len()];
        let none = vec![None; p.tensors.len()];
        if let Ok(Some(mut e)) = forward(
            &p,
            &run,
            &layouts,
            &leaves,
            &none,
            &fault,
            &mut values,
            true,
        ) {
            let sizes: Vec<String> = run
                .sizes
                .iter()
                .map(|(s, v)| format!("{s} = {v}"))
                .collect();
            e.message += &if sizes.is_empty() {
                " (on random inputs)".to_string()
            } else {
                format!(" (with {} and random inputs)", sizes.join(", "))
            };
            if !stood_in.is_empty() {
                e.message += &if stood_in.len() == 1 {
                    format!(
                        "; {} has no definition, so it stands for any function, here a fixed smooth one",
                        stood_in[0]
                    )
                } else {
                    format!(
                        "; {} have no definition, so they stand for any functions, here a fixed smooth one each",
                        stood_in.join(", ")
                    )
                };
            }
            return Err(e);
        }
    }
    Ok(())
}

/// About how many terms the statements take at every point of their
/// left-hand sides (see [`work`]), with their restatements when `restated`.
fn forward_work(
    p: &Program,
    sizes: &BTreeMap<String, i64>,
    layouts: &[Layout],
    restated: bool,
) -> f64 {
    let widest = layouts
        .iter()
        .flat_map(|l| l.ext.iter())
        .fold(1, |a, &e| a.max(e));
    p.statements
        .iter()
        .map(|st| {
            let extra = st.restated.iter().filter(|_| restated).map(|(e, _)| e);
            let forms = std::iter::once(&st.rhs).chain(extra);
            layouts[st.lhs].len as f64 * forms.map(|e| work(e, sizes, widest)).sum::<f64>()
        })
        .sum()
}

/// About how many terms evaluating `e` at one point takes: a reduction
/// multiplies its body's by its extent (by `widest`, the longest extent of
/// any tensor, when its bounds depend on index variables).
fn work(e: &Expr, sizes: &BTreeMap<String, i64>, widest: i64) -> f64 {
    let extent = |r: &Range| match (const_poly(&r.lo, sizes, ""), const_poly(&r.hi, sizes, "")) {
        (Ok(lo), Ok(hi)) => (hi - lo + 1).max(0) as f64,
        _ => widest as f64,
    };
    let w = |x: &Expr| work(x, sizes, widest);
    match e {
        Expr::Num(_) | Expr::Size(_) | Expr::Index(_) | Expr::Param(_) | Expr::Read(_) => 1.0,
        Expr::Add(xs) | Expr::Mul(xs) | Expr::Call(_, xs) => 1.0 + xs.iter().map(w).sum::<f64>(),
        Expr::Neg(x) | Expr::Pow(x, _) => 1.0 + w(x),
        Expr::Div(a, b) => 1.0 + w(a) + w(b),
        Expr::Reduce { range, body, .. } => extent(range) * w(body),
        Expr::Indicator(p) => match &**p {
            Pred::Gt(a, b) | Pred::Ge(a, b) => 1.0 + w(a) + w(b),
            Pred::FirstArgMax { binders, body, .. } => {
                binders.iter().map(|(_, r)| extent(r)).product::<f64>() * w(body)
            }
        },
    }
}

/// The function standing in for `name` when it has no definition:
/// `tanh(a z + b) + c z`, with constants taken from the name so that two
/// undefined functions differ.
fn stand_in(name: &str, param: &str) -> Expr {
    let h = name
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let (a, b, c) = (
        0.7 + 0.1 * f64::from(h % 5),
        0.3 - 0.1 * f64::from(h % 3),
        0.25 + 0.05 * f64::from(h % 4),
    );
    let z = || Expr::Param(param.to_string());
    Expr::Add(vec![
        Expr::Call(
            Func::Builtin(Builtin::Tanh),
            vec![Expr::Add(vec![
                Expr::Mul(vec![Expr::Num(a), z()]),
                Expr::Num(b),
            ])],
        ),
        Expr::Mul(vec![Expr::Num(c), z()]),
    ])
}

/// True when two evaluations of one value agree up to rounding. A point
/// where either is not finite is outside one form's domain (`2 \\log x`
/// for `\\log x^2` at a negative `x`) and is not compared.
fn agree(a: f64, b: f64) -> bool {
    !a.is_finite() || !b.is_finite() || (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
}

/// The buffers as slices, leaves taken from the data.
fn view<'b>(owned: &'b [Vec<f64>], leaves: &[Option<&'b [f64]>]) -> Vec<&'b [f64]> {
    owned
        .iter()
        .enumerate()
        .map(|(t, v)| leaves.get(t).copied().flatten().unwrap_or(&v[..]))
        .collect()
}

fn missing_size(s: &str) -> EvalError {
    EvalError::new(format!(
        "size `{s}` is missing from the data: add it under \"sizes\""
    ))
}

/// The number of values the evaluation holds at once: the values of the
/// defined tensors and the adjoints of the tensors that get one (leaves'
/// values are the caller's), within [`MAX_TOTAL_VALUES`].
fn check_budget(p: &Program, layouts: &[Layout]) -> Res<()> {
    let mut total: u64 = 0;
    for (t, l) in p.tensors.iter().zip(layouts) {
        let copies = if t.is_leaf() { 1 } else { 2 };
        total = total.saturating_add((l.len as u64).saturating_mul(copies));
    }
    if total > MAX_TOTAL_VALUES {
        let gib = total as f64 * 8.0 / f64::from(1u32 << 30);
        return Err(EvalError::new(format!(
            "these sizes need {total} values ({gib:.1} GiB) for the tensors and their gradients; the evaluator holds at most {MAX_TOTAL_VALUES} (8 GiB): use smaller sizes"
        )));
    }
    Ok(())
}

/// The terms the forward pass evaluates, about (see [`work`]; the gradient
/// takes a small multiple of it), within [`MAX_WORK`]: a reduction over
/// 10^11 points would otherwise run for an hour without a word.
fn check_work(p: &Program, sizes: &BTreeMap<String, i64>, layouts: &[Layout]) -> Res<()> {
    let terms = forward_work(p, sizes, layouts, false);
    if terms > MAX_WORK {
        return Err(EvalError::new(format!(
            "these sizes need about {terms:.1e} terms to evaluate the model, before its gradient; the evaluator does at most {MAX_WORK:.1e} (about ten minutes): use smaller sizes"
        )));
    }
    Ok(())
}

/// An error at the first value of `out` that is NaN or infinite: JSON has no
/// such numbers, and the first one names where the trouble starts (later
/// tensors only inherit it).
fn check_finite(out: &[f64], l: &Layout, key: &str, what: &str, span: Span) -> Res<()> {
    let Some(k) = out.iter().position(|v| !v.is_finite()) else {
        return Ok(());
    };
    Err(EvalError::new(format!(
        "the {what} of {} is {} (a logarithm or square root of a negative number, a division by zero, or an overflow): check the data",
        element(l, key, k),
        out[k]
    ))
    .at(span))
}

/// The element at flat position `k` of a tensor: "`x` at [1, 2]", or
/// "`x`" for a scalar.
fn element(l: &Layout, key: &str, k: usize) -> String {
    let mut rest = k as i64;
    let at: Vec<String> = l
        .stride
        .iter()
        .zip(&l.lo)
        .map(|(&st, &lo)| {
            let i = rest / st.max(1);
            rest -= i * st.max(1);
            (lo + i).to_string()
        })
        .collect();
    if at.is_empty() {
        format!("`{key}`")
    } else {
        format!("`{key}` at [{}]", at.join(", "))
    }
}

fn check_fault(fault: &Cell<bool>, what: &str) -> Res<()> {
    if fault.get() {
        return Err(EvalError::new(format!(
            "division by a non-positive number in an index expression while computing `{what}`: check the sizes"
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Layouts and data checks.

/// A tensor's shape with the sizes substituted.
struct Layout {
    lo: Vec<i64>,
    ext: Vec<i64>,
    stride: Vec<i64>,
    len: usize,
    /// `0 \le i \le 5, 0 \le a \le 2`, or `a scalar`.
    describe: String,
}

impl Layout {
    fn new(t: &Tensor, sizes: &BTreeMap<String, i64>) -> Res<Layout> {
        let mut lo = Vec::new();
        let mut ext = Vec::new();
        let mut parts = Vec::new();
        for (d, r) in t.dims.iter().enumerate() {
            let name = t.indices.get(d).map_or("?", |s| s.as_str());
            let l = const_poly(&r.lo, sizes, &t.key)?;
            let h = const_poly(&r.hi, sizes, &t.key)?;
            let e = h
                .checked_sub(l)
                .and_then(|x| x.checked_add(1))
                .ok_or_else(|| overflow(&t.key))?;
            if e < 0 {
                return Err(EvalError::new(format!(
                    "the sizes give tensor `{}` a negative extent {e} in index `{name}` ({} \\le {name} \\le {}, that is {l} \\le {name} \\le {h})",
                    t.key, r.lo, r.hi
                )));
            }
            lo.push(l);
            ext.push(e);
            parts.push(format!("{l} \\le {name} \\le {h}"));
        }
        let mut stride = vec![0; ext.len()];
        let mut len: i64 = 1;
        for d in (0..ext.len()).rev() {
            stride[d] = len;
            len = len
                .checked_mul(ext[d])
                .filter(|&n| n <= MAX_ELEMENTS)
                .ok_or_else(|| overflow(&t.key))?;
        }
        let describe = if parts.is_empty() {
            "a scalar".to_string()
        } else {
            parts.join(", ")
        };
        Ok(Layout {
            lo,
            ext,
            stride,
            len: len as usize,
            describe,
        })
    }
}

fn overflow(key: &str) -> EvalError {
    EvalError::new(format!(
        "tensor `{key}` would be too large with these sizes"
    ))
}

/// Evaluates a polynomial in sizes only.
fn const_poly(p: &Poly, sizes: &BTreeMap<String, i64>, key: &str) -> Res<i64> {
    let layouts: [Layout; 0] = [];
    let c = Compiler::new_bare(sizes, &layouts, key);
    match c.poly(p)? {
        IExpr::Const(v) => Ok(v),
        _ => Err(EvalError::new(format!(
            "internal error: bound `{p}` of `{key}` depends on an index variable"
        ))),
    }
}

fn check_data(p: &Program, data: &Data, layouts: &[Layout]) -> Res<()> {
    for key in data.tensors.keys() {
        match p.tensor_by_key(key) {
            Some(t) if p.tensors[t].is_leaf() => {}
            Some(_) => {
                return Err(EvalError::new(format!(
                    "tensor `{key}` is computed by the model and cannot be given in the data: remove it from \"tensors\""
                )))
            }
            None => {
                let leaves: Vec<String> =
                    p.tensors.iter().filter(|t| t.is_leaf()).map(|t| format!("`{}`", t.key)).collect();
                return Err(EvalError::new(format!(
                    "unknown tensor `{key}` in the data (the model's inputs are {})",
                    if leaves.is_empty() { "none".to_string() } else { leaves.join(", ") }
                )));
            }
        }
    }
    for (t, tensor) in p.tensors.iter().enumerate() {
        if !tensor.is_leaf() {
            continue;
        }
        let l = &layouts[t];
        let kind = match tensor.kind {
            TensorKind::Leaf(DeclKind::Input) => "input",
            TensorKind::Leaf(DeclKind::Param) => "param",
            _ => "const",
        };
        match data.tensors.get(&tensor.key) {
            None => {
                return Err(EvalError::new(format!(
                    "tensor `{}` ({kind}) is missing from the data: add {} under \"tensors\" ({})",
                    tensor.key,
                    count(l.len),
                    l.describe
                )))
            }
            Some(v) if v.len() != l.len => {
                return Err(EvalError::new(format!(
                    "tensor `{}` has {}, expected {} ({})",
                    tensor.key,
                    count(v.len()),
                    l.len,
                    l.describe
                )))
            }
            Some(_) => {}
        }
    }
    for (key, shape) in &data.shapes {
        let (seed, name) = match key.strip_prefix("seed ") {
            Some(k) => (true, k),
            None => (false, key.as_str()),
        };
        let Some(l) = p.tensor_by_key(name).map(|t| &layouts[t]) else {
            continue;
        };
        let ext: Vec<usize> = l.ext.iter().map(|&e| e.max(0) as usize).collect();
        if *shape != ext {
            let show = |v: &[usize]| {
                v.iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join(" x ")
            };
            let what = if seed {
                format!("the seed of `{name}`")
            } else {
                format!("tensor `{name}`")
            };
            return Err(EvalError::new(format!(
                "{what} is nested as {}, but its ranges give {} ({}): nest it that way or give it flat, row-major",
                show(shape),
                if ext.is_empty() { "a scalar".to_string() } else { show(&ext) },
                l.describe
            )));
        }
    }
    let outputs: Vec<String> = p
        .outputs
        .iter()
        .map(|&t| format!("`{}`", p.tensors[t].key))
        .collect();
    for key in data.seeds.keys() {
        let is_output = p.outputs.iter().any(|&t| p.tensors[t].key == *key);
        if !is_output {
            return Err(EvalError::new(format!(
                "seed for `{key}`, which is not an output (the outputs are {})",
                if outputs.is_empty() {
                    "none".to_string()
                } else {
                    outputs.join(", ")
                }
            )));
        }
    }
    for &t in &p.outputs {
        let tensor = &p.tensors[t];
        let l = &layouts[t];
        match data.seeds.get(&tensor.key) {
            None if !tensor.dims.is_empty() && l.len == 0 => {
                return Err(EvalError::new(format!(
                    "the sizes leave output `{}` with no elements ({}): check the sizes, or give it the empty seed [] under \"seed\"",
                    tensor.key, l.describe
                )))
            }
            None if !tensor.dims.is_empty() => {
                return Err(EvalError::new(format!(
                    "the seed of output `{}` is missing: add {} under \"seed\" ({})",
                    tensor.key,
                    count(l.len),
                    l.describe
                )))
            }
            Some(v) if v.len() != l.len => {
                return Err(EvalError::new(format!(
                    "the seed of `{}` has {}, expected {} ({})",
                    tensor.key,
                    count(v.len()),
                    l.len,
                    l.describe
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

fn count(n: usize) -> String {
    if n == 1 {
        "1 value".to_string()
    } else {
        format!("{n} values")
    }
}

/// A size-valued coefficient of an index variable in a read must have the
/// sign it has for positive sizes (strides are positive): the derivation
/// assumed it.
fn check_strides(p: &Program, sizes: &BTreeMap<String, i64>) -> Res<()> {
    for stride in p.size_strides() {
        let coef = &stride.coef;
        let val = const_poly(coef, sizes, "")?;
        let ok = match coef.sign_assuming_positive_sizes() {
            Some(-1) => val < 0,
            _ => val > 0,
        };
        if !ok {
            let (v, idx) = (&stride.var, &stride.index);
            let key = p.tensors.get(stride.tensor).map_or("?", |t| t.key.as_str());
            return Err(EvalError::new(format!(
                "the stride `{coef}` of `{v}` in the index `{idx}` of `{key}` is {val} with these sizes: strides must be positive"
            ))
            .at(p.statements[stride.statement].span));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Compiled integer expressions.

/// An integer expression with sizes substituted and index variables in slots.
#[derive(Clone, Debug)]
enum IExpr {
    Const(i64),
    /// `env[slot] + c0`.
    Var {
        slot: usize,
        c0: i64,
    },
    /// `c0 + Σ c·env[slot]`.
    Affine {
        c0: i64,
        terms: Box<[(usize, i64)]>,
    },
    /// `max(...)` or `min(...)` of several (the bounds of a gather).
    Extremum {
        max: bool,
        of: Box<[IExpr]>,
    },
    /// Anything else.
    General(Box<General>),
}

#[derive(Clone, Debug)]
struct General {
    c0: i64,
    lin: Vec<(usize, i64)>,
    /// Coefficient times a product of factors.
    terms: Vec<(i64, Vec<Factor>)>,
}

#[derive(Clone, Debug)]
enum Factor {
    Var(usize),
    Floor(IExpr, IExpr),
    Ceil(IExpr, IExpr),
    Exact(IExpr, IExpr),
    Max(Vec<IExpr>),
    Min(Vec<IExpr>),
    Wrap(IExpr),
}

impl IExpr {
    #[inline(always)]
    fn eval(&self, env: &[i64], fault: &Cell<bool>) -> i64 {
        match self {
            IExpr::Const(c) => *c,
            IExpr::Var { slot, c0 } => env[*slot].wrapping_add(*c0),
            IExpr::Affine { c0, terms } => terms
                .iter()
                .fold(*c0, |acc, &(s, c)| acc.wrapping_add(c.wrapping_mul(env[s]))),
            IExpr::Extremum { max, of } => extremum(*max, of, env, fault),
            IExpr::General(g) => g.eval(env, fault),
        }
    }

    /// `self + k`.
    fn shifted(self, k: i64) -> IExpr {
        match self {
            IExpr::Const(c) => IExpr::Const(c.wrapping_add(k)),
            IExpr::Var { slot, c0 } => IExpr::Var {
                slot,
                c0: c0.wrapping_add(k),
            },
            IExpr::Affine { c0, terms } => IExpr::Affine {
                c0: c0.wrapping_add(k),
                terms,
            },
            IExpr::General(mut g) => {
                g.c0 = g.c0.wrapping_add(k);
                IExpr::General(g)
            }
            e @ IExpr::Extremum { .. } => IExpr::General(Box::new(General {
                c0: k,
                lin: Vec::new(),
                terms: vec![(1, vec![Factor::Wrap(e)])],
            })),
        }
    }
}

#[inline(never)]
fn extremum(max: bool, of: &[IExpr], env: &[i64], fault: &Cell<bool>) -> i64 {
    let mut it = of.iter().map(|p| p.eval(env, fault));
    let first = it.next().unwrap_or(0);
    if max {
        it.fold(first, i64::max)
    } else {
        it.fold(first, i64::min)
    }
}

impl General {
    #[inline(never)]
    fn eval(&self, env: &[i64], fault: &Cell<bool>) -> i64 {
        let mut acc = self.c0;
        for &(s, c) in &self.lin {
            acc = acc.wrapping_add(c.wrapping_mul(env[s]));
        }
        for (c, factors) in &self.terms {
            let mut prod = *c;
            for f in factors {
                prod = prod.wrapping_mul(f.eval(env, fault));
            }
            acc = acc.wrapping_add(prod);
        }
        acc
    }
}

impl Factor {
    fn eval(&self, env: &[i64], fault: &Cell<bool>) -> i64 {
        match self {
            Factor::Var(s) => env[*s],
            Factor::Floor(p, q) | Factor::Ceil(p, q) | Factor::Exact(p, q) => {
                let (n, d) = (p.eval(env, fault), q.eval(env, fault));
                if d <= 0 {
                    fault.set(true);
                    return 0;
                }
                match self {
                    Factor::Ceil(..) => -(n.wrapping_neg().div_euclid(d)),
                    _ => n.div_euclid(d),
                }
            }
            Factor::Max(ps) => ps.iter().map(|p| p.eval(env, fault)).max().unwrap_or(0),
            Factor::Min(ps) => ps.iter().map(|p| p.eval(env, fault)).min().unwrap_or(0),
            Factor::Wrap(p) => p.eval(env, fault),
        }
    }
}

// ---------------------------------------------------------------------------
// Compiled value expressions.

#[derive(Clone, Copy, Debug)]
enum Un {
    Exp,
    Log,
    Tanh,
    Sigma,
    Sqrt,
    Relu,
    Softplus,
    Square,
    Recip,
}

#[derive(Debug)]
enum CExpr {
    Const(f64),
    Index(IExpr),
    /// A user function's parameter, in the float environment.
    Param(usize),
    Read(Box<CRead>),
    /// A tensor read of a scalar: no index arithmetic.
    ReadScalar {
        tensor: usize,
        adjoint: bool,
    },
    Add(Box<[CExpr]>),
    Mul(Box<[CExpr]>),
    Mul2(Box<(CExpr, CExpr)>),
    Neg(Box<CExpr>),
    Div(Box<(CExpr, CExpr)>),
    Powi(Box<CExpr>, i32),
    Powf(Box<CExpr>, f64),
    Unary(Un, Box<CExpr>),
    Max2(Box<(CExpr, CExpr)>),
    /// Binds a user function's argument, then evaluates its body.
    Let {
        slot: usize,
        arg: Box<CExpr>,
        body: Box<CExpr>,
    },
    Reduce(Box<CReduce>),
    /// A sum of a product of reads affine in the summation variable.
    Dot(Box<Dot>),
    /// `[a > b]` (`ge` false) or `[a \ge b]`.
    Cmp {
        ge: bool,
        ab: Box<(CExpr, CExpr)>,
    },
    ArgMax(Box<CArgMax>),
}

#[derive(Debug)]
struct CRead {
    tensor: usize,
    adjoint: bool,
    dims: Box<[CDim]>,
}

/// One dimension of a read: `idx` is already shifted by the lower bound.
#[derive(Debug)]
struct CDim {
    idx: IExpr,
    ext: i64,
    stride: i64,
}

#[derive(Debug)]
struct CReduce {
    max: bool,
    slot: usize,
    lo: IExpr,
    hi: IExpr,
    body: CExpr,
}

#[derive(Debug)]
struct CArgMax {
    /// Slot, slot of the best point, inclusive range.
    binders: Vec<(usize, usize, IExpr, IExpr)>,
    body: CExpr,
    at: Vec<IExpr>,
    /// The slots the search depends on (index variables of its ranges and
    /// body bound outside it); None when it may read a function parameter.
    deps: Option<Vec<usize>>,
    /// The last search: the values of `deps` it ran at and its best point
    /// (None: an empty window). Every target point whose window is the same
    /// (a softmax's whole vector) reuses it, so the search runs once per
    /// window instead of once per target point. Valid while the values it
    /// reads stay fixed: it is compiled afresh for every evaluation and
    /// only runs in the backward pass.
    last: RefCell<Option<LastSearch>>,
}

/// Buffers read while evaluating.
struct Rt<'a> {
    values: &'a [&'a [f64]],
    adjoints: &'a [&'a [f64]],
    fault: &'a Cell<bool>,
}

/// Index variables and user-function parameters by slot.
struct Env {
    i: Vec<i64>,
    f: Vec<f64>,
}

impl Env {
    fn new(ni: usize, nf: usize) -> Env {
        Env {
            i: vec![0; ni],
            f: vec![0.0; nf],
        }
    }
}

impl CExpr {
    fn eval(&self, env: &mut Env, rt: &Rt) -> f64 {
        match self {
            CExpr::Const(c) => *c,
            CExpr::Index(p) => p.eval(&env.i, rt.fault) as f64,
            CExpr::Param(s) => env.f[*s],
            CExpr::Read(r) => r.eval(&env.i, rt),
            CExpr::ReadScalar { tensor, adjoint } => {
                let buf = if *adjoint {
                    rt.adjoints[*tensor]
                } else {
                    rt.values[*tensor]
                };
                buf[0]
            }
            CExpr::Add(xs) => {
                let mut acc = 0.0;
                for x in xs.iter() {
                    acc += x.eval(env, rt);
                }
                acc
            }
            CExpr::Mul(xs) => {
                let mut acc = 1.0;
                for x in xs.iter() {
                    acc *= x.eval(env, rt);
                }
                acc
            }
            CExpr::Mul2(ab) => ab.0.eval(env, rt) * ab.1.eval(env, rt),
            CExpr::Neg(x) => -x.eval(env, rt),
            CExpr::Div(ab) => ab.0.eval(env, rt) / ab.1.eval(env, rt),
            CExpr::Powi(x, n) => x.eval(env, rt).powi(*n),
            CExpr::Powf(x, e) => x.eval(env, rt).powf(*e),
            CExpr::Unary(u, x) => unary(*u, x.eval(env, rt)),
            CExpr::Max2(ab) => {
                let a = ab.0.eval(env, rt);
                let b = ab.1.eval(env, rt);
                if b > a {
                    b
                } else {
                    a
                }
            }
            CExpr::Let { slot, arg, body } => {
                env.f[*slot] = arg.eval(env, rt);
                body.eval(env, rt)
            }
            CExpr::Reduce(r) => r.eval(env, rt),
            CExpr::Dot(d) => d.eval(env, rt),
            CExpr::Cmp { ge, ab } => {
                let a = ab.0.eval(env, rt);
                let b = ab.1.eval(env, rt);
                let holds = if *ge { a >= b } else { a > b };
                if holds {
                    1.0
                } else {
                    0.0
                }
            }
            CExpr::ArgMax(m) => m.eval(env, rt),
        }
    }
}

fn unary(u: Un, x: f64) -> f64 {
    match u {
        Un::Exp => x.exp(),
        Un::Log => x.ln(),
        Un::Tanh => x.tanh(),
        Un::Sigma => {
            if x >= 0.0 {
                1.0 / (1.0 + (-x).exp())
            } else {
                let e = x.exp();
                e / (1.0 + e)
            }
        }
        Un::Sqrt => x.sqrt(),
        Un::Relu => {
            if x <= 0.0 {
                0.0
            } else {
                x
            }
        }
        Un::Softplus => (if x > 0.0 { x } else { 0.0 }) + (-x.abs()).exp().ln_1p(),
        Un::Square => x * x,
        Un::Recip => 1.0 / x,
    }
}

impl CRead {
    #[inline]
    fn eval(&self, env: &[i64], rt: &Rt) -> f64 {
        let mut off: i64 = 0;
        for d in self.dims.iter() {
            let v = d.idx.eval(env, rt.fault);
            if v < 0 || v >= d.ext {
                return 0.0;
            }
            off += v * d.stride;
        }
        let buf = if self.adjoint {
            rt.adjoints[self.tensor]
        } else {
            rt.values[self.tensor]
        };
        buf[off as usize]
    }
}

impl CReduce {
    fn eval(&self, env: &mut Env, rt: &Rt) -> f64 {
        let lo = self.lo.eval(&env.i, rt.fault);
        let hi = self.hi.eval(&env.i, rt.fault);
        if hi < lo {
            return 0.0;
        }
        if self.max {
            env.i[self.slot] = lo;
            let mut best = self.body.eval(env, rt);
            let mut v = lo + 1;
            while v <= hi {
                env.i[self.slot] = v;
                let x = self.body.eval(env, rt);
                if x > best {
                    best = x;
                }
                v += 1;
            }
            best
        } else {
            let mut acc = 0.0;
            let mut v = lo;
            while v <= hi {
                env.i[self.slot] = v;
                acc += self.body.eval(env, rt);
                v += 1;
            }
            acc
        }
    }
}

/// The values of an arg-max's dependencies and the best point found there.
type LastSearch = (Vec<i64>, Option<Vec<i64>>);

impl CArgMax {
    fn eval(&self, env: &mut Env, rt: &Rt) -> f64 {
        if !self.search(env, rt) {
            return 0.0;
        }
        for (j, b) in self.binders.iter().enumerate() {
            if self.at[j].eval(&env.i, rt.fault) != env.i[b.1] {
                return 0.0;
            }
        }
        1.0
    }

    /// Finds the best point into the best-point slots; false when the
    /// window is empty. Reuses the last search when `deps` are unchanged.
    fn search(&self, env: &mut Env, rt: &Rt) -> bool {
        let Some(deps) = &self.deps else {
            let mut best: Option<f64> = None;
            self.scan(0, env, rt, &mut best);
            return best.is_some();
        };
        let mut last = self.last.borrow_mut();
        if let Some((key, point)) = &*last {
            if key.iter().zip(deps).all(|(k, &s)| *k == env.i[s]) {
                let Some(point) = point else {
                    return false;
                };
                for (b, &v) in self.binders.iter().zip(point) {
                    env.i[b.1] = v;
                }
                return true;
            }
        }
        let mut best: Option<f64> = None;
        self.scan(0, env, rt, &mut best);
        // Overwritten in place: no allocation after the first search.
        let (key, point) = last.get_or_insert_with(|| (Vec::new(), None));
        key.clear();
        key.extend(deps.iter().map(|&s| env.i[s]));
        match (best, point) {
            (None, p) => *p = None,
            (Some(_), Some(p)) => {
                p.clear();
                p.extend(self.binders.iter().map(|b| env.i[b.1]));
            }
            (Some(_), p) => *p = Some(self.binders.iter().map(|b| env.i[b.1]).collect()),
        }
        best.is_some()
    }

    fn scan(&self, level: usize, env: &mut Env, rt: &Rt, best: &mut Option<f64>) {
        if level == self.binders.len() {
            let v = self.body.eval(env, rt);
            let better = match *best {
                None => true,
                Some(b) => v > b,
            };
            if better {
                *best = Some(v);
                for b in &self.binders {
                    env.i[b.1] = env.i[b.0];
                }
            }
            return;
        }
        let (slot, _, lo, hi) = &self.binders[level];
        let lo = lo.eval(&env.i, rt.fault);
        let hi = hi.eval(&env.i, rt.fault);
        let mut v = lo;
        while v <= hi {
            env.i[*slot] = v;
            self.scan(level + 1, env, rt, best);
            v += 1;
        }
    }
}

/// Every index variable in `e` (reads, index values, reduction ranges and
/// variables, arg-max tests), into `out`; `param` is set when `e` reads a
/// function parameter.
fn index_vars(e: &Expr, out: &mut BTreeSet<String>, param: &mut bool) {
    let range = |v: &str, r: &Range, out: &mut BTreeSet<String>| {
        out.insert(v.to_string());
        out.extend(r.lo.vars());
        out.extend(r.hi.vars());
    };
    e.visit(&mut |x| match x {
        Expr::Param(_) => *param = true,
        Expr::Index(p) => out.extend(p.vars()),
        Expr::Read(r) => r.index.iter().for_each(|p| out.extend(p.vars())),
        Expr::Reduce { var, range: r, .. } => range(var, r, out),
        Expr::Indicator(p) => {
            if let Pred::FirstArgMax { binders, at, .. } = &**p {
                binders.iter().for_each(|(v, r)| range(v, r, out));
                at.iter().for_each(|p| out.extend(p.vars()));
            }
        }
        _ => {}
    });
}

// ---------------------------------------------------------------------------
// The fast path for sums of products of reads.

/// Most reads a [`Dot`] handles.
const DOT_READS: usize = 4;

/// `\sum_{v=lo}^{hi} [lo_c \le e_c(v) \le hi_c]... scale · Π_r T_r[g_r(v)]`
/// where every `e_c` and `g_r` is affine in `v` and `scale` does not depend
/// on `v`. The range of `v` for which every condition holds and every read is
/// in bounds is computed once, so the loop reads memory at fixed strides
/// without checks (out-of-range reads are zero, so they add nothing).
#[derive(Debug)]
struct Dot {
    slot: usize,
    lo: IExpr,
    hi: IExpr,
    /// Conditions `lo \le e \le hi` with `e` affine in the slot: `(e, coef, lo, hi)`.
    within: Vec<(IExpr, i64, IExpr, IExpr)>,
    reads: Vec<DotRead>,
    /// The factors that do not depend on the slot.
    scale: Option<CExpr>,
}

#[derive(Debug)]
struct DotRead {
    tensor: usize,
    adjoint: bool,
    /// Per dimension: index (shifted by the lower bound), coefficient of the
    /// slot in it, extent, stride.
    dims: Vec<(IExpr, i64, i64, i64)>,
}

impl Dot {
    /// Whether the sum over `slot` of `body`, under the conditions `conds`
    /// checked at every step, fits the fast path.
    fn applies(slot: usize, conds: &[CCond], body: &CExpr) -> bool {
        let conds_ok = conds.iter().all(|c| match c {
            CCond::Within { e, lo, hi } => {
                e.coef_of(slot).is_some() && !lo.mentions(slot) && !hi.mentions(slot)
            }
            CCond::Divides { .. } => false,
        });
        let factors: Vec<&CExpr> = match body {
            CExpr::Mul(xs) => xs.iter().collect(),
            CExpr::Mul2(ab) => vec![&ab.0, &ab.1],
            b => vec![b],
        };
        let mut reads = 0;
        for f in factors {
            match f {
                CExpr::Read(r) if r.dims.iter().all(|d| d.idx.coef_of(slot).is_some()) => {
                    reads += 1
                }
                f if !f.mentions(slot) => {}
                _ => return false,
            }
        }
        conds_ok && reads <= DOT_READS
    }

    /// Builds the node; [`Dot::applies`] must hold.
    fn new(
        slot: usize,
        lo: IExpr,
        hi: IExpr,
        within: Vec<(IExpr, IExpr, IExpr)>,
        body: CExpr,
    ) -> Dot {
        let factors: Vec<CExpr> = match body {
            CExpr::Mul(xs) => xs.into_vec(),
            CExpr::Mul2(ab) => {
                let (a, b) = *ab;
                vec![a, b]
            }
            b => vec![b],
        };
        let mut reads = Vec::new();
        let mut rest = Vec::new();
        for f in factors {
            match f {
                CExpr::Read(r) => reads.push(DotRead {
                    tensor: r.tensor,
                    adjoint: r.adjoint,
                    dims: r
                        .dims
                        .into_vec()
                        .into_iter()
                        .map(|d| {
                            let c = d.idx.coef_of(slot).unwrap_or(0);
                            (d.idx, c, d.ext, d.stride)
                        })
                        .collect(),
                }),
                f => rest.push(f),
            }
        }
        let scale = match rest.len() {
            0 => None,
            1 => rest.pop(),
            _ => Some(CExpr::Mul(rest.into_boxed_slice())),
        };
        let within = within
            .into_iter()
            .map(|(e, lo, hi)| {
                let c = e.coef_of(slot).unwrap_or(0);
                (e, c, lo, hi)
            })
            .collect();
        Dot {
            slot,
            lo,
            hi,
            within,
            reads,
            scale,
        }
    }

    #[inline(never)]
    fn eval(&self, env: &mut Env, rt: &Rt) -> f64 {
        let f = rt.fault;
        let mut vlo = self.lo.eval(&env.i, f);
        let mut vhi = self.hi.eval(&env.i, f);
        if vhi < vlo {
            return 0.0;
        }
        // Everything affine in v is evaluated at v = 0 for its offset.
        env.i[self.slot] = 0;
        for (e, c, lo, hi) in &self.within {
            let a = e.eval(&env.i, f);
            let (l, h) = (lo.eval(&env.i, f), hi.eval(&env.i, f));
            if !narrow(&mut vlo, &mut vhi, a, *c, l, h) {
                return 0.0;
            }
        }
        let mut base = [0i64; DOT_READS];
        let mut step = [0i64; DOT_READS];
        for (r, rd) in self.reads.iter().enumerate() {
            for (idx, c, ext, stride) in &rd.dims {
                let a = idx.eval(&env.i, f);
                if !narrow(&mut vlo, &mut vhi, a, *c, 0, ext - 1) {
                    return 0.0;
                }
                base[r] += a * stride;
                step[r] += c * stride;
            }
        }
        let scale = match &self.scale {
            Some(s) => s.eval(env, rt),
            None => 1.0,
        };
        let buf = |r: usize| {
            let rd = &self.reads[r];
            if rd.adjoint {
                rt.adjoints[rd.tensor]
            } else {
                rt.values[rd.tensor]
            }
        };
        let n = (vhi - vlo + 1) as usize;
        let start = |r: usize| (base[r] + step[r] * vlo) as usize;
        let mut acc = 0.0;
        match self.reads.len() {
            0 => acc = n as f64,
            1 => {
                let (b, s, mut o) = (buf(0), step[0] as usize, start(0));
                for _ in 0..n {
                    acc += b[o];
                    o = o.wrapping_add(s);
                }
            }
            2 => {
                let (b0, b1) = (buf(0), buf(1));
                let (o0, o1) = (start(0), start(1));
                if step[0] == 1 && step[1] == 1 {
                    for (x, y) in b0[o0..o0 + n].iter().zip(&b1[o1..o1 + n]) {
                        acc += x * y;
                    }
                } else {
                    let (s0, s1) = (step[0] as usize, step[1] as usize);
                    let (mut o0, mut o1) = (o0, o1);
                    for _ in 0..n {
                        acc += b0[o0] * b1[o1];
                        o0 = o0.wrapping_add(s0);
                        o1 = o1.wrapping_add(s1);
                    }
                }
            }
            k => {
                for v in vlo..=vhi {
                    let mut p = 1.0;
                    for r in 0..k {
                        p *= buf(r)[(base[r] + step[r] * v) as usize];
                    }
                    acc += p;
                }
            }
        }
        scale * acc
    }
}

/// Narrows `vlo..=vhi` to the `v` with `l \le a + c v \le h`; false when
/// nothing is left.
#[inline]
fn narrow(vlo: &mut i64, vhi: &mut i64, a: i64, c: i64, l: i64, h: i64) -> bool {
    let (lo, hi) = match c {
        0 => {
            if a < l || a > h {
                return false;
            }
            return *vlo <= *vhi;
        }
        1 => (l - a, h - a),
        -1 => (a - h, a - l),
        c if c > 0 => (-((a - l).div_euclid(c)), (h - a).div_euclid(c)),
        c => (-((h - a).div_euclid(-c)), (a - l).div_euclid(-c)),
    };
    *vlo = (*vlo).max(lo);
    *vhi = (*vhi).min(hi);
    *vlo <= *vhi
}

impl IExpr {
    /// The coefficient of `slot` when the expression is affine in it (0 when
    /// it does not occur); None when it occurs inside a division or max.
    fn coef_of(&self, slot: usize) -> Option<i64> {
        match self {
            IExpr::Const(_) => Some(0),
            IExpr::Var { slot: s, .. } => Some(i64::from(*s == slot)),
            IExpr::Affine { terms, .. } => Some(
                terms
                    .iter()
                    .filter(|(s, _)| *s == slot)
                    .map(|(_, c)| c)
                    .sum(),
            ),
            IExpr::Extremum { of, .. } => {
                if of.iter().any(|p| p.mentions(slot)) {
                    None
                } else {
                    Some(0)
                }
            }
            IExpr::General(g) => {
                if g.terms
                    .iter()
                    .any(|(_, fs)| fs.iter().any(|f| f.mentions(slot)))
                {
                    None
                } else {
                    Some(
                        g.lin
                            .iter()
                            .filter(|(s, _)| *s == slot)
                            .map(|(_, c)| c)
                            .sum(),
                    )
                }
            }
        }
    }

    fn mentions(&self, slot: usize) -> bool {
        self.coef_of(slot) != Some(0)
    }
}

impl Factor {
    fn mentions(&self, slot: usize) -> bool {
        match self {
            Factor::Var(s) => *s == slot,
            Factor::Floor(p, q) | Factor::Ceil(p, q) | Factor::Exact(p, q) => {
                p.mentions(slot) || q.mentions(slot)
            }
            Factor::Max(ps) | Factor::Min(ps) => ps.iter().any(|p| p.mentions(slot)),
            Factor::Wrap(p) => p.mentions(slot),
        }
    }
}

impl CExpr {
    /// Whether the value may depend on the index slot.
    fn mentions(&self, slot: usize) -> bool {
        match self {
            CExpr::Const(_) | CExpr::Param(_) | CExpr::ReadScalar { .. } => false,
            CExpr::Index(i) => i.mentions(slot),
            CExpr::Read(r) => r.dims.iter().any(|d| d.idx.mentions(slot)),
            CExpr::Add(xs) | CExpr::Mul(xs) => xs.iter().any(|x| x.mentions(slot)),
            CExpr::Mul2(ab) | CExpr::Div(ab) | CExpr::Max2(ab) | CExpr::Cmp { ab, .. } => {
                ab.0.mentions(slot) || ab.1.mentions(slot)
            }
            CExpr::Neg(x) | CExpr::Powi(x, _) | CExpr::Powf(x, _) | CExpr::Unary(_, x) => {
                x.mentions(slot)
            }
            CExpr::Let { arg, body, .. } => arg.mentions(slot) || body.mentions(slot),
            CExpr::Reduce(r) => r.lo.mentions(slot) || r.hi.mentions(slot) || r.body.mentions(slot),
            CExpr::Dot(d) => {
                d.lo.mentions(slot)
                    || d.hi.mentions(slot)
                    || d.within.iter().any(|(e, _, l, h)| {
                        e.mentions(slot) || l.mentions(slot) || h.mentions(slot)
                    })
                    || d.reads
                        .iter()
                        .any(|r| r.dims.iter().any(|x| x.0.mentions(slot)))
                    || d.scale.as_ref().is_some_and(|s| s.mentions(slot))
            }
            CExpr::ArgMax(m) => {
                m.binders
                    .iter()
                    .any(|b| b.2.mentions(slot) || b.3.mentions(slot))
                    || m.body.mentions(slot)
                    || m.at.iter().any(|a| a.mentions(slot))
            }
        }
    }
}

/// One compiled gather contribution.
struct CGather {
    /// Slot and inclusive range of each sum, outermost first.
    sums: Vec<(usize, IExpr, IExpr)>,
    /// Conditions checked once every variable they mention is set: level 0
    /// before the first sum, level `j + 1` inside sum `j`.
    conds: Vec<Vec<CCond>>,
    body: CExpr,
}

enum CCond {
    Divides { den: IExpr, num: IExpr },
    Within { e: IExpr, lo: IExpr, hi: IExpr },
}

impl CCond {
    #[inline]
    fn holds(&self, env: &[i64], fault: &Cell<bool>) -> bool {
        match self {
            CCond::Divides { den, num } => {
                let d = den.eval(env, fault);
                if d <= 0 {
                    fault.set(true);
                    return false;
                }
                num.eval(env, fault).rem_euclid(d) == 0
            }
            CCond::Within { e, lo, hi } => {
                let v = e.eval(env, fault);
                lo.eval(env, fault) <= v && v <= hi.eval(env, fault)
            }
        }
    }
}

impl CGather {
    fn value(&self, level: usize, env: &mut Env, rt: &Rt) -> f64 {
        for c in &self.conds[level] {
            if !c.holds(&env.i, rt.fault) {
                return 0.0;
            }
        }
        if level == self.sums.len() {
            return self.body.eval(env, rt);
        }
        let (slot, lo, hi) = &self.sums[level];
        let lo = lo.eval(&env.i, rt.fault);
        let hi = hi.eval(&env.i, rt.fault);
        let mut acc = 0.0;
        let mut v = lo;
        if level + 1 == self.sums.len() && self.conds[level + 1].is_empty() {
            // Innermost sum without conditions: the summand directly.
            while v <= hi {
                env.i[*slot] = v;
                acc += self.body.eval(env, rt);
                v += 1;
            }
        } else {
            while v <= hi {
                env.i[*slot] = v;
                acc += self.value(level + 1, env, rt);
                v += 1;
            }
        }
        acc
    }
}

/// Visits every point of a tensor's domain in row-major order, with the
/// index values in slots `0..rank` of `env.i`.
fn for_each_point(l: &Layout, env: &mut Env, mut f: impl FnMut(usize, &mut Env)) {
    if l.len == 0 {
        return;
    }
    let rank = l.lo.len();
    env.i[..rank].copy_from_slice(&l.lo);
    if rank == 0 {
        f(0, env);
        return;
    }
    let last = rank - 1;
    let (lo_last, hi_last) = (l.lo[last], l.lo[last] + l.ext[last] - 1);
    let mut k = 0;
    loop {
        // Innermost dimension in a tight loop.
        let mut v = lo_last;
        while v <= hi_last {
            env.i[last] = v;
            f(k, env);
            k += 1;
            v += 1;
        }
        // Carry into the outer dimensions.
        let mut d = last;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            env.i[d] += 1;
            if env.i[d] < l.lo[d] + l.ext[d] {
                break;
            }
            env.i[d] = l.lo[d];
        }
    }
}

// ---------------------------------------------------------------------------
// The compiler from IR to evaluation trees.

#[derive(Clone, Copy)]
enum Phase {
    /// Compiling statement `s`: tensors defined by statements `< s` are ready.
    Forward(usize),
    /// Compiling adjoint `a`: all values and adjoints `< a` are ready.
    Backward(usize),
    /// Bounds only: no reads.
    Bare,
}

struct Compiler<'a> {
    p: Option<&'a Program>,
    sizes: &'a BTreeMap<String, i64>,
    layouts: &'a [Layout],
    phase: Phase,
    adjoint_pos: &'a [Option<usize>],
    /// What is being computed, for messages.
    what: &'a str,
    /// Index variables in scope, innermost last.
    scope: Vec<(String, usize)>,
    nslots: usize,
    /// Function parameters in scope.
    fscope: Vec<(String, usize)>,
    nfslots: usize,
    /// User functions being inlined (to refuse recursion).
    inlining: Vec<String>,
}

impl<'a> Compiler<'a> {
    fn new(
        p: &'a Program,
        sizes: &'a BTreeMap<String, i64>,
        layouts: &'a [Layout],
        phase: Phase,
        adjoint_pos: &'a [Option<usize>],
        what: &'a str,
    ) -> Compiler<'a> {
        Compiler {
            p: Some(p),
            sizes,
            layouts,
            phase,
            adjoint_pos,
            what,
            scope: Vec::new(),
            nslots: 0,
            fscope: Vec::new(),
            nfslots: 0,
            inlining: Vec::new(),
        }
    }

    fn new_bare(
        sizes: &'a BTreeMap<String, i64>,
        layouts: &'a [Layout],
        what: &'a str,
    ) -> Compiler<'a> {
        Compiler {
            p: None,
            sizes,
            layouts,
            phase: Phase::Bare,
            adjoint_pos: &[],
            what,
            scope: Vec::new(),
            nslots: 0,
            fscope: Vec::new(),
            nfslots: 0,
            inlining: Vec::new(),
        }
    }

    fn push(&mut self, name: &str) -> usize {
        let slot = self.nslots;
        self.nslots += 1;
        self.scope.push((name.to_string(), slot));
        slot
    }

    fn fresh(&mut self) -> usize {
        let slot = self.nslots;
        self.nslots += 1;
        slot
    }

    fn pop(&mut self, n: usize) {
        self.scope.truncate(self.scope.len() - n);
    }

    fn lookup(&self, name: &str) -> Res<usize> {
        self.scope
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, s)| *s)
            .ok_or_else(|| {
                EvalError::new(format!(
                    "internal error: index `{name}` is not bound in `{}`",
                    self.what
                ))
            })
    }

    fn size(&self, name: &str) -> Res<i64> {
        self.sizes
            .get(name)
            .copied()
            .ok_or_else(|| missing_size(name))
    }

    /// The position of a variable in the scope (for condition levels).
    fn depth_of(&self, name: &str) -> Option<usize> {
        self.scope.iter().rposition(|(n, _)| n == name)
    }

    fn poly(&self, p: &Poly) -> Res<IExpr> {
        let mut c0: i64 = 0;
        let mut lin: Vec<(usize, i64)> = Vec::new();
        let mut general: Vec<(i64, Vec<Factor>)> = Vec::new();
        let of = || EvalError::new(format!("integer overflow in `{p}` with these sizes"));
        for (m, c) in p.terms() {
            let mut k = c;
            let mut vars: Vec<usize> = Vec::new();
            let mut others: Vec<Factor> = Vec::new();
            for a in m {
                match a {
                    Atom::Size(s) => k = k.checked_mul(self.size(s)?).ok_or_else(of)?,
                    Atom::Var(v) => vars.push(self.lookup(v)?),
                    Atom::FloorDiv(n, d) | Atom::CeilDiv(n, d) | Atom::ExactDiv(n, d) => {
                        let (n, d) = (self.poly(n)?, self.poly(d)?);
                        if let IExpr::Const(dv) = d {
                            if dv <= 0 {
                                return Err(EvalError::new(format!(
                                    "division by {dv} in the index expression `{p}`: the divisor must be positive, check the sizes"
                                )));
                            }
                            if let IExpr::Const(nv) = n {
                                let q = match a {
                                    Atom::CeilDiv(..) => -((-nv).div_euclid(dv)),
                                    _ => nv.div_euclid(dv),
                                };
                                k = k.checked_mul(q).ok_or_else(of)?;
                                continue;
                            }
                        }
                        others.push(match a {
                            Atom::FloorDiv(..) => Factor::Floor(n, d),
                            Atom::CeilDiv(..) => Factor::Ceil(n, d),
                            _ => Factor::Exact(n, d),
                        });
                    }
                    Atom::Max(ps) | Atom::Min(ps) => {
                        let is_max = matches!(a, Atom::Max(_));
                        let cs = ps.iter().map(|q| self.poly(q)).collect::<Res<Vec<_>>>()?;
                        let consts: Option<Vec<i64>> = cs
                            .iter()
                            .map(|c| match c {
                                IExpr::Const(v) => Some(*v),
                                _ => None,
                            })
                            .collect();
                        match consts {
                            Some(vs) if !vs.is_empty() => {
                                let v = if is_max {
                                    vs.iter().max()
                                } else {
                                    vs.iter().min()
                                };
                                k = k.checked_mul(*v.unwrap_or(&0)).ok_or_else(of)?;
                            }
                            _ => others.push(if is_max {
                                Factor::Max(cs)
                            } else {
                                Factor::Min(cs)
                            }),
                        }
                    }
                }
            }
            if k == 0 {
                continue;
            }
            if others.is_empty() && vars.is_empty() {
                c0 = c0.checked_add(k).ok_or_else(of)?;
            } else if others.is_empty() && vars.len() == 1 {
                match lin.iter_mut().find(|(s, _)| *s == vars[0]) {
                    Some(t) => t.1 = t.1.checked_add(k).ok_or_else(of)?,
                    None => lin.push((vars[0], k)),
                }
            } else {
                let mut fs: Vec<Factor> = vars.into_iter().map(Factor::Var).collect();
                fs.extend(others);
                general.push((k, fs));
            }
        }
        lin.retain(|(_, c)| *c != 0);
        Ok(
            if c0 == 0
                && lin.is_empty()
                && general.len() == 1
                && general[0].0 == 1
                && general[0].1.len() == 1
            {
                match general.pop().and_then(|mut t| t.1.pop()) {
                    Some(Factor::Max(of)) => IExpr::Extremum {
                        max: true,
                        of: of.into_boxed_slice(),
                    },
                    Some(Factor::Min(of)) => IExpr::Extremum {
                        max: false,
                        of: of.into_boxed_slice(),
                    },
                    Some(f) => IExpr::General(Box::new(General {
                        c0,
                        lin,
                        terms: vec![(1, vec![f])],
                    })),
                    None => IExpr::Const(0),
                }
            } else if !general.is_empty() {
                IExpr::General(Box::new(General {
                    c0,
                    lin,
                    terms: general,
                }))
            } else if lin.is_empty() {
                IExpr::Const(c0)
            } else if lin.len() == 1 && lin[0].1 == 1 {
                IExpr::Var { slot: lin[0].0, c0 }
            } else {
                IExpr::Affine {
                    c0,
                    terms: lin.into_boxed_slice(),
                }
            },
        )
    }

    fn program(&self) -> Res<&'a Program> {
        self.p
            .ok_or_else(|| EvalError::new("internal error: expression in a bound"))
    }

    fn expr(&mut self, e: &Expr) -> Res<CExpr> {
        Ok(match e {
            Expr::Num(x) => CExpr::Const(*x),
            Expr::Size(s) => CExpr::Const(self.size(s)? as f64),
            Expr::Index(p) => match self.poly(p)? {
                IExpr::Const(c) => CExpr::Const(c as f64),
                i => CExpr::Index(i),
            },
            Expr::Param(name) => {
                let slot = self
                    .fscope
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, s)| *s)
                    .ok_or_else(|| {
                        EvalError::new(format!(
                            "internal error: parameter `{name}` used outside its function"
                        ))
                    })?;
                CExpr::Param(slot)
            }
            Expr::Read(r) => self.read(r)?,
            Expr::Add(xs) => {
                let mut cs = xs.iter().map(|x| self.expr(x)).collect::<Res<Vec<_>>>()?;
                match cs.len() {
                    0 => CExpr::Const(0.0),
                    1 => cs.pop().unwrap_or(CExpr::Const(0.0)),
                    _ => CExpr::Add(cs.into_boxed_slice()),
                }
            }
            Expr::Mul(xs) => {
                let mut cs = xs.iter().map(|x| self.expr(x)).collect::<Res<Vec<_>>>()?;
                match cs.len() {
                    0 => CExpr::Const(1.0),
                    1 => cs.pop().unwrap_or(CExpr::Const(1.0)),
                    2 => {
                        let b = cs.pop().unwrap_or(CExpr::Const(1.0));
                        let a = cs.pop().unwrap_or(CExpr::Const(1.0));
                        CExpr::Mul2(Box::new((a, b)))
                    }
                    _ => CExpr::Mul(cs.into_boxed_slice()),
                }
            }
            Expr::Neg(x) => match self.expr(x)? {
                CExpr::Const(c) => CExpr::Const(-c),
                c => CExpr::Neg(Box::new(c)),
            },
            Expr::Div(a, b) => CExpr::Div(Box::new((self.expr(a)?, self.expr(b)?))),
            Expr::Pow(x, k) => {
                let x = Box::new(self.expr(x)?);
                let k = *k;
                if k == 1.0 {
                    *x
                } else if k == 2.0 {
                    CExpr::Unary(Un::Square, x)
                } else if k == 0.5 {
                    CExpr::Unary(Un::Sqrt, x)
                } else if k == -1.0 {
                    CExpr::Unary(Un::Recip, x)
                } else if k.fract() == 0.0 && k.abs() <= 64.0 {
                    CExpr::Powi(x, k as i32)
                } else {
                    CExpr::Powf(x, k)
                }
            }
            Expr::Call(f, args) => self.call(f, args)?,
            Expr::Reduce {
                op,
                var,
                range,
                body,
            } => {
                let lo = self.poly(&range.lo)?;
                let hi = self.poly(&range.hi)?;
                let slot = self.push(var);
                let body = self.expr(body);
                self.pop(1);
                let body = body?;
                let max = matches!(op, ReduceOp::Max);
                if !max && Dot::applies(slot, &[], &body) {
                    CExpr::Dot(Box::new(Dot::new(slot, lo, hi, Vec::new(), body)))
                } else {
                    CExpr::Reduce(Box::new(CReduce {
                        max,
                        slot,
                        lo,
                        hi,
                        body,
                    }))
                }
            }
            Expr::Indicator(pred) => match &**pred {
                Pred::Gt(a, b) | Pred::Ge(a, b) => CExpr::Cmp {
                    ge: matches!(**pred, Pred::Ge(..)),
                    ab: Box::new((self.expr(a)?, self.expr(b)?)),
                },
                Pred::FirstArgMax { binders, body, at } => {
                    if at.len() != binders.len() {
                        return Err(EvalError::new(format!(
                            "internal error: arg-max with {} binders tested at {} indices",
                            binders.len(),
                            at.len()
                        )));
                    }
                    let at = at.iter().map(|q| self.poly(q)).collect::<Res<Vec<_>>>()?;
                    let deps = self.argmax_deps(binders, body);
                    let mut bs = Vec::new();
                    let mut pushed = 0;
                    let mut result = Ok(());
                    for (name, r) in binders {
                        let range = self.poly(&r.lo).and_then(|lo| Ok((lo, self.poly(&r.hi)?)));
                        match range {
                            Ok((lo, hi)) => {
                                let slot = self.push(name);
                                pushed += 1;
                                let best = self.fresh();
                                bs.push((slot, best, lo, hi));
                            }
                            Err(e) => {
                                result = Err(e);
                                break;
                            }
                        }
                    }
                    let body = result.and_then(|_| self.expr(body));
                    self.pop(pushed);
                    CExpr::ArgMax(Box::new(CArgMax {
                        binders: bs,
                        body: body?,
                        at,
                        deps,
                        last: RefCell::new(None),
                    }))
                }
            },
        })
    }

    /// The slots an arg-max search over `binders` of `body` depends on:
    /// every index variable of its ranges and body that is bound outside
    /// it (a variable the body binds itself may be counted too: that only
    /// costs reuse). None when the body reads a function parameter.
    fn argmax_deps(&self, binders: &[(String, Range)], body: &Expr) -> Option<Vec<usize>> {
        let mut vars = BTreeSet::new();
        let mut param = !self.fscope.is_empty();
        for (_, r) in binders {
            vars.extend(r.lo.vars());
            vars.extend(r.hi.vars());
        }
        index_vars(body, &mut vars, &mut param);
        if param {
            return None;
        }
        let mut slots: Vec<usize> = vars
            .iter()
            .filter(|v| !binders.iter().any(|(b, _)| b == *v))
            .filter_map(|v| self.lookup(v).ok())
            .collect();
        slots.sort_unstable();
        slots.dedup();
        Some(slots)
    }

    fn read(&mut self, r: &Read) -> Res<CExpr> {
        let p = self.program()?;
        let t = r.tensor;
        let tensor = p
            .tensors
            .get(t)
            .ok_or_else(|| EvalError::new(format!("internal error: read of unknown tensor {t}")))?;
        let adjoint = r.slot == Slot::Adjoint;
        match (self.phase, adjoint) {
            (Phase::Forward(s), false) => {
                if let TensorKind::Defined(d) = tensor.kind {
                    if d >= s {
                        return Err(EvalError::new(format!(
                            "internal error: `{}` reads `{}` before it is defined",
                            self.what, tensor.key
                        )));
                    }
                }
            }
            (Phase::Backward(a), true) => match self.adjoint_pos.get(t).copied().flatten() {
                None => return Ok(CExpr::Const(0.0)),
                Some(k) if k >= a => {
                    return Err(EvalError::new(format!(
                        "internal error: the adjoint of `{}` reads the adjoint of `{}` before it is computed",
                        self.what, tensor.key
                    )))
                }
                Some(_) => {}
            },
            (Phase::Backward(_), false) => {}
            _ => {
                return Err(EvalError::new(format!(
                    "internal error: adjoint of `{}` read in the forward pass",
                    tensor.key
                )))
            }
        }
        let l = &self.layouts[t];
        if r.index.len() != l.lo.len() {
            return Err(EvalError::new(format!(
                "internal error: `{}` read with {} indices, it has {}",
                tensor.key,
                r.index.len(),
                l.lo.len()
            )));
        }
        if r.index.is_empty() {
            return Ok(CExpr::ReadScalar { tensor: t, adjoint });
        }
        let mut dims = Vec::with_capacity(r.index.len());
        for (d, idx) in r.index.iter().enumerate() {
            let e = self.poly(idx)?.shifted(-l.lo[d]);
            dims.push(CDim {
                idx: e,
                ext: l.ext[d],
                stride: l.stride[d],
            });
        }
        Ok(CExpr::Read(Box::new(CRead {
            tensor: t,
            adjoint,
            dims: dims.into_boxed_slice(),
        })))
    }

    fn call(&mut self, f: &Func, args: &[Expr]) -> Res<CExpr> {
        let arity = |n: usize, name: &str| {
            if args.len() == n {
                Ok(())
            } else {
                Err(EvalError::new(format!(
                    "`{name}` takes {n} argument(s), got {}",
                    args.len()
                )))
            }
        };
        match f {
            Func::Builtin(Builtin::Max) => {
                arity(2, "\\max")?;
                Ok(CExpr::Max2(Box::new((
                    self.expr(&args[0])?,
                    self.expr(&args[1])?,
                ))))
            }
            Func::Builtin(b) => {
                let u = match b {
                    Builtin::Exp => Un::Exp,
                    Builtin::Log => Un::Log,
                    Builtin::Tanh => Un::Tanh,
                    Builtin::Sigma => Un::Sigma,
                    Builtin::Sqrt => Un::Sqrt,
                    Builtin::Relu => Un::Relu,
                    Builtin::Softplus => Un::Softplus,
                    Builtin::Max => Un::Exp, // handled above
                };
                arity(1, &format!("{b:?}").to_lowercase())?;
                let x = self.expr(&args[0])?;
                Ok(match x {
                    CExpr::Const(c) => CExpr::Const(unary(u, c)),
                    x => CExpr::Unary(u, Box::new(x)),
                })
            }
            Func::User { name, prime } => {
                let p = self.program()?;
                let uf = p.functions.get(name);
                let param = uf.map_or("z", |f| {
                    if f.param.is_empty() {
                        "z"
                    } else {
                        f.param.as_str()
                    }
                });
                let undefined = || {
                    EvalError::new(format!(
                        "function `{name}` has no definition: add a line like `{name}({param}) = \\tanh({param})`"
                    ))
                };
                let uf = uf.ok_or_else(undefined)?;
                let body = if *prime {
                    match (&uf.derivative, &uf.body) {
                        (Some(d), _) => d,
                        (None, None) => return Err(undefined().at(uf.span)),
                        (None, Some(_)) => {
                            return Err(EvalError::new(format!(
                                "internal error: function `{name}` has no derivative"
                            )))
                        }
                    }
                } else {
                    uf.body.as_ref().ok_or_else(|| undefined().at(uf.span))?
                };
                arity(1, name)?;
                if self.inlining.iter().any(|n| n == name) {
                    return Err(EvalError::new(format!(
                        "function `{name}` is defined in terms of itself"
                    ))
                    .at(uf.span));
                }
                let arg = self.expr(&args[0])?;
                let slot = self.nfslots;
                self.nfslots += 1;
                let scope = std::mem::take(&mut self.scope);
                let fscope = std::mem::replace(&mut self.fscope, vec![(uf.param.clone(), slot)]);
                self.inlining.push(name.clone());
                let body = self.expr(body);
                self.inlining.pop();
                self.scope = scope;
                self.fscope = fscope;
                Ok(CExpr::Let {
                    slot,
                    arg: Box::new(arg),
                    body: Box::new(body?),
                })
            }
        }
    }

    /// Compiles a gather with the target variables already in scope.
    fn gather(&mut self, g: &crate::ir::Gather) -> Res<CGather> {
        let base = self.scope.len();
        let mut sums = Vec::with_capacity(g.sums.len());
        for s in &g.sums {
            let lo = self.poly(&s.range.lo)?;
            let hi = self.poly(&s.range.hi)?;
            let slot = self.push(&s.var);
            sums.push((slot, lo, hi));
        }
        let mut conds: Vec<Vec<CCond>> = (0..=sums.len()).map(|_| Vec::new()).collect();
        for c in &g.conds {
            let polys: Vec<&Poly> = match c {
                Cond::Divides { den, num } => vec![den, num],
                Cond::Within { e, lo, hi } => vec![e, lo, hi],
            };
            let mut level = 0;
            for q in &polys {
                for v in q.vars() {
                    match self.depth_of(&v) {
                        Some(d) if d >= base => level = level.max(d - base + 1),
                        Some(_) => {}
                        None => {
                            return Err(EvalError::new(format!(
                                "internal error: index `{v}` is not bound in a condition of the adjoint of `{}`",
                                self.what
                            )))
                        }
                    }
                }
            }
            let cc = match c {
                Cond::Divides { den, num } => {
                    let d = self.poly(den)?;
                    if let IExpr::Const(v) = d {
                        if v <= 0 {
                            return Err(EvalError::new(format!(
                                "the stride `{den}` is {v} with these sizes: strides must be positive"
                            )));
                        }
                    }
                    CCond::Divides {
                        den: d,
                        num: self.poly(num)?,
                    }
                }
                Cond::Within { e, lo, hi } => CCond::Within {
                    e: self.poly(e)?,
                    lo: self.poly(lo)?,
                    hi: self.poly(hi)?,
                },
            };
            conds[level].push(cc);
        }
        let mut body = self.expr(&g.body)?;
        self.pop(g.sums.len());
        // The innermost sum, its conditions and the summand as one `Dot`.
        if let Some((slot, _, _)) = sums.last() {
            let slot = *slot;
            let inner = conds.last().map_or(&[][..], |c| &c[..]);
            if Dot::applies(slot, inner, &body) {
                let within = conds
                    .pop()
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|c| match c {
                        CCond::Within { e, lo, hi } => Some((e, lo, hi)),
                        CCond::Divides { .. } => None,
                    })
                    .collect();
                if let Some((_, lo, hi)) = sums.pop() {
                    body = CExpr::Dot(Box::new(Dot::new(slot, lo, hi, within, body)));
                }
            }
        }
        Ok(CGather { sums, conds, body })
    }
}

// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{
        Adjoint, Contribution, Gather, Range, Scatter, Span, Statement, SumVar, TensorId, UserFn,
    };

    fn v(s: &str) -> Poly {
        Poly::var(s)
    }
    fn n() -> Poly {
        Poly::size("n")
    }
    fn int(c: i64) -> Poly {
        Poly::int(c)
    }
    fn range(lo: Poly, hi: Poly) -> Range {
        Range { lo, hi }
    }
    fn tensor(key: &str, kind: TensorKind, indices: &[&str], dims: Vec<Range>) -> Tensor {
        Tensor {
            key: key.to_string(),
            letter: key.chars().next().unwrap_or('x').to_string(),
            greek: false,
            label: None,
            kind,
            indices: indices.iter().map(|s| s.to_string()).collect(),
            dims,
            auxiliary: false,
            span: Span::default(),
        }
    }
    fn read(t: TensorId, index: Vec<Poly>) -> Expr {
        Expr::Read(Read {
            tensor: t,
            slot: Slot::Value,
            index,
        })
    }
    fn adj(t: TensorId, index: Vec<Poly>) -> Expr {
        Expr::Read(Read {
            tensor: t,
            slot: Slot::Adjoint,
            index,
        })
    }
    fn sum(var: &str, lo: Poly, hi: Poly, body: Expr) -> Expr {
        Expr::Reduce {
            op: ReduceOp::Sum,
            var: var.to_string(),
            range: range(lo, hi),
            body: Box::new(body),
        }
    }
    fn mul(a: Expr, b: Expr) -> Expr {
        Expr::Mul(vec![a, b])
    }
    fn stmt(lhs: TensorId, vars: &[&str], rhs: Expr) -> Statement {
        Statement {
            lhs,
            vars: vars.iter().map(|s| s.to_string()).collect(),
            rhs,
            bounds_written: true,
            restated: Vec::new(),
            source: String::new(),
            span: Span::default(),
        }
    }
    fn gather(sums: Vec<(&str, Poly, Poly)>, conds: Vec<Cond>, body: Expr) -> Contribution {
        Contribution {
            occurrence: 0,
            scatter: Scatter {
                sums: Vec::new(),
                delta: Vec::new(),
                factor: Expr::Num(0.0),
            },
            gather: Gather {
                solved: Vec::new(),
                sums: sums
                    .into_iter()
                    .map(|(v, lo, hi)| SumVar {
                        var: v.to_string(),
                        range: range(lo, hi),
                    })
                    .collect(),
                conds,
                body,
            },
        }
    }
    fn adjoint(t: TensorId, vars: &[&str], seeded: bool, terms: Vec<Contribution>) -> Adjoint {
        Adjoint {
            tensor: t,
            vars: vars.iter().map(|s| s.to_string()).collect(),
            seeded,
            terms,
        }
    }
    fn program(
        sizes: &[&str],
        tensors: Vec<Tensor>,
        statements: Vec<Statement>,
        outputs: Vec<TensorId>,
    ) -> Program {
        Program {
            sizes: sizes.iter().map(|s| s.to_string()).collect(),
            tensors,
            statements,
            functions: BTreeMap::new(),
            outputs,
        }
    }
    fn data(
        sizes: &[(&str, i64)],
        tensors: &[(&str, Vec<f64>)],
        seeds: &[(&str, Vec<f64>)],
    ) -> Data {
        Data {
            sizes: sizes.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            tensors: tensors
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            seeds: seeds
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            shapes: BTreeMap::new(),
        }
    }
    fn close(a: &[f64], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{a:?} vs {b:?}");
        }
    }
    const Y: TensorId = 0;
    const W: TensorId = 1;
    const X: TensorId = 2;

    /// `x_i = \sum_{a=0}^{K-1} w_a y_{i+a}` ("valid", 0 ≤ i ≤ n-K), with
    /// the gather adjoints written out by hand; `bounds_form` picks between
    /// the bounds folded into the sum (`max`/`min`) and a `Within`
    /// condition.
    fn conv(k: i64, bounds_form: bool) -> (Program, Gradient) {
        let p = program(
            &["n"],
            vec![
                tensor(
                    "y",
                    TensorKind::Leaf(DeclKind::Input),
                    &["i"],
                    vec![range(int(0), n().add_int(-1))],
                ),
                tensor(
                    "w",
                    TensorKind::Leaf(DeclKind::Param),
                    &["a"],
                    vec![range(int(0), int(k - 1))],
                ),
                tensor(
                    "x",
                    TensorKind::Defined(0),
                    &["i"],
                    vec![range(int(0), n().add_int(-k))],
                ),
            ],
            vec![stmt(
                X,
                &["i"],
                sum(
                    "a",
                    int(0),
                    int(k - 1),
                    mul(read(W, vec![v("a")]), read(Y, vec![v("i").add(&v("a"))])),
                ),
            )],
            vec![X],
        );
        // \bar y_j = \sum_a [0 ≤ j-a ≤ n-K] \bar x_{j-a} w_a
        let ybar = if bounds_form {
            gather(
                vec![(
                    "a",
                    Poly::max_of(&int(0), &v("j").sub(&n()).add_int(k)),
                    Poly::min_of(&int(k - 1), &v("j")),
                )],
                vec![],
                mul(adj(X, vec![v("j").sub(&v("a"))]), read(W, vec![v("a")])),
            )
        } else {
            gather(
                vec![("a", int(0), int(k - 1))],
                vec![Cond::Within {
                    e: v("j").sub(&v("a")),
                    lo: int(0),
                    hi: n().add_int(-k),
                }],
                mul(adj(X, vec![v("j").sub(&v("a"))]), read(W, vec![v("a")])),
            )
        };
        // \bar w_b = \sum_{i=0}^{n-K} \bar x_i y_{i+b}
        let wbar = gather(
            vec![("i", int(0), n().add_int(-k))],
            vec![],
            mul(adj(X, vec![v("i")]), read(Y, vec![v("i").add(&v("b"))])),
        );
        let g = Gradient {
            occurrences: Vec::new(),
            adjoints: vec![
                adjoint(X, &["k"], true, vec![]),
                adjoint(W, &["b"], false, vec![wbar]),
                adjoint(Y, &["j"], false, vec![ybar]),
            ],
        };
        (p, g)
    }

    #[test]
    fn conv1d_values_and_gradients() {
        for bounds_form in [true, false] {
            let (p, g) = conv(3, bounds_form);
            let y = vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
            let w = vec![0.5, -1.0, 2.0];
            let seed = vec![1.0, 2.0, 3.0, 4.0];
            let d = data(
                &[("n", 6)],
                &[("y", y.clone()), ("w", w.clone())],
                &[("x", seed.clone())],
            );
            let r = evaluate(&p, &g, &d).unwrap();
            let x: Vec<f64> = (0..4)
                .map(|i| (0..3).map(|a| w[a] * y[i + a]).sum())
                .collect();
            close(&r.values["x"], &x, 1e-12);
            let gw: Vec<f64> = (0..3)
                .map(|a| (0..4).map(|i| seed[i] * y[i + a]).sum())
                .collect();
            close(&r.grads["w"], &gw, 1e-12);
            let mut gy = vec![0.0; 6];
            for i in 0..4 {
                for a in 0..3 {
                    gy[i + a] += seed[i] * w[a];
                }
            }
            close(&r.grads["y"], &gy, 1e-12);
            assert!(r.scalar.is_empty());
            assert_eq!(r.values.keys().collect::<Vec<_>>(), ["x"]);
        }
    }

    /// `x_i = \sum_{a=0}^{2} w_a y_{i+a-1}, 0 ≤ i < n`: reads outside `y`
    /// are zero, and the padded-away positions get no gradient.
    #[test]
    fn zero_padding() {
        let p = program(
            &["n"],
            vec![
                tensor(
                    "y",
                    TensorKind::Leaf(DeclKind::Input),
                    &["i"],
                    vec![range(int(0), n().add_int(-1))],
                ),
                tensor(
                    "w",
                    TensorKind::Leaf(DeclKind::Param),
                    &["a"],
                    vec![range(int(0), int(2))],
                ),
                tensor(
                    "x",
                    TensorKind::Defined(0),
                    &["i"],
                    vec![range(int(0), n().add_int(-1))],
                ),
            ],
            vec![stmt(
                X,
                &["i"],
                sum(
                    "a",
                    int(0),
                    int(2),
                    mul(
                        read(W, vec![v("a")]),
                        read(Y, vec![v("i").add(&v("a")).add_int(-1)]),
                    ),
                ),
            )],
            vec![X],
        );
        let ybar = gather(
            vec![("a", int(0), int(2))],
            vec![Cond::Within {
                e: v("j").sub(&v("a")).add_int(1),
                lo: int(0),
                hi: n().add_int(-1),
            }],
            mul(
                adj(X, vec![v("j").sub(&v("a")).add_int(1)]),
                read(W, vec![v("a")]),
            ),
        );
        let wbar = gather(
            vec![("i", int(0), n().add_int(-1))],
            vec![],
            mul(
                adj(X, vec![v("i")]),
                read(Y, vec![v("i").add(&v("b")).add_int(-1)]),
            ),
        );
        let g = Gradient {
            occurrences: Vec::new(),
            adjoints: vec![
                adjoint(X, &["k"], true, vec![]),
                adjoint(W, &["b"], false, vec![wbar]),
                adjoint(Y, &["j"], false, vec![ybar]),
            ],
        };
        let y = [1.0, 2.0, 3.0, 4.0];
        let w = [10.0, 100.0, 1000.0];
        let seed = [1.0, -1.0, 0.5, 2.0];
        let d = data(
            &[("n", 4)],
            &[("y", y.to_vec()), ("w", w.to_vec())],
            &[("x", seed.to_vec())],
        );
        let r = evaluate(&p, &g, &d).unwrap();
        // x_0 = 100·1 + 1000·2, x_3 = 10·3 + 100·4.
        close(&r.values["x"], &[2100.0, 3210.0, 4320.0, 430.0], 1e-12);
        // By finite differences of E = Σ seed_i x_i (exact: linear).
        let energy = |y: &[f64], w: &[f64]| -> f64 {
            let d = data(
                &[("n", 4)],
                &[("y", y.to_vec()), ("w", w.to_vec())],
                &[("x", seed.to_vec())],
            );
            let r = evaluate(&p, &g, &d).unwrap();
            r.values["x"].iter().zip(seed).map(|(x, s)| x * s).sum()
        };
        for (name, base) in [("y", y.to_vec()), ("w", w.to_vec())] {
            let fd: Vec<f64> = (0..base.len())
                .map(|k| {
                    let mut up = base.clone();
                    up[k] += 1.0;
                    if name == "y" {
                        energy(&up, &w) - energy(&y, &w)
                    } else {
                        energy(&y, &up) - energy(&y, &w)
                    }
                })
                .collect();
            close(&r.grads[name], &fd, 1e-9);
        }
    }

    /// A user function, a scalar output, and central finite differences.
    #[test]
    fn nonlinear_scalar_output_matches_finite_differences() {
        // x_i = Σ_a w_a y_{i+a};  z_i = h(x_i);  E = Σ_i z_i^2
        let (mut p, _) = conv(2, true);
        const Z: TensorId = 3;
        const E: TensorId = 4;
        p.tensors.push(tensor(
            "z",
            TensorKind::Defined(1),
            &["i"],
            vec![range(int(0), n().add_int(-2))],
        ));
        p.tensors
            .push(tensor("E", TensorKind::Defined(2), &[], vec![]));
        let h = |x: Expr| {
            Expr::Call(
                Func::User {
                    name: "h".into(),
                    prime: false,
                },
                vec![x],
            )
        };
        let hp = |x: Expr| {
            Expr::Call(
                Func::User {
                    name: "h".into(),
                    prime: true,
                },
                vec![x],
            )
        };
        p.statements.push(stmt(Z, &["i"], h(read(X, vec![v("i")]))));
        p.statements.push(stmt(
            E,
            &[],
            sum(
                "i",
                int(0),
                n().add_int(-2),
                Expr::Pow(Box::new(read(Z, vec![v("i")])), 2.0),
            ),
        ));
        p.outputs = vec![E];
        let z = || Expr::Param("z".into());
        p.functions.insert(
            "h".into(),
            UserFn {
                name: "h".into(),
                param: "z".into(),
                body: Some(Expr::Call(Func::Builtin(Builtin::Tanh), vec![z()])),
                // 1 - tanh(z)^2
                derivative: Some(Expr::Add(vec![
                    Expr::Num(1.0),
                    Expr::Neg(Box::new(Expr::Pow(
                        Box::new(Expr::Call(Func::Builtin(Builtin::Tanh), vec![z()])),
                        2.0,
                    ))),
                ])),
                span: Span::default(),
            },
        );
        let (_, cg) = conv(2, true);
        let mut adjoints = vec![
            adjoint(E, &[], true, vec![]),
            // \bar z_k = \bar E · 2 z_k
            adjoint(
                Z,
                &["k"],
                false,
                vec![gather(
                    vec![],
                    vec![],
                    Expr::Mul(vec![adj(E, vec![]), Expr::Num(2.0), read(Z, vec![v("k")])]),
                )],
            ),
            // \bar x_k = \bar z_k h'(x_k)
            adjoint(
                X,
                &["k"],
                false,
                vec![gather(
                    vec![],
                    vec![],
                    mul(adj(Z, vec![v("k")]), hp(read(X, vec![v("k")]))),
                )],
            ),
        ];
        adjoints.extend(cg.adjoints.into_iter().skip(1));
        let g = Gradient {
            occurrences: Vec::new(),
            adjoints,
        };
        let y = vec![0.3, -0.7, 0.2, 0.9, -0.1];
        let w = vec![0.8, -0.4];
        let run = |y: &[f64], w: &[f64]| {
            evaluate(
                &p,
                &g,
                &data(&[("n", 5)], &[("y", y.to_vec()), ("w", w.to_vec())], &[]),
            )
            .unwrap()
        };
        let r = run(&y, &w);
        assert!(r.scalar.contains("E") && !r.scalar.contains("x"));
        assert_eq!(r.values.keys().collect::<Vec<_>>(), ["E", "x", "z"]);
        let e = r.values["E"][0];
        let want: f64 = (0..4)
            .map(|i| (w[0] * y[i] + w[1] * y[i + 1]).tanh().powi(2))
            .sum();
        close(&[e], &[want], 1e-12);
        let eps = 1e-6;
        for (name, base) in [("y", &y), ("w", &w)] {
            let fd: Vec<f64> = (0..base.len())
                .map(|k| {
                    let (mut up, mut dn) = (base.clone(), base.clone());
                    up[k] += eps;
                    dn[k] -= eps;
                    let (eu, ed) = if name == "y" {
                        (run(&up, &w).values["E"][0], run(&dn, &w).values["E"][0])
                    } else {
                        (run(&y, &up).values["E"][0], run(&y, &dn).values["E"][0])
                    };
                    (eu - ed) / (2.0 * eps)
                })
                .collect();
            close(&r.grads[name], &fd, 1e-7);
        }
        // A seed for the scalar output scales the gradient.
        let d = data(
            &[("n", 5)],
            &[("y", y.clone()), ("w", w.clone())],
            &[("E", vec![3.0])],
        );
        let r3 = evaluate(&p, &g, &d).unwrap();
        close(
            &r3.grads["w"],
            &r.grads["w"].iter().map(|x| 3.0 * x).collect::<Vec<_>>(),
            1e-12,
        );
    }

    /// Max pooling `x_i = \max_{a=0}^{1} y_{2i+a}`, `0 ≤ i ≤ \lfloor n/2
    /// \rfloor - 1`: the adjoint goes to the first maximum (ties included);
    /// the gather uses a stride condition and an exact division.
    #[test]
    fn max_pool_first_arg_max() {
        let p = program(
            &["n"],
            vec![
                tensor(
                    "y",
                    TensorKind::Leaf(DeclKind::Input),
                    &["i"],
                    vec![range(int(0), n().add_int(-1))],
                ),
                tensor("w", TensorKind::Leaf(DeclKind::Const), &[], vec![]),
                tensor(
                    "x",
                    TensorKind::Defined(0),
                    &["i"],
                    vec![range(int(0), n().floor_div(&int(2)).add_int(-1))],
                ),
            ],
            vec![stmt(
                X,
                &["i"],
                Expr::Reduce {
                    op: ReduceOp::Max,
                    var: "a".into(),
                    range: range(int(0), int(1)),
                    body: Box::new(read(Y, vec![v("i").scale(2).add(&v("a"))])),
                },
            )],
            vec![X],
        );
        // \bar y_j = Σ_{a=0}^{1} [2 | j-a] [0 ≤ (j-a)/2 ≤ ⌊n/2⌋-1]
        //            \bar x_{(j-a)/2} [a = argmax_b y_{j-a+b}]
        let q = v("j").sub(&v("a")).exact_div(&int(2));
        let ybar = gather(
            vec![("a", int(0), int(1))],
            vec![
                Cond::Divides {
                    den: int(2),
                    num: v("j").sub(&v("a")),
                },
                Cond::Within {
                    e: q.clone(),
                    lo: int(0),
                    hi: n().floor_div(&int(2)).add_int(-1),
                },
            ],
            mul(
                adj(X, vec![q.clone()]),
                Expr::Indicator(Box::new(Pred::FirstArgMax {
                    binders: vec![("b".into(), range(int(0), int(1)))],
                    body: read(Y, vec![q.scale(2).add(&v("b"))]),
                    at: vec![v("a")],
                })),
            ),
        );
        let g = Gradient {
            occurrences: Vec::new(),
            adjoints: vec![
                adjoint(X, &["k"], true, vec![]),
                adjoint(Y, &["j"], false, vec![ybar]),
            ],
        };
        let y = vec![1.0, 3.0, 5.0, 5.0, -2.0, -4.0, 7.0];
        let d = data(
            &[("n", 7)],
            &[("y", y), ("w", vec![0.0])],
            &[("x", vec![10.0, 20.0, 30.0])],
        );
        let r = evaluate(&p, &g, &d).unwrap();
        close(&r.values["x"], &[3.0, 5.0, -2.0], 0.0);
        close(&r.grads["y"], &[0.0, 10.0, 20.0, 0.0, 30.0, 0.0, 0.0], 0.0);
        assert!(!r.grads.contains_key("w"), "const leaves get no gradient");
    }

    #[test]
    fn builtins() {
        let p = program(
            &[],
            vec![tensor("u", TensorKind::Leaf(DeclKind::Input), &[], vec![])],
            vec![],
            vec![],
        );
        let layouts = vec![Layout::new(&p.tensors[0], &BTreeMap::new()).unwrap()];
        let sizes = BTreeMap::new();
        let pos = [None];
        let ev = |e: Expr, u: f64| {
            let mut c = Compiler::new(&p, &sizes, &layouts, Phase::Backward(0), &pos, "t");
            let ce = c.expr(&e).unwrap();
            let fault = Cell::new(false);
            let values = [u];
            let rt = Rt {
                values: &[&values[..]],
                adjoints: &[],
                fault: &fault,
            };
            ce.eval(&mut Env::new(c.nslots, c.nfslots), &rt)
        };
        let call = |b: Builtin, u: f64| ev(Expr::Call(Func::Builtin(b), vec![read(0, vec![])]), u);
        assert_eq!(call(Builtin::Relu, 0.0), 0.0);
        assert_eq!(call(Builtin::Relu, 2.5), 2.5);
        assert_eq!(call(Builtin::Sigma, 0.0), 0.5);
        assert!(
            (call(Builtin::Sigma, -800.0)).abs() < 1e-300 && call(Builtin::Sigma, 800.0) == 1.0
        );
        assert!((call(Builtin::Softplus, 0.0) - 2f64.ln()).abs() < 1e-15);
        assert_eq!(call(Builtin::Softplus, 1000.0), 1000.0);
        assert!(call(Builtin::Softplus, -1000.0) >= 0.0);
        assert!((call(Builtin::Sqrt, 2.0) - 2f64.sqrt()).abs() < 1e-15);
        assert!((call(Builtin::Log, 2.0) - 2f64.ln()).abs() < 1e-15);
        let max = Expr::Call(
            Func::Builtin(Builtin::Max),
            vec![read(0, vec![]), Expr::Num(1.0)],
        );
        assert_eq!(ev(max.clone(), 0.5), 1.0);
        assert_eq!(ev(max, 4.0), 4.0);
        let pow = |k: f64| Expr::Pow(Box::new(read(0, vec![])), k);
        assert_eq!(ev(pow(3.0), 2.0), 8.0);
        assert_eq!(ev(pow(-1.0), 4.0), 0.25);
        assert!((ev(pow(1.5), 4.0) - 8.0).abs() < 1e-12);
        // An empty \max is 0; \sum too.
        for op in [ReduceOp::Max, ReduceOp::Sum] {
            let e = Expr::Reduce {
                op,
                var: "a".into(),
                range: range(int(1), int(0)),
                body: Box::new(Expr::Num(5.0)),
            };
            assert_eq!(ev(e, 0.0), 0.0);
        }
        let e = Expr::Reduce {
            op: ReduceOp::Max,
            var: "a".into(),
            range: range(int(-3), int(2)),
            body: Box::new(Expr::Index(v("a").mul(&v("a")).neg())),
        };
        assert_eq!(ev(e, 0.0), 0.0);
        let ind = |pred: Pred| ev(Expr::Indicator(Box::new(pred)), 1.0);
        assert_eq!(ind(Pred::Gt(read(0, vec![]), Expr::Num(1.0))), 0.0);
        assert_eq!(ind(Pred::Ge(read(0, vec![]), Expr::Num(1.0))), 1.0);
    }

    #[test]
    fn multi_dimensional_layout_is_row_major() {
        // x_{c,i} = y_{c,i} · (10c + i) over 1 ≤ c ≤ 2, -1 ≤ i ≤ 1; ȳ = x̄·(10c+i)
        let dims = || vec![range(int(1), int(2)), range(int(-1), int(1))];
        let p = program(
            &[],
            vec![
                tensor("y", TensorKind::Leaf(DeclKind::Input), &["c", "i"], dims()),
                tensor("w", TensorKind::Leaf(DeclKind::Param), &[], vec![]),
                tensor("x", TensorKind::Defined(0), &["c", "i"], dims()),
            ],
            vec![stmt(
                X,
                &["c", "i"],
                mul(
                    read(Y, vec![v("c"), v("i")]),
                    Expr::Index(v("c").scale(10).add(&v("i"))),
                ),
            )],
            vec![X],
        );
        let g = Gradient {
            occurrences: Vec::new(),
            adjoints: vec![
                adjoint(X, &["p", "q"], true, vec![]),
                adjoint(
                    Y,
                    &["p", "q"],
                    false,
                    vec![gather(
                        vec![],
                        vec![],
                        mul(
                            adj(X, vec![v("p"), v("q")]),
                            Expr::Index(v("p").scale(10).add(&v("q"))),
                        ),
                    )],
                ),
            ],
        };
        let d = data(
            &[],
            &[("y", vec![1.0; 6]), ("w", vec![2.0])],
            &[("x", vec![1.0, 0.0, 0.0, 0.0, 0.0, 2.0])],
        );
        let r = evaluate(&p, &g, &d).unwrap();
        close(&r.values["x"], &[9.0, 10.0, 11.0, 19.0, 20.0, 21.0], 0.0);
        close(&r.grads["y"], &[9.0, 0.0, 0.0, 0.0, 0.0, 42.0], 0.0);
        assert_eq!(r.grads["w"], vec![0.0], "a leaf nothing reads gets zeros");
        assert!(r.scalar.contains("w"));
    }

    fn err(p: &Program, g: &Gradient, d: &Data) -> String {
        evaluate(p, g, d).unwrap_err().to_string()
    }

    /// A reduction far longer than any tensor is refused before it runs
    /// (10^11 terms ran for about an hour), with the estimate in the
    /// message; one within the budget runs.
    #[test]
    fn too_much_work_is_refused_up_front() {
        let m =
            crate::compile("input y_i, 0 \\le i < n\nx = \\max_{a=0}^{m} y_0\n").expect("compiles");
        let run = |len: i64| {
            let d = data(&[("n", 1), ("m", len)], &[("y", vec![2.0])], &[]);
            evaluate(&m.program, &m.gradient, &d)
        };
        let e = run(100_000_000_000).expect_err("refused").message;
        assert!(
            e.starts_with("these sizes need about 1.0e11 terms to evaluate the model"),
            "{e}"
        );
        assert_eq!(run(1000).expect("runs").values["x"], [2.0]);
    }

    #[test]
    fn data_errors_are_clear() {
        let (p, g) = conv(3, true);
        let good = || {
            data(
                &[("n", 6)],
                &[("y", vec![0.0; 6]), ("w", vec![0.0; 3])],
                &[("x", vec![0.0; 4])],
            )
        };
        assert!(evaluate(&p, &g, &good()).is_ok());
        let mut d = good();
        d.sizes.clear();
        assert_eq!(
            err(&p, &g, &d),
            "size `n` is missing from the data: add it under \"sizes\""
        );
        let mut d = good();
        d.sizes.insert("m".into(), 3);
        assert!(evaluate(&p, &g, &d).is_ok(), "an unused size is fine");
        let mut d = good();
        d.tensors.insert("w".into(), vec![0.0; 2]);
        assert_eq!(
            err(&p, &g, &d),
            "tensor `w` has 2 values, expected 3 (0 \\le a \\le 2)"
        );
        let mut d = good();
        d.tensors.remove("y");
        assert!(
            err(&p, &g, &d).contains("tensor `y` (input) is missing"),
            "{}",
            err(&p, &g, &d)
        );
        let mut d = good();
        d.tensors.insert("q".into(), vec![0.0]);
        assert!(err(&p, &g, &d).starts_with("unknown tensor `q`"));
        let mut d = good();
        d.tensors.insert("x".into(), vec![0.0; 4]);
        assert!(err(&p, &g, &d).contains("computed by the model"));
        let mut d = good();
        d.seeds.clear();
        assert!(err(&p, &g, &d).starts_with("the seed of output `x` is missing"));
        let mut d = good();
        d.seeds.insert("x".into(), vec![0.0; 5]);
        assert!(err(&p, &g, &d).starts_with("the seed of `x` has 5 values, expected 4"));
        let mut d = good();
        d.seeds.insert("w".into(), vec![0.0; 3]);
        assert!(err(&p, &g, &d).starts_with("seed for `w`, which is not an output"));
        // Sizes that leave the output empty: said so, not "add 0 values".
        let mut d = good();
        d.sizes.insert("n".into(), 2);
        d.tensors.insert("y".into(), vec![0.0; 2]);
        d.seeds.clear();
        assert!(
            err(&p, &g, &d).starts_with("the sizes leave output `x` with no elements"),
            "{}",
            err(&p, &g, &d)
        );
        d.seeds.insert("x".into(), Vec::new());
        assert!(
            evaluate(&p, &g, &d).is_ok(),
            "an empty output with its empty seed"
        );
        let mut d = good();
        d.sizes.insert("n".into(), 1);
        d.tensors.insert("y".into(), vec![0.0]);
        assert!(
            err(&p, &g, &d).contains("negative extent -1 in index `i`"),
            "{}",
            err(&p, &g, &d)
        );
        // A nesting that disagrees with the ranges, though the count
        // matches; the right one (one dimension here) is fine.
        let mut d = good();
        d.shapes.insert("y".into(), vec![2, 3]);
        assert_eq!(
            err(&p, &g, &d),
            "tensor `y` is nested as 2 x 3, but its ranges give 6 (0 \\le i \\le 5): nest it that way or give it flat, row-major"
        );
        let mut d = good();
        d.shapes.insert("seed x".into(), vec![2, 2]);
        assert!(err(&p, &g, &d)
            .starts_with("the seed of `x` is nested as 2 x 2, but its ranges give 4"));
        let mut d = good();
        d.shapes.insert("y".into(), vec![6]);
        assert!(evaluate(&p, &g, &d).is_ok());
        // Empty but not negative: fine.
        let mut d = good();
        d.sizes.insert("n".into(), 2);
        d.tensors.insert("y".into(), vec![0.0; 2]);
        d.seeds.insert("x".into(), vec![]);
        let r = evaluate(&p, &g, &d).unwrap();
        assert!(r.values["x"].is_empty() && r.grads["y"] == [0.0, 0.0]);
    }

    #[test]
    fn symbolic_function_and_stride_errors() {
        let (mut p, g) = conv(3, true);
        p.statements[0].rhs = Expr::Call(
            Func::User {
                name: "h".into(),
                prime: false,
            },
            vec![read(Y, vec![v("i")])],
        );
        let d = data(
            &[("n", 6)],
            &[("y", vec![0.0; 6]), ("w", vec![0.0; 3])],
            &[("x", vec![0.0; 4])],
        );
        assert_eq!(
            err(&p, &g, &d),
            "function `h` has no definition: add a line like `h(z) = \\tanh(z)`"
        );
        p.functions.insert(
            "h".into(),
            UserFn {
                name: "h".into(),
                param: "u".into(),
                body: None,
                derivative: None,
                span: Span::default(),
            },
        );
        assert_eq!(
            err(&p, &g, &d),
            "function `h` has no definition: add a line like `h(u) = \\tanh(u)`"
        );

        // x_i = y_{s i}, 0 ≤ i ≤ 1 with s = 0.
        let (mut p, g) = conv(3, true);
        p.sizes.push("s".into());
        p.statements[0].rhs = read(Y, vec![v("i").mul(&Poly::size("s"))]);
        let mut d = data(
            &[("n", 6), ("s", 0)],
            &[("y", vec![0.0; 6]), ("w", vec![0.0; 3])],
            &[("x", vec![0.0; 4])],
        );
        assert_eq!(
            err(&p, &g, &d),
            "the stride `s` of `i` in the index `s*i` of `y` is 0 with these sizes: strides must be positive"
        );
        // At the statement that reads with that stride.
        assert_eq!(
            evaluate(&p, &g, &d).err().and_then(|e| e.span),
            Some(p.statements[0].span)
        );
        d.sizes.insert("s".into(), 1);
        assert!(evaluate(&p, &g, &d).is_ok());
        // A floor division by a size.
        p.statements[0].rhs = read(Y, vec![v("i").floor_div(&Poly::size("s"))]);
        d.sizes.insert("s".into(), 0);
        assert!(
            err(&p, &g, &d).starts_with("division by 0 in the index expression"),
            "{}",
            err(&p, &g, &d)
        );
    }

    fn build_conv_data(len: usize, k: usize) -> Data {
        let y: Vec<f64> = (0..len)
            .map(|i| ((i * 7919) % 1000) as f64 / 1000.0 - 0.5)
            .collect();
        let w: Vec<f64> = (0..k).map(|a| 0.1 * a as f64 - 0.2).collect();
        let seed: Vec<f64> = (0..len + 1 - k)
            .map(|i| ((i * 31) % 17) as f64 / 17.0)
            .collect();
        data(&[("n", len as i64)], &[("y", y), ("w", w)], &[("x", seed)])
    }

    #[test]
    fn large_conv_matches_direct_loops() {
        let (len, k) = (1000, 5);
        let d = build_conv_data(len, k);
        let (p, g) = conv(k as i64, true);
        let r = evaluate(&p, &g, &d).unwrap();
        let (y, w, s) = (&d.tensors["y"], &d.tensors["w"], &d.seeds["x"]);
        let mut gy = vec![0.0; len];
        let mut gw = vec![0.0; k];
        for i in 0..=len - k {
            for a in 0..k {
                gy[i + a] += s[i] * w[a];
                gw[a] += s[i] * y[i + a];
            }
        }
        close(&r.grads["y"], &gy, 1e-12);
        close(&r.grads["w"], &gw, 1e-12);
    }

    /// `cargo test --release -p sharegrad-core eval::tests::timing -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn timing_conv1d_million() {
        let best_of = |f: &dyn Fn()| {
            (0..5)
                .map(|_| {
                    let t = std::time::Instant::now();
                    f();
                    t.elapsed()
                })
                .min()
                .unwrap_or_default()
        };
        for k in [3usize, 7] {
            for bounds_form in [true, false] {
                let d = build_conv_data(1_000_000, k);
                let (p, g) = conv(k as i64, bounds_form);
                let g0 = Gradient {
                    occurrences: Vec::new(),
                    adjoints: g.adjoints[..1].to_vec(),
                };
                let fwd = best_of(&|| drop(evaluate(&p, &g0, &d).unwrap()));
                let all = best_of(&|| drop(evaluate(&p, &g, &d).unwrap()));
                println!(
                    "conv1d n=1e6 K={k} {}: forward {fwd:?}, forward + backward {all:?}",
                    if bounds_form {
                        "max/min bounds"
                    } else {
                        "Within cond"
                    },
                );
            }
        }
    }
}
