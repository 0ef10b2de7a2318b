//! [`super::conv3x3`] and [`super::conv3x3_filter`] by `F(4 x 4, 3 x 3)`:
//! 36 multiplications per 4 x 4 outputs instead of 144, through the
//! transforms of Lavin and Gray (points 0, ±1, ±2 and infinity):
//!
//! ```text
//! B^T = [4  0 -5  0 1 0]   G = [ 1/4     0    0]   A^T = [1 1  1 1  1 0]
//!       [0 -4 -4  1 1 0]       [-1/6 -1/6 -1/6]         [0 1 -1 2 -2 0]
//!       [0  4 -4 -1 1 0]       [-1/6  1/6 -1/6]         [0 1  1 4  4 0]
//!       [0 -2 -1  2 1 0]       [1/24 1/12  1/6]         [0 1 -1 8 -8 1]
//!       [0  2 -1 -2 1 0]       [1/24 -1/12 1/6]
//!       [0  4  0 -5 0 1]       [   0     0    1]
//! ```
//!
//! A chunk of tile rows at a time: `tw + 1` tiles per row (the last one
//! padding, past the output), each input row split by column modulo 4 and
//! the rows grouped by row modulo 4, so that every transform is one
//! [`blocked`] loop over the chunk (tile row `dt`'s rows are then evenly
//! spaced in each group).

use super::{blocked, check_filter, padded, slices, Filter, Images, Winograd, BLOCK};

/// About this many 4 x 4 tiles are transformed and multiplied at once: the
/// 36 transformed matrices of a chunk stay in the core's cache.
const CHUNK_TILES: usize = 60;

/// The same for a filter gradient, whose products are summed over the
/// tiles of a chunk: longer sums make better use of each product's output.
const FILTER_CHUNK_TILES: usize = 120;

/// Splits rows of `cols` elements, shifted right by `shift` and cut to
/// `4 * len` elements, by their position modulo 4 (`len` each). The
/// positions a row covers are the same for every row, so the others are
/// never written: callers start from zeroed buffers and they stay zero.
#[derive(Clone, Copy)]
struct Splitter4 {
    /// Positions `lo..hi` (of the shifted row) hold `row[x - shift]`.
    lo: usize,
    hi: usize,
    shift: isize,
    /// The rows' length.
    cols: usize,
}

impl Splitter4 {
    fn new(cols: usize, shift: isize, len: usize) -> Self {
        let lo = shift.max(0);
        let hi = (cols as isize + shift).min(4 * len as isize).max(lo);
        Splitter4 {
            lo: lo as usize,
            hi: hi as usize,
            shift,
            cols,
        }
    }

    /// Row `row` into the four phases, or zeros at the same positions.
    fn split<T: Winograd>(&self, row: Option<&[T]>, ph: [&mut [T]; 4]) {
        let [p0, p1, p2, p3] = ph;
        let at = |x: usize| (x as isize - self.shift) as usize;
        let value = |x: usize| row.map_or(T::default(), |r| r[at(x)]);
        // Whole quads from the first position divisible by 4.
        let q0 = self.lo.next_multiple_of(4).min(self.hi);
        let quads = (self.hi - q0) / 4;
        let q1 = q0 + 4 * quads;
        for x in (self.lo..q0).chain(q1..self.hi) {
            let v = value(x);
            match x % 4 {
                0 => p0[x / 4] = v,
                1 => p1[x / 4] = v,
                2 => p2[x / 4] = v,
                _ => p3[x / 4] = v,
            }
        }
        let j0 = q0 / 4;
        let (p0, p1, p2, p3) = (
            &mut p0[j0..j0 + quads],
            &mut p1[j0..j0 + quads],
            &mut p2[j0..j0 + quads],
            &mut p3[j0..j0 + quads],
        );
        match row {
            Some(r) => {
                let src = &r[at(q0)..at(q0) + 4 * quads];
                for (j, q) in src.chunks_exact(4).enumerate() {
                    p0[j] = q[0];
                    p1[j] = q[1];
                    p2[j] = q[2];
                    p3[j] = q[3];
                }
            }
            None => {
                for p in [p0, p1, p2, p3] {
                    p.fill(T::default());
                }
            }
        }
    }
}

