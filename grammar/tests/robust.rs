//! `parse` returns, without panic or stack overflow, for any input.

use proptest::prelude::*;
use sharegrad_grammar::parse;

/// Sizes for inputs that parse successfully: pest's generated code is
/// slow without optimisation, so debug test runs use a fiftieth.
const BIG_OK: usize = if cfg!(debug_assertions) {
    2_000
} else {
    100_000
};
const BIG: usize = 100_000;

fn returns(src: &str) -> (usize, usize) {
    let (file, errors) = parse(src);
    for e in &errors {
        assert!(e.span.start <= e.span.end && e.span.end <= src.len());
        assert!(src.is_char_boundary(e.span.start) && src.is_char_boundary(e.span.end));
    }
    (file.items.len(), errors.len())
}

fn too_deep(src: &str) {
    let (file, errors) = parse(src);
    assert!(file.items.is_empty());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0]
            .message
            .starts_with("expression nested too deeply"),
        "{}",
        errors[0].message
    );
}

#[test]
fn deep_parentheses() {
    too_deep(&format!("x = {}a{}", "(".repeat(BIG), ")".repeat(BIG)));
    let (_, e) = parse(&format!("x = {}a", "(".repeat(BIG)));
    assert_eq!(e.len(), 1);
    assert_eq!(
        (e[0].span.start, e[0].message.as_str()),
        (4 + BIG - 1, "unclosed `(`")
    );
    too_deep(&format!("x = {}a{}", "\\exp(".repeat(BIG), ")".repeat(BIG)));
    too_deep(&format!(
        "x = y_{{{}i{}}}",
        "\\lfloor ".repeat(BIG),
        "/2\\rfloor".repeat(BIG)
    ));
    too_deep(&format!(
        "x = {}a{}",
        "\\frac{".repeat(BIG),
        "}{2}".repeat(BIG)
    ));
    let err = parse(&format!("x = {}a{}", "(".repeat(300), ")".repeat(300))).1;
    // The error points at the first bracket beyond the limit.
    assert_eq!(err[0].span.start, 4 + sharegrad_grammar::MAX_NESTING);
}

#[test]
fn nesting_up_to_the_limit_parses() {
    let n = sharegrad_grammar::MAX_NESTING;
    for (open, close) in [
        ("(", ")"),
        ("h(", ")"),
        ("\\exp(", ")"),
        ("\\sqrt{", "}"),
        ("2^{", "}"),
    ] {
        let src = format!("x = {}a{}", open.repeat(n), close.repeat(n));
        assert_eq!(returns(&src), (1, 0), "{open}");
    }
}

#[test]
fn nested_errors_do_not_backtrack_exponentially() {
    let n = sharegrad_grammar::MAX_NESTING;
    for open in [
        "h(",
        "\\sigma(",
        "\\exp(",
        "\\log(",
        "\\max(a,",
        "h\\left(",
        "\\sqrt{",
        "\\frac{",
        "{",
        "\\exp^{",
        "\\sum_a (",
    ] {
        let close = if open.ends_with('{') { "}" } else { ")" };
        let close = if open == "h\\left(" {
            "\\right)"
        } else {
            close
        };
        let src = format!("x = {}a +{}", open.repeat(n), close.repeat(n));
        let t = std::time::Instant::now();
        assert_eq!(returns(&src).1, 1, "{open}");
        assert!(t.elapsed().as_secs() < 2, "{open}: {:?}", t.elapsed());
    }
}

#[test]
fn long_unary_minus_chains() {
    too_deep(&format!("x = {}a", "-".repeat(BIG)));
}

#[test]
fn long_index_minus_chains() {
    too_deep(&format!("x = y_{{{}i}}", "-".repeat(BIG)));
}

#[test]
fn long_reduction_and_division_chains() {
    too_deep(&format!("x = {}a", "\\sum_a ".repeat(BIG / 10)));
    too_deep(&format!("x = a{}", "/b".repeat(BIG / 10)));
}

