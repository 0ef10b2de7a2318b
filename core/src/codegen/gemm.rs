//! GEMM lowering (opt-in: [`super::Options::gemm`]): contractions become
//! calls of `sharegrad_runtime::gemm` on strided views of the buffers.
//!
//! A term `X[v] += sum_{s} [conds] alpha * A[f(v, s)] * B[g(v, s)]` is a
//! matrix product for every fixed value of all but three of its variables
//! when it has
//!
//! - a row index `m`: a target index that enters one dimension of `A` with
//!   coefficient 1 and no dimension of `B`;
//! - a column index `n`: a target index that enters one dimension of `B`
//!   with coefficient 1 and no dimension of `A`;
//! - a summed index `k` that enters one dimension of each with coefficient 1
//!   and is not a target index,
//!
//! no two of them in one dimension, and every bound and condition that
//! mentions one of them mentions only that one, with coefficient ±1. Then
//! for fixed values of the other ("outer") variables the points of the term
//! form a box `[m0, m1] x [n0, n1] x [k0, k1]`, each of `X`, `A` and `B` is
//! a strided matrix over it (the row stride of `A` is the stride of the
//! dimension `m` enters, and so on), and the term is
//! `gemm(m1 - m0 + 1, n1 - n0 + 1, k1 - k0 + 1, alpha, A, B, X)`.
//! Zero-padded reads narrow the box (they are factors of the summand, so a
//! point outside them adds zero). A convolution's forward pass and both of
//! its gradients are such terms, the outer variables being the batch index,
//! one spatial index and the kernel taps: `C x K x W` products per row.
//!
//! Among several choices of `(m, n, k)` the one with the most long ranges
//! wins, then the one with the most unit strides (contiguous reads pack
//! fastest). The outer loops run with the long ones outside and the kernel
//! taps inside, so that consecutive calls read the same rows from cache. A
//! target whose row and column index are both strided in it (a weight
//! gradient `w[k, c, a, b]`) is accumulated in a scratch copy with them
//! last and added in at the end; on several threads such a nest is split
//! along its outermost sum, one scratch copy per thread, when the target's
//! first index is a matrix index (splitting it would shrink every call).
//! The terms of a target that do not
//! fit (a bias, a pointwise term) follow in row form; when they cannot take
//! the row form either, the whole target keeps the caller's nest.
//!
//! Per-row calls are small (`64 x 56 x 64` for the benchmark's conv2d) and
//! pay the GEMM's packing for little work; [`flat`] merges the row
//! index into the column index through zero-padded copies, so that each
//! image and tap is one call over the whole plane. Among choices of the
//! matrix indices with equally many long ranges, one that can merge wins;
//! when the best choice does not plan, the next one is tried.

mod flat;
mod wino;

use super::rows::{operands, Chunk};
use super::{all_of, as_slice, provably_nonneg, visit_expr, Gen, Level, Prec, Res};
use super::{RowInit, RowTerm};
use crate::ir::{Cond, Expr, Range, Read, Slot};
use crate::poly::Poly;

/// Where a variable enters a read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// In no dimension.
    Absent,
    /// In this dimension only, with coefficient 1.
    At(usize),
    /// Anywhere else (two dimensions, another coefficient).
    Other,
}

fn place(r: &Read, v: &str) -> Place {
    let dims: Vec<usize> = (0..r.index.len())
        .filter(|&d| r.index[d].mentions(v))
        .collect();
    match dims.as_slice() {
        [] => Place::Absent,
        [d] => match r.index[*d].linear_in(v) {
            Some((c, rest)) if c.as_const() == Some(1) && !rest.mentions(v) => Place::At(*d),
            _ => Place::Other,
        },
        _ => Place::Other,
    }
}

/// The three matrix indices and the operand order: `A` holds `m` and `k`,
/// `B` holds `k` and `n`.
struct Roles {
    m: String,
    n: String,
    k: String,
    /// `(dimension of m, dimension of k)` in `A`.
    a_dims: (usize, usize),
    /// `(dimension of k, dimension of n)` in `B`.
    b_dims: (usize, usize),
    a: Read,
    b: Read,
}

/// One term, lowered.
struct Plan {
    roles: Roles,
    /// The loops around the call, outermost first, with inclusive bounds.
    outer: Vec<(String, Poly, Poly)>,
    /// Conditions on the outer variables, at the depth where their
    /// variables are bound (0 = before the first loop).
    conds: Vec<(usize, Cond)>,
    /// Lower and upper bounds of `m`, `n`, `k` (their maximum and minimum).
    lowers: [Vec<Poly>; 3],
    uppers: [Vec<Poly>; 3],
    /// The scalar factors: sign and the factors that are not the reads.
    negative: bool,
    scalars: Vec<Expr>,
    /// An outer index merged into a matrix index, when one is.
    flat: Option<flat::Flat>,
}

/// A product split into its factors (see [`Gen::factors`]).
struct Factors {
    /// An odd number of negations.
    negative: bool,
    /// The reads of tensors with indices.
    reads: Vec<Read>,
    /// The other factors: no reads in them.
    scalars: Vec<Expr>,
    /// A read of an adjoint that is never computed: the product is zero.
    zero: bool,
}

