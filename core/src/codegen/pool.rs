//! Pooling rows: maxima over small windows that tile a row.
//!
//! A maximum over a window of fixed size whose reads step along the last
//! index of their tensor by a stride at least the window's width (2x2
//! pooling with stride 2, say) is computed a row of windows at a time.
//! The window's rows (one per value of the variables that do not move
//! along the last index) are slices; a function of its own, not inlined,
//! walks them in chunks of the stride, with branch-free selects for the
//! maximum and, in the backward, for the one element of each window that
//! gets the adjoint. Its slices are arguments, so the compiler knows that
//! the rows it writes do not overlap, and vectorises the loop. The search
//! is the one the derivation states: the window's points in row-major
//! order of its binders, strict `>`, so the first maximal point wins.
//!
//! When the backward needs such a maximum's arg-max, the forward records it:
//! one byte per window (the point's position in the search), in a private
//! field of `Values`. The backward then reads that record instead of the
//! input, and its memory traffic drops by the input's size: with 2x2
//! windows the record is a sixteenth of the input.
//!
//! Windows that overlap along the row (3-wide, stride 2), bounds that are
//! not numbers and reads that may leave their tensor keep the general
//! nests (and search again in the backward).

use super::rows::Chunk;
use super::winner::{self, Winner};
use super::{inferred_inside, Gen, Level};
use crate::ir::{Contribution, Expr, Range, Read, ReduceOp, Slot};
use crate::poly::Poly;

/// Most points of a window done this way; most rows.
const MAX_POINTS: usize = 64;
const MAX_ROWS: usize = 8;

/// A window's shape, shared by every read that walks it.
struct Window {
    /// The values of the binders that pick a row, one list per row, in
    /// the order the search meets them.
    rows: Vec<Vec<i64>>,
    /// The points in search order: (row, column).
    points: Vec<(usize, i64)>,
    /// Columns per row.
    width: i64,
}

/// A read walked by windows along the row variable `j`: for each row of
/// the window, the read at the row's first window (`j` at its lowest,
/// the column binder at its lowest); the stride of `j`; and the window.
struct Walk {
    starts: Vec<Read>,
    stride: i64,
    window: Window,
}

/// The binders' values as numbers, or None.
fn literal(r: &Range) -> Option<(i64, i64)> {
    let (lo, hi) = (r.lo.as_const()?, r.hi.as_const()?);
    (lo <= hi).then_some((lo, hi))
}

/// Takes `r` apart as a read of the window `names` (ranging as
/// `ranges`) along `j` (from `j_lo`). The last index must be
/// `s j + b + c` with `s` a number at least the window's width, `b` the
/// one binder there (or none) and `c` free of both; every other binder
/// must sit alone in an index of its own, with a number as coefficient,
/// so that distinct rows are distinct rows of the tensor. `column` is the
/// position of `b` among the binders, when another read fixed it.
fn walk(
    r: &Read,
    names: &[String],
    ranges: &[(i64, i64)],
    j: &str,
    j_lo: &Poly,
    column: Option<Option<usize>>,
) -> Option<(Walk, Option<usize>)> {
    let (last, rest) = r.index.split_last()?;
    let (coef, free) = last.linear_in(j)?;
    let stride = coef.as_const().filter(|&s| s >= 1)?;
    let here: Vec<usize> = (0..names.len())
        .filter(|&k| free.mentions(&names[k]))
        .collect();
    if here.len() > 1 {
        return None;
    }
    let col = here.first().copied();
    if column.is_some_and(|c| c != col) {
        return None;
    }
    if let Some(b) = col {
        let (cb, c) = free.linear_in(&names[b])?;
        if cb.as_const() != Some(1) || names.iter().any(|n| c.mentions(n)) {
            return None;
        }
        let width = ranges[b].1 - ranges[b].0 + 1;
        if width > stride {
            return None;
        }
    }
    // The other binders: one per index, each alone there.
    let mut seen = vec![false; names.len()];
    for ix in rest {
        if ix.mentions(j) {
            return None;
        }
        let inside: Vec<usize> = (0..names.len())
            .filter(|&k| ix.mentions(&names[k]))
            .collect();
        match inside.as_slice() {
            [] => {}
            [k] if Some(*k) != col && !seen[*k] => {
                let (c, _) = ix.linear_in(&names[*k])?;
                if c.as_const().is_none_or(|c| c == 0) {
                    return None;
                }
                seen[*k] = true;
            }
            _ => return None,
        }
    }
    if (0..names.len()).any(|k| Some(k) != col && !seen[k]) {
        return None;
    }
    let window = window(ranges, col)?;
    let starts = window
        .rows
        .iter()
        .map(|vals| {
            let mut at = r.clone();
            let mut vals = vals.iter();
            for (k, n) in names.iter().enumerate() {
                let v = if Some(k) == col {
                    ranges[k].0
                } else {
                    *vals.next().expect("a value per row binder")
                };
                for ix in &mut at.index {
                    *ix = ix.substitute(n, &Poly::int(v));
                }
            }
            for ix in &mut at.index {
                *ix = ix.substitute(j, j_lo);
            }
            at
        })
        .collect();
    Some((
        Walk {
            starts,
            stride,
            window,
        },
        col,
    ))
}

