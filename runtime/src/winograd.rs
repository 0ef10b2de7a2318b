//! 3 x 3 correlations with a channel contraction by Winograd's minimal
//! filtering algorithm `F(2 x 2, 3 x 3)` (Lavin and Gray, "Fast Algorithms
//! for Convolutional Neural Networks", 2016).
//!
//! A 2 x 2 block of outputs of a 3 x 3 correlation costs 36 multiplications
//! directly and 16 through the transforms `B`, `G`, `A` below: each 4 x 4
//! input tile and each filter is transformed, the 16 transformed values are
//! multiplied pointwise, and the products are transformed back. Summed over
//! channels, the pointwise products are 16 matrix products (one per point
//! of the 4 x 4 transform domain), which [`crate::gemm`]'s kernels run. The
//! transforms only add and subtract (and halve, for the filter), so the
//! result equals the direct sum up to rounding.
//!
//! - [`conv3x3`]: `out[n][o][i][j] += alpha * sum_{c, a, b} f[o][c][a][b] * inp[n][c][i + a][j + b]`
//!   (a forward pass, or an input gradient with the filter view flipped);
//! - [`conv3x3_filter`]: `df[o][c][a][b] += alpha * sum_{n, i, j} dy[n][o][i][j] * inp[n][c][i + a][j + b]`
//!   (a weight gradient).
//!
//! Both run over a batch of images, and read the input at `i + a - pad[0]`,
//! `j + b - pad[1]`: reads outside it are zero (zero padding), so callers
//! need no padded copies. Nothing here is `unsafe`; the products go through
//! the checked [`crate::Gemm`] entry.

use crate::Gemm;

/// Element types of the Winograd paths: [`Gemm`] types with the arithmetic
/// the transforms need.
pub trait Winograd:
    Gemm
    + Default
    + core::ops::Add<Output = Self>
    + core::ops::Sub<Output = Self>
    + core::ops::Mul<Output = Self>
    + core::ops::Neg<Output = Self>
    + core::ops::AddAssign
{
    /// One half.
    const HALF: Self;
    /// One.
    const ONE: Self;

    /// [`conv3x3`] for this type, compiled in this crate (see
    /// [`conv3x3`]'s body).
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    fn conv3x3_here(
        batch: usize,
        outs: usize,
        ins: usize,
        pad: [isize; 2],
        alpha: Self,
        inp: &[Self],
        iv: Images,
        f: &[Self],
        fv: Filter,
        out: &mut [Self],
        ov: Images,
    );

    /// [`conv3x3_filter`] for this type, compiled in this crate.
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    fn conv3x3_filter_here(
        batch: usize,
        outs: usize,
        ins: usize,
        pad: [isize; 2],
        alpha: Self,
        dy: &[Self],
        dv: Images,
        inp: &[Self],
        iv: Images,
        df: &mut [Self],
        fv: Filter,
        threads: usize,
    );
}

macro_rules! impl_winograd {
    ($t:ty) => {
        impl Winograd for $t {
            const HALF: Self = 0.5;
            const ONE: Self = 1.0;

            fn conv3x3_here(
                batch: usize,
                outs: usize,
                ins: usize,
                pad: [isize; 2],
                alpha: Self,
                inp: &[Self],
                iv: Images,
                f: &[Self],
                fv: Filter,
                out: &mut [Self],
                ov: Images,
            ) {
                correlate(batch, outs, ins, pad, alpha, inp, iv, f, fv, out, ov)
            }

            fn conv3x3_filter_here(
                batch: usize,
                outs: usize,
                ins: usize,
                pad: [isize; 2],
                alpha: Self,
                dy: &[Self],
                dv: Images,
                inp: &[Self],
                iv: Images,
                df: &mut [Self],
                fv: Filter,
                threads: usize,
            ) {
                filter_gradient(
                    batch, outs, ins, pad, alpha, dy, dv, inp, iv, df, fv, threads,
                )
            }
        }
    };
}

impl_winograd!(f32);
impl_winograd!(f64);

