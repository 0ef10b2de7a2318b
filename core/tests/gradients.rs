//! Gradients from the derived adjoint equations against central finite
//! differences in f64: for every example model, and for random models.
//!
//! The finite differences only use forward values, so they check the
//! derivation (the adjoint IR) independently of how it was derived.

use proptest::prelude::*;
use sharegrad_core::eval::{evaluate, Data};
use sharegrad_core::ir::{Program, TensorKind};
use std::collections::BTreeMap;

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

fn dims_len(p: &Program, id: usize, sizes: &BTreeMap<String, i64>) -> usize {
    let look = |a: &sharegrad_core::poly::Atom| match a {
        sharegrad_core::poly::Atom::Size(s) => sizes.get(s).copied(),
        _ => None,
    };
    p.tensors[id]
        .dims
        .iter()
        .map(|r| (r.hi.eval(&look).unwrap() - r.lo.eval(&look).unwrap() + 1).max(0) as usize)
        .product()
}

/// Random leaves and seeds for a model at the given sizes, in (-1, 1), or
/// with `positive` the leaves in (0.25, 1.25) (for `\log` or `\sqrt` of
/// data; seeds keep their sign).
fn random_data(p: &Program, sizes: &BTreeMap<String, i64>, seed: u64, positive: bool) -> Data {
    let mut rng = Rng(seed.wrapping_mul(2654435761).wrapping_add(12345) | 1);
    let mut data = Data {
        sizes: sizes.clone(),
        ..Data::default()
    };
    for (id, t) in p.tensors.iter().enumerate() {
        let n = dims_len(p, id, sizes);
        if t.is_leaf() {
            let leaf = |x: f64| if positive { 0.75 + x / 2.0 } else { x };
            data.tensors
                .insert(t.key.clone(), (0..n).map(|_| leaf(rng.next())).collect());
        } else if p.outputs.contains(&id) && !t.dims.is_empty() {
            data.seeds
                .insert(t.key.clone(), (0..n).map(|_| rng.next()).collect());
        }
    }
    data
}

/// `sum(seed * output)`: the scalar whose gradient `evaluate` returns.
fn objective(p: &Program, g: &sharegrad_core::ir::Gradient, data: &Data) -> f64 {
    let r = evaluate(p, g, data).expect("evaluates");
    let mut total = 0.0;
    for &o in &p.outputs {
        let key = &p.tensors[o].key;
        let vals = &r.values[key];
        match data.seeds.get(key) {
            Some(s) => total += vals.iter().zip(s).map(|(v, s)| v * s).sum::<f64>(),
            None => total += vals.iter().sum::<f64>(),
        }
    }
    total
}

/// Checks every gradient element (up to `cap` per tensor) against central
/// differences; returns the worst mismatch description, if any.
fn check_model(
    src: &str,
    sizes: &BTreeMap<String, i64>,
    seed: u64,
    cap: usize,
) -> Result<(), String> {
    let m = sharegrad_core::compile(src).map_err(|d| format!("does not compile: {d:?}"))?;
    let (p, g) = (&m.program, &m.gradient);
    // `% test-data: positive` in a model: leaves in (0.25, 1.25).
    let data = random_data(p, sizes, seed, src.contains("% test-data: positive"));
    let grads = evaluate(p, g, &data).map_err(|e| e.to_string())?.grads;
    let h = 1e-6;
    for (id, t) in p.tensors.iter().enumerate() {
        if !matches!(t.kind, TensorKind::Leaf(_)) || !t.wants_gradient() {
            continue;
        }
        let n = dims_len(p, id, sizes);
        let step = (n / cap).max(1);
        for k in (0..n).step_by(step) {
            let mut plus = data.clone();
            plus.tensors.get_mut(&t.key).unwrap()[k] += h;
            let mut minus = data.clone();
            minus.tensors.get_mut(&t.key).unwrap()[k] -= h;
            let fd = (objective(p, g, &plus) - objective(p, g, &minus)) / (2.0 * h);
            let got = grads[&t.key][k];
            let tol = 1e-6 * (1.0 + fd.abs().max(got.abs()));
            if (fd - got).abs() > tol {
                return Err(format!(
                    "d/d{}[{k}]: adjoint {got} vs finite difference {fd}\n{src}",
                    t.key
                ));
            }
        }
    }
    Ok(())
}

