//! Issue 5's workloads: the generated forward and backward kernels against
//! plain hand-written Rust loop nests, measured side by side in one run, in
//! f32, one thread (plus conv2d on two threads, `forward_threads` / `backward_threads`); and the
//! cost of the derivation and code generation (what the macros do at
//! expansion time) for the seed's example and for chains of 10, 25 and 50
//! layers.
//!
//! The kernels are `sharegrad rust bench/models/NAME.eq --type f32`, written
//! to `benches/generated/kernels_NAME.rs` by `bench/generate.sh`
//! (`bench/generate.sh --check` fails when they are stale).
//!
//! Run: `cargo bench --bench kernels` (or `bench/report.sh` for the table
//! with PyTorch). Every benchmark's throughput is in FLOPs (2 per
//! multiply-add; max-pool counts one per comparison), so criterion's
//! `elem/s` reads as FLOP/s.
//!
//! Before timing, every generated kernel is checked against the
//! hand-written one on the benchmark's own data.

use criterion::{
    black_box, criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use std::time::Duration;

#[allow(dead_code, unused_parens, clippy::all, clippy::pedantic)]
mod gen_conv2d {
    include!("generated/kernels_conv2d.rs");
}

/// The same model with `--gemm`: contractions lowered to
/// `sharegrad_runtime::gemm`.
#[allow(dead_code, unused_parens, clippy::all, clippy::pedantic)]
mod gen_conv2d_gemm {
    include!("generated/kernels_conv2d_gemm.rs");
}

#[allow(dead_code, unused_parens, clippy::all, clippy::pedantic)]
mod gen_conv1d {
    include!("generated/kernels_conv1d.rs");
}

#[allow(dead_code, unused_parens, clippy::all, clippy::pedantic)]
mod gen_maxpool2d {
    include!("generated/kernels_maxpool2d.rs");
}

#[allow(dead_code, unused_parens, clippy::all, clippy::pedantic)]
mod gen_depthwise {
    include!("generated/kernels_depthwise.rs");
}

// ---------------------------------------------------------------------------
// Shapes (issue 5) and data.

/// NCHW shape of a 3x3, padding-1 convolution (`k` output channels) or of a
/// pooling input (`k` unused).
#[derive(Clone, Copy, Debug)]
struct Shape {
    n: usize,
    c: usize,
    k: usize,
    h: usize,
    w: usize,
}

impl Shape {
    fn input_len(self) -> usize {
        self.n * self.c * self.h * self.w
    }
    fn output_len(self) -> usize {
        self.n * self.k * self.h * self.w
    }
    /// FLOPs of a 3x3 convolution's forward pass: 2 per multiply-add,
    /// counting every tap (the zero-padded ones too, as PyTorch does).
    fn conv_flops(self) -> u64 {
        2 * 9 * (self.n * self.k * self.c * self.h * self.w) as u64
    }
    fn depthwise_flops(self) -> u64 {
        2 * 9 * (self.n * self.c * self.h * self.w) as u64
    }
}

const CONV2D: Shape = Shape {
    n: 8,
    c: 64,
    k: 64,
    h: 56,
    w: 56,
};
const CONV1D_N: usize = 1 << 20;
const CONV1D_K: usize = 7;
const MAXPOOL: Shape = Shape {
    n: 8,
    c: 64,
    k: 64,
    h: 112,
    w: 112,
};
const DEPTHWISE: Shape = Shape {
    n: 8,
    c: 64,
    k: 64,
    h: 56,
    w: 56,
};

/// Deterministic data in [-1, 1).
fn data(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s % 2000) as f32 / 1000.0 - 1.0
        })
        .collect()
}

/// Panics unless `got` matches `want` to f32 accuracy of a long sum.
fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-4 * scale,
            "{what}: element {i}: generated {g}, hand-written {w}"
        );
    }
}

fn group_settings(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    flops: u64,
) {
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_secs(1));
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Elements(flops));
}

// ---------------------------------------------------------------------------
// Hand-written baselines: plain safe Rust loop nests, the way one writes them
// by hand: interior and border split by slicing, innermost loops over
// contiguous rows (axpy), dot products with eight accumulators. No SIMD
// intrinsics, no GEMM, no unsafe.

