//! Everything that happens before pest runs: comments, splitting a file into
//! statements, the bracket-nesting limit, and unknown backslash commands.
//!
//! All of it is a single left-to-right scan over bytes, so it cannot
//! overflow the stack, and every range it returns starts and ends on an
//! ASCII byte, hence on a `char` boundary.

use crate::ast::{Span, SyntaxError};

/// Brackets deeper than this are rejected before pest sees the statement:
/// pest parses brackets recursively.
pub const MAX_NESTING: usize = 200;

/// `src` with every `%` comment replaced by spaces, byte for byte, so that
/// offsets stay valid. `\%` is not a comment. A comment ends at any line
/// break (`\n`, `\r\n` or a lone `\r`). A leading byte-order mark is
/// blanked too.
pub(crate) fn blank_comments(src: &str) -> String {
    let mut bytes = src.as_bytes().to_vec();
    let mut i = 0;
    if let Some(bom) = bytes.get_mut(..3).filter(|b| **b == [0xEF, 0xBB, 0xBF]) {
        bom.fill(b' ');
        i = 3;
    }
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'%' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    bytes[i] = b' ';
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    // Whole characters between an ASCII `%` and an ASCII line break (and
    // the whole byte-order mark) were replaced, so this cannot fail; fall
    // back to the source just in case.
    String::from_utf8(bytes).unwrap_or_else(|_| src.to_owned())
}

/// An `aligned` block that holds several equations (a row after `\\` that
/// does not start with `&`, as in `x_i &= a \\ u_i &= b`) becomes one
/// statement per equation: its `\begin`/`\end` and a directly enclosing
/// `\[ \]`, `\( \)`, `$$ $$` or `$ $` are blanked, the `\\` before each
/// new equation becomes `;`, and its line breaks spaces. Byte offsets stay
/// as they were (diagnostics read lines off the original source). A block
/// whose rows all continue one equation (`&= ...`, the seed's chain) is
/// left alone.
pub(crate) fn separate_aligned_equations(text: &mut String) {
    let mut b = std::mem::take(text).into_bytes();
    let mut i = 0;
    while let Some(found) = find(&b, i, b"\\begin") {
        let Some((_, _, body)) = env_group(&b, found + 6) else {
            i = found + 6;
            continue;
        };
        let Some(end) = find(&b, body, b"\\end") else {
            break;
        };
        let Some((_, _, after)) = env_group(&b, end + 4) else {
            break;
        };
        i = after;
        // `\\` at bracket depth 0 inside the block, followed by a row that
        // does not start with `&` (and is not the block's end).
        let mut seps = Vec::new();
        let (mut depth, mut k) = (0usize, body);
        while k < end {
            match b[k] {
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => depth = depth.saturating_sub(1),
                b'\\' if b.get(k + 1) == Some(&b'\\') => {
                    let next = skip_space(&b, k + 2);
                    if depth == 0 && next < end && b[next] != b'&' {
                        seps.push(k);
                    }
                    k += 2;
                    continue;
                }
                b'\\' => {
                    k += 2;
                    continue;
                }
                _ => {}
            }
            k += 1;
        }
        if seps.is_empty() {
            continue;
        }
        for sep in seps {
            b[sep] = b';';
            b[sep + 1] = b' ';
        }
        for c in &mut b[body..end] {
            if *c == b'\n' || *c == b'\r' {
                *c = b' ';
            }
        }
        b[found..body].fill(b' ');
        b[end..after].fill(b' ');
        // A math wrapper right around the block goes too.
        let before = b[..found].iter().rposition(|c| !c.is_ascii_whitespace());
        let close = skip_space(&b, after);
        let pairs: [(&[u8], &[u8]); 4] = [
            (b"\\[", b"\\]"),
            (b"\\(", b"\\)"),
            (b"$$", b"$$"),
            (b"$", b"$"),
        ];
        if let Some(last) = before {
            for (open, shut) in pairs {
                let start = (last + 1).checked_sub(open.len());
                let (Some(start), true) = (start, b[close..].starts_with(shut)) else {
                    continue;
                };
                if &b[start..=last] == open {
                    b[start..=last].fill(b' ');
                    b[close..close + shut.len()].fill(b' ');
                    break;
                }
            }
        }
    }
    // Only ASCII bytes were replaced by ASCII bytes.
    *text = String::from_utf8(b).unwrap_or_default();
}