/// The rows and points of a window with these binder ranges and column.
fn window(ranges: &[(i64, i64)], col: Option<usize>) -> Option<Window> {
    let mut total: usize = 1;
    for &(lo, hi) in ranges {
        total = total.checked_mul(usize::try_from(hi - lo + 1).ok()?)?;
    }
    if total > MAX_POINTS {
        return None;
    }
    let width = col.map_or(1, |b| ranges[b].1 - ranges[b].0 + 1);
    let mut rows: Vec<Vec<i64>> = Vec::new();
    let mut points = Vec::new();
    let mut point: Vec<i64> = ranges.iter().map(|r| r.0).collect();
    for _ in 0..total {
        let key: Vec<i64> = (0..ranges.len())
            .filter(|&k| Some(k) != col)
            .map(|k| point[k])
            .collect();
        let row = match rows.iter().position(|r| *r == key) {
            Some(p) => p,
            None => {
                rows.push(key);
                rows.len() - 1
            }
        };
        let c = col.map_or(0, |b| point[b] - ranges[b].0);
        points.push((row, c));
        // The next point in row-major order.
        for k in (0..ranges.len()).rev() {
            if point[k] < ranges[k].1 {
                point[k] += 1;
                break;
            }
            point[k] = ranges[k].0;
        }
    }
    // A window of one point is a copy, left to the general nests.
    (rows.len() <= MAX_ROWS && points.len() >= 2).then_some(Window {
        rows,
        points,
        width,
    })
}

/// `maxes` flattened: the binders of directly nested maxima and the read
/// they reduce, or None.
fn nested_max(e: &Expr) -> Option<(Vec<(String, Range)>, &Read)> {
    let mut binders = Vec::new();
    let mut e = e;
    while let Expr::Reduce {
        op: ReduceOp::Max,
        var,
        range,
        body,
    } = e
    {
        binders.push((var.clone(), range.clone()));
        e = body;
    }
    match e {
        Expr::Read(r) if !binders.is_empty() && r.slot == Slot::Value => Some((binders, r)),
        _ => None,
    }
}

/// The elements a row of `cnt` windows spans (`cnt` is at least 1): from
/// the first window's start to the last one's end.
fn span(stride: i64, width: i64, cnt: &str) -> String {
    match (stride, width) {
        (1, 1) => cnt.to_string(),
        (1, w) => format!("{cnt} + {}", w - 1),
        (s, w) => format!("{s} * ({cnt} - 1) + {w}"),
    }
}

/// The text of one window: the running maximum `m` over the points and,
/// with `arg`, the position of the first maximal point. `m` is kept to
/// the end when `keep_max`.
fn search(w: &Window, arg: bool, keep_max: bool) -> Vec<String> {
    let mut lines = Vec::new();
    let (r0, c0) = w.points[0];
    let n = w.points.len();
    // Without `keep_max`, the last point does not update `m`.
    let m = if keep_max || n > 2 { "mut m" } else { "m" };
    lines.push(format!("let {m} = p{r0}[{c0}];"));
    if arg {
        lines.push("let mut arg = 0u8;".into());
    }
    for (t, (r, c)) in w.points.iter().enumerate().skip(1) {
        if !keep_max && t + 1 == n {
            lines.push(format!("let gt = p{r}[{c}] > m;"));
        } else {
            lines.push(format!(
                "let v = p{r}[{c}]; let gt = v > m; m = if gt {{ v }} else {{ m }};"
            ));
        }
        if arg {
            lines.push(format!("arg = if gt {{ {t} }} else {{ arg }};"));
        }
    }
    lines
}

