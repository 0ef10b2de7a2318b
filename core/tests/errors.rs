//! Bad input gets a clear error with line, column and a caret, never a
//! panic, never silent acceptance. Each case names the message and the
//! position a reader should see (worked out by hand from the text).

use sharegrad_core::diagnostics::{line_col, render};

const HEAD: &str = "input y_j, 0 \\le j < n\nparam w_a, 0 \\le a < 3\n";

/// Compiles `HEAD + body`; returns the rendered errors and the positions.
fn errors(body: &str) -> (String, Vec<(usize, usize)>) {
    let src = format!("{HEAD}{body}\n");
    match sharegrad_core::compile(&src) {
        Ok(_) => panic!("accepted:\n{src}"),
        Err(d) => (
            render("m.eq", &src, &d),
            d.iter().map(|d| line_col(&src, d.span.start)).collect(),
        ),
    }
}

/// Compiles `HEAD + body`, which must be accepted.
fn accepts(body: &str) {
    let src = format!("{HEAD}{body}\n");
    if let Err(d) = sharegrad_core::compile(&src) {
        panic!("{}", render("m.eq", &src, &d));
    }
}

fn expect(body: &str, message: &str, at: (usize, usize)) {
    let (text, pos) = errors(body);
    assert!(text.contains(message), "wanted `{message}` in:\n{text}");
    assert!(pos.contains(&at), "wanted {at:?} among {pos:?}:\n{text}");
    assert!(text.contains(&format!("m.eq:{}:{}", at.0, at.1)), "{text}");
}

#[test]
fn syntax_error_names_the_expected_token() {
    expect("x_i = \\sum_{a w_a y_{i+a}", "unclosed `{`", (3, 12));
    let (text, _) = errors("x_i = y_i +");
    assert!(text.contains("expected"), "{text}");
}

#[test]
fn unknown_command() {
    expect("x_i = \\foo{y_i}", "unknown command `\\foo`", (3, 7));
}

#[test]
fn unbound_index() {
    expect(
        "x_i = \\sum_a w_a y_{i+j}",
        "index `j` is not bound",
        (3, 23),
    );
}

#[test]
fn undeclared_tensor() {
    expect("x_i = q_i y_i", "undeclared tensor `q`", (3, 7));
}

#[test]
fn redefinition() {
    expect(
        "x_i = y_i\nx_i = 2 y_i",
        "`x` is already defined on line 3",
        (4, 1),
    );
}

#[test]
fn read_before_definition() {
    expect(
        "x_i = z_i\nz_i = y_i",
        "`z` is read before it is defined (on line 4)",
        (3, 7),
    );
}

#[test]
fn non_affine_index() {
    expect("x_i = \\sum_a w_a y_{i a}", "must be affine", (3, 21));
}

#[test]
fn repeated_lhs_index() {
    expect("x_{i,i} = y_i", "index `i` appears twice on `x`", (3, 6));
}

#[test]
fn input_without_bounds() {
    let src = "input y_j\nx_i = y_i\n";
    let d = sharegrad_core::compile(src).unwrap_err();
    let text = render("m.eq", src, &d);
    assert!(text.contains("index `j` of `y` has no bound"), "{text}");
    assert!(text.contains("m.eq:1:9"), "{text}");
    // One mistake, one error: the read of `y` is not reported again.
    assert_eq!(d.len(), 1, "{text}");
}

#[test]
fn disagreeing_inferred_bounds() {
    let src = "input y_j, 0 \\le j < n\nparam w_a, 0 \\le a < K\nz = \\sum_a y_a w_a\n";
    let d = sharegrad_core::compile(src).unwrap_err();
    let text = render("m.eq", src, &d);
    assert!(text.contains("the range of `a` is ambiguous"), "{text}");
    assert!(text.contains("m.eq:3:10"), "{text}");
}

#[test]
fn wrong_arity() {
    expect(
        "x_i = w_{i,i} y_i",
        "`w` has 1 index, written with 2",
        (3, 7),
    );
}

#[test]
fn size_used_as_tensor() {
    expect("x_i = n_i y_i", "`n` is a size", (3, 7));
    let (text, _) = errors("input n_i, 0 \\le i < 4");
    assert!(text.contains("`n` is a size"), "{text}");
}

#[test]
fn write_to_input() {
    expect(
        "y_j = 2",
        "cannot define `y`: it is declared as an input on line 1",
        (3, 1),
    );
}

