//! Syntax errors: messages in the user's terms, spans on the offending token.

mod common;

use common::*;

fn e(text: &str, msg: &str) -> (String, String) {
    (text.to_owned(), msg.to_owned())
}

#[test]
fn missing_equals() {
    assert_eq!(err1("x_i y"), e("y", "expected `=`"));
}

#[test]
fn missing_right_hand_side() {
    assert_eq!(err1("x_i = "), e("", "expected an expression"));
    assert_eq!(err1("x_i = a +"), e("", "expected an expression"));
}

#[test]
fn stray_closer() {
    assert_eq!(err1("x_i = a )"), e(")", "unexpected `)`"));
}

#[test]
fn bad_index_expressions() {
    assert_eq!(err1("x = y_{}"), e("}", "expected an index expression"));
    assert_eq!(
        err1("x = y_{i =}"),
        e("=", "expected `,`, `}` or an index expression")
    );
    assert_eq!(err1("x = y_{i+}"), e("}", "expected an index expression"));
    assert_eq!(err1("x = y_"), e("", "expected a subscript"));
}

#[test]
fn index_integers_stay_below_two_to_the_31() {
    let msg = "integer too large (index integers are at most 2147483647)";
    assert_eq!(err1("x = y_{i+2147483648}"), e("2147483648", msg));
    assert_eq!(
        err1("x = y_{i+99999999999999999999}"),
        e("99999999999999999999", msg)
    );
    assert_eq!(
        rhs("y_{i+2147483647}"),
        "y[(i + 2147483647)]",
        "the largest one is fine"
    );
}

/// LaTeX takes one character after `_` or `^` without braces: `w_12` is
/// `w_1` times 2. A reader almost always means `w_{12}`, so it is an
/// error at the digits, not a silent product.
#[test]
fn run_on_subscripts_and_exponents() {
    assert_eq!(
        err1("x = w_12 a"),
        e(
            "_12",
            "`_12` is `_1` followed by the number 2: without braces LaTeX takes one character; write `_{12}`"
        )
    );
    let (text, m) = err1("x = \\sum_{a=1}^10 y_a");
    assert_eq!(text, "^10");
    assert!(m.contains("write `^{10}`"), "{m}");
    // Braced, spaced or single digits are fine.
    for ok in ["x = w_{12} a", "x = w_1 2", "x = y^2 + w_0", "x = 2^{10}"] {
        let (_, errors) = sharegrad_grammar::parse(ok);
        assert!(errors.is_empty(), "{ok}: {errors:?}");
    }
}

#[test]
fn unknown_commands_name_the_command() {
    assert_eq!(err1("x = \\foo + a"), e("\\foo", "unknown command `\\foo`"));
    assert_eq!(
        errs("x = \\foo + \\baz"),
        [
            e("\\foo", "unknown command `\\foo`"),
            e("\\baz", "unknown command `\\baz`")
        ]
    );
    // Accents and fonts on names, and product symbols, say what to write.
    let (_, m) = err1("x = \\mathbf{W} a");
    assert!(
        m.starts_with("unknown command `\\mathbf`: an accent or font"),
        "{m}"
    );
    assert!(m.contains("like `W^{out}`"), "{m}");
    let (_, m) = err1("x = \\bar{a}");
    assert!(m.contains("an accent or font"), "{m}");
    let (_, m) = err1("x = a \\odot b");
    assert!(
        m.contains("write an elementwise product as `a_i b_i`"),
        "{m}"
    );
    assert_eq!(
        err1("x = \\operatorname{foo}(x)"),
        e(
            "\\operatorname{foo}",
            "unknown function `\\operatorname{foo}`"
        )
    );
    assert_eq!(
        err1("x = a \\"),
        e("\\", "expected a command name after `\\`")
    );
}

#[test]
fn declarations_need_a_tensor_name() {
    assert_eq!(err1("input 3"), e("3", "expected a tensor name"));
    assert_eq!(err1("output"), e("", "expected a tensor name"));
}

#[test]
fn bad_statement_start() {
    assert_eq!(
        err1("0 = x").1,
        "expected a statement: `input`, `param`, `const`, `output`, `h(z) = ...` or `x_i = ...`"
    );
}

#[test]
fn incomplete_bound() {
    assert_eq!(err1("x_i = a, 0 \\le i"), e("", "expected `<` or `\\le`"));
}

#[test]
fn max_without_arguments() {
    assert_eq!(err1("x = \\max x"), e("x", "expected `(`, `_` or `^`"));
    assert_eq!(
        err1("x = \\max(a)"),
        e("(a)", "`\\max(a, b)` takes two arguments")
    );
    assert_eq!(
        err1("x = \\exp(a, b)"),
        e("(a, b)", "`\\exp` takes one argument")
    );
}

