#[derive(sharegrad::Layer)]
#[sharegrad(r"
    input y_{c,j}, 0 \le c < C, 0 \le j < L
    param w_{c,a}, 0 \le c < C, 0 \le a < 3
    param \beta_c, 0 \le c < C
    x_i = \sum_{c,a} w_{c,a} y_{c,i+a} + \sum_c \beta_c
")]
struct Conv {
    w: Vec<f32>,
    beta: Vec<f64>,
}

fn main() {}
