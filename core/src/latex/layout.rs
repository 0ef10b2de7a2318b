//! The document's building blocks and their two spellings: LaTeX
//! (`align*`, `tabular`) and Markdown (`$$` blocks with `aligned`, pipe
//! tables), plus the line breaking that keeps long equations on the page.

use std::fmt::Write as _;

/// Text or inline math inside a paragraph or a table cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Inline {
    /// Prose; escaped on output.
    Text(String),
    /// Inline math, LaTeX.
    Math(String),
}

/// One displayed equation: `lhs rel rhs`, the right-hand side in pieces
/// that may be broken across lines, and an optional note after it.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    /// Left of the alignment point (may be empty for a continuation).
    pub lhs: String,
    /// The relation at the alignment point, usually `=`.
    pub rel: String,
    /// The right-hand side, in breakable pieces.
    pub pieces: Vec<String>,
    /// A short remark set after the equation.
    pub note: Option<String>,
}

impl Line {
    /// `lhs = pieces`.
    pub fn eq(lhs: impl Into<String>, pieces: Vec<String>) -> Line {
        Line {
            lhs: lhs.into(),
            rel: "=".into(),
            pieces,
            note: None,
        }
    }
    /// A continuation `= pieces`.
    pub fn cont(pieces: Vec<String>) -> Line {
        Line::eq("", pieces)
    }
    /// Adds a note (LaTeX math, typically `\text{...}`).
    pub fn note(mut self, n: impl Into<String>) -> Line {
        self.note = Some(n.into());
        self
    }
}

/// A block of the document.
#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    /// A section (level 1) or subsection (level 2) heading; inline math
    /// allowed.
    Heading(u8, Vec<Inline>),
    /// A paragraph.
    Para(Vec<Inline>),
    /// Displayed equations aligned at their relations; `boxed` draws a frame
    /// around the whole group.
    Display {
        /// The equations.
        lines: Vec<Line>,
        /// Framed, for final results.
        boxed: bool,
    },
    /// A table with a header row.
    Table {
        /// Column headings.
        head: Vec<String>,
        /// Relative column widths (fractions of the line).
        widths: Vec<f32>,
        /// Cells.
        rows: Vec<Vec<Vec<Inline>>>,
    },
}

/// Widest right-hand side line, in em, before a break; the text block of
/// the standalone document is about 43em at 11pt.
const MAX_EM: f32 = 34.0;

/// Estimates the printed width of LaTeX math in em (display style, 11pt).
/// Deliberately rough and on the wide side: it only decides where lines
/// break.
pub fn width(tex: &str) -> f32 {
    let chars: Vec<char> = tex.chars().collect();
    let mut pos = 0;
    group_width(&chars, &mut pos, false)
}

fn group_width(c: &[char], pos: &mut usize, until_close: bool) -> f32 {
    let mut w = 0.0;
    let mut last_base = 0.0f32;
    let mut script_run = 0.0f32;
    while *pos < c.len() {
        let ch = c[*pos];
        match ch {
            '}' if until_close => {
                *pos += 1;
                return w;
            }
            '{' => {
                *pos += 1;
                let g = group_width(c, pos, true);
                w += g;
                last_base = g;
                script_run = 0.0;
            }
            '_' | '^' => {
                *pos += 1;
                let s = token_width(c, pos) * 0.72;
                // Sub- and superscript stack: only the wider one counts.
                if script_run > 0.0 {
                    if s > script_run {
                        w += s - script_run;
                        script_run = s;
                    }
                } else {
                    w += s;
                    script_run = s;
                }
                let _ = last_base;
            }
            _ => {
                let t = token_width(c, pos);
                w += t;
                last_base = t;
                script_run = 0.0;
            }
        }
    }
    w
}

