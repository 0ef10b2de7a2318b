//! Row form: loop nests whose innermost loop runs along the target's last
//! (contiguous) index.
//!
//! A target point `X[v1, ..., vn]` sums its terms over their remaining
//! sums. When the last index `vn` only enters the sums' bounds, the
//! conditions and the reads with coefficient ±1 (and the reads it enters are
//! contiguous in it), the loops can be interchanged: the outer target
//! indices stay outermost, then each term's sums, and innermost a loop over
//! a segment of the target row,
//!
//! ```text
//! for s in ... { for t in 0..n { row[t] += a[t] * b[t] * w } }
//! ```
//!
//! with every row-dependent read sliced to the segment before the loop (so
//! the loop carries no bound test and no index arithmetic, and vectorises)
//! and every read that does not depend on `vn` read once before it. The
//! segment's limits are exact: each bound of a sum that mentions `vn` is
//! split by Fourier–Motzkin elimination into a bound on `vn` (inside) and a
//! projected bound on the sum (outside); zero-padded reads that are factors
//! of the summand narrow the segment instead of being tested per element.
//! Every target element is still written only by its own row, so the nest
//! stays in gather form.
//!
//! Two refinements use the same analysis. When a term's innermost sum is
//! long and the segment does not depend on it, that sum moves inside the
//! segment loop, which then runs over tiles of 32 and 8 elements held in
//! registers across the sum, its reads stepping by a constant offset
//! ([`Gen::row_tiles`]). And a long inner sum of an element-by-element nest
//! is itself treated as a row to reduce: its reads are sliced, its limits
//! absorb the zero-padded factors, and it sums in chunks of eight lanes
//! ([`Gen::reduce_nest`]).

use super::{all_of, provably_nonneg, read_key, visit_expr, Code, Gen, Level, Prec, ReadKey, Res};
use crate::ir::{Cond, Expr, Pred, Range, Read, ReduceOp, Slot, SumVar};
use crate::poly::{Atom, Poly};
use std::collections::{BTreeMap, BTreeSet};

/// One term of a target point: `sum_{sums} [conds] body`.
pub(super) struct RowTerm<'e> {
    pub sums: Vec<SumVar>,
    pub conds: Vec<Cond>,
    pub body: &'e Expr,
}

/// What a target row holds before the terms are added.
#[derive(Clone)]
pub(super) enum RowInit {
    /// Add into what is there (gradients and adjoint buffers).
    Keep,
    /// Add the seed row of this buffer first.
    Seed(String),
    /// Overwrite: zero the row first (forward values).
    Zero,
}

/// What the loop along the row does with the summand.
#[derive(Clone, Copy)]
enum Mode<'a> {
    /// Adds it into (or, when `assign`, stores it in) the target row.
    Write {
        row: &'a str,
        row_len: &'a str,
        assign: bool,
    },
    /// Sums it into the scalar `acc` (the row is a long inner sum).
    Reduce { acc: &'a str },
}

/// The rows `first .. first + count` of a target's first index that one
/// thread computes (names of `i64` variables in the generated code).
pub(super) struct Chunk {
    pub first: String,
    pub count: String,
}

impl Chunk {
    /// The chunk's part of the first index's range.
    pub fn range(&self, r: &Range) -> Range {
        let lo = r.lo.add(&Poly::var(&self.first));
        Range {
            hi: lo.add(&Poly::var(&self.count)).add_int(-1),
            lo,
        }
    }
}

/// Statements around a loop whose reads step through memory: before it,
/// in its body, and at the end of its body.
#[derive(Default)]
struct Stepped {
    pre: Vec<String>,
    body: Vec<String>,
    post: Vec<String>,
}

/// Tile widths of a row loop whose innermost sum is tiled: four vectors of
/// f32 (eight registers of f64), then one.
const TILES: [usize; 2] = [32, 8];

/// Elements of a long row per block when several passes go over it (see
/// [`Gen::row_emit`]): 4 KiB of f32, so that the block and the slices the
/// passes read stay in L1 together.
const ROW_BLOCK: usize = 1024;

/// A term after analysis.
struct Plan<'e> {
    /// Sums outermost first, with bounds free of the row index.
    sums: Vec<(String, Poly, Poly)>,
    /// Conditions on the target's outer indices and the sums, each at the
    /// depth (0 = before the first sum) where its variables are bound.
    conds: Vec<(usize, Cond)>,
    /// Lower and upper limits of the row index inside the sums.
    lowers: Vec<Poly>,
    uppers: Vec<Poly>,
    /// Reads sliced along the row (last index `v + r`).
    rows: Vec<Read>,
    /// Reads that do not depend on the row index, read once per segment;
    /// the conditions above keep them in range.
    hoisted: Vec<Read>,
    body: &'e Expr,
}