/// A batch of channel-major images in a slice: element `(n, c, y, x)` is at
/// `offset + n * strides[0] + c * strides[1] + y * strides[2] + x` (unit
/// column stride), for `y < rows`, `x < cols`.
#[derive(Clone, Copy, Debug)]
pub struct Images {
    /// Position of element `(0, 0, 0, 0)`.
    pub offset: usize,
    /// Strides of the image, channel and row index.
    pub strides: [usize; 3],
    /// Rows of each image.
    pub rows: usize,
    /// Columns of each row.
    pub cols: usize,
}

impl Images {
    /// Position of the first element of row `y` of channel `c` of image `n`.
    fn row(&self, n: usize, c: usize, y: usize) -> usize {
        self.offset + n * self.strides[0] + c * self.strides[1] + y * self.strides[2]
    }

    /// Panics unless every element of `batch x channels` images lies in a
    /// slice of `len` elements (every extent at least 1).
    fn check(&self, what: &str, len: usize, batch: usize, channels: usize) {
        let [sn, sc, sr] = self.strides;
        let last = (batch - 1)
            .checked_mul(sn)
            .and_then(|x| {
                (channels - 1)
                    .checked_mul(sc)
                    .and_then(|y| x.checked_add(y))
            })
            .and_then(|x| {
                (self.rows - 1)
                    .checked_mul(sr)
                    .and_then(|y| x.checked_add(y))
            })
            .and_then(|x| x.checked_add(self.cols - 1))
            .and_then(|x| x.checked_add(self.offset));
        match last {
            Some(last) if last < len => {}
            _ => panic!(
                "sharegrad_runtime: {what} ({batch} x {channels} x {} x {} at offset {}, strides {sn}, {sc}, {sr}, 1) reaches past its slice of {len} elements",
                self.rows, self.cols, self.offset
            ),
        }
    }
}

/// A filter view: element `(o, c, a, b)` is at
/// `offset + o * s[0] + c * s[1] + a * s[2] + b * s[3]`; strides may be
/// negative (a flipped kernel).
pub type Filter = (usize, [isize; 4]);

/// About this many tiles are transformed and multiplied at once, so that
/// the transformed operands (16 values per tile and channel) stay in cache.
const CHUNK_TILES: usize = 196;

/// Panics unless every element of an `outs x ins x 3 x 3` filter view lies
/// in a slice of `len` elements; returns the position of element `(o, c, a, b)`.
fn check_filter(
    len: usize,
    outs: usize,
    ins: usize,
    f: Filter,
) -> impl Fn(usize, usize, usize, usize) -> usize {
    let (off, s) = f;
    let extent = [outs, ins, 3, 3];
    let (mut lo, mut hi) = (off as i128, off as i128);
    for d in 0..4 {
        let span = (extent[d] as i128 - 1) * s[d] as i128;
        if span < 0 {
            lo += span;
        } else {
            hi += span;
        }
    }
    if lo < 0 || hi >= len as i128 {
        panic!(
            "sharegrad_runtime: filter ({outs} x {ins} x 3 x 3 at offset {off}, strides {s:?}) reaches outside its slice of {len} elements"
        );
    }
    // In range by the check above, so the arithmetic neither overflows nor
    // goes negative.
    move |o, c, a, b| {
        (off as isize
            + o as isize * s[0]
            + c as isize * s[1]
            + a as isize * s[2]
            + b as isize * s[3]) as usize
    }
}

/// Splits rows of `cols` elements, shifted right by `shift` and cut to
/// `2 * len` elements, into their even and odd elements (`len` each). The
/// positions a row covers are the same for every row, so the others are
/// never written: callers start from zeroed buffers and they stay zero.
#[derive(Clone, Copy)]
struct Splitter {
    /// Pairs `(even[j], odd[j])` for `j0 <= j < j0 + pairs`, from
    /// `row[from ..]`.
    j0: usize,
    pairs: usize,
    from: usize,
    /// `odd[lead.0] = row[lead.1]` (the first element at an odd position).
    lead: Option<(usize, usize)>,
    /// `even[trail.0] = row[trail.1]` (the last element at an even position).
    trail: Option<(usize, usize)>,
}

