//! The equation language of sharegrad: a pest grammar and the syntax tree
//! it builds.
//!
//! [`parse`] turns the text of an `.eq` file (or a macro string) into an
//! [`ast::File`] and a list of [`ast::SyntaxError`]s, each with a byte range.
//! It never panics and reports every independent error at once: a file is
//! split into statements (one per line, or separated by `;`), and each
//! statement is parsed on its own.
//!
//! ```
//! use sharegrad_grammar::{ast, parse};
//!
//! let (file, errors) = parse(
//!     "param w_a, 0 \\le a \\le 3\n\
//!      x^2_i = \\sum_{a=1}^{3} w_a y^1_{i+a-1}",
//! );
//! assert!(errors.is_empty());
//! let ast::Item::Equation(eq) = &file.items[1] else { panic!() };
//! assert_eq!(eq.lhs.key(), "x^2");
//! assert!(matches!(eq.rhs, ast::Expr::Reduce { op: ast::ReduceOp::Sum, .. }));
//! ```
//!
//! Pest stays inside this crate: nothing in the public API mentions it.

#![warn(missing_docs)]

pub mod ast;
mod build;
mod split;

use ast::{File, Span, SyntaxError};
use pest::Parser as _;

pub use build::{MAX_AST_DEPTH, MAX_INDEX_INT};
pub use split::MAX_NESTING;

mod parser {
    #![allow(missing_docs)]
    #[derive(pest_derive::Parser)]
    #[grammar = "equations.pest"]
    pub(crate) struct EqParser;
}

use parser::{EqParser, Rule};

/// Parses a whole file. Statements with a syntax error are left out of
/// [`File::items`]; the errors come back in file order, offsets relative to
/// `src`.
pub fn parse(src: &str) -> (File, Vec<SyntaxError>) {
    let mut text = split::blank_comments(src);
    split::separate_aligned_equations(&mut text);
    let mut errors = Vec::new();
    let mut items = Vec::new();
    for stmt in split::split(&text, &mut errors) {
        if let Some(item) = parse_statement(&text, stmt, &mut errors) {
            items.push(item);
        }
    }
    errors.sort_by_key(|e| (e.span.start, e.span.end));
    (File { items }, errors)
}

/// Statements nested deeper than this are parsed on a thread of their own
/// with a large stack: pest and the tree builder recurse once per bracket,
/// and unoptimised builds use a lot of stack per level.
const INLINE_NESTING: usize = 24;

/// Stack for deeply nested statements.
const DEEP_STACK: usize = 256 << 20;

/// Parses the statement at `range` of the comment-free `text`.
fn parse_statement(text: &str, range: Span, errors: &mut Vec<SyntaxError>) -> Option<ast::Item> {
    let stmt = &text[range.start..range.end];
    let base = range.start;
    let depth = match split::check_nesting(stmt, base) {
        Ok(depth) => depth,
        Err(e) => {
            errors.push(e);
            return None;
        }
    };
    let before = errors.len();
    split::check_commands(stmt, base, errors);
    split::check_run_on_scripts(stmt, base, errors);
    split::check_left_right(stmt, base, errors);
    split::check_row_breaks(stmt, base, errors);
    if errors.len() > before {
        return None;
    }
    let result = if depth <= INLINE_NESTING {
        parse_checked(stmt, base)
    } else {
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("sharegrad-grammar-deep".to_owned())
                .stack_size(DEEP_STACK)
                .spawn_scoped(scope, || parse_checked(stmt, base))
                .ok()
                .and_then(|handle| handle.join().ok())
        })
        .unwrap_or_else(|| {
            Err(SyntaxError {
                span: Span::new(base, base + stmt.len()),
                message: format!("expression nested too deeply ({depth} levels of brackets)"),
            })
        })
    };
    match result {
        Ok(item) => Some(item),
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

/// Runs pest and builds the tree of one statement that passed the
/// pre-checks.
fn parse_checked(stmt: &str, base: usize) -> Result<ast::Item, SyntaxError> {
    let mut pairs =
        EqParser::parse(Rule::statement_file, stmt).map_err(|e| convert_error(&e, stmt, base))?;
    match pairs.next() {
        Some(file) => (build::Builder { base }).statement(file),
        None => Err(SyntaxError {
            span: Span::new(base, base),
            message: "expected a statement".to_owned(),
        }),
    }
}

/// The range of the token at `pos` in `stmt`: a backslash command, one
/// character, or nothing at the end.
fn token_at(stmt: &str, pos: usize) -> (usize, usize) {
    let mut pos = pos.min(stmt.len());
    while !stmt.is_char_boundary(pos) {
        pos -= 1;
    }
    if pos == stmt.len() {
        return (pos, pos);
    }
    if stmt.as_bytes()[pos] == b'\\' {
        return (pos, split::command_end(stmt, pos));
    }
    let len = stmt[pos..].chars().next().map_or(0, char::len_utf8);
    (pos, pos + len)
}

/// What a rule means to a user, in the words of an error message.
fn describe(rule: Rule) -> Option<&'static str> {
    use Rule::*;
    Some(match rule {
        eq => "`=`",
        comma => "`,`",
        rparen => "`)`",
        rbrack => "`]`",
        lbrace => "`{`",
        rbrace => "`}`",
        rfloor => "`\\rfloor`",
        rceil => "`\\rceil`",
        rel | le | lt => "`<` or `\\le`",
        expr | term | product | factor | number | sigma_call | sigma_tensor | call | call_nb
        | max_call | user_call | frac | group | tensor | bare_arg | brace_arg | reduce
        | root_head | sqrt_kw => "an expression",
        frac_arg => "a `{`-group",
        paren_args => "`(`",
        int_expr | int_term | int_lit | floor | ceil | int_group | int_frac | int_frac_arg => {
            "an index expression"
        }
        ident | latin => "a letter",
        greek | tensor_name | lhs => "a tensor name",
        sub_body => "a subscript",
        label_body | pow_body | limit_body | simple_power => "a superscript",
        label_text | label_char => "a label",
        binders | binder | binder_range | binder_eq => "a reduction variable",
        sub_limits => "`_`",
        sup_limit => "`^`",
        bound => "a bound like `0 \\le i < n`",
        op_word => "`relu` or `softplus`",
        env_name => "`aligned`",
        end_env => "`\\end{aligned}`",
        statement_file | decl_kw | output_kw | decl | output | fndef | equation => "a statement",
        _ => return None,
    })
}