#[test]
fn long_chains() {
    assert_eq!(
        returns(&format!("x = a{}", " + b_i".repeat(BIG_OK))),
        (1, 0)
    );
    assert_eq!(returns(&format!("x = a{}", " w_i".repeat(BIG_OK))), (1, 0));
    assert_eq!(
        returns(&format!("x = y_{{i{}}}", "+a".repeat(BIG_OK))),
        (1, 0)
    );
    assert_eq!(
        returns(&"x_i = a_i\n".repeat(BIG_OK / 10)),
        (BIG_OK / 10, 0)
    );
    // Bare function arguments do not chain: `\log \log x` is an error.
    assert_eq!(returns(&format!("x = {}a", "\\log ".repeat(BIG / 10))).0, 0);
}

#[test]
fn garbage() {
    let junk = "(]{)\\x$&%^_~\u{e9}\u{2211}\\;;\n".repeat(BIG / 10);
    returns(&junk);
    let mut lcg = 12345u64;
    let alphabet: Vec<char> = "ab xy_^{}()[]\\=+-*/,;%$&~0.5\n\u{e9}\u{1F600}"
        .chars()
        .collect();
    let s: String = (0..1_000_000)
        .map(|_| {
            lcg = lcg
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            alphabet[(lcg >> 33) as usize % alphabet.len()]
        })
        .collect();
    returns(&s);
    for s in [
        "\\",
        "x = \\",
        "\\\\",
        "{",
        "}",
        "$",
        "$$",
        "\\(",
        "\\begin",
        "\\begin{",
        "\\end{aligned}",
        "\u{0}",
        "x = y_{",
        "% only",
        ";;;",
        "\r\n",
        "x = a^{",
        "\\operatorname{",
        "x = \\left",
    ] {
        returns(s);
    }
}

const VALID: &[&str] = &[
    "input  y^0_i,  0 \\le i < n",
    "param w_{k,c,a,b}, 0 \\le k < K, 0 \\le c < C, 0 \\le a < 3, 0 \\le b < 3",
    "h(z) = \\tanh(z)",
    "x^2_i = \\sum_{a=1}^{3} w_a y^1_{i+a-1}",
    "E = \\frac{1}{2} \\sum_{k} (p_k - t_k)^2",
    "y_{c,i} = \\max_{a=0}^{1} x_{c,2i+a}",
    "\\[ \\begin{aligned} x^2_{i}&=\\sum_{a=1}^3 w_a y^1_{i+a-1} \\\\ &= w_1 y^1_i \\end{aligned} \\]",
    "z = \\operatorname{relu}\\left(\\max(a, b) - \\lfloor n/2 \\rfloor\\right)^{-1}, 0 \\le i < \\lceil n/2 \\rceil",
    "output y^2, E",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn random_strings_do_not_panic(s in "\\PC{0,80}") {
        returns(&s);
    }

    #[test]
    fn random_latex_like_strings_do_not_panic(s in "[a-z_^{}()\\[\\]\\\\=+\\-*/,.;$&~0-9 \n%<]{0,80}") {
        returns(&s);
    }

    #[test]
    fn mutations_of_valid_statements_do_not_panic(
        which in 0..VALID.len(),
        edits in proptest::collection::vec((0usize..200, 0u8..3, proptest::char::any()), 1..6),
    ) {
        let mut s: Vec<char> = VALID[which].chars().collect();
        for (at, kind, c) in edits {
            let i = at % (s.len() + 1);
            match kind {
                0 => s.insert(i, c),
                1 if i < s.len() => { s.remove(i); }
                _ if i < s.len() => s[i] = c,
                _ => s.push(c),
            }
        }
        let s: String = s.into_iter().collect();
        returns(&s);
    }

    #[test]
    fn mutations_with_latex_tokens_do_not_panic(
        which in 0..VALID.len(),
        edits in proptest::collection::vec((0usize..200, proptest::sample::select(vec![
            "(", ")", "{", "}", "\\left(", "\\right)", "\\sum_", "^", "_", "\\", "=", ",", "$", "\\[",
            "\\begin{aligned}", "&", "\\\\", "-", "\\sigma", "\\max", "h(", "\\lfloor", "\n", ";", "%",
        ])), 1..6),
    ) {
        let mut s = VALID[which].to_owned();
        for (at, tok) in edits {
            let mut i = at % (s.len() + 1);
            while !s.is_char_boundary(i) { i -= 1; }
            s.insert_str(i, tok);
        }
        returns(&s);
    }
}
