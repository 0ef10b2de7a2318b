#[derive(sharegrad::Layer)]
#[sharegrad(r"
    input y_{c,j}, 0 \le c < C, 0 \le j < L
    param w_{c,a}, 0 \le c < C, 0 \le a < 3
    param \beta
    x_i = \sum_{c,a} w_{c,a} y_{c,i+a} + \beta
")]
struct Conv {
    w: Vec<f32>,
}

fn main() {}