impl Splitter {
    fn new(cols: usize, shift: isize, len: usize) -> Self {
        // Position x holds row[x - shift], for lo <= x < hi.
        let (lo, hi) = (shift.max(0), (cols as isize + shift).min(2 * len as isize));
        if lo >= hi {
            return Splitter {
                j0: 0,
                pairs: 0,
                from: 0,
                lead: None,
                trail: None,
            };
        }
        let x0 = lo + lo % 2;
        let pairs = ((hi - x0).max(0) / 2) as usize;
        let x1 = x0 + 2 * pairs as isize;
        Splitter {
            j0: (x0 / 2) as usize,
            pairs,
            from: (x0 - shift) as usize,
            lead: (lo % 2 == 1).then(|| ((lo / 2) as usize, (lo - shift) as usize)),
            trail: (x1 < hi).then(|| ((x1 / 2) as usize, (x1 - shift) as usize)),
        }
    }

    /// Row `row` into `even` and `odd`, or zeros at the same positions when
    /// there is no row.
    fn split<T: Winograd>(&self, row: Option<&[T]>, even: &mut [T], odd: &mut [T]) {
        let (j0, n) = (self.j0, self.pairs);
        let (even_pairs, odd_pairs) = (&mut even[j0..j0 + n], &mut odd[j0..j0 + n]);
        let Some(row) = row else {
            even_pairs.fill(T::default());
            odd_pairs.fill(T::default());
            if let Some((i, _)) = self.lead {
                odd[i] = T::default();
            }
            if let Some((i, _)) = self.trail {
                even[i] = T::default();
            }
            return;
        };
        let src = &row[self.from..self.from + 2 * n];
        for ((e, o), p) in even_pairs
            .iter_mut()
            .zip(odd_pairs.iter_mut())
            .zip(src.chunks_exact(2))
        {
            *e = p[0];
            *o = p[1];
        }
        if let Some((i, from)) = self.lead {
            odd[i] = row[from];
        }
        if let Some((i, from)) = self.trail {
            even[i] = row[from];
        }
    }
}

/// The `K` slices `buf[k * stride ..][..len]`, `k = 0..K`.
fn slices<T, const K: usize>(buf: &mut [T], stride: usize, len: usize) -> [&mut [T]; K] {
    let mut rest = buf;
    core::array::from_fn(|k| {
        let (head, tail) =
            core::mem::take(&mut rest).split_at_mut(if k + 1 < K { stride } else { len });
        rest = tail;
        &mut head[..len]
    })
}

/// Elements computed per step of [`blocked`].
const BLOCK: usize = 16;

/// `out[k][x] = f(inputs at x)[k]` for `x < nt`, `BLOCK` elements at a
/// time: each step copies a window of every input (`BLOCK + 1` elements
/// from `x`, so `f` may read element `i + 1`) and computes into local
/// arrays, which the optimiser vectorises (16 output slices cut from one
/// buffer would need more run-time alias checks than it makes). Every input
/// is at least `nt` rounded up to `BLOCK`, plus one, elements long.
// `blk[k][i]`: the loops write a transposed block.
#[allow(clippy::needless_range_loop)]
fn blocked<T: Winograd, const I: usize, const K: usize>(
    nt: usize,
    inputs: [&[T]; I],
    out: [&mut [T]; K],
    f: impl Fn(&[&[T; BLOCK + 1]; I], usize) -> [T; K],
) {
    // Zeroed once here: every step overwrites all of it.
    let mut blk = [[T::default(); BLOCK]; K];
    let mut x0 = 0;
    while x0 < nt {
        let len = BLOCK.min(nt - x0);
        let win: [&[T; BLOCK + 1]; I] = core::array::from_fn(|r| {
            inputs[r][x0..x0 + BLOCK + 1]
                .try_into()
                .expect("inputs padded to whole blocks")
        });
        for i in 0..BLOCK {
            let vals = f(&win, i);
            for k in 0..K {
                blk[k][i] = vals[k];
            }
        }
        if len == BLOCK {
            for k in 0..K {
                out[k][x0..x0 + BLOCK].copy_from_slice(&blk[k]);
            }
        } else {
            for k in 0..K {
                out[k][x0..x0 + len].copy_from_slice(&blk[k][..len]);
            }
        }
        x0 += len;
    }
}

/// `n` rounded up to a whole number of [`BLOCK`]s, plus one: the length
/// of an input of [`blocked`] over `n` elements.
fn padded(n: usize) -> usize {
    n.div_ceil(BLOCK) * BLOCK + 1
}