#[test]
fn user_function_with_two_arguments() {
    expect(
        "h(u, v) = u v",
        "must take exactly one argument, found 2",
        (3, 1),
    );
    expect(
        "x_i = g(y_i, y_i)",
        "user function `g` takes one argument, found 2",
        (3, 7),
    );
}

#[test]
fn cannot_infer_a_range() {
    expect("x_i = 2", "cannot infer the range of `i`", (3, 3));
}

#[test]
fn several_independent_errors_at_once() {
    let (text, pos) = errors("x_i = y_{i+j}\nz_i = q_i\nu_i = x_{i} +");
    assert!(
        pos.contains(&(3, 12)) && pos.contains(&(4, 7)) && pos.contains(&(5, 14)),
        "{pos:?}\n{text}"
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for body in [
        format!("x_i = {}y_i{}", "(".repeat(100_000), ")".repeat(100_000)),
        format!("x_i = {}y_i{}", "\\exp(".repeat(50_000), ")".repeat(50_000)),
        format!("x_i = {}y_i", "-".repeat(100_000)),
        format!(
            "x_i = {}y_i{}",
            "\\frac{1}{".repeat(20_000),
            "}".repeat(20_000)
        ),
    ] {
        let (text, _) = errors(&body);
        assert!(
            text.contains("nested too deeply"),
            "{}",
            &text[..text.len().min(400)]
        );
    }
    // A double superscript is a syntax error, as in LaTeX; a long chain of
    // them must still come back as an error.
    let (text, _) = errors(&format!("x_i = y_i{}", "^{2}".repeat(50_000)));
    assert!(text.contains("m.eq:3:"), "{}", &text[..text.len().min(400)]);
}

#[test]
fn long_flat_input_is_fine() {
    let body = format!("x_i = {}", vec!["y_i"; 20_000].join(" + "));
    let src = format!("{HEAD}{body}\n");
    let m = sharegrad_core::compile(&src).expect("a long sum is valid");
    assert_eq!(m.gradient.occurrences.len(), 20_000);
}

#[test]
fn random_bytes_never_panic() {
    // A fixed sweep over mutations of a valid model: every result is an
    // Ok or an Err with positions inside the text.
    let base = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/seed.eq"))
        .unwrap();
    let alphabet: Vec<char> = "\\{}()[]_^=+-*/,;$%&0123456789 \naiwxyz\u{3b1}\u{e9}"
        .chars()
        .collect();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..3000 {
        let mut chars: Vec<char> = base.chars().collect();
        for _ in 0..4 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let pos = (state as usize) % (chars.len() + 1);
            let c = alphabet[(state >> 32) as usize % alphabet.len()];
            match state % 3 {
                0 if pos < chars.len() => {
                    chars.remove(pos);
                }
                1 if pos < chars.len() => chars[pos] = c,
                _ => chars.insert(pos, c),
            }
        }
        let src: String = chars.into_iter().collect();
        if let Err(d) = sharegrad_core::compile(&src) {
            assert!(!d.is_empty());
            for x in &d {
                assert!(
                    x.span.start <= src.len() && x.span.end <= src.len(),
                    "{x:?} in {src:?}"
                );
                assert!(!x.message.is_empty());
            }
            let _ = render("m.eq", &src, &d);
        }
    }
}

#[test]
fn a_statement_that_reads_a_broken_tensor_is_not_reported_as_undeclared() {
    // `c` fails to parse; `z` reads it, so `z` is broken too, but it is
    // defined: reading it on the next line is not a second error.
    let src = "input y_i, 0 \\le i < n\nparam c_, 0 \\le k < m\nz_i = c_k y_i\nE = \\sum_i z_i\n";
    let d = sharegrad_core::compile(src).unwrap_err();
    let text = render("m.eq", src, &d);
    assert!(text.contains("expected a subscript"), "{text}");
    assert!(text.contains("m.eq:2:9"), "{text}");
    assert!(!text.contains("undeclared"), "{text}");
    assert_eq!(d.len(), 1, "{text}");
}

#[test]
fn a_tensor_read_in_its_own_definition() {
    expect(
        "x_i = x_i + y_i",
        "`x` is read in its own definition; a tensor cannot be defined in terms of itself",
        (3, 7),
    );
    // A scalar too, and nothing reads `x` as undeclared afterwards.
    let (text, pos) = errors("E = 2 E\nF = E");
    assert!(text.contains("`E` is read in its own definition"), "{text}");
    assert_eq!(pos, vec![(3, 7)], "{text}");
}

