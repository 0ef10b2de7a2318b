#[sharegrad::layer(r"
    input y_j, 0 \le j < L
    param w_a, 0 \le a < 3
    x_i = \sum_a w_a y_{i+a}
")]
fn conv1d(y: &[f64], x: &mut [f64], L: usize) {}

fn main() {}
