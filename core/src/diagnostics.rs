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

/// 1-based line and column (in characters) of a byte offset. A line ends at
/// `\n`, `\r\n` or a lone `\r` (old Mac files); a leading byte-order mark
/// is not a column.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(src, offset.min(src.len()));
    let b = src.as_bytes();
    let line = (0..offset).filter(|&i| is_break(b, i)).count() + 1;
    let start = line_start(src, offset);
    let col = src[start..offset].chars().count() + 1;
    (line, col)
}

/// True when byte `i` ends a line: `\n`, or `\r` not followed by `\n`.
fn is_break(b: &[u8], i: usize) -> bool {
    match b[i] {
        b'\n' => true,
        b'\r' => b.get(i + 1) != Some(&b'\n'),
        _ => false,
    }
}

/// The start of the line holding `offset` (a char boundary), after a
/// leading byte-order mark on the first line.
fn line_start(src: &str, offset: usize) -> usize {
    let b = src.as_bytes();
    match (0..offset).rev().find(|&i| is_break(b, i)) {
        Some(i) => i + 1,
        None if offset >= 3 && src.starts_with('\u{feff}') => 3,
        None => 0,
    }
}

/// The end of the line holding `start` (exclusive, before its break).
fn line_end(src: &str, start: usize) -> usize {
    src[start..]
        .find(['\n', '\r'])
        .map_or(src.len(), |i| start + i)
}

/// How a character of the source is shown in an excerpt: one visible
/// character for each, so the caret stays aligned. A tab is a space;
/// control characters (`\r`, NUL, escape, ...) are their control pictures
/// (`␍`, `␀`, `␛`); invisible format characters are `�`.
fn visible(c: char) -> char {
    match c {
        '\t' => ' ',
        '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'),
        '\u{7f}' => '\u{2421}',
        c if c.is_control() => '\u{fffd}',
        '\u{200b}'..='\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}'
        | '\u{feff}'
        // Combining marks would sit on the character before them.
        | '\u{300}'..='\u{36f}' => '\u{fffd}',
        c => c,
    }
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
        let line_start = line_start(src, start);
        let line_end = line_end(src, start);
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
            .map(visible)
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
        let _ = writeln!(out, "{line} | {text}");
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

    /// The excerpt of an error "here" at the character at byte `at`.
    fn here(src: &str, at: usize) -> String {
        render(
            "m.eq",
            src,
            &[Diagnostic::new(Span::new(at, at + 1), "here")],
        )
    }

    #[test]
    fn lone_carriage_returns_end_lines() {
        let src = "input y_i, 0 \\le i < n\rx_i = y_{i+j}\r";
        assert_eq!(line_col(src, src.find('j').unwrap()), (2, 12));
        let crlf = "a\r\nb\rc\nd";
        assert_eq!(line_col(crlf, crlf.find('b').unwrap()), (2, 1));
        assert_eq!(line_col(crlf, crlf.find('c').unwrap()), (3, 1));
        assert_eq!(line_col(crlf, crlf.find('d').unwrap()), (4, 1));
        // The `\n` of a `\r\n` is still on the line the `\r` ends.
        assert_eq!(line_col(crlf, 2), (1, 3));
        let at = src.find('j').unwrap();
        let text = here(src, at);
        assert_eq!(
            text,
            "error: here\n --> m.eq:2:12\n  |\n2 | x_i = y_{i+j}\n  |            ^\n\n"
        );
    }

    #[test]
    fn control_characters_are_shown_not_echoed() {
        let src = "x_i = \u{0}\u{1b}y\u{7f}\u{85}\u{200b} + q";
        let at = src.find('q').unwrap();
        let text = here(src, at);
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[3],
            "1 | x_i = \u{2400}\u{241b}y\u{2421}\u{fffd}\u{fffd} + q"
        );
        // The caret sits under `q`, one column per character.
        let caret = lines[4].chars().position(|c| c == '^').unwrap();
        assert_eq!(lines[3].chars().nth(caret), Some('q'));
        assert!(text.contains("m.eq:1:16"), "{text}");
    }

    #[test]
    fn a_byte_order_mark_is_not_a_column() {
        let src = "\u{feff}x_i = q";
        let at = src.find('q').unwrap();
        assert_eq!(line_col(src, at), (1, 7));
        assert_eq!(line_col(src, 3), (1, 1));
        let text = here(src, at);
        assert!(text.contains("1 | x_i = q\n  |       ^\n"), "{text:?}");
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("\\alpha", 0), (1, 1));
    }
}
