//! Every form of the language, as exact tree shapes.

mod common;

use common::*;
use sharegrad_grammar::ast::*;

// ------------------------------------------------------------------ names

#[test]
fn labels_are_part_of_the_name() {
    assert_eq!(rhs("y^1"), "y^1");
    assert_eq!(rhs("y^{(1)}"), "y^(1)");
    assert_eq!(rhs("W^{out}"), "W^out");
    assert_eq!(rhs("y^1_i"), "y^1[i]");
    assert_eq!(rhs("y^{(1)}_{i+1}"), "y^(1)[(i + 1)]");
}

#[test]
fn greek_names() {
    assert_eq!(rhs("\\alpha"), "\\alpha");
    assert_eq!(rhs("\\beta_k"), "\\beta[k]");
    assert_eq!(rhs("\\Gamma^{2}_i"), "\\Gamma^2[i]");
    let e = equation("x = \\alpha");
    let Expr::Tensor { name, .. } = &e.rhs else {
        panic!()
    };
    assert_eq!((name.letter.as_str(), name.greek), ("alpha", true));
    assert_eq!(name.key(), "alpha");
}

#[test]
fn subscripts() {
    assert_eq!(rhs("y_i"), "y[i]");
    assert_eq!(rhs("w_0"), "w[0]");
    assert_eq!(rhs("y_{i+a-1}"), "y[(i + a - 1)]");
    assert_eq!(rhs("w_{k,c,a,b}"), "w[k,c,a,b]");
    // An unbraced subscript takes one character, like LaTeX (`y_12`, run
    // on, is an error instead: see errors.rs).
    assert_eq!(rhs("y_1 2"), "(* y[1] 2)");
    assert_eq!(rhs("y_ij"), "(* y[i] j)");
    assert_eq!(rhs("y_\\alpha"), "y[alpha]");
}

#[test]
fn superscript_after_subscript_is_a_power() {
    assert_eq!(rhs("y_i^2"), "(^ y[i] 2)");
    assert_eq!(rhs("(y^2_i)^2"), "(^ y^2[i] 2)");
    assert_eq!(rhs("y_i^{2}"), "(^ y[i] 2)");
    assert_eq!(rhs("x_i^{-1}"), "(^ x[i] (neg 1))");
    assert_eq!(rhs("x_i^{1/2}"), "(^ x[i] (/ 1 2))");
    assert_eq!(rhs("2^{10}"), "(^ 2 10)");
    assert_eq!(rhs("y_i^n"), "(^ y[i] n)");
}

// ------------------------------------------------------------------ products

#[test]
fn juxtaposition_multiplies() {
    assert_eq!(rhs("w_a y^1_{i+a-1}"), "(* w[a] y^1[(i + a - 1)])");
    assert_eq!(rhs("2 w_a"), "(* 2 w[a])");
    assert_eq!(rhs("ab"), "(* a b)");
    assert_eq!(rhs("2(a+b)"), "(* 2 (a + b))");
}

#[test]
fn operators_multiply_and_divide() {
    assert_eq!(rhs("a * b"), "(* a b)");
    assert_eq!(rhs("a \\cdot b"), "(* a b)");
    assert_eq!(rhs("a \\times b"), "(* a b)");
    assert_eq!(rhs("a / b"), "(/ a b)");
    // `/` is left associative with the same precedence as juxtaposition.
    assert_eq!(rhs("a b / c d"), "(* (/ (* a b) c) d)");
    assert_eq!(rhs("a / b / c"), "(/ (/ a b) c)");
    assert_eq!(rhs("\\frac{a}{b}"), "(/ a b)");
    assert_eq!(rhs("\\dfrac{1}{n} x"), "(* (/ 1 n) x)");
    assert_eq!(rhs("\\tfrac{a+b}{2}"), "(/ (a + b) 2)");
    assert_eq!(rhs("\\frac12"), "(/ 1 2)");
}

#[test]
fn sums_and_unary_minus() {
    assert_eq!(rhs("a + b - c"), "(a + b - c)");
    assert_eq!(rhs("-a"), "(neg a)");
    assert_eq!(rhs("-a b"), "(neg (* a b))");
    assert_eq!(rhs("-a + b"), "(- a + b)");
    assert_eq!(rhs("a - -b"), "(a - (neg b))");
    assert_eq!(rhs("--a"), "(neg (neg a))");
    assert_eq!(rhs("a + (b - c)"), "(a + (b - c))");
}

