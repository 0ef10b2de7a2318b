//! The `sharegrad` command line.
//!
//! ```text
//! sharegrad check FILE                  resolve and summarise a model
//! sharegrad eval FILE --data DATA.json  values and gradients as JSON
//! sharegrad latex FILE [-o OUT.tex]     the derivation document
//! sharegrad rust FILE [--type T] [--gemm]  a Rust module (self-contained without --gemm)
//! sharegrad derive [FILE] [--out DIR]   NAME.tex, NAME.pdf, NAME.rs
//! ```
//!
//! Errors print `file:line:col` with a caret excerpt on stderr and exit 1;
//! usage errors exit 2.

mod data;
mod latex_cmd;
mod rust_cmd;

use sharegrad_core::{diagnostics, Model};
use std::process::ExitCode;

/// The seed's two-layer example, derived when `derive` gets no file.
const SEED_EXAMPLE: &str = include_str!("../../examples/seed.eq");

const USAGE: &str = "usage:
  sharegrad check FILE                   parse, resolve and summarise a model
  sharegrad eval FILE --data DATA.json   print values and gradients as JSON
  sharegrad rust FILE [--type f32|f64|generic] [--gemm]
                                         print a self-contained Rust module with
                                         forward and backward (default: generic);
                                         --gemm lowers contractions to calls of
                                         the sharegrad-runtime crate (faster)
  sharegrad latex FILE [-o OUT.tex] [--fragment|--markdown]
                                         the derivation as LaTeX (or Markdown)
  sharegrad derive [FILE] [--out DIR]    write NAME.tex, NAME.pdf and NAME.rs (DIR: out)
                                         (without FILE: the seed's example)
  sharegrad --help

FILE (or DATA.json) may be `-` for standard input.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Reported(text)) => {
            eprint!("{text}");
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
            } else if flags.contains(&a.as_str()) {
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
        "-h" | "--help" | "help" => {
            emit(&format!("{USAGE}\n"))?;
            Ok(())
        }
        "check" => {
            let a = parse_args(rest, &[], &[])?;
            let src = read_source(a.one_file(true)?)?;
            let model = compile(&src)?;
            emit(&sharegrad_core::report::check_summary(&model))?;
            Ok(())
        }
        "eval" => {
            let a = parse_args(rest, &["--data"], &[])?;
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
                std::fs::read_to_string(data_path).map_err(|e| {
                    Failure::Reported(format!("error: cannot read `{data_path}`: {e}\n"))
                })?
            };
            let data = data::parse_data(&text)
                .map_err(|e| Failure::Reported(format!("error: {data_path}: {e}\n")))?;
            let results = sharegrad_core::eval::evaluate(&model.program, &model.gradient, &data)
                .map_err(|e| {
                    Failure::Reported(match e.span {
                        Some(span) => diagnostics::render(
                            &src.name,
                            &src.text,
                            &[diagnostics::Diagnostic::new(span, e.message)],
                        ),
                        None => format!("error: {e}\n"),
                    })
                })?;
            emit(&format!("{}\n", data::results_to_json(&results)))?;
            Ok(())
        }
        "rust" => {
            let a = parse_args(rest, &["--type"], &["--gemm"])?;
            let real = rust_cmd::real_type(a.value("--type")).map_err(Failure::Usage)?;
            let gemm = a.options.iter().any(|(n, _)| n == "--gemm");
            let src = read_source(a.one_file(true)?)?;
            let model = compile(&src)?;
            let text = rust_cmd::module(&model, real, gemm)
                .map_err(|e| Failure::Reported(format!("error: {e}\n")))?;
            emit(&text)?;
            Ok(())
        }
        "latex" => {
            let a = parse_args(rest, &["-o"], &["--fragment", "--markdown"])?;
            let file = a.one_file(true)?;
            let src = read_source(file)?;
            let model = compile(&src)?;
            let has = |f: &str| a.options.iter().any(|(n, _)| n == f);
            let text = latex_cmd::latex_text(
                &model,
                &latex_cmd::model_name(file),
                has("--fragment"),
                has("--markdown"),
            )
            .map_err(Failure::Usage)?;
            match a.value("-o") {
                Some(out) => latex_cmd::write_file(std::path::Path::new(out), &text)
                    .map_err(|e| Failure::Reported(format!("error: {e}\n")))?,
                None => emit(&text)?,
            }
            Ok(())
        }
        "derive" => {
            let a = parse_args(rest, &["--out"], &[])?;
            let file = a.one_file(false)?;
            let src = read_source(file)?;
            let model = compile(&src)?;
            let dir = std::path::PathBuf::from(a.value("--out").unwrap_or("out"));
            latex_cmd::derive(&model, &latex_cmd::model_name(file), &dir)
                .map_err(|e| Failure::Reported(format!("error: {e}\n")))
        }
        other => Err(Failure::Usage(format!("unknown command `{other}`"))),
    }
}