impl Plan<'_> {
    /// True when every iteration of the sums covers the whole row.
    fn full_row(&self) -> bool {
        self.lowers.is_empty() && self.uppers.is_empty()
    }
    /// True when the term covers the whole row exactly once.
    fn once(&self) -> bool {
        self.full_row() && self.sums.is_empty() && self.conds.is_empty()
    }
}

/// `max(a, b, ...)` as its operands (a lower bound is their maximum; with
/// `max` false, `min(a, b, ...)` for an upper bound).
pub(super) fn operands(p: &Poly, max: bool) -> Vec<Poly> {
    let mut it = p.terms();
    if let (Some((m, 1)), None) = (it.next(), it.next()) {
        match (m.as_slice(), max) {
            ([Atom::Max(xs)], true) | ([Atom::Min(xs)], false) => return xs.clone(),
            _ => {}
        }
    }
    vec![p.clone()]
}

/// `c v + r` with `c = ±1`, `r` free of `v`.
pub(super) fn unit_linear(p: &Poly, v: &str) -> Option<(i64, Poly)> {
    let (c, r) = p.linear_in(v)?;
    match c.as_const()? {
        c @ (1 | -1) => Some((c, r)),
        _ => None,
    }
}

/// The top-level factors of a summand.
fn factors(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::Mul(xs) => xs.iter().flat_map(factors).collect(),
        Expr::Neg(x) => factors(x),
        _ => vec![e],
    }
}