#[test]
fn an_exponent_must_be_finite() {
    expect("x_i = y_i^{1/0}", "the exponent divides by zero", (3, 12));
    expect(
        "x_i = y_i^{\\frac{2}{1 - 1}}",
        "the exponent divides by zero",
        (3, 12),
    );
    expect(
        "x_i = \\tanh^{-1/0}(y_i)",
        "the exponent divides by zero",
        (3, 14),
    );
    // On a scalar, a superscript right after the letter is a power when no
    // tensor carries that label: the same error, not an undeclared `b^1/0`.
    expect(
        "param b\nx = b^{1/0}",
        "the exponent divides by zero",
        (4, 7),
    );
    expect(
        "param b\nx = b^{1e999}",
        "the exponent is not a finite number",
        (4, 7),
    );
    let big = format!("1{}", "0".repeat(400));
    expect(
        &format!("x_i = y_i^{{{big}/2}}"),
        "number out of range",
        (3, 12),
    );
    expect(
        "x_i = y_i^{10000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000 * 10000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000}",
        "the exponent is not a finite number",
        (3, 12),
    );
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let src = "\u{feff}input y_i, 0 \\le i < n\nx_i = 2 y_i\n";
    sharegrad_core::compile(src).expect("a leading BOM is not a statement");
    let src = "\u{feff}input y_i, 0 \\le i < n\nx_i = q_i\n";
    let d = sharegrad_core::compile(src).unwrap_err();
    let text = render("m.eq", src, &d);
    assert_eq!(d.len(), 1, "{text}");
    assert!(text.contains("undeclared tensor `q`"), "{text}");
    assert!(text.contains("m.eq:2:7"), "{text}");
    // A broken first statement is still found by its key after the BOM.
    let src = "\u{feff}input y_i, 0 \\le i <\nx_i = y_i\n";
    let d = sharegrad_core::compile(src).unwrap_err();
    let text = render("m.eq", src, &d);
    assert_eq!(d.len(), 1, "{text}");
    assert!(text.contains("m.eq:1:21"), "{text}");
}

#[test]
fn lone_carriage_returns_are_line_breaks() {
    let src = "input y_j, 0 \\le j < n\r% a comment\rx_i = \\sum_a y_{i+a+j}\r";
    let d = sharegrad_core::compile(src).unwrap_err();
    let text = render("m.eq", src, &d);
    assert!(text.contains("index `j` is not bound"), "{text}");
    assert!(text.contains("m.eq:3:21"), "{text}");
    assert!(
        text.contains("3 | x_i = \\sum_a y_{i+a+j}\n  |                     ^"),
        "{text}"
    );
    assert!(!text.contains('\r'), "{text:?}");
    let ok = "input y_j, 0 \\le j < n\rparam w_a, 0 \\le a < 3\r\nx_i = \\sum_a w_a y_{i+a}\r";
    let m = sharegrad_core::compile(ok).expect("CR and CRLF line ends");
    assert_eq!(m.program.statements.len(), 1);
}

#[test]
fn a_bound_or_limit_naming_an_index_variable_of_its_statement() {
    let msg = "reduction limits and bounds may only use sizes and integers; `i` is an index variable of this statement";
    expect("x_i = \\sum_{b=0}^{i} y_b, 0 \\le i < n", msg, (3, 19));
    expect("input z_i, 0 \\le i < i", msg, (3, 22));
    expect(
        "x_i = \\sum_k y_k, 0 \\le i < k",
        "reduction limits and bounds may only use sizes and integers; `k` is an index variable of this statement",
        (3, 29),
    );
    // One error for the mistake: `x` is still defined.
    let (text, pos) = errors("x_i = \\sum_{b=0}^{i} y_b, 0 \\le i < n\nz_i = x_i");
    assert_eq!(pos, vec![(3, 19)], "{text}");
}

