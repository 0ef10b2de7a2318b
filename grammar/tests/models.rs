//! The reference models and the seed's equations, as exact shapes.

mod common;

use common::*;

fn model(name: &str) -> Vec<String> {
    let path = format!("{}/tests/data/{name}.eq", env!("CARGO_MANIFEST_DIR"));
    ok(&std::fs::read_to_string(path).unwrap())
}

#[test]
fn blog_two_layers() {
    assert_eq!(
        model("blog_two_layers"),
        [
            "input y^0[i], 0<=i<n",
            "param w[a], 0<=a<=3",
            "h(z) := (tanh z)",
            "x^1[i] := (* w[0] y^0[i])",
            "y^1[i] := (h! x^1[i])",
            "x^2[i] := (sum{1<=a<=3} (* w[a] y^1[(i + a - 1)]))",
            "y^2[i] := (h! x^2[i])",
            "output y^2",
        ]
    );
}

#[test]
fn conv1d_valid() {
    assert_eq!(
        model("conv1d_valid"),
        [
            "input y[j], 0<=j<L",
            "param w[a], 0<=a<3",
            "x[i] := (sum{a} (* w[a] y[(i + a)]))",
        ]
    );
}

#[test]
fn conv2d_same_bias() {
    assert_eq!(
        model("conv2d_same_bias"),
        [
            "input y[n,c,p,q], 0<=n<N, 0<=c<C, 0<=p<H, 0<=q<W",
            "param w[k,c,a,b], 0<=k<K, 0<=c<C, 0<=a<3, 0<=b<3",
            "param \\beta[k], 0<=k<K",
            "x[n,k,i,j] := ((sum{c,a,b} (* w[k,c,a,b] y[n,c,(i + a - 1),(j + b - 1)])) + \\beta[k]), \
             0<=n<N, 0<=k<K, 0<=i<H, 0<=j<W",
        ]
    );
}

#[test]
fn dense_sigmoid_mse() {
    assert_eq!(
        model("dense_sigmoid_mse"),
        [
            "input x[j], 0<=j<D",
            "param W[k,j], 0<=k<K, 0<=j<D",
            "param c[k], 0<=k<K",
            "const t[k], 0<=k<K",
            "z[k] := ((sum{j} (* W[k,j] x[j])) + c[k])",
            "p[k] := (sigma z[k])",
            "E := (* (/ 1 2) (sum{k} (^ (p[k] - t[k]) 2)))",
            "output E",
        ]
    );
}

#[test]
fn maxpool1d_stride2() {
    assert_eq!(
        model("maxpool1d_stride2"),
        [
            "input x[c,j], 0<=c<C, 0<=j<L",
            "y[c,i] := (max{0<=a<=1} x[c,((* 2 i) + a)])",
        ]
    );
}

/// Every `\( \)` and `\[ \]` chunk of the seed, with its offset.
fn seed_math() -> Vec<String> {
    let path = format!(
        "{}/tests/data/backprop-shared-weights.md",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    let mut rest = text.as_str();
    loop {
        let open = [("\\(", "\\)"), ("\\[", "\\]")]
            .iter()
            .filter_map(|(o, c)| rest.find(o).map(|i| (i, *o, *c)))
            .min();
        let Some((i, _, close)) = open else { break };
        let after = &rest[i + 2..];
        let j = after.find(close).unwrap();
        out.push(rest[i..i + 2 + j + 2].to_owned());
        rest = &after[j + 2..];
    }
    out
}

#[test]
fn seed_equations_parse() {
    let math = seed_math();
    let defining: Vec<&String> = math
        .iter()
        .filter(|m| m.contains('=') && !m.contains("partial"))
        .collect();
    let items: Vec<String> = defining.iter().flat_map(|m| ok(m)).collect();
    assert_eq!(
        items,
        [
            "x^1[i] := (* w[0] y^0[i])",
            "y^1[i] := (h! x^1[i])",
            "x^2[i] := (sum{1<=a<=3} (* w[a] y^1[(i + a - 1)])) \
             = ((* w[1] y^1[i]) + (* w[2] y^1[(i + 1)]) + (* w[3] y^1[(i + 2)])) \
             = ((* w[1] (h! (* w[0] y^0[i]))) + (* w[2] (h! (* w[0] y^0[(i + 1)]))) \
             + (* w[3] (h! (* w[0] y^0[(i + 2)]))))",
            "y^2[i] := (h! x^2[i])",
        ]
    );
}

#[test]
fn seed_derivative_notation_is_reported_not_parsed() {
    for m in seed_math().iter().filter(|m| m.contains("partial")) {
        let e = errs(m);
        assert!(!e.is_empty(), "{m}");
        assert!(
            e.iter()
                .all(|(text, msg)| text == "\\partial" && msg == "unknown command `\\partial`"),
            "{m}: {e:?}"
        );
    }
}

#[test]
fn seed_example_file_from_the_language_page() {
    let src = "% Two convolutional layers. One weight tensor w: w_0 is the first layer's\n\
               % kernel [w_0, 0, 0], w_1..w_3 the second layer's kernel.\n\
               input  y^0_i,  0 \\le i < n\n\
               param  w_a,    0 \\le a \\le 3\n\
               h(z) = \\tanh(z)                      % optional\n\
               x^1_i = w_0 y^0_i\n\
               y^1_i = h(x^1_i)\n\
               x^2_i = \\sum_{a=1}^{3} w_a y^1_{i+a-1}\n\
               y^2_i = h(x^2_i)\n\
               output y^2\n";
    assert_eq!(ok(src).len(), 8);
}
