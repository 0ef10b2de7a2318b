#[sharegrad::layer(gemm r"
    input y_j, 0 \le j < L
    x_j = y_j
")]
fn one(y: &[f64], x: &mut [f64], L: usize) {}

#[derive(sharegrad::Layer)]
#[sharegrad(gemm)]
struct Two {
    w: Vec<f64>,
}

fn main() {}
