sharegrad::model! {
    pub mod dense {
        "input x_j, 0 \\le j < D
param W_{k,j}, 0 \\le k < K, 0 \\le j < D
z_k = \\sum_j W_{k,j} x_j + b_k"
    }
}

fn main() {}