/// The scalar of a call: the product of a term's other factors, negated
/// for an odd number of negations (1 when there are none).
fn alpha(negative: bool, scalars: &[Expr]) -> Expr {
    let e = match scalars {
        [] => Expr::Num(1.0),
        [x] => x.clone(),
        xs => Expr::Mul(xs.to_vec()),
    };
    if negative {
        Expr::Neg(Box::new(e))
    } else {
        e
    }
}

/// The factors of a product, with the sign of its negations.
pub(super) fn signed_factors<'e>(e: &'e Expr, negative: &mut bool, out: &mut Vec<&'e Expr>) {
    match e {
        Expr::Mul(xs) => {
            for x in xs {
                signed_factors(x, negative, out);
            }
        }
        Expr::Neg(x) => {
            *negative = !*negative;
            signed_factors(x, negative, out);
        }
        _ => out.push(e),
    }
}

/// True unless some lower and upper bound of `r` are a constant apart
/// (kernel taps: `max(0, p - H + 2) ..= min(p + 1, 2)`).
fn long(r: &Range) -> bool {
    let (los, his) = (operands(&r.lo, true), operands(&r.hi, false));
    !los.iter()
        .any(|l| his.iter().any(|h| h.sub(l).as_const().is_some()))
}

/// The loops with long ranges outside and short ones (kernel taps) inside,
/// each still after the loops its bounds read: consecutive calls then read
/// the same rows of the operands, which stay in cache.
fn long_loops_first(loops: Vec<(String, Poly, Poly)>) -> Vec<(String, Poly, Poly)> {
    let is_long = |(_, lo, hi): &(String, Poly, Poly)| {
        long(&Range {
            lo: lo.clone(),
            hi: hi.clone(),
        })
    };
    let names: Vec<String> = loops.iter().map(|l| l.0.clone()).collect();
    let (mut pending, short): (Vec<_>, Vec<_>) = loops.into_iter().partition(is_long);
    pending.extend(short);
    let mut out: Vec<(String, Poly, Poly)> = Vec::new();
    while !pending.is_empty() {
        let ready = |l: &(String, Poly, Poly)| {
            l.1.vars()
                .iter()
                .chain(l.2.vars().iter())
                .all(|v| !names.contains(v) || out.iter().any(|o| &o.0 == v))
        };
        // The given order is valid, so some loop is always ready.
        let k = pending.iter().position(ready).unwrap_or(0);
        out.push(pending.remove(k));
    }
    out
}

/// The stride of dimension `d` of a row-major tensor: the product of the
/// later dimensions' extents.
fn stride(dims: &[Range], d: usize) -> Poly {
    dims[d + 1..]
        .iter()
        .fold(Poly::int(1), |acc, r| acc.mul(&r.extent()))
}

impl<'m> Gen<'m> {
    /// The code adding `terms` into the target buffer `whole` (its indices
    /// `levels`) with the terms that fit lowered to GEMM calls, on up to
    /// `threads` threads: split by the target's first index (`chunk`, a
    /// thread's rows being the slice `part`), or, when that index is a
    /// matrix index of every call and a long sum is outermost, split along
    /// that sum, each thread adding into its own scratch copy. None when
    /// GEMM lowering is off or no term fits.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn gemm_nest(
        &mut self,
        tensor: usize,
        levels: &[Level],
        terms: &[RowTerm<'_>],
        whole: &str,
        part: &str,
        init: RowInit,
        chunk: Option<&Chunk>,
    ) -> Option<Res<String>> {
        if !self.gemm || levels.len() < 2 || levels.iter().any(|(_, _, c)| !c.is_empty()) {
            return None;
        }
        let mut plans = Vec::new();
        let mut rest = Vec::new();
        // Winograd first. On threads, a weight gradient's call splits its
        // images itself (the target stays whole); the other form's target
        // is split by its first index, which must not be a tap.
        let mut winos: Vec<(usize, wino::WinoPlan)> = terms
            .iter()
            .enumerate()
            .filter_map(|(t, term)| Some((t, self.wino_plan(tensor, levels, term)?)))
            .collect();
        let own_threads = chunk.is_some() && winos.iter().all(|(_, w)| w.own_threads());
        if chunk.is_some() && !own_threads {
            winos.retain(|(_, w)| Self::splits_by(w, &levels[0].0));
        }
        for (t, term) in terms.iter().enumerate() {
            if winos.iter().any(|(u, _)| *u == t) {
                continue;
            }
            match self.gemm_plan(tensor, levels, term) {
                Some(Some(plan)) => plans.push(plan),
                // A read of an adjoint that is never computed: zero.
                Some(None) => {}
                None => rest.push(RowTerm {
                    sums: term.sums.clone(),
                    conds: term.conds.clone(),
                    body: term.body,
                }),
            }
        }
        if plans.is_empty() && winos.is_empty() {
            return None;
        }
        let by_sum = chunk.is_some()
            && rest.is_empty()
            && (winos.is_empty() || own_threads)
            && plans.iter().all(|p| self.split_by_sum(tensor, levels, p));
        let (target, chunk) = if by_sum { (whole, None) } else { (part, chunk) };
        // The other terms (a bias, a pointwise term) in row form, after.
        let rest_lines = if rest.is_empty() {
            Vec::new()
        } else {
            match self.row_nest(tensor, levels, &rest, target, RowInit::Keep, chunk)? {
                Ok(l) => l,
                Err(e) => return Some(Err(e)),
            }
        };
        // Unblocked padded copies: filled once, before the threads.
        let mut prelude = Vec::new();
        for plan in plans
            .iter()
            .filter(|p| p.flat.as_ref().is_some_and(|f| !f.block))
        {
            let (alloc, fill) = self.flat_copies(plan);
            prelude.extend(alloc);
            prelude.extend(fill);
        }
        let mut lines = Vec::new();
        match init {
            RowInit::Keep => {}
            RowInit::Zero => lines.push(format!("{target}.fill({});", self.zero().text)),
            RowInit::Seed(seed) => lines.push(self.add_seed(tensor, &seed, target, chunk)),
        }
        for plan in &plans {
            match self.gemm_emit(tensor, levels, plan, target, chunk, by_sum) {
                Ok(l) => lines.extend(l),
                Err(e) => return Some(Err(e)),
            }
        }
        let threads = if by_sum { "threads" } else { "1" };
        for (_, plan) in &winos {
            match self.wino_emit(tensor, levels, plan, target, chunk, threads) {
                Ok(l) => lines.extend(l),
                Err(e) => return Some(Err(e)),
            }
        }
        lines.extend(rest_lines);
        let lines = lines.join(" ");
        let body = if by_sum {
            lines
        } else {
            self.in_threads(levels, chunk, whole, part, lines)
        };
        Some(Ok(if prelude.is_empty() {
            body
        } else {
            format!("{} {body}", prelude.join(" "))
        }))
    }

