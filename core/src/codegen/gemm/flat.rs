//! Flattening an outer index into a matrix index through zero-padded
//! copies, so that a convolution's product for one image and kernel tap is
//! one call over the whole plane instead of one per row.
//!
//! A plan's matrix index `u` (the row, column or summed index) and an outer
//! index `v` merge into one index `f = v * R + u` when, in every tensor of
//! the call that holds `u`, `v` enters the dimension just before `u`'s with
//! coefficient 1 (`y[.., v + α, u + β]`), and the tensor without `u` does
//! not read `v`. The rows of width `R` then follow each other in memory,
//! provided every tensor with `u` has that row width. The copies make it so:
//!
//! - each operand read with `(v + α, u + β)` is copied into a buffer padded
//!   with zeros in those two dimensions, wide enough for every value of `α`
//!   and `β` (the kernel taps) and with the common width `R`;
//! - a target holding `u` (a forward value, an input gradient) is computed
//!   in a scratch copy whose rows have width `R` too, and its columns past
//!   the target's are dropped when it is added in;
//! - a summed `u` (a weight gradient) needs a product that is zero on the
//!   columns past the box: one operand must read exactly its own columns
//!   over `u`'s range, so that those points fall on its padding.
//!
//! The merge is exact when every bound and condition that mentions `u` or
//! `v`, other than their own ranges, says that a padded operand's index lies
//! in its dimension: such a point reads a zero of the copy instead of being
//! skipped. Anything else (a stride condition, a bound of the model's own)
//! keeps the row-by-row calls.

use super::{long, place, Place, Plan};
use crate::codegen::{provably_nonneg, Gen, Level};
use crate::ir::{Cond, Range, Read};
use crate::poly::Poly;

/// A buffer layout: `(first index, extent)` per dimension.
pub(super) type Layout = Vec<(Poly, Poly)>;

/// A padded copy: its buffer's name and layout.
type PaddedCopy = Option<(String, Layout)>;

/// A merge, with the plan's outer loops and conditions that remain.
type Merged = (Flat, Vec<(String, Poly, Poly)>, Vec<(usize, Cond)>);

/// A plan's merged indices and the copies they need.
pub(super) struct Flat {
    /// The matrix index merged into: 0 row, 1 column, 2 summed.
    pub role: usize,
    /// The outer index merged away.
    pub v: String,
    /// `v`'s range, and `u`'s (the whole box, junk columns aside).
    pub v0: Poly,
    pub v1: Poly,
    pub u0: Poly,
    pub u1: Poly,
    /// The common row width `R` of the merged dimensions.
    pub width: Poly,
    /// The padded copies of `A` (0) and `B` (1): the buffer's name and its
    /// layout, `(first index, extent)` per dimension.
    pub padded: [PaddedCopy; 2],
    /// The target's dimension of `u` when the target holds it (and is then
    /// computed in a scratch copy of row width `R`).
    pub target: Option<usize>,
    /// The copies hold one slice of their first dimension, the outermost
    /// loop's index (an image of the batch): filled at the top of each of
    /// its iterations, so that they stay in cache for that image's calls.
    pub block: bool,
}

/// Where `u` sits in a read: `(dimension of v, dimension of u, α, β)` with
/// index `v + α` and `u + β` there.
pub(super) fn pair(
    r: &Read,
    v: &str,
    u: &str,
    matrix: &[&str],
) -> Option<(usize, usize, Poly, Poly)> {
    let Place::At(du) = place(r, u) else {
        return None;
    };
    if du == 0 || place(r, v) != Place::At(du - 1) {
        return None;
    }
    let alpha = r.index[du - 1].sub(&Poly::var(v));
    let beta = r.index[du].sub(&Poly::var(u));
    let clean = |p: &Poly| !p.mentions(v) && matrix.iter().all(|m| !p.mentions(m));
    (clean(&alpha) && clean(&beta)).then_some((du - 1, du, alpha, beta))
}