#[test]
fn a_letter_is_a_size_or_an_index_variable_never_both() {
    // `n` is a size on line 1 (`0 \le j < n`).
    let msg =
        "`n` is a size (it appears in a bound on line 1) and cannot also be an index variable";
    expect("x_n = y_n", msg, (3, 3));
    expect("z = \\sum_n y_n", msg, (3, 10));
    // `j` is an index variable on line 1.
    expect(
        "z = \\sum_{b=0}^{j} y_b",
        "reduction limits and bounds may only use sizes and integers; `j` is an index variable on line 1",
        (3, 17),
    );
    // A stride multiplying an index is a size: not an index variable of
    // another statement, nor a reduction variable outside its sum.
    expect(
        "x_i = y_{a i}",
        "`a` multiplies an index variable, so it must be a size, but `a` is an index variable on line 2",
        (3, 10),
    );
    expect(
        "x_i = \\sum_b w_b + y_{b i}",
        "`b` multiplies an index variable, so it must be a size, but `b` is an index variable of this statement",
        (3, 23),
    );
    // Index variables are reused across statements, and strides and sizes
    // stay sizes: no error.
    let ok = format!("{HEAD}x_i = \\sum_a w_a y_{{s i + a}}, 0 \\le i < m\nz_i = s x_i\n");
    sharegrad_core::compile(&ok).expect("a letter reused in its own role");
}

#[test]
fn index_expressions_are_affine_in_sizes() {
    let index = "multiplies two sizes; an index expression must be affine";
    expect(
        "x_i = y_{s t i}, 0 \\le i < m",
        &format!("`s t i` {index}"),
        (3, 10),
    );
    expect(
        "x_i = y_{i + n n}, 0 \\le i < m",
        &format!("`n n` {index}"),
        (3, 14),
    );
    // Strides, dilations and integer multiples in subscripts, and products
    // of sizes in bounds and limits (a dilated kernel's reach, an
    // output-size formula) are fine.
    let ok = format!(
        "{HEAD}param v_b, 0 \\le b < K\n\
         x_i = \\sum_b v_b y_{{s i + d b - p}}, 0 \\le i < \\lfloor (n + 2p - d(K-1) - 1)/s \\rfloor + 1\n\
         z_i = y_{{2i + 1}}, 0 \\le i < 2n + 1\n\
         u_i = \\sum_{{b=0}}^{{d K - 1}} y_{{i+b}}, 0 \\le i < n - d(K-1)\n"
    );
    sharegrad_core::compile(&ok).expect("sizes may multiply in bounds");
}

#[test]
fn a_range_known_empty_at_compile_time() {
    expect(
        "x_j = y_j, 5 \\le j < 2",
        "the range of `j` is empty: 5 \\le j \\le 1",
        (3, 12),
    );
    expect(
        "z = \\sum_{b=3}^{1} y_b",
        "the range of `b` is empty: 3 \\le b \\le 1",
        (3, 11),
    );
    expect(
        "z = \\max_{0 \\le b < 0} y_b",
        "the range of `b` is empty: 0 \\le b \\le -1",
        (3, 11),
    );
    let sizes = "is empty for every value of the sizes (they are positive)";
    expect(
        "input z_i, 0 \\le i < -n",
        &format!("the range of `i` {sizes}: 0 \\le i \\le -n - 1"),
        (3, 12),
    );
    expect(
        "input z_i, 0 \\le i \\le 1 - 2n",
        &format!("the range of `i` {sizes}: 0 \\le i \\le -2n + 1"),
        (3, 12),
    );
    // Empty for small sizes only, or of unknown sign: left to run time.
    let ok = format!(
        "{HEAD}x_j = y_j, 0 \\le j < n - 2\nz_j = y_j, 3 \\le j \\le n\nu_j = y_j, 0 \\le j < \\lfloor (n - 5)/2 \\rfloor\n"
    );
    sharegrad_core::compile(&ok).expect("may be non-empty");
}

#[test]
fn output_listed_twice() {
    expect(
        "x_i = y_i\noutput x, x",
        "`x` is already listed as an output",
        (4, 11),
    );
}

#[test]
fn division_by_a_constant_zero() {
    let msg = "division by zero: the denominator is the constant 0";
    expect("x_i = \\frac{1}{0} y_i", msg, (3, 16));
    expect("x_i = y_i / (2 - 2)", msg, (3, 14));
    // A denominator that is zero only for some data is the evaluator's to
    // report (it names the element).
    sharegrad_core::compile(&format!("{HEAD}x_i = 1 / y_i\n")).expect("data-dependent");
}

#[test]
fn max_reduction_in_a_function_body() {
    // Its derivative would need an arg-max with no tensor behind it (it
    // used to be taken as 0: a wrong gradient, not an error).
    expect(
        "f(z) = \\max_{a=0}^{2} z\nx_i = f(y_i)",
        "a `\\max` reduction cannot be used in a function body",
        (3, 8),
    );
}