    /// `target += seed` over a whole target (or a chunk of its rows, the
    /// slice `target`): the statement that starts an output's adjoint.
    pub(super) fn add_seed(
        &mut self,
        tensor: usize,
        seed: &str,
        target: &str,
        chunk: Option<&Chunk>,
    ) -> String {
        let dims = &self.p.tensors[tensor].dims;
        let mut index: Vec<Poly> = dims.iter().map(|d| d.lo.clone()).collect();
        if let Some(ch) = chunk {
            index[0] = index[0].add(&Poly::var(&ch.first));
        }
        let off = self.offset_i64(&Read {
            tensor,
            slot: Slot::Value,
            index,
        });
        let (o, s) = (self.fresh("o"), self.fresh("s"));
        let from = if off.text == "0" {
            String::new()
        } else {
            off.as_usize()
        };
        format!("for ({o}, {s}) in {target}.iter_mut().zip(&{seed}[{from}..]) {{ *{o} += *{s}; }}")
    }

    /// The dimensions of the row and column index in the target, and
    /// whether the calls go through a scratch copy: when neither is
    /// contiguous (a weight gradient `w[k, c, a, b]`, taps last) every call
    /// would touch one cache line per element of C.
    fn target_dims(&self, tensor: usize, levels: &[Level], plan: &Plan) -> (usize, usize, bool) {
        let at = |v: &str| levels.iter().position(|(n, _, _)| n == v);
        let (dm, dn) = (
            at(&plan.roles.m).expect("m is a target index"),
            at(&plan.roles.n).expect("n is a target index"),
        );
        let dims = &self.p.tensors[tensor].dims;
        let unit = |d: usize| stride(dims, d).as_const() == Some(1);
        (dm, dn, !unit(dm) && !unit(dn))
    }

    /// True when `plan` is better split across threads along its outermost
    /// loop, a sum with constant bounds, than by the target's first index,
    /// which is a matrix index of its calls (each thread would make all the
    /// calls, smaller) and goes through a scratch copy anyway.
    fn split_by_sum(&self, tensor: usize, levels: &[Level], plan: &Plan) -> bool {
        let (dm, dn, scratch) = self.target_dims(tensor, levels, plan);
        let first_is_matrix = dm == 0 || dn == 0;
        let sum_first = plan.outer.first().is_some_and(|(v, lo, hi)| {
            levels.iter().all(|(n, _, _)| n != v) && lo.vars().is_empty() && hi.vars().is_empty()
        });
        scratch && first_is_matrix && sum_first
    }

    /// A term's factors; None when one that is not a plain read holds a
    /// read (a reduction, an indicator, a read inside a function).
    fn factors(&mut self, body: &Expr) -> Option<Factors> {
        let mut negative = false;
        let mut fs = Vec::new();
        signed_factors(body, &mut negative, &mut fs);
        let mut out = Factors {
            negative,
            reads: Vec::new(),
            scalars: Vec::new(),
            zero: false,
        };
        for f in fs {
            match f {
                Expr::Read(r) if self.buffer(r).is_none() => out.zero = true,
                Expr::Read(r) if !r.index.is_empty() => out.reads.push(r.clone()),
                _ => {
                    let mut plain = true;
                    visit_expr(f, &mut |x| {
                        if matches!(x, Expr::Read(_) | Expr::Reduce { .. } | Expr::Indicator(_)) {
                            plain = false;
                        }
                    });
                    if !plain {
                        return None;
                    }
                    out.scalars.push(f.clone());
                }
            }
        }
        Some(out)
    }

