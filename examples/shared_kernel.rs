//! One kernel `w` shared by two convolution layers (`examples/shared_kernel.eq`).
//! The gradient of a shared weight is the sum of what each use passes back
//! (the seed's rule): `∂E/∂w` from the shared model equals `∂E/∂w^1 + ∂E/∂w^2`
//! from the same network with a kernel per layer holding the same numbers,
//! and both agree with central finite differences.
//!
//! The loss is `E = 1/2 Σ_i v_i^2`, so the seed of the output `v` is `v`.
//!
//! Run with `cargo run --example shared_kernel`.

sharegrad::model! {
    /// Two layers, one kernel.
    mod shared = "examples/shared_kernel.eq";
    /// The same network with a kernel per layer.
    mod split {
        r"
        input y_i, 0 \le i < n
        param w^1_a, 0 \le a < 3
        param w^2_a, 0 \le a < 3
        u_i = \tanh\left(\sum_{a} w^1_a y_{i+a}\right)
        v_i = \sum_{a} w^2_a u_{i+a}
        output v
        "
    }
}

/// `E = 1/2 Σ v^2` for kernel `w`, through the shared model's forward pass.
fn loss(sizes: &shared::Sizes, y: &[f64], w: &[f64]) -> f64 {
    let mut values = shared::Values::new(sizes);
    shared::forward(sizes, &shared::Inputs { y, w }, &mut values);
    0.5 * values.v.iter().map(|v| v * v).sum::<f64>()
}

fn main() {
    let y = [0.5, -1.0, 0.25, 2.0, -0.75, 1.5, 0.1, -0.4, 0.9];
    let w = [0.7, -0.2, 0.4];

    // Shared: one gradient buffer, fed by both layers.
    let sizes = shared::Sizes { n: y.len() };
    let inputs = shared::Inputs { y: &y, w: &w };
    let mut values = shared::Values::new(&sizes);
    shared::forward(&sizes, &inputs, &mut values);
    let mut grad_w = [0.0; 3];
    let seeds = shared::Seeds { v: &values.v };
    let mut grads = shared::Grads {
        y: None,
        w: Some(&mut grad_w),
    };
    shared::backward(&sizes, &inputs, &values, &seeds, &mut grads);

    // Split: one buffer per layer.
    let sizes2 = split::Sizes { n: y.len() };
    let inputs2 = split::Inputs {
        y: &y,
        w1: &w,
        w2: &w,
    };
    let mut values2 = split::Values::new(&sizes2);
    split::forward(&sizes2, &inputs2, &mut values2);
    let (mut g1, mut g2) = ([0.0; 3], [0.0; 3]);
    let mut grads2 = split::Grads {
        y: None,
        w1: Some(&mut g1),
        w2: Some(&mut g2),
    };
    let seeds2 = split::Seeds { v: &values2.v };
    split::backward(&sizes2, &inputs2, &values2, &seeds2, &mut grads2);

    println!("E = {:.12}", loss(&sizes, &y, &w));
    println!(" a   dE/dw^1_a     dE/dw^2_a     sum           dE/dw_a shared  finite diff.");
    let eps = 1e-6;
    let mut worst: f64 = 0.0;
    for a in 0..3 {
        let (mut up, mut down) = (w, w);
        up[a] += eps;
        down[a] -= eps;
        let fd = (loss(&sizes, &y, &up) - loss(&sizes, &y, &down)) / (2.0 * eps);
        let sum = g1[a] + g2[a];
        println!(
            " {a}  {:+.6e}  {:+.6e}  {sum:+.6e}  {:+.6e}   {fd:+.6e}",
            g1[a], g2[a], grad_w[a]
        );
        assert!(
            (sum - grad_w[a]).abs() <= 1e-12 * sum.abs().max(1.0),
            "shared != sum of uses"
        );
        worst = worst.max((fd - grad_w[a]).abs() / fd.abs().max(1.0));
    }
    println!("largest relative difference to finite differences: {worst:.1e}");
    assert!(worst < 1e-6, "gradient disagrees with finite differences");
}