#[test]
fn unclosed_brackets_point_at_the_opener() {
    assert_eq!(err1("x = (a + b"), e("(", "unclosed `(`"));
    assert_eq!(err1("x = y_{i"), e("{", "unclosed `{`"));
    assert_eq!(err1("y = a\nx = \\left(a"), e("(", "unclosed `(`"));
    assert_eq!(err1("$x = a"), e("$", "unclosed `$`"));
    assert_eq!(
        err1("\\begin{aligned} x &= a"),
        e("\\begin{aligned}", "unclosed `\\begin`")
    );
}

#[test]
fn floor_needs_a_division() {
    assert_eq!(
        err1("x = y_{\\lfloor n \\rfloor}"),
        e("n", "expected a division `a/b` inside `\\lfloor \\rfloor`")
    );
}

#[test]
fn superscript_limit_needs_one_variable() {
    assert_eq!(
        err1("x = \\sum_{a,b}^{3} w_{a,b}"),
        e(
            "3",
            "an upper limit `^` needs exactly one reduction variable"
        )
    );
    assert_eq!(
        err1("x = \\sum_{0 \\le a < 2}^{3} w_a"),
        e("3", "upper limit written twice")
    );
}

#[test]
fn reduction_without_body() {
    assert_eq!(err1("x = \\sum_{a}"), e("", "expected an expression"));
}

#[test]
fn unsupported_environment() {
    assert_eq!(
        err1("\\begin{matrix} x = a \\end{aligned}").1,
        "unsupported environment `matrix` (only `aligned` is known)"
    );
}

#[test]
fn unicode_is_one_character_wide() {
    assert_eq!(err1("x = a ∑ b"), e("∑", "unexpected `∑`"));
}

#[test]
fn several_independent_errors_at_once() {
    let src = "x = \nokay = a\ny = )\nz_i = b_i\nw = \\nope";
    let (file, errors) = sharegrad_grammar::parse(src);
    assert_eq!(errors.len(), 4, "{errors:?}");
    // The two good statements survive (`okay = a` is o·k·a·y = a, an
    // error: `=` after a product; so only z_i).
    assert_eq!(file.items.len(), 1);
    let lines: Vec<usize> = errors
        .iter()
        .map(|e| src[..e.span.start].matches('\n').count())
        .collect();
    assert_eq!(lines, [0, 1, 2, 4]);
}

#[test]
fn messages_are_lower_case_without_period_or_rule_names() {
    let bad = [
        "x = ",
        "x = (",
        "x = a b )",
        "input",
        "x = \\sum_",
        "x = \\frac{a}",
        "h(z = a",
        "x = y^",
        "x = a, 0",
        "x = \\exp",
        "x = a ^ ^",
        "x = \\sum_{a=}",
        "x_{i = a",
        "\\( x = a",
        "output y,,",
        "param w_a, 0 \\le",
        "x = \\left( a \\right]",
        "x = \\bigl( a \\bigr]",
        "x = \\Big a",
    ];
    for src in bad {
        let (_, errors) = sharegrad_grammar::parse(src);
        assert!(!errors.is_empty(), "{src}");
        for e in errors {
            let m = &e.message;
            assert!(!m.ends_with('.'), "{src}: {m}");
            assert!(
                m.chars().next().unwrap().is_lowercase() || m.starts_with('`'),
                "{src}: {m}"
            );
            assert!(
                !m.contains('_') || m.contains("`_`") || m.contains("x_i"),
                "{src}: {m}"
            );
            assert!(
                e.span.start <= e.span.end && e.span.end <= src.len(),
                "{src}"
            );
            if e.span.start == e.span.end {
                // Only at the end of the statement.
                assert!(
                    src[e.span.start..].trim().is_empty(),
                    "{src}: zero-width span"
                );
            }
        }
    }
}

#[test]
fn the_index_of_a_root_is_a_positive_integer() {
    let msg = "the index of a root must be a positive integer, like `\\sqrt[3]{x}`";
    assert_eq!(err1("x = \\sqrt[n]{y}"), e("n", msg));
    assert_eq!(err1("x = \\sqrt[0]{y}"), e("0", msg));
    assert_eq!(err1("x = \\sqrt[1.5]{y}"), e("1.5", msg));
    assert_eq!(
        err1("x = \\sqrt[3]"),
        e("", "expected `(` or an expression")
    );
    assert_eq!(err1("x = \\sqrt[]{y}"), e("]", "expected an expression"));
}

#[test]
fn byte_order_mark_and_carriage_returns() {
    let (file, errors) = sharegrad_grammar::parse("\u{feff}x = 1\ry = 2 % c\rz = 3\r\n");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(file.items.len(), 3);
    // The error after a lone `\r` is on the next statement, not the first.
    // (Read as one line, `x = 1 = 2` would be a valid chain.)
    let (text, msg) = err1("x = 1\r= 2");
    assert_eq!(text, "=");
    assert!(msg.starts_with("expected a statement"), "{msg}");
    assert_eq!(err1("x = \u{0}"), e("\u{0}", "expected an expression"));
    assert_eq!(err1("x = 1 \u{1b}"), e("\u{1b}", "unexpected `\\u{1b}`"));
}