/// Width of one token at `pos` (a character, a group or a command with its
/// arguments), advancing past it.
fn token_width(c: &[char], pos: &mut usize) -> f32 {
    if *pos >= c.len() {
        return 0.0;
    }
    let ch = c[*pos];
    *pos += 1;
    match ch {
        '{' => group_width(c, pos, true),
        '\\' => {
            let start = *pos;
            while *pos < c.len() && c[*pos].is_ascii_alphabetic() {
                *pos += 1;
            }
            let name: String = c[start..*pos].iter().collect();
            if name.is_empty() {
                // \, \; \! \\ and escaped characters.
                let sym = c.get(*pos).copied().unwrap_or(' ');
                *pos += 1;
                return match sym {
                    ',' => 0.17,
                    ';' => 0.28,
                    ':' => 0.22,
                    '!' => -0.17,
                    ' ' => 0.33,
                    _ => 0.5,
                };
            }
            skip_spaces(c, pos);
            match name.as_str() {
                "frac" | "tfrac" | "dfrac" => {
                    let a = token_width(c, pos);
                    let b = token_width(c, pos);
                    let scale = if name == "tfrac" { 0.7 } else { 1.0 };
                    a.max(b) * scale + 0.3
                }
                "sum" | "prod" => 1.5,
                "max" | "min" | "log" | "exp" => 1.9,
                "tanh" | "arg" => 2.3,
                "operatorname" => {
                    if c.get(*pos) == Some(&'*') {
                        *pos += 1;
                    }
                    token_width(c, pos) * 0.9 + 0.3
                }
                "text" | "mathrm" | "mathit" | "textrm" => text_width(c, pos),
                "bar" | "hat" | "tilde" | "boxed" | "underbrace" | "mathcal" | "mathbf" => {
                    token_width(c, pos)
                }
                "sqrt" => token_width(c, pos) + 1.0,
                "left" | "right" | "bigl" | "bigr" | "Bigl" | "Bigr" => {
                    let _ = token_width(c, pos);
                    0.45
                }
                "quad" => 1.0,
                "qquad" => 2.0,
                "le" | "ge" | "mid" | "iff" | "in" | "ne" | "to" | "Rightarrow" => 1.4,
                "cdot" | "times" => 0.8,
                "ldots" | "dots" | "cdots" => 1.3,
                "lfloor" | "rfloor" | "lceil" | "rceil" => 0.45,
                "partial" => 0.6,
                "begin" | "end" => {
                    let _ = token_width(c, pos);
                    0.0
                }
                _ => 0.65,
            }
        }
        '+' | '-' | '=' | '<' | '>' => 1.25,
        '(' | ')' | '[' | ']' | '|' => 0.4,
        ',' | '.' | ';' => 0.3,
        '\'' => 0.3,
        ' ' | '&' => 0.0,
        '0'..='9' => 0.5,
        c if c.is_ascii_uppercase() => 0.72,
        _ => 0.55,
    }
}

fn skip_spaces(c: &[char], pos: &mut usize) {
    while *pos < c.len() && c[*pos] == ' ' {
        *pos += 1;
    }
}

fn text_width(c: &[char], pos: &mut usize) -> f32 {
    skip_spaces(c, pos);
    if c.get(*pos) != Some(&'{') {
        return token_width(c, pos);
    }
    *pos += 1;
    let mut depth = 1;
    let mut n = 0.0;
    while *pos < c.len() {
        match c[*pos] {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    *pos += 1;
                    break;
                }
            }
            _ => n += 0.5,
        }
        *pos += 1;
    }
    n
}

