//! The command line end to end: the PyTorch fixtures through `eval`, exit
//! codes, and the shape of error messages.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sharegrad(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sharegrad"))
        .args(args)
        .output()
        .expect("runs")
}

/// `sharegrad check` on `text` written to `name` in a directory of this
/// test run.
fn check_text(name: &str, text: &str) -> Output {
    let dir = std::env::temp_dir().join(format!("sharegrad-cli-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    sharegrad(&["check", path.to_str().unwrap()])
}

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

fn flat(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(flat).collect(),
        x => vec![x.as_f64().unwrap()],
    }
}

/// Every fixture (PyTorch float64 autograd) matches to 1e-9, values and
/// gradients, and `eval` prints nothing it was not asked for.
#[test]
fn pytorch_fixtures_match_through_eval() {
    let all = fixtures();
    assert_eq!(all.len(), 5);
    for dir in all {
        matches_pytorch(&dir);
    }
}

/// The same for our own PyTorch references (tests/torch/make.py), for models
/// written after the project's fixtures.
#[test]
fn our_pytorch_references_match_through_eval() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/torch");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            matches_pytorch(&path);
            n += 1;
        }
    }
    assert!(n >= 1);
}

fn matches_pytorch(dir: &Path) {
    let out = sharegrad(&[
        "eval",
        dir.join("model.eq").to_str().unwrap(),
        "--data",
        dir.join("data.json").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let want: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    for section in ["values", "grads"] {
        let (g, w) = (
            got[section].as_object().unwrap(),
            want[section].as_object().unwrap(),
        );
        assert_eq!(
            g.keys().collect::<Vec<_>>(),
            w.keys().collect::<Vec<_>>(),
            "{}: keys of {section}",
            dir.display()
        );
        for (k, wv) in w {
            let (gv, wv) = (flat(&g[k]), flat(wv));
            assert_eq!(gv.len(), wv.len(), "{}: {section}.{k}", dir.display());
            for (i, (a, b)) in gv.iter().zip(&wv).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-9 * (1.0 + b.abs()),
                    "{}: {section}.{k}[{i}] = {a}, want {b}",
                    dir.display()
                );
            }
        }
    }
}