/// One slice the row function walks: its parameter, the iterator over
/// its windows, the pattern that binds a window's part, the number of
/// whole windows it holds, and the same binding for window `j` in the
/// tail.
struct Stream {
    name: String,
    param: String,
    iter: String,
    pat: String,
    windows: String,
    tail: String,
}

impl Stream {
    /// One element per window: `name` of element type `ty`, bound as
    /// `bind` (`&gv` read, or `o` a `&mut` when `out`).
    fn each(name: &str, ty: &str, bind: &str, out: bool) -> Stream {
        let m = if out { "mut " } else { "" };
        Stream {
            name: name.to_string(),
            param: format!("{name}: &{m}[{ty}]"),
            iter: format!("{name}.{}()", if out { "iter_mut" } else { "iter" }),
            pat: bind.to_string(),
            windows: format!("{name}.len()"),
            tail: if out {
                format!("let {bind} = &mut {name}[j];")
            } else {
                format!("let {} = {name}[j];", bind.trim_start_matches('&'))
            },
        }
    }

    /// Row `k` of the window, walked `stride` elements per window: `r{k}`
    /// bound as `p{k}` when read, `d{k}` bound as `q{k}` when written.
    fn row(k: usize, ty: &str, stride: i64, write: bool) -> Stream {
        let (m, it, name, bind) = if write {
            ("mut ", "chunks_exact_mut", format!("d{k}"), format!("q{k}"))
        } else {
            ("", "chunks_exact", format!("r{k}"), format!("p{k}"))
        };
        let (windows, at) = if stride == 1 {
            (format!("{name}.len()"), "j".to_string())
        } else {
            (format!("{name}.len() / {stride}"), format!("{stride} * j"))
        };
        Stream {
            param: format!("{name}: &{m}[{ty}]"),
            iter: format!("{name}.{it}({stride})"),
            pat: bind.clone(),
            windows,
            tail: format!("let {bind} = &{m}{name}[{at}..];"),
            name,
        }
    }
}

impl<'m> Gen<'m> {
    /// The row function over `streams` (the first one has one element per
    /// window and sets their number), `body` the code of one window: a
    /// function of its own, with the windows' loop over chunks of the
    /// slices, then the windows that a slice's last chunk does not hold
    /// whole.
    fn pool_fn(&mut self, streams: &[Stream], body: &[String]) -> (String, String) {
        let name = self.fresh("pool_row");
        let g = self.fn_generics();
        let first = &streams[0];
        let head = &first.name;
        let params: Vec<&str> = streams.iter().map(|s| s.param.as_str()).collect();
        let mut pat = first.pat.clone();
        let mut iter = format!("{head}[..full]{}", &first.iter[head.len()..]);
        let mut full = format!("let full = {}", first.windows);
        for s in &streams[1..] {
            pat = format!("({pat}, {})", s.pat);
            iter.push_str(&format!(".zip({})", s.iter));
            full.push_str(&format!(".min({})", s.windows));
        }
        let tail: Vec<&str> = streams.iter().map(|s| s.tail.as_str()).collect();
        let body = body.join(" ");
        let def = format!(
            "/// One row of windows; not inlined, so that its slices do not alias and the loop vectorises.\n#[inline(never)]\n#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]\nfn {name}{g}({}) {{ {full}; for {pat} in {iter} {{ {body} }} for j in full..{head}.len() {{ {} {body} }} }}",
            params.join(", "),
            tail.join(" "),
        );
        (name, def)
    }

    /// The slices of `buf` that a row of `cnt` windows reads, one per row
    /// of the window: from the first window's start to the last one's end.
    fn window_rows(&mut self, buf: &str, walk: &Walk, width: i64, cnt: &str) -> Vec<String> {
        let mut rows = Vec::new();
        for s in &walk.starts {
            let off = self.offset_i64(s);
            rows.push(format!(
                "&{buf}[{}..][..{}]",
                off.as_usize(),
                span(walk.stride, width, cnt)
            ));
        }
        rows
    }