    /// Analyses one term: `None` when it does not fit, `Some(None)` when it
    /// is zero (reads an adjoint that is not computed).
    fn gemm_plan(
        &mut self,
        tensor: usize,
        levels: &[Level],
        term: &RowTerm<'_>,
    ) -> Option<Option<Plan>> {
        let Factors {
            negative,
            reads,
            scalars,
            zero,
        } = self.factors(term.body)?;
        if zero {
            return Some(None);
        }
        let [r0, r1] = <[Read; 2]>::try_from(reads).ok()?;
        let targets: Vec<(&str, &Range)> = levels.iter().map(|(v, r, _)| (v.as_str(), r)).collect();
        let sums: Vec<(&str, &Range)> = term
            .sums
            .iter()
            .map(|s| (s.var.as_str(), &s.range))
            .collect();
        // The best choice of matrix indices that plans, among those with
        // as many long ranges as the best.
        let candidates = self.choose_roles(&targets, &sums, &r0, &r1);
        let longest = candidates.first().map(|(s, _)| s / 10)?;
        for (score, roles) in candidates {
            if score / 10 < longest {
                break;
            }
            if let Some(plan) = self.plan_roles(tensor, levels, term, roles, negative, &scalars) {
                return Some(Some(plan));
            }
        }
        None
    }

    /// The plan of one term for one choice of matrix indices.
    fn plan_roles(
        &mut self,
        tensor: usize,
        levels: &[Level],
        term: &RowTerm<'_>,
        roles: Roles,
        negative: bool,
        scalars: &[Expr],
    ) -> Option<Plan> {
        let gemm_vars = [roles.m.as_str(), roles.n.as_str(), roles.k.as_str()];
        if scalars
            .iter()
            .any(|s| gemm_vars.iter().any(|v| expr_mentions(s, v)))
        {
            return None;
        }
        let which =
            |p: &Poly| -> Vec<usize> { (0..3).filter(|&i| p.mentions(gemm_vars[i])).collect() };

        // The outer loops: target indices, then the remaining sums.
        let mut outer: Vec<(String, Poly, Poly)> = Vec::new();
        let mut lowers: [Vec<Poly>; 3] = Default::default();
        let mut uppers: [Vec<Poly>; 3] = Default::default();
        // `g >= 0` for a constraint on one matrix index; false when it
        // mentions two or one with a coefficient other than ±1.
        let bound = |g: &Poly, lowers: &mut [Vec<Poly>; 3], uppers: &mut [Vec<Poly>; 3]| -> bool {
            let w = which(g);
            let [i] = w.as_slice() else { return false };
            let Some((c, r)) = g.linear_in(gemm_vars[*i]) else {
                return false;
            };
            if !which(&r).is_empty() {
                return false;
            }
            match c.as_const() {
                Some(1) => lowers[*i].push(r.neg()),
                Some(-1) => uppers[*i].push(r),
                _ => return false,
            }
            true
        };
        for (v, r, _) in levels {
            match gemm_vars.iter().position(|g| g == v) {
                Some(i) => {
                    lowers[i].push(r.lo.clone());
                    uppers[i].push(r.hi.clone());
                }
                None => outer.push((v.clone(), r.lo.clone(), r.hi.clone())),
            }
        }
        let level_range = |v: &str| levels.iter().find(|(n, _, _)| n == v).map(|(_, r, _)| r);
        for s in &term.sums {
            let sv = Poly::var(&s.var);
            let is_k = s.var == roles.k;
            let mut lo = None::<Poly>;
            let mut hi = None::<Poly>;
            for (b, lower) in [(&s.range.lo, true), (&s.range.hi, false)] {
                for op in operands(b, lower) {
                    let g = if lower { sv.sub(&op) } else { op.sub(&sv) };
                    let touches = !which(&op).is_empty();
                    if (is_k || touches) && !bound(&g, &mut lowers, &mut uppers) {
                        return None;
                    }
                    if is_k {
                        continue;
                    }
                    // An outer sum's own bound: the operand, or, when it
                    // depends on a target matrix index, its weakest value
                    // over that index's range (a relaxation; the box is
                    // exact).
                    let op = if touches {
                        let [i] = which(&op)[..] else { return None };
                        let u = gemm_vars[i];
                        let ur = level_range(u)?;
                        let (c, rest) = op.linear_in(u)?;
                        let c = c.as_const()?;
                        let pick = if (c > 0) == lower { &ur.lo } else { &ur.hi };
                        rest.add(&pick.scale(c))
                    } else {
                        op
                    };
                    let slot = if lower { &mut lo } else { &mut hi };
                    *slot = Some(match slot.take() {
                        None => op,
                        Some(q) if lower => q.max_of(&op),
                        Some(q) => q.min_of(&op),
                    });
                }
            }
            if !is_k {
                outer.push((s.var.clone(), lo?, hi?));
            }
        }
        let outer = long_loops_first(outer);
        let depth = |p: &Poly, outer: &[(String, Poly, Poly)]| -> usize {
            p.vars()
                .iter()
                .filter_map(|x| outer.iter().position(|(n, _, _)| n == x))
                .map(|k| k + 1)
                .max()
                .unwrap_or(0)
        };
        let mut conds = Vec::new();
        let mut within = |e: &Poly, lo: &Poly, hi: &Poly, conds: &mut Vec<(usize, Cond)>| -> bool {
            let (g1, g2) = (e.sub(lo), hi.sub(e));
            if which(&g1).is_empty() && which(&g2).is_empty() {
                let d = depth(&g1, &outer).max(depth(&g2, &outer));
                conds.push((
                    d,
                    Cond::Within {
                        e: e.clone(),
                        lo: lo.clone(),
                        hi: hi.clone(),
                    },
                ));
                return true;
            }
            bound(&g1, &mut lowers, &mut uppers) && bound(&g2, &mut lowers, &mut uppers)
        };
        for c in &term.conds {
            match c {
                Cond::Divides { den, num } => {
                    if !which(den).is_empty() || !which(num).is_empty() {
                        return None;
                    }
                    let d = depth(den, &outer).max(depth(num, &outer));
                    conds.push((d, c.clone()));
                }
                Cond::Within { e, lo, hi } => {
                    if !within(e, lo, hi, &mut conds) {
                        return None;
                    }
                }
            }
        }
        // Zero padding: each read's index within its dimension.
        let mut scope = self.enclosing.clone();
        scope.extend(levels.iter().map(|(n, r, _)| (n.clone(), r.clone())));
        scope.extend(term.sums.iter().map(|s| (s.var.clone(), s.range.clone())));
        for r in [&roles.a, &roles.b] {
            let dims = self.p.tensors[r.tensor].dims.clone();
            for (ix, d) in r.index.iter().zip(&dims) {
                let in_range = provably_nonneg(&ix.sub(&d.lo), &scope)
                    && provably_nonneg(&d.hi.sub(ix), &scope);
                if !in_range && !within(ix, &d.lo, &d.hi, &mut conds) {
                    return None;
                }
            }
        }
        let mut plan = Plan {
            roles,
            outer,
            conds,
            lowers,
            uppers,
            negative,
            scalars: scalars.to_vec(),
            flat: None,
        };
        let sums: Vec<(String, Range)> = term
            .sums
            .iter()
            .map(|s| (s.var.clone(), s.range.clone()))
            .collect();
        self.flatten(tensor, levels, &sums, &mut plan);
        Some(plan)
    }