/// `y += a * x`.
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// `sum a[i] * b[i]` with eight independent accumulators.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x8, y8) in ca.zip(cb) {
        for ((s, &x), &y) in acc.iter_mut().zip(x8).zip(y8) {
            *s += x * y;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The rows `i` of an output with `0 <= i + a - 1 < h` (tap row `a` of a
/// 3x3, padding-1 kernel).
fn rows(a: usize, h: usize) -> std::ops::Range<usize> {
    (1 - a.min(1))..(h + 1 - a).min(h)
}

/// `out[j] += wv * inp[j + b - 1]` over the columns where the read is in
/// range (tap column `b` of a padding-1 kernel).
fn tap_row(out: &mut [f32], wv: f32, inp: &[f32], b: usize) {
    let w = out.len();
    match b {
        0 => axpy(&mut out[1..], wv, &inp[..w - 1]),
        1 => axpy(out, wv, inp),
        _ => axpy(&mut out[..w - 1], wv, &inp[1..]),
    }
}

/// `out[j - b + 1] += wv * inp[j]`: the transpose of [`tap_row`].
fn tap_row_t(out: &mut [f32], wv: f32, inp: &[f32], b: usize) {
    tap_row(out, wv, inp, 2 - b);
}

/// `sum_j g[j] * inp[j + b - 1]` over the valid columns.
fn tap_dot(g: &[f32], inp: &[f32], b: usize) -> f32 {
    let w = g.len();
    match b {
        0 => dot(&g[1..], &inp[..w - 1]),
        1 => dot(g, inp),
        _ => dot(&g[..w - 1], &inp[1..]),
    }
}

/// One input plane `yc` correlated with a 3x3 kernel `wk`, added to `xk`.
fn plane_forward(xk: &mut [f32], yc: &[f32], wk: &[f32], h: usize, wd: usize) {
    for a in 0..3 {
        for i in rows(a, h) {
            let yrow = &yc[(i + a - 1) * wd..][..wd];
            let xrow = &mut xk[i * wd..][..wd];
            for b in 0..3 {
                tap_row(xrow, wk[a * 3 + b], yrow, b);
            }
        }
    }
}

/// The transpose of [`plane_forward`]: `gk` (output adjoint) spread back
/// into the input adjoint `dyc`.
fn plane_backward_input(dyc: &mut [f32], gk: &[f32], wk: &[f32], h: usize, wd: usize) {
    for a in 0..3 {
        for i in rows(a, h) {
            let grow = &gk[i * wd..][..wd];
            let dyrow = &mut dyc[(i + a - 1) * wd..][..wd];
            for b in 0..3 {
                tap_row_t(dyrow, wk[a * 3 + b], grow, b);
            }
        }
    }
}

/// The kernel adjoint of [`plane_forward`]: `dwk[a,b] += sum g * y`.
fn plane_backward_weight(dwk: &mut [f32], gk: &[f32], yc: &[f32], h: usize, wd: usize) {
    for a in 0..3 {
        for i in rows(a, h) {
            let grow = &gk[i * wd..][..wd];
            let yrow = &yc[(i + a - 1) * wd..][..wd];
            for b in 0..3 {
                dwk[a * 3 + b] += tap_dot(grow, yrow, b);
            }
        }
    }
}

fn conv2d_forward_by_hand(s: Shape, y: &[f32], w: &[f32], x: &mut [f32]) {
    let plane = s.h * s.w;
    for (xn, yn) in x
        .chunks_exact_mut(s.k * plane)
        .zip(y.chunks_exact(s.c * plane))
    {
        for (k, xk) in xn.chunks_exact_mut(plane).enumerate() {
            xk.fill(0.0);
            for (c, yc) in yn.chunks_exact(plane).enumerate() {
                plane_forward(xk, yc, &w[(k * s.c + c) * 9..][..9], s.h, s.w);
            }
        }
    }
}

fn conv2d_backward_by_hand(
    s: Shape,
    y: &[f32],
    w: &[f32],
    g: &[f32],
    dy: &mut [f32],
    dw: &mut [f32],
) {
    let plane = s.h * s.w;
    for (dyn_, gn) in dy
        .chunks_exact_mut(s.c * plane)
        .zip(g.chunks_exact(s.k * plane))
    {
        for (c, dyc) in dyn_.chunks_exact_mut(plane).enumerate() {
            for (k, gk) in gn.chunks_exact(plane).enumerate() {
                plane_backward_input(dyc, gk, &w[(k * s.c + c) * 9..][..9], s.h, s.w);
            }
        }
    }
    for (yn, gn) in y.chunks_exact(s.c * plane).zip(g.chunks_exact(s.k * plane)) {
        for (k, gk) in gn.chunks_exact(plane).enumerate() {
            for (c, yc) in yn.chunks_exact(plane).enumerate() {
                plane_backward_weight(&mut dw[(k * s.c + c) * 9..][..9], gk, yc, s.h, s.w);
            }
        }
    }
}

fn depthwise_forward_by_hand(s: Shape, y: &[f32], w: &[f32], x: &mut [f32]) {
    let plane = s.h * s.w;
    for (i, (xc, yc)) in x
        .chunks_exact_mut(plane)
        .zip(y.chunks_exact(plane))
        .enumerate()
    {
        xc.fill(0.0);
        let c = i % s.c;
        plane_forward(xc, yc, &w[c * 9..][..9], s.h, s.w);
    }
}

fn depthwise_backward_by_hand(
    s: Shape,
    y: &[f32],
    w: &[f32],
    g: &[f32],
    dy: &mut [f32],
    dw: &mut [f32],
) {
    let plane = s.h * s.w;
    for (i, ((dyc, gc), yc)) in dy
        .chunks_exact_mut(plane)
        .zip(g.chunks_exact(plane))
        .zip(y.chunks_exact(plane))
        .enumerate()
    {
        let c = i % s.c;
        plane_backward_input(dyc, gc, &w[c * 9..][..9], s.h, s.w);
        plane_backward_weight(&mut dw[c * 9..][..9], gc, yc, s.h, s.w);
    }
}

/// Valid conv1d, kernel 7: `x[i] = sum_a w[a] y[i+a]`.
fn conv1d_forward_by_hand(y: &[f32], w: &[f32], x: &mut [f32]) {
    let m = x.len();
    let ys: [&[f32]; CONV1D_K] = std::array::from_fn(|a| &y[a..a + m]);
    for (i, xi) in x.iter_mut().enumerate() {
        *xi = w[0] * ys[0][i]
            + w[1] * ys[1][i]
            + w[2] * ys[2][i]
            + w[3] * ys[3][i]
            + w[4] * ys[4][i]
            + w[5] * ys[5][i]
            + w[6] * ys[6][i];
    }
}

/// Its adjoint: `dy[j] += sum_a g[j-a] w[a]`, `dw[a] += sum_i g[i] y[i+a]`.
fn conv1d_backward_by_hand(y: &[f32], w: &[f32], g: &[f32], dy: &mut [f32], dw: &mut [f32]) {
    const K: usize = CONV1D_K;
    let m = g.len();
    // Interior j in K-1..m: every tap in range.
    let gs: [&[f32]; K] = std::array::from_fn(|a| &g[K - 1 - a..m - a]);
    for (t, d) in dy[K - 1..m].iter_mut().enumerate() {
        *d += w[0] * gs[0][t]
            + w[1] * gs[1][t]
            + w[2] * gs[2][t]
            + w[3] * gs[3][t]
            + w[4] * gs[4][t]
            + w[5] * gs[5][t]
            + w[6] * gs[6][t];
    }
    // The borders, with bound tests.
    for j in (0..K - 1).chain(m..dy.len()) {
        let mut acc = 0.0;
        for (a, &wa) in w.iter().enumerate() {
            if j >= a && j - a < m {
                acc += g[j - a] * wa;
            }
        }
        dy[j] += acc;
    }
    // The seven kernel gradients in one pass, eight lanes each.
    let mut acc = [[0.0f32; 8]; K];
    let chunks = m / 8;
    for ci in 0..chunks {
        let g8 = &g[ci * 8..][..8];
        for (a, acc_a) in acc.iter_mut().enumerate() {
            let y8 = &y[ci * 8 + a..][..8];
            for ((s, &gv), &yv) in acc_a.iter_mut().zip(g8).zip(y8) {
                *s += gv * yv;
            }
        }
    }
    for (a, acc_a) in acc.iter().enumerate() {
        let tail: f32 = (chunks * 8..m).map(|i| g[i] * y[i + a]).sum();
        dw[a] += acc_a.iter().sum::<f32>() + tail;
    }
}

/// 2x2 max pooling, stride 2 (H and W even), recording where each window's
/// maximum is (0-3, row-major; the first on ties), as the generated
/// forward does for its backward.
fn maxpool_forward_by_hand(s: Shape, x: &[f32], y: &mut [f32], arg: &mut [u8]) {
    let (ho, wo) = (s.h / 2, s.w / 2);
    for ((yc, ac), xc) in y
        .chunks_exact_mut(ho * wo)
        .zip(arg.chunks_exact_mut(ho * wo))
        .zip(x.chunks_exact(s.h * s.w))
    {
        for ((yrow, arow), xr) in yc
            .chunks_exact_mut(wo)
            .zip(ac.chunks_exact_mut(wo))
            .zip(xc.chunks_exact(2 * s.w))
        {
            let (r0, r1) = xr.split_at(s.w);
            maxpool_forward_row(yrow, arow, r0, r1);
        }
    }
}

/// One row of windows. A function of its own, not inlined: its slices are
/// then arguments that the compiler knows do not overlap, and it vectorises
/// the loop (inlined into loops whose rows come from one buffer, the
/// backward did not, and took 14 ms instead of 5).
#[inline(never)]
fn maxpool_forward_row(y: &mut [f32], arg: &mut [u8], r0: &[f32], r1: &[f32]) {
    for (((o, a), p0), p1) in y
        .iter_mut()
        .zip(arg.iter_mut())
        .zip(r0.chunks_exact(2))
        .zip(r1.chunks_exact(2))
    {
        // Branch-free: a select per element for the maximum and its place.
        let mut m = p0[0];
        let mut k = 0u8;
        for (t, v) in [(1u8, p0[1]), (2, p1[0]), (3, p1[1])] {
            let gt = v > m;
            m = if gt { v } else { m };
            k = if gt { t } else { k };
        }
        *o = m;
        *a = k;
    }
}

/// Its adjoint: each window's seed goes to the recorded element.
fn maxpool_backward_by_hand(s: Shape, g: &[f32], arg: &[u8], dx: &mut [f32]) {
    let (ho, wo) = (s.h / 2, s.w / 2);
    for ((gc, ac), dxc) in g
        .chunks_exact(ho * wo)
        .zip(arg.chunks_exact(ho * wo))
        .zip(dx.chunks_exact_mut(s.h * s.w))
    {
        for ((grow, arow), dr) in gc
            .chunks_exact(wo)
            .zip(ac.chunks_exact(wo))
            .zip(dxc.chunks_exact_mut(2 * s.w))
        {
            let (d0, d1) = dr.split_at_mut(s.w);
            maxpool_backward_row(grow, arow, d0, d1);
        }
    }
}

/// One row of windows of the backward (not inlined, as above).
#[inline(never)]
fn maxpool_backward_row(g: &[f32], arg: &[u8], d0: &mut [f32], d1: &mut [f32]) {
    for (((&gv, &k), q0), q1) in g
        .iter()
        .zip(arg)
        .zip(d0.chunks_exact_mut(2))
        .zip(d1.chunks_exact_mut(2))
    {
        q0[0] += if k == 0 { gv } else { 0.0 };
        q0[1] += if k == 1 { gv } else { 0.0 };
        q1[0] += if k == 2 { gv } else { 0.0 };
        q1[1] += if k == 3 { gv } else { 0.0 };
    }
}

// ---------------------------------------------------------------------------
// The kernel benchmarks.

fn bench_conv2d(cr: &mut Criterion) {
    let s = CONV2D;
    let (y, w, g) = (
        data(s.input_len(), 1),
        data(s.k * s.c * 9, 2),
        data(s.output_len(), 3),
    );
    let sizes = gen_conv2d::Sizes {
        N: s.n,
        C: s.c,
        K: s.k,
        H: s.h,
        W: s.w,
    };
    let inputs = gen_conv2d::Inputs { y: &y, w: &w };
    let mut values = gen_conv2d::Values::new(&sizes);
    gen_conv2d::forward(&sizes, &inputs, &mut values);

    // The same computation, checked.
    let mut x_hand = vec![0.0f32; s.output_len()];
    conv2d_forward_by_hand(s, &y, &w, &mut x_hand);
    assert_close("conv2d forward", &values.x, &x_hand);
    let (mut dy_gen, mut dw_gen) = (vec![0.0f32; y.len()], vec![0.0f32; w.len()]);
    let mut grads = gen_conv2d::Grads {
        y: Some(&mut dy_gen),
        w: Some(&mut dw_gen),
    };
    gen_conv2d::backward(
        &sizes,
        &inputs,
        &values,
        &gen_conv2d::Seeds { x: &g },
        &mut grads,
    );
    let (mut dy_hand, mut dw_hand) = (vec![0.0f32; y.len()], vec![0.0f32; w.len()]);
    conv2d_backward_by_hand(s, &y, &w, &g, &mut dy_hand, &mut dw_hand);
    assert_close("conv2d backward, input gradient", &dy_gen, &dy_hand);
    assert_close("conv2d backward, weight gradient", &dw_gen, &dw_hand);

    // Two threads through the generated `*_threads` functions, checked
    // against the one-thread result first.
    let mut values2 = gen_conv2d::Values::new(&sizes);
    gen_conv2d::forward_threads(&sizes, &inputs, &mut values2, 2);
    assert_close("conv2d forward, 2 threads", &values2.x, &x_hand);
    let (mut dy_2, mut dw_2) = (vec![0.0f32; y.len()], vec![0.0f32; w.len()]);
    let mut grads = gen_conv2d::Grads {
        y: Some(&mut dy_2),
        w: Some(&mut dw_2),
    };
    let seeds = gen_conv2d::Seeds { x: &g };
    gen_conv2d::backward_threads(&sizes, &inputs, &values, &seeds, &mut grads, 2);
    assert_close("conv2d backward 2 threads, input gradient", &dy_2, &dy_hand);
    assert_close(
        "conv2d backward 2 threads, weight gradient",
        &dw_2,
        &dw_hand,
    );

    // The GEMM-lowered module, 1 and 2 threads, checked the same way.
    let gsizes = gen_conv2d_gemm::Sizes {
        N: s.n,
        C: s.c,
        K: s.k,
        H: s.h,
        W: s.w,
    };
    let ginputs = gen_conv2d_gemm::Inputs { y: &y, w: &w };
    let mut gvalues = gen_conv2d_gemm::Values::new(&gsizes);
    let gseeds = gen_conv2d_gemm::Seeds { x: &g };
    let (mut dy_g, mut dw_g) = (vec![0.0f32; y.len()], vec![0.0f32; w.len()]);
    for threads in [1, 2] {
        gen_conv2d_gemm::forward_threads(&gsizes, &ginputs, &mut gvalues, threads);
        assert_close("conv2d forward, gemm", &gvalues.x, &x_hand);
        dy_g.fill(0.0);
        dw_g.fill(0.0);
        let mut grads = gen_conv2d_gemm::Grads {
            y: Some(&mut dy_g),
            w: Some(&mut dw_g),
        };
        gen_conv2d_gemm::backward_threads(
            &gsizes, &ginputs, &gvalues, &gseeds, &mut grads, threads,
        );
        assert_close("conv2d backward gemm, input gradient", &dy_g, &dy_hand);
        assert_close("conv2d backward gemm, weight gradient", &dw_g, &dw_hand);
    }

    let mut grp = cr.benchmark_group("conv2d_fwd");
    group_settings(&mut grp, s.conv_flops());
    for (name, threads) in [("generated_gemm", 1), ("generated_gemm_2threads", 2)] {
        grp.bench_function(name, |b| {
            b.iter(|| {
                gen_conv2d_gemm::forward_threads(&gsizes, &ginputs, &mut gvalues, threads);
                black_box(&gvalues.x);
            })
        });
    }
    grp.bench_function("generated", |b| {
        b.iter(|| {
            gen_conv2d::forward(&sizes, &inputs, &mut values);
            black_box(&values.x);
        })
    });
    grp.bench_function("generated_2threads", |b| {
        b.iter(|| {
            gen_conv2d::forward_threads(&sizes, &inputs, &mut values2, 2);
            black_box(&values2.x);
        })
    });
    grp.bench_function("hand", |b| {
        b.iter(|| {
            conv2d_forward_by_hand(s, &y, &w, &mut x_hand);
            black_box(&x_hand);
        })
    });
    grp.finish();

    let mut grp = cr.benchmark_group("conv2d_bwd");
    group_settings(&mut grp, 2 * s.conv_flops());
    for (name, threads) in [("generated_gemm", 1), ("generated_gemm_2threads", 2)] {
        grp.bench_function(name, |b| {
            b.iter(|| {
                let mut grads = gen_conv2d_gemm::Grads {
                    y: Some(&mut dy_g),
                    w: Some(&mut dw_g),
                };
                gen_conv2d_gemm::backward_threads(
                    &gsizes, &ginputs, &gvalues, &gseeds, &mut grads, threads,
                );
                black_box(&dy_g);
            })
        });
    }
    for (name, threads) in [("generated", 1), ("generated_2threads", 2)] {
        grp.bench_function(name, |b| {
            b.iter(|| {
                let mut grads = gen_conv2d::Grads {
                    y: Some(&mut dy_gen),
                    w: Some(&mut dw_gen),
                };
                gen_conv2d::backward_threads(
                    &sizes,
                    &inputs,
                    &values,
                    &gen_conv2d::Seeds { x: &g },
                    &mut grads,
                    threads,
                );
                black_box(&dy_gen);
            })
        });
    }
    grp.bench_function("hand", |b| {
        b.iter(|| {
            conv2d_backward_by_hand(s, &y, &w, &g, &mut dy_hand, &mut dw_hand);
            black_box(&dy_hand);
        })
    });
    grp.finish();
}

fn bench_conv1d(cr: &mut Criterion) {
    let n = CONV1D_N;
    let m = n - (CONV1D_K - 1);
    let (y, w, g) = (data(n, 4), data(CONV1D_K, 5), data(m, 6));
    let sizes = gen_conv1d::Sizes { n };
    let inputs = gen_conv1d::Inputs { y: &y, w: &w };
    let mut values = gen_conv1d::Values::new(&sizes);
    gen_conv1d::forward(&sizes, &inputs, &mut values);

    let mut x_hand = vec![0.0f32; m];
    conv1d_forward_by_hand(&y, &w, &mut x_hand);
    assert_close("conv1d forward", &values.x, &x_hand);
    let (mut dy_gen, mut dw_gen) = (vec![0.0f32; n], vec![0.0f32; CONV1D_K]);
    let mut grads = gen_conv1d::Grads {
        y: Some(&mut dy_gen),
        w: Some(&mut dw_gen),
    };
    gen_conv1d::backward(
        &sizes,
        &inputs,
        &values,
        &gen_conv1d::Seeds { x: &g },
        &mut grads,
    );
    let (mut dy_hand, mut dw_hand) = (vec![0.0f32; n], vec![0.0f32; CONV1D_K]);
    conv1d_backward_by_hand(&y, &w, &g, &mut dy_hand, &mut dw_hand);
    assert_close("conv1d backward, input gradient", &dy_gen, &dy_hand);
    assert_close("conv1d backward, weight gradient", &dw_gen, &dw_hand);
    {
        let mut v2 = gen_conv1d::Values::new(&sizes);
        gen_conv1d::forward_threads(&sizes, &inputs, &mut v2, 2);
        assert_close("conv1d forward, 2 threads", &v2.x, &x_hand);
        let (mut dy2, mut dw2) = (vec![0.0f32; n], vec![0.0f32; CONV1D_K]);
        let mut grads = gen_conv1d::Grads {
            y: Some(&mut dy2),
            w: Some(&mut dw2),
        };
        let seeds = gen_conv1d::Seeds { x: &g };
        gen_conv1d::backward_threads(&sizes, &inputs, &v2, &seeds, &mut grads, 2);
        assert_close("conv1d backward 2 threads, input gradient", &dy2, &dy_hand);
        assert_close("conv1d backward 2 threads, weight gradient", &dw2, &dw_hand);
    }

    let flops = 2 * (CONV1D_K * m) as u64;
    let mut grp = cr.benchmark_group("conv1d_fwd");
    group_settings(&mut grp, flops);
    for (name, threads) in [("generated", 1), ("generated_2threads", 2)] {
        grp.bench_function(name, |b| {
            b.iter(|| {
                gen_conv1d::forward_threads(&sizes, &inputs, &mut values, threads);
                black_box(&values.x);
            })
        });
    }
    grp.bench_function("hand", |b| {
        b.iter(|| {
            conv1d_forward_by_hand(&y, &w, &mut x_hand);
            black_box(&x_hand);
        })
    });
    grp.finish();

    let mut grp = cr.benchmark_group("conv1d_bwd");
    group_settings(&mut grp, 2 * flops);
    for (name, threads) in [("generated", 1), ("generated_2threads", 2)] {
        grp.bench_function(name, |b| {
            b.iter(|| {
                let mut grads = gen_conv1d::Grads {
                    y: Some(&mut dy_gen),
                    w: Some(&mut dw_gen),
                };
                gen_conv1d::backward_threads(
                    &sizes,
                    &inputs,
                    &values,
                    &gen_conv1d::Seeds { x: &g },
                    &mut grads,
                    threads,
                );
                black_box(&dy_gen);
            })
        });
    }
    grp.bench_function("hand", |b| {
        b.iter(|| {
            conv1d_backward_by_hand(&y, &w, &g, &mut dy_hand, &mut dw_hand);
            black_box(&dy_hand);
        })
    });
    grp.finish();
}

fn bench_maxpool(cr: &mut Criterion) {
    let s = MAXPOOL;
    let out_len = s.n * s.c * (s.h / 2) * (s.w / 2);
    let (x, g) = (data(s.input_len(), 7), data(out_len, 8));
    let sizes = gen_maxpool2d::Sizes {
        N: s.n,
        C: s.c,
        H: s.h,
        W: s.w,
    };
    let inputs = gen_maxpool2d::Inputs { x: &x };
    let mut values = gen_maxpool2d::Values::new(&sizes);
    gen_maxpool2d::forward(&sizes, &inputs, &mut values);

    let mut y_hand = vec![0.0f32; out_len];
    let mut arg_hand = vec![0u8; out_len];
    maxpool_forward_by_hand(s, &x, &mut y_hand, &mut arg_hand);
    assert_close("maxpool forward", &values.y, &y_hand);
    let mut dx_gen = vec![0.0f32; x.len()];
    let mut grads = gen_maxpool2d::Grads {
        x: Some(&mut dx_gen),
    };
    gen_maxpool2d::backward(
        &sizes,
        &inputs,
        &values,
        &gen_maxpool2d::Seeds { y: &g },
        &mut grads,
    );
    let mut dx_hand = vec![0.0f32; x.len()];
    maxpool_backward_by_hand(s, &g, &arg_hand, &mut dx_hand);
    assert_close("maxpool backward", &dx_gen, &dx_hand);
    {
        let mut v2 = gen_maxpool2d::Values::new(&sizes);
        gen_maxpool2d::forward_threads(&sizes, &inputs, &mut v2, 2);
        assert_close("maxpool forward, 2 threads", &v2.y, &y_hand);
        let mut dx2 = vec![0.0f32; x.len()];
        let mut grads = gen_maxpool2d::Grads { x: Some(&mut dx2) };
        let seeds = gen_maxpool2d::Seeds { y: &g };
        gen_maxpool2d::backward_threads(&sizes, &inputs, &v2, &seeds, &mut grads, 2);
        assert_close("maxpool backward, 2 threads", &dx2, &dx_hand);
    }

    // Three comparisons per window.
    let flops = 3 * out_len as u64;
    let mut grp = cr.benchmark_group("maxpool_fwd");
    group_settings(&mut grp, flops);
    for (name, threads) in [("generated", 1), ("generated_2threads", 2)] {
        grp.bench_function(name, |b| {
            b.iter(|| {
                gen_maxpool2d::forward_threads(&sizes, &inputs, &mut values, threads);
                black_box(&values.y);
            })
        });
    }
    grp.bench_function("hand", |b| {
        b.iter(|| {
            maxpool_forward_by_hand(s, &x, &mut y_hand, &mut arg_hand);
            black_box(&y_hand);
        })
    });
    grp.finish();

    let mut grp = cr.benchmark_group("maxpool_bwd");
    group_settings(&mut grp, flops);
    for (name, threads) in [("generated", 1), ("generated_2threads", 2)] {
        grp.bench_function(name, |b| {
            b.iter(|| {
                let mut grads = gen_maxpool2d::Grads {
                    x: Some(&mut dx_gen),
                };
                gen_maxpool2d::backward_threads(
                    &sizes,
                    &inputs,
                    &values,
                    &gen_maxpool2d::Seeds { y: &g },
                    &mut grads,
                    threads,
                );
                black_box(&dx_gen);
            })
        });
    }
    grp.bench_function("hand", |b| {
        b.iter(|| {
            maxpool_backward_by_hand(s, &g, &arg_hand, &mut dx_hand);
            black_box(&dx_hand);
        })
    });
    grp.finish();

    // The memory traffic no implementation of this API can avoid, timed on
    // the same buffers: the forward reads the whole input once and writes
    // the output; the backward reads the seed and adds into the caller's
    // gradient (reads and writes it). Their sum is a floor under forward +
    // backward (the arg-max searches, and finding or recording where each
    // maximum is, come on top).
    let mut grp = cr.benchmark_group("maxpool_floor");
    group_settings(&mut grp, flops);
    grp.bench_function("read_input", |b| b.iter(|| black_box(sum_lanes(&x))));
    grp.bench_function("copy_seed_to_output", |b| {
        b.iter(|| {
            y_hand.copy_from_slice(&g);
            black_box(&y_hand);
        })
    });
    grp.bench_function("add_into_gradient", |b| {
        b.iter(|| {
            for d in dx_hand.iter_mut() {
                *d += 1.0;
            }
            black_box(&dx_hand);
        })
    });
    grp.finish();
}

/// The sum of a buffer in sixteen lanes (vectorised: one pass at the
/// memory's speed).
fn sum_lanes(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let mut chunks = x.chunks_exact(16);
    for c in &mut chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += *v;
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

fn bench_depthwise(cr: &mut Criterion) {
    let s = DEPTHWISE;
    let (y, w, g) = (
        data(s.input_len(), 9),
        data(s.c * 9, 10),
        data(s.input_len(), 11),
    );
    let sizes = gen_depthwise::Sizes {
        N: s.n,
        C: s.c,
        H: s.h,
        W: s.w,
    };
    let inputs = gen_depthwise::Inputs { y: &y, w: &w };
    let mut values = gen_depthwise::Values::new(&sizes);
    gen_depthwise::forward(&sizes, &inputs, &mut values);

    let mut x_hand = vec![0.0f32; s.input_len()];
    depthwise_forward_by_hand(s, &y, &w, &mut x_hand);
    assert_close("depthwise forward", &values.x, &x_hand);
    let (mut dy_gen, mut dw_gen) = (vec![0.0f32; y.len()], vec![0.0f32; w.len()]);
    let mut grads = gen_depthwise::Grads {
        y: Some(&mut dy_gen),
        w: Some(&mut dw_gen),
    };
    gen_depthwise::backward(
        &sizes,
        &inputs,
        &values,
        &gen_depthwise::Seeds { x: &g },
        &mut grads,
    );
    let (mut dy_hand, mut dw_hand) = (vec![0.0f32; y.len()], vec![0.0f32; w.len()]);
    depthwise_backward_by_hand(s, &y, &w, &g, &mut dy_hand, &mut dw_hand);
    assert_close("depthwise backward, input gradient", &dy_gen, &dy_hand);
    assert_close("depthwise backward, weight gradient", &dw_gen, &dw_hand);
    {
        let mut v2 = gen_depthwise::Values::new(&sizes);
        gen_depthwise::forward_threads(&sizes, &inputs, &mut v2, 2);
        assert_close("depthwise forward, 2 threads", &v2.x, &x_hand);
        let (mut dy2, mut dw2) = (vec![0.0f32; y.len()], vec![0.0f32; w.len()]);
        let mut grads = gen_depthwise::Grads {
            y: Some(&mut dy2),
            w: Some(&mut dw2),
        };
        let seeds = gen_depthwise::Seeds { x: &g };
        gen_depthwise::backward_threads(&sizes, &inputs, &v2, &seeds, &mut grads, 2);
        assert_close(
            "depthwise backward 2 threads, input gradient",
            &dy2,
            &dy_hand,
        );
        assert_close(
            "depthwise backward 2 threads, weight gradient",
            &dw2,
            &dw_hand,
        );
    }

    let mut grp = cr.benchmark_group("depthwise_fwd");
    group_settings(&mut grp, s.depthwise_flops());
    for (name, threads) in [("generated", 1), ("generated_2threads", 2)] {
        grp.bench_function(name, |b| {
            b.iter(|| {
                gen_depthwise::forward_threads(&sizes, &inputs, &mut values, threads);
                black_box(&values.x);
            })
        });
    }
    grp.bench_function("hand", |b| {
        b.iter(|| {
            depthwise_forward_by_hand(s, &y, &w, &mut x_hand);
            black_box(&x_hand);
        })
    });
    grp.finish();

    let mut grp = cr.benchmark_group("depthwise_bwd");
    group_settings(&mut grp, 2 * s.depthwise_flops());
    for (name, threads) in [("generated", 1), ("generated_2threads", 2)] {
        grp.bench_function(name, |b| {
            b.iter(|| {
                let mut grads = gen_depthwise::Grads {
                    y: Some(&mut dy_gen),
                    w: Some(&mut dw_gen),
                };
                gen_depthwise::backward_threads(
                    &sizes,
                    &inputs,
                    &values,
                    &gen_depthwise::Seeds { x: &g },
                    &mut grads,
                    threads,
                );
                black_box(&dy_gen);
            })
        });
    }
    grp.bench_function("hand", |b| {
        b.iter(|| {
            depthwise_backward_by_hand(s, &y, &w, &g, &mut dy_hand, &mut dw_hand);
            black_box(&dy_hand);
        })
    });
    grp.finish();
}

// ---------------------------------------------------------------------------
// Expansion time: what `sharegrad::model!` does (compile, LaTeX derivation,
// module tokens) and what `sharegrad rust` does (compile, formatted module
// source), for the seed's example and for chains of L layers.

/// A chain of `layers` conv1d layers in the seed's style: every layer
/// correlates the previous activations with the one shared kernel `w` (the
/// seed's rule sums its gradient over all layers), adds its own bias `b^l`,
/// and applies `h = tanh`. Two statements per layer.
fn chain_model(layers: usize) -> String {
    let mut s = String::from(
        "% generated chain\ninput y^0_i, 0 \\le i < n\nparam w_a, 0 \\le a < 3\nh(z) = \\tanh(z)\n",
    );
    for l in 1..=layers {
        s.push_str(&format!("param b^{{{l}}}\n"));
    }
    for l in 1..=layers {
        let p = l - 1;
        s.push_str(&format!(
            "x^{{{l}}}_i = \\sum_{{a}} w_a y^{{{p}}}_{{i+a}} + b^{{{l}}}\n"
        ));
        s.push_str(&format!("y^{{{l}}}_i = h(x^{{{l}}}_i)\n"));
    }
    s.push_str(&format!("output y^{{{layers}}}\n"));
    s
}

/// One expansion step over a model's source.
type Step = fn(&str) -> usize;

/// The front end alone: parse, resolve, derive the adjoints.
fn compile_only(src: &str) -> usize {
    let model = sharegrad::compile(src).expect("the model compiles");
    model.program.statements.len()
}

/// What the macros do per model.
fn macro_expansion(src: &str) -> usize {
    let model = sharegrad::compile(src).expect("the model compiles");
    let opts = sharegrad::engine::codegen::Options {
        derivation: Some(sharegrad::engine::latex::derivation(&model)),
        ..Default::default()
    };
    let tokens =
        sharegrad::engine::codegen::module_tokens(&model, &opts).expect("the module generates");
    tokens.into_iter().count()
}

/// What `sharegrad rust --type f32` does per model.
fn cli_module(src: &str) -> usize {
    let model = sharegrad::compile(src).expect("the model compiles");
    let opts = sharegrad::engine::codegen::Options {
        real: sharegrad::engine::codegen::RealType::F32,
        ..Default::default()
    };
    sharegrad::engine::codegen::module_source(&model, &opts)
        .expect("the module generates")
        .len()
}

fn bench_expansion(cr: &mut Criterion) {
    let mut models = vec![(
        "seed".to_string(),
        include_str!("../examples/seed.eq").to_string(),
    )];
    for layers in [10, 25, 50, 100] {
        models.push((format!("chain{layers}"), chain_model(layers)));
    }
    let steps: [(&str, Step); 3] = [
        ("compile", compile_only),
        ("macro", macro_expansion),
        ("cli", cli_module),
    ];
    for (what, f) in steps {
        let mut grp = cr.benchmark_group(format!("expand_{what}"));
        grp.sample_size(10);
        grp.warm_up_time(Duration::from_millis(200));
        grp.measurement_time(Duration::from_secs(1));
        grp.sampling_mode(SamplingMode::Flat);
        for (name, src) in &models {
            grp.bench_with_input(BenchmarkId::from_parameter(name), src.as_str(), |b, src| {
                b.iter(|| black_box(f(black_box(src))))
            });
        }
        grp.finish();
    }
}

criterion_group!(
    benches,
    bench_expansion,
    bench_conv1d,
    bench_maxpool,
    bench_depthwise,
    bench_conv2d
);
criterion_main!(benches);
