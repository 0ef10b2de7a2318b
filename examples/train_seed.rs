//! The seed's two-layer network (`examples/seed.eq`), trained by gradient
//! descent with the backward function `#[sharegrad::layer]` generates.
//!
//! A teacher network with known weights labels random input sequences; the
//! student starts from other weights and learns the teacher's by minimising
//! the squared error `E = 1/2 Σ_i (y^2_i - t_i)^2`. The seed of the backward
//! pass is `∂E/∂y^2 = y^2 - t`, and `w`'s gradient sums over both layers that
//! share it.
//!
//! Run with `cargo run --example train_seed`.

/// Forward pass of the seed's network; generated from `examples/seed.eq`.
#[sharegrad::layer(file = "examples/seed.eq")]
fn seed(y0: &[f64], w: &[f64], y2: &mut [f64], n: usize) {}

/// xorshift64*: a tiny deterministic generator, enough for synthetic data.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [-1, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

fn main() {
    const N: usize = 8; // sequence length `n`
    const BATCH: usize = 32;
    let out_len = N - 2; // `x^2_i` reads `y^1_{i+2}`: a valid range of n - 2

    let mut rng = Rng(0x5eed_5eed_5eed_5eed);
    let teacher = [0.9, -0.6, 0.8, 0.4];
    let batch: Vec<(Vec<f64>, Vec<f64>)> = (0..BATCH)
        .map(|_| {
            let y0: Vec<f64> = (0..N).map(|_| rng.uniform() * 1.5).collect();
            let mut t = vec![0.0; out_len];
            seed(&y0, &teacher, &mut t, N);
            (y0, t)
        })
        .collect();

    let mut w = [0.3, 0.2, -0.1, 0.1];
    let rate = 0.5;
    let mut y2 = vec![0.0; out_len];
    let mut first = None;
    println!("step   loss          w");
    for step in 0..=400 {
        let mut grad_w = [0.0; 4];
        let mut loss = 0.0;
        for (y0, t) in &batch {
            seed(y0, &w, &mut y2, N);
            let residual: Vec<f64> = y2.iter().zip(t).map(|(a, b)| a - b).collect();
            loss += 0.5 * residual.iter().map(|r| r * r).sum::<f64>() / BATCH as f64;
            // Gradients accumulate over the batch: one buffer for all calls.
            seed_backward(y0, &w, &residual, None, Some(&mut grad_w), N);
        }
        if [0, 1, 2, 5, 10, 20, 50, 100, 200, 400].contains(&step) {
            println!(
                "{step:>4}   {loss:.6e}  [{:+.4}, {:+.4}, {:+.4}, {:+.4}]",
                w[0], w[1], w[2], w[3]
            );
        }
        let first_loss = *first.get_or_insert(loss);
        if step == 400 {
            println!("loss fell from {first_loss:.3e} to {loss:.3e}; teacher w = {teacher:?}");
            assert!(loss < first_loss / 100.0, "training did not converge");
        }
        for (wi, gi) in w.iter_mut().zip(grad_w) {
            *wi -= rate * gi / BATCH as f64;
        }
    }
}
