//! Errors with byte ranges, rendered as `file:line:col` with the source line
//! and a caret under the problem. Every front-end pass returns these instead
//! of panicking; the CLI prints them, the macros map them to spans.

use crate::ir::Span;
use std::fmt::Write as _;

/// One problem in the user's input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where (byte range into the source).
    pub span: Span,
    /// Lower-case, no final period: "index `j` is not bound".
    pub message: String,
    /// Optional hints shown after the excerpt.
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// A diagnostic without notes.
    pub fn new(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            span,
            message: message.into(),
            notes: Vec::new(),
        }
    }
    /// Adds a note.
    pub fn note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(src, offset.min(src.len()));
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = src[start..offset].chars().count() + 1;
    (line, col)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Renders diagnostics like rustc:
///
/// ```text
/// error: index `j` is not bound
///  --> model.eq:3:22
///   |
/// 3 | x_i = \sum_a w_a y_{i+j}
///   |                      ^
///   = note: ...
/// ```
pub fn render(file: &str, src: &str, diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        let (line, col) = line_col(src, d.span.start);
        let start = floor_char_boundary(src, d.span.start.min(src.len()));
        let line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = src[start..].find('\n').map_or(src.len(), |i| start + i);
        let end = floor_char_boundary(src, d.span.end.clamp(start, line_end));
        // Long lines are cut to a window around the caret.
        let before: Vec<char> = src[line_start..start].chars().collect();
        let skip = before.len().saturating_sub(40);
        let lead = if skip > 0 { "..." } else { "" };
        let width = src[start..end].chars().count().clamp(1, 60);
        let shown: String = src[line_start..line_end]
            .chars()
            .skip(skip)
            .take(40 + width + 40)
            .collect();
        let tail = if src[line_start..line_end].chars().count() > skip + 80 + width {
            "..."
        } else {
            ""
        };
        let text = format!("{lead}{shown}{tail}");
        let col_shown = before.len() - skip + lead.len() + 1;
        let gutter = line.to_string().len();
        let pad = " ".repeat(gutter);
        let _ = writeln!(out, "error: {}", d.message);
        let _ = writeln!(out, "{pad}--> {file}:{line}:{col}");
        let _ = writeln!(out, "{pad} |");
        let _ = writeln!(out, "{line} | {}", text.replace('\t', " "));
        let _ = writeln!(
            out,
            "{pad} | {}{}",
            " ".repeat(col_shown - 1),
            "^".repeat(width)
        );
        for n in &d.notes {
            let _ = writeln!(out, "{pad} = note: {n}");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_sits_under_the_span() {
        let src = "input y_i, 0 \\le i < n\nx_i = y_{i+j}\n";
        let at = src.find('j').unwrap();
        let d = Diagnostic::new(Span::new(at, at + 1), "index `j` is not bound");
        let text = render("m.eq", src, &[d]);
        assert_eq!(
            text,
            "error: index `j` is not bound\n --> m.eq:2:12\n  |\n2 | x_i = y_{i+j}\n  |            ^\n\n"
        );
    }

    #[test]
    fn long_lines_are_cut_around_the_caret() {
        let src = format!("x = {}q{}", "a".repeat(500), "b".repeat(500));
        let at = src.find('q').unwrap();
        let text = render(
            "m.eq",
            &src,
            &[Diagnostic::new(Span::new(at, at + 1), "here")],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[3].len() < 100, "{}", lines[3]);
        let caret = lines[4].find('^').unwrap();
        assert_eq!(&lines[3][caret..caret + 1], "q");
        assert!(text.contains("m.eq:1:505"));
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("\\alpha", 0), (1, 1));
    }
}