    /// The `(m, n, k)` with the most long ranges, then the most unit
    /// strides, among those that fit.
    fn choose_roles(
        &self,
        targets: &[(&str, &Range)],
        sums: &[(&str, &Range)],
        r0: &Read,
        r1: &Read,
    ) -> Vec<(usize, Roles)> {
        let mut all: Vec<(usize, Roles)> = Vec::new();
        for (a, b) in [(r0, r1), (r1, r0)] {
            let (na, nb) = (a.index.len(), b.index.len());
            for &(m, mr) in targets {
                let (Place::At(am), Place::Absent) = (place(a, m), place(b, m)) else {
                    continue;
                };
                for &(n, nr) in targets {
                    let (Place::Absent, Place::At(bn)) = (place(a, n), place(b, n)) else {
                        continue;
                    };
                    for &(k, kr) in sums {
                        let (Place::At(ak), Place::At(bk)) = (place(a, k), place(b, k)) else {
                            continue;
                        };
                        // One matrix index per dimension.
                        if am == ak || bk == bn {
                            continue;
                        }
                        let last = targets.last().map(|(v, _)| *v);
                        let last_t = last == Some(n) || last == Some(m);
                        // A row or column index that can merge with the
                        // target index before it (one call per plane).
                        let before = |u: &str| {
                            let d = targets.iter().position(|(t, _)| *t == u)?;
                            (d >= 2).then(|| targets[d - 1].0)
                        };
                        let merges = |u: &str, holder: &Read, other: &Read| {
                            before(u).is_some_and(|v| {
                                flat::pair(holder, v, u, &[m, n, k]).is_some()
                                    && place(other, v) == Place::Absent
                            })
                        };
                        let mergeable = merges(m, a, b) || merges(n, b, a);
                        let score = 10 * [mr, nr, kr].into_iter().filter(|r| long(r)).count()
                            + usize::from(ak + 1 == na)
                            + usize::from(bk + 1 == nb)
                            + usize::from(bn + 1 == nb)
                            + usize::from(am + 1 == na)
                            + usize::from(last_t)
                            + 5 * usize::from(mergeable);
                        all.push((
                            score,
                            Roles {
                                m: m.to_string(),
                                n: n.to_string(),
                                k: k.to_string(),
                                a_dims: (am, ak),
                                b_dims: (bk, bn),
                                a: a.clone(),
                                b: b.clone(),
                            },
                        ));
                    }
                }
            }
        }
        // Best first; among equals, the first found.
        all.sort_by_key(|c| std::cmp::Reverse(c.0));
        all
    }