/// The sizes an example is tested at, from its `% test-sizes: n=7, K=3` line
/// (`% test-sizes: none` for a model without sizes).
fn test_sizes(src: &str) -> BTreeMap<String, i64> {
    let line = src
        .lines()
        .find(|l| l.contains("test-sizes:"))
        .expect("example has a test-sizes line");
    let list = line.split("test-sizes:").nth(1).unwrap().trim();
    if list == "none" {
        return BTreeMap::new();
    }
    list.split(',')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.trim().to_string(), v.trim().parse().unwrap())
        })
        .collect()
}

/// Every `.eq` file of `dir` (relative to the workspace root) that names
/// its test sizes (all of them when `every`), at three data seeds; returns
/// how many were checked.
fn check_dir(dir: &str, every: bool) -> usize {
    let dir = format!("{}/../{dir}", env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.extension().is_none_or(|e| e != "eq") {
            continue;
        }
        let src = std::fs::read_to_string(&path).unwrap();
        let sizes = if path.file_name().unwrap() == "seed.eq" {
            [("n".to_string(), 7)].into_iter().collect()
        } else if every || src.contains("test-sizes:") {
            test_sizes(&src)
        } else {
            continue;
        };
        for seed in 0..3 {
            if let Err(e) = check_model(&src, &sizes, seed, 40) {
                panic!("{}: {e}", path.display());
            }
        }
        checked += 1;
    }
    checked
}

#[test]
fn every_example_matches_finite_differences() {
    let checked = check_dir("examples", true);
    assert!(checked >= 10, "only {checked} examples found");
}

/// The loop-layout models that name their test sizes (a tensor read both
/// inside a maximum and elsewhere, literal extents, tensors starting below
/// zero).
#[test]
fn layout_models_match_finite_differences() {
    let checked = check_dir("tests/layouts", false);
    assert!(
        checked >= 3,
        "only {checked} layout models name their test sizes"
    );
}

/// The knobs of a random 1-D model.
#[derive(Debug, Clone, Copy)]
struct Knobs {
    stride: i64,
    dil: i64,
    off: i64,
    k: i64,
    act: usize,
    padded: bool,
    two: bool,
    bias: bool,
}

/// A random 1-D model: affine offsets, strides, dilations, optional zero
/// padding, an activation, optionally a second layer sharing the kernel.
fn random_model(kn: Knobs) -> (String, BTreeMap<String, i64>) {
    let Knobs {
        stride,
        dil,
        off,
        k,
        act,
        padded,
        two,
        bias,
    } = kn;
    let acts = [
        "",
        "\\tanh",
        "\\sigma",
        "\\operatorname{relu}",
        "\\operatorname{softplus}",
        "\\exp",
    ];
    let l = stride * 5 + dil * (k - 1) + off.abs() + 4;
    let m = 4;
    let mut src = format!("input y_j, 0 \\le j < L\nparam w_a, 0 \\le a < {k}\n");
    if bias {
        src.push_str("param \\beta\n");
    }
    let idx = format!(
        "{stride} i + {dil} a {} {}",
        if off < 0 { "-" } else { "+" },
        off.abs()
    );
    let mut rhs = format!("\\sum_{{a}} w_a y_{{{idx}}}");
    if bias {
        rhs.push_str(" + \\beta");
    }
    let body = match act {
        0 => rhs,
        5 => format!("\\exp\\left(\\frac{{1}}{{4}} \\left({rhs}\\right)\\right)"),
        a => format!("{}\\left({rhs}\\right)", acts[a]),
    };
    src.push_str(&format!("x_i = {body}"));
    if padded {
        src.push_str(", 0 \\le i < M");
    }
    src.push('\n');
    if two {
        // The same kernel again, on the first layer's output.
        src.push_str("z_i = \\sum_{a} w_a x_{i+a} x_{i}\n");
    }
    let sizes = [("L".to_string(), l), ("M".to_string(), m)]
        .into_iter()
        .collect();
    (src, sizes)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn random_models_match_finite_differences(
        stride in 1i64..4, dil in 1i64..3, off in -3i64..4, k in 1i64..5, act in 0usize..6,
        padded: bool, two: bool, bias: bool, seed in 0u64..1000,
    ) {
        let (src, sizes) = random_model(Knobs { stride, dil, off, k, act, padded, two, bias });
        // Without written bounds the range is inferred; M only matters when padded.
        prop_assert!(check_model(&src, &sizes, seed, 30).is_ok(), "{}", check_model(&src, &sizes, seed, 30).unwrap_err());
    }
}

