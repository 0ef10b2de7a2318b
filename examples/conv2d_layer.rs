//! A conv2d layer (NCHW, 3x3 kernel, zero padding 1, with bias) as a struct
//! whose fields are its params, through `#[derive(sharegrad::Layer)]`, in
//! `f32`. One forward and backward pass, gradients checked against finite
//! differences, and a few steps of gradient descent towards a target output.
//!
//! Run with `cargo run --example conv2d_layer`.

#[derive(sharegrad::Layer)]
#[sharegrad(r"
    input y_{n,c,p,q}, 0 \le n < N, 0 \le c < C, 0 \le p < H, 0 \le q < W
    param w_{k,c,a,b}, 0 \le k < K, 0 \le c < C, 0 \le a < 3, 0 \le b < 3
    param \beta_k, 0 \le k < K
    x_{n,k,i,j} = \sum_{c,a,b} w_{k,c,a,b} y_{n,c,i+a-1,j+b-1} + \beta_k, 0 \le n < N, 0 \le k < K, 0 \le i < H, 0 \le j < W
")]
struct Conv2d {
    w: Vec<f32>,
    beta: Vec<f32>,
}

/// A deterministic pattern in [-1, 1].
fn pattern(len: usize, phase: f32) -> Vec<f32> {
    (0..len).map(|i| ((i as f32) * 0.7 + phase).sin()).collect()
}

/// `1/2 Σ (x - target)^2` and its seed `x - target`.
fn loss(x: &[f32], target: &[f32]) -> (f32, Vec<f32>) {
    let seed: Vec<f32> = x.iter().zip(target).map(|(a, b)| a - b).collect();
    (0.5 * seed.iter().map(|r| r * r).sum::<f32>(), seed)
}

fn main() {
    let sizes = Conv2dSizes {
        N: 2,
        C: 3,
        K: 4,
        H: 6,
        W: 5,
    };
    let y = pattern(sizes.N * sizes.C * sizes.H * sizes.W, 0.0);
    let inputs = Conv2dInputs { y: &y };
    let mut layer = Conv2d {
        w: pattern(sizes.K * sizes.C * 9, 1.0)
            .iter()
            .map(|v| v * 0.3)
            .collect(),
        beta: vec![0.1, -0.1, 0.2, 0.0],
    };
    let target = pattern(sizes.N * sizes.K * sizes.H * sizes.W, 2.0);

    let values = layer.forward(&sizes, &inputs);
    let (e, seed) = loss(&values.x, &target);
    let mut grads = layer.zero_grads();
    let mut grad_y = vec![0.0f32; y.len()];
    layer.backward(
        &sizes,
        &inputs,
        &values,
        &Conv2dSeeds { x: &seed },
        &mut grads,
        Conv2dInputGrads {
            y: Some(&mut grad_y),
        },
    );
    println!("x: {} values, E = {e:.5}", values.x.len());

    // Finite differences on a few weights (in f64 arithmetic on the loss).
    println!("  w index   backward      finite diff.");
    for &i in &[0usize, 13, 57, 100] {
        let h = 1e-2f32;
        let mut probe = Conv2d {
            w: layer.w.clone(),
            beta: layer.beta.clone(),
        };
        probe.w[i] += h;
        let up = loss(&probe.forward(&sizes, &inputs).x, &target).0;
        probe.w[i] -= 2.0 * h;
        let down = loss(&probe.forward(&sizes, &inputs).x, &target).0;
        let fd = (up - down) / (2.0 * h);
        println!("  {i:>7}   {:+.5e}  {fd:+.5e}", grads.w[i]);
        assert!(
            (fd - grads.w[i]).abs() <= 2e-2 * fd.abs().max(1.0),
            "w[{i}] disagrees"
        );
    }

    // Gradient descent: the gradients struct is reused and zeroed each step.
    let mut values = values;
    for step in 0..=60 {
        layer.forward_into(&sizes, &inputs, &mut values);
        let (e, seed) = loss(&values.x, &target);
        if step % 10 == 0 {
            println!("step {step:>3}: E = {e:.5}");
        }
        grads.fill_zero();
        layer.backward(
            &sizes,
            &inputs,
            &values,
            &Conv2dSeeds { x: &seed },
            &mut grads,
            Conv2dInputGrads::default(),
        );
        for (w, g) in layer.w.iter_mut().zip(&grads.w) {
            *w -= 0.002 * g;
        }
        for (b, g) in layer.beta.iter_mut().zip(&grads.beta) {
            *b -= 0.002 * g;
        }
    }
    let first_line = Conv2d::DERIVATION
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    println!(
        "Conv2d::DERIVATION ({} bytes) begins: {first_line}",
        Conv2d::DERIVATION.len()
    );
}