#[test]
fn a_stride_is_a_size_before_its_subscript_too() {
    // `s` is a size because it multiplies `i` in a subscript; using it as a
    // number earlier in the statement or the file is fine.
    for body in [
        "x_i = \\frac{s}{2} \\sum_a w_a y_{s i + a}, 0 \\le i < 3",
        "z = s\nx_i = \\sum_a w_a y_{s i + a}, 0 \\le i < 3",
    ] {
        let m = sharegrad_core::compile(&format!("{HEAD}{body}\n")).expect(body);
        assert!(m.program.sizes.contains(&"s".to_string()), "{body}");
    }
}

#[test]
fn size_in_a_function_body() {
    // The generated code passes a function no sizes; `check` used to accept
    // this and `rust` to fail without a position.
    expect(
        "f(u) = \\sum_{b=0}^{n} u\nx_i = f(y_i)",
        "function `f` uses the size `n`",
        (3, 8),
    );
}

#[test]
fn hoisted_sums_do_not_take_a_users_name() {
    let m = sharegrad_core::compile(&format!(
        "{HEAD}S^{{[1]}}_j = 2 y_j\nE = \\tanh(\\sum_j S^{{[1]}}_j) + \\tanh(\\sum_j y_j)\n"
    ))
    .expect("compiles");
    let keys: Vec<&str> = m.program.tensors.iter().map(|t| t.key.as_str()).collect();
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), keys.len(), "{keys:?}");
    assert!(
        keys.contains(&"S^[2]") && keys.contains(&"S^[3]"),
        "{keys:?}"
    );
}

/// A chain `x = A = B` is checked: a restatement that differs from the
/// definition (here the last tap reads `y_{i+1}` again) is an error at the
/// restatement, naming an element where they differ.
#[test]
fn restatement_that_differs_from_the_definition() {
    expect(
        "x_i = \\sum_{a=0}^{2} w_a y_{i+a} = w_0 y_i + w_1 y_{i+1} + w_2 y_{i+1}",
        "this restatement differs from the definition of `x`: for `x` at [",
        (3, 36),
    );
    // A restatement that sums the wrong range.
    expect(
        "x_i = \\sum_{a=0}^{2} w_a y_{i+a} = \\sum_{a=0}^{1} w_a y_{i+a}",
        "differs from the definition of `x`",
        (3, 36),
    );
}

/// The seed's own `aligned` block, with `h` left undefined as in the post:
/// the restatements hold for every `h`, so the model compiles; swapping one
/// `h` for another undefined function, or one read, is caught.
#[test]
fn seed_restatements_hold_for_any_function() {
    let block = "\\[ \\begin{aligned} x^2_{i}&=\\sum_{a=1}^3 w_a y^1_{i+a-1} \\\\ &= w_1 y^1_i + w_2 y^1_{i+1} + w_3 y^1_{i+2} \\\\ &= w_1 h\\left(w_0 y^0_{i}\\right) + w_2 h\\left(w_0 y^0_{i+1}\\right) + w_3 h\\left(w_0 y^0_{i+2}\\right). \\\\ \\end{aligned} \\]";
    let model = |block: &str| {
        format!(
            "input y^0_i, 0 \\le i < n\nparam w_a, 0 \\le a \\le 3\ny^1_i = h(w_0 y^0_i)\n{block}\ny^2_i = h(x^2_i)\noutput y^2\n"
        )
    };
    let good = model(block);
    assert!(sharegrad_core::compile(&good).is_ok(), "{good}");
    for bad in [
        block.replace("w_3 h\\left(w_0 y^0_{i+2}", "w_3 g\\left(w_0 y^0_{i+2}"),
        block.replace("w_3 h\\left(w_0 y^0_{i+2}", "w_3 h\\left(w_0 y^0_{i+1}"),
    ] {
        let src = model(&bad);
        let d = sharegrad_core::compile(&src).expect_err("a wrong restatement is an error");
        let text = render("m.eq", &src, &d);
        assert!(
            text.contains("differs from the definition of `x^2`"),
            "{text}"
        );
        // At the third member of the chain (after the second `&=`).
        let third = src.match_indices("&= ").nth(1).expect("two `&=`").0 + 3;
        assert_eq!(d[0].span.start, third, "{text}");
    }
}