/// Packs a line's pieces into physical lines of at most [`MAX_EM`]
/// (counting the left-hand side on the first), returning the rows of an
/// aligned environment: `lhs & rel rhs`, then `& \qquad {} rhs...`.
fn aligned_rows(line: &Line, lhs_col: f32) -> Vec<String> {
    let first_budget = MAX_EM - lhs_col.min(14.0);
    let mut rows: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut cur_w = 0.0;
    let mut budget = first_budget;
    let widths: Vec<f32> = line.pieces.iter().map(|p| width(p)).collect();
    let no_negative = widths.iter().all(|w| *w >= 0.0);
    for (k, piece) in line.pieces.iter().enumerate() {
        let pw = widths[k];
        // A short tail stays on its line rather than hang alone below.
        // Without negative widths (`\!`) the sum of the tail can stop as
        // soon as it is too long (a longer one only grows), so that a line
        // of many pieces costs linear time, not quadratic.
        let tail_fits = || {
            let mut rest = 0.0f32;
            for w in &widths[k..] {
                rest += w;
                if no_negative && cur_w + rest > budget + 4.0 {
                    return false;
                }
            }
            cur_w + rest <= budget + 4.0
        };
        if !cur.is_empty() && cur_w + pw > budget && !tail_fits() {
            rows.push(std::mem::take(&mut cur));
            cur_w = 0.0;
            budget = MAX_EM - 2.0;
        }
        if cur.is_empty() && !rows.is_empty() {
            let p = piece.trim_start();
            let p = p.strip_prefix("\\,").unwrap_or(p).trim_start();
            let p = p
                .strip_prefix("\\cdot")
                .map(|r| format!("\\cdot{r}"))
                .unwrap_or_else(|| p.to_string());
            if p.starts_with('+') || p.starts_with('-') || p.starts_with("\\cdot") {
                cur.push_str("{}");
            }
            cur.push_str(&p);
        } else {
            cur.push_str(piece);
        }
        cur_w += pw;
    }
    if !cur.is_empty() || rows.is_empty() {
        rows.push(cur);
    }
    let mut out = Vec::new();
    for (k, r) in rows.iter().enumerate() {
        let mut s = if k == 0 {
            if line.rel.is_empty() {
                format!("{} & {}", line.lhs, r)
            } else {
                format!("{} &{} {}", line.lhs, line.rel, r)
            }
        } else {
            format!("& \\qquad {r}")
        };
        if k + 1 == rows.len() {
            if let Some(n) = &line.note {
                let _ = write!(s, " \\qquad {n}");
            }
        }
        out.push(s);
    }
    out
}

fn display_rows(lines: &[Line]) -> Vec<String> {
    let lhs_col = lines.iter().map(|l| width(&l.lhs)).fold(0.0, f32::max);
    lines
        .iter()
        .flat_map(|l| aligned_rows(l, lhs_col))
        .collect()
}

/// Output flavour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// LaTeX body.
    Latex,
    /// Markdown with `$$` blocks.
    Markdown,
}

/// Escapes prose for LaTeX.
pub fn escape_latex(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\textbackslash{}"),
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(ch);
            }
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            '\u{2014}' => out.push_str("---"),
            '\u{2013}' => out.push_str("--"),
            '\u{201c}' => out.push_str("``"),
            '\u{201d}' => out.push_str("''"),
            '\u{2019}' => out.push('\''),
            _ => out.push(ch),
        }
    }
    out
}

