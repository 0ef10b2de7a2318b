//! The `sharegrad` command line.
//!
//! ```text
//! sharegrad check FILE                  resolve and summarise a model
//! sharegrad eval FILE --data DATA.json  values and gradients as JSON
//! sharegrad latex FILE [-o OUT.tex]     the derivation document
//! sharegrad rust FILE [--type T] [--gemm]  a Rust module (self-contained without --gemm)
//! sharegrad derive [FILE] [--out DIR]   NAME.tex, NAME.pdf, NAME.rs
//! sharegrad COMMAND --help              one command's usage and options
//! sharegrad help [COMMAND]              the same, or the overview (`--help`)
//! sharegrad --version
//! ```
//!
//! Errors print `file:line:col` with a caret excerpt on stderr and exit 1;
//! usage errors exit 2. Help and the version go to stdout and exit 0.

mod data;
mod latex_cmd;
mod rust_cmd;

use sharegrad_core::{diagnostics, Model};
use std::process::ExitCode;

/// The seed's two-layer example, derived when `derive` gets no file.
const SEED_EXAMPLE: &str = include_str!("../../examples/seed.eq");

/// A subcommand: the options it accepts and how its help describes it.
struct Subcommand {
    name: &'static str,
    /// Its arguments, as its usage line shows them after the name.
    args: &'static str,
    /// One line for `sharegrad --help`.
    summary: &'static str,
    /// Options that take a value.
    with_value: &'static [&'static str],
    /// Options without a value (besides `-h` and `--help`).
    flags: &'static [&'static str],
    /// The rest of `sharegrad NAME --help`: what it does, then its options
    /// (`-h, --help`, which every subcommand takes, is added after them).
    help: &'static str,
    /// What may be `-` for standard input.
    stdin: &'static str,
    /// Runs it on its parsed arguments.
    run: fn(&Args) -> Result<(), Failure>,
}

