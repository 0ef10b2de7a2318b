#[sharegrad::layer(fast, r"
    input y_j, 0 \le j < L
    x_j = y_j
")]
fn one(y: &[f64], x: &mut [f64], L: usize) {}

#[derive(sharegrad::Layer)]
#[sharegrad(gemm_please, file = "tests/fixtures/conv1d_valid/model.eq")]
struct Two {
    w: Vec<f64>,
}

sharegrad::model! {
    #[sharegrad(fast)]
    mod three = "tests/fixtures/conv1d_valid/model.eq";
}

fn main() {}
