//! Arg-max adjoints from the winner's side.
//!
//! A maximum passes its adjoint to the first maximal point of its window:
//! the contribution is `sum_{o, b} [g(o, b) = t] F(o) [b = argmax_b' f(o, b')]`
//! over the statement's points `o` and the window `b`. In gather form each
//! target point `t` finds the windows that cover it and searches each of
//! them for its arg-max again: a 2x2 pooling searches every window four
//! times. Here the loops run over the windows instead: one search per
//! window, then `X[g(o, argmax)] += F(o)`. Every write goes to the rows of
//! the target that the window's first index selects, so the target is still
//! split across threads by its first index when that index is a statement
//! index read with coefficient 1 (each thread runs the windows of its own
//! rows); otherwise the nest runs on one thread.

use super::gemm::{expr_mentions, signed_factors};
use super::rows::Chunk;
use super::{
    all_of, inferred_inside, provably_nonneg, read_key, visit_expr, Gen, Level, Prec, Res, RowInit,
};
use crate::ir::{Adjoint, Cond, Contribution, Expr, Pred, Range, Read, Slot};
use crate::poly::Poly;

/// One contribution, taken apart.
pub(super) struct Winner<'e> {
    /// The window's variables, in the order of the arg-max's binders.
    pub window: Vec<String>,
    /// The other sums (the statement's points), outermost first.
    pub outer: Vec<(String, Range)>,
    /// The arg-max's binders and their ranges.
    pub binders: &'e [(String, Range)],
    /// What the arg-max searches.
    pub body: &'e Expr,
    /// The value passed back: the other factors.
    pub value: Expr,
}

impl Winner<'_> {
    /// The points of the contribution's sums with their ranges: the
    /// statement's (`outer`), then the window's variables, ranging as the
    /// arg-max's binders.
    pub fn points(&self) -> Vec<(String, Range)> {
        let mut scope = self.outer.clone();
        scope.extend(
            self.window
                .iter()
                .cloned()
                .zip(self.binders.iter().map(|(_, r)| r.clone())),
        );
        scope
    }
}

pub(super) fn analyse(c: &Contribution) -> Option<Winner<'_>> {
    let sc = &c.scatter;
    let mut negative = false;
    let mut fs = Vec::new();
    signed_factors(&sc.factor, &mut negative, &mut fs);
    let mut found = None;
    let mut rest = Vec::new();
    for f in fs {
        match f {
            Expr::Indicator(p) if matches!(**p, Pred::FirstArgMax { .. }) && found.is_none() => {
                found = Some(&**p);
            }
            _ => rest.push(f.clone()),
        }
    }
    let Some(Pred::FirstArgMax { binders, body, at }) = found else {
        return None;
    };
    // The tested point is the window's own variables, ranging as the
    // binders do.
    let mut window = Vec::new();
    for (p, (_, br)) in at.iter().zip(binders) {
        let s = sc
            .sums
            .iter()
            .find(|s| *p == Poly::var(&s.var) && !window.contains(&s.var))?;
        if s.range != *br {
            return None;
        }
        window.push(s.var.clone());
    }
    let outer: Vec<(String, Range)> = sc
        .sums
        .iter()
        .filter(|s| !window.contains(&s.var))
        .map(|s| (s.var.clone(), s.range.clone()))
        .collect();
    let in_window = |p: &Poly| window.iter().any(|w| p.mentions(w));
    if outer
        .iter()
        .any(|(_, r)| in_window(&r.lo) || in_window(&r.hi))
    {
        return None;
    }
    let mut mentions = false;
    for f in &rest {
        visit_expr(f, &mut |x| {
            if let Expr::Read(r) = x {
                mentions |= r.index.iter().any(in_window);
            }
        });
        mentions |= window.iter().any(|w| expr_mentions(f, w));
    }
    if mentions {
        return None;
    }
    let value = match rest.len() {
        0 => Expr::Num(1.0),
        1 => rest.pop().expect("one factor"),
        _ => Expr::Mul(rest),
    };
    let value = if negative {
        Expr::Neg(Box::new(value))
    } else {
        value
    };
    Some(Winner {
        window,
        outer,
        binders,
        body,
        value,
    })
}

/// An adjoint with terms of both kinds, split in two that add into the
/// same target: the other terms (and the seed) first, then the arg-max
/// terms on their own, so that those run from the windows (one search per
/// window) instead of searching again at every target point. A softmax's
/// `bar z[k] += bar m [k = argmax z]` would otherwise scan the whole
/// vector once per element. None when the terms are all of one kind.
pub(super) fn split_winners(a: &Adjoint) -> Option<[Adjoint; 2]> {
    let (winners, rest): (Vec<Contribution>, Vec<Contribution>) =
        a.terms.iter().cloned().partition(|c| analyse(c).is_some());
    if winners.is_empty() || rest.is_empty() || a.vars.is_empty() {
        return None;
    }
    let rest = Adjoint {
        terms: rest,
        ..a.clone()
    };
    let winners = Adjoint {
        terms: winners,
        seeded: false,
        ..a.clone()
    };
    Some([rest, winners])
}