const SUBCOMMANDS: &[Subcommand] = &[
    Subcommand {
        name: "check",
        args: "FILE",
        summary: "parse, resolve and summarise a model",
        with_value: &[],
        flags: &[],
        help: "Parses, resolves and differentiates the model in FILE, then prints its
sizes, its tensors with their ranges, its statements, every occurrence of
every tensor and the adjoint equations.

options:",
        stdin: "FILE",
        run: run_check,
    },
    Subcommand {
        name: "eval",
        args: "FILE --data DATA.json",
        summary: "print values and gradients as JSON",
        with_value: &["--data"],
        flags: &[],
        help: "Evaluates the model in FILE on the data in DATA.json and prints the
values of every tensor and the gradients of every input and param as JSON:
{\"values\": {...}, \"grads\": {...}}.

options:
  --data DATA.json         required: {\"sizes\": {\"n\": 6}, \"tensors\": {\"y^0\": [..],
                           \"w\": [..]}, \"seed\": {\"y^2\": [..]}}; tensors flattened
                           row-major, a seed for every output (a scalar
                           output's defaults to 1)",
        stdin: "FILE or DATA.json (not both)",
        run: run_eval,
    },
    Subcommand {
        name: "rust",
        args: "FILE [--type f32|f64|generic] [--gemm]",
        summary: "print a Rust module with forward and backward",
        with_value: &["--type"],
        flags: &["--gemm"],
        help: "Prints a Rust module with the forward and backward functions of the model
in FILE (the API of docs/GENERATED_API.md), without unsafe and, unless
--gemm, without dependencies.

options:
  --type f32|f64|generic   the element type: generic (the default) makes the
                           kernels generic over the module's Real trait,
                           implemented for f32 and f64; f32 or f64 gives
                           concrete code
  --gemm                   convolutions and matrix products call
                           sharegrad_runtime::gemm: faster, but the module then
                           needs the sharegrad-runtime crate (runtime/); when
                           nothing in the model lowers, a note on standard
                           error says so and the module needs no crate",
        stdin: "FILE",
        run: run_rust,
    },
    Subcommand {
        name: "latex",
        args: "FILE [-o OUT.tex] [--fragment|--markdown]",
        summary: "the derivation as LaTeX (or Markdown)",
        with_value: &["-o"],
        flags: &["--fragment", "--markdown"],
        help: "Prints the step-by-step derivation of the gradients of the model in FILE:
by default a complete LaTeX document that pdflatex compiles.

options:
  -o OUT.tex               write it to OUT.tex instead of standard output
  --fragment               only the body, to \\input into a document that loads
                           amsmath
  --markdown               Markdown with $$ blocks that KaTeX and MathJax
                           render (not with --fragment)",
        stdin: "FILE",
        run: run_latex,
    },
    Subcommand {
        name: "derive",
        args: "[FILE] [--out DIR]",
        summary: "write NAME.tex, NAME.pdf and NAME.rs",
        with_value: &["--out"],
        flags: &[],
        help: "Writes the derivation of the model in FILE as NAME.tex and, when pdflatex
is on PATH, NAME.pdf, and its Rust module (generic, with the derivation as
DERIVATION) as NAME.rs. NAME is FILE's stem (the folder's name for a
model.eq, `model` for standard input). Without FILE: the seed's two-layer
example, NAME seed.

options:
  --out DIR                the folder to write into, created if missing
                           (default: out)",
        stdin: "FILE",
        run: run_derive,
    },
];

/// `sharegrad --help`: every subcommand's usage line and summary.
fn usage() -> String {
    /// Width of the usage column; longer usages put the summary below.
    const COLUMN: usize = 37;
    let mut text = String::from("usage:\n");
    let mut line = |left: &str, right: &str| {
        if left.len() <= COLUMN {
            text.push_str(&format!("  {left:<COLUMN$}  {right}\n"));
        } else {
            text.push_str(&format!("  {left}\n  {:COLUMN$}  {right}\n", ""));
        }
    };
    for c in SUBCOMMANDS {
        line(&format!("sharegrad {} {}", c.name, c.args), c.summary);
    }
    line(
        "sharegrad COMMAND --help",
        "its usage and options (also: help COMMAND)",
    );
    line("sharegrad --help | --version", "this text, or the version");
    text.push_str("\nFILE (or DATA.json) may be `-` for standard input.");
    text
}

/// `sharegrad NAME --help`.
fn subcommand_help(c: &Subcommand) -> String {
    format!(
        "usage: sharegrad {} {}\n\n{}\n  -h, --help               print this help\n\n{} may be `-` for standard input.\n",
        c.name, c.args, c.help, c.stdin
    )
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            note(&format!("error: {msg}\n\n{}\n", usage()));
            ExitCode::from(2)
        }
        Err(Failure::Reported(text)) => {
            note(&text);
            ExitCode::from(1)
        }
    }
}

enum Failure {
    /// Wrong command line.
    Usage(String),
    /// Already formatted problems with the input.
    Reported(String),
}

/// A model file's name and text.
struct Source {
    name: String,
    text: String,
}

/// Writes to standard output. A reader that went away (`| head`) ends the
/// output quietly (`print!` would panic on the broken pipe); any other
/// failure (a full disk) is an error.
fn emit(text: &str) -> Result<(), Failure> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::Reported(format!(
            "error: cannot write to standard output: {e}\n"
        ))),
        _ => Ok(()),
    }
}

/// Writes to standard error, ignoring failures: a closed or broken stderr
/// (`2>&1 | head -1`) must not turn a reported error into a panic
/// (`eprint!` panics there), and there is nowhere left to report it.
pub(crate) fn note(text: &str) {
    use std::io::Write as _;
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

fn read_stdin() -> Result<String, Failure> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
        .map_err(|e| Failure::Reported(format!("error: cannot read standard input: {e}\n")))?;
    Ok(text)
}

