//! Winograd lowering (part of [`super`]'s opt-in GEMM lowering): a 3 x 3
//! correlation summed over channels, the shape of a convolution's forward
//! pass and of both its gradients, becomes one call of the runtime's
//! `conv3x3` or `conv3x3_filter` (Winograd's `F(4 x 4, 3 x 3)`: 36
//! multiplications per 4 x 4 outputs instead of 144, the rest in GEMMs).
//!
//! Two forms of a term `X[v] += alpha * A * B` are recognised.
//!
//! - **Correlation:** the target is `T[n, o, i, j]` (any order, the column
//!   `j` last, the image `n` optional), the sums are `c, a, b`; one read,
//!   the *image*, is `Y[n, c, i ± a + δ, j ± b + δ']` (column last) and the
//!   other, the *filter*, `F[o, c, ±a + ε, ±b + ε']` in any order. A forward
//!   pass (`x = w * y`) and an input gradient (`ȳ = x̄ * w`, taps flipped)
//!   have this form.
//! - **Filter gradient:** the target is `T[o, c, a, b]` with `a` and `b`
//!   ranging over three values, the sums are `n, i, j` (`n` optional); one
//!   read is the image `Y[n, c, i ± a + δ, j ± b + δ']` and the other `D[n,
//!   o, i, j]` (the output's adjoint).
//!
//! Each tap index ranges over three consecutive values, apart from bounds
//! that only keep the image's read inside the image (the runtime reads
//! zeros outside it, as the model does: zero padding). Every other read
//! must stay inside its tensor over the whole box, which is checked here;
//! terms that do not fit keep the GEMM-per-tap lowering.

use super::flat::implied_by;
use super::{alpha, place, stride, Place};
use crate::codegen::rows::{operands, unit_linear, Chunk, RowTerm};
use crate::codegen::{as_slice, provably_nonneg, visit_expr, Gen, Level, Prec, Res};
use crate::ir::{Cond, Expr, Range, Read, Slot};
use crate::poly::Poly;

/// Which runtime call.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `conv3x3`: the target holds the image's rows and columns.
    Correlate,
    /// `conv3x3_filter`: the target holds the taps.
    Filter,
}

/// A tap index: it enters the image's dimension `x_dim` as `i + sign * a +
/// δ` and ranges over `lo ..= lo + 2`.
struct Tap {
    var: String,
    sign: i64,
    x_dim: usize,
    lo: Poly,
}

impl Tap {
    /// The value of the tap variable at the runtime's tap `t` (0, 1, 2 in
    /// the direction of the image's index), as a polynomial in `t`.
    fn at(&self, t: i64) -> Poly {
        if self.sign > 0 {
            self.lo.add_int(t)
        } else {
            self.lo.add_int(2 - t)
        }
    }
}

/// A term lowered to one Winograd call.
pub(super) struct WinoPlan {
    kind: Kind,
    /// The image read and the other one (the filter, or the output's
    /// adjoint).
    image: Read,
    other: Read,
    /// Index variables: batch (optional), output channel, input channel,
    /// output row and column (sums or target indices, by the form).
    batch: Option<String>,
    outs: String,
    ins: String,
    row: String,
    col: String,
    /// The row tap and the column tap.
    taps: [Tap; 2],
    /// The box: each variable's range (taps aside).
    ranges: Vec<(String, Range)>,
    negative: bool,
    scalars: Vec<Expr>,
}

impl WinoPlan {
    /// True for a weight gradient's call, which splits its images across
    /// threads itself.
    pub(super) fn own_threads(&self) -> bool {
        self.kind == Kind::Filter && self.batch.is_some()
    }
}

/// `index` as `c * v + rest` with `c = ±1` and `rest` free of every variable
/// in `vars`; None otherwise.
fn unit_in(index: &Poly, v: &str, vars: &[&str]) -> Option<(i64, Poly)> {
    let (c, rest) = unit_linear(index, v)?;
    vars.iter().all(|x| !rest.mentions(x)).then_some((c, rest))
}