impl<'m> Gen<'m> {
    /// The loops over `levels` (a target's indices, outermost first) in row
    /// form, adding `terms` into `target` (a slice expression). None when
    /// the row form does not apply; then the caller's nest is used.
    pub(super) fn row_nest(
        &mut self,
        tensor: usize,
        levels: &[Level],
        terms: &[RowTerm<'_>],
        target: &str,
        init: RowInit,
        chunk: Option<&Chunk>,
    ) -> Option<Res<Vec<String>>> {
        let ((v, vr, _), outer) = levels.split_last()?;
        if !super::is_long(vr) || levels.iter().any(|(_, _, c)| !c.is_empty()) {
            return None;
        }
        let mut plans = Vec::new();
        for term in terms {
            // A long sum innermost, where it can be tiled.
            let mut sums = term.sums.clone();
            super::long_sums_last(&mut sums);
            let term = &RowTerm {
                sums,
                conds: term.conds.clone(),
                body: term.body,
            };
            // The domain: the target's indices, then the sums with their
            // original bounds.
            let mut scope: Vec<(String, Range)> = levels
                .iter()
                .map(|(n, r, _)| (n.clone(), r.clone()))
                .collect();
            scope.extend(term.sums.iter().map(|s| (s.var.clone(), s.range.clone())));
            plans.push(self.row_plan(&scope, v, vr, term)?);
        }
        Some(self.row_emit(tensor, outer, v, vr, &plans, target, init, chunk))
    }

    /// One contribution at a fixed target point whose innermost sum is
    /// long, summed into `acc` with that sum as a sliced row (eight lanes).
    /// None when the row form does not apply.
    pub(super) fn reduce_nest(
        &mut self,
        sums: &[SumVar],
        conds: &[Cond],
        body: &Expr,
        acc: &str,
    ) -> Option<Res<Vec<String>>> {
        let (last, outer) = sums.split_last()?;
        if !super::is_long(&last.range) {
            return None;
        }
        let mut scope = self.enclosing.clone();
        scope.extend(sums.iter().map(|s| (s.var.clone(), s.range.clone())));
        let term = RowTerm {
            sums: outer.to_vec(),
            conds: conds.to_vec(),
            body,
        };
        let plan = self.row_plan(&scope, &last.var, &last.range, &term)?;
        Some(self.row_term(&last.var, &last.range, &plan, Mode::Reduce { acc }))
    }

    /// Analyses one term for a loop along `v` (range `vr`), innermost.
    /// `scope` is the term's domain in loop order, for proofs that a read is
    /// in range.
    fn row_plan<'e>(
        &mut self,
        scope: &[(String, Range)],
        v: &str,
        vr: &Range,
        term: &RowTerm<'e>,
    ) -> Option<Plan<'e>> {
        // Nested reductions and arg-max tests bind variables of their own.
        let mut nested = false;
        visit_expr(term.body, &mut |x| {
            if matches!(x, Expr::Reduce { .. })
                || matches!(x, Expr::Indicator(p) if matches!(**p, Pred::FirstArgMax { .. }))
            {
                nested = true;
            }
        });
        if nested {
            return None;
        }
        let mut lowers = Vec::new();
        let mut uppers = Vec::new();
        let mut sums = Vec::new();
        for s in &term.sums {
            let mut lo: Option<Poly> = None;
            let mut hi: Option<Poly> = None;
            let push = |slot: &mut Option<Poly>, p: Poly, max: bool| {
                *slot = Some(match slot.take() {
                    None => p,
                    Some(q) if max => q.max_of(&p),
                    Some(q) => q.min_of(&p),
                });
            };
            let sv = Poly::var(&s.var);
            for (bound, lower) in [(&s.range.lo, true), (&s.range.hi, false)] {
                let slot = if lower { &mut lo } else { &mut hi };
                for a in operands(bound, lower) {
                    if !a.mentions(v) {
                        push(slot, a, lower);
                        continue;
                    }
                    // s >= c v + r (lower) or s <= c v + r: a bound c (s - r)
                    // on v, and s's bound at v's extreme.
                    let (c, r) = unit_linear(&a, v)?;
                    let on_v = sv.sub(&r).scale(c);
                    let v_upper = lower == (c == 1);
                    if v_upper {
                        uppers.push(on_v);
                    } else {
                        lowers.push(on_v);
                    }
                    let extreme = if v_upper { &vr.lo } else { &vr.hi };
                    push(slot, extreme.scale(c).add(&r), lower);
                }
            }
            sums.push((s.var.clone(), lo?, hi?));
        }
        let depth = |p: &Poly| -> usize {
            p.vars()
                .iter()
                .filter_map(|x| term.sums.iter().position(|s| &s.var == x))
                .map(|k| k + 1)
                .max()
                .unwrap_or(0)
        };
        let mut conds = Vec::new();
        for c in &term.conds {
            match c {
                Cond::Divides { den, num } => {
                    if den.mentions(v) || num.mentions(v) {
                        return None;
                    }
                    conds.push((depth(den).max(depth(num)), c.clone()));
                }
                Cond::Within { e, lo, hi } => {
                    if lo.mentions(v) || hi.mentions(v) {
                        return None;
                    }
                    if !e.mentions(v) {
                        let d = depth(e).max(depth(lo)).max(depth(hi));
                        conds.push((d, c.clone()));
                        continue;
                    }
                    let (c, r) = unit_linear(e, v)?;
                    if c == 1 {
                        lowers.push(lo.sub(&r));
                        uppers.push(hi.sub(&r));
                    } else {
                        lowers.push(r.sub(hi));
                        uppers.push(r.sub(lo));
                    }
                }
            }
        }
        let factor_keys: BTreeSet<ReadKey> = factors(term.body)
            .into_iter()
            .filter_map(|f| match f {
                Expr::Read(r) => Some(read_key(r)),
                _ => None,
            })
            .collect();
        let mut reads: BTreeMap<ReadKey, Read> = BTreeMap::new();
        visit_expr(term.body, &mut |x| {
            if let Expr::Read(r) = x {
                reads.entry(read_key(r)).or_insert_with(|| r.clone());
            }
        });
        let (mut rows, mut hoisted) = (Vec::new(), Vec::new());
        for (key, r) in reads {
            if r.index.is_empty() || self.buffer(&r).is_none() {
                continue;
            }
            let dims = &self.p.tensors[r.tensor].dims;
            let (last, front) = r.index.split_last()?;
            // Along the row, a read must be contiguous: `v` only in its
            // last index, with coefficient 1.
            if front.iter().any(|ix| ix.mentions(v)) {
                return None;
            }
            let along = last.mentions(v);
            let rest = if along {
                let (c, rest) = unit_linear(last, v)?;
                if c != 1 {
                    return None;
                }
                Some(rest)
            } else {
                None
            };
            let proved = |p: &Poly| provably_nonneg(p, scope);
            let factor = factor_keys.contains(&key);
            let mut local_conds = Vec::new();
            let mut local_lo = Vec::new();
            let mut local_hi = Vec::new();
            for (k, (ix, d)) in r.index.iter().zip(dims).enumerate() {
                let in_lo = proved(&ix.sub(&d.lo));
                let in_hi = proved(&d.hi.sub(ix));
                if in_lo && in_hi {
                    continue;
                }
                match (&rest, k + 1 == dims.len()) {
                    (Some(rest), true) => {
                        if !in_lo {
                            local_lo.push(d.lo.sub(rest));
                        }
                        if !in_hi {
                            local_hi.push(d.hi.sub(rest));
                        }
                    }
                    _ => local_conds.push((
                        depth(ix),
                        Cond::Within {
                            e: ix.clone(),
                            lo: d.lo.clone(),
                            hi: d.hi.clone(),
                        },
                    )),
                }
            }
            let in_range = local_conds.is_empty() && local_lo.is_empty() && local_hi.is_empty();
            if !in_range && !factor {
                // Zero padding that cannot narrow the loop: the checked
                // read, per element.
                continue;
            }
            conds.extend(local_conds);
            lowers.extend(local_lo);
            uppers.extend(local_hi);
            if along {
                rows.push(r);
            } else {
                hoisted.push(r);
            }
        }
        Some(Plan {
            sums,
            conds,
            lowers,
            uppers,
            rows,
            hoisted,
            body: term.body,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn row_emit(
        &mut self,
        tensor: usize,
        outer: &[Level],
        v: &str,
        vr: &Range,
        plans: &[Plan<'_>],
        target: &str,
        init: RowInit,
        chunk: Option<&Chunk>,
    ) -> Res<Vec<String>> {
        let row = self.fresh("row");
        let len = self.extent_usize(&vr.lo, &vr.hi);
        // The row's first element.
        let mut index: Vec<Poly> = outer.iter().map(|(n, _, _)| Poly::var(n)).collect();
        index.push(vr.lo.clone());
        let mut base = self.offset_i64(&Read {
            tensor,
            slot: Slot::Value,
            index: index.clone(),
        });
        // In a chunk, the target slice starts at the chunk's first row.
        let seed_base = base.clone();
        if let Some(ch) = chunk {
            index[0] = index[0].sub(&Poly::var(&ch.first));
            base = self.offset_i64(&Read {
                tensor,
                slot: Slot::Value,
                index,
            });
        }
        let mut body = Vec::new();
        let len = if len.text.parse::<i64>().is_ok() {
            len
        } else {
            let name = self.fresh("len");
            body.push(format!("let {name} = {};", len.text));
            Code::atom(name)
        };
        body.push(format!(
            "let {row} = {};",
            Self::slice(target, &base, &len.text, true)
        ));
        // A forward row is overwritten by its first term when that covers
        // the whole row, else zeroed first.
        let assign_first = matches!(init, RowInit::Zero) && plans.first().is_some_and(Plan::once);
        // A row that several passes go over (the zeroing, the seed, each
        // term and each iteration of a term's sums) runs in blocks, every
        // pass over one block before the next, so that the block stays in
        // L1 between the passes: a 1-D convolution over a long signal
        // otherwise streams the whole row through memory once per tap.
        let init_pass = match &init {
            RowInit::Keep => 0,
            RowInit::Zero => usize::from(!assign_first),
            RowInit::Seed(_) => 1,
        };
        let passes = init_pass
            + plans
                .iter()
                .map(|p| if p.sums.is_empty() { 1 } else { 2 })
                .sum::<usize>();
        let blocked = passes >= 2;
        // The row, or the current block of it: its slice, length, and the
        // range of the row index it covers.
        let (part, part_len, part_range, b0) = if blocked {
            let (b0, bn, part) = (self.fresh("b"), self.fresh("bn"), self.fresh("block"));
            let (blo, bhi) = (self.fresh("blo"), self.fresh("bhi"));
            let range = Range {
                lo: Poly::var(&blo),
                hi: Poly::var(&bhi),
            };
            (part, bn, range, Some((b0, blo, bhi)))
        } else {
            (row.clone(), len.text.clone(), vr.clone(), None)
        };
        let mut inner = Vec::new();
        match &init {
            RowInit::Keep => {}
            RowInit::Zero if assign_first => {}
            RowInit::Zero => inner.push(format!("{part}.fill({});", self.zero().text)),
            RowInit::Seed(seed) => {
                let (s, o) = (self.fresh("s"), self.fresh("o"));
                let mut seed_row = Self::slice(seed, &seed_base, &len.text, false);
                if let Some((b0, _, _)) = &b0 {
                    let name = self.fresh("seed_row");
                    body.push(format!("let {name} = {seed_row};"));
                    seed_row = format!("&{name}[{b0}..][..{part_len}]");
                }
                inner.push(format!(
                    "for ({o}, {s}) in {part}.iter_mut().zip({seed_row}) {{ *{o} += *{s}; }}"
                ));
            }
        }
        let mut terms = Vec::new();
        for (k, plan) in plans.iter().enumerate() {
            let mode = Mode::Write {
                row: &part,
                row_len: &part_len,
                assign: k == 0 && assign_first,
            };
            terms.extend(self.row_term(v, &part_range, plan, mode)?);
        }
        inner.extend(terms);
        match &b0 {
            Some((b0, blo, bhi)) => {
                let (bn, lo) = (&part_len, self.poly(&vr.lo));
                let code = inner.join(" ");
                // The block's first and last row index, where the terms
                // use them (`bhi` is `blo`'s last).
                let hi_line = bind_if_used(bhi, &format!("{blo} + {bn} as i64 - 1"), &code);
                let lo_line = bind_if_used(blo, &at_position(&lo, b0), &(hi_line.clone() + &code));
                body.push(format!("let mut {b0} = 0usize;"));
                body.push(format!(
                    "while {b0} < {len} {{ \
                         let {bn} = ({len} - {b0}).min({ROW_BLOCK}); \
                         let {part} = &mut {row}[{b0}..][..{bn}]; \
                         {lo_line} {hi_line} \
                         {code} \
                         {b0} += {bn}; \
                     }}",
                    len = len.text,
                ));
            }
            None if len.text.parse::<i64>().is_ok_and(|c| c > 0) => body.extend(inner),
            // An empty row reads nothing (its first element's offsets may be
            // out of range).
            None => body.push(format!("if {} > 0 {{ {} }}", len.text, inner.join(" "))),
        }
        // The outer target loops.
        let mut lines = body;
        for (k, (n, r, _)) in outer.iter().enumerate().rev() {
            let r = match chunk {
                Some(ch) if k == 0 => &ch.range(r),
                _ => r,
            };
            lines = vec![self.for_loop(n, &r.lo, &r.hi, &lines)];
        }
        Ok(lines)
    }

    /// `&buf[off..][..len]` (mutable when `mutable`), without a zero offset.
    fn slice(buf: &str, off: &Code, len: &str, mutable: bool) -> String {
        let m = if mutable { "mut " } else { "" };
        if off.text == "0" {
            format!("&{m}{buf}[..{len}]")
        } else {
            format!("&{m}{buf}[{}..][..{len}]", off.as_usize())
        }
    }

    /// Slices the plan's row reads (from `v = start`, `len` long) and reads
    /// its hoisted reads, appending the statements to `lines`; returns the
    /// names of both. Hoisted reads are marked unchecked (the caller restores
    /// `self.unchecked`).
    #[allow(clippy::type_complexity)]
    fn plan_reads(
        &mut self,
        plan: &Plan<'_>,
        v: &str,
        start: &Poly,
        len: &str,
        lines: &mut Vec<String>,
    ) -> (Vec<(ReadKey, String)>, Vec<(ReadKey, String)>) {
        let mut rows = Vec::new();
        let mut hoisted = Vec::new();
        for r in &plan.rows {
            let buf = self.buffer(r).unwrap_or_default();
            let name = self.fresh(&format!("{}_row", self.ident[r.tensor]));
            let first = Read {
                index: r.index.iter().map(|ix| ix.substitute(v, start)).collect(),
                ..r.clone()
            };
            let off = self.offset_i64(&first);
            lines.push(format!(
                "let {name} = {};",
                Self::slice(&buf, &off, len, false)
            ));
            rows.push((read_key(r), name));
        }
        for r in &plan.hoisted {
            self.unchecked.insert(read_key(r));
            let c = self.read(r);
            let name = self.fresh(&self.ident[r.tensor].clone());
            lines.push(format!("let {name} = {};", c.text));
            hoisted.push((read_key(r), name));
        }
        (rows, hoisted)
    }

    /// The summand with the sliced `rows` indexed by `at` and the `hoisted`
    /// values; the last line is its value, the ones before statements it
    /// needs (with `v = start + pos` where something else reads `v`).
    #[allow(clippy::too_many_arguments)]
    fn summand(
        &mut self,
        plan: &Plan<'_>,
        rows: &[(ReadKey, String)],
        hoisted: &[(ReadKey, String)],
        at: &str,
        pos: &str,
        v: &str,
        start: &Poly,
    ) -> Res<Vec<String>> {
        self.row_reads.extend(hoisted.iter().cloned());
        for (k, name) in rows {
            self.row_reads.insert(k.clone(), format!("{name}[{at}]"));
        }
        let mut pre = Vec::new();
        let value = self.expr(plan.body, None, &mut pre);
        self.row_reads.clear();
        pre.push(value?.text);
        let vv = self.var(v);
        if pre.iter().any(|l| super::mentions_word(l, &vv)) {
            let first = self.poly(start);
            pre.insert(0, format!("let {vv} = {};", at_position(&first, pos)));
        }
        Ok(pre)
    }

    /// True when the term's innermost sum can move inside the row loop, so
    /// that a tile of the row is summed in registers over it: it is long,
    /// the row's limits and no condition depend on it, and the summand
    /// needs no statements of its own.
    fn tileable(&self, plan: &Plan<'_>) -> bool {
        let Some((s, lo, hi)) = plan.sums.last() else {
            return false;
        };
        let range = Range {
            lo: lo.clone(),
            hi: hi.clone(),
        };
        let mut simple = true;
        visit_expr(plan.body, &mut |x| {
            if matches!(x, Expr::Indicator(_)) {
                simple = false;
            }
        });
        simple
            && super::is_long(&range)
            && !plan
                .lowers
                .iter()
                .chain(&plan.uppers)
                .any(|p| p.mentions(s))
            && !plan.conds.iter().any(|(d, _)| *d == plan.sums.len())
    }

    /// One term's loops: its sums, conditions and, innermost, the loop
    /// along `v` that `mode` says what to do with.
    fn row_term(
        &mut self,
        v: &str,
        vr: &Range,
        plan: &Plan<'_>,
        mode: Mode<'_>,
    ) -> Res<Vec<String>> {
        let t = self.fresh("t");
        let vv = self.var(v);
        // The whole row, or a segment whose limits depend on the sums.
        let whole = plan.full_row() && matches!(mode, Mode::Write { .. });
        let tiled = matches!(mode, Mode::Write { assign: false, .. }) && self.tileable(plan);
        let (lo, hi) = (self.fresh("lo"), self.fresh("hi"));
        let (mut seg_lines, n, start) = match mode {
            Mode::Write { row_len, .. } if whole => {
                (Vec::new(), row_len.to_string(), vr.lo.clone())
            }
            _ => {
                let n = self.fresh("n");
                let lines = vec![
                    format!("let {vv} = {lo};"),
                    format!("let {n} = ({hi} - {lo} + 1) as usize;"),
                ];
                (lines, n, Poly::var(v))
            }
        };
        let seg = match mode {
            Mode::Write { row, .. } if whole => row.to_string(),
            Mode::Write { row, .. } => {
                let seg = self.fresh("seg");
                let off = self.poly(&Poly::var(v).sub(&vr.lo));
                seg_lines.push(format!("let {seg} = {};", Self::slice(row, &off, &n, true)));
                seg
            }
            Mode::Reduce { .. } => String::new(),
        };
        let saved_unchecked = self.unchecked.clone();
        match mode {
            Mode::Write { .. } if tiled => {
                self.row_tiles(v, plan, &seg, &n, &start, &mut seg_lines)?;
            }
            Mode::Write { assign, .. } => {
                let (rows, hoisted) = self.plan_reads(plan, v, &start, &n, &mut seg_lines);
                let mut inner = self.summand(plan, &rows, &hoisted, &t, &t, v, &start)?;
                let value = inner.pop().unwrap_or_default();
                let op = if assign { "=" } else { "+=" };
                inner.push(format!("{seg}[{t}] {op} {value};"));
                seg_lines.push(format!("for {t} in 0..{n} {{ {} }}", inner.join(" ")));
            }
            Mode::Reduce { acc } => {
                let (rows, hoisted) = self.plan_reads(plan, v, &start, &n, &mut seg_lines);
                // Eight lanes over whole chunks of eight, then the rest.
                let (lanes, c, l) = (self.fresh("lanes"), self.fresh("c"), self.fresh("l"));
                let mut chunk_rows = Vec::new();
                let mut in_chunk = Vec::new();
                for (k, name) in &rows {
                    let c8 = format!("{name}_8");
                    chunk_rows.push(format!("let {c8} = &{name}[8 * {c}..][..8];"));
                    in_chunk.push((k.clone(), c8));
                }
                let pos = format!("(8 * {c} + {l})");
                let mut lane = self.summand(plan, &in_chunk, &hoisted, &l, &pos, v, &start)?;
                let lane_value = lane.pop().unwrap_or_default();
                let mut tail = self.summand(plan, &rows, &hoisted, &t, &t, v, &start)?;
                let tail_value = tail.pop().unwrap_or_default();
                let z = self.zero().text;
                lane.push(format!("{lanes}[{l}] += {lane_value};"));
                tail.push(format!("{acc} += {tail_value};"));
                seg_lines.push(format!(
                    "let mut {lanes} = [{z}; 8]; \
                     for {c} in 0..{n} / 8 {{ {} for {l} in 0..8 {{ {} }} }} \
                     for {t} in {n} / 8 * 8..{n} {{ {} }} \
                     {acc} += {};",
                    chunk_rows.join(" "),
                    lane.join(" "),
                    tail.join(" "),
                    super::lane_sum(&lanes)
                ));
            }
        }
        self.unchecked = saved_unchecked;
        let lines = if whole {
            seg_lines
        } else {
            let mut lo_p = vr.lo.clone();
            for l in &plan.lowers {
                lo_p = lo_p.max_of(l);
            }
            let mut hi_p = vr.hi.clone();
            for h in &plan.uppers {
                hi_p = hi_p.min_of(h);
            }
            let (lo_c, hi_c) = (self.poly(&lo_p), self.poly(&hi_p));
            vec![
                format!("let {lo} = {};", lo_c.text),
                format!("let {hi} = {};", hi_c.text),
                format!("if {lo} <= {hi} {{ {} }}", seg_lines.join(" ")),
            ]
        };
        // Sums and conditions, innermost first (a tiled term's innermost
        // sum is inside the row loop already).
        let outer = plan.sums.len() - usize::from(tiled);
        Ok(self.wrap_loops(&plan.sums, &plan.conds, outer, lines))
    }

    /// The row segment `seg` (`n` long, from `v = start`) in tiles of
    /// `TILES` elements held in an array across the innermost sum, which the
    /// compiler keeps in vector registers: each tile is loaded and stored
    /// once per segment instead of once per iteration of that sum. The
    /// last, shorter tile goes element by element.
    fn row_tiles(
        &mut self,
        v: &str,
        plan: &Plan<'_>,
        seg: &str,
        n: &str,
        start: &Poly,
        lines: &mut Vec<String>,
    ) -> Res<()> {
        let vv = self.var(v);
        let (s, slo, shi) = plan.sums.last().cloned().unwrap_or_default();
        let (t0, tile, l, out, rest, t) = (
            self.fresh("t0"),
            self.fresh("tile"),
            self.fresh("l"),
            self.fresh("out"),
            self.fresh("rest"),
            self.fresh("t"),
        );
        let at_t0 = at_position(&self.poly(start), &t0);
        let z = self.zero().text;
        let here = Poly::var(v);
        lines.push(format!("let mut {t0} = 0usize;"));
        // Whole tiles, then tiles of one vector, then element by element.
        for width in TILES {
            let width_text = width.to_string();
            let (
                rows,
                hoisted,
                Stepped {
                    pre,
                    mut body,
                    post,
                },
            ) = match self.stepped_reads(plan, &s, &slo, &width_text) {
                Some(stepped) => stepped,
                None => {
                    let mut body = Vec::new();
                    let (rows, hoisted) = self.plan_reads(plan, v, &here, &width_text, &mut body);
                    (
                        rows,
                        hoisted,
                        Stepped {
                            body,
                            ..Stepped::default()
                        },
                    )
                }
            };
            let mut inner = self.summand(plan, &rows, &hoisted, &l, &l, v, &here)?;
            let value = inner.pop().unwrap_or_default();
            inner.push(format!("{tile}[{l}] += {value};"));
            body.push(format!("for {l} in 0..{width} {{ {} }}", inner.join(" ")));
            body.extend(post);
            let code = format!("{} {}", pre.join(" "), self.for_loop(&s, &slo, &shi, &body));
            lines.push(format!(
                "while {t0} + {width} <= {n} {{ \
                     {} \
                     let mut {tile} = [{z}; {width}]; \
                     {code} \
                     let {out} = &mut {seg}[{t0}..][..{width}]; \
                     for {l} in 0..{width} {{ {out}[{l}] += {tile}[{l}]; }} \
                     {t0} += {width}; \
                 }}",
                bind_if_used(&vv, &at_t0, &code)
            ));
        }
        // The rest.
        let mut body = Vec::new();
        let (rows, hoisted) = self.plan_reads(plan, v, &here, &rest, &mut body);
        let mut inner = self.summand(plan, &rows, &hoisted, &t, &t, v, &here)?;
        let value = inner.pop().unwrap_or_default();
        inner.push(format!("{out}[{t}] += {value};"));
        body.push(format!("for {t} in 0..{rest} {{ {} }}", inner.join(" ")));
        let code = self.for_loop(&s, &slo, &shi, &body);
        lines.push(format!(
            "if {t0} < {n} {{ \
                 {} \
                 let {rest} = {n} - {t0}; \
                 let {out} = &mut {seg}[{t0}..][..{rest}]; \
                 {code} \
             }}",
            bind_if_used(&vv, &at_t0, &code)
        ));
        Ok(())
    }

    /// The plan's reads inside a loop over the sum `s` (from `slo`), by
    /// offsets that start at `s = slo` and step by a constant each
    /// iteration instead of being recomputed: rows `width` long from the
    /// current row index. None when an offset is not affine in `s`.
    #[allow(clippy::type_complexity)]
    fn stepped_reads(
        &mut self,
        plan: &Plan<'_>,
        s: &str,
        slo: &Poly,
        width: &str,
    ) -> Option<(Vec<(ReadKey, String)>, Vec<(ReadKey, String)>, Stepped)> {
        let mut out = Stepped::default();
        let (mut rows, mut hoisted) = (Vec::new(), Vec::new());
        let reads = plan.rows.iter().map(|r| (r, true));
        for (r, along) in reads.chain(plan.hoisted.iter().map(|r| (r, false))) {
            let dims = self.p.tensors[r.tensor].dims.clone();
            // d offset / d s = sum over dims of (d index / d s) * stride.
            let mut step = Poly::zero();
            let mut stride = Poly::int(1);
            for (ix, d) in r.index.iter().zip(&dims).rev() {
                let (c, _) = ix.linear_in(s)?;
                if c.mentions(s) {
                    return None;
                }
                step = step.add(&c.mul(&stride));
                stride = stride.mul(&d.extent());
            }
            let at_lo = Read {
                index: r.index.iter().map(|ix| ix.substitute(s, slo)).collect(),
                ..r.clone()
            };
            let (o, buf) = (self.fresh("off"), self.buffer(r).unwrap_or_default());
            let start = self.offset_i64(&at_lo);
            // A read that does not move along the sum (`x[m, j]` summed over
            // `k`) keeps its offset: no `mut`, or rustc warns.
            let mutable = if step.is_zero() { "" } else { "mut " };
            out.pre.push(format!("let {mutable}{o} = {};", start.text));
            let name = self.fresh(&self.ident[r.tensor].clone());
            if along {
                out.body
                    .push(format!("let {name} = &{buf}[{o} as usize..][..{width}];"));
                rows.push((read_key(r), name));
            } else {
                out.body.push(format!("let {name} = {buf}[{o} as usize];"));
                hoisted.push((read_key(r), name));
            }
            if !step.is_zero() {
                let st = self.poly(&step);
                out.post.push(format!("{o} += {};", st.text));
            }
        }
        Some((rows, hoisted, out))
    }

    /// Wraps `lines` in the first `upto` of `loops` (variable and inclusive
    /// bounds, outermost first) and the conditions at depths `0..=upto` (0:
    /// outside the first loop, `d`: inside loop `d`).
    pub(super) fn wrap_loops(
        &mut self,
        loops: &[(String, Poly, Poly)],
        conds: &[(usize, Cond)],
        upto: usize,
        mut lines: Vec<String>,
    ) -> Vec<String> {
        for depth in (0..=upto).rev() {
            let here: Vec<String> = conds
                .iter()
                .filter(|(d, _)| *d == depth)
                .map(|(_, c)| c.clone())
                .collect::<Vec<_>>()
                .iter()
                .filter_map(|c| self.cond(c))
                .collect();
            if !here.is_empty() {
                lines = vec![format!("if {} {{ {} }}", all_of(&here), lines.join(" "))];
            }
            if depth > 0 {
                let (s, slo, shi) = &loops[depth - 1];
                lines = vec![self.for_loop(s, slo, shi, &lines)];
            }
        }
        lines
    }
}

/// The row index at position `pos` (a `usize` name) of a segment starting
/// at `first`: `first + pos as i64`, without a `0 +`.
fn at_position(first: &Code, pos: &str) -> String {
    if first.text == "0" {
        format!("{pos} as i64")
    } else {
        format!("{} + {pos} as i64", first.at(Prec::Add))
    }
}

/// The terms of a forward right-hand side: `a + sum_k b + ...`, each a sum
/// over nested `\sum` of a summand (a reduction anywhere else stays in the
/// summand, where [`Gen::row_nest`] declines it).
pub(super) fn forward_terms(e: &Expr) -> Vec<RowTerm<'_>> {
    fn go<'e>(e: &'e Expr, sums: &mut Vec<SumVar>, out: &mut Vec<RowTerm<'e>>) {
        match e {
            Expr::Add(xs) if sums.is_empty() => {
                for x in xs {
                    go(x, sums, out);
                }
            }
            Expr::Reduce {
                op: ReduceOp::Sum,
                var,
                range,
                body,
            } => {
                sums.push(SumVar {
                    var: var.clone(),
                    range: range.clone(),
                });
                go(body, sums, out);
                sums.pop();
            }
            _ => out.push(RowTerm {
                sums: sums.clone(),
                conds: Vec::new(),
                body: e,
            }),
        }
    }
    let mut out = Vec::new();
    go(e, &mut Vec::new(), &mut out);
    out
}

/// `let {name} = {value};` when `code` uses `name` as an identifier, else
/// nothing (a tile whose summand does not depend on its position would
/// leave the binding unused, which rustc warns about).
fn bind_if_used(name: &str, value: &str, code: &str) -> String {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let used = code.match_indices(name).any(|(k, _)| {
        let before = code[..k].chars().next_back();
        let after = code[k + name.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    });
    if used {
        format!("let {name} = {value};")
    } else {
        String::new()
    }
}