/// `B^T d` for one row or column `d` of six values.
fn bt<T: Winograd>(d: [T; 6], four: T, five: T, two: T) -> [T; 6] {
    let [d0, d1, d2, d3, d4, d5] = d;
    [
        four * d0 - five * d2 + d4,
        (d4 + d3) - four * (d1 + d2),
        (d4 - d3) + four * (d1 - d2),
        (d4 - d2) + two * (d3 - d1),
        (d4 - d2) - two * (d3 - d1),
        four * d1 - five * d3 + d5,
    ]
}

/// `A^T m` for one row or column `m` of six values.
fn at<T: Winograd>(m: [T; 6], two: T, four: T, eight: T) -> [T; 4] {
    let [m0, m1, m2, m3, m4, m5] = m;
    let (s12, d12, s34, d34) = (m1 + m2, m1 - m2, m3 + m4, m3 - m4);
    [
        m0 + s12 + s34,
        d12 + two * d34,
        s12 + four * s34,
        d12 + eight * d34 + m5,
    ]
}

/// Buffers of the input transform `B^T d B` over 6 x 6 tiles.
struct Input43<T> {
    /// Input rows of a chunk by row modulo 4 (group), each split by column
    /// modulo 4 (phase): `rows[4 * group + phase]`, row `y` of the chunk at
    /// `(y / 4) * tp`.
    rows: Vec<Vec<T>>,
    splitter: Splitter4,
    tp: usize,
    consts: [T; 3],
}

impl<T: Winograd> Input43<T> {
    /// For input rows of `cols` elements read from column `-shift` on.
    fn new(tw: usize, rows_per_chunk: usize, cols: usize, shift: isize) -> Self {
        let tp = tw + 1;
        // Rows 4 and 5 of a tile are one tile row (tp) further on.
        let len = tp + padded(rows_per_chunk * tp);
        Input43 {
            rows: (0..16).map(|_| vec![T::default(); len]).collect(),
            splitter: Splitter4::new(cols, shift, tp),
            tp,
            consts: [T::real(2.0), T::real(4.0), T::real(5.0)],
        }
    }

    /// The tiles of tile rows `ti0 .. ti0 + nrows` of one channel (`rows`
    /// rows from `plane[0]`, at `row_stride`; tile row `ti` reads rows
    /// `4 ti - pad ..`), into the 36 slices `v`.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        plane: &[T],
        row_stride: usize,
        rows: usize,
        pad: isize,
        ti0: usize,
        nrows: usize,
        v: [&mut [T]; 36],
    ) {
        let (tp, cols) = (self.tp, self.splitter.cols);
        for yl in 0..4 * nrows + 2 {
            let (grp, off) = (yl % 4, (yl / 4) * tp);
            let y = (4 * ti0 + yl) as isize - pad;
            let row = (0..rows as isize)
                .contains(&y)
                .then(|| &plane[y as usize * row_stride..][..cols]);
            let [a, b, c, d] = &mut self.rows[4 * grp..4 * grp + 4] else {
                unreachable!()
            };
            self.splitter
                .split(row, [a, b, c, d].map(|p| &mut p[off..off + tp]));
        }
        let nt = nrows * tp;
        let [two, four, five] = self.consts;
        // Row r of tile x: group r % 4, at x + (r / 4) * tp.
        let rows = &self.rows;
        let inputs: [&[T]; 24] = core::array::from_fn(|k| {
            let (r, phase) = (k / 4, k % 4);
            &rows[4 * (r % 4) + phase][(r / 4) * tp..]
        });
        blocked(nt, inputs, v, |win, i| {
            // d B for each of the six rows ...
            let db: [[T; 6]; 6] = core::array::from_fn(|r| {
                let q = |p: usize, next: usize| win[4 * r + p][i + next];
                bt(
                    [q(0, 0), q(1, 0), q(2, 0), q(3, 0), q(0, 1), q(1, 1)],
                    four,
                    five,
                    two,
                )
            });
            // ... then B^T across them, column by column.
            let cols: [[T; 6]; 6] =
                core::array::from_fn(|k| bt(core::array::from_fn(|r| db[r][k]), four, five, two));
            core::array::from_fn(|x| cols[x % 6][x / 6])
        });
    }
}