/// The dimension of `r` that mentions `v`, when exactly one does.
fn dim_of(r: &Read, v: &str) -> Option<usize> {
    let dims: Vec<usize> = (0..r.index.len())
        .filter(|&d| r.index[d].mentions(v))
        .collect();
    match dims.as_slice() {
        [d] => Some(*d),
        _ => None,
    }
}

impl<'m> Gen<'m> {
    /// Analyses one term for the Winograd lowering.
    pub(super) fn wino_plan(
        &mut self,
        tensor: usize,
        levels: &[Level],
        term: &RowTerm<'_>,
    ) -> Option<WinoPlan> {
        if self.p.tensors[tensor].dims.len() != levels.len() {
            return None;
        }
        // Conditions must hold everywhere (`-1 <= p - 1 <= 1` for a tap
        // `p` of 0..=2): the call computes the whole box.
        let mut scope = self.enclosing.clone();
        scope.extend(levels.iter().map(|(v, r, _)| (v.clone(), r.clone())));
        scope.extend(term.sums.iter().map(|s| (s.var.clone(), s.range.clone())));
        let always = |c: &Cond| match c {
            Cond::Within { e, lo, hi } => {
                provably_nonneg(&e.sub(lo), &scope) && provably_nonneg(&hi.sub(e), &scope)
            }
            Cond::Divides { .. } => false,
        };
        if !term.conds.iter().all(always) {
            return None;
        }
        let super::Factors {
            negative,
            reads,
            scalars,
            zero,
        } = self.factors(term.body)?;
        let targets: Vec<&str> = levels.iter().map(|(v, _, _)| v.as_str()).collect();
        let sums: Vec<&str> = term.sums.iter().map(|s| s.var.as_str()).collect();
        // The other factors (`alpha`) free of every index variable; a zero
        // product is the GEMM lowering's to drop.
        let free = |e: &Expr| {
            let mut free = true;
            visit_expr(e, &mut |x| {
                if let Expr::Index(p) = x {
                    free &= p.vars().is_empty();
                }
            });
            free
        };
        if zero || !scalars.iter().all(free) {
            return None;
        }
        let [r0, r1] = <[Read; 2]>::try_from(reads).ok()?;
        for (image, other) in [(&r0, &r1), (&r1, &r0)] {
            let found = self
                .correlate(levels, term, &targets, &sums, image, other)
                .or_else(|| self.filter(levels, term, &targets, &sums, image, other));
            if let Some(mut plan) = found {
                plan.negative = negative;
                plan.scalars = scalars;
                return Some(plan);
            }
        }
        None
    }

