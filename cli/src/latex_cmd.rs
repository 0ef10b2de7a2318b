//! `sharegrad latex` and `sharegrad derive`: the derivation document.
//!
//! ```text
//! sharegrad latex FILE [-o OUT.tex] [--fragment|--markdown]
//! sharegrad derive [FILE] [--out DIR]     NAME.tex, NAME.pdf, NAME.rs
//! ```

use crate::note;
use sharegrad_core::codegen;
use sharegrad_core::latex::{self, LatexOptions, Mode};
use sharegrad_core::Model;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The model's short name: the file stem (`seed` for `examples/seed.eq`),
/// `seed` for the embedded example, `model` for standard input.
pub fn model_name(path: Option<&str>) -> String {
    match path {
        None => "seed".into(),
        Some("-") => "model".into(),
        Some(p) => {
            let stem = Path::new(p)
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("model");
            // `fixtures/conv1d_valid/model.eq` is better named by its folder.
            if stem == "model" {
                Path::new(p)
                    .parent()
                    .and_then(|d| d.file_name())
                    .and_then(|s| s.to_str())
                    .unwrap_or("model")
                    .to_string()
            } else {
                stem.to_string()
            }
        }
    }
}

/// The document for `sharegrad latex`.
pub fn latex_text(
    model: &Model,
    name: &str,
    fragment: bool,
    markdown: bool,
) -> Result<String, String> {
    let mode = match (fragment, markdown) {
        (true, true) => return Err("`--fragment` and `--markdown` exclude each other".into()),
        (true, false) => Mode::Fragment,
        (false, true) => Mode::Markdown,
        (false, false) => Mode::Standalone,
    };
    Ok(latex::document(
        model,
        &LatexOptions {
            mode,
            title: Some(name.to_string()),
        },
    ))
}

/// Writes `text` to `path`, with the path in the error.
pub fn write_file(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

/// `sharegrad derive`: NAME.tex, NAME.pdf (when pdflatex is on PATH) and
/// NAME.rs in `dir`; progress on standard error.
pub fn derive(model: &Model, name: &str, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    let tex_path = dir.join(format!("{name}.tex"));
    let tex = latex::document(
        model,
        &LatexOptions {
            mode: Mode::Standalone,
            title: Some(name.to_string()),
        },
    );
    write_file(&tex_path, &tex)?;
    note(&format!("wrote {}\n", tex_path.display()));

    let rs_path = dir.join(format!("{name}.rs"));
    let opts = codegen::Options {
        derivation: Some(latex::derivation(model)),
        ..codegen::Options::default()
    };
    match codegen::module_source(model, &opts) {
        Ok(src) => {
            write_file(&rs_path, &src)?;
            note(&format!("wrote {}\n", rs_path.display()));
        }
        Err(e) => note(&format!("note: no {name}.rs: {e}\n")),
    }

    if !on_path("pdflatex") {
        note(&format!(
            "note: pdflatex is not on PATH, so no {name}.pdf; install TeX Live (Debian: texlive-latex-base texlive-latex-recommended) or compile {} yourself\n",
            tex_path.display()
        ));
        return Ok(());
    }
    note(&format!("compiling {name}.tex with pdflatex...\n"));
    let pdf = compile_pdf(&tex_path, dir)?;
    note(&format!("wrote {}\n", pdf.display()));
    Ok(())
}

/// True when `prog` is an executable file in some PATH directory.
pub fn on_path(prog: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(prog).is_file()))
}

/// Runs `pdflatex -halt-on-error` on `tex` with output in `dir`; on failure,
/// the error lines of its log.
pub fn compile_pdf(tex: &Path, dir: &Path) -> Result<PathBuf, String> {
    let stem = tex.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    // TeX reads the file name as TeX input, where `%`, `~`, `#`, spaces and
    // the like mean something else. pdflatex runs in `dir` on relative
    // names (so the directory's name does not matter either); a name with
    // other characters is compiled from a copy with a plain name, and the
    // PDF renamed.
    let plain = stem
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    let job = if plain {
        stem.to_owned()
    } else {
        format!("sharegrad-job-{}", std::process::id())
    };
    let input = dir.join(format!("{job}.tex"));
    if !plain {
        std::fs::copy(tex, &input)
            .map_err(|e| format!("cannot copy `{}` for pdflatex: {e}", tex.display()))?;
    }
    let out = Command::new("pdflatex")
        .current_dir(dir)
        .arg("-halt-on-error")
        .arg("-interaction=nonstopmode")
        .arg(format!("{job}.tex"))
        .output();
    if !plain {
        let _ = std::fs::remove_file(&input);
    }
    let out = out.map_err(|e| format!("cannot run pdflatex: {e}"))?;
    let log = dir.join(format!("{job}.log"));
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stdout);
        let errors: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with('!'))
            .take(12)
            .collect();
        return Err(format!(
            "pdflatex failed on `{}` (log: {}):\n{}",
            tex.display(),
            log.display(),
            if errors.is_empty() {
                text.lines().rev().take(12).collect::<Vec<_>>().join("\n")
            } else {
                errors.join("\n")
            }
        ));
    }
    let _ = std::fs::remove_file(dir.join(format!("{job}.aux")));
    let _ = std::fs::remove_file(&log);
    let pdf = dir.join(format!("{stem}.pdf"));
    if !plain {
        std::fs::rename(dir.join(format!("{job}.pdf")), &pdf)
            .map_err(|e| format!("cannot write `{}`: {e}", pdf.display()))?;
    }
    Ok(pdf)
}