/// Tiles are laid out by tile row, `tw + 1` per row: tile `(dt, j)` of a
/// chunk is at `dt * (tw + 1) + j`. The last one of each row is padding,
/// which keeps every transform one loop over the whole chunk (the tile
/// rows of a chunk read evenly spaced rows of the split buffers below).
/// Buffers of the input transform `B^T d B`.
struct InputTransform<T> {
    /// Even and odd elements of the input rows of a chunk: row `y` of the
    /// chunk in group `y % 2`, at `(y / 2) * (tw + 1)`.
    even: [Vec<T>; 2],
    odd: [Vec<T>; 2],
    tp: usize,
    splitter: Splitter,
}

impl<T: Winograd> InputTransform<T> {
    /// For input rows of `cols` elements read from column `-shift` on.
    fn new(tw: usize, rows_per_chunk: usize, cols: usize, shift: isize) -> Self {
        let tp = tw + 1;
        // Rows 2 and 3 of a tile are one tile row (tp) further on.
        let len = tp + padded(rows_per_chunk * tp);
        InputTransform {
            even: [vec![T::default(); len], vec![T::default(); len]],
            odd: [vec![T::default(); len], vec![T::default(); len]],
            tp,
            splitter: Splitter::new(cols, shift, tp),
        }
    }

    /// The tiles of tile rows `ti0 .. ti0 + nrows` of one channel, written
    /// to `v[k * stride ..][..nrows * (tw + 1)]` for the 16 points `k` of
    /// the transform domain. The tile at `(ti, tj)` reads rows `2 ti -
    /// pad[0] ..` and columns `2 tj - pad[1] ..` of the plane (`rows x
    /// cols` from `plane[0]`, rows at `row_stride`), zero outside it.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        plane: &[T],
        row_stride: usize,
        rows: usize,
        cols: usize,
        pad: [isize; 2],
        ti0: usize,
        nrows: usize,
        v: &mut [T],
        stride: usize,
    ) {
        let tp = self.tp;
        for yl in 0..2 * nrows + 2 {
            let (g, at) = (yl % 2, (yl / 2) * tp);
            let (even, odd) = (
                &mut self.even[g][at..at + tp],
                &mut self.odd[g][at..at + tp],
            );
            let y = (2 * ti0 + yl) as isize - pad[0];
            let row = (0..rows as isize)
                .contains(&y)
                .then(|| &plane[y as usize * row_stride..][..cols]);
            self.splitter.split(row, even, odd);
        }
        let nt = nrows * tp;
        // Row r of tile x: group r % 2, at x + (r / 2) * tp.
        let e = |r: usize| &self.even[r % 2][(r / 2) * tp..];
        let o = |r: usize| &self.odd[r % 2][(r / 2) * tp..];
        let inputs = [e(0), o(0), e(1), o(1), e(2), o(2), e(3), o(3)];
        blocked(nt, inputs, slices::<T, 16>(v, stride, nt), |w, i| {
            // d B for each of the four rows ...
            let d = |r: usize| {
                let (e, o) = (&w[2 * r], &w[2 * r + 1]);
                [
                    e[i] - e[i + 1],
                    o[i] + e[i + 1],
                    e[i + 1] - o[i],
                    o[i] - o[i + 1],
                ]
            };
            let (d0, d1, d2, d3) = (d(0), d(1), d(2), d(3));
            // ... and B^T across them.
            core::array::from_fn(|k| {
                let c = k % 4;
                match k / 4 {
                    0 => d0[c] - d2[c],
                    1 => d1[c] + d2[c],
                    2 => d2[c] - d1[c],
                    _ => d1[c] - d3[c],
                }
            })
        });
    }
}

/// `out[n][o][i][j] += alpha * sum_{c < ins, a < 3, b < 3} f[o][c][a][b] * inp[n][c][i + a - pad[0]][j + b - pad[1]]`
/// for `n < batch`, `o < outs` and every `(i, j)` of `ov`, reading zero
/// outside `iv`'s rows and columns; `fv` is an `outs x ins x 3 x 3` view
/// of `f`.
///
/// # Panics
///
/// When a view reaches past its slice.
#[allow(clippy::too_many_arguments)]
pub fn conv3x3<T: Winograd>(
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
    // Through the trait: the body is compiled once, in this crate, for f32
    // and f64, rather than in each caller's crate, where code generation
    // split differently ran its transforms at half the speed.
    T::conv3x3_here(batch, outs, ins, pad, alpha, inp, iv, f, fv, out, ov)
}