    /// The correlation form (see the module's documentation).
    fn correlate(
        &self,
        levels: &[Level],
        term: &RowTerm<'_>,
        targets: &[&str],
        sums: &[&str],
        image: &Read,
        filter: &Read,
    ) -> Option<WinoPlan> {
        if sums.len() != 3 || !(3..=4).contains(&targets.len()) {
            return None;
        }
        let all: Vec<&str> = targets.iter().chain(sums).copied().collect();
        let col = *targets.last()?;
        let nx = image.index.len();
        // The column and its tap: the image's last dimension.
        let (b, col_tap) = self.tap_of(image, nx - 1, col, sums, &all)?;
        // The row and its tap: another dimension of the image.
        let mut found = None;
        for &row in &targets[..targets.len() - 1] {
            let Some(d) = dim_of(image, row).filter(|&d| d != nx - 1) else {
                continue;
            };
            if let Some((a, tap)) = self.tap_of(image, d, row, sums, &all) {
                if a != b {
                    found = Some((row, a, tap));
                    break;
                }
            }
        }
        let (row, a, row_tap) = found?;
        let c = *sums.iter().find(|&&s| s != a && s != b)?;
        // The output channel: a target index the filter reads and the
        // image does not; the batch: the one left, read by the image only.
        let rest: Vec<&str> = targets
            .iter()
            .copied()
            .filter(|&t| t != row && t != col)
            .collect();
        let (outs, batch) = match rest.as_slice() {
            [o] => (*o, None),
            [x, y] if place(image, x) == Place::Absent => (*x, Some(*y)),
            [x, y] => (*y, Some(*x)),
            _ => return None,
        };
        // Every dimension of each read holds exactly one variable.
        let image_vars: Vec<&str> = batch.into_iter().chain([c, row, col]).collect();
        if nx != image_vars.len() || filter.index.len() != 4 {
            return None;
        }
        for v in batch.into_iter().chain([c]) {
            unit_in(&image.index[dim_of(image, v)?], v, &all).filter(|(s, _)| *s == 1)?;
        }
        if place(image, outs) != Place::Absent {
            return None;
        }
        for v in [outs, c] {
            unit_in(&filter.index[dim_of(filter, v)?], v, &all).filter(|(s, _)| *s == 1)?;
        }
        for v in [a, b] {
            unit_in(&filter.index[dim_of(filter, v)?], v, &all)?;
        }
        if batch.is_some_and(|n| place(filter, n) != Place::Absent)
            || [row, col].iter().any(|v| place(filter, v) != Place::Absent)
        {
            return None;
        }
        let ranges = self.box_ranges(levels, term, image, &[], &[a, b])?;
        let taps = [
            self.tap_range(term, a, image, row_tap)?,
            self.tap_range(term, b, image, col_tap)?,
        ];
        let plan = WinoPlan {
            kind: Kind::Correlate,
            image: image.clone(),
            other: filter.clone(),
            batch: batch.map(str::to_string),
            outs: outs.to_string(),
            ins: c.to_string(),
            row: row.to_string(),
            col: col.to_string(),
            taps,
            ranges,
            negative: false,
            scalars: Vec::new(),
        };
        self.inside(&plan).then_some(plan)
    }

    /// The filter-gradient form (see the module's documentation).
    fn filter(
        &self,
        levels: &[Level],
        term: &RowTerm<'_>,
        targets: &[&str],
        sums: &[&str],
        image: &Read,
        adjoint: &Read,
    ) -> Option<WinoPlan> {
        if targets.len() != 4 || !(2..=3).contains(&sums.len()) {
            return None;
        }
        let all: Vec<&str> = targets.iter().chain(sums).copied().collect();
        let nx = image.index.len();
        let nd = adjoint.index.len();
        // The column: the sum in the last dimension of both reads.
        let col = *sums
            .iter()
            .find(|&&s| dim_of(adjoint, s) == Some(nd - 1) && dim_of(image, s) == Some(nx - 1))?;
        let (b, col_tap) = self.tap_of(image, nx - 1, col, targets, &all)?;
        let mut found = None;
        for &row in sums.iter().filter(|&&s| s != col) {
            let Some(d) = dim_of(image, row).filter(|&d| d != nx - 1) else {
                continue;
            };
            if let Some((a, tap)) = self.tap_of(image, d, row, targets, &all) {
                if a != b && dim_of(adjoint, row).is_some() {
                    found = Some((row, a, tap));
                    break;
                }
            }
        }
        let (row, a, row_tap) = found?;
        let batch = sums.iter().copied().find(|&s| s != row && s != col);
        let rest: Vec<&str> = targets
            .iter()
            .copied()
            .filter(|&t| t != a && t != b)
            .collect();
        let [x, y] = rest.as_slice() else { return None };
        let (outs, ins) = if place(image, x) == Place::Absent {
            (*x, *y)
        } else {
            (*y, *x)
        };
        let image_vars: Vec<&str> = batch.into_iter().chain([ins, row, col]).collect();
        let adjoint_vars: Vec<&str> = batch.into_iter().chain([outs, row, col]).collect();
        if nx != image_vars.len() || nd != adjoint_vars.len() {
            return None;
        }
        for v in batch.into_iter().chain([ins]) {
            unit_in(&image.index[dim_of(image, v)?], v, &all).filter(|(s, _)| *s == 1)?;
        }
        for &v in &adjoint_vars {
            unit_in(&adjoint.index[dim_of(adjoint, v)?], v, &all).filter(|(s, _)| *s == 1)?;
        }
        if place(image, outs) != Place::Absent || place(adjoint, ins) != Place::Absent {
            return None;
        }
        let ranges = self.box_ranges(levels, term, image, &[row, col], &[])?;
        let taps = [
            self.tap_range_level(levels, a, row_tap)?,
            self.tap_range_level(levels, b, col_tap)?,
        ];
        let plan = WinoPlan {
            kind: Kind::Filter,
            image: image.clone(),
            other: adjoint.clone(),
            batch: batch.map(str::to_string),
            outs: outs.to_string(),
            ins: ins.to_string(),
            row: row.to_string(),
            col: col.to_string(),
            taps,
            ranges,
            negative: false,
            scalars: Vec::new(),
        };
        self.inside(&plan).then_some(plan)
    }

