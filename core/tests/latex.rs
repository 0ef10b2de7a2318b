//! The derivation documents of every example and every fixture model:
//! insta snapshots (under `snapshots/`), a `pdflatex -halt-on-error` run
//! that also rejects lines more than 20pt too wide, and a KaTeX run over
//! every formula of the Markdown flavour (`tests/katex/check.js`).
//!
//! The two tool checks print a note and pass when the tool is missing,
//! except in CI (`CI` set), where a missing tool fails the test.

use sharegrad_core::latex::{self, LatexOptions, Mode};
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s
}

/// A model's name: the file stem, or the fixture's folder.
fn name_of(path: &Path) -> String {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    if stem == "model" {
        path.parent()
            .and_then(|d| d.file_name())
            .and_then(|s| s.to_str())
            .unwrap_or("model")
            .to_string()
    } else {
        stem.to_string()
    }
}

fn doc(path: &Path, mode: Mode) -> String {
    let src = std::fs::read_to_string(path).unwrap();
    let model =
        sharegrad_core::compile(&src).unwrap_or_else(|d| panic!("{}: {d:?}", path.display()));
    latex::document(
        &model,
        &LatexOptions {
            mode,
            title: Some(name_of(path)),
        },
    )
}

/// Every example and every fixture model.
fn models() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut add = |dir: PathBuf, nested: bool| {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .map(|p| if nested { p.join("model.eq") } else { p })
            .filter(|p| p.extension().is_some_and(|x| x == "eq") && p.is_file())
            .collect();
        found.sort();
        out.extend(found);
    };
    add(Path::new(ROOT).join("examples"), false);
    add(Path::new(ROOT).join("tests/fixtures"), true);
    assert!(
        out.len() >= 6,
        "examples and fixtures not found under {ROOT}"
    );
    out
}

#[test]
fn latex_documents_of_examples() {
    settings().bind(|| {
        insta::glob!("../../examples", "*.eq", |path| {
            insta::assert_snapshot!("latex", doc(path, Mode::Standalone));
        });
    });
}

#[test]
fn latex_documents_of_fixtures() {
    settings().bind(|| {
        insta::glob!("../../tests/fixtures", "*/model.eq", |path| {
            insta::assert_snapshot!("latex", doc(path, Mode::Standalone));
        });
    });
}

#[test]
fn seed_document_completes_the_blog_post() {
    let tex = doc(&Path::new(ROOT).join("examples/seed.eq"), Mode::Fragment);
    // The seed's open end, carried to the end.
    let completed = "\\frac{\\partial E}{\\partial w_{0}} &= \\frac{\\partial E}{\\partial y^{2}_{j}}\\, h'(x^{2}_{j})\\, \\sum_{a=1}^{3} w_{a}\\, h'(x^{1}_{j+a-1})\\, y^{0}_{j+a-1}";
    assert!(tex.contains(completed), "{tex}");
    // Each occurrence of w_0 written out and finished, as the seed starts to.
    assert!(
        tex.contains("w_{1}\\, \\frac{\\partial}{\\partial w_{0}} h(w_{0}\\, y^{0}_{i})"),
        "{tex}"
    );
    assert!(
        tex.contains("w_{1}\\, h'(w_{0}\\, y^{0}_{i})\\, y^{0}_{i}"),
        "{tex}"
    );
    // The gather form with its boundary conditions.
    assert!(tex.contains("\\max(1, j-n+4)"), "{tex}");
    assert!(tex.contains("\\left[j = 0\\right]"), "{tex}");
    assert!(!tex.contains("\\documentclass"));
}

