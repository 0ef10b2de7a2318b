//! Where a model's equations come from (a string literal or a `.eq` file),
//! compiling them with `sharegrad_core`, and mapping the engine's byte-range
//! diagnostics back to spans in the user's code.

use proc_macro2::Span;
use sharegrad_core::diagnostics::{render, Diagnostic};
use sharegrad_core::Model;
use std::ops::Range;
use std::path::PathBuf;
use syn::parse::{Parse, ParseStream};
use syn::{LitStr, Token};

/// The equations of one model, as the user gave them.
pub enum Source {
    /// `"..."` or `r"..."`: the equations themselves.
    Inline(LitStr),
    /// `file = "path.eq"` (or `mod m = "path.eq";` in `model!`): a path
    /// relative to the crate's `CARGO_MANIFEST_DIR`.
    File(LitStr),
}

impl Parse for Source {
    /// `"equations"` or `file = "path.eq"`.
    fn parse(input: ParseStream) -> syn::Result<Source> {
        let look = input.lookahead1();
        if look.peek(LitStr) {
            return Ok(Source::Inline(input.parse()?));
        }
        if look.peek(syn::Ident) {
            let key: syn::Ident = input.parse()?;
            if key != "file" {
                return Err(syn::Error::new(
                    key.span(),
                    format!(
                        "unknown key `{key}`: expected the equations as a string literal or `file = \"path.eq\"`"
                    ),
                ));
            }
            input.parse::<Token![=]>()?;
            let path: LitStr = input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "expected the path of a `.eq` file as a string literal",
                )
            })?;
            return Ok(Source::File(path));
        }
        Err(look.error())
    }
}

/// What `#[sharegrad::layer(...)]` and `#[sharegrad(...)]` take: an
/// optional `gemm,` flag, then the [`Source`].
pub struct Spec {
    /// Where `gemm` was written, when it was: contractions go through
    /// `sharegrad::runtime` (the `gemm` feature).
    pub gemm: Option<Span>,
    /// The equations.
    pub source: Source,
}

impl Parse for Spec {
    fn parse(input: ParseStream) -> syn::Result<Spec> {
        let mut gemm = None;
        if input.peek(syn::Ident) && input.peek2(Token![,]) {
            let flag: syn::Ident = input.parse()?;
            if flag != "gemm" {
                return Err(syn::Error::new(
                    flag.span(),
                    format!("unknown flag `{flag}`: the one flag is `gemm`, before the equations"),
                ));
            }
            input.parse::<Token![,]>()?;
            gemm = Some(flag.span());
        } else if input.peek(syn::Ident) && !input.peek2(Token![=]) {
            // `gemm r"..."` or a lone `gemm`: the flag without its comma.
            let flag: syn::Ident = input.fork().parse()?;
            if flag == "gemm" {
                return Err(syn::Error::new(
                    flag.span(),
                    "`gemm` is a flag: follow it with a comma and the equations, like `gemm, r\"...\"` or `gemm, file = \"conv.eq\"`",
                ));
            }
        }
        Ok(Spec {
            gemm,
            source: input.parse()?,
        })
    }
}

/// A model compiled from a [`Source`], with what its expansion needs.
pub struct Compiled {
    /// The resolved, differentiated model.
    pub model: Model,
    /// For a file source, its absolute path: the expansion includes it with
    /// `include_str!` so that editing the file recompiles the crate.
    pub file: Option<PathBuf>,
}

impl Source {
    /// The literal the user wrote (the equations or the path).
    pub fn literal(&self) -> &LitStr {
        match self {
            Source::Inline(lit) | Source::File(lit) => lit,
        }
    }

    /// Reads (for a file) and compiles the equations. Errors point into the
    /// literal; for a file, at the path with the file's line and column.
    pub fn compile(&self) -> syn::Result<Compiled> {
        match self {
            Source::Inline(lit) => {
                let text = lit.value();
                let model = sharegrad_core::compile(&text)
                    .map_err(|diags| diagnostics_error(lit, &text, "equations", &diags, true))?;
                Ok(Compiled { model, file: None })
            }
            Source::File(lit) => {
                let path = resolve_path(lit)?;
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    let base = if PathBuf::from(lit.value()).is_absolute() {
                        ""
                    } else {
                        " (relative to the crate's Cargo.toml)"
                    };
                    syn::Error::new(
                        lit.span(),
                        format!("cannot read `{}`{base}: {e}", lit.value()),
                    )
                })?;
                let model = sharegrad_core::compile(&text)
                    .map_err(|diags| diagnostics_error(lit, &text, &lit.value(), &diags, false))?;
                Ok(Compiled {
                    model,
                    file: Some(path),
                })
            }
        }
    }
}

/// The path relative to `CARGO_MANIFEST_DIR` (absolute paths stay).
fn resolve_path(lit: &LitStr) -> syn::Result<PathBuf> {
    let rel = PathBuf::from(lit.value());
    if rel.is_absolute() {
        return Ok(rel);
    }
    let dir = std::env::var_os("CARGO_MANIFEST_DIR").ok_or_else(|| {
        syn::Error::new(
            lit.span(),
            "CARGO_MANIFEST_DIR is not set: use an absolute path",
        )
    })?;
    Ok(PathBuf::from(dir).join(rel))
}

