//! `eval` on a strided (2), dilated (2), zero-padded (2) conv1d with bias,
//! at length n and 4n in one run: the derived gather costs linear time, so
//! the ratio is about 4 (a masked scatter would show about 16).
//! `bench/eval_scaling.sh` prints the ratio from criterion's estimates.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use sharegrad_core::eval::{evaluate, Data};

const MODEL: &str = include_str!("../../examples/conv1d_strided.eq");

fn data(l: i64) -> Data {
    let (k, s, d, p) = (3i64, 2i64, 2i64, 2i64);
    let m = (l + 2 * p - d * (k - 1) - 1) / s + 1;
    let wave = |n: i64, f: f64| (0..n).map(|i| (i as f64 * f).sin()).collect::<Vec<f64>>();
    let mut data = Data::default();
    for (name, v) in [("L", l), ("K", k), ("s", s), ("d", d), ("p", p)] {
        data.sizes.insert(name.into(), v);
    }
    data.tensors.insert("y".into(), wave(l, 0.37));
    data.tensors.insert("w".into(), vec![0.5, -1.0, 0.25]);
    data.tensors.insert("b".into(), vec![0.1]);
    data.seeds.insert("x".into(), wave(m, 0.11));
    data
}

fn scaling(c: &mut Criterion) {
    let model = sharegrad_core::compile(MODEL).expect("example compiles");
    let mut group = c.benchmark_group("eval_conv1d_strided");
    group.sample_size(10);
    for l in [1i64 << 16, 1 << 18] {
        let d = data(l);
        group.bench_with_input(BenchmarkId::from_parameter(l), &d, |b, d| {
            b.iter(|| evaluate(&model.program, &model.gradient, d).expect("evaluates"))
        });
    }
    group.finish();
    // The yardstick: a million-element conv1d, forward + backward.
    let mut one = c.benchmark_group("eval_conv1d_million");
    one.sample_size(10);
    let d = data(1 << 20);
    one.bench_function("1048576", |b| {
        b.iter(|| evaluate(&model.program, &model.gradient, &d).expect("evaluates"))
    });
    one.finish();
}

criterion_group!(benches, scaling);
criterion_main!(benches);
