//! The Winograd 3 x 3 correlations against the direct sums written out as
//! plain loops, on random batches, sizes (odd and even, down to 1 x 1),
//! paddings (negative too), offsets, padded rows and flipped filter views,
//! in f64 and f32; and their checks.

use sharegrad_runtime::{conv3x3, conv3x3_filter, Filter, Images};

mod common;
use common::Rng;

/// A view of `batch x channels x rows x cols` images with a random offset
/// and padding between rows, channels and images; the slice length it needs.
fn images(
    rng: &mut Rng,
    batch: usize,
    channels: usize,
    rows: usize,
    cols: usize,
) -> (Images, usize) {
    let offset = rng.upto(4);
    let rs = cols + rng.upto(3);
    let cs = rows * rs + rng.upto(5);
    let ns = channels * cs + rng.upto(4);
    let len =
        offset + (batch - 1) * ns + (channels - 1) * cs + (rows - 1) * rs + cols + rng.upto(3);
    (
        Images {
            offset,
            strides: [ns, cs, rs],
            rows,
            cols,
        },
        len,
    )
}

/// A filter view of `outs x ins x 3 x 3`, either order of the channel
/// dimensions, the taps flipped or not; the slice length.
fn filter(rng: &mut Rng, outs: usize, ins: usize) -> (Filter, usize) {
    let off = rng.upto(3);
    let (so, sc) = if rng.upto(2) == 0 {
        (9 * ins as isize, 9)
    } else {
        (9, 9 * outs as isize)
    };
    let len = off + 9 * outs * ins + rng.upto(2);
    if rng.upto(2) == 0 {
        ((off, [so, sc, 3, 1]), len)
    } else {
        ((off + 8, [so, sc, -3, -1]), len)
    }
}

fn at(f: Filter, o: usize, c: usize, a: usize, b: usize) -> usize {
    let (off, s) = f;
    (off as isize + o as isize * s[0] + c as isize * s[1] + a as isize * s[2] + b as isize * s[3])
        as usize
}

/// Element `(n, c, y, x)` of `v` in `data`, zero outside its rows and columns.
fn read(data: &[f64], v: &Images, n: usize, c: usize, y: isize, x: isize) -> f64 {
    if (0..v.rows as isize).contains(&y) && (0..v.cols as isize).contains(&x) {
        data[v.offset
            + n * v.strides[0]
            + c * v.strides[1]
            + y as usize * v.strides[2]
            + x as usize]
    } else {
        0.0
    }
}

fn close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    let scale = want.iter().fold(1.0f64, |m, x| m.max(x.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * scale,
            "{what}: element {i}: {g} vs {w}"
        );
    }
}

fn to32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn to64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Sizes of case `case`: a few fixed corners, then random ones.
fn shape(rng: &mut Rng, case: usize) -> (usize, usize, usize, [usize; 4], [isize; 2]) {
    let (batch, outs, ins) = (1 + rng.upto(3), 1 + rng.upto(5), 1 + rng.upto(5));
    let fixed = [
        ([1, 1, 1, 1], [1, 1]),
        ([1, 2, 3, 4], [1, 1]),
        ([2, 1, 4, 3], [0, 0]),
        ([5, 5, 3, 3], [2, 2]),
    ];
    let (dims, pad) = if case < fixed.len() {
        fixed[case]
    } else {
        (
            [
                1 + rng.upto(13),
                1 + rng.upto(13),
                1 + rng.upto(13),
                1 + rng.upto(13),
            ],
            [rng.upto(5) as isize - 1, rng.upto(5) as isize - 1],
        )
    };
    (batch, outs, ins, dims, pad)
}