/// One `syn::Error` holding every diagnostic. Each sits on the spot inside
/// the literal where `Literal::subspan` works (nightly compilers), else on
/// the literal, with `line:col` and a caret excerpt in the message.
fn diagnostics_error(
    lit: &LitStr,
    text: &str,
    name: &str,
    diags: &[Diagnostic],
    inside: bool,
) -> syn::Error {
    let mut errors = diags.iter().map(|d| {
        let span = if inside {
            subspan(lit, text, d.span.start..d.span.end)
        } else {
            None
        };
        let message = match span {
            Some(_) => std::iter::once(d.message.clone())
                .chain(d.notes.iter().map(|n| format!("note: {n}")))
                .collect::<Vec<_>>()
                .join("\n"),
            None => excerpt(name, text, d),
        };
        syn::Error::new(span.unwrap_or_else(|| lit.span()), message)
    });
    let mut first = errors
        .next()
        .unwrap_or_else(|| syn::Error::new(lit.span(), "invalid model"));
    for e in errors {
        first.combine(e);
    }
    first
}

/// `message` then core's rustc-style excerpt (`--> name:line:col`, the line,
/// a caret under the problem, notes).
fn excerpt(name: &str, text: &str, d: &Diagnostic) -> String {
    let rendered = render(name, text, std::slice::from_ref(d));
    let body = rendered.split_once('\n').map_or("", |(_, rest)| rest);
    format!("{}\n{}", d.message, body.trim_end())
}

/// The span of the value bytes `range` inside the literal token, when the
/// compiler can make one.
fn subspan(lit: &LitStr, value: &str, range: Range<usize>) -> Option<Span> {
    let token = lit.token();
    let map = value_to_token_offsets(&token.to_string(), value.len())?;
    let start = *map.get(range.start)?;
    // An empty range still gets one character.
    let end = if range.end > range.start {
        *map.get(range.end)?
    } else {
        start + 1
    };
    token.subspan(start..end.max(start + 1))
}

/// For each byte offset of a string literal's value (and one past the end),
/// the offset in the literal's source text. `None` for literal forms this
/// does not know (it then falls back to the whole literal).
fn value_to_token_offsets(token: &str, value_len: usize) -> Option<Vec<usize>> {
    let bytes = token.as_bytes();
    let mut map = Vec::with_capacity(value_len + 1);
    if let Some(rest) = token.strip_prefix('r') {
        let hashes = rest.bytes().take_while(|&b| b == b'#').count();
        let open = 1 + hashes + 1;
        let close = hashes + 1;
        if token.len() < open + close || token.len() - open - close != value_len {
            return None;
        }
        map.extend((0..=value_len).map(|k| open + k));
        return Some(map);
    }
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let end = token.rfind('"')?;
    let mut i = 1;
    while i < end {
        let c = bytes[i];
        if c != b'\\' {
            let width = token[i..].chars().next()?.len_utf8();
            map.extend((0..width).map(|k| i + k));
            i += width;
            continue;
        }
        let next = *bytes.get(i + 1)?;
        match next {
            b'\n' | b'\r' => {
                // Line continuation: the newline and the following
                // whitespace are not part of the value.
                i += 1;
                while i < end && token[i..].starts_with(char::is_whitespace) {
                    i += token[i..].chars().next()?.len_utf8();
                }
            }
            b'x' => {
                map.push(i);
                i += 4;
            }
            b'u' => {
                let close = i + token[i..].find('}')?;
                let ch = char::from_u32(u32::from_str_radix(&token[i + 3..close], 16).ok()?)?;
                map.extend(std::iter::repeat_n(i, ch.len_utf8()));
                i = close + 1;
            }
            _ => {
                map.push(i);
                i += 2;
            }
        }
    }
    map.push(end);
    (map.len() == value_len + 1).then_some(map)
}

/// An error at the call site's default span, for messages with no better
/// place.
pub fn call_site_error(message: impl std::fmt::Display) -> syn::Error {
    syn::Error::new(Span::call_site(), message)
}

#[cfg(test)]
mod tests {
    use super::value_to_token_offsets;

    #[test]
    fn raw_strings_shift_by_the_prefix() {
        let map = value_to_token_offsets("r#\"ab\"#", 2).unwrap();
        assert_eq!(map, vec![3, 4, 5]);
    }

    #[test]
    fn escapes_map_to_their_backslash() {
        // value: `a\b` then newline then `c`
        let token = "\"a\\\\b\\nc\"";
        let map = value_to_token_offsets(token, 5).unwrap();
        assert_eq!(map, vec![1, 2, 4, 5, 7, 8]);
    }

    #[test]
    fn line_continuations_are_skipped() {
        let token = "\"a\\\n   b\"";
        let map = value_to_token_offsets(token, 2).unwrap();
        assert_eq!(map, vec![1, 7, 8]);
    }
}
