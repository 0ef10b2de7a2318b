//! Inferred ranges against the language's definition, by brute force: an
//! index takes exactly the values for which every read is inside its
//! tensor for every value of the reduction indices.

use sharegrad_core::poly::Atom;

/// `y_i = \max_{0 \le a < 3} x_{<index>}` with `x` of length `L`: the
/// values of `i` the definition gives at this `L`, found by trying every
/// `i` in a wide interval, and the inferred range evaluated there.
fn brute_and_inferred(
    index: &dyn Fn(i64, i64, i64) -> i64,
    src: &str,
    l: i64,
) -> (Vec<i64>, Vec<i64>) {
    let brute: Vec<i64> = (-40..40)
        .filter(|&i| (0..3).all(|a| (0..l).contains(&index(i, a, l))))
        .collect();
    let m = sharegrad_core::compile(src).unwrap_or_else(|d| panic!("{src}: {d:?}"));
    let y = m
        .program
        .tensors
        .iter()
        .find(|t| t.key == "y")
        .expect("y is defined");
    let look = |a: &Atom| match a {
        Atom::Size(s) if s == "L" => Some(l),
        _ => None,
    };
    let (lo, hi) = (
        y.dims[0].lo.eval(&look).unwrap(),
        y.dims[0].hi.eval(&look).unwrap(),
    );
    (brute, (lo..=hi).collect())
}

#[test]
fn inferred_ranges_keep_every_read_inside() {
    type Index = fn(i64, i64, i64) -> i64;
    let cases: [(&str, Index); 6] = [
        ("2i+a", |i, a, _| 2 * i + a),
        ("L-1-2i-a", |i, a, l| l - 1 - 2 * i - a),
        ("L-1-i-2a", |i, a, l| l - 1 - i - 2 * a),
        ("3i-a+2", |i, a, _| 3 * i - a + 2),
        ("L-3i+a-3", |i, a, l| l - 3 * i + a - 3),
        ("i+a-1", |i, a, _| i + a - 1),
    ];
    for (text, index) in cases {
        let src = format!(
            "input x_p, 0 \\le p < L\ny_i = \\max_{{0 \\le a < 3}} x_{{{text}}}\noutput y\n"
        );
        for l in 3..12 {
            let (brute, inferred) = brute_and_inferred(&index, &src, l);
            assert_eq!(inferred, brute, "x_{{{text}}} at L = {l}");
        }
    }
}