#[test]
fn correlation_matches_the_direct_sum() {
    let mut rng = Rng(11);
    for case in 0..80 {
        // dims: output rows, cols, input rows, cols.
        let (batch, outs, ins, [h, w, ih, iw], pad) = shape(&mut rng, case);
        let (iv, ilen) = images(&mut rng, batch, ins, ih, iw);
        let (ov, olen) = images(&mut rng, batch, outs, h, w);
        let (fv, flen) = filter(&mut rng, outs, ins);
        let inp = rng.vec(ilen);
        let f = rng.vec(flen);
        let start = rng.vec(olen);
        let alpha = if case % 3 == 0 { -0.5 } else { 1.0 };

        let mut want = start.clone();
        for n in 0..batch {
            for o in 0..outs {
                for i in 0..h {
                    for j in 0..w {
                        let mut s = 0.0;
                        for c in 0..ins {
                            for a in 0..3 {
                                for b in 0..3 {
                                    let (y, x) =
                                        ((i + a) as isize - pad[0], (j + b) as isize - pad[1]);
                                    s += f[at(fv, o, c, a, b)] * read(&inp, &iv, n, c, y, x);
                                }
                            }
                        }
                        want[ov.offset
                            + n * ov.strides[0]
                            + o * ov.strides[1]
                            + i * ov.strides[2]
                            + j] += alpha * s;
                    }
                }
            }
        }
        let what =
            format!("case {case} ({batch}x{outs}x{ins}, out {h}x{w}, in {ih}x{iw}, pad {pad:?})");
        let mut got = start.clone();
        conv3x3(batch, outs, ins, pad, alpha, &inp, iv, &f, fv, &mut got, ov);
        close(&format!("f64 {what}"), &got, &want, 1e-12);

        let mut got32 = to32(&start);
        conv3x3(
            batch,
            outs,
            ins,
            pad,
            alpha as f32,
            &to32(&inp),
            iv,
            &to32(&f),
            fv,
            &mut got32,
            ov,
        );
        close(&format!("f32 {what}"), &to64(&got32), &want, 1e-5);
    }
}

#[test]
fn filter_gradient_matches_the_direct_sum() {
    let mut rng = Rng(23);
    for case in 0..80 {
        let (batch, outs, ins, [h, w, ih, iw], pad) = shape(&mut rng, case);
        let (dv, dlen) = images(&mut rng, batch, outs, h, w);
        let (iv, ilen) = images(&mut rng, batch, ins, ih, iw);
        let (fv, flen) = filter(&mut rng, outs, ins);
        let dy = rng.vec(dlen);
        let inp = rng.vec(ilen);
        let start = rng.vec(flen);
        let alpha = if case % 3 == 0 { 2.0 } else { 1.0 };

        let mut want = start.clone();
        for o in 0..outs {
            for c in 0..ins {
                for a in 0..3 {
                    for b in 0..3 {
                        let mut s = 0.0;
                        for n in 0..batch {
                            for i in 0..h {
                                for j in 0..w {
                                    let (y, x) =
                                        ((i + a) as isize - pad[0], (j + b) as isize - pad[1]);
                                    s += read(&dy, &dv, n, o, i as isize, j as isize)
                                        * read(&inp, &iv, n, c, y, x);
                                }
                            }
                        }
                        want[at(fv, o, c, a, b)] += alpha * s;
                    }
                }
            }
        }
        let what =
            format!("case {case} ({batch}x{outs}x{ins}, out {h}x{w}, in {ih}x{iw}, pad {pad:?})");
        let mut got = start.clone();
        // The images split over up to three threads.
        let threads = 1 + case % 3;
        conv3x3_filter(
            batch, outs, ins, pad, alpha, &dy, dv, &inp, iv, &mut got, fv, threads,
        );
        close(
            &format!("f64 {what}, {threads} threads"),
            &got,
            &want,
            1e-12,
        );

        let mut got32 = to32(&start);
        conv3x3_filter(
            batch,
            outs,
            ins,
            pad,
            alpha as f32,
            &to32(&dy),
            dv,
            &to32(&inp),
            iv,
            &mut got32,
            fv,
            1,
        );
        close(&format!("f32 {what}"), &to64(&got32), &want, 1e-5);
    }
}