fn find(b: &[u8], from: usize, what: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(what.len())
        .position(|w| w == what)
        .map(|p| p + from)
}

fn skip_space(b: &[u8], mut k: usize) -> usize {
    while k < b.len() && b[k].is_ascii_whitespace() {
        k += 1;
    }
    k
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Open {
    Paren,
    Brack,
    Brace,
    MathParen,
    MathBrack,
    Env,
}

impl Open {
    fn name(self) -> &'static str {
        match self {
            Open::Paren => "(",
            Open::Brack => "[",
            Open::Brace => "{",
            Open::MathParen => "\\(",
            Open::MathBrack => "\\[",
            Open::Env => "\\begin",
        }
    }
}

/// The name of the backslash command starting at `i` (which holds `\`):
/// its letters, or the one character after the backslash. Returns the end
/// of the command (exclusive).
pub(crate) fn command_end(text: &str, i: usize) -> usize {
    let b = text.as_bytes();
    let mut j = i + 1;
    if j < b.len() && b[j].is_ascii_alphabetic() {
        while j < b.len() && b[j].is_ascii_alphabetic() {
            j += 1;
        }
        j
    } else if j < b.len() {
        // One character, possibly multi-byte.
        j + text[j..].chars().next().map_or(1, char::len_utf8)
    } else {
        j
    }
}

/// The line number (from 1) of byte `at`.
fn line_of(text: &str, at: usize) -> usize {
    let b = text.as_bytes();
    let breaks = (0..at)
        .filter(|&k| b[k] == b'\n' || (b[k] == b'\r' && b.get(k + 1) != Some(&b'\n')))
        .count();
    1 + breaks
}

/// After `\begin` or `\end` at `after`: optional spaces, `{name}`. Returns
/// the name's range and the end of the group.
fn env_group(b: &[u8], after: usize) -> Option<(usize, usize, usize)> {
    let mut j = after;
    while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
        j += 1;
    }
    if j >= b.len() || b[j] != b'{' {
        return None;
    }
    let start = j + 1;
    let mut k = start;
    while k < b.len() && b[k] != b'}' && b[k] != b'{' && b[k] != b'\n' && b[k] != b'\r' {
        k += 1;
    }
    if k < b.len() && b[k] == b'}' {
        Some((start, k, k + 1))
    } else {
        None
    }
}