    /// In the image's dimension `d`, `index = x + sign * t + δ` for the
    /// variable `x` and a tap `t` among `candidates`; returns `t` and the
    /// tap (its range still unknown).
    fn tap_of<'v>(
        &self,
        image: &Read,
        d: usize,
        x: &str,
        candidates: &[&'v str],
        all: &[&str],
    ) -> Option<(&'v str, Tap)> {
        let ix = &image.index[d];
        let (cx, rest) = ix.linear_in(x)?;
        if cx.as_const() != Some(1) {
            return None;
        }
        for &t in candidates {
            if t == x || !rest.mentions(t) {
                continue;
            }
            let (sign, _) = unit_in(&rest, t, all)?;
            return Some((
                t,
                Tap {
                    var: t.to_string(),
                    sign,
                    x_dim: d,
                    lo: Poly::zero(),
                },
            ));
        }
        None
    }

    /// A summed tap's range: three consecutive values, apart from bounds
    /// that keep the image's read inside the image.
    fn tap_range(&self, term: &RowTerm<'_>, t: &str, image: &Read, mut tap: Tap) -> Option<Tap> {
        let r = &term.sums.iter().find(|s| s.var == t)?.range;
        let (lo, hi) = self.base_range(r, t, image)?;
        (hi.sub(&lo).as_const() == Some(2) && lo.vars().is_empty()).then_some(())?;
        tap.lo = lo;
        Some(tap)
    }

    /// A target tap's range: three consecutive values.
    fn tap_range_level(&self, levels: &[Level], t: &str, mut tap: Tap) -> Option<Tap> {
        let r = &levels.iter().find(|(v, _, _)| v == t)?.1;
        (r.hi.sub(&r.lo).as_const() == Some(2)).then_some(())?;
        tap.lo = r.lo.clone();
        Some(tap)
    }

    /// A range's bounds without those that keep the image's read inside
    /// the image: one lower and one upper bound, free of variables.
    fn base_range(&self, r: &Range, v: &str, image: &Read) -> Option<(Poly, Poly)> {
        let x = Poly::var(v);
        let implied = |g: &Poly| {
            (0..image.index.len())
                .any(|d| implied_by(g, &image.index[d], &self.p.tensors[image.tensor].dims[d]))
        };
        let lo: Vec<Poly> = operands(&r.lo, true)
            .into_iter()
            .filter(|op| !implied(&x.sub(op)))
            .collect();
        let hi: Vec<Poly> = operands(&r.hi, false)
            .into_iter()
            .filter(|op| !implied(&op.sub(&x)))
            .collect();
        match (lo.as_slice(), hi.as_slice()) {
            ([l], [h]) if l.vars().is_empty() && h.vars().is_empty() => {
                Some((l.clone(), h.clone()))
            }
            _ => None,
        }
    }