#[allow(clippy::too_many_arguments)]
fn correlate<T: Winograd>(
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
    let at = check_filter(f.len(), outs, ins, fv);
    let (th, tw) = (h.div_ceil(2), w.div_ceil(2));
    let oc = outs * ins;

    // U = G g G^T: 16 matrices outs x ins, from the taps gathered into
    // g[a * 3 + b][o * ins + c].
    let mut g = vec![T::default(); 9 * oc];
    for o in 0..outs {
        for c in 0..ins {
            for a in 0..3 {
                for b in 0..3 {
                    g[(3 * a + b) * oc + o * ins + c] = f[at(o, c, a, b)];
                }
            }
        }
    }
    let half = T::HALF;
    // G along a: t[r][b].
    let mut t = vec![T::default(); 12 * oc];
    for b in 0..3 {
        let (g0, g1, g2) = (
            &g[b * oc..][..oc],
            &g[(3 + b) * oc..][..oc],
            &g[(6 + b) * oc..][..oc],
        );
        let (t0, rest) = t[b * oc..].split_at_mut(3 * oc);
        let (t1, rest) = rest.split_at_mut(3 * oc);
        let (t2, t3) = rest.split_at_mut(3 * oc);
        let (t0, t1, t2, t3) = (&mut t0[..oc], &mut t1[..oc], &mut t2[..oc], &mut t3[..oc]);
        for x in 0..oc {
            t0[x] = g0[x];
            t1[x] = half * (g0[x] + g1[x] + g2[x]);
            t2[x] = half * (g0[x] - g1[x] + g2[x]);
            t3[x] = g2[x];
        }
    }
    // ... then along b: u[r * 4 + k][o * ins + c].
    let mut u = vec![T::default(); 16 * oc];
    for r in 0..4 {
        let (t0, t1, t2) = (
            &t[(3 * r) * oc..][..oc],
            &t[(3 * r + 1) * oc..][..oc],
            &t[(3 * r + 2) * oc..][..oc],
        );
        let (u0, rest) = u[4 * r * oc..].split_at_mut(oc);
        let (u1, rest) = rest.split_at_mut(oc);
        let (u2, u3) = rest.split_at_mut(oc);
        let (u3, u2) = (&mut u3[..oc], &mut u2[..oc]);
        for x in 0..oc {
            u0[x] = t0[x];
            u1[x] = half * (t0[x] + t1[x] + t2[x]);
            u2[x] = half * (t0[x] - t1[x] + t2[x]);
            u3[x] = t2[x];
        }
    }

    let tp = tw + 1;
    let rows_per_chunk = (CHUNK_TILES / tp).max(1).min(th);
    let chunk = rows_per_chunk * tp;
    // The products run over whole vectors of tiles (`ld`, a multiple of 16
    // at least `nt`): with such a leading dimension the GEMM reads the
    // transformed input in place instead of packing it first. The extra
    // columns hold finite values (zero, or an earlier chunk's) and their
    // products are never read.
    let lanes = 16;
    let vlen = 16 * ins * chunk.next_multiple_of(lanes);
    // Read by `blocked` up to `padded(nt)` from each matrix's row.
    let mlen = 16 * outs * chunk.next_multiple_of(lanes) + BLOCK + 1;
    let mut buf = vec![T::default(); vlen + mlen];
    let (v, m) = buf.split_at_mut(vlen);
    let mut s = vec![T::default(); 8 * chunk];
    let mut input = InputTransform::new(tw, rows_per_chunk, iv.cols, pad[1]);
    let (mut y0, mut y1) = (vec![T::default(); tw], vec![T::default(); tw]);
    for n in 0..batch {
        let mut ti0 = 0;
        while ti0 < th {
            let nrows = rows_per_chunk.min(th - ti0);
            let nt = nrows * tp;
            let ld = nt.next_multiple_of(lanes);
            for c in 0..ins {
                let plane = &inp[iv.row(n, c, 0)..];
                input.run(
                    plane,
                    iv.strides[2],
                    iv.rows,
                    iv.cols,
                    pad,
                    ti0,
                    nrows,
                    &mut v[c * ld..],
                    ins * ld,
                );
            }
            for k in 0..16 {
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
            // s[u * 4 + k], then along its columns into the output rows.
            for o in 0..outs {
                let mm: [&[T]; 16] = core::array::from_fn(|k| &m[(k * outs + o) * ld..]);
                blocked(nt, mm, slices::<T, 8>(&mut s, chunk, nt), |w, i| {
                    core::array::from_fn(|k| {
                        let c = k % 4;
                        if k < 4 {
                            w[c][i] + w[4 + c][i] + w[8 + c][i]
                        } else {
                            w[4 + c][i] - w[8 + c][i] - w[12 + c][i]
                        }
                    })
                });
                for dt in 0..nrows {
                    for row in 0..2 {
                        let yy = 2 * (ti0 + dt) + row;
                        if yy >= h {
                            break;
                        }
                        let sk = |k: usize| &s[(4 * row + k) * chunk + dt * tp..][..tw];
                        let (s0, s1, s2, s3) = (sk(0), sk(1), sk(2), sk(3));
                        let (y0, y1) = (&mut y0[..tw], &mut y1[..tw]);
                        for j in 0..tw {
                            y0[j] = alpha * (s0[j] + s1[j] + s2[j]);
                            y1[j] = alpha * (s1[j] - s2[j] - s3[j]);
                        }
                        let dst = &mut out[ov.row(n, o, yy)..][..w];
                        let mut pairs = dst.chunks_exact_mut(2);
                        for ((p, a), b) in (&mut pairs).zip(y0.iter()).zip(y1.iter()) {
                            p[0] += *a;
                            p[1] += *b;
                        }
                        if let [last] = pairs.into_remainder() {
                            *last += y0[tw - 1];
                        }
                    }
                }
            }
            ti0 += nrows;
        }
    }
}

/// `df[o][c][a][b] += alpha * sum_{n < batch, (i, j) in dv} dy[n][o][i][j] * inp[n][c][i + a - pad[0]][j + b - pad[1]]`
/// for `o < outs`, `c < ins`, `a, b < 3`, reading zero outside `iv`'s rows
/// and columns; `fv` is an `outs x ins x 3 x 3` view of `df`.
///
/// # Panics
///
/// When a view reaches past its slice.
#[allow(clippy::too_many_arguments)]
pub fn conv3x3_filter<T: Winograd>(
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
    T::conv3x3_filter_here(
        batch, outs, ins, pad, alpha, dy, dv, inp, iv, df, fv, threads,
    )
}

#[allow(clippy::too_many_arguments)]
fn filter_gradient<T: Winograd>(
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
    let at = check_filter(df.len(), outs, ins, fv);
    let oc = outs * ins;
    let sums = |first: usize, count: usize| {
        let views = (dy, dv, inp, iv);
        filter_sums(first..first + count, outs, ins, pad, views)
    };
    // On several threads, each sums its share of the images; their sums
    // are added before the one transform back.
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
        let mut m = vec![T::default(); 16 * oc];
        for p in partial {
            for (x, y) in m.iter_mut().zip(p) {
                *x += y;
            }
        }
        m
    };

    // df += alpha * G^T M G: along the rows of the transform domain into
    // t[a * 4 + k], then along its columns.
    let half = T::HALF;
    let mut t = vec![T::default(); 12 * oc];
    for k in 0..4 {
        let mk = |r: usize| &m[(4 * r + k) * oc..][..oc];
        let (p0, p1, p2, p3) = (mk(0), mk(1), mk(2), mk(3));
        let (t0, rest) = t[k * oc..].split_at_mut(4 * oc);
        let (t1, t2) = rest.split_at_mut(4 * oc);
        let (t0, t1, t2) = (&mut t0[..oc], &mut t1[..oc], &mut t2[..oc]);
        for x in 0..oc {
            t0[x] = p0[x] + half * (p1[x] + p2[x]);
            t1[x] = half * (p1[x] - p2[x]);
            t2[x] = half * (p1[x] + p2[x]) + p3[x];
        }
    }
    let mut gw = vec![T::default(); 9 * oc];
    for a in 0..3 {
        let tk = |k: usize| &t[(4 * a + k) * oc..][..oc];
        let (p0, p1, p2, p3) = (tk(0), tk(1), tk(2), tk(3));
        let (g0, rest) = gw[3 * a * oc..].split_at_mut(oc);
        let (g1, g2) = rest.split_at_mut(oc);
        let (g0, g1, g2) = (&mut g0[..oc], &mut g1[..oc], &mut g2[..oc]);
        for x in 0..oc {
            g0[x] = p0[x] + half * (p1[x] + p2[x]);
            g1[x] = half * (p1[x] - p2[x]);
            g2[x] = half * (p1[x] + p2[x]) + p3[x];
        }
    }
    for o in 0..outs {
        for c in 0..ins {
            for a in 0..3 {
                for b in 0..3 {
                    df[at(o, c, a, b)] += alpha * gw[(3 * a + b) * oc + o * ins + c];
                }
            }
        }
    }
}