    /// The loops and the call of one plan.
    fn gemm_emit(
        &mut self,
        tensor: usize,
        levels: &[Level],
        plan: &Plan,
        target: &str,
        chunk: Option<&Chunk>,
        by_sum: bool,
    ) -> Res<Vec<String>> {
        self.helpers.insert("dim");
        let r = &plan.roles;
        let names = [r.m.as_str(), r.n.as_str(), r.k.as_str()];
        let mut body = Vec::new();
        // The box.
        let mut lo_names = Vec::new();
        let mut sizes = Vec::new();
        let mut nonempty = Vec::new();
        let flat = plan.flat.as_ref();
        for (i, name) in names.iter().enumerate() {
            if let Some(f) = flat.filter(|f| f.role == i) {
                // The merged index: rows v0..=v1 of width R, from u0 in the
                // first to u1 in the last.
                let l = self.fresh(&format!("{}_lo", names[i]));
                let u0 = self.poly(&f.u0);
                let (rows, width) = (self.poly(&f.v1.sub(&f.v0)), self.poly(&f.width));
                let last = self.poly(&f.u1.sub(&f.u0).add_int(1));
                let len = format!(
                    "{} * {} + {}",
                    rows.at(Prec::Mul),
                    width.at(Prec::Unary),
                    last.at(Prec::Mul)
                );
                body.push(format!("let {l} = {};", u0.text));
                for e in [f.v1.sub(&f.v0).add_int(1), f.u1.sub(&f.u0).add_int(1)] {
                    if e.as_const().is_none_or(|c| c <= 0) {
                        let e = self.poly(&e);
                        nonempty.push(format!("{} > 0", e.at(Prec::Add)));
                    }
                }
                sizes.push(format!("dim({len})"));
                lo_names.push(l);
                continue;
            }
            let mut lowers = plan.lowers[i].clone();
            let mut uppers = plan.uppers[i].clone();
            // A thread's rows of the target's first index.
            if let (Some(ch), true) = (chunk, levels[0].0 == *name) {
                let cr = ch.range(&levels[0].1);
                lowers.push(cr.lo);
                uppers.push(cr.hi);
            }
            let lo = lowers
                .iter()
                .skip(1)
                .fold(lowers[0].clone(), |a, b| a.max_of(b));
            let hi = uppers
                .iter()
                .skip(1)
                .fold(uppers[0].clone(), |a, b| a.min_of(b));
            let (l, h) = (
                self.fresh(&format!("{}_lo", names[i])),
                self.fresh(&format!("{}_hi", names[i])),
            );
            let (lc, hc) = (self.poly(&lo), self.poly(&hi));
            body.push(format!("let {l} = {}; let {h} = {};", lc.text, hc.text));
            nonempty.push(format!("{l} <= {h}"));
            sizes.push(format!("dim({h} - {l} + 1)"));
            lo_names.push(l);
        }
        // Offsets of the box's first element in each operand.
        let at_lo = |p: &Poly| -> Poly {
            let mut q = p.clone();
            for i in 0..3 {
                q = q.substitute(names[i], &Poly::var(&lo_names[i]));
            }
            match flat {
                Some(f) => q.substitute(&f.v, &f.v0),
                None => q,
            }
        };
        // A read's view in its own buffer, or in its padded copy (operand
        // `z` of a flattened plan).
        let view = |g: &mut Gen<'m>, read: &Read, rows: usize, cols: usize, z: Option<usize>| {
            if let Some((_, layout)) = z.and_then(|z| flat?.padded[z].as_ref()) {
                let index: Vec<Poly> = read.index.iter().map(at_lo).collect();
                let off = g.layout_offset(&index, layout);
                let rs = g.layout_product(layout, rows + 1);
                let cs = g.layout_product(layout, cols + 1);
                return format!("[{}, {}, {}]", off.as_usize(), rs.as_usize(), cs.as_usize());
            }
            let dims = g.p.tensors[read.tensor].dims.clone();
            let moved = Read {
                tensor: read.tensor,
                slot: read.slot,
                index: read.index.iter().map(at_lo).collect(),
            };
            let off = g.offset_i64(&moved);
            let (rs, cs) = (g.poly(&stride(&dims, rows)), g.poly(&stride(&dims, cols)));
            format!("[{}, {}, {}]", off.as_usize(), rs.as_usize(), cs.as_usize())
        };
        let av = view(self, &r.a, r.a_dims.0, r.a_dims.1, Some(0));
        let bv = view(self, &r.b, r.b_dims.0, r.b_dims.1, Some(1));
        let (dm, dn, scratch) = self.target_dims(tensor, levels, plan);
        let scratch = scratch.then(|| self.fresh("scratch"));
        // A target holding the merged index: a scratch copy of row width R.
        let wide = flat.and_then(|f| {
            let du = f.target?;
            let layout: Vec<(Poly, Poly)> = levels
                .iter()
                .enumerate()
                .map(|(d, (x, r, _))| match chunk {
                    _ if d == 0 && f.block => (Poly::var(x), Poly::int(1)),
                    Some(ch) if d == 0 => (ch.range(r).lo, Poly::var(&ch.count)),
                    _ if d == du => (f.u0.clone(), f.width.clone()),
                    _ => (r.lo.clone(), r.extent()),
                })
                .collect();
            Some((self.fresh("wide"), layout))
        });
        let (c_buf, cv) = match (&scratch, &wide) {
            (_, Some((name, layout))) => {
                let index: Vec<Poly> = levels
                    .iter()
                    .map(|(v, _, _)| at_lo(&Poly::var(v)))
                    .collect();
                let off = self.layout_offset(&index, layout);
                let rs = self.layout_product(layout, dm + 1);
                let cs = self.layout_product(layout, dn + 1);
                (
                    format!("&mut {name}[..]"),
                    format!("[{}, {}, {}]", off.as_usize(), rs.as_usize(), cs.as_usize()),
                )
            }
            (None, None) => (
                format!("&mut {target}[..]"),
                view(
                    self,
                    &Read {
                        tensor,
                        slot: Slot::Value,
                        // Relative to the chunk's first row.
                        index: chunk_relative(levels, chunk),
                    },
                    dm,
                    dn,
                    None,
                ),
            ),
            (Some(sc), None) => {
                let layout = scratch_layout(levels, chunk, dm, dn);
                let index: Vec<Poly> = layout
                    .iter()
                    .map(|(v, lo, _)| match names.iter().position(|n| n == v) {
                        Some(i) => Poly::var(&lo_names[i]).sub(lo),
                        None => Poly::var(v).sub(lo),
                    })
                    .collect();
                let off = self.poly(&horner(&index, &layout));
                let n_ext = self.poly(&layout[layout.len() - 1].2);
                (
                    format!("&mut {sc}[..]"),
                    format!("[{}, {}, 1]", off.as_usize(), n_ext.as_usize()),
                )
            }
        };
        let mut pre = Vec::new();
        let alpha = self.expr(&alpha(plan.negative, &plan.scalars), None, &mut pre)?;
        let operand =
            |g: &mut Gen<'m>, read: &Read| as_slice(&g.buffer(read).expect("a computed buffer"));
        let (mut a_buf, mut b_buf) = (operand(self, &r.a), operand(self, &r.b));
        for (z, buf) in [&mut a_buf, &mut b_buf].into_iter().enumerate() {
            if let Some((name, _)) = flat.and_then(|f| f.padded[z].as_ref()) {
                *buf = format!("&{name}[..]");
            }
        }
        body.extend(pre);
        self.gemm_used = true;
        body.push(format!(
            "if {} {{ {}::gemm({}, {}, {}, {}, {a_buf}, {av}, {b_buf}, {bv}, {c_buf}, {cv}); }}",
            all_of(&nonempty),
            self.runtime,
            sizes[0],
            sizes[1],
            sizes[2],
            alpha.text
        ));
        // The outer loops (the chunk's rows of the target's first index)
        // and their conditions.
        let mut loops = plan.outer.clone();
        if let Some(ch) = chunk {
            for (v, lo, hi) in &mut loops {
                if *v == levels[0].0 {
                    let cr = ch.range(&levels[0].1);
                    (*lo, *hi) = (cr.lo, cr.hi);
                }
            }
        }
        // A thread's part of the outermost sum.
        let split = by_sum.then(|| (self.fresh("first"), self.fresh("count")));
        let mut extent = None;
        if let Some((first, count)) = &split {
            let (_, lo, hi) = &mut loops[0];
            extent = Some(self.extent_usize(lo, hi));
            *lo = lo.add(&Poly::var(first));
            *hi = lo.add(&Poly::var(count)).add_int(-1);
        }
        let blocked = flat.is_some_and(|f| f.block);
        let lines = if blocked {
            // Copies filled, scratch zeroed and added in per iteration of
            // the outermost loop.
            let (alloc, fill) = self.flat_copies(plan);
            let inner: Vec<(usize, Cond)> = plan
                .conds
                .iter()
                .filter(|(d, _)| *d >= 1)
                .map(|(d, c)| (d - 1, c.clone()))
                .collect();
            let outer: Vec<(usize, Cond)> = plan
                .conds
                .iter()
                .filter(|(d, _)| *d == 0)
                .cloned()
                .collect();
            let mut each = fill;
            let mut lines = self.wrap_loops(&loops[1..], &inner, loops.len() - 1, body);
            if let Some((name, layout)) = &wide {
                each.push(format!("{name}.fill({});", self.zero().text));
                lines = self.wide_add(tensor, levels, chunk, target, name, layout, true, lines);
            }
            each.extend(lines);
            let mut out = alloc;
            if let Some((name, layout)) = &wide {
                out.push(self.zeroed(name, layout));
            }
            out.extend(self.wrap_loops(&loops[..1], &outer, 1, each));
            out
        } else {
            self.wrap_loops(&loops, &plan.conds, loops.len(), body)
        };
        if let Some((name, layout)) = &wide {
            if blocked {
                return Ok(lines);
            }
            let mut out = vec![self.zeroed(name, layout)];
            out.extend(self.wide_add(tensor, levels, chunk, target, name, layout, false, lines));
            return Ok(out);
        }
        let Some(sc) = scratch else { return Ok(lines) };
        // The scratch rows, zeroed before and added into the target after.
        let layout = scratch_layout(levels, chunk, dm, dn);
        let len = self.poly(&layout.iter().fold(Poly::int(1), |a, (_, _, e)| a.mul(e)));
        let alloc = format!(
            "let mut {sc} = ::std::vec![{}; dim({})];",
            self.zero().text,
            len.text
        );
        let mut out = Vec::new();
        let parts = self.fresh("parts");
        match (&split, extent) {
            (Some((first, count)), Some(extent)) => {
                self.helpers.insert("split_sum");
                out.push(format!(
                    "let {parts} = split_sum({}, threads, |{first}: usize, {count}: usize| {{ let {first} = {first} as i64; let {count} = {count} as i64; {alloc} {} {sc} }});",
                    extent.text,
                    lines.join(" ")
                ));
            }
            _ => {
                out.push(alloc);
                out.extend(lines);
            }
        }
        let o = self.fresh("o");
        let toff = self.offset_i64(&Read {
            tensor,
            slot: Slot::Value,
            index: chunk_relative(levels, chunk),
        });
        let mut add = vec![format!(
            "{target}[{} as usize] += {sc}[{o}]; {o} += 1;",
            toff.at(Prec::Unary)
        )];
        for (v, lo, ext) in layout.iter().rev() {
            add = vec![self.for_loop(v, lo, &lo.add(ext).add_int(-1), &add)];
        }
        let add = format!("let mut {o} = 0usize; {}", add.join(" "));
        out.push(if split.is_some() {
            format!("for {sc} in {parts} {{ {add} }}")
        } else {
            add
        });
        Ok(out)
    }

    /// `lines` (the calls into a flattened plan's scratch target), then its
    /// columns within the target added in; a blocked scratch holds the
    /// current slice of the first index only.
    #[allow(clippy::too_many_arguments)]
    fn wide_add(
        &mut self,
        tensor: usize,
        levels: &[Level],
        chunk: Option<&Chunk>,
        target: &str,
        name: &str,
        layout: &[(Poly, Poly)],
        blocked: bool,
        lines: Vec<String>,
    ) -> Vec<String> {
        let mut out = lines;
        // Row by row along the last index, contiguous in both.
        let last = levels.len() - 1;
        let mut index = chunk_relative(levels, chunk);
        index[last] = levels[last].1.lo.clone();
        let toff = self.offset_i64(&Read {
            tensor,
            slot: Slot::Value,
            index,
        });
        let mut windex: Vec<Poly> = levels.iter().map(|(v, _, _)| Poly::var(v)).collect();
        windex[last] = levels[last].1.lo.clone();
        let woff = self.layout_offset(&windex, layout);
        let row = self.poly(&levels[last].1.extent());
        let (t, w, o, x) = (
            self.fresh("t"),
            self.fresh("w"),
            self.fresh("o"),
            self.fresh("x"),
        );
        let mut add = vec![format!(
            "let {t} = {}; let {w} = {}; for ({o}, {x}) in {target}[{t}..{t} + dim({})].iter_mut().zip(&{name}[{w}..{w} + dim({})]) {{ *{o} += *{x}; }}",
            toff.as_usize(),
            woff.as_usize(),
            row.text,
            row.text
        )];
        for (d, (v, r, _)) in levels.iter().enumerate().take(last).rev() {
            if blocked && d == 0 {
                continue;
            }
            let r = match chunk {
                Some(ch) if d == 0 => ch.range(r),
                _ => r.clone(),
            };
            add = vec![self.for_loop(v, &r.lo, &r.hi, &add)];
        }
        out.extend(add);
        out
    }
}