#[test]
fn numbers() {
    assert_eq!(rhs("1"), "1");
    assert_eq!(rhs("0.5"), "0.5");
    assert_eq!(rhs(".5"), "0.5");
    assert_eq!(rhs("2.0 a"), "(* 2 a)");
    let e = equation("x = 0.25");
    assert_eq!(
        e.rhs,
        Expr::Num {
            value: 0.25,
            span: Span::new(4, 8)
        }
    );
}

#[test]
fn groups_leave_no_node() {
    for g in [
        "(a + b)",
        "\\left( a + b \\right)",
        "\\left[ a + b \\right]",
        "[a + b]",
        "{a + b}",
        "((a + b))",
        // The fixed sizes papers use instead of \left ... \right.
        "\\bigl( a + b \\bigr)",
        "\\Big( a + b \\Big)",
        "\\Biggl[ a + b \\Biggr]",
        "\\bigg( a + b \\bigg)",
    ] {
        assert_eq!(rhs(g), "(a + b)", "{g}");
    }
    assert_eq!(rhs("(a)"), "a");
}

// ------------------------------------------------------------------ indices

#[test]
fn index_expressions() {
    let i = |s: &str| {
        let e = equation(&format!("x = y_{{{s}}}"));
        match &e.rhs {
            Expr::Tensor { subscripts, .. } => {
                subscripts.iter().map(int).collect::<Vec<_>>().join(",")
            }
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(i("i+a-1"), "(i + a - 1)");
    assert_eq!(i("2i+a"), "((* 2 i) + a)");
    assert_eq!(i("i+2a"), "(i + (* 2 a))");
    assert_eq!(i("s i + d a - p"), "((* s i) + (* d a) - p)");
    assert_eq!(i("n-2"), "(n - 2)");
    assert_eq!(i("2n+1"), "((* 2 n) + 1)");
    assert_eq!(i("nm"), "(* n m)");
    assert_eq!(i("-i"), "(neg i)");
    assert_eq!(i("-i+1"), "(- i + 1)");
    assert_eq!(i("2(i+1)"), "(* 2 (i + 1))");
    assert_eq!(i("2 \\cdot i"), "(* 2 i)");
    assert_eq!(i("\\lfloor n/2 \\rfloor"), "(floor n 2)");
    assert_eq!(i("\\lceil n/2 \\rceil"), "(ceil n 2)");
    assert_eq!(
        i("\\left\\lfloor (n-1)/2 \\right\\rfloor"),
        "(floor (n - 1) 2)"
    );
    assert_eq!(i("\\lfloor \\frac{n}{2} \\rfloor"), "(floor n 2)");
    assert_eq!(i("i/2"), "(/ i 2)");
    assert_eq!(i("i, j+1"), "i,(j + 1)");
}

#[test]
fn bounds() {
    assert_eq!(
        ok("input y_{c,i}, 0 \\le c < C, 1 \\leq i \\le n-2"),
        ["input y[c,i], 0<=c<C, 1<=i<=(n - 2)"]
    );
    assert_eq!(
        ok("input y_i, 0 < i < 2n+1"),
        ["input y[i], 0<i<((* 2 n) + 1)"]
    );
    assert_eq!(
        ok("input y_i, 0 \\le i < \\lfloor n/2 \\rfloor"),
        ["input y[i], 0<=i<(floor n 2)"]
    );
    assert_eq!(ok("input y_i, 0 \\le i < \\mu"), ["input y[i], 0<=i<mu"]);
}

// ------------------------------------------------------------------ reductions

#[test]
fn reduction_binders() {
    assert_eq!(rhs("\\sum_{a=1}^{3} w_a"), "(sum{1<=a<=3} w[a])");
    assert_eq!(rhs("\\sum_{a=1}^3 w_a"), "(sum{1<=a<=3} w[a])");
    assert_eq!(rhs("\\sum^{3}_{a=1} w_a"), "(sum{1<=a<=3} w[a])");
    assert_eq!(rhs("\\sum_a w_a"), "(sum{a} w[a])");
    assert_eq!(rhs("\\sum_{a} w_a"), "(sum{a} w[a])");
    assert_eq!(rhs("\\sum_{a,b} w_{a,b}"), "(sum{a,b} w[a,b])");
    assert_eq!(rhs("\\sum_{c,a,b} w_{c,a,b}"), "(sum{c,a,b} w[c,a,b])");
    assert_eq!(rhs("\\sum_{0 \\le a < K} w_a"), "(sum{0<=a<K} w[a])");
    assert_eq!(
        rhs("\\sum_{0 \\le a < K, 0 \\le b < K} w_{a,b}"),
        "(sum{0<=a<K,0<=b<K} w[a,b])"
    );
    assert_eq!(rhs("\\sum\\limits_{a} w_a"), "(sum{a} w[a])");
    assert_eq!(rhs("\\sum_{a=0}^{n-1} w_a"), "(sum{0<=a<=(n - 1)} w[a])");
    assert_eq!(
        rhs("\\max_{a=0}^{1} x_{c,2i+a}"),
        "(max{0<=a<=1} x[c,((* 2 i) + a)])"
    );
    assert_eq!(rhs("\\max_a x_a"), "(max{a} x[a])");
    assert_eq!(rhs("\\max_{0 \\le a < 2} x_a"), "(max{0<=a<2} x[a])");
}

#[test]
fn reduction_scope_is_the_rest_of_the_product() {
    assert_eq!(
        rhs("\\sum_a w_a y_{i+a} + b"),
        "((sum{a} (* w[a] y[(i + a)])) + b)"
    );
    assert_eq!(rhs("2 \\sum_a w_a y_a"), "(* 2 (sum{a} (* w[a] y[a])))");
    assert_eq!(rhs("\\sum_a w_a y_a / n"), "(sum{a} (/ (* w[a] y[a]) n))");
    assert_eq!(rhs("a / \\sum_b c_b d"), "(/ a (sum{b} (* c[b] d)))");
    assert_eq!(rhs("\\sum_a \\sum_b f_{a,b}"), "(sum{a} (sum{b} f[a,b]))");
    assert_eq!(
        rhs("a \\sum_a b_a \\sum_b c_b"),
        "(* a (sum{a} (* b[a] (sum{b} c[b]))))"
    );
    assert_eq!(rhs("\\sum_a (w_a + b) - c"), "((sum{a} (w[a] + b)) - c)");
    assert_eq!(rhs("-\\sum_a w_a"), "(neg (sum{a} w[a]))");
    assert_eq!(rhs("\\sum_a w_a \\cdot y_a"), "(sum{a} (* w[a] y[a]))");
}

// ------------------------------------------------------------------ functions

#[test]
fn builtin_calls() {
    assert_eq!(rhs("\\exp(x_i)"), "(exp x[i])");
    assert_eq!(rhs("\\log(p_k)"), "(log p[k])");
    assert_eq!(rhs("\\ln(p_k)"), "(log p[k])");
    assert_eq!(rhs("\\tanh(z)"), "(tanh z)");
    assert_eq!(rhs("\\sigma(z_k)"), "(sigma z[k])");
    assert_eq!(rhs("\\sqrt{x}"), "(sqrt x)");
    assert_eq!(rhs("\\sqrt{a + b}"), "(sqrt (a + b))");
    assert_eq!(rhs("\\operatorname{relu}(x)"), "(relu x)");
    assert_eq!(rhs("\\operatorname{softplus}(x)"), "(softplus x)");
    assert_eq!(rhs("\\mathrm{relu}(x)"), "(relu x)");
    assert_eq!(rhs("\\operatorname{ReLU}(x)"), "(relu x)");
}

#[test]
fn builtin_argument_forms() {
    assert_eq!(rhs("\\exp\\left(a + b\\right)"), "(exp (a + b))");
    assert_eq!(rhs("\\exp{a + b}"), "(exp (a + b))");
    assert_eq!(rhs("\\log p_k"), "(log p[k])");
    assert_eq!(rhs("\\log p_k q"), "(* (log p[k]) q)");
    assert_eq!(rhs("\\exp x^2_i"), "(exp x^2[i])");
    assert_eq!(rhs("\\exp y_i^2"), "(exp (^ y[i] 2))");
    assert_eq!(rhs("\\log \\sigma(z)"), "(log (sigma z))");
    assert_eq!(rhs("\\sqrt 2"), "(sqrt 2)");
    // The optional index of a root: the n-th root is the power 1/n.
    assert_eq!(rhs("\\sqrt[3]{y_i}"), "(^ y[i] (/ 1 3))");
    assert_eq!(rhs("\\sqrt [4] {a + b}"), "(^ (a + b) (/ 1 4))");
    assert_eq!(rhs("\\sqrt[3]x"), "(^ x (/ 1 3))");
    assert_eq!(rhs("\\log \\sqrt[3]{x}"), "(log (^ x (/ 1 3)))");
    assert_eq!(rhs("\\sqrt[2]{x} y"), "(* (^ x (/ 1 2)) y)");
    assert_eq!(
        rhs("\\log [x + 1]"),
        "(log (x + 1))",
        "other functions keep `[`"
    );
    assert_eq!(rhs("\\exp(x)^2"), "(^ (exp x) 2)");
    assert_eq!(rhs("\\tanh^2(x)"), "(^ (tanh x) 2)");
    assert_eq!(rhs("\\tanh^{2}(x)"), "(^ (tanh x) 2)");
    assert_eq!(rhs("\\sigma^2(x)"), "(^ (sigma x) 2)");
    assert_eq!(rhs("1 - \\tanh(x)"), "(1 - (tanh x))");
    // Square brackets, sized or not, are one bare argument.
    assert_eq!(rhs("\\ln [a + b]"), "(log (a + b))");
    assert_eq!(rhs("\\ln \\left[a + b\\right]"), "(log (a + b))");
    assert_eq!(rhs("\\ln \\left[a + b\\right] c"), "(* (log (a + b)) c)");
}

#[test]
fn sigma_without_parentheses_is_a_tensor() {
    assert_eq!(rhs("\\sigma_k"), "\\sigma[k]");
    assert_eq!(rhs("\\sigma"), "\\sigma");
    assert_eq!(rhs("\\sigma_k (a + b)"), "(* \\sigma[k] (a + b))");
    assert_eq!(rhs("\\sigma^{(1)}_k"), "\\sigma^(1)[k]");
    assert_eq!(rhs("\\sigma x"), "(* \\sigma x)");
}

#[test]
fn max_with_parentheses_is_binary() {
    assert_eq!(rhs("\\max(a, b)"), "(max a b)");
    assert_eq!(rhs("\\max(0, x_i)"), "(max 0 x[i])");
    assert_eq!(rhs("\\max\\left(0, x_i\\right)"), "(max 0 x[i])");
    let e = equation("x = \\max(a, b)");
    assert!(matches!(
        e.rhs,
        Expr::Call {
            callee: Callee::Builtin(Builtin::Max),
            ..
        }
    ));
}

#[test]
fn user_calls() {
    assert_eq!(rhs("h(x^1_i)"), "(h! x^1[i])");
    assert_eq!(rhs("h\\left(w_0 y^0_{i}\\right)"), "(h! (* w[0] y^0[i]))");
    assert_eq!(rhs("f(a, b)"), "(f! a b)");
    assert_eq!(rhs("w_1 h(x)"), "(* w[1] (h! x))");
    // With a label or subscript it is a tensor times a group.
    assert_eq!(rhs("h^1(x)"), "(* h^1 x)");
    assert_eq!(rhs("h_i(x)"), "(* h[i] x)");
    let e = equation("y = h(z)");
    let Expr::Call {
        callee: Callee::User(f),
        callee_span,
        span,
        ..
    } = &e.rhs
    else {
        panic!()
    };
    assert_eq!(f.name, "h");
    assert_eq!(*callee_span, Span::new(4, 5));
    assert_eq!(*span, Span::new(4, 8));
}

// ------------------------------------------------------------------ statements

#[test]
fn declarations() {
    assert_eq!(
        ok("input  y^0_i,  0 \\le i < n\nparam  w_a,    0 \\le a \\le 3\nparam b\nconst t_i, 0 \\le i < n"),
        [
            "input y^0[i], 0<=i<n",
            "param w[a], 0<=a<=3",
            "param b",
            "const t[i], 0<=i<n"
        ]
    );
    let (f, _) = sharegrad_grammar::parse("param w_a, 0 \\le a \\le 3");
    let Item::Decl(d) = &f.items[0] else { panic!() };
    assert_eq!(d.kind, DeclKind::Param);
    assert_eq!(d.kind_span, Span::new(0, 5));
    assert_eq!(d.name.span, Span::new(6, 7));
    assert_eq!(d.bounds[0].span, Span::new(11, 24));
    assert_eq!(d.span, Span::new(0, 24));
}

#[test]
fn outputs() {
    assert_eq!(ok("output y^2"), ["output y^2"]);
    assert_eq!(ok("output y^2, E"), ["output y^2, E"]);
    assert_eq!(ok("output \\alpha"), ["output \\alpha"]);
}

#[test]
fn function_definitions() {
    assert_eq!(ok("h(z) = \\tanh(z)"), ["h(z) := (tanh z)"]);
    assert_eq!(ok("f(a, b) = a b"), ["f(a,b) := (* a b)"]);
    assert_eq!(ok("g(z) = z^2"), ["g(z) := z^2"]);
    assert_eq!(ok("g(z) = {z}^2"), ["g(z) := (^ z 2)"]);
    let (f, _) = sharegrad_grammar::parse("h(z) = z");
    let Item::FnDef(d) = &f.items[0] else {
        panic!()
    };
    assert_eq!(d.params[0].span, Span::new(2, 3));
    assert_eq!(d.span, Span::new(0, 8));
}

#[test]
fn equations_with_bounds_and_chains() {
    assert_eq!(
        ok("x_i = a_i + b, 0 \\le i < n"),
        ["x[i] := (a[i] + b), 0<=i<n"]
    );
    assert_eq!(ok("x = a = b = c"), ["x := a = b = c"]);
    assert_eq!(ok("E = 1"), ["E := 1"]);
    assert_eq!(ok("x_{k,i} = y_{k,i}"), ["x[k,i] := y[k,i]"]);
}

// ------------------------------------------------------------------ layout

#[test]
fn wrappers() {
    for src in [
        "\\( x_i = a_i \\)",
        "\\[ x_i = a_i \\]",
        "$x_i = a_i$",
        "$$ x_i = a_i $$",
        "\\[ x_i = a_i. \\]",
        "x_i = a_i.",
        "\\[\\begin{aligned} x_i &= a_i \\end{aligned}\\]",
        "\\begin{aligned} x_i &= a_i \\\\ \\end{aligned}",
    ] {
        assert_eq!(ok(src), ["x[i] := a[i]"], "{src}");
    }
}

#[test]
fn spacing_commands_are_ignored() {
    assert_eq!(
        rhs("a\\,b \\; c\\:d\\!e \\quad f \\qquad g~h\\ i"),
        "(* a b c d e f g h i)"
    );
    assert_eq!(rhs("\\displaystyle \\sum_a w_a"), "(sum{a} w[a])");
}

#[test]
fn statements_split_on_lines_and_semicolons() {
    assert_eq!(ok("x = a; y = b\nz = c;"), ["x := a", "y := b", "z := c"]);
    assert_eq!(ok("x = a % comment ; y = b\n% whole line\n\n"), ["x := a"]);
    // `\%` is not a comment (and not a command of the language).
    assert_eq!(err1("x = 50\\% a").1, "unknown command `\\%`");
}

#[test]
fn line_breaks_inside_brackets_continue() {
    assert_eq!(ok("x = (a\n + b)\ny = c"), ["x := (a + b)", "y := c"]);
    assert_eq!(ok("x = \\left(a\n + b\\right)"), ["x := (a + b)"]);
    assert_eq!(ok("x = \\frac{a\n}{b}"), ["x := (/ a b)"]);
    assert_eq!(ok("\\[ x =\n a \\]"), ["x := a"]);
    assert_eq!(ok("$x =\n a$"), ["x := a"]);
    assert_eq!(
        ok("\\begin{aligned}\nx &= a \\\\\n  &= b\n\\end{aligned}\ny = c"),
        ["x := a = b", "y := c"]
    );
    assert_eq!(ok("x = (a % (not counted\n + b)"), ["x := (a + b)"]);
}

// ------------------------------------------------------------------ spans

#[test]
fn spans_cover_exactly_their_text() {
    let src = "% header\nx^2_i = \\sum_{a=1}^{3} w_a y^1_{i+a-1} + 2 \\exp(b)^2";
    let e = equation(src);
    let at = |s: Span| &src[s.start..s.end];
    assert_eq!(at(e.lhs.span), "x^2");
    assert_eq!(at(e.lhs_span), "x^2_i");
    assert_eq!(
        at(e.span),
        "x^2_i = \\sum_{a=1}^{3} w_a y^1_{i+a-1} + 2 \\exp(b)^2"
    );
    let Expr::Sum(terms, sum_span) = &e.rhs else {
        panic!()
    };
    assert_eq!(
        at(*sum_span),
        "\\sum_{a=1}^{3} w_a y^1_{i+a-1} + 2 \\exp(b)^2"
    );
    let Expr::Reduce {
        binders,
        body,
        span,
        ..
    } = &terms[0].1
    else {
        panic!()
    };
    assert_eq!(at(*span), "\\sum_{a=1}^{3} w_a y^1_{i+a-1}");
    assert_eq!(at(binders[0].span), "a=1");
    assert_eq!(at(body.span()), "w_a y^1_{i+a-1}");
    let Expr::Product(fs, _) = &**body else {
        panic!()
    };
    assert_eq!(at(fs[1].span()), "y^1_{i+a-1}");
    let Expr::Tensor {
        subscripts, name, ..
    } = &fs[1]
    else {
        panic!()
    };
    assert_eq!(at(name.span), "y^1");
    assert_eq!(at(subscripts[0].span()), "i+a-1");
    let IntExpr::Sum(it, _) = &subscripts[0] else {
        panic!()
    };
    assert_eq!(at(it[2].1.span()), "1");
    let Expr::Product(fs2, p2) = &terms[1].1 else {
        panic!()
    };
    assert_eq!(at(*p2), "2 \\exp(b)^2");
    let Expr::Pow(call, exp, pow_span) = &fs2[1] else {
        panic!()
    };
    assert_eq!(at(*pow_span), "\\exp(b)^2");
    assert_eq!(at(call.span()), "\\exp(b)");
    assert_eq!(at(exp.span()), "2");
    let Expr::Call { callee_span, .. } = &**call else {
        panic!()
    };
    assert_eq!(at(*callee_span), "\\exp");
}

#[test]
fn spans_with_groups_negation_and_trailing_space() {
    let src = "x = -(a + b) c  ,  0 \\le i < n";
    let e = equation(src);
    let at = |s: Span| &src[s.start..s.end];
    assert_eq!(at(e.rhs.span()), "-(a + b) c");
    let Expr::Neg(inner, _) = &e.rhs else {
        panic!()
    };
    assert_eq!(at(inner.span()), "(a + b) c");
    let Expr::Product(fs, _) = &**inner else {
        panic!()
    };
    assert_eq!(at(fs[0].span()), "a + b");
    assert_eq!(at(e.bounds[0].span), "0 \\le i < n");
    assert_eq!(at(e.lhs_span), "x");
}

#[test]
fn spans_are_relative_to_the_whole_file() {
    let src = "input y_i, 0 \\le i < n\n\n   y = \\frac{1}{2}";
    let (f, e) = sharegrad_grammar::parse(src);
    assert!(e.is_empty());
    let Item::Equation(eq) = &f.items[1] else {
        panic!()
    };
    assert_eq!(&src[eq.span.start..eq.span.end], "y = \\frac{1}{2}");
    assert_eq!(&src[eq.rhs.span().start..eq.rhs.span().end], "\\frac{1}{2}");
}

#[test]
fn an_aligned_block_may_hold_several_equations() {
    // A row that starts with a new left-hand side is a new statement; rows
    // that start with `&` continue the equation above.
    assert_eq!(
        ok("\\begin{aligned}\nx_i &= 2 y_i \\\\\nu_i &= x_i\n\\end{aligned}"),
        ["x[i] := (* 2 y[i])", "u[i] := x[i]"]
    );
    assert_eq!(
        ok("\\[\\begin{aligned}\nx &= a \\\\\n  &= b \\\\\nu &= (c\n + d) \\\\\n\\end{aligned}\\]\ny = e"),
        ["x := a = b", "u := (c + d)", "y := e"]
    );
    assert_eq!(
        ok("$$\\begin{aligned} x &= a \\\\ u &= b \\end{aligned}$$"),
        ["x := a", "u := b"]
    );
    // An error in one equation leaves the other parsed, at the right place.
    let src = "\\begin{aligned}\nu &= \\tanh(a +) \\\\\nv &= b\n\\end{aligned}";
    let (file, errors) = sharegrad_grammar::parse(src);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(&src[errors[0].span.start..errors[0].span.start + 1], ")");
    assert_eq!(file.items.len(), 1);
}

#[test]
fn a_reduction_is_a_bare_function_argument() {
    // Log-sum-exp as papers write it: the reduction takes the rest of the
    // product, and a `+` ends the argument.
    assert_eq!(
        rhs("\\log \\sum_k \\exp(x_k)"),
        rhs("\\log(\\sum_k \\exp(x_k))")
    );
    assert_eq!(
        rhs("\\log \\sum_k a_k b + c"),
        rhs("\\log(\\sum_k a_k b) + c")
    );
    assert_eq!(
        rhs("\\sqrt \\sum_{i} x_i^2 / n"),
        rhs("\\sqrt{\\sum_{i} x_i^2 / n}")
    );
}