/// `1.5e-3` and `e^{x}` read as a tensor `e`: the error says how to write
/// the number or the exponential.
#[test]
fn exponent_notation_and_eulers_number_get_a_hint() {
    let (text, pos) = errors("x_j = 1.5e-3 y_j");
    assert!(text.contains("undeclared tensor `e`"), "{text}");
    assert!(text.contains("`1.5 \\times 10^{-3}`"), "{text}");
    assert!(pos.contains(&(3, 10)), "{pos:?}\n{text}");
    let (text, pos) = errors("x_j = e^{y_j}");
    assert!(text.contains("`\\exp(y_j)`"), "{text}");
    assert!(pos.contains(&(3, 7)), "{pos:?}\n{text}");
}

/// Restatements that hold are accepted: a softmax in its shifted form, a
/// maximum with its range written out, and a form that is undefined for
/// part of the data (`2 \log y` where `y < 0`), which is compared only where
/// both forms are finite.
#[test]
fn restatements_that_hold_compile() {
    for body in [
        "p_i = \\frac{\\exp(y_i)}{\\sum_j \\exp(y_j)} = \\exp(y_i - \\log \\sum_j \\exp(y_j))",
        "m = \\max_a w_a = \\max_{a=0}^{2} w_a",
        "x_i = \\log(y_i^2) = 2 \\log(y_i)",
        "x_i = \\sum_{a=0}^{2} w_a y_{i+a} = w_0 y_i + w_1 y_{i+1} + w_2 y_{i+2}",
    ] {
        accepts(body);
    }
}

/// A read outside its tensor is zero. Where the index moves with the
/// left-hand side that is zero padding; where it is constant or moves only
/// with a reduction, or misses the tensor at every point, it is a slip that
/// would otherwise pass silently. The caret is under the subscript.
#[test]
fn reads_outside_a_tensor_not_by_padding_are_errors() {
    // A reduction one past the kernel (w has 0..2).
    expect(
        "x_j = \\sum_{a=0}^{3} w_a y_{j+a}",
        "`w` is read outside its range: this index runs from 0 to 3 over the reduction, but `w` has 0 \\le a \\le 2",
        (3, 24),
    );
    // A constant index past the end, and one before the start.
    expect(
        "x_j = w_5 y_j",
        "this index is 5, but `w` has 0 \\le a \\le 2",
        (3, 9),
    );
    expect("x_j = w_{-1} y_j", "this index is -1", (3, 10));
    // An offset reduction index: `a` takes w's range, and a+1 reaches 3.
    expect(
        "x = \\sum_a w_a w_{a+1}",
        "this index runs from 1 to 3 over the reduction",
        (3, 19),
    );
    // Off by one against a size: \sum_{a=0}^{n} over 0 \le a < n.
    expect(
        "param v_a, 0 \\le a < n\nx = \\sum_{a=0}^{n} v_a",
        "this index runs from 0 to n over the reduction, but `v` has 0 \\le a \\le n - 1",
        (4, 22),
    );
    // Misses y at every point of the written range.
    expect(
        "x_i = y_{i+n}, 0 \\le i < n",
        "this index runs from n to 2n - 1 over the statement",
        (3, 10),
    );
    // In a restatement too.
    expect(
        "x = \\sum_a w_a = w_0 + w_1 + w_3",
        "this index is 3",
        (3, 32),
    );
}

/// Reads that reach outside only as the left-hand side's index moves are
/// zero padding and compile: a "same" convolution, a flipped kernel, a
/// shift, and a reduction whose reach is exactly the tensor.
#[test]
fn zero_padding_and_exact_reaches_compile() {
    for body in [
        "x_j = \\sum_{a=0}^{2} w_a y_{j+a-1}, 0 \\le j < n",
        "x_j = \\sum_{a=0}^{2} w_{2-a} y_{j+a}",
        "x_j = y_{j-1}, 0 \\le j < n",
        "x_j = \\sum_{a=1}^{3} w_{a-1} y_{j+a-1}",
        "param v_a, 0 \\le a < n\nx = \\sum_{a=0}^{n-1} v_a + v_0 + v_{n-1}",
    ] {
        accepts(body);
    }
}