/// The parse stopped at `stmt[s..t]` right after a number's decimal point:
/// `5. y_i` (no digits after the point) or `2.5` where an integer is wanted
/// (`0 \le i < 2.5`, `y_{2.5}`). The error is about the number, not the
/// token after it.
fn decimal_point_error(stmt: &str, s: usize, t: usize, base: usize) -> Option<SyntaxError> {
    if s == t {
        return None;
    }
    let not_integer = |start: usize, end: usize| SyntaxError {
        span: Span::new(base + start, base + end),
        message: format!(
            "`{}` is not an integer: bounds, limits and subscripts are integers",
            &stmt[start..end]
        ),
    };
    let digits_from = |k: usize| {
        stmt[k..].len()
            - stmt[k..]
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .len()
    };
    // `y_{2.5}`: stopped at the point itself, digits on both sides.
    let lead = stmt[..s].len()
        - stmt[..s]
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .len();
    if lead > 0 && stmt[s..].starts_with('.') {
        let frac = digits_from(s + 1);
        if frac > 0 {
            return Some(not_integer(s - lead, s + 1 + frac));
        }
    }
    // `2.5` where an integer is wanted, or `5. y`: stopped after the point.
    let before = &stmt[..s];
    let trimmed = before.trim_end();
    let head = trimmed.strip_suffix('.')?;
    let start = head.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if start == head.len() {
        return None;
    }
    let digits_after = digits_from(s);
    Some(if trimmed.len() == before.len() && digits_after > 0 {
        not_integer(start, s + digits_after)
    } else {
        let whole = &stmt[start..head.len()];
        SyntaxError {
            span: Span::new(base + start, base + trimmed.len()),
            message: format!(
                "a decimal point needs digits after it: write `{whole}` or `{whole}.0`"
            ),
        }
    })
}

/// Characters that print as nothing, as space, or on top of the one before:
/// format characters (zero-width space, direction overrides, BOM),
/// combining marks, and the spaces other than ASCII ones.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{300}'..='\u{36f}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200f}'
            | '\u{2028}'..='\u{202f}'
            | '\u{205f}'..='\u{2064}'
            | '\u{3000}'
            | '\u{feff}'
    )
}

/// Turns a pest error into one message in the user's terms.
fn convert_error(e: &pest::error::Error<Rule>, stmt: &str, base: usize) -> SyntaxError {
    let pos = match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let (s, t) = token_at(stmt, pos);
    if let Some(e) = decimal_point_error(stmt, s, t, base) {
        return e;
    }
    let span = Span::new(base + s, base + t);
    let found = if s == t {
        "the end of the statement".to_owned()
    } else {
        // A control character is named by its escape, an invisible or
        // combining one by its code point, never echoed raw (a right-to-left
        // override would reorder the rest of the terminal line).
        let token: String = stmt[s..t]
            .chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else if invisible(c) {
                    format!("U+{:04X}", u32::from(c))
                } else {
                    c.to_string()
                }
            })
            .collect();
        format!("`{token}`")
    };
    let message = match &e.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            let ends = positives.iter().any(|r| {
                matches!(
                    r,
                    Rule::EOI
                        | Rule::close_paren_math
                        | Rule::close_bracket_math
                        | Rule::close_dollar
                        | Rule::close_dollars
                )
            });
            let mut wanted: Vec<&str> = Vec::new();
            for r in positives {
                if let Some(d) = describe(*r) {
                    if !wanted.contains(&d) {
                        wanted.push(d);
                    }
                }
            }
            // A continuation is implied by the wider category.
            if wanted.contains(&"an index expression") {
                wanted.retain(|w| *w != "a letter");
            }
            if wanted.contains(&"an expression") {
                wanted.retain(|w| !matches!(*w, "a tensor name" | "a letter" | "`_`" | "`^`"));
            }
            if wanted.contains(&"an expression") || wanted.contains(&"an index expression") {
                wanted.retain(|w| *w != "`{`");
            }
            if wanted.contains(&"a statement") {
                "expected a statement: `input`, `param`, `const`, `output`, \
                 `h(z) = ...` or `x_i = ...`"
                    .to_owned()
            } else if ends || wanted.is_empty() {
                format!("unexpected {found}")
            } else {
                // Punctuation first, then categories.
                wanted.sort_by_key(|w| !w.starts_with('`'));
                format!("expected {}", join_or(&wanted))
            }
        }
        pest::error::ErrorVariant::CustomError { message } => {
            if message.contains("limit") {
                format!("expression nested too deeply (more than {MAX_NESTING} levels)")
            } else {
                message.to_lowercase()
            }
        }
    };
    SyntaxError { span, message }
}

/// `a`, `a or b`, `a, b or c`.
fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}
