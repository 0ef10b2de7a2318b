sharegrad::model! {
    pub mod seed = "examples/no_such_model.eq";
}

fn main() {}
