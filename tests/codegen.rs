//! The generated Rust code against the evaluator and the PyTorch fixtures.
//!
//! Every model (the fixtures under `tests/fixtures/`, the `examples/*.eq`
//! files, and a batch of random models) is turned into a module by
//! `sharegrad_core::codegen`, wrapped with a `main` that runs `forward` and
//! `backward` on the model's data, and compiled with
//! `rustc -O -D warnings` — all models of a test in one crate, one rustc
//! call. The printed values and gradients must match
//! `sharegrad_core::eval::evaluate` to 1e-12 (relative to the tensor's
//! largest magnitude) and the fixtures' `expected.json` to 1e-9.

use serde_json::Value;
use sharegrad_core::codegen::{self, Options, RealType};
use sharegrad_core::eval::{self, Data};
use sharegrad_core::ir::TensorKind;
use sharegrad_core::Model;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

/// One model with its data.
struct Case {
    name: String,
    model: Model,
    data: Data,
}

/// Key -> values, for the values and the gradients.
type Tensors = BTreeMap<String, Vec<f64>>;

#[derive(Default, Debug)]
struct Output {
    values: Tensors,
    grads: Tensors,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn compile_model(name: &str, src: &str) -> Model {
    match sharegrad_core::compile(src) {
        Ok(m) => m,
        Err(d) => panic!(
            "{name}: {}",
            sharegrad_core::diagnostics::render(name, src, &d)
        ),
    }
}

fn f64s(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(xs) => xs.iter().map(|x| x.as_f64().expect("a number")).collect(),
        Value::Number(n) => vec![n.as_f64().expect("a number")],
        other => panic!("not a tensor: {other}"),
    }
}

fn parse_data(text: &str) -> Data {
    let v: Value = serde_json::from_str(text).expect("valid JSON");
    let mut d = Data::default();
    for (k, x) in v["sizes"].as_object().into_iter().flatten() {
        d.sizes
            .insert(k.clone(), x.as_i64().expect("an integer size"));
    }
    for (k, x) in v["tensors"].as_object().into_iter().flatten() {
        d.tensors.insert(k.clone(), f64s(x));
    }
    for (k, x) in v["seed"].as_object().into_iter().flatten() {
        d.seeds.insert(k.clone(), f64s(x));
    }
    d
}

/// Deterministic pseudo-random numbers (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % ((hi - lo + 1) as u64)) as i64
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.int(0, xs.len() as i64 - 1) as usize]
    }
}

/// Random sizes (retried until every tensor is non-empty and the evaluator
/// accepts them) and random data.
fn random_data(m: &Model, rng: &mut Rng) -> Option<Data> {
    let p = &m.program;
    for _ in 0..400 {
        let mut d = Data::default();
        for s in &p.sizes {
            d.sizes.insert(s.clone(), rng.int(1, 9));
        }
        let lookup = |a: &sharegrad_core::poly::Atom| match a {
            sharegrad_core::poly::Atom::Size(s) => d.sizes.get(s).copied(),
            _ => None,
        };
        let mut lens = Vec::new();
        let mut ok = true;
        for t in &p.tensors {
            let mut len: i64 = 1;
            for r in &t.dims {
                let (Some(lo), Some(hi)) = (r.lo.eval(&lookup), r.hi.eval(&lookup)) else {
                    ok = false;
                    break;
                };
                len *= hi - lo + 1;
            }
            if !ok || len <= 0 || len > 4000 {
                ok = false;
                break;
            }
            lens.push(len as usize);
        }
        if !ok {
            continue;
        }
        for (t, tensor) in p.tensors.iter().enumerate() {
            if tensor.is_leaf() {
                d.tensors.insert(
                    tensor.key.clone(),
                    (0..lens[t]).map(|_| rng.unit()).collect(),
                );
            }
        }
        for &o in &p.outputs {
            d.seeds.insert(
                p.tensors[o].key.clone(),
                (0..lens[o]).map(|_| rng.unit()).collect(),
            );
        }
        if eval::evaluate(p, &m.gradient, &d).is_ok() {
            return Some(d);
        }
    }
    None
}

fn vec_lit(xs: &[f64]) -> String {
    let items: Vec<String> = xs.iter().map(|x| format!("{x:?}_f64")).collect();
    format!("::std::vec![{}]", items.join(", "))
}