/// The smallest (`lower`) or largest value of `p` over the loops `ranges`
/// (innermost last, each bounded by earlier ones); None unless `p` is
/// affine with constant coefficients in them.
fn extreme(p: &Poly, ranges: &[(String, Poly, Poly)], lower: bool) -> Option<Poly> {
    let mut p = p.clone();
    for (var, lo, hi) in ranges.iter().rev() {
        if !p.mentions(var) {
            continue;
        }
        let (c, rest) = p.linear_in(var)?;
        let c = c.as_const()?;
        let pick = if (c > 0) == lower { lo } else { hi };
        p = rest.add(&pick.scale(c));
    }
    p.vars().is_empty().then_some(p)
}

/// True when `g >= 0` follows from `index` lying in `range` (the zero
/// padding of a read): `g` is `index - lo` or `hi - index` plus a
/// non-negative constant.
pub(super) fn implied_by(g: &Poly, index: &Poly, range: &Range) -> bool {
    [index.sub(&range.lo), range.hi.sub(index)]
        .iter()
        .any(|r| g.sub(r).as_const().is_some_and(|c| c >= 0))
}

impl<'m> Gen<'m> {
    /// `let mut name = vec![0; dim(e0) * dim(e1) * ..];`: a zeroed buffer
    /// with `layout`.
    pub(super) fn zeroed(&mut self, name: &str, layout: &[(Poly, Poly)]) -> String {
        self.helpers.insert("dim");
        let parts: Vec<String> = layout
            .iter()
            .filter(|(_, e)| e.as_const() != Some(1))
            .map(|(_, e)| format!("dim({})", self.poly(e).text))
            .collect();
        let len = if parts.is_empty() {
            "1".to_string()
        } else {
            parts.join(" * ")
        };
        format!("let mut {name} = ::std::vec![{}; {len}];", self.zero().text)
    }

    /// Tries to merge an outer index into one of `plan`'s matrix indices;
    /// on success the plan's outer loops lose that index, their bounds and
    /// conditions lose what the padding now enforces, and `plan.flat` says
    /// what to copy.
    pub(super) fn flatten(
        &mut self,
        tensor: usize,
        levels: &[Level],
        sums: &[(String, Range)],
        plan: &mut Plan,
    ) {
        let scratch = self.target_dims(tensor, levels, plan).2;
        for role in 0..3 {
            for v in plan.outer.iter().map(|o| o.0.clone()).collect::<Vec<_>>() {
                if let Some(done) = self.try_flatten(levels, sums, plan, role, &v, scratch) {
                    let (flat, outer, conds) = done;
                    plan.outer = outer;
                    plan.conds = conds;
                    plan.flat = Some(flat);
                    return;
                }
            }
        }
    }