/// `y[v][j] = alpha * (A^T s[..][j])[v]` for the `j` of one output row
/// (its own function: the four outputs are then known not to alias, and
/// the loop is vectorised).
fn rows_out<T: Winograd>(s: [&[T]; 6], y: [&mut Vec<T>; 4], alpha: T, c: [T; 3]) {
    let tw = s[0].len();
    let [y0, y1, y2, y3] = y;
    let (y0, y1, y2, y3) = (&mut y0[..tw], &mut y1[..tw], &mut y2[..tw], &mut y3[..tw]);
    let s: [&[T]; 6] = s.map(|x| &x[..tw]);
    for j in 0..tw {
        let [a, b, cc, d] = at(
            [s[0][j], s[1][j], s[2][j], s[3][j], s[4][j], s[5][j]],
            c[0],
            c[1],
            c[2],
        );
        y0[j] = alpha * a;
        y1[j] = alpha * b;
        y2[j] = alpha * cc;
        y3[j] = alpha * d;
    }
}

/// See [`super::conv3x3`]; the views are checked here.
#[allow(clippy::too_many_arguments)]
pub(super) fn correlate<T: Winograd>(
    batch: usize,
    outs: usize,
    ins: usize,
    pad: [isize; 2],
    alpha: T,
    inp: &[T],
    iv: Images,
    f: &[T],
    fv: Filter,
    out: &mut [T],
    ov: Images,
) {
    let (h, w) = (ov.rows, ov.cols);
    if batch == 0 || outs == 0 || ins == 0 || h == 0 || w == 0 || iv.rows == 0 || iv.cols == 0 {
        return;
    }
    iv.check("input", inp.len(), batch, ins);
    ov.check("output", out.len(), batch, outs);
    let pos = check_filter(f.len(), outs, ins, fv);
    let (th, tw) = (h.div_ceil(4), w.div_ceil(4));
    let oc = outs * ins;
    let (two, four, eight) = (T::real(2.0), T::real(4.0), T::real(8.0));

    // U = G g G^T: 36 matrices outs x ins.
    let g_rows: [[f64; 3]; 6] = [
        [0.25, 0.0, 0.0],
        [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
        [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
        [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
        [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
        [0.0, 0.0, 1.0],
    ];
    let gm = g_rows.map(|r| r.map(T::real));
    // The taps gathered into g[a * 3 + b][o * ins + c], then G along a into
    // t[r * 3 + b], then along b into u[r * 6 + k]: loops over all filters.
    let mut g = vec![T::default(); 9 * oc];
    for o in 0..outs {
        for c in 0..ins {
            for a in 0..3 {
                for b in 0..3 {
                    g[(3 * a + b) * oc + o * ins + c] = f[pos(o, c, a, b)];
                }
            }
        }
    }
    let mut t = vec![T::default(); 18 * oc];
    for r in 0..6 {
        for b in 0..3 {
            let dst = &mut t[(3 * r + b) * oc..][..oc];
            let (g0, g1, g2) = (
                &g[b * oc..][..oc],
                &g[(3 + b) * oc..][..oc],
                &g[(6 + b) * oc..][..oc],
            );
            let [w0, w1, w2] = gm[r];
            for x in 0..oc {
                dst[x] = w0 * g0[x] + w1 * g1[x] + w2 * g2[x];
            }
        }
    }
    let mut u = vec![T::default(); 36 * oc];
    for r in 0..6 {
        for (k, &[w0, w1, w2]) in gm.iter().enumerate() {
            let dst = &mut u[(6 * r + k) * oc..][..oc];
            let tr = |b: usize| &t[(3 * r + b) * oc..][..oc];
            let (t0, t1, t2) = (tr(0), tr(1), tr(2));
            for x in 0..oc {
                dst[x] = w0 * t0[x] + w1 * t1[x] + w2 * t2[x];
            }
        }
    }

    let tp = tw + 1;
    let rows_per_chunk = (CHUNK_TILES / tp).max(1).min(th);
    let chunk = rows_per_chunk * tp;
    // Leading dimension a multiple of 16, as in the parent: the GEMM then
    // reads the transformed input in place.
    let lanes = 16;
    let vlen = 36 * ins * chunk.next_multiple_of(lanes);
    let mlen = 36 * outs * chunk.next_multiple_of(lanes) + BLOCK + 1;
    let mut buf = vec![T::default(); vlen + mlen];
    let (v, m) = buf.split_at_mut(vlen);
    let mut s = vec![T::default(); 24 * chunk];
    let mut input = Input43::new(tw, rows_per_chunk, iv.cols, pad[1]);
    let mut y = [(); 4].map(|_| vec![T::default(); tw]);
    for n in 0..batch {
        let mut ti0 = 0;
        while ti0 < th {
            let nrows = rows_per_chunk.min(th - ti0);
            let nt = nrows * tp;
            let ld = nt.next_multiple_of(lanes);
            for c in 0..ins {
                let plane = &inp[iv.row(n, c, 0)..];
                let dst = slices::<T, 36>(&mut v[c * ld..], ins * ld, nt);
                input.run(plane, iv.strides[2], iv.rows, pad[0], ti0, nrows, dst);
            }
            for k in 0..36 {
                T::gemm_into(
                    outs,
                    ld,
                    ins,
                    T::ONE,
                    &u,
                    [k * oc, ins, 1],
                    v,
                    [k * ins * ld, ld, 1],
                    m,
                    [k * outs * ld, ld, 1],
                    false,
                );
            }
            // A^T M A: along the rows of the transform domain into
            // s[u * 6 + k], then along its columns into the output rows.
            for o in 0..outs {
                let mm: [&[T]; 36] = core::array::from_fn(|k| &m[(k * outs + o) * ld..]);
                blocked(nt, mm, slices::<T, 24>(&mut s, chunk, nt), |win, i| {
                    let rows: [[T; 4]; 6] = core::array::from_fn(|k| {
                        at(
                            core::array::from_fn(|r| win[6 * r + k][i]),
                            two,
                            four,
                            eight,
                        )
                    });
                    core::array::from_fn(|x| rows[x % 6][x / 6])
                });
                for dt in 0..nrows {
                    for row in 0..4 {
                        let yy = 4 * (ti0 + dt) + row;
                        if yy >= h {
                            break;
                        }
                        let sk: [&[T]; 6] =
                            core::array::from_fn(|k| &s[(6 * row + k) * chunk + dt * tp..][..tw]);
                        let [y0, y1, y2, y3] = &mut y;
                        rows_out(sk, [y0, y1, y2, y3], alpha, [two, four, eight]);
                        let dst = &mut out[ov.row(n, o, yy)..][..w];
                        let mut quads = dst.chunks_exact_mut(4);
                        for ((((q, a), b), c), d) in (&mut quads)
                            .zip(y[0].iter())
                            .zip(y[1].iter())
                            .zip(y[2].iter())
                            .zip(y[3].iter())
                        {
                            q[0] += *a;
                            q[1] += *b;
                            q[2] += *c;
                            q[3] += *d;
                        }
                        let (y0, y1, y2) = (&y[0], &y[1], &y[2]);
                        let rest = quads.into_remainder();
                        let last = [y0[tw - 1], y1[tw - 1], y2[tw - 1]];
                        for (q, x) in rest.iter_mut().zip(last) {
                            *q += x;
                        }
                    }
                }
            }
            ti0 += nrows;
        }
    }
}

/// See [`super::conv3x3_filter`]; the views are checked here. `dF = G^T
/// [sum over tiles (A e A^T) . (B^T d B)] G` for 4 x 4 tiles `e` of the
/// output adjoint and 6 x 6 tiles `d` of the input.
#[allow(clippy::too_many_arguments)]
pub(super) fn filter_gradient<T: Winograd>(
    batch: usize,
    outs: usize,
    ins: usize,
    pad: [isize; 2],
    alpha: T,
    dy: &[T],
    dv: Images,
    inp: &[T],
    iv: Images,
    df: &mut [T],
    fv: Filter,
    threads: usize,
) {
    let (h, w) = (dv.rows, dv.cols);
    if batch == 0 || outs == 0 || ins == 0 || h == 0 || w == 0 || iv.rows == 0 || iv.cols == 0 {
        return;
    }
    dv.check("output adjoint", dy.len(), batch, outs);
    iv.check("input", inp.len(), batch, ins);
    let pos = check_filter(df.len(), outs, ins, fv);
    let oc = outs * ins;
    let sums = |first: usize, count: usize| {
        filter_sums(first..first + count, outs, ins, pad, (dy, dv, inp, iv))
    };
    // On several threads, each sums its share of the images.
    let parts = threads.clamp(1, batch);
    let m = if parts == 1 {
        sums(0, batch)
    } else {
        let per = batch.div_ceil(parts);
        let sums = &sums;
        let partial: Vec<Vec<T>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..batch)
                .step_by(per)
                .map(|first| s.spawn(move || sums(first, per.min(batch - first))))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a Winograd thread panicked"))
                .collect()
        });
        let mut m = vec![T::default(); 36 * oc];
        for p in partial {
            for (x, y) in m.iter_mut().zip(p) {
                *x += y;
            }
        }
        m
    };
    // df += alpha * G^T M G.
    let gt: [[f64; 6]; 3] = [
        [0.25, -1.0 / 6.0, -1.0 / 6.0, 1.0 / 24.0, 1.0 / 24.0, 0.0],
        [0.0, -1.0 / 6.0, 1.0 / 6.0, 1.0 / 12.0, -1.0 / 12.0, 0.0],
        [0.0, -1.0 / 6.0, -1.0 / 6.0, 1.0 / 6.0, 1.0 / 6.0, 1.0],
    ];
    let gt = gt.map(|r| r.map(T::real));
    // Along the rows of the transform domain: t[a * 6 + k], then along
    // its columns, each over all filters.
    let mut t = vec![T::default(); 18 * oc];
    for (a, ga) in gt.iter().enumerate() {
        for k in 0..6 {
            let dst = &mut t[(6 * a + k) * oc..][..oc];
            for (r, &gr) in ga.iter().enumerate() {
                let src = &m[(6 * r + k) * oc..][..oc];
                for x in 0..oc {
                    dst[x] += gr * src[x];
                }
            }
        }
    }
    let mut g = vec![T::default(); 9 * oc];
    for a in 0..3 {
        for (b, gb) in gt.iter().enumerate() {
            let dst = &mut g[(3 * a + b) * oc..][..oc];
            for (k, &gk) in gb.iter().enumerate() {
                let src = &t[(6 * a + k) * oc..][..oc];
                for x in 0..oc {
                    dst[x] += gk * src[x];
                }
            }
        }
    }
    for o in 0..outs {
        for c in 0..ins {
            for a in 0..3 {
                for b in 0..3 {
                    df[pos(o, c, a, b)] += alpha * g[(3 * a + b) * oc + o * ins + c];
                }
            }
        }
    }
}

/// The transform domain's sums over the images `images` of a filter
/// gradient: 36 matrices `outs x ins`.
#[allow(clippy::type_complexity)]
fn filter_sums<T: Winograd>(
    images: core::ops::Range<usize>,
    outs: usize,
    ins: usize,
    pad: [isize; 2],
    views: (&[T], Images, &[T], Images),
) -> Vec<T> {
    let (dy, dv, inp, iv) = views;
    let (h, w) = (dv.rows, dv.cols);
    let (th, tw) = (h.div_ceil(4), w.div_ceil(4));
    let oc = outs * ins;
    let tp = tw + 1;
    let rows_per_chunk = (FILTER_CHUNK_TILES / tp).max(1).min(th);
    let chunk = rows_per_chunk * tp;
    let (vlen, elen) = (36 * ins * chunk, 36 * outs * chunk);
    let mut buf = vec![T::default(); vlen + elen];
    let (v, e) = buf.split_at_mut(vlen);
    let mut m = vec![T::default(); 36 * oc];
    let mut input = Input43::new(tw, rows_per_chunk, iv.cols, pad[1]);
    // Rows of `dy` a chunk reads, by row modulo 4, split by column modulo 4
    // (`rows[4 * group + phase]`), laid out as the tiles; the tiles' padding
    // column falls past the row, so it is zero.
    let mut rows: Vec<Vec<T>> = (0..16).map(|_| vec![T::default(); padded(chunk)]).collect();
    let splitter = Splitter4::new(w, 0, tp);
    let (two, four, eight) = (T::real(2.0), T::real(4.0), T::real(8.0));
    // A e for one column e of four values.
    let a = move |e: [T; 4]| -> [T; 6] {
        let [e0, e1, e2, e3] = e;
        let (s02, s13) = (e0 + e2, e1 + e3);
        let (q02, q13) = (e0 + four * e2, two * e1 + eight * e3);
        [e0, s02 + s13, s02 - s13, q02 + q13, q02 - q13, e3]
    };
    for n in images {
        let mut ti0 = 0;
        while ti0 < th {
            let nrows = rows_per_chunk.min(th - ti0);
            let nt = nrows * tp;
            for c in 0..ins {
                let plane = &inp[iv.row(n, c, 0)..];
                let dst = slices::<T, 36>(&mut v[c * nt..], ins * nt, nt);
                input.run(plane, iv.strides[2], iv.rows, pad[0], ti0, nrows, dst);
            }
            for o in 0..outs {
                let plane = &dy[dv.row(n, o, 0)..];
                for yl in 0..4 * nrows {
                    let (grp, off) = (yl % 4, (yl / 4) * tp);
                    let y = 4 * ti0 + yl;
                    let row = (y < h).then(|| &plane[y * dv.strides[2]..][..w]);
                    let [p0, p1, p2, p3] = &mut rows[4 * grp..4 * grp + 4] else {
                        unreachable!()
                    };
                    splitter.split(row, [p0, p1, p2, p3].map(|p| &mut p[off..off + tp]));
                }
                let inputs: [&[T]; 16] = core::array::from_fn(|k| &rows[k][..]);
                let dst = slices::<T, 36>(&mut e[o * nt..], outs * nt, nt);
                blocked(nt, inputs, dst, |win, i| {
                    // A along the columns of each of the tile's four rows ...
                    let ra: [[T; 6]; 4] =
                        core::array::from_fn(|u| a(core::array::from_fn(|p| win[4 * u + p][i])));
                    // ... then across them.
                    let cols: [[T; 6]; 6] =
                        core::array::from_fn(|k| a(core::array::from_fn(|u| ra[u][k])));
                    core::array::from_fn(|x| cols[x % 6][x / 6])
                });
            }
            for k in 0..36 {
                T::gemm_into(
                    outs,
                    ins,
                    nt,
                    T::ONE,
                    e,
                    [k * outs * nt, nt, 1],
                    v,
                    [k * ins * nt, 1, nt],
                    &mut m,
                    [k * oc, ins, 1],
                    true,
                );
            }
            ti0 += nrows;
        }
    }
    m
}