/// A 2-D random model: channels, a strided 2-D kernel, zero padding or not.
#[test]
fn random_2d_models_match_finite_differences() {
    for (n, (sh, sw, pad)) in [(1, 1, 1), (2, 1, 0), (1, 2, 1), (2, 2, 0), (2, 2, 1)]
        .into_iter()
        .enumerate()
    {
        let src = if pad == 1 {
            format!(
                "input y_{{c,p,q}}, 0 \\le c < C, 0 \\le p < H, 0 \\le q < W\nparam w_{{k,c,a,b}}, 0 \\le k < K, 0 \\le c < C, 0 \\le a < 3, 0 \\le b < 2\n\
                 x_{{k,i,j}} = \\tanh(\\sum_{{c,a,b}} w_{{k,c,a,b}} y_{{c,{sh}i+a-1,{sw}j+b}}), 0 \\le k < K, 0 \\le i < 3, 0 \\le j < 3\n"
            )
        } else {
            format!(
                "input y_{{c,p,q}}, 0 \\le c < C, 0 \\le p < H, 0 \\le q < W\nparam w_{{k,c,a,b}}, 0 \\le k < K, 0 \\le c < C, 0 \\le a < 3, 0 \\le b < 2\n\
                 x_{{k,i,j}} = \\sum_{{c,a,b}} w_{{k,c,a,b}} y_{{c,{sh}i+a,{sw}j+b}}\n"
            )
        };
        let sizes = [("C", 2), ("K", 2), ("H", 7), ("W", 6)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        check_model(&src, &sizes, n as u64, 50).unwrap();
    }
}

/// `\sqrt[3]{x}` is the cube root `x^{1/3}`, not `\sqrt{3} x`: its value and
/// its derivative `1/3 x^{-2/3}`.
#[test]
fn nth_root_is_a_power() {
    let src = "input y_i, 0 \\le i < n\nx_i = \\sqrt[3]{y_i}\n";
    let m = sharegrad_core::compile(src).expect("compiles");
    let data = Data {
        sizes: [("n".to_string(), 2)].into_iter().collect(),
        tensors: [("y".to_string(), vec![8.0, 27.0])].into_iter().collect(),
        seeds: [("x".to_string(), vec![1.0, 1.0])].into_iter().collect(),
        ..Data::default()
    };
    let r = evaluate(&m.program, &m.gradient, &data).expect("evaluates");
    let (x, g) = (&r.values["x"], &r.grads["y"]);
    assert!(
        (x[0] - 2.0).abs() < 1e-12 && (x[1] - 3.0).abs() < 1e-12,
        "{x:?}"
    );
    assert!((g[0] - 1.0 / 12.0).abs() < 1e-12, "{g:?}");
    assert!((g[1] - 1.0 / 27.0).abs() < 1e-12, "{g:?}");
    let sizes = [("n".to_string(), 5)].into_iter().collect();
    let chain =
        "input y_i, 0 \\le i < n\nx_i = \\sqrt[4]{2 + y_i} \\sqrt[3]{3 + y_i}\nE = \\sum_i x_i^2\n";
    for seed in 0..3 {
        check_model(chain, &sizes, seed, 40).unwrap();
    }
}