/// A function name without its backslash parses as a product of one-letter
/// tensors; the user gets one error for the word with the spelling to use,
/// not one "undeclared tensor" per letter.
#[test]
fn function_names_without_a_backslash_get_one_error() {
    let (text, pos) = errors("x_j = relu(y_j)");
    assert!(
        text.contains("`relu` is not a function here: without a backslash it reads as the product of the letters r, e, l, u"),
        "{text}"
    );
    assert!(text.contains("write `\\operatorname{relu}`"), "{text}");
    assert_eq!(pos, vec![(3, 7)], "{text}");
    // `x` is the tensor being defined: still one error, for the word.
    let (text, pos) = errors("x_j = exp(y_j)");
    assert!(text.contains("write `\\exp`"), "{text}");
    assert_eq!(pos, vec![(3, 7)], "{text}");
    // `n` is a size and `h` a function: the word is still caught.
    let (text, pos) = errors("x_j = tanh(y_j)");
    assert!(text.contains("write `\\tanh`"), "{text}");
    assert_eq!(pos, vec![(3, 7)], "{text}");
}

/// The declaration hint spells the name as it is written (`\beta`,
/// `W^{out}`), and Euler's number raised to a power gets the `\exp` hint
/// with its argument instead of a declaration of a tensor `e^{y_j}`.
#[test]
fn undeclared_names_are_spelled_as_written() {
    let (text, _) = errors("x_j = \\beta_j y_j");
    assert!(text.contains("undeclared tensor `\\beta`"), "{text}");
    assert!(text.contains("`input \\beta_i, 0 \\le i < n`"), "{text}");
    let (text, _) = errors("x_j = W^{out}_j y_j");
    assert!(text.contains("`input W^{out}_i, 0 \\le i < n`"), "{text}");
    let (text, _) = errors("x_j = e^{y_j}");
    assert!(text.contains("write `\\exp(y_j)`"), "{text}");
    assert!(!text.contains("declare it"), "{text}");
}

/// Reduction indices: every binder whose range cannot be inferred is
/// reported, and reusing a left-hand-side index says so.
#[test]
fn reduction_index_mistakes() {
    let (text, pos) = errors("x = \\sum_{a,b} y_{a+b}");
    assert!(text.contains("cannot infer the range of `a`"), "{text}");
    assert!(text.contains("cannot infer the range of `b`"), "{text}");
    assert_eq!(pos, vec![(3, 11), (3, 13)], "{text}");
    expect(
        "x_j = \\sum_j y_j",
        "`j` is an index of the left-hand side, so it cannot also be summed over here",
        (3, 12),
    );
    expect(
        "x = \\sum_a \\sum_a w_a",
        "index `a` is already bound by an enclosing reduction",
        (3, 17),
    );
}

/// `b^2^3` on a scalar was read as `(b^2)^3`; LaTeX rejects it as a double
/// superscript, and so does `y_j^2^3` here. Grouping is accepted.
#[test]
fn double_superscript_on_a_scalar() {
    expect(
        "input b\nx = b^2^3",
        "double superscript: group the base, like `{b^2}^3`",
        (4, 9),
    );
    expect("input b\nx = b^{2}^{3}", "double superscript", (4, 12));
    accepts("input b\nx = {b^2}^3 + (b^2)^3");
}

/// `W_{ij}` as papers write it: the arity error says how to separate the
/// indices.
#[test]
fn indices_run_together_get_a_comma_hint() {
    let (text, pos) = errors("param W_{k,j}, 0 \\le k < 2, 0 \\le j < n\nx_k = \\sum_j W_{kj} y_j");
    assert!(text.contains("`W` has 2 indices, written with 1"), "{text}");
    assert!(
        text.contains("separate the indices with commas: `W_{k,j}`"),
        "{text}"
    );
    assert_eq!(pos, vec![(4, 14)], "{text}");
    // Not for a subscript that is an expression.
    let (text, _) = errors("param W_{k,j}, 0 \\le k < 2, 0 \\le j < n\nx_k = \\sum_j W_{k+j} y_j");
    assert!(!text.contains("separate the indices"), "{text}");
}