impl<'m> Gen<'m> {
    /// The code of an adjoint whose every term passes a maximum's adjoint to
    /// its arg-max, run from the windows (see the module). None when a term
    /// is of another kind.
    pub(super) fn winner_nest(
        &mut self,
        a: &Adjoint,
        levels: &[Level],
        target: &str,
        init: RowInit,
    ) -> Option<Res<String>> {
        if a.terms.is_empty() || levels.is_empty() {
            return None;
        }
        let winners: Vec<Winner<'_>> = a.terms.iter().map(analyse).collect::<Option<_>>()?;
        let tensor = a.tensor;
        // The target's first index as a statement index, in every term.
        let first_var = |c: &Contribution, w: &Winner<'_>| -> Option<String> {
            let (g, _) = c.scatter.delta.first()?;
            w.outer
                .iter()
                .find(|(v, r)| {
                    *g == Poly::var(v) && r.lo.vars().is_empty() && r.hi.vars().is_empty()
                })
                .map(|(v, _)| v.clone())
        };
        let firsts: Option<Vec<String>> = a
            .terms
            .iter()
            .zip(&winners)
            .map(|(c, w)| first_var(c, w))
            .collect();
        let chunk = (levels.len() >= 2 && firsts.is_some()).then(|| self.new_chunk());
        let mut lines = Vec::new();
        if let RowInit::Seed(seed) = &init {
            lines.push(self.add_seed(tensor, seed, target, chunk.as_ref()));
        }
        for (k, (c, w)) in a.terms.iter().zip(&winners).enumerate() {
            let first = firsts.as_ref().map(|f| f[k].as_str());
            match self.winner_term(tensor, levels, c, w, target, chunk.as_ref().zip(first)) {
                Ok(l) => lines.extend(l),
                Err(e) => return Some(Err(e)),
            }
        }
        let lines = lines.join(" ");
        Some(Ok(match &chunk {
            Some(_) => self.in_threads(levels, chunk.as_ref(), target, target, lines),
            None => lines,
        }))
    }

    /// One term: the windows' loops, a search each, one write.
    fn winner_term(
        &mut self,
        tensor: usize,
        levels: &[Level],
        c: &Contribution,
        w: &Winner<'_>,
        target: &str,
        chunk: Option<(&Chunk, &str)>,
    ) -> Res<Vec<String>> {
        // Windows that tile rows: a row of them at a time.
        let pooled = chunk.map(|(ch, v)| (ch, v, &levels[0].1));
        if let Some(code) = self.pool_winner(tensor, c, w, target, pooled) {
            return Ok(vec![code]);
        }
        // Reads that stay in range over the windows are indexed directly.
        let mut in_range: Vec<(String, Range)> = w.outer.clone();
        in_range.extend(w.binders.iter().cloned());
        // So are the statement's own reads when its ranges were inferred:
        // each left-hand index takes exactly the values that keep every read
        // inside, so an index that moves with one of them alone is inside.
        // An index of the window alone (`x_a` under `\max_{a=0}^{n}`) or of
        // two left-hand indices (`x_{i+j+a}`) is not covered by the
        // inference and must be provably inside, or be checked.
        let statement = &self.p.statements[self.m.gradient.occurrences[c.occurrence].statement];
        let valid = !statement.bounds_written;
        let lhs_vars = statement.vars.clone();
        let mut wscope = w.points();
        wscope.extend(w.binders.iter().cloned());
        let inferred = |ix: &Poly| inferred_inside(valid, &lhs_vars, &wscope, ix);
        let saved = self.unchecked.clone();
        for (e, own) in [(w.body, true), (&w.value, false)] {
            visit_expr(e, &mut |x| {
                if let Expr::Read(r) = x {
                    if self.read_inside(r, &in_range, &|ix| own && inferred(ix)) {
                        self.unchecked.insert(read_key(r));
                    }
                }
            });
        }
        let mut body = Vec::new();
        let searched = self.arg_max(w.binders, w.body, None, &mut body);
        let value = searched.and_then(|fa| Ok((fa, self.expr(&w.value, None, &mut body)?)));
        self.unchecked = saved;
        let ((found, args), value) = value?;
        // The winner's element of the target, relative to the chunk.
        let mut scope: Vec<(String, Range)> = w.outer.clone();
        scope.extend(
            args.iter()
                .cloned()
                .zip(w.binders.iter().map(|(_, r)| r.clone())),
        );
        let dims = self.p.tensors[tensor].dims.clone();
        let mut index = Vec::new();
        let mut tests = vec![found];
        for ((g, _), d) in c.scatter.delta.iter().zip(&dims) {
            let inside_inferred = inferred(g);
            let mut ix = g.clone();
            for (v, arg) in w.window.iter().zip(&args) {
                ix = ix.substitute(v, &Poly::var(arg));
            }
            let inside = inside_inferred
                || (provably_nonneg(&ix.sub(&d.lo), &scope)
                    && provably_nonneg(&d.hi.sub(&ix), &scope));
            if !inside {
                tests.extend(self.cond(&Cond::Within {
                    e: ix.clone(),
                    lo: d.lo.clone(),
                    hi: d.hi.clone(),
                }));
            }
            index.push(ix);
        }
        if let Some((ch, _)) = chunk {
            index[0] = index[0].sub(&Poly::var(&ch.first));
        }
        let off = self.offset_i64(&Read {
            tensor,
            slot: Slot::Value,
            index,
        });
        body.push(format!(
            "if {} {{ {target}[{} as usize] += {}; }}",
            all_of(&tests),
            off.at(Prec::Unary),
            value.text
        ));
        // The windows: the statement's points, a thread's rows of the
        // target's first index only.
        let mut loops: Vec<(String, Poly, Poly)> = w
            .outer
            .iter()
            .map(|(v, r)| (v.clone(), r.lo.clone(), r.hi.clone()))
            .collect();
        if let Some((ch, var)) = chunk {
            let cr = ch.range(&levels[0].1);
            for (v, lo, hi) in &mut loops {
                if v == var {
                    *lo = lo.max_of(&cr.lo);
                    *hi = hi.min_of(&cr.hi);
                }
            }
        }
        Ok(self.wrap_loops(&loops, &[], loops.len(), body))
    }
}