    fn try_flatten(
        &mut self,
        levels: &[Level],
        sums: &[(String, Range)],
        plan: &Plan,
        role: usize,
        v: &str,
        scratch: bool,
    ) -> Option<Merged> {
        let r = &plan.roles;
        let names = [r.m.as_str(), r.n.as_str(), r.k.as_str()];
        let u = names[role];
        // The operands holding u, and the one that must not read v.
        let (holders, other): (Vec<usize>, Option<usize>) = match role {
            0 => (vec![0], Some(1)),
            1 => (vec![1], Some(0)),
            _ => (vec![0, 1], None),
        };
        let reads = [&r.a, &r.b];
        let mut pairs = Vec::new();
        for &z in &holders {
            pairs.push((z, pair(reads[z], v, u, &names)?));
        }
        if let Some(o) = other {
            if place(reads[o], v) != Place::Absent {
                return None;
            }
        }
        // Base ranges of v and u.
        let level = |x: &str| levels.iter().position(|(n, _, _)| n == x);
        let sum = |x: &str| sums.iter().find(|(n, _)| n == x).map(|(_, r)| r.clone());
        let (vr, ur, target) = if role < 2 {
            // The target holds u, just after v, neither its first index.
            let (dv, du) = (level(v)?, level(u)?);
            if dv == 0 || du != dv + 1 || scratch {
                return None;
            }
            (levels[dv].1.clone(), levels[du].1.clone(), Some(du))
        } else {
            if level(v).is_some() {
                return None;
            }
            let (vr, ur) = (sum(v)?, sum(u)?);
            let plain = |r: &Range| r.lo.vars().is_empty() && r.hi.vars().is_empty();
            if !plain(&vr) || !plain(&ur) {
                return None;
            }
            (vr, ur, None)
        };
        if !long(&vr) {
            return None;
        }
        // Every other constraint on u or v must be a padded read's range.
        let implied = |g: &Poly| {
            pairs.iter().any(|(z, (dv, du, _, _))| {
                let read = reads[*z];
                let dims = &self.p.tensors[read.tensor].dims;
                [*dv, *du]
                    .iter()
                    .any(|&d| implied_by(g, &read.index[d], &dims[d]))
            })
        };
        let uv = Poly::var(u);
        for lo in &plan.lowers[role] {
            if *lo != ur.lo && !implied(&uv.sub(lo)) {
                return None;
            }
        }
        for hi in &plan.uppers[role] {
            if *hi != ur.hi && !implied(&hi.sub(&uv)) {
                return None;
            }
        }
        for i in (0..3).filter(|&i| i != role) {
            if plan.lowers[i]
                .iter()
                .chain(&plan.uppers[i])
                .any(|p| p.mentions(v))
            {
                return None;
            }
        }
        let vpos = plan.outer.iter().position(|o| o.0 == v)?;
        let mut conds = Vec::new();
        for (d, c) in &plan.conds {
            match c {
                Cond::Divides { den, num } if den.mentions(v) || num.mentions(v) => return None,
                Cond::Within { e, lo, hi } if e.mentions(v) || lo.mentions(v) || hi.mentions(v) => {
                    let (g1, g2) = (e.sub(lo), hi.sub(e));
                    let own = |g: &Poly| {
                        // v's own range, restated.
                        [Poly::var(v).sub(&vr.lo), vr.hi.sub(&Poly::var(v))]
                            .iter()
                            .any(|r| g.sub(r).as_const().is_some_and(|c| c >= 0))
                    };
                    if !(implied(&g1) || own(&g1)) || !(implied(&g2) || own(&g2)) {
                        return None;
                    }
                }
                _ => conds.push((if *d > vpos { d - 1 } else { *d }, c.clone())),
            }
        }
        // The outer loops without v, their bounds relaxed where the padding
        // now holds them.
        let mut outer = Vec::new();
        for (i, (x, lo, hi)) in plan.outer.iter().enumerate() {
            if i == vpos {
                continue;
            }
            let xv = Poly::var(x);
            // A sum's own bounds (the plan's are relaxed over the matrix
            // indices); a target index's as they are.
            let (lo, hi) = match sums.iter().find(|(n, _)| n == x) {
                Some((_, r)) => (&r.lo, &r.hi),
                None => (lo, hi),
            };
            let mut bound = [None::<Poly>, None];
            for (b, lower) in [(lo, true), (hi, false)] {
                for op in super::operands(b, lower) {
                    if names.iter().any(|m| *m != u && op.mentions(m)) {
                        return None;
                    }
                    if op.mentions(v) || op.mentions(u) {
                        let g = if lower { xv.sub(&op) } else { op.sub(&xv) };
                        if !implied(&g) {
                            return None;
                        }
                        continue;
                    }
                    let slot = &mut bound[usize::from(!lower)];
                    *slot = Some(match slot.take() {
                        None => op,
                        Some(q) if lower => q.max_of(&op),
                        Some(q) => q.min_of(&op),
                    });
                }
            }
            let [Some(l), Some(h)] = bound else {
                return None;
            };
            outer.push((x.clone(), l, h));
        }
        // Padded layouts: each merged dimension wide enough for every read.
        let mut ranges = vec![
            (v.to_string(), vr.lo.clone(), vr.hi.clone()),
            (u.to_string(), ur.lo.clone(), ur.hi.clone()),
        ];
        ranges.extend(outer.iter().cloned());
        let mut layouts: Vec<(usize, usize, usize, Layout)> = Vec::new();
        let mut width = ur.extent();
        for (z, (dv, du, _, _)) in &pairs {
            let read = reads[*z];
            let dims = self.p.tensors[read.tensor].dims.clone();
            let mut layout: Vec<(Poly, Poly)> =
                dims.iter().map(|d| (d.lo.clone(), d.extent())).collect();
            for d in [*dv, *du] {
                let lo = dims[d].lo.min_of(&extreme(&read.index[d], &ranges, true)?);
                let hi = dims[d].hi.max_of(&extreme(&read.index[d], &ranges, false)?);
                layout[d] = (lo.clone(), hi.sub(&lo).add_int(1));
            }
            width = width.max_of(&layout[*du].1);
            layouts.push((*z, *dv, *du, layout));
        }
        for (_, _, du, layout) in &mut layouts {
            layout[*du].1 = width.clone();
        }
        // A summed u: some operand reads exactly its own columns over u's
        // range, so the columns past the box are its zeros.
        if target.is_none() {
            let mut scope = self.enclosing.clone();
            scope.extend(outer.iter().map(|(x, lo, hi)| {
                (
                    x.clone(),
                    Range {
                        lo: lo.clone(),
                        hi: hi.clone(),
                    },
                )
            }));
            let covers = pairs.iter().any(|(z, (_, du, _, beta))| {
                let d = &self.p.tensors[reads[*z].tensor].dims[*du];
                provably_nonneg(&d.lo.sub(&ur.lo.add(beta)), &scope)
                    && provably_nonneg(&ur.hi.add(beta).sub(&d.hi), &scope)
            });
            if !covers {
                return None;
            }
        }
        // Blocked by the outermost loop when it is the first index of every
        // copy.
        let first = outer.first().map(|o| Poly::var(&o.0));
        let block = first.as_ref().is_some_and(|x0| {
            layouts.iter().all(|(z, _, _, _)| reads[*z].index[0] == *x0)
                && target.is_none_or(|_| Poly::var(&levels[0].0) == *x0)
        });
        let mut padded: [PaddedCopy; 2] = [None, None];
        for (z, _, _, mut layout) in layouts {
            if let (true, Some(x0)) = (block, &first) {
                layout[0] = (x0.clone(), Poly::int(1));
            }
            padded[z] = Some((self.fresh("padded"), layout));
        }
        let flat = Flat {
            role,
            v: v.to_string(),
            v0: vr.lo,
            v1: vr.hi,
            u0: ur.lo,
            u1: ur.hi,
            width,
            padded,
            target,
            block,
        };
        Some((flat, outer, conds))
    }