/// The post's own text, pasted (wrappers, the `aligned` chain, a trailing
/// period), gives the seed example's document plus the chain's two
/// restatements under the definition of x^2, and one sentence about them.
#[test]
fn pasted_seed_shows_its_restatements_and_derives_the_same() {
    let seed = doc(&Path::new(ROOT).join("examples/seed.eq"), Mode::Fragment);
    let pasted = doc(
        &Path::new(ROOT).join("examples/seed_pasted.eq"),
        Mode::Fragment,
    );
    let definition = "x^{2}_{i} &= \\sum_{a=1}^{3} w_{a}\\, y^{1}_{i+a-1} \\\\\n";
    let chain = " &= w_{1}\\, y^{1}_{i} + w_{2}\\, y^{1}_{i+1} + w_{3}\\, y^{1}_{i+2} \\\\\n &= w_{1}\\, h(w_{0}\\, y^{0}_{i}) + w_{2}\\, h(w_{0}\\, y^{0}_{i+1}) + w_{3}\\, h(w_{0}\\, y^{0}_{i+2}) \\\\\n";
    assert!(seed.contains(definition), "{seed}");
    assert!(!seed.contains(chain), "{seed}");
    let sentence = "\n\nLines that begin with $=$ restate the equation above them as the model writes it. sharegrad checked that each equals the definition at every point, on random data (a function without a definition standing for any function); the derivation starts from the first form.";
    let last = "y^{2}_{i} &= h(x^{2}_{i})\n\\end{align*}\n";
    assert!(seed.contains(last), "{seed}");
    let expected = seed
        .replacen(definition, &format!("{definition}{chain}"), 1)
        .replacen(last, &format!("{}{sentence}\n", last.trim_end()), 1);
    let differ = pasted
        .bytes()
        .zip(expected.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(pasted.len().min(expected.len()));
    assert!(
        pasted == expected,
        "documents differ from byte {differ}:\n{}\n---\n{}",
        pasted
            .get(differ.saturating_sub(200)..(differ + 200).min(pasted.len()))
            .unwrap_or(&pasted),
        expected
            .get(differ.saturating_sub(200)..(differ + 200).min(expected.len()))
            .unwrap_or(&expected)
    );
}

#[test]
fn markdown_uses_aligned_inside_dollars() {
    let md = doc(&Path::new(ROOT).join("examples/seed.eq"), Mode::Markdown);
    assert!(md.starts_with("# "));
    assert!(md.contains("$$\n\\begin{aligned}"));
    assert!(!md.contains("align*"));
    assert!(!md.contains("tabular"));
}

/// A condition on the element that the element's own range implies (taps
/// from -1 to 1 reading `w_{a+1}`, all of `w`) is dropped, and the
/// derivation says so; when `w` is longer than the taps reach, it stays.
#[test]
fn conditions_the_element_range_implies_are_dropped() {
    let derive = |w_len: usize| {
        let src = format!(
            "input y_i, 0 \\le i < n\nparam w_a, 0 \\le a < {w_len}\n\
             x_i = \\sum_{{a=-1}}^{{1}} w_{{a+1}} y_{{i+a}}, 0 \\le i < n\noutput x\n"
        );
        let model = sharegrad_core::compile(&src).expect("compiles");
        latex::derivation(&model)
    };
    let step = "The range $-1 \\le a \\le 1$ of the eliminated $a$ becomes $-1 \\le j-1 \\le 1$";
    let tight = derive(3);
    assert!(
        tight.contains(&format!("{step}, which every element satisfies.")),
        "{tight}"
    );
    assert!(
        !tight.contains("\\left[-1 \\le j-1 \\le 1\\right]"),
        "{tight}"
    );
    let loose = derive(5);
    assert!(
        loose.contains(&format!("{step}, a condition on the element.")),
        "{loose}"
    );
    assert!(
        loose.contains("\\left[-1 \\le j-1 \\le 1\\right]"),
        "{loose}"
    );
}

#[test]
fn a_long_sum_renders_in_linear_time() {
    // One sum of 100 000 reads: each read's contribution used to search
    // every adjoint term and walk the whole right-hand side, and the line
    // breaker summed the rest of the line at every piece; 160 s before,
    // about a second now (the bound leaves room for debug builds).
    let n = 100_000;
    let src = format!("input x\ny = {}\n", vec!["x"; n].join(" + "));
    let model = sharegrad_core::compile(&src).expect("a long sum is valid");
    let start = std::time::Instant::now();
    let tex = latex::document(&model, &LatexOptions::default());
    let took = start.elapsed();
    assert!(took.as_secs() < 60, "{n} terms took {took:?}");
    assert!(tex.contains("\\bar{x}"), "the gradient of x is derived");
}

/// Skips (returns false) with a note when a tool is missing outside CI;
/// fails in CI.
fn tool_available(ok: bool, what: &str) -> bool {
    if ok {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{what} is required in CI but missing");
    }
    eprintln!("skipping: {what} is missing (CI would fail here)");
    false
}

fn runs(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn scratch(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sharegrad-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Widths of the `Overfull \hbox (X pt too wide)` warnings in a log.
fn overfull_widths(log: &str) -> Vec<(f64, String)> {
    let mut out = Vec::new();
    for (k, line) in log.lines().enumerate() {
        if let Some(rest) = line.strip_prefix("Overfull \\hbox (") {
            if let Some(x) = rest
                .split("pt too wide")
                .next()
                .and_then(|x| x.parse::<f64>().ok())
            {
                let context: Vec<&str> = log.lines().skip(k).take(3).collect();
                out.push((x, context.join("\n")));
            }
        }
    }
    out
}

#[test]
fn pdflatex_compiles_every_document_without_wide_lines() {
    if !tool_available(runs("pdflatex", "--version"), "pdflatex") {
        return;
    }
    let dir = scratch("pdflatex");
    let mut problems = Vec::new();
    for path in models() {
        let name = name_of(&path);
        let tex = dir.join(format!("{name}.tex"));
        std::fs::write(&tex, doc(&path, Mode::Standalone)).unwrap();
        let out = Command::new("pdflatex")
            .args(["-halt-on-error", "-interaction=nonstopmode"])
            .arg(format!("-output-directory={}", dir.display()))
            .arg(&tex)
            .output()
            .expect("pdflatex runs");
        let log = std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default();
        if !out.status.success() {
            let errors: Vec<&str> = log
                .lines()
                .skip_while(|l| !l.starts_with('!'))
                .take(8)
                .collect();
            problems.push(format!("{name}: pdflatex failed:\n{}", errors.join("\n")));
            continue;
        }
        for (x, context) in overfull_widths(&log) {
            if x > 20.0 {
                problems.push(format!("{name}: a line {x}pt too wide:\n{context}"));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn katex_renders_every_formula_of_the_markdown() {
    let katex = Path::new(ROOT).join("node_modules/katex");
    let have = runs("node", "--version") && katex.is_dir();
    if !tool_available(have, "node with node_modules/katex (npm install)") {
        return;
    }
    let dir = scratch("katex");
    let mut files = Vec::new();
    for path in models() {
        let md = dir.join(format!("{}.md", name_of(&path)));
        std::fs::write(&md, doc(&path, Mode::Markdown)).unwrap();
        files.push(md);
    }
    let out = Command::new("node")
        .arg(Path::new(ROOT).join("tests/katex/check.js"))
        .args(&files)
        .output()
        .expect("node runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
