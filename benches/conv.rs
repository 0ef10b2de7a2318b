//! Generated conv1d and conv2d backward against plain hand-written Rust loop
//! nests, in the same run, f32, one thread.
//!
//! The generated modules come from `sharegrad rust benches/conv1d.eq --type
//! f32` and `benches/conv2d.eq` (regenerate `benches/generated/*.rs` after
//! changing the generator). Run: `cargo bench --bench conv`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};

#[allow(dead_code, clippy::all)]
mod conv1d {
    include!("generated/conv1d.rs");
}

#[allow(dead_code, clippy::all)]
mod conv2d {
    include!("generated/conv2d.rs");
}

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

/// Hand-written conv1d backward (valid, kernel `k`): scatter form.
fn conv1d_backward_by_hand(y: &[f32], w: &[f32], dx: &[f32], dy: &mut [f32], dw: &mut [f32]) {
    let k = w.len();
    for (i, &g) in dx.iter().enumerate() {
        for a in 0..k {
            dy[i + a] += g * w[a];
            dw[a] += g * y[i + a];
        }
    }
}

/// Shapes of the conv2d benchmark.
#[derive(Clone, Copy)]
struct Shape {
    n: usize,
    c: usize,
    k: usize,
    h: usize,
    w: usize,
}

/// Hand-written conv2d backward (3x3, padding 1): the textbook loop nest
/// over the output with bound tests, scattering into both gradients.
fn conv2d_backward_by_hand(
    s: Shape,
    y: &[f32],
    w: &[f32],
    dx: &[f32],
    dy: &mut [f32],
    dw: &mut [f32],
) {
    let Shape { n, c, k, h, w: wd } = s;
    for ni in 0..n {
        for ki in 0..k {
            for i in 0..h {
                for j in 0..wd {
                    let g = dx[((ni * k + ki) * h + i) * wd + j];
                    for ci in 0..c {
                        for a in 0..3 {
                            let p = i + a;
                            if p < 1 || p > h {
                                continue;
                            }
                            for b in 0..3 {
                                let q = j + b;
                                if q < 1 || q > wd {
                                    continue;
                                }
                                let yi = ((ni * c + ci) * h + p - 1) * wd + q - 1;
                                let wi = ((ki * c + ci) * 3 + a) * 3 + b;
                                dy[yi] += g * w[wi];
                                dw[wi] += g * y[yi];
                            }
                        }
                    }
                }
            }
        }
    }
}

fn bench_conv1d(cr: &mut Criterion) {
    let n = 1usize << 20;
    let (y, w) = (data(n, 1), data(7, 2));
    let dx = data(n - 6, 3);
    let sizes = conv1d::Sizes { n };
    let inputs = conv1d::Inputs { y: &y, w: &w };
    let mut values = conv1d::Values::new(&sizes);
    conv1d::forward(&sizes, &inputs, &mut values);
    let mut g = cr.benchmark_group("conv1d n=2^20 k=7 backward");
    g.sample_size(20);
    g.bench_function("generated", |b| {
        let (mut dy, mut dw) = (vec![0.0f32; n], vec![0.0f32; 7]);
        b.iter(|| {
            let seeds = conv1d::Seeds { x: &dx };
            let mut grads = conv1d::Grads {
                y: Some(&mut dy),
                w: Some(&mut dw),
            };
            conv1d::backward(&sizes, &inputs, &values, &seeds, &mut grads);
            black_box(&dy);
        })
    });
    g.bench_function("hand-written", |b| {
        let (mut dy, mut dw) = (vec![0.0f32; n], vec![0.0f32; 7]);
        b.iter(|| {
            conv1d_backward_by_hand(&y, &w, &dx, &mut dy, &mut dw);
            black_box(&dy);
        })
    });
    g.finish();
}

fn bench_conv2d(cr: &mut Criterion) {
    let s = Shape {
        n: 2,
        c: 32,
        k: 32,
        h: 28,
        w: 28,
    };
    let (y, w) = (data(s.n * s.c * s.h * s.w, 1), data(s.k * s.c * 9, 2));
    let dx = data(s.n * s.k * s.h * s.w, 3);
    let sizes = conv2d::Sizes {
        N: s.n,
        C: s.c,
        K: s.k,
        H: s.h,
        W: s.w,
    };
    let inputs = conv2d::Inputs { y: &y, w: &w };
    let mut values = conv2d::Values::new(&sizes);
    conv2d::forward(&sizes, &inputs, &mut values);
    let mut g = cr.benchmark_group("conv2d N=2 C=K=32 28x28 3x3 pad 1 backward");
    g.sample_size(10);
    g.bench_function("generated", |b| {
        let (mut dy, mut dw) = (vec![0.0f32; y.len()], vec![0.0f32; w.len()]);
        b.iter(|| {
            let seeds = conv2d::Seeds { x: &dx };
            let mut grads = conv2d::Grads {
                y: Some(&mut dy),
                w: Some(&mut dw),
            };
            conv2d::backward(&sizes, &inputs, &values, &seeds, &mut grads);
            black_box(&dy);
        })
    });
    g.bench_function("hand-written", |b| {
        let (mut dy, mut dw) = (vec![0.0f32; y.len()], vec![0.0f32; w.len()]);
        b.iter(|| {
            conv2d_backward_by_hand(s, &y, &w, &dx, &mut dy, &mut dw);
            black_box(&dy);
        })
    });
    g.finish();
}

criterion_group!(benches, bench_conv1d, bench_conv2d);
criterion_main!(benches);