fn escape_markdown(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        if matches!(
            ch,
            '*' | '_' | '`' | '|' | '<' | '>' | '[' | ']' | '$' | '\\'
        ) {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

fn inlines(xs: &[Inline], f: Flavour) -> String {
    let mut s = String::new();
    for x in xs {
        match (x, f) {
            (Inline::Text(t), Flavour::Latex) => s.push_str(&escape_latex(t)),
            (Inline::Text(t), Flavour::Markdown) => s.push_str(&escape_markdown(t)),
            (Inline::Math(m), _) => {
                let _ = write!(s, "${m}$");
            }
        }
    }
    s
}

/// Writes the blocks as a LaTeX body or as Markdown.
pub fn render(blocks: &[Block], f: Flavour) -> String {
    let mut out = String::new();
    for b in blocks {
        match (b, f) {
            (Block::Heading(level, t), Flavour::Latex) => {
                let cmd = if *level <= 1 { "section" } else { "subsection" };
                let _ = writeln!(out, "\\{cmd}{{{}}}\n", inlines(t, f));
            }
            (Block::Heading(level, t), Flavour::Markdown) => {
                let hashes = "#".repeat(*level as usize + 1);
                let _ = writeln!(out, "{hashes} {}\n", inlines(t, f));
            }
            (Block::Para(t), _) => {
                let _ = writeln!(out, "{}\n", inlines(t, f));
            }
            (Block::Display { lines, boxed }, Flavour::Latex) => {
                let rows = display_rows(lines);
                if *boxed {
                    let _ = writeln!(
                        out,
                        "\\[\n\\boxed{{\\begin{{aligned}}\n{}\n\\end{{aligned}}}}\n\\]\n",
                        rows.join(" \\\\\n")
                    );
                } else {
                    let _ = writeln!(
                        out,
                        "\\begin{{align*}}\n{}\n\\end{{align*}}\n",
                        rows.join(" \\\\\n")
                    );
                }
            }
            (Block::Display { lines, boxed }, Flavour::Markdown) => {
                let rows = display_rows(lines);
                let body = format!(
                    "\\begin{{aligned}}\n{}\n\\end{{aligned}}",
                    rows.join(" \\\\\n")
                );
                if *boxed {
                    let _ = writeln!(out, "$$\n\\boxed{{{body}}}\n$$\n");
                } else {
                    let _ = writeln!(out, "$$\n{body}\n$$\n");
                }
            }
            (Block::Table { head, widths, rows }, Flavour::Latex) => {
                // The column gaps (2\\tabcolsep each) come out of the line.
                let total: f32 = widths.iter().sum();
                let room = 1.0 - 0.028 * (widths.len().max(1) - 1) as f32;
                let cols: String = widths
                    .iter()
                    .map(|w| format!("p{{{:.3}\\linewidth}}", w / total * room))
                    .collect();
                let _ = writeln!(out, "\\begin{{center}}\\small\\renewcommand{{\\arraystretch}}{{1.35}}\n\\begin{{tabular}}{{@{{}}{cols}@{{}}}}\n\\hline");
                let hs: Vec<String> = head
                    .iter()
                    .map(|h| format!("\\raggedright\\textbf{{{}}}", escape_latex(h)))
                    .collect();
                let _ = writeln!(out, "{} \\tabularnewline\n\\hline", hs.join(" & "));
                for r in rows {
                    let cells: Vec<String> = r
                        .iter()
                        .map(|c| format!("\\raggedright {}", inlines(c, f)))
                        .collect();
                    let _ = writeln!(out, "{} \\tabularnewline", cells.join(" & "));
                }
                let _ = writeln!(out, "\\hline\n\\end{{tabular}}\n\\end{{center}}\n");
            }
            (Block::Table { head, rows, .. }, Flavour::Markdown) => {
                let _ = writeln!(
                    out,
                    "| {} |",
                    head.iter()
                        .map(|h| escape_markdown(h))
                        .collect::<Vec<_>>()
                        .join(" | ")
                );
                let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
                for r in rows {
                    let cells: Vec<String> = r.iter().map(|c| inlines(c, f)).collect();
                    let _ = writeln!(out, "| {} |", cells.join(" | "));
                }
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_grow_with_content() {
        assert!(width("x") < width("x + y"));
        assert!(width("\\frac{a}{b}") < width("a + b"));
        assert!(width("y^{0}_{i}") < width("y^{0} y_{i}"));
        assert!(width("\\sum_{a=1}^{3} w_{a}") > 2.0);
    }

    #[test]
    fn long_lines_break_between_pieces() {
        let pieces: Vec<String> = (0..30)
            .map(|k| format!("+ w_{{{k}}} y_{{i+{k}}}"))
            .collect();
        let rows = aligned_rows(&Line::eq("x_{i}", pieces), 1.0);
        assert!(rows.len() > 2, "{rows:?}");
        assert!(rows[1].starts_with("& \\qquad {}+"));
    }
}