/// A decimal point is part of one number (found by an adversarial sweep):
/// `1.2.3` read as `1.2 \cdot 0.3` before, `5. y` was an error at `y`, and
/// `2.5` in a bound an error at `5`. The caret is now under the number.
#[test]
fn malformed_numbers_are_named() {
    assert_eq!(
        err1("x = 1.2.3 y"),
        e(
            "1.2.3",
            "malformed number `1.2.3`: a number has at most one decimal point"
        )
    );
    let point = "a decimal point needs digits after it: write `5` or `5.0`";
    assert_eq!(err1("x = 5. y"), e("5.", point));
    assert_eq!(err1("x = 5.y"), e("5.", point));
    let integer = "`2.5` is not an integer: bounds, limits and subscripts are integers";
    assert_eq!(err1("x_i = y_i, 0 \\le i < 2.5"), e("2.5", integer));
    assert_eq!(err1("x = y_{2.5}"), e("2.5", integer));
    assert_eq!(err1("x = \\sum_{a=0}^{2.5} y_a"), e("2.5", integer));
    // A statement's one trailing period, and numbers that are fine.
    assert_eq!(rhs("5."), "5");
    assert_eq!(rhs("2.5 y."), "(* 2.5 y)");
    assert_eq!(rhs(".5"), "0.5");
}

/// Invisible and combining characters are named by their code point, never
/// echoed raw (a right-to-left override reorders the terminal line), and
/// the only non-ASCII space taken as spacing is the no-break space: a wide
/// U+3000 or an invisible U+2028 is an error where it stands.
#[test]
fn invisible_characters_are_named_and_only_nbsp_is_spacing() {
    assert_eq!(
        err1("x = y\u{200b} + 1"),
        e("\u{200b}", "unexpected `U+200B`")
    );
    assert_eq!(
        err1("x = y\u{202e} + 1"),
        e("\u{202e}", "unexpected `U+202E`")
    );
    assert_eq!(err1("x = y\u{301}_i"), e("\u{301}", "unexpected `U+0301`"));
    assert_eq!(
        err1("x = y +\u{3000}1"),
        e("\u{3000}", "expected an expression")
    );
    assert_eq!(
        err1("x = y\u{2028}_i"),
        e("\u{2028}", "unexpected `U+2028`")
    );
    assert_eq!(rhs("y\u{a0}+\u{a0}1"), rhs("y + 1"));
}

/// `\left` and `\right` pair up, as LaTeX requires (`\left( y )` was
/// accepted, found by an adversarial sweep); the error is at the closer.
#[test]
fn left_and_right_come_in_pairs() {
    assert_eq!(
        err1("x = \\left( y )"),
        e(
            ")",
            "`\\left(` is closed by a plain `)`: close it with `\\right`, or open it without `\\left`"
        )
    );
    assert_eq!(
        err1("x = ( y \\right)"),
        e(
            "\\right)",
            "`\\right)` closes `(`, which has no `\\left`: open it with `\\left`, or close it without `\\right`"
        )
    );
    assert_eq!(rhs("\\left( y + 1 \\right)"), rhs("(y + 1)"));
    assert_eq!(rhs("\\left[ \\left( y \\right) \\right]"), rhs("y"));
    assert_eq!(rhs("\\bigl( y \\bigr)"), rhs("y"));
}

/// An environment ends with its own name: `\begin{aligned}` ...
/// `\end{align}` does not compile in LaTeX and was accepted (found by an
/// adversarial sweep).
#[test]
fn an_environment_ends_with_its_own_name() {
    for nl in ["\n", "\r\n", "\r"] {
        let src = format!("\\begin{{aligned}}{nl}x &= y{nl}\\end{{align}}");
        assert_eq!(
            err1(&src),
            e(
                "\\end{align}",
                "`\\end{align}` closes `\\begin{aligned}` (line 1)"
            ),
            "{nl:?}"
        );
    }
    assert_eq!(ok("\\begin{aligned}\nx &= y\n\\end{aligned}").len(), 1);
}

/// Two equations on one line split by `\\` outside an `aligned` block read
/// as one chain and failed with an undeclared tensor (found by an
/// adversarial sweep). Rows that continue an equation are fine.
#[test]
fn a_row_break_outside_aligned_between_equations() {
    let msg = "`\\\\` separates the rows of an `aligned` block; outside one, put each equation on its own line";
    assert_eq!(err1("x = y \\\\ z = w"), e("\\\\", msg));
    for fine in [
        "x = y \\\\",
        "x &= 2 y \\\\ &= y + y",
        "x = y \\\\ + 1",
        "x = y \\\\ \\sum_{a=0}^{2} w_a",
    ] {
        assert_eq!(ok(fine).len(), 1, "{fine}");
    }
}