fn read_source(path: Option<&str>) -> Result<Source, Failure> {
    match path {
        None => Ok(Source {
            name: "seed.eq (embedded)".into(),
            text: SEED_EXAMPLE.into(),
        }),
        Some("-") => Ok(Source {
            name: "<stdin>".into(),
            text: read_stdin()?,
        }),
        Some(p) => match std::fs::read(p) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => Ok(Source {
                    name: p.into(),
                    text,
                }),
                Err(e) => Err(Failure::Reported(format!(
                    "error: `{p}` is not UTF-8 text (invalid byte at offset {})\n",
                    e.utf8_error().valid_up_to()
                ))),
            },
            Err(e) => Err(Failure::Reported(format!(
                "error: cannot read `{p}`: {e}\n"
            ))),
        },
    }
}

fn compile(src: &Source) -> Result<Model, Failure> {
    sharegrad_core::compile(&src.text).map_err(|diags| {
        let mut text = diagnostics::render(&src.name, &src.text, &diags);
        let n = diags.len();
        text.push_str(&format!(
            "error: {n} problem{} in `{}`\n",
            if n == 1 { "" } else { "s" },
            src.name
        ));
        Failure::Reported(text)
    })
}

/// Splits `args` into positionals and `--flag value` options.
struct Args {
    positional: Vec<String>,
    options: Vec<(String, Option<String>)>,
}

/// Splits a subcommand's arguments; `-h` and `--help` are flags of every
/// subcommand.
fn parse_args(args: &[String], with_value: &[&str], flags: &[&str]) -> Result<Args, Failure> {
    let mut out = Args {
        positional: Vec::new(),
        options: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a.starts_with('-') && a != "-" {
            if with_value.contains(&a.as_str()) {
                let v = it
                    .next()
                    .ok_or_else(|| Failure::Usage(format!("`{a}` needs a value")))?;
                out.options.push((a.clone(), Some(v.clone())));
            } else if flags.contains(&a.as_str()) || a == "-h" || a == "--help" {
                out.options.push((a.clone(), None));
            } else {
                return Err(Failure::Usage(format!("unknown option `{a}`")));
            }
        } else {
            out.positional.push(a.clone());
        }
    }
    Ok(out)
}

impl Args {
    fn has(&self, name: &str) -> bool {
        self.options.iter().any(|(n, _)| n == name)
    }
    fn value(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }
    fn one_file(&self, required: bool) -> Result<Option<&str>, Failure> {
        match self.positional.as_slice() {
            [] if required => Err(Failure::Usage("missing FILE".into())),
            [] => Ok(None),
            [f] => Ok(Some(f)),
            [_, extra, ..] => Err(Failure::Usage(format!("unexpected argument `{extra}`"))),
        }
    }
}

fn run(args: &[String]) -> Result<(), Failure> {
    let Some((cmd, rest)) = args.split_first() else {
        return Err(Failure::Usage("missing command".into()));
    };
    match cmd.as_str() {
        "-h" | "--help" => emit(&format!("{}\n", usage())),
        "help" => match rest {
            [] => emit(&format!("{}\n", usage())),
            [name] => emit(&subcommand_help(subcommand(name)?)),
            [_, extra, ..] => Err(Failure::Usage(format!("unexpected argument `{extra}`"))),
        },
        "-V" | "--version" => emit(concat!("sharegrad ", env!("CARGO_PKG_VERSION"), "\n")),
        option if option.starts_with('-') => {
            Err(Failure::Usage(format!("unknown option `{option}`")))
        }
        name => {
            let c = subcommand(name)?;
            let a = parse_args(rest, c.with_value, c.flags)?;
            if a.has("-h") || a.has("--help") {
                return emit(&subcommand_help(c));
            }
            (c.run)(&a)
        }
    }
}

/// The subcommand called `name`.
fn subcommand(name: &str) -> Result<&'static Subcommand, Failure> {
    SUBCOMMANDS
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| Failure::Usage(format!("unknown command `{name}`")))
}

/// `sharegrad check FILE`.
fn run_check(a: &Args) -> Result<(), Failure> {
    let src = read_source(a.one_file(true)?)?;
    let model = compile(&src)?;
    emit(&sharegrad_core::report::check_summary(&model))?;
    Ok(())
}