    /// The statements that allocate the padded copies of a flattened plan
    /// and those that fill them: before any thread starts (the threads only
    /// read them), or for a blocked plan inside the outermost loop.
    pub(super) fn flat_copies(&mut self, plan: &Plan) -> (Vec<String>, Vec<String>) {
        let (mut alloc, mut fill) = (Vec::new(), Vec::new());
        let Some(flat) = &plan.flat else {
            return (alloc, fill);
        };
        for (z, read) in [&plan.roles.a, &plan.roles.b].into_iter().enumerate() {
            let Some((name, layout)) = &flat.padded[z] else {
                continue;
            };
            let dims = self.p.tensors[read.tensor].dims.clone();
            let src = self.buffer(read).expect("a computed buffer");
            // One row (the last dimension) per iteration; a blocked copy's
            // first index is the outermost loop's.
            let skip = usize::from(flat.block);
            let vars: Vec<String> = (skip..dims.len() - 1).map(|_| self.fresh("i")).collect();
            let mut index: Vec<Poly> = Vec::new();
            if flat.block {
                index.push(layout[0].0.clone());
            }
            index.extend(vars.iter().map(|x| Poly::var(x)));
            index.push(dims[dims.len() - 1].lo.clone());
            let from = self.offset_i64(&Read {
                tensor: read.tensor,
                slot: read.slot,
                index: index.clone(),
            });
            let to = self.layout_offset(&index, layout);
            let row = self.poly(&dims[dims.len() - 1].extent());
            let (f, t) = (self.fresh("from"), self.fresh("to"));
            let mut body = vec![format!(
                "let {f} = {}; let {t} = {}; {name}[{t}..{t} + dim({})].copy_from_slice(&{src}[{f}..{f} + dim({})]);",
                from.as_usize(),
                to.as_usize(),
                row.text,
                row.text
            )];
            for (x, d) in vars.iter().zip(&dims[skip..]).rev() {
                body = vec![self.for_loop(x, &d.lo, &d.hi, &body)];
            }
            alloc.push(self.zeroed(name, layout));
            fill.extend(body);
        }
        (alloc, fill)
    }
}