/// Splits the comment-free text into statement ranges (trimmed, non-empty).
/// A statement ends at a line break (`\n`, `\r\n` or `\r`) or `;` outside every bracket, `$` and
/// `\begin{...}` block. An unclosed opener at the end of the file is an
/// error at the opener, and that last statement is dropped.
pub(crate) fn split(text: &str, errors: &mut Vec<SyntaxError>) -> Vec<Span> {
    let b = text.as_bytes();
    let mut stmts = Vec::new();
    let mut stack: Vec<(Open, Span)> = Vec::new();
    // The environments open, by name, for their `\end`.
    let mut envs: Vec<(&str, Span)> = Vec::new();
    let mut dollar: Option<(bool, Span)> = None;
    let mut start = 0;
    let mut i = 0;
    fn close(stack: &mut Vec<(Open, Span)>, kind: Open) {
        if let Some(pos) = stack.iter().rposition(|(k, _)| *k == kind) {
            stack.truncate(pos);
        }
    }
    while i < b.len() {
        match b[i] {
            b'\\' => {
                let end = command_end(text, i);
                match &text[i + 1..end] {
                    "(" => stack.push((Open::MathParen, Span::new(i, end))),
                    "[" => stack.push((Open::MathBrack, Span::new(i, end))),
                    ")" => close(&mut stack, Open::MathParen),
                    "]" => close(&mut stack, Open::MathBrack),
                    "begin" | "end" => {
                        if let Some((s, e, group_end)) = env_group(b, end) {
                            let name = text[s..e].trim();
                            if &text[i + 1..end] == "begin" {
                                stack.push((Open::Env, Span::new(i, group_end)));
                                envs.push((name, Span::new(i, group_end)));
                            } else {
                                close(&mut stack, Open::Env);
                                // `\begin{aligned} ... \end{align}` does not
                                // compile in LaTeX either. (An unknown name
                                // is reported as such, once.)
                                if let Some((opened, at)) = envs.pop() {
                                    let known = |n: &str| ENVIRONMENTS.contains(&n);
                                    if opened != name && known(opened) && known(name) {
                                        errors.push(SyntaxError {
                                            span: Span::new(i, group_end),
                                            message: format!(
                                                "`\\end{{{name}}}` closes `\\begin{{{opened}}}` (line {})",
                                                line_of(text, at.start)
                                            ),
                                        });
                                    }
                                }
                            }
                            i = group_end;
                            continue;
                        }
                    }
                    _ => {}
                }
                i = end;
                continue;
            }
            b'(' => stack.push((Open::Paren, Span::new(i, i + 1))),
            b'[' => stack.push((Open::Brack, Span::new(i, i + 1))),
            b'{' => stack.push((Open::Brace, Span::new(i, i + 1))),
            b')' => close(&mut stack, Open::Paren),
            b']' => close(&mut stack, Open::Brack),
            b'}' => close(&mut stack, Open::Brace),
            b'$' => {
                let double = b.get(i + 1) == Some(&b'$');
                let len = if double { 2 } else { 1 };
                match dollar {
                    None => dollar = Some((double, Span::new(i, i + len))),
                    Some((d, _)) if d == double => dollar = None,
                    // A lone `$` inside `$$ $$`: leave it to the grammar.
                    Some(_) => {}
                }
                i += len;
                continue;
            }
            // `\r` too: old Mac files end lines with a lone `\r`.
            b'\n' | b'\r' | b';' if stack.is_empty() && dollar.is_none() => {
                push_trimmed(text, start, i, &mut stmts);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    let unclosed = stack
        .last()
        .map(|(k, s)| (k.name(), *s))
        .or(dollar.map(|(d, s)| (if d { "$$" } else { "$" }, s)));
    match unclosed {
        Some((name, span)) => errors.push(SyntaxError {
            span,
            message: format!("unclosed `{name}`"),
        }),
        None => push_trimmed(text, start, b.len(), &mut stmts),
    }
    stmts
}

fn push_trimmed(text: &str, start: usize, end: usize, out: &mut Vec<Span>) {
    let b = text.as_bytes();
    let (mut s, mut e) = (start, end);
    while s < e && b[s].is_ascii_whitespace() {
        s += 1;
    }
    while e > s && b[e - 1].is_ascii_whitespace() {
        e -= 1;
    }
    if s < e {
        out.push(Span::new(s, e));
    }
}

/// The deepest bracket nesting of the statement, which must stay within
/// [`MAX_NESTING`]; beyond it, an error at the first opener too deep.
pub(crate) fn check_nesting(stmt: &str, base: usize) -> Result<usize, SyntaxError> {
    let b = stmt.as_bytes();
    let mut depth = 0usize;
    let mut max = 0usize;
    let mut i = 0;
    while i < b.len() {
        let (delta, end): (isize, usize) = match b[i] {
            b'(' | b'[' | b'{' => (1, i + 1),
            b')' | b']' | b'}' => (-1, i + 1),
            b'\\' => {
                let end = command_end(stmt, i);
                match &stmt[i + 1..end] {
                    "lfloor" | "lceil" | "(" | "[" => (1, end),
                    "rfloor" | "rceil" | ")" | "]" => (-1, end),
                    _ => (0, end),
                }
            }
            _ => (0, i + 1),
        };
        if delta > 0 {
            depth += 1;
            max = max.max(depth);
            if depth > MAX_NESTING {
                return Err(SyntaxError {
                    span: Span::new(base + i, base + end),
                    message: format!(
                        "expression nested too deeply (more than {MAX_NESTING} levels of brackets)"
                    ),
                });
            }
        } else if delta < 0 {
            depth = depth.saturating_sub(1);
        }
        i = end;
    }
    Ok(max)
}

/// Every backslash command the grammar knows (without the backslash).
const KNOWN_COMMANDS: &[&str] = &[
    // Greek letters.
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "varepsilon",
    "zeta",
    "eta",
    "theta",
    "vartheta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "pi",
    "varpi",
    "rho",
    "varrho",
    "sigma",
    "varsigma",
    "tau",
    "upsilon",
    "phi",
    "varphi",
    "chi",
    "psi",
    "omega",
    "Gamma",
    "Delta",
    "Theta",
    "Lambda",
    "Xi",
    "Pi",
    "Sigma",
    "Upsilon",
    "Phi",
    "Psi",
    "Omega",
    // Functions, reductions, operators.
    "exp",
    "log",
    "ln",
    "tanh",
    "sqrt",
    "operatorname",
    "mathrm",
    "max",
    "sum",
    "limits",
    "nolimits",
    "frac",
    "dfrac",
    "tfrac",
    "cdot",
    "times",
    // Brackets and relations.
    "left",
    "right",
    "big",
    "Big",
    "bigg",
    "Bigg",
    "bigl",
    "bigr",
    "Bigl",
    "Bigr",
    "biggl",
    "biggr",
    "Biggl",
    "Biggr",
    "le",
    "leq",
    "lfloor",
    "rfloor",
    "lceil",
    "rceil",
    // Layout.
    "begin",
    "end",
    "quad",
    "qquad",
    "displaystyle",
    // One-character commands.
    "(",
    ")",
    "[",
    "]",
    "\\",
    ",",
    ";",
    ":",
    "!",
    " ",
];

const OPERATOR_NAMES: &[&str] = &["relu", "softplus"];
/// Accents and fonts, which papers put on tensor names (`\mathbf{W}`,
/// `\hat{y}`); the language names tensors by letter and label only.
const DECORATIONS: &[&str] = &[
    "mathbf",
    "boldsymbol",
    "bm",
    "mathit",
    "mathsf",
    "mathcal",
    "mathbb",
    "hat",
    "widehat",
    "tilde",
    "widetilde",
    "bar",
    "overline",
    "vec",
    "dot",
];
const ENVIRONMENTS: &[&str] = &["aligned", "align", "align*"];

/// `w_12` or `y^10`: LaTeX takes one character after `_` or `^` without
/// braces, so these are `w_1` times 2 and `y^1` times 0, which the
/// rendered formula shows but a reader of the source rarely means. An
/// error at the digits, with the braces to write.
pub(crate) fn check_run_on_scripts(stmt: &str, base: usize, errors: &mut Vec<SyntaxError>) {
    let b = stmt.as_bytes();
    for i in 0..b.len().saturating_sub(2) {
        if (b[i] == b'_' || b[i] == b'^') && b[i + 1].is_ascii_digit() && b[i + 2].is_ascii_digit()
        {
            let end = (i + 1..b.len())
                .find(|&k| !b[k].is_ascii_digit())
                .unwrap_or(b.len());
            let (mark, digits) = (b[i] as char, &stmt[i + 1..end]);
            errors.push(SyntaxError {
                span: Span::new(base + i, base + end),
                message: format!(
                    "`{mark}{digits}` is `{mark}{}` followed by the number {}: without braces LaTeX takes one character; write `{mark}{{{digits}}}`",
                    &digits[..1],
                    &digits[1..]
                ),
            });
        }
    }
}

/// `x = y \\ z = w` on one line, outside an `aligned` block: the `\\` is
/// spacing there, so the two equations would read as one chain `x = y z =
/// w` and fail with an undeclared `z`. An error at the `\\` instead. Rows
/// that continue an equation (`\\ &= ...`, `\\ + b`) are left alone.
pub(crate) fn check_row_breaks(stmt: &str, base: usize, errors: &mut Vec<SyntaxError>) {
    if stmt.contains("\\begin") {
        return;
    }
    let b = stmt.as_bytes();
    for (i, end) in commands(stmt) {
        if &stmt[i + 1..end] == "\\" {
            let row_start = skip_space(b, end);
            let row_end = stmt[row_start..]
                .find("\\\\")
                .map_or(stmt.len(), |k| row_start + k);
            let row = &stmt[row_start..row_end];
            let continues = row.starts_with(['&', '=', '+', '-']) || row.is_empty();
            // An `=` outside every bracket (not a limit's `a=0`).
            let mut depth = 0i32;
            let equation = row.bytes().any(|c| {
                match c {
                    b'(' | b'[' | b'{' => depth += 1,
                    b')' | b']' | b'}' => depth -= 1,
                    _ => {}
                }
                c == b'=' && depth == 0
            });
            if !continues && equation {
                errors.push(SyntaxError {
                    span: Span::new(base + i, base + end),
                    message: "`\\\\` separates the rows of an `aligned` block; outside one, put each equation on its own line".to_owned(),
                });
                return;
            }
        }
    }
}

/// The backslash commands of `stmt` in order, as byte ranges from the
/// backslash to the end of the name.
fn commands(stmt: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let b = stmt.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() && b[i] != b'\\' {
            i += 1;
        }
        if i >= b.len() {
            return None;
        }
        let (start, end) = (i, command_end(stmt, i));
        i = end.max(i + 1);
        Some((start, end))
    })
}

/// `\left` and `\right` come in pairs, as LaTeX requires: `\left( y )` or
/// `( y \right)` does not compile there, so it is an error here too, at
/// the closer. (The delimiters themselves may differ, `\left( \right]`,
/// which the parser then judges.) Brackets that do not nest properly are
/// left to the parser's "unclosed" errors.
pub(crate) fn check_left_right(stmt: &str, base: usize, errors: &mut Vec<SyntaxError>) {
    let b = stmt.as_bytes();
    // Each open bracket: whether `\left` sized it, and its text.
    let mut stack: Vec<(bool, Span)> = Vec::new();
    // The delimiter after `\left` / `\right` at `at`: its end.
    let delimiter = |at: usize| -> usize {
        let j = skip_space(b, at);
        match b.get(j) {
            Some(b'\\') => command_end(stmt, j),
            Some(_) => j + stmt[j..].chars().next().map_or(1, char::len_utf8),
            None => j,
        }
    };
    let mut i = 0;
    while i < b.len() {
        let (opens, closes, sized, end) = match b[i] {
            b'(' | b'[' | b'{' => (true, false, false, i + 1),
            b')' | b']' | b'}' => (false, true, false, i + 1),
            b'\\' => {
                let end = command_end(stmt, i);
                match &stmt[i + 1..end] {
                    "left" => (true, false, true, delimiter(end)),
                    "right" => (false, true, true, delimiter(end)),
                    "lfloor" | "lceil" => (true, false, false, end),
                    "rfloor" | "rceil" => (false, true, false, end),
                    _ => (false, false, false, end),
                }
            }
            _ => (false, false, false, i + 1),
        };
        let span = Span::new(base + i, base + end);
        if opens {
            stack.push((sized, span));
        } else if closes {
            let Some((left, open)) = stack.pop() else {
                return;
            };
            let text = |s: Span| stmt[s.start - base..s.end - base].to_owned();
            if left != sized {
                let message = if left {
                    format!(
                        "`{}` is closed by a plain `{}`: close it with `\\right`, or open it without `\\left`",
                        text(open),
                        text(span)
                    )
                } else {
                    format!(
                        "`{}` closes `{}`, which has no `\\left`: open it with `\\left`, or close it without `\\right`",
                        text(span),
                        text(open)
                    )
                };
                errors.push(SyntaxError { span, message });
                return;
            }
        }
        i = end.max(i + 1);
    }
}

/// Unknown backslash commands, `\operatorname{...}` names and environments,
/// each reported with the command's range.
pub(crate) fn check_commands(stmt: &str, base: usize, errors: &mut Vec<SyntaxError>) {
    let b = stmt.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        let end = command_end(stmt, i);
        let name = &stmt[i + 1..end];
        let span = Span::new(base + i, base + end);
        if name.is_empty() || name.chars().all(char::is_whitespace) && name != " " {
            errors.push(SyntaxError {
                span: Span::new(base + i, base + i + 1),
                message: "expected a command name after `\\`".to_owned(),
            });
        } else if !KNOWN_COMMANDS.contains(&name) {
            let hint = if DECORATIONS.contains(&name) {
                ": an accent or font is not part of a name here; name the tensor by its letter and a label, like `W^{out}` or `y^1`"
            } else if ["odot", "circ", "ast", "otimes"].contains(&name) {
                ": write an elementwise product as `a_i b_i` (or with `\\cdot`), with its indices"
            } else {
                ""
            };
            errors.push(SyntaxError {
                span,
                message: format!("unknown command `\\{name}`{hint}"),
            });
        } else if let ("operatorname" | "mathrm" | "begin" | "end", Some((s, e, group_end))) =
            (name, env_group(b, end))
        {
            let word = stmt[s..e].trim();
            let ok = if name == "begin" || name == "end" {
                ENVIRONMENTS.contains(&word)
            } else {
                OPERATOR_NAMES.contains(&word.to_ascii_lowercase().as_str())
            };
            if !ok {
                let whole = Span::new(base + i, base + group_end);
                let message = if name == "begin" || name == "end" {
                    format!("unsupported environment `{word}` (only `aligned` is known)")
                } else {
                    format!("unknown function `\\{name}{{{word}}}`")
                };
                errors.push(SyntaxError {
                    span: whole,
                    message,
                });
            }
            i = group_end;
            continue;
        }
        i = end;
    }
}
