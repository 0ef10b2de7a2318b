#[sharegrad::layer(equations = "x = 1")]
fn one(x: &mut [f64]) {}

#[derive(sharegrad::Layer)]
#[sharegrad = "x = 1"]
struct Two {}

#[derive(sharegrad::Layer)]
struct Three {}

fn main() {}