#[test]
fn model_errors_exit_1_with_file_line_column_and_caret() {
    let out = check_text("bad.eq", "input y_j, 0 \\le j < n\nx_i = y_{i+j}\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("index `j` is not bound"), "{err}");
    assert!(err.contains("bad.eq:2:12"), "{err}");
    assert!(err.contains("2 | x_i = y_{i+j}\n  |            ^"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn odd_line_ends_and_control_characters_are_shown_not_echoed() {
    // Old Mac line ends: three lines, the error on the third.
    let out = check_text("mac.eq", "input y_j, 0 \\le j < n\r% note\rx_i = y_{i+k}\r");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("index `k` is not bound"), "{err}");
    assert!(err.contains("mac.eq:3:12"), "{err}");
    assert!(
        err.contains("3 | x_i = y_{i+k}\n  |            ^"),
        "{err:?}"
    );
    assert!(!err.contains('\r'), "{err:?}");
    // A NUL byte: named in the message, drawn as a control picture, and
    // the caret still under it.
    let out = check_text("nul.eq", "input y_j, 0 \\le j < n\nx_j = y_j \u{0} 2\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("unexpected `\\u{0}`"), "{err:?}");
    assert!(err.contains("nul.eq:2:11"), "{err}");
    assert!(
        err.contains("2 | x_j = y_j \u{2400} 2\n  |           ^"),
        "{err:?}"
    );
    assert!(!err.contains('\u{0}'), "{err:?}");
    // A byte-order mark is skipped: the model checks.
    let out = check_text(
        "bom.eq",
        "\u{feff}input y_j, 0 \\le j < n\r\nx_j = 2 y_j\r\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(sharegrad(&[]).status.code(), Some(2));
    assert_eq!(sharegrad(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(sharegrad(&["eval", "x.eq"]).status.code(), Some(2));
    assert_eq!(sharegrad(&["check", "a.eq", "b.eq"]).status.code(), Some(2));
}

/// Every option each subcommand takes, as its help must name it.
const SUBCOMMAND_OPTIONS: [(&str, &[&str]); 5] = [
    ("check", &[]),
    ("eval", &["--data DATA.json"]),
    ("rust", &["--type f32|f64|generic", "--gemm"]),
    ("latex", &["-o OUT.tex", "--fragment", "--markdown"]),
    ("derive", &["--out DIR"]),
];

#[test]
fn version_prints_the_crate_version() {
    for flag in ["--version", "-V"] {
        let out = sharegrad(&[flag]);
        assert_eq!(out.status.code(), Some(0), "{flag}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("sharegrad {}\n", env!("CARGO_PKG_VERSION"))
        );
        assert!(out.stderr.is_empty(), "{flag}");
    }
}

#[test]
fn each_subcommand_has_its_own_help() {
    let overview = sharegrad(&["--help"]);
    assert_eq!(overview.status.code(), Some(0));
    let overview = String::from_utf8_lossy(&overview.stdout).into_owned();
    assert!(overview.contains("sharegrad COMMAND --help"), "{overview}");
    for (cmd, options) in SUBCOMMAND_OPTIONS {
        // `-h`, `--help`, `help CMD`, and `--help` after a file that is
        // never read: the same text on stdout, nothing on stderr.
        let runs = [
            sharegrad(&[cmd, "--help"]),
            sharegrad(&[cmd, "-h"]),
            sharegrad(&["help", cmd]),
            sharegrad(&[cmd, "/nonexistent/model.eq", "--help"]),
        ];
        let help = String::from_utf8_lossy(&runs[0].stdout).into_owned();
        for out in &runs {
            assert_eq!(out.status.code(), Some(0), "{cmd}");
            assert_eq!(String::from_utf8_lossy(&out.stdout), help, "{cmd}");
            assert!(out.stderr.is_empty(), "{cmd}");
        }
        let usage = help.lines().next().unwrap();
        assert!(
            usage.starts_with(&format!("usage: sharegrad {cmd}")),
            "{help}"
        );
        // The overview shows the same usage line.
        let synopsis = usage.trim_start_matches("usage: ");
        assert!(overview.contains(synopsis), "{synopsis} in {overview}");
        for option in options.iter().chain(&["-h, --help"]) {
            assert!(
                help.lines().any(|l| l.trim_start().starts_with(option)),
                "`{cmd} --help` explains {option}:\n{help}"
            );
        }
    }
}

#[test]
fn unknown_options_are_usage_errors() {
    for (args, message) in [
        (&["--verbose"][..], "unknown option `--verbose`"),
        (&["rust", "--bogus", "x.eq"], "unknown option `--bogus`"),
        (&["check", "--version"], "unknown option `--version`"),
        (&["derive", "--fragment"], "unknown option `--fragment`"),
        (&["help", "frobnicate"], "unknown command `frobnicate`"),
    ] {
        let out = sharegrad(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(
            err.starts_with(&format!("error: {message}\n")),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn missing_files_and_bad_data_are_reported_not_panicked() {
    let out = sharegrad(&["check", "/nonexistent/model.eq"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read `/nonexistent/model.eq`"));

    let dir = std::env::temp_dir().join(format!("sharegrad-cli-data-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/conv1d_valid/model.eq");
    for (name, text, needle) in [
        (
            "short.json",
            r#"{"sizes":{"L":8},"tensors":{"y":[1,2,3],"w":[1,2,3]},"seed":{"x":[1,1,1,1,1,1]}}"#,
            "`y`",
        ),
        (
            "nosize.json",
            r#"{"sizes":{},"tensors":{"y":[1,2,3,4,5,6,7,8],"w":[1,2,3]},"seed":{"x":[1,1,1,1,1,1]}}"#,
            "`L`",
        ),
        ("broken.json", r#"{"sizes": {"L": 8"#, "json"),
        (
            "twice.json",
            r#"{"sizes":{"L":8,"L":9},"tensors":{"y":[1,2,3,4,5,6,7,8],"w":[1,2,3]},"seed":{"x":[1,1,1,1,1,1]}}"#,
            "the key \"l\" appears twice in one object at line 1 column 19",
        ),
        (
            // The evaluator would need ~2^31 values for `y` and `x` with
            // their gradients: an error before any allocation, not an abort.
            "huge.json",
            r#"{"sizes":{"L":1000000000},"tensors":{"w":[1,2,3]}}"#,
            "the evaluator holds at most",
        ),
        (
            "unknown.json",
            r#"{"sizes":{"L":8},"tensors":{"y":[1,2,3,4,5,6,7,8],"w":[1,2,3],"q":[1]},"seed":{"x":[1,1,1,1,1,1]}}"#,
            "`q`",
        ),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        let out = sharegrad(&[
            "eval",
            model.to_str().unwrap(),
            "--data",
            p.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(&needle.to_lowercase()), "{name}: {err}");
        // Every one names the data file it is about.
        assert!(
            err.contains(&p.to_str().unwrap().to_lowercase()),
            "{name}: {err}"
        );
    }
    // One value is "1 value".
    let p = dir.join("one.json");
    std::fs::write(
        &p,
        r#"{"sizes":{"L":8},"tensors":{"y":[1,2,3,4,5,6,7,8],"w":[1]},"seed":{"x":[1,1,1,1,1,1]}}"#,
    )
    .unwrap();
    let out = sharegrad(&[
        "eval",
        model.to_str().unwrap(),
        "--data",
        p.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "error: {}: tensor `w` has 1 value, expected 3",
            p.display()
        )),
        "{err}"
    );
}

#[test]
fn check_prints_occurrences_of_the_shared_weight() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/seed.eq");
    let out = sharegrad(&["check", model.to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    // w is read by two statements: w_0 in the first layer, w_a in the second.
    assert!(
        text.contains("w (gets a gradient): 2 occurrences"),
        "{text}"
    );
    assert!(text.contains("reads w[0]"), "{text}");
    assert!(text.contains("reads w[a]"), "{text}");
}

#[test]
fn rust_with_gemm_calls_the_runtime_only_when_asked() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let model = root.join("tests/fixtures/conv2d_same_bias/model.eq");
    let model = model.to_str().expect("utf-8 path");
    let plain = sharegrad(&["rust", model, "--type", "f32"]);
    let fast = sharegrad(&["rust", model, "--type", "f32", "--gemm"]);
    assert_eq!(plain.status.code(), Some(0));
    assert_eq!(fast.status.code(), Some(0));
    let (plain, fast) = (
        String::from_utf8_lossy(&plain.stdout),
        String::from_utf8_lossy(&fast.stdout),
    );
    assert!(
        !plain.contains("sharegrad_runtime"),
        "self-contained without --gemm"
    );
    // The forward pass and both gradients of the 3x3 convolution are
    // lowered (Winograd); the bias stays a loop.
    assert_eq!(
        fast.matches("::sharegrad_runtime::conv3x3(").count(),
        2,
        "{fast}"
    );
    assert_eq!(
        fast.matches("::sharegrad_runtime::conv3x3_filter(").count(),
        1,
        "{fast}"
    );
    // A flag value is a usage error.
    let bad = sharegrad(&["rust", model, "--gemm=yes"]);
    assert_eq!(bad.status.code(), Some(2));
    // The seed has no contraction (no sum over a shared index of two
    // tensors): `--gemm` says so, and the generic module then does not
    // name the runtime, not even in its `Real` trait.
    let seed = root.join("examples/seed.eq");
    let out = sharegrad(&["rust", seed.to_str().expect("utf-8 path"), "--gemm"]);
    assert_eq!(out.status.code(), Some(0));
    let (text, err) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!text.contains("sharegrad_runtime"), "{text}");
    assert!(
        err.contains("note: --gemm: no contraction here lowers to a GEMM call"),
        "{err}"
    );
    assert!(text.contains("// --gemm: no contraction here"), "{text}");
}

/// `sharegrad rust` output pasted into a crate passes `cargo clippy -D
/// warnings`: in a library, every example, every loop-layout model of
/// `tests/layouts` (convolutions whose `--gemm` rows merge, literal
/// extents, no sizes, copies, constant indices) and the conv2d fixture,
/// generic and, with `--gemm`, f32 (the kernels' deliberate index loops
/// carry their own `allow`s; nothing else may warn); and the seed as a
/// private module of a binary that uses one item of it.
#[test]
fn pasted_modules_pass_clippy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::temp_dir().join(format!("sharegrad-pasted-{}", std::process::id()));
    let src = dir.join("src");
    std::fs::create_dir_all(&src).expect("temp crate");
    let runtime = root.join("runtime");
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"pasted\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n[workspace]\n[dependencies]\nsharegrad-runtime = {{ path = {:?} }}\n",
            runtime.display().to_string()
        ),
    )
    .expect("Cargo.toml");
    // The workspace's lock file: the same `gemm` crate, no resolution.
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).expect("Cargo.lock");
    let mut lib = String::new();
    let mut examples: Vec<PathBuf> = ["examples", "tests/layouts"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d)).expect("model directory"))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "eq"))
        .collect();
    examples.sort();
    assert!(
        examples.len() >= 20,
        "examples/ and tests/layouts/ hold the models"
    );
    // Its --gemm output merges image rows (padded copies).
    examples.push(root.join("tests/fixtures/conv2d_same_bias/model.eq"));
    for (k, eq) in examples.iter().enumerate() {
        let eq = eq.to_str().expect("utf-8 path");
        for (tag, args) in [
            ("m", vec!["rust", eq]),
            ("g", vec!["rust", eq, "--type", "f32", "--gemm"]),
        ] {
            let out = sharegrad(&args);
            assert_eq!(out.status.code(), Some(0), "{eq}");
            std::fs::write(src.join(format!("{tag}{k}.rs")), &out.stdout).expect("module");
            lib.push_str(&format!("pub mod {tag}{k};\n"));
        }
    }
    std::fs::write(src.join("lib.rs"), lib).expect("lib.rs");
    // In a binary crate the module is private, so whatever the binary does
    // not call (here: all but `Sizes`) must not warn as dead code either.
    let seed = sharegrad(&[
        "rust",
        root.join("examples/seed.eq").to_str().expect("utf-8 path"),
    ]);
    std::fs::write(src.join("private_seed.rs"), &seed.stdout).expect("module");
    std::fs::write(
        src.join("main.rs"),
        "mod private_seed;\nfn main() {\n    let _ = private_seed::Sizes { n: 3 };\n}\n",
    )
    .expect("main.rs");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["clippy", "--quiet", "--", "-D", "warnings"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .output()
        .expect("cargo clippy runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "clippy on pasted modules:\n{stderr}");
}

/// Run-time problems of `eval` that sit in one place of the model point there
/// with file, line, column and caret: a value that is not finite (JSON has no
/// NaN, and the first one names where it starts), and a function without a
/// definition at its first use.
#[test]
fn eval_points_at_the_statement_that_goes_non_finite() {
    let dir = std::env::temp_dir().join(format!("sharegrad-cli-nan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("log.eq");
    std::fs::write(
        &model,
        "input y_i, 0 \\le i < n\nx_i = \\log(y_i)\nz_i = g(x_i)\nE = \\sum_i z_i\n",
    )
    .unwrap();
    let data = dir.join("data.json");
    std::fs::write(&data, r#"{"sizes":{"n":3},"tensors":{"y":[1,3,2]}}"#).unwrap();
    let run = || {
        sharegrad(&[
            "eval",
            model.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ])
    };
    // `g` has no definition: the first use is shown.
    let out = run();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("function `g` has no definition"), "{err}");
    assert!(err.contains("log.eq:3:7"), "{err}");
    assert!(err.contains("3 | z_i = g(x_i)\n  |       ^"), "{err}");

    // With `g` defined, log(-1) at y[1] is NaN: the statement of `x` is named.
    let text = std::fs::read_to_string(&model).unwrap();
    std::fs::write(&model, format!("g(u) = u\n{text}")).unwrap();
    std::fs::write(&data, r#"{"sizes":{"n":3},"tensors":{"y":[1,-1,2]}}"#).unwrap();
    let out = run();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the value of `x` at [1] is NaN"), "{err}");
    assert!(err.contains("log.eq:3:1"), "{err}");
    assert!(out.stdout.is_empty());

    // With positive data it runs, and the data may come from standard input.
    let mut child = Command::new(env!("CARGO_BIN_EXE_sharegrad"))
        .args(["eval", model.to_str().unwrap(), "--data", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        br#"{"sizes":{"n":2},"tensors":{"y":[1,4]}}"#,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    // d/dy log(y) = 1/y, by hand.
    assert_eq!(flat(&got["grads"]["y"]), vec![1.0, 0.25]);
    assert_eq!(
        sharegrad(&["eval", "-", "--data", "-"]).status.code(),
        Some(2)
    );
}

/// A reader that stops early (`sharegrad check big.eq | head`) ends the
/// output quietly: no panic on the broken pipe, exit 0.
#[test]
fn a_closed_pipe_is_not_a_panic() {
    let dir = std::env::temp_dir().join(format!("sharegrad-cli-pipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("chain.eq");
    // Far more summary than a pipe buffers (64 KiB).
    let mut text = String::from("input y_i, 0 \\le i < n\nz^{0}_i = y_i\n");
    for k in 1..3000 {
        text.push_str(&format!("z^{{{k}}}_i = z^{{{}}}_i\n", k - 1));
    }
    std::fs::write(&model, text).unwrap();
    let mut child = check_piped(&model);
    let mut first = [0u8; 16];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    assert_eq!(&first[..7], b"sizes: ");
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}

/// The same on standard error (`sharegrad check bad.eq 2>&1 | head -1`):
/// the errors are reported as far as the reader takes them, the exit code
/// stays 1, and nothing panics on the pipe (exit 101 before).
#[test]
fn a_closed_error_pipe_is_not_a_panic() {
    let dir = std::env::temp_dir().join(format!("sharegrad-cli-epipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("undeclared.eq");
    // Thousands of errors: far more than a pipe buffers.
    let text: String = (0..3000).map(|_| "x_i = q_i\n").collect();
    std::fs::write(&model, text).unwrap();
    let mut child = check_piped(&model);
    let mut first = [0u8; 6];
    std::io::Read::read_exact(child.stderr.as_mut().unwrap(), &mut first).unwrap();
    assert_eq!(&first, b"error:");
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{status}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `sharegrad check MODEL` with its standard output and error piped to us.
fn check_piped(model: &std::path::Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_sharegrad"))
        .arg("check")
        .arg(model)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs")
}

/// `derive` on a file and into a directory whose names TeX would read as
/// markup (`%` starts a comment, `~` is a space): pdflatex runs on a copy
/// with a plain name and the PDF gets the file's name. Before, pdflatex
/// stopped with "Emergency stop" and the error named a log that did not
/// exist. Needs pdflatex (required in CI, as the LaTeX tests).
#[test]
fn derive_takes_file_names_that_tex_would_misread() {
    let have = Command::new("pdflatex").arg("--version").output().is_ok();
    if !have {
        assert!(
            std::env::var_os("CI").is_none(),
            "pdflatex is required in CI"
        );
        eprintln!("skipping: pdflatex is missing");
        return;
    }
    let dir = std::env::temp_dir().join(format!("sharegrad-cli-derive-{}", std::process::id()));
    let out = dir.join("out 100%~");
    std::fs::create_dir_all(&out).unwrap();
    let model = dir.join("seed 50%~x.eq");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/seed.eq"),
        &model,
    )
    .unwrap();
    let o = sharegrad(&[
        "derive",
        model.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let pdf = std::fs::read(out.join("seed 50%~x.pdf")).expect("the PDF");
    assert!(pdf.starts_with(b"%PDF"), "{err}");
    let mut left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["seed 50%~x.pdf", "seed 50%~x.rs", "seed 50%~x.tex"]);
    let _ = std::fs::remove_dir_all(&dir);
}