/// `mod mK { ... }` plus `fn runK()` printing `K value KEY [..]` and
/// `K grad KEY [..]` lines.
fn driver(k: usize, c: &Case, real: RealType, gemm: bool, out: &mut String) {
    let opts = Options {
        real,
        gemm,
        ..Options::default()
    };
    let items =
        codegen::module_tokens(&c.model, &opts).unwrap_or_else(|e| panic!("{}: {e}", c.name));
    let p = &c.model.program;
    let _ = writeln!(out, "#[allow(dead_code)] mod m{k} {{ {items} }}");
    let tp = if real == RealType::Generic {
        "::<f64>"
    } else {
        ""
    };
    let mut f = format!("fn run{k}() {{\n");
    let sizes: Vec<String> = p
        .sizes
        .iter()
        .map(|s| format!("{}: {}", codegen::size_field(s), c.data.sizes[s]))
        .collect();
    let _ = writeln!(f, "let sizes = m{k}::Sizes {{ {} }};", sizes.join(", "));
    let mut fields = Vec::new();
    for (t, tensor) in p.tensors.iter().enumerate() {
        if tensor.is_leaf() {
            let id = codegen::rust_ident(&tensor.key);
            let _ = writeln!(
                f,
                "let in{t}: ::std::vec::Vec<f64> = {};",
                vec_lit(&c.data.tensors[&tensor.key])
            );
            fields.push(format!("{id}: &in{t}"));
        }
    }
    let _ = writeln!(f, "let inputs = m{k}::Inputs {{ {} }};", fields.join(", "));
    let _ = writeln!(f, "let mut values = m{k}::Values{tp}::new(&sizes);");
    // Every third case through `forward`/`backward`, the others on two or
    // three threads (each tensor split by its first index).
    let threads = k % 3 + 1;
    if threads == 1 {
        let _ = writeln!(f, "m{k}::forward(&sizes, &inputs, &mut values);");
    } else {
        let _ = writeln!(
            f,
            "m{k}::forward_threads(&sizes, &inputs, &mut values, {threads});"
        );
    }
    let r = eval::evaluate(p, &c.model.gradient, &c.data).expect("evaluates");
    for tensor in &p.tensors {
        if matches!(tensor.kind, TensorKind::Defined(_)) && !tensor.auxiliary {
            let id = codegen::rust_ident(&tensor.key);
            let _ = writeln!(
                f,
                "println!(\"{k} value {} {{:?}}\", values.{id});",
                tensor.key
            );
        }
    }
    let mut seeds = Vec::new();
    for &o in &p.outputs {
        let key = &p.tensors[o].key;
        let s = c.data.seeds.get(key).cloned().unwrap_or_else(|| vec![1.0]);
        let _ = writeln!(f, "let seed{o}: ::std::vec::Vec<f64> = {};", vec_lit(&s));
        seeds.push(format!("{}: &seed{o}", codegen::rust_ident(key)));
    }
    // A struct with no tensor fields (no outputs, no gradients) keeps its
    // type parameters in a `_marker`.
    let marker = |list: &mut Vec<String>| {
        if list.is_empty() {
            list.push("_marker: ::core::marker::PhantomData".to_owned());
        }
    };
    marker(&mut seeds);
    let _ = writeln!(f, "let seeds = m{k}::Seeds {{ {} }};", seeds.join(", "));
    let mut grads = Vec::new();
    for (t, tensor) in p.tensors.iter().enumerate() {
        if tensor.wants_gradient() {
            let len = r.grads[&tensor.key].len();
            let _ = writeln!(
                f,
                "let mut g{t}: ::std::vec::Vec<f64> = ::std::vec![0.0; {len}];"
            );
            grads.push((
                t,
                format!("{}: Some(&mut g{t})", codegen::rust_ident(&tensor.key)),
            ));
        }
    }
    let mut list: Vec<String> = grads.iter().map(|g| g.1.clone()).collect();
    marker(&mut list);
    let _ = writeln!(f, "let mut grads = m{k}::Grads {{ {} }};", list.join(", "));
    if threads == 1 {
        let _ = writeln!(
            f,
            "m{k}::backward(&sizes, &inputs, &values, &seeds, &mut grads);"
        );
    } else {
        let _ = writeln!(
            f,
            "m{k}::backward_threads(&sizes, &inputs, &values, &seeds, &mut grads, {threads});"
        );
    }
    let _ = writeln!(f, "let _ = grads;");
    for (t, _) in &grads {
        let _ = writeln!(
            f,
            "println!(\"{k} grad {} {{:?}}\", g{t});",
            p.tensors[*t].key
        );
    }
    // On threads, again with only the last gradient asked for (the others
    // `None`): its line replaces the one above, so it must match too.
    if threads > 1 && grads.len() >= 2 {
        let (last, _) = grads[grads.len() - 1];
        let len = r.grads[&p.tensors[last].key].len();
        let _ = writeln!(
            f,
            "let mut h{last}: ::std::vec::Vec<f64> = ::std::vec![0.0; {len}];"
        );
        let fields: Vec<String> = grads
            .iter()
            .map(|(t, _)| {
                let id = codegen::rust_ident(&p.tensors[*t].key);
                if *t == last {
                    format!("{id}: Some(&mut h{t})")
                } else {
                    format!("{id}: None")
                }
            })
            .collect();
        let _ = writeln!(
            f,
            "m{k}::backward_threads(&sizes, &inputs, &values, &seeds, &mut m{k}::Grads {{ {} }}, {threads});",
            fields.join(", ")
        );
        let _ = writeln!(
            f,
            "println!(\"{k} grad {} {{:?}}\", h{last});",
            p.tensors[last].key
        );
    }
    f.push_str("}\n");
    out.push_str(&f);
}