    /// The ranges of the box's variables: the target's (taps aside) and
    /// the sums' (`padded` ones without the bounds the image's zero padding
    /// implies, taps skipped, the others as written).
    fn box_ranges(
        &self,
        levels: &[Level],
        term: &RowTerm<'_>,
        image: &Read,
        padded: &[&str],
        taps: &[&str],
    ) -> Option<Vec<(String, Range)>> {
        let plain = |r: &Range| r.lo.vars().is_empty() && r.hi.vars().is_empty();
        let mut out: Vec<(String, Range)> = Vec::new();
        for (v, r, _) in levels {
            if !plain(r) {
                return None;
            }
            out.push((v.clone(), r.clone()));
        }
        for s in &term.sums {
            let v = s.var.as_str();
            if taps.contains(&v) {
                continue;
            }
            if padded.contains(&v) {
                let (lo, hi) = self.base_range(&s.range, v, image)?;
                out.push((s.var.clone(), Range { lo, hi }));
            } else if plain(&s.range) {
                out.push((s.var.clone(), s.range.clone()));
            } else {
                return None;
            }
        }
        Some(out)
    }

    /// True when every read other than the image's rows and columns stays
    /// inside its tensor over the whole box (the runtime reads those
    /// directly; only the image is zero-padded).
    fn inside(&self, plan: &WinoPlan) -> bool {
        let range = |v: &str| {
            plan.ranges
                .iter()
                .find(|(n, _)| n == v)
                .map(|(_, r)| r.clone())
        };
        let mut scope = self.enclosing.clone();
        scope.extend(plan.ranges.iter().cloned());
        for t in &plan.taps {
            scope.push((
                t.var.clone(),
                Range {
                    lo: t.lo.clone(),
                    hi: t.lo.add_int(2),
                },
            ));
        }
        let within = |r: &Read, d: usize| -> bool {
            let dim = &self.p.tensors[r.tensor].dims[d];
            let ix = &r.index[d];
            // Over the box: its extremes by the scope's ranges.
            provably_nonneg(&ix.sub(&dim.lo), &scope) && provably_nonneg(&dim.hi.sub(ix), &scope)
        };
        let image_pad = [plan.taps[0].x_dim, plan.taps[1].x_dim];
        let image_ok =
            (0..plan.image.index.len()).all(|d| image_pad.contains(&d) || within(&plan.image, d));
        let other_ok = (0..plan.other.index.len()).all(|d| within(&plan.other, d));
        let named = [&plan.outs, &plan.ins, &plan.row, &plan.col]
            .into_iter()
            .chain(&plan.batch)
            .all(|v| range(v).is_some());
        image_ok && other_ok && named
    }

    /// True unless `v` is one of the plan's taps: a thread's chunk of the
    /// target's first index must not cut the three taps apart.
    pub(super) fn splits_by(plan: &WinoPlan, v: &str) -> bool {
        plan.taps.iter().all(|t| t.var != v)
    }

