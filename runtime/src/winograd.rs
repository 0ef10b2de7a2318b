//! 3 x 3 correlations with a channel contraction by Winograd's minimal
//! filtering algorithm `F(4 x 4, 3 x 3)` (Lavin and Gray, "Fast Algorithms
//! for Convolutional Neural Networks", 2016).
//!
//! A 4 x 4 block of outputs of a 3 x 3 correlation costs 144
//! multiplications directly and 36 through the transforms `B`, `G`, `A`
//! (in [`f43`]): each 6 x 6 input tile and each filter is transformed, the
//! 36 transformed values are multiplied pointwise, and the products are
//! transformed back. Summed over channels, the pointwise products are 36
//! matrix products (one per point of the 6 x 6 transform domain), which
//! [`crate::gemm`]'s kernels run. The transforms only add and scale by small
//! constants, so the result equals the direct sum up to rounding: in f32
//! about 1e-5 of the largest output for 64 channels (the direct sum's is
//! about 1e-7; `F(2 x 2, 3 x 3)`, measured before it, was about 5e-7 and
//! 15-20% slower here).
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

mod f43;

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
    /// One.
    const ONE: Self;

    /// The nearest value to `x` (the transforms' constants).
    #[doc(hidden)]
    fn real(x: f64) -> Self;

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
            const ONE: Self = 1.0;

            fn real(x: f64) -> Self {
                x as $t
            }

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
                f43::correlate(batch, outs, ins, pad, alpha, inp, iv, f, fv, out, ov)
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
                f43::filter_gradient(
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
/// time: each step takes a fixed-size window of every input (`BLOCK + 1`
/// elements from `x`, so `f` may read element `i + 1`) and computes into a
/// local block, which the optimiser vectorises (36 output slices cut from
/// one buffer would need more run-time alias checks than it makes). Every input
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