/// The `sharegrad-runtime` library this test was built with (a
/// dev-dependency, so its rlib is next to the test binary), for generated
/// code with GEMM lowering: `--extern` and `-L` arguments for rustc.
fn runtime_args() -> Vec<String> {
    let deps = std::env::current_exe()
        .expect("test binary path")
        .parent()
        .expect("deps directory")
        .to_path_buf();
    let newest = std::fs::read_dir(&deps)
        .expect("deps directory")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy();
            n.starts_with("libsharegrad_runtime-") && n.ends_with(".rlib")
        })
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .expect("the sharegrad-runtime rlib next to the test binary");
    vec![
        "--extern".into(),
        format!("sharegrad_runtime={}", newest.display()),
        "-L".into(),
        format!("dependency={}", deps.display()),
    ]
}

/// Compiles every case (generic, run in f64, and, with `both`, concrete
/// f64) into one binary, runs it, and returns per case the outputs. With
/// `gemm`, the modules lower contractions to `sharegrad_runtime::gemm`.
fn run_generated(tag: &str, cases: &[Case], both: bool, gemm: bool) -> Vec<[Output; 2]> {
    let mut src = String::from("#![allow(clippy::all)]\n");
    let mut calls = String::new();
    for (k, c) in cases.iter().enumerate() {
        driver(2 * k, c, RealType::Generic, gemm, &mut src);
        let _ = writeln!(calls, "run{}();", 2 * k);
        if both {
            driver(2 * k + 1, c, RealType::F64, gemm, &mut src);
            let _ = writeln!(calls, "run{}();", 2 * k + 1);
        }
    }
    let _ = writeln!(src, "fn main() {{ {calls} }}");
    let dir = std::env::temp_dir().join(format!("sharegrad-codegen-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let main = dir.join("main.rs");
    std::fs::write(&main, &src).expect("write main.rs");
    let bin = dir.join("main");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let status = Command::new(&rustc)
        .args([
            "-O",
            "-D",
            "warnings",
            "--edition",
            "2021",
            "-C",
            "codegen-units=16",
            "-o",
        ])
        .arg(&bin)
        .args(if gemm { runtime_args() } else { Vec::new() })
        .arg(&main)
        .output()
        .expect("rustc runs");
    assert!(
        status.status.success(),
        "generated code does not compile ({}):\n{}",
        main.display(),
        String::from_utf8_lossy(&status.stderr)
    );
    let run = Command::new(&bin).output().expect("the binary runs");
    assert!(
        run.status.success(),
        "generated code panicked:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let mut outs: Vec<[Output; 2]> = cases.iter().map(|_| Default::default()).collect();
    for line in String::from_utf8_lossy(&run.stdout).lines() {
        let mut it = line.splitn(4, ' ');
        let (Some(k), Some(kind), Some(key), Some(vals)) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            panic!("bad line {line}")
        };
        let k: usize = k.parse().expect("case number");
        let vals: Vec<f64> = vals
            .trim_matches(|c| c == '[' || c == ']')
            .split(", ")
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().expect("a float"))
            .collect();
        let o = &mut outs[k / 2][k % 2];
        let map = if kind == "value" {
            &mut o.values
        } else {
            &mut o.grads
        };
        map.insert(key.to_string(), vals);
    }
    let _ = std::fs::remove_dir_all(&dir);
    outs
}

/// `|a - b| <= tol * max(|b|, largest |b| of the tensor)`; NaN matches NaN.
fn compare(what: &str, got: &Tensors, want: &Tensors, tol: f64) -> Result<(), String> {
    for (key, w) in want {
        let g = got
            .get(key)
            .ok_or_else(|| format!("{what}: `{key}` missing"))?;
        if g.len() != w.len() {
            return Err(format!(
                "{what}: `{key}` has {} values, expected {}",
                g.len(),
                w.len()
            ));
        }
        let scale = w.iter().fold(
            0.0f64,
            |m, x| if x.is_finite() { m.max(x.abs()) } else { m },
        );
        for (i, (a, b)) in g.iter().zip(w).enumerate() {
            let ok =
                (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= tol * b.abs().max(scale);
            if !ok {
                return Err(format!(
                    "{what}: `{key}`[{i}] = {a}, expected {b} (tolerance {tol})"
                ));
            }
        }
    }
    Ok(())
}

fn check_against_eval(cases: &[Case], outs: &[[Output; 2]], both: bool) {
    let mut failures = Vec::new();
    for (c, o) in cases.iter().zip(outs) {
        let r = eval::evaluate(&c.model.program, &c.model.gradient, &c.data).expect("evaluates");
        for (mode, out) in ["generic", "f64"]
            .iter()
            .zip(o)
            .take(if both { 2 } else { 1 })
        {
            for (what, got, want) in [
                ("values", &out.values, &r.values),
                ("grads", &out.grads, &r.grads),
            ] {
                if let Err(e) = compare(&format!("{} ({mode}) {what}", c.name), got, want, 1e-12) {
                    failures.push(e);
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn fixture_cases() -> Vec<(Case, Output)> {
    let dir = root().join("tests/fixtures");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("model.eq").exists())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|d| {
            let name = d
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let read = |f: &str| {
                std::fs::read_to_string(d.join(f)).unwrap_or_else(|e| panic!("{name}/{f}: {e}"))
            };
            let model = compile_model(&name, &read("model.eq"));
            let data = parse_data(&read("data.json"));
            let exp: Value = serde_json::from_str(&read("expected.json")).expect("expected.json");
            let mut want = Output::default();
            for (k, v) in exp["values"].as_object().into_iter().flatten() {
                want.values.insert(k.clone(), f64s(v));
            }
            for (k, v) in exp["grads"].as_object().into_iter().flatten() {
                want.grads.insert(k.clone(), f64s(v));
            }
            (Case { name, model, data }, want)
        })
        .collect()
}

/// The `.eq` files in a directory of the repository, sorted.
fn eq_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("{dir}/: {e}"))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "eq"))
        .collect();
    files.sort();
    files
}

fn example_cases() -> Vec<Case> {
    let files = eq_files("examples");
    let mut rng = Rng(0x5eed_cafe_f00d_1234);
    files
        .iter()
        .map(|f| {
            let name = f
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let model = compile_model(&name, &std::fs::read_to_string(f).expect("readable"));
            let data =
                random_data(&model, &mut rng).unwrap_or_else(|| panic!("{name}: no sizes found"));
            Case { name, model, data }
        })
        .collect()
}

/// Models whose loops take unusual forms (a reversed read with bounds that do
/// not start at 0, batched and transposed matrix products, terms with
/// different row limits plus a pointwise one, a 2-D chain with zero padding
/// on both sides): generated code = evaluator, one batched compile.
#[test]
fn loop_layouts_match_evaluator() {
    let cases = layout_cases();
    let outs = run_generated("layouts", &cases, false, false);
    check_against_eval(&cases, &outs, false);
}

/// Each model of tests/layouts at three size draws.
fn layout_cases() -> Vec<Case> {
    let files = eq_files("tests/layouts");
    let mut rng = Rng(0x1a70_75ee_d000_0001);
    let mut cases = Vec::new();
    for f in &files {
        let name = f.display().to_string();
        let model = compile_model(&name, &std::fs::read_to_string(f).expect("readable"));
        // Several size draws per model, so that rows of one or two
        // elements and segments shorter than a tile occur.
        for k in 0..3 {
            let data =
                random_data(&model, &mut rng).unwrap_or_else(|| panic!("{name}: no sizes found"));
            cases.push(Case {
                name: format!("{name} #{k}"),
                model: model.clone(),
                data,
            });
        }
    }
    assert!(cases.len() >= 12, "tests/layouts holds the models");
    cases
}

/// Fixtures and examples: generated code = evaluator (1e-12) = PyTorch (1e-9).
#[test]
fn generated_code_matches_evaluator_and_fixtures() {
    let fixtures = fixture_cases();
    let mut cases: Vec<Case> = Vec::new();
    let mut wants = Vec::new();
    for (c, w) in fixtures {
        cases.push(c);
        wants.push(w);
    }
    let nfix = cases.len();
    assert!(
        nfix >= 5,
        "the five reference fixtures are in tests/fixtures"
    );
    cases.extend(example_cases());
    let outs = run_generated("models", &cases, true, false);
    check_against_eval(&cases, &outs, true);
    check_against_fixtures(&cases, &wants, &outs, "");
}

/// The first `wants.len()` cases (the fixtures) = PyTorch's expected.json
/// (1e-9).
fn check_against_fixtures(cases: &[Case], wants: &[Output], outs: &[[Output; 2]], tag: &str) {
    let mut failures = Vec::new();
    for ((c, w), o) in cases.iter().zip(wants).zip(outs) {
        for (what, got, want) in [
            ("values", &o[0].values, &w.values),
            ("grads", &o[0].grads, &w.grads),
        ] {
            if let Err(e) = compare(
                &format!("{}{tag} vs expected.json {what}", c.name),
                got,
                want,
                1e-9,
            ) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------
// Random models.

fn activation(rng: &mut Rng, x: &str) -> String {
    match rng.int(0, 5) {
        0 => format!("\\tanh({x})"),
        1 => format!("\\sigma({x})"),
        2 => format!("\\operatorname{{relu}}({x})"),
        3 => format!("\\operatorname{{softplus}}({x})"),
        4 => format!("h({x})"),
        _ => x.to_string(),
    }
}

fn affine(rng: &mut Rng, i: &str, a: &str) -> String {
    let s = *rng.pick(&[1, 1, 2, 3]);
    let d = *rng.pick(&[1, 1, 2]);
    let o = rng.int(-2, 2);
    let mut t = if s == 1 {
        i.to_string()
    } else {
        format!("{s}{i}")
    };
    t.push_str(&if d == 1 {
        format!("+{a}")
    } else {
        format!("+{d}{a}")
    });
    if o != 0 {
        t.push_str(&format!("{o:+}"));
    }
    t
}

/// A random layer stack: 1-D or 2-D convolutions with random offsets,
/// strides, dilations and padding, sum or max reductions, activations, a
/// shared kernel, and an optional scalar loss.
fn random_model(rng: &mut Rng) -> String {
    let mut s = String::from("h(z) = \\tanh(z) + z/4\n");
    if rng.int(0, 4) == 0 {
        // A dense layer over a batch, the weight read as stored or
        // transposed, with a bias and an offset read.
        s.push_str("input y_{b,j}, 0 \\le b < B, 0 \\le j < n\n");
        let (w, wr) = if rng.int(0, 1) == 0 {
            ("0 \\le i < m, 0 \\le j < n", "W_{i,j}")
        } else {
            ("0 \\le j < n, 0 \\le i < m", "W_{j,i}")
        };
        let _ = writeln!(s, "param {wr}, {w}");
        s.push_str("param c_i, 0 \\le i < m\n");
        let _ = writeln!(
            s,
            "x_{{b,i}} = \\sum_j {wr} y_{{b,j}} + c_i, 0 \\le b < B, 0 \\le i < m"
        );
        let _ = writeln!(s, "u_{{b,i}} = {}", activation(rng, "x_{b,i}"));
        if rng.int(0, 1) == 0 {
            s.push_str("v_{b,i} = u_{b,i} u_{b,i+1}, 0 \\le b < B, 0 \\le i < m\n");
        }
        return s;
    }
    let two_d = rng.int(0, 2) == 0;
    let k = rng.int(1, 3);
    if two_d {
        let kb = rng.int(1, 3);
        s.push_str("input y_{c,p,q}, 0 \\le c < C, 0 \\le p < H, 0 \\le q < W\n");
        let _ = writeln!(
            s,
            "param w_{{k,c,a,b}}, 0 \\le k < K, 0 \\le c < C, 0 \\le a < {k}, 0 \\le b < {kb}"
        );
        let (ri, rj) = (affine(rng, "i", "a"), affine(rng, "j", "b"));
        let max = rng.int(0, 3) == 0;
        let (ch, bound, body) = if max {
            (
                "c",
                "0 \\le c < C",
                format!(
                    "\\max_{{a=0}}^{{{}}} \\max_{{b=0}}^{{{}}} y_{{c,{ri},{rj}}}",
                    k - 1,
                    kb - 1
                ),
            )
        } else {
            (
                "k",
                "0 \\le k < K",
                format!("\\sum_{{c,a,b}} w_{{k,c,a,b}} y_{{c,{ri},{rj}}}"),
            )
        };
        if rng.int(0, 1) == 0 {
            let _ = writeln!(
                s,
                "x_{{{ch},i,j}} = {body}, {bound}, 0 \\le i < H, 0 \\le j < W"
            );
        } else {
            let _ = writeln!(s, "x_{{{ch},i,j}} = {body}");
        }
        let _ = writeln!(
            s,
            "u_{{{ch},i,j}} = {}",
            activation(rng, &format!("x_{{{ch},i,j}}"))
        );
    } else {
        s.push_str("input y_j, 0 \\le j < n\n");
        let _ = writeln!(s, "param w_a, 0 \\le a < {}", k + 1);
        let r = affine(rng, "i", "a");
        let op = if rng.int(0, 3) == 0 { "\\max" } else { "\\sum" };
        let body = if op == "\\max" {
            format!("\\max_{{a=0}}^{{{k}}} y_{{{r}}}")
        } else {
            format!("\\sum_{{a}} w_a y_{{{r}}}")
        };
        if rng.int(0, 1) == 0 {
            let _ = writeln!(s, "x_i = {body}, 0 \\le i < m");
        } else {
            let _ = writeln!(s, "x_i = {body}");
        }
        let _ = writeln!(s, "u_i = {}", activation(rng, "x_i"));
        if rng.int(0, 1) == 0 {
            // The kernel again, on the first layer's output.
            let _ = writeln!(s, "v_i = \\sum_{{a}} w_a u_{{i+a}}");
            if rng.int(0, 1) == 0 {
                s.push_str("E = \\sum_{i} v_i v_i\n");
            }
        }
    }
    s
}

/// Random models: generated code = evaluator, one batched compile.
#[test]
fn random_models_match_evaluator() {
    let cases = random_cases(40);
    let outs = run_generated("random", &cases, false, false);
    check_against_eval(&cases, &outs, false);
}

/// `count` random models with data (seed: `SHAREGRAD_SEED` or a fixed one).
fn random_cases(count: usize) -> Vec<Case> {
    let seed = std::env::var("SHAREGRAD_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x1234_5678_9abc_def1u64);
    let mut rng = Rng(seed);
    let mut cases = Vec::new();
    let mut tries = 0;
    while cases.len() < count && tries < 10 * count {
        tries += 1;
        let src = random_model(&mut rng);
        let Ok(model) = sharegrad_core::compile(&src) else {
            continue;
        };
        let Some(data) = random_data(&model, &mut rng) else {
            continue;
        };
        cases.push(Case {
            name: format!("random #{} (seed {seed:#x}):\n{src}", cases.len()),
            model,
            data,
        });
    }
    assert!(
        cases.len() >= count / 2,
        "only {} random models compiled",
        cases.len()
    );
    cases
}

/// With GEMM lowering (`Options::gemm`, the code linked against
/// sharegrad-runtime): every fixture, example, loop layout and random model
/// = evaluator (1e-12), the fixtures = PyTorch (1e-9), in one batched
/// compile; and the lowering does happen (convolutions, dense layers).
#[test]
fn gemm_lowering_matches_evaluator_and_fixtures() {
    let mut cases = Vec::new();
    let mut wants = Vec::new();
    for (c, w) in fixture_cases() {
        cases.push(c);
        wants.push(w);
    }
    cases.extend(example_cases());
    cases.extend(layout_cases());
    cases.extend(random_cases(40));
    let opts = Options {
        gemm: true,
        ..Options::default()
    };
    let sources: Vec<(&str, String)> = cases
        .iter()
        .map(|c| {
            let src = codegen::module_source(&c.model, &opts).expect("generates");
            (c.name.as_str(), src)
        })
        .collect();
    let lowered: Vec<&str> = sources
        .iter()
        .filter(|(_, src)| {
            src.contains("sharegrad_runtime::gemm(") || src.contains("sharegrad_runtime::conv3x3")
        })
        .map(|(n, _)| *n)
        .collect();
    for name in ["conv2d_same_bias", "batched_matmul.eq #0"] {
        assert!(
            lowered.iter().any(|n| n.ends_with(name)),
            "{name} is not lowered to GEMM"
        );
    }
    // 3 x 3 correlations summed over channels take the Winograd path: the
    // value and the input gradient through `conv3x3`, the weight gradient
    // through `conv3x3_filter` (which splits its images across threads
    // itself, so its taps may come first).
    for (name, calls) in [
        ("conv2d_same_bias", 3),
        ("conv2d_wino_nobatch.eq #0", 3),
        ("conv2d_wino_channel_major.eq #0", 3),
        ("conv2d_wino_valid_flipped.eq #0", 2),
        ("conv2d_wino_full.eq #0", 3),
        ("conv2d_taps_first.eq #0", 3),
    ] {
        let (_, src) = sources
            .iter()
            .find(|(n, _)| n.ends_with(name))
            .expect("a case");
        let found = src.matches("sharegrad_runtime::conv3x3").count();
        assert_eq!(found, calls, "{name}: Winograd calls");
    }
    // Other padded convolutions, valid ones and channels-last ones merge
    // the image rows into one call per plane (zero-padded copies).
    for name in [
        "conv2d_valid_channels.eq #0",
        "conv2d_uneven_padding.eq #0",
        "conv2d_channels_last.eq #0",
    ] {
        assert!(
            sources
                .iter()
                .any(|(n, src)| n.ends_with(name) && src.contains("let mut padded")),
            "{name} does not merge rows into one call"
        );
    }
    let random = lowered.iter().filter(|n| n.starts_with("random")).count();
    // A random model has a contraction when it is a dense layer (1 in 5) or
    // a multi-channel 2-D convolution with a unit-stride row or column read
    // (about 3 in 20): about a third of 40; five leaves room for any seed.
    assert!(random >= 5, "only {random} random models lowered to GEMM");
    let outs = run_generated("gemm", &cases, true, true);
    check_against_eval(&cases, &outs, true);
    check_against_fixtures(&cases, &wants, &outs, " (gemm)");
}

/// Snapshots of the generated module of every example.
#[test]
fn generated_source_snapshots() {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root().join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        insta::glob!("../examples", "*.eq", |path| {
            let src = std::fs::read_to_string(path).expect("readable");
            let model = compile_model(&path.display().to_string(), &src);
            let code = codegen::module_source(&model, &Options::default()).expect("generates");
            insta::assert_snapshot!("codegen", code);
        });
    });
}

/// Pooling with ties: the pooled maxima (rows of windows, the forward's
/// record of each arg-max) with inputs rounded to halves, so that most
/// windows hold equal values; each window's adjoint must go to its first
/// maximal point in row-major order, as the evaluator does. Plus one case
/// derived by hand.
#[test]
fn pooled_maxima_with_ties_match_evaluator_and_hand() {
    let mut rng = Rng(0x71e5_0f1a_7e5e_ed01);
    let mut cases = Vec::new();
    for f in [
        "tests/layouts/pool_windows.eq",
        "tests/layouts/pool_channels_last.eq",
        "tests/layouts/pool_max_plus_term.eq",
        "tests/fixtures/maxpool1d_stride2/model.eq",
        "bench/models/maxpool2d.eq",
    ] {
        let src = std::fs::read_to_string(root().join(f)).expect("readable");
        let model = compile_model(f, &src);
        for k in 0..2 {
            let mut data = random_data(&model, &mut rng).expect("sizes");
            for v in data.tensors.values_mut().flatten() {
                *v = (*v * 2.0).round() / 2.0;
            }
            cases.push(Case {
                name: format!("{f} with ties #{k}"),
                model: model.clone(),
                data,
            });
        }
    }
    // By hand: two 2x2 windows of x = [[1, 1, 0, 2], [1, 0, 2, 2]].
    // The first's maximum 1 is first at (0, 0), the second's 2 at (0, 1),
    // so the seeds 10 and 20 go to x[0][0] and x[0][3].
    let src = std::fs::read_to_string(root().join("bench/models/maxpool2d.eq")).expect("readable");
    let model = compile_model("maxpool2d by hand", &src);
    let mut data = sharegrad_core::eval::Data::default();
    for (s, v) in [("N", 1), ("C", 1), ("H", 2), ("W", 4)] {
        data.sizes.insert(s.into(), v);
    }
    data.tensors
        .insert("x".into(), vec![1.0, 1.0, 0.0, 2.0, 1.0, 0.0, 2.0, 2.0]);
    data.seeds.insert("y".into(), vec![10.0, 20.0]);
    cases.push(Case {
        name: "maxpool2d by hand".into(),
        model,
        data,
    });
    // The generic module only: the f64 one is the same code (the other
    // tests run both).
    let outs = run_generated("ties", &cases, false, false);
    check_against_eval(&cases, &outs, false);
    let mut hand = Output::default();
    hand.values.insert("y".into(), vec![1.0, 2.0]);
    hand.grads
        .insert("x".into(), vec![10.0, 0.0, 0.0, 20.0, 0.0, 0.0, 0.0, 0.0]);
    for (mode, out) in ["generic"].iter().zip(&outs[outs.len() - 1]) {
        for (what, got, want) in [
            ("values", &out.values, &hand.values),
            ("grads", &out.grads, &hand.grads),
        ] {
            compare(&format!("by hand ({mode}) {what}"), got, want, 0.0)
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

/// A maximum's adjoint mixed with other terms (a softmax's stabilising
/// max, a pooled input also read directly) runs from the windows: one
/// arg-max search per window, whose winner gets the adjoint, instead of a
/// search of the whole window at every element of the target (quadratic
/// for a softmax over a vector). Values are checked by the tests above.
#[test]
fn mixed_argmax_terms_search_each_window_once() {
    for (file, winner) in [
        ("examples/softmax_xent.eq", "asusize]+=d_m[0];"),
        ("tests/layouts/argmax_mixed.eq", "asusize]+=d_m["),
        ("tests/layouts/argmax_mixed.eq", "asusize]+=seeds.y["),
    ] {
        let src = std::fs::read_to_string(root().join(file)).expect("readable");
        let model = compile_model(file, &src);
        let code = codegen::module_source(&model, &Options::default()).expect("generates");
        let backward = &code[code.find("pub fn backward_threads").expect("backward")..];
        // Without white space, so that line breaks do not matter.
        let backward: String = backward.split_whitespace().collect();
        // The written element's index names the search's arg-max.
        let at_arg = backward.match_indices(winner).any(|(k, _)| {
            let open = backward[..k].rfind("[").expect("an index");
            backward[open..k].contains("arg")
        });
        assert!(
            at_arg,
            "{file}: no write of `{winner}` at the window's arg-max"
        );
    }
}

/// A sum of many terms written out is added up statement by statement in
/// the generated code: as one expression nested once per term, printing
/// it overflowed the stack (a 2 MiB thread at about 8 000 terms, the main
/// thread at about 30 000). Values of such sums are checked by
/// `tests/layouts/long_sums.eq`.
#[test]
fn a_long_written_out_sum_does_not_overflow_the_stack() {
    let n = 20_000;
    let src = format!("input x\ny = {}\n", vec!["x"; n].join(" + "));
    let model = compile_model("long sum", &src);
    let code = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || codegen::module_source(&model, &Options::default()))
        .expect("spawns")
        .join()
        .expect("no panic")
        .expect("generates");
    let adds = code
        .lines()
        .filter(|l| l.contains(" += inputs.x[0];"))
        .count();
    assert_eq!(adds, n - 1, "one statement per term after the first");
}

/// A written-out sum of `k` terms inside `\tanh` used to give generated
/// code and a derivation growing with `k^2` (every partial repeated the
/// whole argument: 3.5 MB of Rust for 70 terms). With the sum hoisted
/// into a tensor of its own, doubling `k` about doubles both.
#[test]
fn long_sums_in_functions_give_code_linear_in_their_length() {
    let sizes = |k: usize| {
        let terms: Vec<String> = (0..k).map(|a| format!("w_{{{a}}} y_{{i+{a}}}")).collect();
        let src = format!(
            "input y_j, 0 \\le j < n\nparam w_a, 0 \\le a < {k}\nx_i = \\tanh({})\n",
            terms.join(" + ")
        );
        let model = sharegrad_core::compile(&src).expect("a valid model");
        let rust = codegen::module_source(&model, &Options::default()).expect("generates");
        let latex = sharegrad_core::latex::document(&model, &Default::default());
        (rust.len() as f64, latex.len() as f64)
    };
    let ((r1, l1), (r2, l2)) = (sizes(35), sizes(70));
    assert!(r2 / r1 < 2.5, "Rust {r1} -> {r2} bytes");
    assert!(l2 / l1 < 2.5, "LaTeX {l1} -> {l2} bytes");
}