    /// Whether the backward passes a maximum's adjoint back from
    /// statement `st`: then its forward records the arg-max.
    fn wants_record(&self, st: usize) -> bool {
        let gr = &self.m.gradient;
        gr.adjoints.iter().any(|a| {
            !matches!(self.adj[a.tensor], super::AdjBuf::None)
                && a.terms.iter().any(|c| {
                    gr.occurrences[c.occurrence].statement == st && winner::analyse(c).is_some()
                })
        })
    }

    /// A statement `y[.., j] = max over a window of x[.., s j + b + c]`
    /// (directly nested maxima of one read) as pooling rows; None when it
    /// is not of that form. Records the arg-max when the backward wants it.
    pub(super) fn pool_forward(
        &mut self,
        st_index: usize,
        levels: &[Level],
        whole: &str,
        part: &str,
        chunk: Option<&Chunk>,
    ) -> Option<String> {
        let st = &self.p.statements[st_index];
        let (binders, read) = nested_max(&st.rhs)?;
        let ranges: Vec<(i64, i64)> = binders
            .iter()
            .map(|(_, r)| literal(r))
            .collect::<Option<_>>()?;
        let names: Vec<String> = binders.iter().map(|(n, _)| n.clone()).collect();
        let (j, j_range, _) = levels.last()?;
        let mut scope: Vec<(String, Range)> = levels
            .iter()
            .map(|(v, r, _)| (v.clone(), r.clone()))
            .collect();
        scope.extend(binders.iter().cloned());
        let valid = !st.bounds_written;
        let lhs = st.vars.clone();
        let inferred = |ix: &Poly| inferred_inside(valid, &lhs, &scope, ix);
        if !self.read_inside(read, &scope, &inferred) {
            return None;
        }
        let (walk, _) = walk(read, &names, &ranges, j, &j_range.lo, None)?;
        let window = &walk.window;
        let buf = self.buffer(read)?;
        let record = self.wants_record(st_index).then(|| {
            let base = format!("{}_arg", self.ident[st.lhs]);
            let mut id = base.clone();
            let mut k = 1;
            while self.ident.contains(&id) || self.taken.contains(&id) {
                k += 1;
                id = format!("{base}{k}");
            }
            self.taken.insert(id.clone());
            self.records.insert(st_index, id.clone());
            id
        });
        let ty = self.ty();
        let mut streams = vec![Stream::each("y", ty, "o", true)];
        let mut body = search(window, record.is_some(), true);
        body.push("*o = m;".into());
        if record.is_some() {
            streams.push(Stream::each("a", "u8", "ar", true));
            body.push("*ar = arg;".into());
        }
        for k in 0..window.rows.len() {
            streams.push(Stream::row(k, ty, walk.stride, false));
        }
        let (fname, def) = self.pool_fn(&streams, &body);
        let cnt = self.fresh("cnt");
        let e = self.extent_usize(&j_range.lo, &j_range.hi);
        let tape_part = self.fresh("arg_part");
        let mut args = vec![format!("&mut {part}[o..][..{cnt}]")];
        if let Some(id) = &record {
            let t = if chunk.is_some() {
                tape_part.clone()
            } else {
                format!("values.{id}")
            };
            args.push(format!("&mut {t}[o..][..{cnt}]"));
        }
        args.extend(self.window_rows(&buf, &walk, window.width, &cnt));
        let mut loops: Vec<(String, Poly, Poly)> = levels[..levels.len() - 1]
            .iter()
            .map(|(v, r, _)| (v.clone(), r.lo.clone(), r.hi.clone()))
            .collect();
        if let (Some(ch), Some(first)) = (chunk, loops.first_mut()) {
            let cr = ch.range(&levels[0].1);
            first.1 = cr.lo;
            first.2 = cr.hi;
        }
        // The rows of windows follow one another in the output (and in the
        // record): `o` counts the windows written; one row needs no count.
        let call = if loops.is_empty() {
            format!("let o = 0usize; {fname}({});", args.join(", "))
        } else {
            format!("{fname}({}); o += {cnt};", args.join(", "))
        };
        let lines = self
            .wrap_loops(&loops, &[], loops.len(), vec![call])
            .join(" ");
        let lines = if loops.is_empty() {
            lines
        } else {
            format!("let mut o = 0usize; {lines}")
        };
        let lines = match (&record, chunk) {
            (Some(id), Some(ch)) => {
                // The record is split with the values, row for row.
                self.helpers.insert("split_rows2");
                let rows = self.extent_usize(&levels[0].1.lo, &levels[0].1.hi);
                let (f, c) = (&ch.first, &ch.count);
                format!(
                    "split_rows2(&mut {whole}[..], &mut values.{id}[..], {}, threads, |{f}: usize, {c}: usize, {part}: &mut [{ty}], {tape_part}: &mut [u8]| {{ let {f} = {f} as i64; let {c} = {c} as i64; {lines} }});",
                    rows.text
                )
            }
            _ => self.in_threads(levels, chunk, whole, part, lines),
        };
        Some(format!(
            "{{ {def} let {cnt} = {}; if {cnt} > 0 {{ {lines} }} }}",
            e.text
        ))
    }