/// The target's element at its loop indices, the first one counted from the
/// chunk's first row (the slice a thread writes).
fn chunk_relative(levels: &[Level], chunk: Option<&Chunk>) -> Vec<Poly> {
    let mut index: Vec<Poly> = levels.iter().map(|(v, _, _)| Poly::var(v)).collect();
    if let Some(ch) = chunk {
        index[0] = index[0].sub(&Poly::var(&ch.first));
    }
    index
}

/// The scratch copy of a target's rows: its indices with the matrix
/// indices (dimensions `dm`, `dn`) moved last, each with its first value
/// and extent (the first index over the chunk's rows).
fn scratch_layout(
    levels: &[Level],
    chunk: Option<&Chunk>,
    dm: usize,
    dn: usize,
) -> Vec<(String, Poly, Poly)> {
    let dim = |d: usize| {
        let (v, r, _) = &levels[d];
        match chunk {
            Some(ch) if d == 0 => {
                let cr = ch.range(r);
                (v.clone(), cr.lo, Poly::var(&ch.count))
            }
            _ => (v.clone(), r.lo.clone(), r.extent()),
        }
    };
    let mut out: Vec<_> = (0..levels.len())
        .filter(|&d| d != dm && d != dn)
        .map(dim)
        .collect();
    out.push(dim(dm));
    out.push(dim(dn));
    out
}

/// The row-major offset `((i0 * e1 + i1) * e2 + i2)` of zero-based indices
/// with extents `layout[_].2`.
fn horner(index: &[Poly], layout: &[(String, Poly, Poly)]) -> Poly {
    index
        .iter()
        .zip(layout)
        .fold(Poly::zero(), |acc, (i, (_, _, e))| acc.mul(e).add(i))
}

/// True when `e` mentions the index variable `v`.
pub(super) fn expr_mentions(e: &Expr, v: &str) -> bool {
    let mut found = false;
    visit_expr(e, &mut |x| {
        if let Expr::Index(p) = x {
            found |= p.mentions(v);
        }
    });
    found
}