/// The transform domain's sums `sum_tiles (A e A^T) . (B^T d B)` over the
/// images `images` of a filter gradient: 16 matrices `outs x ins`. `views`
/// are the output adjoint's and the input's slices and views (checked).
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
    let (th, tw) = (h.div_ceil(2), w.div_ceil(2));
    let oc = outs * ins;
    let tp = tw + 1;
    let rows_per_chunk = (CHUNK_TILES / tp).max(1).min(th);
    let chunk = rows_per_chunk * tp;
    let (vlen, elen) = (16 * ins * chunk, 16 * outs * chunk);
    let mut buf = vec![T::default(); vlen + elen];
    let (v, e) = buf.split_at_mut(vlen);
    // The sum over tiles of (A e A^T) . (B^T d B): 16 matrices outs x ins.
    let mut m = vec![T::default(); 16 * oc];
    let mut input = InputTransform::new(tw, rows_per_chunk, iv.cols, pad[1]);
    // Even and odd elements of the rows of `dy` a chunk reads, by the
    // parity of the row, laid out as the tiles.
    let mut even = [
        vec![T::default(); padded(chunk)],
        vec![T::default(); padded(chunk)],
    ];
    let mut odd = [
        vec![T::default(); padded(chunk)],
        vec![T::default(); padded(chunk)],
    ];
    let splitter = Splitter::new(w, 0, tp);
    for n in images {
        let mut ti0 = 0;
        while ti0 < th {
            let nrows = rows_per_chunk.min(th - ti0);
            let nt = nrows * tp;
            for c in 0..ins {
                let plane = &inp[iv.row(n, c, 0)..];
                input.run(
                    plane,
                    iv.strides[2],
                    iv.rows,
                    iv.cols,
                    pad,
                    ti0,
                    nrows,
                    &mut v[c * nt..],
                    ins * nt,
                );
            }
            for o in 0..outs {
                let plane = &dy[dv.row(n, o, 0)..];
                for yl in 0..2 * nrows {
                    let (g, at) = (yl % 2, (yl / 2) * tp);
                    let (ev, od) = (&mut even[g][at..at + tp], &mut odd[g][at..at + tp]);
                    let y = 2 * ti0 + yl;
                    let row = (y < h).then(|| &plane[y * dv.strides[2]..][..w]);
                    splitter.split(row, ev, od);
                }
                // A e A^T: along the columns of each of the tile's two
                // rows, then across them.
                let inputs = [&even[0][..], &odd[0][..], &even[1][..], &odd[1][..]];
                blocked(
                    nt,
                    inputs,
                    slices::<T, 16>(&mut e[o * nt..], outs * nt, nt),
                    |w, i| {
                        let r = |g: usize| {
                            let (e, o) = (w[2 * g][i], w[2 * g + 1][i]);
                            [e, e + o, e - o, -o]
                        };
                        let (r0, r1) = (r(0), r(1));
                        core::array::from_fn(|k| {
                            let c = k % 4;
                            match k / 4 {
                                0 => r0[c],
                                1 => r0[c] + r1[c],
                                2 => r0[c] - r1[c],
                                _ => -r1[c],
                            }
                        })
                    },
                );
            }
            for k in 0..16 {
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