    /// An arg-max term of a backward whose windows tile rows (see the
    /// module), as pooling rows: None when it is not of that form.
    pub(super) fn pool_winner(
        &mut self,
        tensor: usize,
        c: &Contribution,
        w: &Winner<'_>,
        target: &str,
        chunk: Option<(&Chunk, &str, &Range)>,
    ) -> Option<String> {
        let Expr::Read(body) = w.body else {
            return None;
        };
        let Expr::Read(value) = &w.value else {
            return None;
        };
        if body.slot != Slot::Value {
            return None;
        }
        let ranges: Vec<(i64, i64)> = w
            .binders
            .iter()
            .map(|(_, r)| literal(r))
            .collect::<Option<_>>()?;
        let binder_names: Vec<String> = w.binders.iter().map(|(n, _)| n.clone()).collect();
        // The row variable: the last statement index, moving along the
        // last index of the body's read, ranging over sizes only.
        let (j, j_range) = w.outer.last()?.clone();
        let outer_mentions = |p: &Poly| w.outer.iter().any(|(v, _)| p.mentions(v));
        if outer_mentions(&j_range.lo) || outer_mentions(&j_range.hi) {
            return None;
        }
        if w.outer
            .iter()
            .any(|(_, r)| r.lo.mentions(&j) || r.hi.mentions(&j))
        {
            return None;
        }
        let st_index = self.m.gradient.occurrences[c.occurrence].statement;
        let statement = &self.p.statements[st_index];
        let valid = !statement.bounds_written;
        let lhs = statement.vars.clone();
        let mut scope: Vec<(String, Range)> = w.outer.clone();
        scope.extend(w.binders.iter().cloned());
        let inferred = |ix: &Poly| inferred_inside(valid, &lhs, &scope, ix);
        if !self.read_inside(body, &scope, &inferred)
            || !self.read_inside(value, &w.outer, &|_| false)
        {
            return None;
        }
        // The target, read where the window's points are.
        let dims = self.p.tensors[tensor].dims.clone();
        let delta = Read {
            tensor,
            slot: Slot::Value,
            index: c.scatter.delta.iter().map(|(g, _)| g.clone()).collect(),
        };
        if delta.index.len() != dims.len() {
            return None;
        }
        let wscope = w.points();
        let inferred = |ix: &Poly| inferred_inside(valid, &lhs, &wscope, ix);
        if !self.read_inside(&delta, &wscope, &inferred) {
            return None;
        }
        // The adjoint passed back: one per window, along the row.
        let (last, rest) = value.index.split_last()?;
        let (coef, _) = last.linear_in(&j)?;
        if coef.as_const() != Some(1) || rest.iter().any(|ix| ix.mentions(&j)) {
            return None;
        }
        let (rwalk, col) = walk(body, &binder_names, &ranges, &j, &j_range.lo, None)?;
        let (mut dwalk, _) = walk(&delta, &w.window, &ranges, &j, &j_range.lo, Some(col))?;
        let window = &rwalk.window;
        let vbuf = self.buffer(value)?;
        // The forward's record of this maximum's arg-max, when it made one
        // for the same search; it shares the layout of the statement's
        // values, and so of the adjoint passed back.
        let record = self
            .records
            .get(&st_index)
            .filter(|_| {
                value.tensor == statement.lhs
                    && nested_max(&statement.rhs)
                        .is_some_and(|(b, r)| same_search(&b, r, w.binders, body))
            })
            .cloned();
        let rows = window.rows.len();
        let ty = self.ty();
        let mut streams = vec![Stream::each("g", ty, "&gv", false)];
        let mut lines = Vec::new();
        if record.is_some() {
            streams.push(Stream::each("a", "u8", "&arg", false));
        } else {
            lines = search(window, true, false);
            for k in 0..rows {
                streams.push(Stream::row(k, ty, rwalk.stride, false));
            }
        }
        for k in 0..rows {
            streams.push(Stream::row(k, ty, dwalk.stride, true));
        }
        let zero = self.zero().text;
        for (t, (r, c)) in window.points.iter().enumerate() {
            lines.push(format!(
                "q{r}[{c}] += if arg == {t} {{ gv }} else {{ {zero} }};"
            ));
        }
        let (fname, def) = self.pool_fn(&streams, &lines);
        let cnt = self.fresh("cnt");
        let e = self.extent_usize(&j_range.lo, &j_range.hi);
        let mut start = value.clone();
        for ix in &mut start.index {
            *ix = ix.substitute(&j, &j_range.lo);
        }
        let voff = self.offset_i64(&start).as_usize();
        let mut args = vec![format!("&{vbuf}[{voff}..][..{cnt}]")];
        if let Some(id) = &record {
            args.push(format!("&values.{id}[{voff}..][..{cnt}]"));
        } else {
            let rbuf = self.buffer(body)?;
            args.extend(self.window_rows(&rbuf, &rwalk, window.width, &cnt));
        }
        if let Some((ch, _, _)) = chunk {
            for s in &mut dwalk.starts {
                s.index[0] = s.index[0].sub(&Poly::var(&ch.first));
            }
        }
        let starts: Vec<String> = dwalk
            .starts
            .iter()
            .map(|s| self.offset_i64(s).as_usize())
            .collect();
        let d: Vec<String> = (0..rows).map(|k| format!("d{k}")).collect();
        self.helpers.insert("rows_mut");
        let mut call = vec![format!(
            "let [{}] = rows_mut(&mut {target}[..], [{}], {});",
            d.join(", "),
            starts.join(", "),
            span(dwalk.stride, window.width, &cnt)
        )];
        args.extend(d);
        call.push(format!("{fname}({});", args.join(", ")));
        let mut loops: Vec<(String, Poly, Poly)> = w.outer[..w.outer.len() - 1]
            .iter()
            .map(|(v, r)| (v.clone(), r.lo.clone(), r.hi.clone()))
            .collect();
        if let Some((ch, var, range)) = chunk {
            let cr = ch.range(range);
            for (v, lo, hi) in &mut loops {
                if v == var {
                    *lo = lo.max_of(&cr.lo);
                    *hi = hi.min_of(&cr.hi);
                }
            }
        }
        let lines = self.wrap_loops(&loops, &[], loops.len(), call).join(" ");
        Some(format!(
            "{{ {def} let {cnt} = {}; if {cnt} > 0 {{ {lines} }} }}",
            e.text
        ))
    }
}

/// Whether an arg-max over `binders` of `body` is the search of the
/// maxima over `st_binders` of `st_read`: the same ranges in the same
/// order and the same read, binder for binder.
fn same_search(
    st_binders: &[(String, Range)],
    st_read: &Read,
    binders: &[(String, Range)],
    body: &Read,
) -> bool {
    if st_binders.len() != binders.len()
        || st_binders
            .iter()
            .zip(binders)
            .any(|((_, a), (_, b))| a != b)
    {
        return false;
    }
    // Through names no model has, so that swapped names do not collide.
    let mut renamed = st_read.clone();
    for (k, (from, _)) in st_binders.iter().enumerate() {
        for ix in &mut renamed.index {
            *ix = ix.substitute(from, &Poly::var(&format!("#{k}")));
        }
    }
    for (k, (to, _)) in binders.iter().enumerate() {
        for ix in &mut renamed.index {
            *ix = ix.substitute(&format!("#{k}"), &Poly::var(to));
        }
    }
    renamed == *body
}