    /// The call of one Winograd plan into `target` (the whole target, or a
    /// thread's chunk of its first index).
    pub(super) fn wino_emit(
        &mut self,
        tensor: usize,
        levels: &[Level],
        plan: &WinoPlan,
        target: &str,
        chunk: Option<&Chunk>,
        threads: &str,
    ) -> Res<Vec<String>> {
        self.helpers.insert("dim");
        // Each variable's range, the chunk's rows for the target's first
        // index.
        let range = |v: &str| -> Range {
            let r = plan
                .ranges
                .iter()
                .find(|(n, _)| n == v)
                .map(|(_, r)| r.clone())
                .expect("a variable of the box");
            match chunk {
                Some(ch) if levels[0].0 == v => ch.range(&r),
                _ => r,
            }
        };
        let lo = |v: &str| range(v).lo;
        let extent = |g: &mut Gen<'m>, v: &str| {
            let r = range(v);
            g.extent_usize(&r.lo, &r.hi).text
        };
        // Every variable at its first value (taps at the runtime's tap 0).
        let firsts: Vec<(String, Poly)> = [&plan.outs, &plan.ins, &plan.row, &plan.col]
            .into_iter()
            .chain(&plan.batch)
            .map(|v| (v.clone(), lo(v)))
            .chain(plan.taps.iter().map(|t| (t.var.clone(), t.at(0))))
            .collect();
        let at_first = |p: &Poly| {
            firsts
                .iter()
                .fold(p.clone(), |q, (v, x)| q.substitute(v, x))
        };
        let stride_of = |g: &Gen<'m>, r: &Read, v: &str| -> Poly {
            match dim_of(r, v) {
                Some(d) => {
                    let s = stride(&g.p.tensors[r.tensor].dims, d);
                    let (c, _) = r.index[d].linear_in(v).expect("affine");
                    s.mul(&c)
                }
                None => Poly::zero(),
            }
        };
        let batch = match &plan.batch {
            Some(n) => extent(self, n),
            None => "1".to_string(),
        };
        let (outs, ins) = (extent(self, &plan.outs), extent(self, &plan.ins));

        // The image: its whole rows and columns, from the first image and
        // channel of the box.
        let image = &plan.image;
        let idims = self.p.tensors[image.tensor].dims.clone();
        let [rd, cd] = [plan.taps[0].x_dim, plan.taps[1].x_dim];
        let mut index: Vec<Poly> = image.index.iter().map(&at_first).collect();
        index[rd] = idims[rd].lo.clone();
        index[cd] = idims[cd].lo.clone();
        let ioff = self.offset_i64(&Read {
            tensor: image.tensor,
            slot: image.slot,
            index,
        });
        let batch_stride = |g: &Gen<'m>, r: &Read| match &plan.batch {
            Some(n) => stride_of(g, r, n),
            None => Poly::zero(),
        };
        let istrides = [
            batch_stride(self, image),
            stride_of(self, image, &plan.ins),
            stride(&idims, rd),
        ];
        let iv = self.images(
            &ioff.as_usize(),
            &istrides,
            &idims[rd].extent(),
            &idims[cd].extent(),
        );
        // Padding: the image's row read at output row 0 and tap 0 is
        // `-pad` (counted from its first row).
        let pad: Vec<String> = plan
            .taps
            .iter()
            .zip([&plan.row, &plan.col])
            .map(|(t, x)| {
                let ix = image.index[t.x_dim]
                    .substitute(x, &lo(x))
                    .substitute(&t.var, &t.at(0));
                let p = idims[t.x_dim].lo.sub(&ix);
                self.isize(&p)
            })
            .collect();
        let pad = format!("[{}, {}]", pad[0], pad[1]);

        // The filter view: the filter, or the target of a filter gradient.
        let tap_strides = |g: &Gen<'m>, r: &Read, dims: &[Range]| -> [Poly; 2] {
            [&plan.taps[0], &plan.taps[1]].map(|t| {
                let d = dim_of(r, &t.var).expect("a tap dimension");
                let (c, _) = r.index[d].linear_in(&t.var).expect("affine");
                let _ = g;
                stride(dims, d).mul(&c).scale(t.sign)
            })
        };
        let mut pre = Vec::new();
        let alpha = self.expr(&alpha(plan.negative, &plan.scalars), None, &mut pre)?;
        let tdims = self.p.tensors[tensor].dims.clone();
        let target_read = Read {
            tensor,
            slot: Slot::Value,
            index: levels.iter().map(|(v, _, _)| Poly::var(v)).collect(),
        };
        // The target at the box's first point, relative to the chunk.
        let mut tindex: Vec<Poly> = target_read.index.iter().map(&at_first).collect();
        if let Some(ch) = chunk {
            tindex[0] = tindex[0].sub(&Poly::var(&ch.first));
        }
        let toff = self.offset_i64(&Read {
            tensor,
            slot: Slot::Value,
            index: tindex,
        });
        let operand = |g: &mut Gen<'m>, r: &Read| g.buffer(r).expect("a computed buffer");
        let image_buf = as_slice(&operand(self, image));
        let other_buf = as_slice(&operand(self, &plan.other));
        let other = &plan.other;
        let odims = self.p.tensors[other.tensor].dims.clone();
        let call = match plan.kind {
            Kind::Correlate => {
                let foff = self.offset_i64(&Read {
                    tensor: other.tensor,
                    slot: other.slot,
                    index: other.index.iter().map(&at_first).collect(),
                });
                let [sa, sb] = tap_strides(self, other, &odims);
                let fv = self.filter_view(
                    &foff.as_usize(),
                    &[
                        stride_of(self, other, &plan.outs),
                        stride_of(self, other, &plan.ins),
                        sa,
                        sb,
                    ],
                );
                let tstrides = [
                    batch_stride(self, &target_read),
                    stride_of(self, &target_read, &plan.outs),
                    stride_of(self, &target_read, &plan.row),
                ];
                let (rows, cols) = (range(&plan.row), range(&plan.col));
                let ov = self.images(&toff.as_usize(), &tstrides, &rows.extent(), &cols.extent());
                format!(
                    "{}::conv3x3({batch}, {outs}, {ins}, {pad}, {}, {image_buf}, {iv}, {other_buf}, {fv}, &mut {target}[..], {ov});",
                    self.runtime, alpha.text
                )
            }
            Kind::Filter => {
                let doff = self.offset_i64(&Read {
                    tensor: other.tensor,
                    slot: other.slot,
                    index: other.index.iter().map(&at_first).collect(),
                });
                let dstrides = [
                    batch_stride(self, other),
                    stride_of(self, other, &plan.outs),
                    stride_of(self, other, &plan.row),
                ];
                let (rows, cols) = (range(&plan.row), range(&plan.col));
                let dv = self.images(&doff.as_usize(), &dstrides, &rows.extent(), &cols.extent());
                let [sa, sb] = tap_strides(self, &target_read, &tdims);
                let fv = self.filter_view(
                    &toff.as_usize(),
                    &[
                        stride_of(self, &target_read, &plan.outs),
                        stride_of(self, &target_read, &plan.ins),
                        sa,
                        sb,
                    ],
                );
                format!(
                    "{}::conv3x3_filter({batch}, {outs}, {ins}, {pad}, {}, {other_buf}, {dv}, {image_buf}, {iv}, &mut {target}[..], {fv}, {threads});",
                    self.runtime, alpha.text
                )
            }
        };
        self.gemm_used = true;
        let mut lines = pre;
        lines.push(call);
        Ok(lines)
    }

    /// `sharegrad_runtime::Images { .. }` for a view at `offset`.
    fn images(&mut self, offset: &str, strides: &[Poly; 3], rows: &Poly, cols: &Poly) -> String {
        let s: Vec<String> = strides.iter().map(|p| self.poly(p).as_usize()).collect();
        let rows = self.poly(rows);
        let cols = self.poly(cols);
        format!(
            "{}::Images {{ offset: {offset}, strides: [{}, {}, {}], rows: dim({}), cols: dim({}) }}",
            self.runtime, s[0], s[1], s[2], rows.text, cols.text
        )
    }

    /// `p` as an `isize` expression (a constant as a plain literal).
    fn isize(&mut self, p: &Poly) -> String {
        match p.as_const() {
            Some(c) => c.to_string(),
            None => format!("{} as isize", self.poly(p).at(Prec::Unary)),
        }
    }

    /// A filter view `(offset, [strides])`, strides as `isize`.
    fn filter_view(&mut self, offset: &str, strides: &[Poly; 4]) -> String {
        let s: Vec<String> = strides.iter().map(|p| self.isize(p)).collect();
        format!("({offset}, [{}])", s.join(", "))
    }
}