/// `sharegrad eval FILE --data DATA.json`.
fn run_eval(a: &Args) -> Result<(), Failure> {
    let data_path = a
        .value("--data")
        .ok_or_else(|| Failure::Usage("`eval` needs `--data DATA.json`".into()))?;
    let file = a.one_file(true)?;
    if data_path == "-" && file == Some("-") {
        return Err(Failure::Usage(
            "the model and the data cannot both come from standard input".into(),
        ));
    }
    let src = read_source(file)?;
    let model = compile(&src)?;
    let text = if data_path == "-" {
        read_stdin()?
    } else {
        std::fs::read_to_string(data_path)
            .map_err(|e| Failure::Reported(format!("error: cannot read `{data_path}`: {e}\n")))?
    };
    let data = data::parse_data(&text)
        .map_err(|e| Failure::Reported(format!("error: {data_path}: {e}\n")))?;
    let results =
        sharegrad_core::eval::evaluate(&model.program, &model.gradient, &data).map_err(|e| {
            Failure::Reported(match e.span {
                Some(span) => diagnostics::render(
                    &src.name,
                    &src.text,
                    &[diagnostics::Diagnostic::new(span, e.message)],
                ),
                // Not in one place of the model: a problem of the data
                // (a missing or unknown tensor, a length, the sizes).
                None => format!("error: {data_path}: {e}\n"),
            })
        })?;
    emit(&format!("{}\n", data::results_to_json(&results)))?;
    Ok(())
}

/// `sharegrad rust FILE [--type f32|f64|generic] [--gemm]`.
fn run_rust(a: &Args) -> Result<(), Failure> {
    let real = rust_cmd::real_type(a.value("--type")).map_err(Failure::Usage)?;
    let gemm = a.has("--gemm");
    let src = read_source(a.one_file(true)?)?;
    let model = compile(&src)?;
    let text = rust_cmd::module(&model, real, gemm)
        .map_err(|e| Failure::Reported(format!("error: {e}\n")))?;
    if gemm && text.contains(sharegrad_core::codegen::NO_GEMM_NOTE) {
        note(&format!(
            "note: {}\n",
            sharegrad_core::codegen::NO_GEMM_NOTE
        ));
    }
    emit(&text)?;
    Ok(())
}

/// `sharegrad latex FILE [-o OUT.tex] [--fragment|--markdown]`.
fn run_latex(a: &Args) -> Result<(), Failure> {
    let file = a.one_file(true)?;
    let src = read_source(file)?;
    let model = compile(&src)?;
    let text = latex_cmd::latex_text(
        &model,
        &latex_cmd::model_name(file),
        a.has("--fragment"),
        a.has("--markdown"),
    )
    .map_err(Failure::Usage)?;
    match a.value("-o") {
        Some(out) => latex_cmd::write_file(std::path::Path::new(out), &text)
            .map_err(|e| Failure::Reported(format!("error: {e}\n")))?,
        None => emit(&text)?,
    }
    Ok(())
}

/// `sharegrad derive [FILE] [--out DIR]`.
fn run_derive(a: &Args) -> Result<(), Failure> {
    let file = a.one_file(false)?;
    let src = read_source(file)?;
    let model = compile(&src)?;
    let dir = std::path::PathBuf::from(a.value("--out").unwrap_or("out"));
    latex_cmd::derive(&model, &latex_cmd::model_name(file), &dir)
        .map_err(|e| Failure::Reported(format!("error: {e}\n")))
}

#[cfg(test)]
mod tests {
    use super::SUBCOMMANDS;

    /// An option added to a subcommand's parser must appear in its usage
    /// line and be explained in its help.
    #[test]
    fn every_option_is_in_its_usage_and_help() {
        for c in SUBCOMMANDS {
            for option in c.with_value.iter().chain(c.flags) {
                assert!(c.args.contains(option), "{} {}", c.name, option);
                assert!(
                    c.help.lines().any(|l| l.trim_start().starts_with(option)),
                    "{} --help explains {option}",
                    c.name
                );
            }
        }
    }
}