#[test]
fn large_planes_span_several_chunks() {
    // 40 x 30 outputs: 20 x 15 tiles, several chunks of tiles per image.
    let mut rng = Rng(5);
    let (batch, outs, ins, h, w) = (2, 3, 2, 40, 30);
    let iv = Images {
        offset: 0,
        strides: [ins * h * w, h * w, w],
        rows: h,
        cols: w,
    };
    let ov = Images {
        offset: 0,
        strides: [outs * h * w, h * w, w],
        rows: h,
        cols: w,
    };
    let inp = rng.vec(batch * ins * h * w);
    let dy = rng.vec(batch * outs * h * w);
    let fv: Filter = (0, [9 * ins as isize, 9, 3, 1]);
    let mut got = vec![0.0; 9 * outs * ins];
    conv3x3_filter(
        batch,
        outs,
        ins,
        [1, 1],
        1.0,
        &dy,
        ov,
        &inp,
        iv,
        &mut got,
        fv,
        2,
    );
    let mut want = vec![0.0; 9 * outs * ins];
    for o in 0..outs {
        for c in 0..ins {
            for a in 0..3 {
                for b in 0..3 {
                    for n in 0..batch {
                        for i in 0..h {
                            for j in 0..w {
                                let (y, x) = ((i + a) as isize - 1, (j + b) as isize - 1);
                                want[at(fv, o, c, a, b)] += dy[((n * outs + o) * h + i) * w + j]
                                    * read(&inp, &iv, n, c, y, x);
                            }
                        }
                    }
                }
            }
        }
    }
    close("filter gradient", &got, &want, 1e-12);

    let f = got;
    let mut out = vec![0.0; batch * outs * h * w];
    conv3x3(
        batch,
        outs,
        ins,
        [1, 1],
        1.0,
        &inp,
        iv,
        &f,
        fv,
        &mut out,
        ov,
    );
    let mut direct = vec![0.0; batch * outs * h * w];
    for n in 0..batch {
        for o in 0..outs {
            for i in 0..h {
                for j in 0..w {
                    for c in 0..ins {
                        for a in 0..3 {
                            for b in 0..3 {
                                let (y, x) = ((i + a) as isize - 1, (j + b) as isize - 1);
                                direct[((n * outs + o) * h + i) * w + j] +=
                                    f[at(fv, o, c, a, b)] * read(&inp, &iv, n, c, y, x);
                            }
                        }
                    }
                }
            }
        }
    }
    close("correlation", &out, &direct, 1e-12);
}

/// A 1 x 1 x 3 x 4 correlation over 2 input channels, with an input slice
/// of `inp_len` elements and the filter view `fv`.
fn small(inp_len: usize, fv: Filter) {
    let inp = vec![0.0f32; inp_len];
    let f = vec![0.0f32; 18];
    let mut out = vec![0.0f32; 12];
    let view = |strides| Images {
        offset: 0,
        strides,
        rows: 3,
        cols: 4,
    };
    let (iv, ov) = (view([24, 12, 4]), view([12, 12, 4]));
    conv3x3(1, 1, 2, [1, 1], 1.0, &inp, iv, &f, fv, &mut out, ov);
}

#[test]
#[should_panic(
    expected = "input (1 x 2 x 3 x 4 at offset 0, strides 24, 12, 4, 1) reaches past its slice of 23 elements"
)]
fn an_input_view_past_its_slice_panics() {
    small(23, (0, [18, 9, 3, 1]));
}

#[test]
#[should_panic(
    expected = "filter (1 x 2 x 3 x 3 at offset 0, strides [18, 9, -3, -1]) reaches outside"
)]
fn a_flipped_filter_view_before_its_slice_panics() {
    small(24, (0, [18, 9, -3, -1]));
}