/// Each literal is at most 2^31 - 1, and so is what products and sums of
/// them give: `2147483647 2147483647 4 - 2147483647 2147483647 3` in a
/// limit used to saturate at i64::MAX and sum `y_0` alone (found by an
/// adversarial sweep). The caret is under the offending product.
#[test]
fn integers_that_index_arithmetic_would_overflow() {
    let big = "integers in index expressions, bounds and limits are at most 2147483647";
    // `x = \sum_{a=0}^{` is 16 characters, so the limit starts in column 17.
    expect(
        "x = \\sum_{a=0}^{2147483647 2147483647 4 - 2147483647 2147483647 3} y_a",
        "`2147483647 2147483647 4` gives an integer beyond i64",
        (3, 17),
    );
    expect("x_i = y_{65536 65536 i}, 0 \\le i < n", big, (3, 10));
    let (text, _) = errors("x_i = y_{65536 65536 i}, 0 \\le i < n");
    assert!(text.contains("gives the integer 4294967296"), "{text}");
    expect("x_i = y_i, 0 \\le i < 2147483647 + 1", big, (3, 22));
    expect(
        "x_i = y_{i + 2147483647 + 2147483647}, 0 \\le i < n",
        big,
        (3, 10),
    );
    // At the limit, accepted (the range check then says what it says).
    accepts("x_i = y_{i + 2147483647 - 2147483647}, 0 \\le i < n");
}

/// A declared or defined tensor's label reaches LaTeX, Markdown tables,
/// data keys and identifiers: a character that would break one of them
/// (`#`, a command, `|`) is an error under that character, where before the
/// model passed `check` and `derive` failed inside pdflatex. A superscript
/// on a read that names no tensor stays a power (`b^{1/0}` elsewhere).
#[test]
fn labels_hold_letters_digits_and_a_few_marks() {
    let msg = "cannot be part of a label: a label holds letters, digits, spaces and ( ) [ ] ' , . + - * only";
    expect(
        "input z^{#}_i, 0 \\le i < n",
        &format!("`#` {msg}"),
        (3, 10),
    );
    expect(
        "input z^{\\alpha}_i, 0 \\le i < n",
        &format!("`\\` {msg}"),
        (3, 10),
    );
    expect("x^{a|b}_i = y_i", &format!("`|` {msg}"), (3, 5));
    expect("x^{1~}_i = y_i", &format!("`~` {msg}"), (3, 5));
    accepts("x^{(1)}_i = y_i\nW^{out} = x^{(1)}_0\nh^{t-1, k'}_i = y_i");
}

/// A reduction's variable is an index variable: one lower-case letter, as
/// on a left-hand side (`\sum_{I}` was accepted, found by an adversarial
/// sweep).
#[test]
fn reduction_variables_are_lower_case_letters() {
    let msg = "a reduction's variable must be a lower-case letter, like `a`, not";
    expect("x = \\sum_{I=0}^{2} y_I", &format!("{msg} `I`"), (3, 11));
    expect(
        "x = \\max_{\\alpha=0}^{2} y_\\alpha",
        &format!("{msg} `\\alpha`"),
        (3, 11),
    );
    accepts("x = \\sum_{i=0}^{2} y_i");
}

/// A tensor with indices followed by `(`: neither a call nor a product
/// (the message was "`w` has 1 index, written with 0"). A scalar tensor
/// followed by a group multiplies it, as documented.
#[test]
fn a_tensor_with_indices_is_not_a_function() {
    expect(
        "x_j = w(y_j)",
        "`w` is a tensor with 1 index, not a function: read it with a subscript (`w_i`)",
        (3, 7),
    );
    accepts("param b\nx_j = b(y_j + 1)");
}

/// Constants outside a function's domain are caught where they are written,
/// as `\frac{y}{1-1}` already was; `eval` blamed the data for them (found
/// by an adversarial sweep).
#[test]
fn constant_arguments_outside_the_domain() {
    expect(
        "x_j = y_j + 0^{-1}",
        "division by zero: the constant 0 to a negative power",
        (3, 13),
    );
    expect(
        "x_j = y_j + \\log(1-1)",
        "the logarithm of the constant 0 is not a real number",
        (3, 18),
    );
    expect(
        "x_j = y_j + \\sqrt{-4}",
        "the square root of the constant -4 is not a real number",
        (3, 19),
    );
    accepts("x_j = y_j + \\log(2) + \\sqrt{0} + 0^{2}");
}

/// A function that calls itself, directly or through another one, is an
/// error at the call; through another, the message names the chain (it
/// said only "calls itself" before, found by an adversarial sweep).
#[test]
fn recursive_functions_name_the_chain() {
    expect(
        "h(z) = h(z) + 1\nx_j = h(y_j)",
        "function `h` calls itself; a function may not be recursive",
        (3, 8),
    );
    expect(
        "h(z) = g(z) + 1\ng(z) = 2 h(z)\nx_j = h(y_j)",
        "function `h` calls itself through `g`: `h` -> `g` -> `h`; a function may not be recursive",
        (3, 8),
    );
}
