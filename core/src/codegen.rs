//! Rust code generation: the items of one self-contained module with
//! `forward` and `backward` functions for a [`Model`], in the shape that
//! `docs/GENERATED_API.md` describes.
//!
//! The generator only reads the IR. Each statement becomes one loop nest over
//! its left-hand side's domain; each [`Adjoint`] one loop nest over its
//! target points, summing its contributions in gather form, so every output
//! element is written by exactly one iteration. Reads outside a tensor's
//! ranges are zero (zero padding), as in [`crate::eval`], whose semantics the
//! generated code reproduces.
//!
//! The text is assembled as Rust source, parsed with `syn` (so a generator bug
//! is a [`CodegenError`], never invalid output) and formatted with
//! `prettyplease` by [`module_source`].

use crate::ir::{
    Adjoint, Builtin, Cond, DeclKind, Expr, Func, Pred, Program, Range, Read, ReduceOp, Slot,
    TensorKind,
};
use crate::poly::{Atom, Poly};
use crate::report;
use crate::Model;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fmt::Write as _;

mod gemm;
mod pool;
mod rows;
mod winner;
use rows::{Chunk, RowInit, RowTerm};

/// The `# Panics` sentence of a module whose sizes can leave a range with
/// fewer than zero points.
const STRIDE_DOC: &str =
    " Also when a stride that is a size (`x_{s i + a}`) is not positive with these sizes.";
const EXTENT_DOC: &str = " Also when the sizes leave an index range fewer than zero points (an input shorter than a kernel's reach, say): the message names the tensor and the range.";

/// The lints the kernels allow: sizes keep the model's letters (`N`, `H`),
/// and the loops index rows by position and count an output offset across
/// nested loops on purpose (every bound is exact, the slices are cut once);
/// a range test stays `lo <= e && e <= hi` like the derivation's; a guard
/// nested in another (a segment's length, then a read's range) and a row
/// copied element by element are the nest's shapes, kept as they are.
const KERNEL_ALLOW: &str = "#[allow(non_snake_case, clippy::needless_range_loop, clippy::explicit_counter_loop, clippy::manual_range_contains, clippy::collapsible_if, clippy::manual_memcpy, clippy::approx_constant)]";

/// The element type of the generated module.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RealType {
    /// Concrete `f32`: no `Real` trait, no type parameter.
    F32,
    /// Concrete `f64`: no `Real` trait, no type parameter.
    F64,
    /// Generic over the module's `Real` trait, implemented for `f32` and
    /// `f64` (the default).
    #[default]
    Generic,
}

/// What to generate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Element type.
    pub real: RealType,
    /// The text of the `DERIVATION` constant; `None` takes the LaTeX
    /// fragment of [`crate::latex::derivation`].
    pub derivation: Option<String>,
    /// Lower contractions to `sharegrad_runtime::gemm` calls (the code then
    /// needs the `sharegrad-runtime` crate); see the `gemm` module.
    pub gemm: bool,
    /// The path the code names the runtime crate by; `None`:
    /// `::sharegrad_runtime` (the macros use `::sharegrad::runtime`).
    pub runtime: Option<String>,
}

/// Why code could not be generated: a lower-case message without final
/// period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodegenError {
    /// What went wrong.
    pub message: String,
}

impl CodegenError {
    fn new(message: impl Into<String>) -> CodegenError {
        CodegenError {
            message: message.into(),
        }
    }
}

impl fmt::Display for CodegenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CodegenError {}

type Res<T> = Result<T, CodegenError>;

/// The Rust identifier of a tensor key: the letter (Greek spelled out), then
/// the label with characters other than ASCII letters and digits dropped,
/// appended directly when what is left is digits, else after `_`. The
/// generated module adds trailing `_`s where two keys give one identifier.
///
/// ```
/// use sharegrad_core::codegen::rust_ident;
/// assert_eq!(rust_ident("y^0"), "y0");
/// assert_eq!(rust_ident("y^(1)"), "y1");
/// assert_eq!(rust_ident("W^out"), "W_out");
/// assert_eq!(rust_ident("beta"), "beta");
/// ```
pub fn rust_ident(key: &str) -> String {
    let (letter, label) = key.split_once('^').unwrap_or((key, ""));
    let letter: String = letter
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let letter = if letter.is_empty() {
        "t".to_string()
    } else {
        letter
    };
    let clean: String = label.chars().filter(char::is_ascii_alphanumeric).collect();
    if clean.is_empty() {
        letter
    } else if clean.chars().all(|c| c.is_ascii_digit()) {
        format!("{letter}{clean}")
    } else {
        format!("{letter}_{clean}")
    }
}

/// The Rust field name of every tensor of `p`, by [`TensorId`]: its
/// [`rust_ident`], `aux_` in front for auxiliary tensors, and trailing `_`s
/// for keywords and where two keys give one identifier (`y^1` and `y^{(1)}`
/// are `y1` and `y1_`). The macros name struct fields and parameters by it.
pub fn tensor_idents(p: &Program) -> Vec<String> {
    let mut fields = BTreeSet::new();
    p.tensors
        .iter()
        .map(|t| {
            let mut id = rust_ident(&t.key);
            if t.auxiliary {
                id = format!("aux_{id}");
            }
            if KEYWORDS.contains(&id.as_str()) {
                id.push('_');
            }
            while !fields.insert(id.clone()) {
                id.push('_');
            }
            id
        })
        .collect()
}

/// Sums of more terms than this are added up statement by statement
/// (`acc += term;`) rather than written as one expression.
const LONG_SUM_TERMS: usize = 64;

/// The items of the generated module (no surrounding `mod`), as tokens.
pub fn module_tokens(
    model: &Model,
    opts: &Options,
) -> Result<proc_macro2::TokenStream, CodegenError> {
    let (file, _) = module_file(model, opts)?;
    Ok(quote::ToTokens::into_token_stream(file))
}

/// The generated module as a formatted source file: a header comment, then
/// the items of [`module_tokens`].
pub fn module_source(model: &Model, opts: &Options) -> Result<String, CodegenError> {
    let (mut file, gemm_used) = module_file(model, opts)?;
    // Pasted into a binary crate, every item the caller does not use (the
    // threaded variants, `DERIVATION`, the backward of a forward-only user)
    // would warn; the macros put the same `allow` on their module.
    let allow: syn::Attribute = syn::parse_quote!(#[allow(dead_code)]);
    for item in &mut file.items {
        if let Some(attrs) = item_attrs(item) {
            attrs.insert(0, allow.clone());
        }
    }
    let mut out = String::new();
    out.push_str("// Generated by sharegrad from the equations below. Do not edit.\n");
    for st in &model.program.statements {
        if !model.program.tensors[st.lhs].auxiliary {
            let _ = writeln!(out, "//     {}", one_line(&st.source));
        }
    }
    if opts.gemm && !gemm_used {
        let _ = writeln!(out, "// {NO_GEMM_NOTE}");
    }
    out.push('\n');
    out.push_str(&prettyplease::unparse(&file));
    Ok(out)
}

/// The attributes of an item of the kinds the generator emits.
fn item_attrs(item: &mut syn::Item) -> Option<&mut Vec<syn::Attribute>> {
    Some(match item {
        syn::Item::Const(i) => &mut i.attrs,
        syn::Item::Fn(i) => &mut i.attrs,
        syn::Item::Impl(i) => &mut i.attrs,
        syn::Item::Struct(i) => &mut i.attrs,
        syn::Item::Trait(i) => &mut i.attrs,
        syn::Item::Type(i) => &mut i.attrs,
        syn::Item::Enum(i) => &mut i.attrs,
        syn::Item::Static(i) => &mut i.attrs,
        _ => return None,
    })
}

/// The line [`module_source`] adds (after `// `) when GEMM lowering was
/// asked for and no contraction of the model lowers to a GEMM call: the
/// module is then plain loops and needs no runtime crate.
pub const NO_GEMM_NOTE: &str =
    "--gemm: no contraction here lowers to a GEMM call, so this module does not use sharegrad-runtime.";

/// The module, and whether it calls the runtime's GEMM.
fn module_file(model: &Model, opts: &Options) -> Res<(syn::File, bool)> {
    let (text, gemm_used) = Gen::new(model, opts)?.module()?;
    let file = syn::parse_file(&text).map_err(|e| {
        if std::env::var_os("SHAREGRAD_DEBUG_CODEGEN").is_some() {
            eprintln!("{text}");
        }
        CodegenError::new(format!(
            "internal error: generated code does not parse: {e}"
        ))
    })?;
    Ok((file, gemm_used))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------
// Rust expressions as text, with just the parentheses they need.

/// Binding strength of a generated expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Prec {
    Add,
    Mul,
    Unary,
    Atom,
}

#[derive(Clone, Debug)]
struct Code {
    text: String,
    prec: Prec,
}

impl Code {
    fn new(text: impl Into<String>, prec: Prec) -> Code {
        Code {
            text: text.into(),
            prec,
        }
    }
    fn atom(text: impl Into<String>) -> Code {
        Code::new(text, Prec::Atom)
    }
    /// This `i64` expression as a `usize` index: a literal as it is, anything
    /// else with `as usize`.
    fn as_usize(&self) -> String {
        if self.text.parse::<usize>().is_ok() {
            self.text.clone()
        } else {
            format!("{} as usize", self.at(Prec::Unary))
        }
    }
    /// The text, parenthesised when it binds less than `need`.
    fn at(&self, need: Prec) -> String {
        if self.prec < need {
            format!("({})", self.text)
        } else {
            self.text.clone()
        }
    }
}

fn product(factors: &[Code]) -> Code {
    match factors {
        [] => Code::atom("1"),
        [f] => f.clone(),
        _ => {
            let mut s = factors[0].at(Prec::Mul);
            for f in &factors[1..] {
                s.push_str(" * ");
                s.push_str(&f.at(Prec::Unary));
            }
            Code::new(s, Prec::Mul)
        }
    }
}

/// True when `word` occurs in `text` as a whole identifier.
/// A buffer expression from [`Gen::buffer`] as a `&[T]`: leaves and seeds
/// are slices already; values and adjoint buffers are vectors.
fn as_slice(buf: &str) -> String {
    if buf.starts_with("inputs.") || buf.starts_with("seeds.") {
        buf.to_string()
    } else {
        format!("&{buf}")
    }
}

fn mentions_word(text: &str, word: &str) -> bool {
    let is_id = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut start = 0;
    while let Some(k) = text[start..].find(word) {
        let a = start + k;
        let b = a + word.len();
        let before = text[..a].chars().next_back().is_some_and(is_id);
        let after = text[b..].chars().next().is_some_and(is_id);
        if !before && !after {
            return true;
        }
        start = b;
    }
    false
}

fn float_text(x: f64) -> String {
    let s = format!("{x:?}");
    if s.contains('.') || s.contains('e') {
        s
    } else {
        format!("{s}.0")
    }
}

// ---------------------------------------------------------------------------
// The generator.

/// Where an adjoint's values live.
#[derive(Clone, Debug)]
enum AdjBuf {
    /// Not computed: reads are zero.
    None,
    /// The output's seed slice (`seeds.y2`): nothing else adds to it.
    Seed(String),
    /// A local buffer `d_x` allocated in `backward`.
    Local(String),
    /// A leaf: added into the caller's gradient buffer.
    Grad,
}

struct Gen<'m> {
    m: &'m Model,
    p: &'m Program,
    real: RealType,
    derivation: Option<String>,
    /// Lower contractions to GEMM calls.
    gemm: bool,
    /// True once a GEMM call is emitted: only then does the module name the
    /// runtime crate (its `Real` trait included).
    gemm_used: bool,
    /// The runtime crate's path.
    runtime: String,
    /// Field identifier of each tensor.
    ident: Vec<String>,
    /// Adjoint storage of each tensor.
    adj: Vec<AdjBuf>,
    vars: BTreeMap<String, String>,
    sizes: BTreeMap<String, String>,
    taken: BTreeSet<String>,
    helpers: BTreeSet<&'static str>,
    /// User functions (name, prime) called, with their Rust names.
    user_fns: BTreeMap<(String, bool), String>,
    /// Sizes read by the function being generated.
    sizes_used: BTreeSet<String>,
    counter: usize,
    /// Reads known to be in range where the code is being generated (an
    /// interior): indexed directly, without the zero-padding test.
    unchecked: BTreeSet<ReadKey>,
    /// Loop ranges valid in the interior being generated, by variable.
    overrides: BTreeMap<String, Range>,
    /// The loops around the code being generated, outermost first.
    enclosing: Vec<(String, Range)>,
    /// Reads replaced by a name (row form: a sliced row element or a value
    /// read once before the row loop).
    row_reads: BTreeMap<ReadKey, String>,
    /// The loop range of a target's first index inside a thread's chunk.
    chunk_loop: Option<(String, Range)>,
    /// Statements whose forward records each window's arg-max for the
    /// backward (see `pool`), with the private field of `Values` that
    /// holds the record.
    records: BTreeMap<usize, String>,
}

/// A leaf gradient's code in `backward`, kept until every adjoint is done.
struct GradBlock {
    tensor: usize,
    /// The name the code gives the gradient's slice.
    slice: String,
    /// The `// bar X[..] = ...` line above it.
    comment: String,
    code: String,
    /// The code on its own: `if let Some(slice) = grads.x.as_deref_mut() { code }`.
    sequential: String,
}

const RESERVED: &[&str] = &[
    "T",
    "Real",
    "Sizes",
    "Inputs",
    "Values",
    "Seeds",
    "Grads",
    "forward",
    "backward",
    "backward_threads",
    "forward_threads",
    "threads",
    "split_rows",
    "split_rows2",
    "split_sum",
    "run_tasks",
    "GradTask",
    "DERIVATION",
    "sizes",
    "inputs",
    "values",
    "seeds",
    "grads",
    "at",
    "dim",
    "check_len",
    "check_extent",
    "check_stride",
    "tensor_len",
    "size_i64",
    "sigma",
    "softplus",
    "relu",
    "max2",
    "sq",
    "floor_div",
    "ceil_div",
    "rows_mut",
    "new",
    "self",
    "Self",
    "o",
    "acc",
    "g",
];

const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where", "while",
    "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro", "override",
    "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// The field of `Sizes` for a size: its name (a keyword gets a trailing
/// `_`).
pub fn size_field(name: &str) -> String {
    sanitize(name)
}

fn sanitize(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        match c {
            '\'' => s.push_str("_p"),
            c if c.is_ascii_alphanumeric() || c == '_' => s.push(c),
            _ => s.push('_'),
        }
    }
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, 'v');
    }
    if KEYWORDS.contains(&s.as_str()) {
        s.push('_');
    }
    s
}

impl<'m> Gen<'m> {
    fn new(m: &'m Model, opts: &Options) -> Res<Gen<'m>> {
        let p = &m.program;
        let mut g = Gen {
            m,
            p,
            real: opts.real,
            derivation: opts.derivation.clone(),
            gemm: opts.gemm,
            gemm_used: false,
            runtime: opts
                .runtime
                .clone()
                .unwrap_or_else(|| "::sharegrad_runtime".into()),
            ident: Vec::new(),
            adj: vec![AdjBuf::None; p.tensors.len()],
            vars: BTreeMap::new(),
            sizes: BTreeMap::new(),
            taken: RESERVED.iter().map(|s| s.to_string()).collect(),
            helpers: BTreeSet::new(),
            user_fns: BTreeMap::new(),
            sizes_used: BTreeSet::new(),
            counter: 0,
            unchecked: BTreeSet::new(),
            overrides: BTreeMap::new(),
            enclosing: Vec::new(),
            row_reads: BTreeMap::new(),
            chunk_loop: None,
            records: BTreeMap::new(),
        };
        g.ident = tensor_idents(p);
        for s in &p.sizes {
            let id = g.unique(&sanitize(s));
            g.sizes.insert(s.clone(), id);
        }
        let mut names = BTreeSet::new();
        collect_var_names(m, &mut names);
        for v in names {
            let id = g.unique(&sanitize(&v));
            g.vars.insert(v, id);
        }
        // Adjoint storage.
        let mut entries: BTreeMap<usize, usize> = BTreeMap::new();
        for a in &m.gradient.adjoints {
            *entries.entry(a.tensor).or_default() += 1;
        }
        for a in &m.gradient.adjoints {
            let t = &p.tensors[a.tensor];
            let id = g.ident[a.tensor].clone();
            g.adj[a.tensor] = if t.is_leaf() {
                if t.wants_gradient() {
                    AdjBuf::Grad
                } else {
                    AdjBuf::None
                }
            } else if a.seeded && a.terms.is_empty() && entries[&a.tensor] == 1 {
                AdjBuf::Seed(format!("seeds.{id}"))
            } else {
                AdjBuf::Local(g.unique(&format!("d_{id}")))
            };
        }
        Ok(g)
    }

    fn unique(&mut self, base: &str) -> String {
        let mut id = base.to_string();
        let mut k = 1;
        while self.taken.contains(&id) {
            id = format!("{base}{k}");
            k += 1;
        }
        self.taken.insert(id.clone());
        id
    }

    fn fresh(&mut self, base: &str) -> String {
        self.counter += 1;
        let b = format!("{base}{}", self.counter);
        self.unique(&b)
    }

    // -- the element type -------------------------------------------------

    fn generic(&self) -> bool {
        self.real == RealType::Generic
    }
    fn ty(&self) -> &'static str {
        match self.real {
            RealType::F32 => "f32",
            RealType::F64 => "f64",
            RealType::Generic => "T",
        }
    }
    /// `<T: Real>` on functions.
    fn fn_generics(&self) -> &'static str {
        if self.generic() {
            "<T: Real>"
        } else {
            ""
        }
    }
    /// Type arguments of a struct with a lifetime: `<'a, T>` or `<'a>`.
    fn struct_params(&self, lifetime: &str) -> String {
        match (lifetime.is_empty(), self.generic()) {
            (true, true) => "<T>".into(),
            (true, false) => String::new(),
            (false, true) => format!("<{lifetime}, T>"),
            (false, false) => format!("<{lifetime}>"),
        }
    }
    fn zero(&self) -> Code {
        match self.real {
            RealType::Generic => Code::atom("T::zero()"),
            RealType::F32 => Code::atom("0.0_f32"),
            RealType::F64 => Code::atom("0.0_f64"),
        }
    }
    fn one(&self) -> Code {
        match self.real {
            RealType::Generic => Code::atom("T::one()"),
            RealType::F32 => Code::atom("1.0_f32"),
            RealType::F64 => Code::atom("1.0_f64"),
        }
    }
    fn lit(&self, x: f64) -> Code {
        if x == 0.0 && x.is_sign_positive() {
            return self.zero();
        }
        if x == 1.0 {
            return self.one();
        }
        let t = self.ty();
        // `\pi` in the model (clippy's `approx_constant` rejects the digits).
        if x == std::f64::consts::PI {
            return match self.real {
                RealType::Generic => Code::atom("T::from_f64(::core::f64::consts::PI)"),
                _ => Code::atom(format!("::core::{t}::consts::PI")),
            };
        }
        if !x.is_finite() {
            let c = if x.is_nan() {
                "NAN"
            } else if x > 0.0 {
                "INFINITY"
            } else {
                "NEG_INFINITY"
            };
            return match self.real {
                RealType::Generic => Code::atom(format!("T::from_f64(f64::{c})")),
                _ => Code::atom(format!("{t}::{c}")),
            };
        }
        match self.real {
            RealType::Generic => Code::atom(format!("T::from_f64({})", float_text(x))),
            _ => {
                let s = format!("{}_{t}", float_text(x));
                Code::new(s, if x < 0.0 { Prec::Unary } else { Prec::Atom })
            }
        }
    }
    /// An integer-valued code as an element value.
    fn int_value(&self, c: &Code) -> Code {
        match self.real {
            RealType::Generic => Code::atom(format!("T::from_f64({} as f64)", c.at(Prec::Unary))),
            _ => Code::new(
                format!("{} as {}", c.at(Prec::Unary), self.ty()),
                Prec::Unary,
            ),
        }
    }

    // -- integer expressions ---------------------------------------------

    fn poly(&mut self, p: &Poly) -> Code {
        let mut terms: Vec<(Vec<Atom>, i64)> = p
            .terms()
            .filter(|(m, _)| !m.is_empty())
            .map(|(m, c)| (m.clone(), c))
            .collect();
        let c0 = p.constant();
        if terms.is_empty() {
            return Code::new(
                c0.to_string(),
                if c0 < 0 { Prec::Unary } else { Prec::Atom },
            );
        }
        // Positive terms first reads better: `j + 1 - a`.
        terms.sort_by_key(|(_, c)| *c < 0);
        let mut s = String::new();
        let mut prec = Prec::Add;
        let n = terms.len() + usize::from(c0 != 0);
        for (k, (m, c)) in terms.iter().enumerate() {
            let mut factors: Vec<Code> = Vec::new();
            if c.abs() != 1 {
                factors.push(Code::atom(c.abs().to_string()));
            }
            for a in m {
                factors.push(self.atom(a));
            }
            let prod = product(&factors);
            if k == 0 {
                if *c < 0 {
                    s.push('-');
                    s.push_str(&prod.at(Prec::Unary));
                    prec = if factors.len() == 1 {
                        Prec::Unary
                    } else {
                        Prec::Mul
                    };
                } else {
                    s.push_str(&prod.at(Prec::Add));
                    prec = prod.prec;
                }
            } else {
                s.push_str(if *c < 0 { " - " } else { " + " });
                s.push_str(&prod.at(Prec::Mul));
            }
        }
        if c0 != 0 {
            s.push_str(&format!(" {} {}", if c0 < 0 { '-' } else { '+' }, c0.abs()));
        }
        Code::new(s, if n > 1 { Prec::Add } else { prec })
    }

    fn atom(&mut self, a: &Atom) -> Code {
        match a {
            Atom::Size(s) => {
                self.sizes_used.insert(s.clone());
                Code::atom(self.sizes.get(s).cloned().unwrap_or_else(|| sanitize(s)))
            }
            Atom::Var(v) => Code::atom(self.vars.get(v).cloned().unwrap_or_else(|| sanitize(v))),
            Atom::FloorDiv(p, q) | Atom::CeilDiv(p, q) => {
                let f = if matches!(a, Atom::FloorDiv(..)) {
                    "floor_div"
                } else {
                    "ceil_div"
                };
                self.helpers.insert(f);
                let (p, q) = (self.poly(p), self.poly(q));
                Code::atom(format!("{f}({}, {})", p.text, q.text))
            }
            Atom::ExactDiv(p, q) => {
                let (p, q) = (self.poly(p), self.poly(q));
                Code::new(
                    format!("{} / {}", p.at(Prec::Mul), q.at(Prec::Unary)),
                    Prec::Mul,
                )
            }
            Atom::Max(ps) | Atom::Min(ps) => {
                let f = if matches!(a, Atom::Max(_)) {
                    "max"
                } else {
                    "min"
                };
                let mut ps: Vec<&Poly> = ps.iter().collect();
                ps.sort_by_key(|p| p.as_const().is_some());
                let mut s = String::new();
                for (k, p) in ps.iter().enumerate() {
                    let c = self.poly(p);
                    if k == 0 {
                        s = if p.as_const().is_some() {
                            format!("{}_i64", c.at(Prec::Atom))
                        } else {
                            c.at(Prec::Atom)
                        };
                    } else {
                        s = format!("{s}.{f}({})", c.text);
                    }
                }
                Code::atom(s)
            }
        }
    }

    /// `for v in lo..hi + 1 { body }` over the index variable `var` (`_`
    /// when the body does not read it).
    fn for_loop(&mut self, var: &str, lo: &Poly, hi: &Poly, body: &[String]) -> String {
        let lv = self.loop_var(&self.var(var), body);
        let range = self.range_code(lo, hi);
        format!("for {lv} in {range} {{ {} }}", body.join(" "))
    }

    /// `lo..hi + 1`: an inclusive range as the exclusive `Range`, which
    /// compiles to a simpler loop than `RangeInclusive`.
    fn range_code(&mut self, lo: &Poly, hi: &Poly) -> String {
        let (lo, end) = (self.poly(lo), self.poly(&hi.add_int(1)));
        format!("{}..{}", lo.at(Prec::Add), end.at(Prec::Add))
    }

    /// `dim(hi - lo + 1)`: the number of points of a range, as `usize`.
    fn extent_usize(&mut self, lo: &Poly, hi: &Poly) -> Code {
        let e = hi.sub(lo).add_int(1);
        if let Some(c) = e.as_const() {
            return Code::atom(c.max(0).to_string());
        }
        self.helpers.insert("dim");
        let c = self.poly(&e);
        Code::atom(format!("dim({})", c.text))
    }

    /// The number of elements of a tensor, as a `usize` expression.
    fn len_code(&mut self, t: usize) -> Code {
        let dims = self.p.tensors[t].dims.clone();
        let (consts, mut fs) = self.extent_factors(&dims);
        let k: i64 = consts.iter().product();
        if k != 1 || fs.is_empty() {
            fs.insert(0, Code::atom(k.to_string()));
        }
        if fs.len() < 2 {
            return product(&fs);
        }
        // A product of sizes that overflowed would wrap in release builds
        // and could match a slice's length by accident.
        self.helpers.insert("tensor_len");
        let fs: Vec<String> = fs.into_iter().map(|f| f.text).collect();
        Code::atom(format!("tensor_len(&[{}])", fs.join(", ")))
    }

    /// The numbers of points of `ranges`: those that are numbers (at least
    /// 0), and `dim(..)` expressions for the others.
    fn extent_factors<'r>(
        &mut self,
        ranges: impl IntoIterator<Item = &'r Range>,
    ) -> (Vec<i64>, Vec<Code>) {
        let (mut consts, mut codes) = (Vec::new(), Vec::new());
        for r in ranges {
            match r.hi.sub(&r.lo).add_int(1).as_const() {
                Some(c) => consts.push(c.max(0)),
                None => codes.push(self.extent_usize(&r.lo, &r.hi)),
            }
        }
        (consts, codes)
    }

    // -- value expressions -----------------------------------------------

    fn buffer(&mut self, r: &Read) -> Option<String> {
        let t = &self.p.tensors[r.tensor];
        let id = &self.ident[r.tensor];
        match r.slot {
            Slot::Value => Some(match t.kind {
                TensorKind::Leaf(_) => format!("inputs.{id}"),
                TensorKind::Defined(_) => format!("values.{id}"),
            }),
            Slot::Adjoint => match &self.adj[r.tensor] {
                AdjBuf::None | AdjBuf::Grad => None,
                AdjBuf::Seed(s) | AdjBuf::Local(s) => Some(s.clone()),
            },
        }
    }

    /// The row-major offset of a read (every index in range), as i64, in
    /// Horner form: `((i0 * e1 + i1) * e2 + i2)`.
    fn offset_i64(&mut self, r: &Read) -> Code {
        let layout: Vec<(Poly, Poly)> = self.p.tensors[r.tensor]
            .dims
            .iter()
            .map(|d| (d.lo.clone(), d.extent()))
            .collect();
        self.layout_offset(&r.index, &layout)
    }

    /// The row-major offset of `index` in a layout of `(first index,
    /// extent)` per dimension, in Horner form.
    fn layout_offset(&mut self, index: &[Poly], layout: &[(Poly, Poly)]) -> Code {
        // The leading dimensions' part while it is a constant (folded:
        // no `0 * e` or `1 * 2`), then Horner's form from the first
        // dimension that is not.
        let mut head = Poly::zero();
        let mut off: Option<Code> = None;
        for (ix, (lo, extent)) in index.iter().zip(layout) {
            let d = ix.sub(lo);
            off = Some(match off {
                None => {
                    head = head.mul(extent).add(&d);
                    if head.as_const().is_some() {
                        continue;
                    }
                    self.poly(&head)
                }
                Some(prev) if d.is_zero() => {
                    let e = self.poly(extent);
                    Code::new(
                        format!("{} * {}", prev.at(Prec::Mul), e.at(Prec::Unary)),
                        Prec::Mul,
                    )
                }
                Some(prev) => {
                    let (e, i) = (self.poly(extent), self.poly(&d));
                    Code::new(
                        format!(
                            "{} * {} + {}",
                            prev.at(Prec::Mul),
                            e.at(Prec::Unary),
                            i.at(Prec::Mul)
                        ),
                        Prec::Add,
                    )
                }
            });
        }
        off.unwrap_or_else(|| self.poly(&head))
    }

    /// The product of the extents of `layout`'s dimensions from `from` on:
    /// the stride of dimension `from - 1`, or with `from = 0` the length.
    fn layout_product(&mut self, layout: &[(Poly, Poly)], from: usize) -> Code {
        let parts: Vec<Code> = layout[from..]
            .iter()
            .filter(|(_, e)| e.as_const() != Some(1))
            .map(|(_, e)| self.poly(e))
            .collect();
        match parts.as_slice() {
            [] => Code::atom("1"),
            [one] => one.clone(),
            _ => Code::new(
                parts
                    .iter()
                    .map(|c| c.at(Prec::Mul))
                    .collect::<Vec<_>>()
                    .join(" * "),
                Prec::Mul,
            ),
        }
    }

    /// Whether every index of `r` stays inside its tensor: proved from the
    /// enclosing ranges `scope`, or (`inferred`) by the statement's
    /// inferred ranges.
    fn read_inside(
        &self,
        r: &Read,
        scope: &[(String, Range)],
        inferred: &dyn Fn(&Poly) -> bool,
    ) -> bool {
        r.index
            .iter()
            .zip(&self.p.tensors[r.tensor].dims)
            .all(|(ix, d)| {
                inferred(ix)
                    || (provably_nonneg(&ix.sub(&d.lo), scope)
                        && provably_nonneg(&d.hi.sub(ix), scope))
            })
    }

    fn read(&mut self, r: &Read) -> Code {
        let Some(buf) = self.buffer(r) else {
            return self.zero();
        };
        if r.index.is_empty() {
            return Code::atom(format!("{buf}[0]"));
        }
        if let Some(name) = self.row_reads.get(&read_key(r)) {
            return Code::atom(name.clone());
        }
        let dims = self.p.tensors[r.tensor].dims.clone();
        if self.unchecked.contains(&read_key(r)) {
            let off = self.offset_i64(r);
            return Code::atom(format!("{buf}[{}]", off.as_usize()));
        }
        let mut idx = Vec::new();
        let mut ext = Vec::new();
        for (ix, d) in r.index.iter().zip(&dims) {
            idx.push(self.poly(&ix.sub(&d.lo)).text);
            ext.push(self.poly(&d.hi.sub(&d.lo).add_int(1)).text);
        }
        self.helpers.insert("at");
        Code::atom(format!(
            "at({}, [{}], [{}])",
            as_slice(&buf),
            idx.join(", "),
            ext.join(", ")
        ))
    }

    /// Translates `e`; statements it needs first (reductions, arg-max
    /// searches) are appended to `out`. `param` maps a user function's
    /// parameter inside its body.
    fn expr(
        &mut self,
        e: &Expr,
        param: Option<&(String, String)>,
        out: &mut Vec<String>,
    ) -> Res<Code> {
        Ok(match e {
            Expr::Num(x) => self.lit(*x),
            Expr::Size(s) => {
                let c = self.atom(&Atom::Size(s.clone()));
                self.int_value(&c)
            }
            Expr::Index(p) => {
                let c = self.poly(p);
                self.int_value(&c)
            }
            Expr::Param(name) => match param {
                Some((n, id)) if n == name => Code::atom(id.clone()),
                _ => {
                    return Err(CodegenError::new(format!(
                        "internal error: parameter `{name}` outside its function"
                    )))
                }
            },
            Expr::Read(r) => self.read(r),
            Expr::Add(xs) => {
                if xs.is_empty() {
                    return Ok(self.zero());
                }
                if xs.len() == 1 {
                    return self.expr(&xs[0], param, out);
                }
                if xs.len() > LONG_SUM_TERMS {
                    // One `+=` statement per term into an accumulator: the
                    // same additions in the same order, but no expression
                    // nested once per term, which overflows the stack of the
                    // printer (and of rustc) at a few thousand terms.
                    let acc = self.fresh("terms");
                    let first = self.expr(&xs[0], param, out)?;
                    out.push(format!("let mut {acc} = {};", first.text));
                    for x in &xs[1..] {
                        let line = if let Expr::Neg(inner) = x {
                            let c = self.expr(inner, param, out)?;
                            format!("{acc} += -{};", c.at(Prec::Unary))
                        } else {
                            let c = self.expr(x, param, out)?;
                            format!("{acc} += {};", c.text)
                        };
                        out.push(line);
                    }
                    return Ok(Code::atom(acc));
                }
                let mut s = String::new();
                for (k, x) in xs.iter().enumerate() {
                    if k == 0 {
                        s = self.expr(x, param, out)?.at(Prec::Add);
                    } else if let Expr::Neg(inner) = x {
                        let c = self.expr(inner, param, out)?;
                        let _ = write!(s, " - {}", c.at(Prec::Mul));
                    } else {
                        let c = self.expr(x, param, out)?;
                        let _ = write!(s, " + {}", c.at(Prec::Mul));
                    }
                }
                Code::new(s, Prec::Add)
            }
            Expr::Mul(xs) => {
                if xs.is_empty() {
                    return Ok(self.one());
                }
                let fs = xs
                    .iter()
                    .map(|x| self.expr(x, param, out))
                    .collect::<Res<Vec<_>>>()?;
                product(&fs)
            }
            Expr::Neg(x) => {
                let c = self.expr(x, param, out)?;
                Code::new(format!("-{}", c.at(Prec::Unary)), Prec::Unary)
            }
            Expr::Div(a, b) => {
                let (a, b) = (self.expr(a, param, out)?, self.expr(b, param, out)?);
                Code::new(
                    format!("{} / {}", a.at(Prec::Mul), b.at(Prec::Unary)),
                    Prec::Mul,
                )
            }
            Expr::Pow(x, k) => {
                let c = self.expr(x, param, out)?;
                let k = *k;
                if k == 1.0 {
                    c
                } else if k == 2.0 {
                    self.helpers.insert("sq");
                    Code::atom(format!("sq({})", c.text))
                } else if k == 0.5 {
                    Code::atom(format!("{}.sqrt()", c.at(Prec::Atom)))
                } else if k == -1.0 {
                    Code::new(
                        format!("{} / {}", self.one().text, c.at(Prec::Unary)),
                        Prec::Mul,
                    )
                } else if k.fract() == 0.0 && k.abs() <= 64.0 {
                    Code::atom(format!("{}.powi({})", c.at(Prec::Atom), k as i32))
                } else {
                    let e = self.lit(k);
                    Code::atom(format!("{}.powf({})", c.at(Prec::Atom), e.text))
                }
            }
            Expr::Call(f, args) => self.call(f, args, param, out)?,
            Expr::Reduce {
                op: ReduceOp::Sum, ..
            } => {
                // Directly nested sums share one accumulator.
                let mut chain: Vec<(&String, &Range)> = Vec::new();
                let mut body = e;
                while let Expr::Reduce {
                    op: ReduceOp::Sum,
                    var,
                    range,
                    body: b,
                } = body
                {
                    chain.push((var, range));
                    body = b;
                }
                let mut inner = Vec::new();
                let b = self.expr(body, param, &mut inner)?;
                let s = self.fresh("sum");
                inner.push(format!("{s} += {};", b.text));
                let mut lines = inner;
                for (var, range) in chain.iter().rev() {
                    let range = self.range_of(var, range);
                    lines = vec![self.for_loop(var, &range.lo, &range.hi, &lines)];
                }
                out.push(format!("let mut {s} = {};", self.zero().text));
                out.extend(lines);
                Code::atom(s)
            }
            Expr::Reduce {
                op,
                var,
                range,
                body,
            } => {
                let range = self.range_of(var, range);
                let lo = self.poly(&range.lo);
                let hi = self.poly(&range.hi);
                let v = self.var(var);
                let mut inner = Vec::new();
                let b = self.expr(body, param, &mut inner)?;
                let z = self.zero();
                match op {
                    ReduceOp::Sum => unreachable_sum(),
                    ReduceOp::Max => {
                        let m = self.fresh("max");
                        let first = self.fresh("first");
                        let x = self.fresh("x");
                        inner.push(format!("let {x} = {};", b.text));
                        inner.push(format!(
                            "if {first} || {x} > {m} {{ {m} = {x}; {first} = false; }}"
                        ));
                        let v = self.loop_var(&v, &inner);
                        out.push(format!("let mut {m} = {};", z.text));
                        out.push(format!("let mut {first} = true;"));
                        out.push(format!(
                            "for {v} in {}..={} {{ {} }}",
                            lo.at(Prec::Add),
                            hi.at(Prec::Add),
                            inner.join(" ")
                        ));
                        Code::atom(m)
                    }
                }
            }
            Expr::Indicator(pred) => self.indicator(pred, param, out)?,
        })
    }

    /// The range of a loop, narrowed when generating an interior.
    fn range_of(&self, var: &str, r: &Range) -> Range {
        self.overrides
            .get(var)
            .cloned()
            .unwrap_or_else(|| r.clone())
    }

    fn var(&self, v: &str) -> String {
        self.vars.get(v).cloned().unwrap_or_else(|| sanitize(v))
    }

    /// `v`, or `_` when the loop body does not use it.
    fn loop_var(&self, v: &str, body: &[String]) -> String {
        if body.iter().any(|l| mentions_word(l, v)) {
            v.to_string()
        } else {
            "_".to_string()
        }
    }

    fn indicator(
        &mut self,
        pred: &Pred,
        param: Option<&(String, String)>,
        out: &mut Vec<String>,
    ) -> Res<Code> {
        let (one, zero) = (self.one().text, self.zero().text);
        match pred {
            Pred::Gt(a, b) | Pred::Ge(a, b) => {
                let (a, b) = (self.expr(a, param, out)?, self.expr(b, param, out)?);
                let op = if matches!(pred, Pred::Gt(..)) {
                    ">"
                } else {
                    ">="
                };
                let c = self.fresh("ind");
                out.push(format!(
                    "let {c} = if {} {op} {} {{ {one} }} else {{ {zero} }};",
                    a.at(Prec::Mul),
                    b.at(Prec::Mul)
                ));
                Ok(Code::atom(c))
            }
            Pred::FirstArgMax { binders, body, at } => {
                let (found, args) = self.arg_max(binders, body, param, out)?;
                let mut test = found.clone();
                for (a, p) in args.iter().zip(at) {
                    let c = self.poly(p);
                    let _ = write!(test, " && {a} == {}", c.at(Prec::Mul));
                }
                let c = self.fresh("ind");
                out.push(format!(
                    "let {c} = if {test} {{ {one} }} else {{ {zero} }};"
                ));
                Ok(Code::atom(c))
            }
        }
    }

    /// The search for the first maximum of `body` over `binders` (row-major
    /// order), appended to `out`; returns the names of the flag "some point
    /// was searched" and of the arg-max's coordinates (`i64`).
    fn arg_max(
        &mut self,
        binders: &[(String, Range)],
        body: &Expr,
        param: Option<&(String, String)>,
        out: &mut Vec<String>,
    ) -> Res<(String, Vec<String>)> {
        let zero = self.zero().text;
        let best = self.fresh("best");
        let found = self.fresh("found");
        let args: Vec<String> = (0..binders.len()).map(|_| self.fresh("arg")).collect();
        let x = self.fresh("x");
        let mut inner = Vec::new();
        let b = self.expr(body, param, &mut inner)?;
        inner.push(format!("let {x} = {};", b.text));
        let mut update = format!("{best} = {x}; {found} = true;");
        for (a, (name, _)) in args.iter().zip(binders) {
            let _ = write!(update, " {a} = {};", self.var(name));
        }
        inner.push(format!("if !{found} || {x} > {best} {{ {update} }}"));
        let mut lines = inner;
        for (name, r) in binders.iter().rev() {
            let r = self.range_of(name, r);
            let lo = self.poly(&r.lo);
            let hi = self.poly(&r.hi);
            let v = self.var(name);
            let v = self.loop_var(&v, &lines);
            lines = vec![format!(
                "for {v} in {}..={} {{ {} }}",
                lo.at(Prec::Add),
                hi.at(Prec::Add),
                lines.join(" ")
            )];
        }
        out.push(format!("let mut {best} = {zero};"));
        out.push(format!("let mut {found} = false;"));
        for a in &args {
            out.push(format!("let mut {a}: i64 = 0;"));
        }
        out.extend(lines);
        Ok((found, args))
    }

    fn call(
        &mut self,
        f: &Func,
        args: &[Expr],
        param: Option<&(String, String)>,
        out: &mut Vec<String>,
    ) -> Res<Code> {
        let cs = args
            .iter()
            .map(|a| self.expr(a, param, out))
            .collect::<Res<Vec<_>>>()?;
        let arity = |n: usize, name: &str| {
            if cs.len() == n {
                Ok(())
            } else {
                Err(CodegenError::new(format!(
                    "`{name}` takes {n} argument(s), got {}",
                    cs.len()
                )))
            }
        };
        Ok(match f {
            Func::Builtin(Builtin::Max) => {
                arity(2, "\\max")?;
                self.helpers.insert("max2");
                Code::atom(format!("max2({}, {})", cs[0].text, cs[1].text))
            }
            Func::Builtin(b) => {
                arity(1, &format!("{b:?}").to_lowercase())?;
                let x = &cs[0];
                match b {
                    Builtin::Exp => Code::atom(format!("{}.exp()", x.at(Prec::Atom))),
                    Builtin::Log => Code::atom(format!("{}.ln()", x.at(Prec::Atom))),
                    Builtin::Tanh => Code::atom(format!("{}.tanh()", x.at(Prec::Atom))),
                    Builtin::Sqrt => Code::atom(format!("{}.sqrt()", x.at(Prec::Atom))),
                    Builtin::Sigma | Builtin::Relu | Builtin::Softplus => {
                        let h = match b {
                            Builtin::Sigma => "sigma",
                            Builtin::Relu => "relu",
                            _ => "softplus",
                        };
                        self.helpers.insert(h);
                        Code::atom(format!("{h}({})", x.text))
                    }
                    Builtin::Max => {
                        return Err(CodegenError::new(
                            "internal error: `\\max` with one argument",
                        ))
                    }
                }
            }
            Func::User { name, prime } => {
                arity(1, name)?;
                let uf = self.p.functions.get(name);
                let defined = match uf {
                    Some(uf) if uf.body.is_some() => {
                        if *prime && uf.derivative.is_none() {
                            return Err(CodegenError::new(format!(
                                "function `{name}` has no derivative"
                            )));
                        }
                        true
                    }
                    _ => false,
                };
                let base = sanitize(name);
                let field = if *prime {
                    format!("{base}_prime")
                } else {
                    base
                };
                if defined {
                    let key = (name.clone(), *prime);
                    let id = match self.user_fns.get(&key) {
                        Some(id) => id.clone(),
                        None => {
                            let id = self.unique(&field);
                            self.user_fns.insert(key, id.clone());
                            id
                        }
                    };
                    Code::atom(format!("{id}({})", cs[0].text))
                } else {
                    if param.is_some() {
                        return Err(CodegenError::new(format!(
                            "function `{name}` has no definition and is called inside another function's definition"
                        )));
                    }
                    Code::atom(format!("(inputs.{field})({})", cs[0].text))
                }
            }
        })
    }

    // -- conditions ------------------------------------------------------

    /// The test of a condition; None when it holds for every value of its
    /// variables (a constant side: `0 <= 0` would trip clippy's `eq_op`).
    fn cond(&mut self, c: &Cond) -> Option<String> {
        match c {
            Cond::Divides { den, num } => {
                let (d, n) = (self.poly(den), self.poly(num));
                // Spelled with its type: a loop over literal bounds leaves
                // the variable's integer type open to inference.
                Some(format!("i64::rem_euclid({}, {}) == 0", n.text, d.text))
            }
            Cond::Within { e, lo, hi } if lo == hi => {
                if e.sub(lo).as_const() == Some(0) {
                    return None;
                }
                let (e, lo) = (self.poly(e), self.poly(lo));
                Some(format!("{} == {}", e.at(Prec::Mul), lo.at(Prec::Mul)))
            }
            Cond::Within { e, lo, hi } => {
                let mut tests = Vec::new();
                for (a, b) in [(lo, e), (e, hi)] {
                    match b.sub(a).as_const() {
                        Some(d) if d >= 0 => {}
                        Some(_) => return Some("false".into()),
                        None => {
                            let (a, b) = (self.poly(a), self.poly(b));
                            tests.push(format!("{} <= {}", a.at(Prec::Mul), b.at(Prec::Mul)));
                        }
                    }
                }
                (!tests.is_empty()).then(|| all_of(&tests))
            }
        }
    }

    // -- the module ------------------------------------------------------

    /// The module's text, and whether it calls the runtime's GEMM.
    fn module(mut self) -> Res<(String, bool)> {
        let forward = self.forward()?;
        let backward = self.backward()?;
        let values_new = self.values_new();
        let user_fns = self.user_functions()?;
        let mut s = String::new();
        if self.generic() {
            s.push_str(&real_trait(self.gemm_used.then_some(self.runtime.as_str())));
        }
        s.push_str(&self.sizes_struct());
        s.push_str(&self.inputs_struct());
        s.push_str(&self.values_struct());
        s.push_str(&values_new);
        s.push_str(&forward);
        s.push_str(&self.seeds_struct());
        s.push_str(&self.grads_struct());
        s.push_str(&backward);
        let derivation = match &self.derivation {
            Some(d) => d.clone(),
            None => crate::latex::derivation(self.m),
        };
        let _ = writeln!(s, "/// The derivation of the backward pass: a LaTeX fragment (amsmath).\npub const DERIVATION: &str = {derivation:?};");
        s.push_str(&user_fns);
        s.push_str(&self.helper_fns());
        Ok((s, self.gemm_used))
    }

    fn sizes_struct(&self) -> String {
        let mut s = String::from(
            "/// Run-time sizes: every size that appears in an index range.\n#[derive(Clone, Copy, Debug, PartialEq, Eq)]\n#[allow(non_snake_case)]\npub struct Sizes {\n",
        );
        for name in &self.p.sizes {
            let _ = writeln!(s, "/// `{name}`.\npub {}: usize,", size_field(name));
        }
        s.push_str("}\n");
        s
    }

    fn tensor_doc(&self, t: usize) -> String {
        let tensor = &self.p.tensors[t];
        let kind = match tensor.kind {
            TensorKind::Leaf(DeclKind::Input) => "input",
            TensorKind::Leaf(DeclKind::Param) => "param",
            TensorKind::Leaf(DeclKind::Const) => "const",
            TensorKind::Defined(_) => "defined",
        };
        let dims: Vec<String> = tensor
            .indices
            .iter()
            .zip(&tensor.dims)
            .map(|(i, r)| format!("{} <= {i} <= {}", r.lo, r.hi))
            .collect();
        let shape = if dims.is_empty() {
            "a scalar (length 1)".to_string()
        } else {
            dims.join(", ")
        };
        format!("`{}` ({kind}): {shape}.", tensor.key)
    }

    fn marker(&self, lifetime: bool, uses_lifetime: bool, uses_t: bool) -> String {
        let need_l = lifetime && !uses_lifetime;
        let need_t = self.generic() && !uses_t;
        if !need_l && !need_t {
            return String::new();
        }
        let l = if lifetime { "&'a ()" } else { "()" };
        let t = if self.generic() { "T" } else { "()" };
        format!("/// Unused: keeps the type parameters.\npub _marker: ::core::marker::PhantomData<({l}, {t})>,\n")
    }

    /// A struct of borrowed per-tensor fields (`Inputs`, `Seeds`, `Grads`):
    /// `head` (doc and derives), one documented field per tensor, then the
    /// `extra` fields (which use `T` but not the lifetime), then a marker
    /// for whatever type parameter nothing else uses.
    fn borrowed_struct(
        &self,
        head: &str,
        name: &str,
        tensors: &[usize],
        field_doc: &str,
        field_ty: &str,
        extra: &str,
    ) -> String {
        let mut s = format!(
            "{head}\n#[allow(non_snake_case)]\npub struct {name}{} {{\n",
            self.struct_params("'a")
        );
        for &t in tensors {
            let _ = writeln!(
                s,
                "/// {field_doc}{}\npub {}: {field_ty},",
                self.tensor_doc(t),
                self.ident[t]
            );
        }
        s.push_str(extra);
        let any_field = !tensors.is_empty();
        s.push_str(&self.marker(true, any_field, any_field || !extra.is_empty()));
        s.push_str("}\n");
        s
    }

    fn inputs_struct(&self) -> String {
        let ty = self.ty();
        let leaves: Vec<usize> = (0..self.p.tensors.len())
            .filter(|&t| self.p.tensors[t].is_leaf())
            .collect();
        let mut functions = String::new();
        for (name, f) in &self.p.functions {
            if f.body.is_none() {
                let b = sanitize(name);
                let _ = writeln!(functions, "/// The symbolic function `{name}` (no definition in the model).\npub {b}: fn({ty}) -> {ty},");
                let _ = writeln!(
                    functions,
                    "/// Its derivative `{name}'`.\npub {b}_prime: fn({ty}) -> {ty},"
                );
            }
        }
        self.borrowed_struct(
            "/// Every leaf (input, param, const): a row-major slice, each index from its lower bound; a scalar is a slice of length 1.\n#[derive(Clone, Copy, Debug)]",
            "Inputs",
            &leaves,
            "",
            &format!("&'a [{ty}]"),
            &functions,
        )
    }

    fn values_struct(&self) -> String {
        let ty = self.ty();
        let mut s = format!(
            "/// Values of every defined tensor, computed by [`forward`] and read by [`backward`]; same layout as [`Inputs`].\n#[derive(Clone, Debug, PartialEq)]\n#[allow(non_snake_case)]\npub struct Values{} {{\n",
            self.struct_params("")
        );
        let mut any = false;
        for (t, tensor) in self.p.tensors.iter().enumerate() {
            if !tensor.is_leaf() {
                let vis = if tensor.auxiliary { "" } else { "pub " };
                let doc = if tensor.auxiliary {
                    format!(
                        "/// Auxiliary: a reduction hoisted out of a non-linear position. {}",
                        self.tensor_doc(t)
                    )
                } else {
                    format!("/// {}", self.tensor_doc(t))
                };
                let _ = writeln!(s, "{doc}\n{vis}{}: ::std::vec::Vec<{ty}>,", self.ident[t]);
                any = true;
            }
        }
        for (st, id) in &self.records {
            let y = &self.p.statements[*st].lhs;
            let _ = writeln!(
                s,
                "/// Private: where the maximum of each window of `{}` is (its position in the window, row-major), recorded by [`forward`] for [`backward`].\n{id}: ::std::vec::Vec<u8>,",
                self.ident[*y]
            );
        }
        s.push_str(&self.marker(false, true, any));
        s.push_str("}\n");
        s
    }

    fn values_new(&mut self) -> String {
        self.sizes_used.clear();
        let strides = self.stride_checks();
        let z = self.zero().text;
        let mut fields = String::new();
        for t in 0..self.p.tensors.len() {
            if !self.p.tensors[t].is_leaf() {
                let len = self.len_code(t);
                let _ = write!(fields, "{}: ::std::vec![{z}; {}],", self.ident[t], len.text);
            }
        }
        for (st, id) in self.records.clone() {
            let len = self.len_code(self.p.statements[st].lhs);
            let _ = write!(fields, "{id}: ::std::vec![0u8; {}],", len.text);
        }
        if self
            .marker(false, true, self.p.tensors.iter().any(|t| !t.is_leaf()))
            .contains("_marker")
        {
            fields.push_str("_marker: ::core::marker::PhantomData,");
        }
        let prologue = self.size_prologue();
        let (impl_g, ty) = if self.generic() {
            ("<T: Real>", "<T>")
        } else {
            ("", "")
        };
        format!(
            "impl{impl_g} Values{ty} {{\n/// Zeroed buffers of the right lengths for `sizes`.\n#[allow(non_snake_case)]\n#[track_caller]\npub fn new(sizes: &Sizes) -> Self {{ {prologue} {strides} Values {{ {fields} }} }}\n}}\n"
        )
    }

    fn seeds_struct(&self) -> String {
        self.borrowed_struct(
            "/// The adjoint of each output (`\\partial E / \\partial` output), same layout as its value; a scalar output's seed is a slice of length 1 (`&[1.0]` for its plain gradient).\n#[derive(Clone, Copy, Debug)]",
            "Seeds",
            &self.p.outputs,
            "Seed of ",
            &format!("&'a [{}]", self.ty()),
            "",
        )
    }

    fn grads_struct(&self) -> String {
        let wanted: Vec<usize> = (0..self.p.tensors.len())
            .filter(|&t| self.p.tensors[t].wants_gradient())
            .collect();
        self.borrowed_struct(
            "/// Where gradients go: `None` skips that gradient and any work only it needs. Gradients accumulate (`+=`): a shared weight's gradient sums over its uses, over layers and over calls (the seed's rule).\n#[derive(Debug)]",
            "Grads",
            &wanted,
            "Gradient of ",
            &format!("::core::option::Option<&'a mut [{}]>", self.ty()),
            "",
        )
    }

    fn size_prologue(&mut self) -> String {
        let mut s = String::new();
        for (name, id) in &self.sizes {
            if self.sizes_used.contains(name) {
                let field = size_field(name);
                let _ = write!(s, "let {id} = size_i64({field:?}, sizes.{field});");
            }
        }
        if s.is_empty() {
            // Every extent is a number: `sizes` is there for the API only.
            s.push_str("let _ = sizes;");
        } else {
            self.helpers.insert("size_i64");
        }
        s
    }

    fn check(&mut self, what: &str, slice: &str, t: usize) -> String {
        self.helpers.insert("check_len");
        let len = self.len_code(t);
        let desc = format!("{what} (`{}`)", self.p.tensors[t].key);
        format!("check_len({desc:?}, {slice}.len(), {});", len.text)
    }

    /// A panic for every index range that the sizes can make negative
    /// (`0 <= i <= n - K` when the input is shorter than the kernel): the
    /// evaluator rejects such sizes, and the lengths alone would let the
    /// kernels run on empty buffers without a word.
    fn extent_checks(&mut self) -> (String, String) {
        // Strides first: the ranges may divide by them.
        let mut s = self.stride_checks();
        let mut doc = String::new();
        if !s.is_empty() {
            doc.push_str(STRIDE_DOC);
        }
        let strides = s.len();
        let mut seen = Vec::new();
        // Auxiliary tensors share their ranges with the user's.
        for tensor in self.p.tensors.iter().filter(|t| !t.auxiliary) {
            for (i, r) in tensor.indices.iter().zip(&tensor.dims) {
                let extent = r.hi.sub(&r.lo).add_int(1);
                if provably_nonneg(&extent, &[]) || seen.contains(&extent) {
                    continue;
                }
                seen.push(extent.clone());
                self.helpers.insert("check_extent");
                let what = format!(
                    "`{}` in index `{i}` ({} <= {i} <= {})",
                    tensor.key, r.lo, r.hi
                );
                let e = self.poly(&extent);
                let _ = write!(s, "check_extent({what:?}, {});", e.text);
            }
        }
        if s.len() > strides {
            doc.insert_str(0, EXTENT_DOC);
        }
        (s, doc)
    }

    /// A panic for every stride that is a size (`x_{s i + a}`), and every
    /// size a range divides by (`\lceil L/s \rceil`), that the sizes make
    /// zero or negative (a stride written `-s` is checked as `s`): the
    /// gather form and the ranges divide by them, and a zero one would stop
    /// the kernel with a bare division by zero.
    fn stride_checks(&mut self) -> String {
        let mut s = String::new();
        let mut checks: Vec<(Poly, String)> = Vec::new();
        for stride in self.p.size_strides() {
            let c = match stride.coef.sign_assuming_positive_sizes() {
                Some(-1) => stride.coef.neg(),
                _ => stride.coef,
            };
            if !checks.iter().any(|(d, _)| *d == c) {
                let what = format!(
                    "the stride `{c}` of `{}` in a read of `{}`",
                    stride.var, self.p.tensors[stride.tensor].key
                );
                checks.push((c, what));
            }
        }
        // Sizes that ranges divide by (`0 \le i < \lceil L/s \rceil`).
        let mut divisors = Vec::new();
        for t in &self.p.tensors {
            for r in &t.dims {
                range_divisors(&r.lo, &mut divisors);
                range_divisors(&r.hi, &mut divisors);
            }
        }
        for st in &self.p.statements {
            visit_expr(&st.rhs, &mut |x| {
                if let Expr::Reduce { range, .. } = x {
                    range_divisors(&range.lo, &mut divisors);
                    range_divisors(&range.hi, &mut divisors);
                }
            });
        }
        for q in divisors {
            if !checks.iter().any(|(c, _)| *c == q) {
                let what = format!("the divisor `{q}` in a range");
                checks.push((q, what));
            }
        }
        for (c, what) in checks {
            self.helpers.insert("check_stride");
            let e = self.poly(&c);
            let _ = write!(s, "check_stride({what:?}, {});", e.text);
        }
        s
    }

    /// `let _ = name;` for the parameters of `forward_threads` (or, with
    /// `backward`, of `backward_threads`) that a degenerate model leaves
    /// unused, so that the module stays warning-free: `inputs` without
    /// leaves, `values` without equations, `seeds` without outputs, `grads`
    /// when every leaf is a `const`. Otherwise their length checks use them.
    fn unused_params(&self, backward: bool) -> String {
        let ts = &self.p.tensors;
        let mut unused = Vec::new();
        if !ts.iter().any(|t| t.is_leaf()) {
            unused.push("inputs");
        }
        if ts.iter().all(|t| t.is_leaf()) {
            unused.push("values");
        }
        if backward && self.p.outputs.is_empty() {
            unused.push("seeds");
        }
        if backward && !ts.iter().any(|t| t.wants_gradient()) {
            unused.push("grads");
        }
        unused.iter().map(|n| format!("let _ = {n};")).collect()
    }

    fn leaf_checks(&mut self) -> String {
        let mut s = String::new();
        for t in 0..self.p.tensors.len() {
            if self.p.tensors[t].is_leaf() {
                let f = format!("inputs.{}", self.ident[t]);
                s.push_str(&self.check(&f, &f, t));
            }
        }
        s
    }

    fn value_checks(&mut self) -> String {
        let mut s = String::new();
        for t in 0..self.p.tensors.len() {
            if !self.p.tensors[t].is_leaf() {
                let f = format!("values.{}", self.ident[t]);
                s.push_str(&self.check(&f, &f, t));
            }
        }
        s
    }

    fn forward(&mut self) -> Res<String> {
        self.sizes_used.clear();
        let mut body = String::new();
        let (extents, extent_doc) = self.extent_checks();
        body.push_str(&extents);
        body.push_str(&self.leaf_checks());
        body.push_str(&self.value_checks());
        let mut doc = String::from("/// Computes every defined tensor from the inputs (overwrites `values`):\n///\n/// ```text\n");
        for (si, st) in self.p.statements.iter().enumerate() {
            let t = st.lhs;
            let tensor = &self.p.tensors[t];
            let text = if tensor.auxiliary {
                let lhs = report::read_text(
                    self.p,
                    &Read {
                        tensor: t,
                        slot: Slot::Value,
                        index: st.vars.iter().map(|v| Poly::var(v)).collect(),
                    },
                );
                format!("{lhs} = {}", report::expr_text(self.p, &st.rhs))
            } else {
                one_line(&st.source)
            };
            let _ = writeln!(doc, "/// {text}");
            let _ = write!(body, "\n// {text}\n");
            let id = self.ident[t].clone();
            if st.vars.is_empty() {
                let mut inner = Vec::new();
                let rhs = self.expr(&st.rhs, None, &mut inner)?;
                inner.push(format!("values.{id}[0] = {};", rhs.text));
                body.push_str(&format!("{{ {} }}", inner.join(" ")));
                continue;
            }
            let levels: Vec<Level> = st
                .vars
                .iter()
                .zip(&tensor.dims)
                .map(|(v, r)| (v.clone(), r.clone(), Vec::new()))
                .collect();
            let terms = rows::forward_terms(&st.rhs);
            let whole = format!("values.{id}");
            // Tensors with two or more indices are split across threads by
            // their first index; a thread's rows are the slice `part`.
            let chunk = (levels.len() >= 2).then(|| self.new_chunk());
            let part = match chunk {
                Some(_) => self.fresh(&format!("{id}_part")),
                None => whole.clone(),
            };
            let gemm = self.gemm_nest(
                t,
                &levels,
                &terms,
                &whole,
                &part,
                RowInit::Zero,
                chunk.as_ref(),
            );
            if let Some(lines) = gemm {
                body.push_str(&lines?);
                continue;
            }
            if let Some(lines) = self.pool_forward(si, &levels, &whole, &part, chunk.as_ref()) {
                body.push_str(&lines);
                continue;
            }
            if let Some(lines) =
                self.row_nest(t, &levels, &terms, &part, RowInit::Zero, chunk.as_ref())
            {
                let lines = lines?.join(" ");
                body.push_str(&self.in_threads(&levels, chunk.as_ref(), &whole, &part, lines));
                continue;
            }
            let split = self.plan_split(&levels, &[(Vec::new(), &st.rhs)]);
            let chunk = chunk.filter(|_| split.as_ref().is_none_or(|s| s.level != 0));
            let part = if chunk.is_some() { part } else { whole.clone() };
            let rhs_e = &st.rhs;
            let target = part.clone();
            let mut gen = |g: &mut Gen<'m>| -> Res<Vec<String>> {
                let mut out = Vec::new();
                let rhs = g.expr(rhs_e, None, &mut out)?;
                out.push(format!("{target}[o] = {};", rhs.text));
                out.push("o += 1;".into());
                Ok(out)
            };
            let lines = self.nest_in_chunk(&levels, split.as_ref(), chunk.as_ref(), &mut gen);
            let lines = format!("let mut o = 0usize; {}", lines?.join(" "));
            let lines = self.in_threads(&levels, chunk.as_ref(), &whole, &part, lines);
            let _ = write!(body, "{{ {lines} }}");
        }
        doc.push_str("/// ```\n///\n/// # Panics\n///\n/// When a slice in `inputs` or `values` does not have the length that `sizes` gives it; the message names the tensor and both lengths. Also when a size does not fit in `i64` or a tensor's length in `usize`.");
        doc.push_str(&extent_doc);
        doc.push('\n');
        if !body.contains("split_rows(") && !body.contains("split_sum(") {
            // Nothing here has rows to split.
            body.insert_str(0, "let _ = threads;");
        }
        body.insert_str(0, &self.unused_params(false));
        let prologue = self.size_prologue();
        let g = self.fn_generics();
        let (ip, vp) = (self.struct_params("'_"), self.struct_params(""));
        Ok(format!(
            "{doc}#[track_caller]\npub fn forward{g}(sizes: &Sizes, inputs: &Inputs{ip}, values: &mut Values{vp}) {{ forward_threads(sizes, inputs, values, 1) }}\n\
             /// [`forward`] on up to `threads` threads (scoped `std` threads, none spawned for 1): each tensor with two or more indices is split by its first index into contiguous runs of rows, one per thread, and the threads join before the next statement.\n///\n/// # Panics\n///\n/// As [`forward`].\n{KERNEL_ALLOW}\n#[track_caller]\npub fn forward_threads{g}(sizes: &Sizes, inputs: &Inputs{ip}, values: &mut Values{vp}, threads: usize) {{ {prologue} {body} }}\n"
        ))
    }

    fn backward(&mut self) -> Res<String> {
        self.sizes_used.clear();
        let p = self.p;
        let gr = &self.m.gradient;
        let mut body = String::new();
        let (extents, extent_doc) = self.extent_checks();
        body.push_str(&extents);
        body.push_str(&self.leaf_checks());
        body.push_str(&self.value_checks());
        for &t in &p.outputs {
            let f = format!("seeds.{}", self.ident[t]);
            body.push_str(&self.check(&f, &f, t));
        }
        for t in 0..p.tensors.len() {
            if p.tensors[t].wants_gradient() {
                let id = self.ident[t].clone();
                let chk = self.check(&format!("grads.{id}"), "g", t);
                let _ = write!(
                    body,
                    "if let ::core::option::Option::Some(g) = grads.{id}.as_deref() {{ {chk} }}"
                );
            }
        }

        // Which adjoints are needed: a leaf's when its gradient is asked
        // for, an intermediate's when a needed adjoint reads it.
        let mut readers: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
        for a in &gr.adjoints {
            for c in &a.terms {
                let mut reads = BTreeSet::new();
                adjoint_reads(&c.gather.body, &mut reads);
                for r in reads {
                    readers.entry(r).or_default().insert(a.tensor);
                }
            }
        }
        // need[t]: None = never; Some(list of conditions).
        let mut need: BTreeMap<usize, Option<String>> = BTreeMap::new();
        let mut flags = String::from("\n// Adjoints needed for the requested gradients.\n");
        for a in gr.adjoints.iter().rev() {
            let t = a.tensor;
            if need.contains_key(&t) {
                continue;
            }
            let tensor = &p.tensors[t];
            let cond = if tensor.is_leaf() {
                tensor
                    .wants_gradient()
                    .then(|| format!("grads.{}.is_some()", self.ident[t]))
            } else {
                let mut parts: Vec<String> = Vec::new();
                for r in readers.get(&t).into_iter().flatten() {
                    match need.get(r) {
                        Some(Some(c)) if p.tensors[*r].is_leaf() => parts.push(c.clone()),
                        Some(Some(_)) => parts.push(format!("need_{}", self.ident[*r])),
                        _ => {}
                    }
                }
                parts.dedup();
                (!parts.is_empty()).then(|| parts.join(" || "))
            };
            if let (Some(c), AdjBuf::Local(_)) = (&cond, &self.adj[t]) {
                let _ = write!(flags, "let need_{} = {c};", self.ident[t]);
            }
            need.insert(t, cond);
        }
        body.push_str(&flags);

        let mut doc = String::from(
            "/// Vector-Jacobian product: adds `d(seeds · outputs)/d(leaf)` into each requested gradient in `grads`, from the adjoint equations (gather form, `bar X` is `∂E/∂X`):\n///\n/// ```text\n",
        );
        for line in report::adjoints_text(self.m).lines() {
            let _ = writeln!(doc, "/// {}", line.trim_end());
        }
        doc.push_str("/// ```\n");
        // The seed's rule, where a leaf is read at several places.
        for (t, tensor) in p.tensors.iter().enumerate() {
            if !tensor.wants_gradient() {
                continue;
            }
            let uses: Vec<&str> = gr
                .occurrences
                .iter()
                .filter(|o| o.tensor == t)
                .map(|o| p.tensors[p.statements[o.statement].lhs].key.as_str())
                .collect();
            if uses.len() > 1 {
                let _ = writeln!(
                    doc,
                    "///\n/// `{}` is read at {} places (in {}): its gradient is the sum of one contribution per use, never an average (the seed's rule for shared weights).",
                    tensor.key,
                    uses.len(),
                    uses.iter().map(|u| format!("`{u}`")).collect::<Vec<_>>().join(", ")
                );
            }
        }
        doc.push_str("///\n/// # Panics\n///\n/// When a slice in `inputs`, `values`, `seeds` or `grads` does not have the length that `sizes` gives it; the message names the tensor and both lengths. Also when a size does not fit in `i64` or a tensor's length in `usize`.");
        doc.push_str(&extent_doc);
        doc.push('\n');

        let mut allocated = BTreeSet::new();
        let mut grad_blocks: Vec<GradBlock> = Vec::new();
        // A target's arg-max terms may run apart from its other terms.
        let parts: Vec<Adjoint> = gr
            .adjoints
            .iter()
            .flat_map(|a| winner::split_winners(a).map_or_else(|| vec![a.clone()], Vec::from))
            .collect();
        for a in &parts {
            let t = a.tensor;
            let Some(Some(_)) = need.get(&t) else {
                continue;
            };
            let tensor = &p.tensors[t];
            let id = self.ident[t].clone();
            let header = report::read_text(
                p,
                &Read {
                    tensor: t,
                    slot: Slot::Adjoint,
                    index: a.vars.iter().map(|v| Poly::var(v)).collect(),
                },
            );
            let (target, open) = match self.adj[t].clone() {
                AdjBuf::Seed(_) | AdjBuf::None => continue,
                AdjBuf::Grad => {
                    let g = self.fresh("grad");
                    (
                        g.clone(),
                        format!(
                            "if let ::core::option::Option::Some({g}) = grads.{id}.as_deref_mut()"
                        ),
                    )
                }
                AdjBuf::Local(d) => {
                    if allocated.insert(t) {
                        let flag = format!("need_{id}");
                        let len = self.len_code(t);
                        let _ = write!(
                            body,
                            "\nlet mut {d} = if {flag} {{ ::std::vec![{}; {}] }} else {{ ::std::vec::Vec::new() }};",
                            self.zero().text,
                            len.text
                        );
                    }
                    (d.clone(), format!("if need_{id}"))
                }
            };
            if a.terms.is_empty() && !a.seeded {
                continue;
            }
            let comment = format!("\n// {header} = ...\n");
            let inner: String = 'inner: {
                // One iteration per target point.
                let acc = "acc";
                let start = if a.seeded {
                    format!("seeds.{id}[o]")
                } else {
                    self.zero().text
                };
                let scalar = a.vars.is_empty();
                let start = if scalar {
                    start.replace("[o]", "[0]")
                } else {
                    start
                };
                let levels: Vec<Level> = a
                    .vars
                    .iter()
                    .zip(&tensor.dims)
                    .map(|(v, r)| (v.clone(), r.clone(), Vec::new()))
                    .collect();
                if !scalar {
                    let terms: Vec<RowTerm<'_>> = a
                        .terms
                        .iter()
                        .map(|c| RowTerm {
                            sums: c.gather.sums.clone(),
                            conds: c.gather.conds.clone(),
                            body: &c.gather.body,
                        })
                        .collect();
                    let init = if a.seeded {
                        RowInit::Seed(format!("seeds.{id}"))
                    } else {
                        RowInit::Keep
                    };
                    // Targets with two or more indices are split across threads
                    // by their first index (each thread writes its own rows).
                    let chunk = (levels.len() >= 2).then(|| self.new_chunk());
                    if let Some(code) = self.winner_nest(a, &levels, &target, init.clone()) {
                        break 'inner code?;
                    }
                    let gemm = self.gemm_nest(
                        t,
                        &levels,
                        &terms,
                        &target,
                        &target,
                        init.clone(),
                        chunk.as_ref(),
                    );
                    if let Some(lines) = gemm {
                        break 'inner lines?;
                    }
                    if let Some(lines) =
                        self.row_nest(t, &levels, &terms, &target, init, chunk.as_ref())
                    {
                        let lines = lines?.join(" ");
                        break 'inner self.in_threads(
                            &levels,
                            chunk.as_ref(),
                            &target,
                            &target,
                            lines,
                        );
                    }
                }
                // Split the target loop unless a contribution has a long sum
                // of its own (then the split happens there).
                let inner_long = a
                    .terms
                    .iter()
                    .any(|c| c.gather.sums.iter().any(|s| is_long(&s.range)));
                let split = if inner_long {
                    None
                } else {
                    let items: Vec<(Vec<(String, Range)>, &Expr)> = a
                        .terms
                        .iter()
                        .map(|c| {
                            (
                                c.gather
                                    .sums
                                    .iter()
                                    .map(|s| (s.var.clone(), s.range.clone()))
                                    .collect(),
                                &c.gather.body,
                            )
                        })
                        .collect();
                    self.plan_split(&levels, &items)
                };
                let slot = if scalar { "0" } else { "o" };
                let mut gen = |g: &mut Gen<'m>| -> Res<Vec<String>> {
                    let mut out = Vec::new();
                    if a.terms.is_empty() {
                        out.push(format!("let {acc} = {start};"));
                    } else {
                        out.push(format!("let mut {acc} = {start};"));
                    }
                    for c in &a.terms {
                        out.extend(g.contribution(c, acc)?);
                    }
                    out.push(format!("{target}[{slot}] += {acc};"));
                    if !scalar {
                        out.push("o += 1;".into());
                    }
                    Ok(out)
                };
                // Split across threads as above, unless the first index is the
                // one split into border and interior, or the seed is read at
                // the running offset `o`.
                let chunk =
                    (levels.len() >= 2 && !a.seeded && split.as_ref().is_none_or(|s| s.level != 0))
                        .then(|| self.new_chunk());
                let lines = self.nest_in_chunk(&levels, split.as_ref(), chunk.as_ref(), &mut gen);
                let lines = lines?;
                if scalar {
                    lines.join(" ")
                } else {
                    let lines = format!("let mut o = 0usize; {}", lines.join(" "));
                    self.in_threads(&levels, chunk.as_ref(), &target, &target, lines)
                }
            };
            let sequential = format!("{comment}{open} {{ {inner} }}");
            match self.adj[t] {
                // Leaf gradients come last, side by side when they balance.
                AdjBuf::Grad => grad_blocks.push(GradBlock {
                    tensor: t,
                    slice: target,
                    comment,
                    code: inner,
                    sequential,
                }),
                _ => body.push_str(&sequential),
            }
        }
        body.push_str(&self.grad_tasks(&grad_blocks));

        if !body.contains("split_rows(") && !body.contains("split_sum(") {
            // Nothing here has rows to split.
            body.insert_str(0, "let _ = threads;");
        }
        body.insert_str(0, &self.unused_params(true));
        let prologue = self.size_prologue();
        let g = self.fn_generics();
        let (ip, vp, sp, gp) = (
            self.struct_params("'_"),
            self.struct_params(""),
            self.struct_params("'_"),
            self.struct_params("'_"),
        );
        let tasks_doc = if body.contains("run_tasks(") {
            " Leaf gradients computed by the runtime's calls come last: when two or more are asked for and their estimated costs balance (a convolution's input and weight gradients), they run side by side instead, each on its share of the threads."
        } else {
            ""
        };
        Ok(format!(
            "{doc}#[track_caller]\npub fn backward{g}(sizes: &Sizes, inputs: &Inputs{ip}, values: &Values{vp}, seeds: &Seeds{sp}, grads: &mut Grads{gp}) {{ backward_threads(sizes, inputs, values, seeds, grads, 1) }}\n\
             /// [`backward`] on up to `threads` threads (scoped `std` threads, none spawned for 1): each gradient and adjoint with two or more indices is split by its first index into contiguous runs of rows, one per thread (every element is written by one thread), and the threads join before the next one starts.{tasks_doc}\n///\n/// # Panics\n///\n/// As [`backward`].\n{KERNEL_ALLOW}\n#[track_caller]\npub fn backward_threads{g}(sizes: &Sizes, inputs: &Inputs{ip}, values: &Values{vp}, seeds: &Seeds{sp}, grads: &mut Grads{gp}, threads: usize) {{ {prologue} {body} }}\n"
        ))
    }

    /// The leaf gradients' code, after every adjoint they read. When two or
    /// more of them call the runtime, each of those becomes a task of
    /// `run_tasks` with its cost (the number of points of the statements
    /// its terms come from), so that independent gradients can run side by
    /// side instead of each splitting its rows: a convolution's input and
    /// weight gradients on two threads, one each. The others run first,
    /// one after another, as before. A gradient's blocks stay in one task,
    /// in order.
    fn grad_tasks(&mut self, blocks: &[GradBlock]) -> String {
        // Only gradients whose work is in the runtime's calls become tasks:
        // a loop nest moved into a closure reads the sizes and slices
        // through its captures, and ran at half speed (the self-contained
        // conv2d weight gradient, 169 -> 299 ms).
        let mut order: Vec<usize> = Vec::new();
        for b in blocks {
            if b.code.contains(self.runtime.as_str()) && !order.contains(&b.tensor) {
                order.push(b.tensor);
            }
        }
        if order.len() < 2 {
            order.clear();
        }
        let mut s: String = blocks
            .iter()
            .filter(|b| !order.contains(&b.tensor))
            .map(|b| b.sequential.as_str())
            .collect();
        if order.is_empty() {
            return s;
        }
        self.helpers.insert("run_tasks");
        let mut lets = String::new();
        let mut tasks = Vec::new();
        for &t in &order {
            let id = self.ident[t].clone();
            let opt = self.fresh("task");
            let whole = self.fresh("whole");
            let _ = write!(lets, "let {opt} = grads.{id}.as_deref_mut();");
            let mut inner = String::new();
            for b in blocks.iter().filter(|b| b.tensor == t) {
                let (g, comment, code) = (&b.slice, &b.comment, &b.code);
                let _ = write!(inner, "{comment}{{ let {g} = &mut *{whole}; {code} }}");
            }
            if !inner.contains("threads") {
                inner.insert_str(0, "let _ = threads;");
            }
            let cost = self.cost_code(t);
            tasks.push(format!(
                "({opt}.is_some(), {cost}, ::std::boxed::Box::new(|threads: usize| {{ if let ::core::option::Option::Some({whole}) = {opt} {{ {inner} }} }}) as GradTask<'_>)"
            ));
        }
        let _ = write!(
            s,
            "\n// These leaf gradients, independent of one another: side by side when their costs balance.\n{lets} run_tasks(threads, ::std::vec::Vec::from([{}]));",
            tasks.join(", ")
        );
        s
    }

    /// An estimate of the work of a leaf's gradient, as an `f64`
    /// expression: for each term, the number of points of the statement
    /// (and reductions) it comes from; ranges that depend on other indices
    /// count as one point.
    fn cost_code(&mut self, t: usize) -> String {
        let m = self.m;
        let mut terms = Vec::new();
        for a in m.gradient.adjoints.iter().filter(|a| a.tensor == t) {
            for c in &a.terms {
                let fixed = c
                    .scatter
                    .sums
                    .iter()
                    .map(|sv| &sv.range)
                    .filter(|r| r.lo.vars().is_empty() && r.hi.vars().is_empty());
                let (consts, codes) = self.extent_factors(fixed);
                let k: f64 = consts.iter().map(|&c| c as f64).product();
                let mut fs: Vec<String> =
                    codes.iter().map(|e| format!("{} as f64", e.text)).collect();
                if k != 1.0 || fs.is_empty() {
                    fs.insert(0, format!("{k:?}"));
                }
                terms.push(fs.join(" * "));
            }
        }
        if terms.is_empty() {
            "0.0".into()
        } else {
            terms.join(" + ")
        }
    }

    /// Fresh names for a thread's run of rows.
    fn new_chunk(&mut self) -> Chunk {
        Chunk {
            first: self.fresh("first"),
            count: self.fresh("count"),
        }
    }

    /// [`Self::nest`] with the first level's loop limited to `chunk`'s rows
    /// (its range stays the whole one for the proofs inside).
    fn nest_in_chunk(
        &mut self,
        levels: &[Level],
        split: Option<&Split>,
        chunk: Option<&Chunk>,
        inner: &mut dyn FnMut(&mut Gen<'m>) -> Res<Vec<String>>,
    ) -> Res<Vec<String>> {
        self.chunk_loop = chunk.map(|ch| (levels[0].0.clone(), ch.range(&levels[0].1)));
        let lines = self.nest(levels, split, inner);
        self.chunk_loop = None;
        lines
    }

    /// `lines` (a target's loop nest over the rows of `chunk`, writing the
    /// slice `part`) run by `split_rows` over the first index of the buffer
    /// `whole`, on `threads` threads.
    fn in_threads(
        &mut self,
        levels: &[Level],
        chunk: Option<&Chunk>,
        whole: &str,
        part: &str,
        lines: String,
    ) -> String {
        let Some(ch) = chunk else { return lines };
        self.helpers.insert("split_rows");
        let rows = self.extent_usize(&levels[0].1.lo, &levels[0].1.hi);
        let (f, c, ty) = (&ch.first, &ch.count, self.ty());
        format!(
            "split_rows(&mut {whole}[..], {}, threads, |{f}: usize, {c}: usize, {part}: &mut [{ty}]| {{ let {f} = {f} as i64; let {c} = {c} as i64; {lines} }});",
            rows.text
        )
    }

    /// The statements that add one contribution to `acc` at the current
    /// target point: conditions, then the remaining sums, then the body.
    fn contribution(&mut self, c: &crate::ir::Contribution, acc: &str) -> Res<Vec<String>> {
        let mut g = c.gather.clone();
        // Long sums innermost, where they get several accumulators.
        long_sums_last(&mut g.sums);
        let g = &g;
        if let Some(lines) = self.reduce_nest(&g.sums, &g.conds, &g.body, acc) {
            return lines;
        }
        // Conditions go to the shallowest level where their variables are
        // bound: 0 before the first sum, j + 1 inside sum j.
        let depth = |v: &str| g.sums.iter().position(|s| s.var == v).map_or(0, |k| k + 1);
        let mut conds: Vec<Vec<String>> = vec![Vec::new(); g.sums.len() + 1];
        for cond in &g.conds {
            let vars = match cond {
                Cond::Divides { den, num } => {
                    den.vars().into_iter().chain(num.vars()).collect::<Vec<_>>()
                }
                Cond::Within { e, lo, hi } => e
                    .vars()
                    .into_iter()
                    .chain(lo.vars())
                    .chain(hi.vars())
                    .collect(),
            };
            let level = vars.iter().map(|v| depth(v)).max().unwrap_or(0);
            if let Some(text) = self.cond(cond) {
                conds[level].push(text);
            }
        }
        let levels: Vec<Level> = g
            .sums
            .iter()
            .enumerate()
            .map(|(k, s)| (s.var.clone(), s.range.clone(), conds[k + 1].clone()))
            .collect();
        // Split the innermost long sum, unless an enclosing split is active.
        let split = if self.overrides.is_empty() && self.unchecked.is_empty() {
            self.plan_split(&levels, &[(Vec::new(), &g.body)])
        } else {
            None
        };
        let body_e = &g.body;
        let mut gen = |gg: &mut Gen<'m>| -> Res<Vec<String>> {
            let mut out = Vec::new();
            let body = gg.expr(body_e, None, &mut out)?;
            out.push(format!("{acc} += {};", body.text));
            Ok(out)
        };
        let lines = self.nest(&levels, split.as_ref(), &mut gen)?;
        Ok(if conds[0].is_empty() {
            lines
        } else {
            vec![format!(
                "if {} {{ {} }}",
                all_of(&conds[0]),
                lines.join(" ")
            )]
        })
    }

    /// Loops over `levels` (outermost first) around what `inner` generates;
    /// the level named by `split` is cut into a border, an interior where
    /// every covered read is in range (no zero-padding tests, narrowed inner
    /// ranges) and a border.
    fn nest(
        &mut self,
        levels: &[Level],
        split: Option<&Split>,
        inner: &mut dyn FnMut(&mut Gen<'m>) -> Res<Vec<String>>,
    ) -> Res<Vec<String>> {
        let Some(((var, range, conds), rest)) = levels.split_first() else {
            return inner(self);
        };
        let wrap = |lines: Vec<String>| -> Vec<String> {
            if conds.is_empty() {
                lines
            } else {
                vec![format!("if {} {{ {} }}", all_of(conds), lines.join(" "))]
            }
        };
        let v = self.var(var);
        let r = self.range_of(var, range);
        let here = split.is_some_and(|s| s.level == 0);
        self.enclosing.push((var.clone(), r.clone()));
        let res = self.nest_level(&v, &r, wrap, rest, split, here, inner);
        self.enclosing.pop();
        res
    }

    #[allow(clippy::too_many_arguments)]
    fn nest_level(
        &mut self,
        v: &str,
        r: &Range,
        wrap: impl Fn(Vec<String>) -> Vec<String>,
        rest: &[Level],
        split: Option<&Split>,
        here: bool,
        inner: &mut dyn FnMut(&mut Gen<'m>) -> Res<Vec<String>>,
    ) -> Res<Vec<String>> {
        if !here {
            let deeper = split.map(|s| Split {
                level: s.level - 1,
                interior: s.interior.clone(),
            });
            let body = wrap(self.nest(rest, deeper.as_ref(), inner)?);
            let lv = self.loop_var(v, &body);
            let r = match &self.chunk_loop {
                Some((cv, cr)) if self.var(cv) == v => cr.clone(),
                _ => r.clone(),
            };
            let range = self.range_code(&r.lo, &r.hi);
            return Ok(vec![format!(
                "for {lv} in {range} {{ {} }}",
                body.join(" ")
            )]);
        }
        let mut it = split.map(|s| s.interior.clone()).unwrap_or_default();
        // Tests that the enclosing loops already guarantee are dropped (the
        // split variable itself is not enclosing yet).
        let outer: Vec<(String, Range)> = self.enclosing[..self.enclosing.len() - 1].to_vec();
        it.guards.retain(|g| !provably_nonneg(g, &outer));
        let it = &it;
        let saved = (
            std::mem::take(&mut self.unchecked),
            std::mem::take(&mut self.overrides),
        );
        self.unchecked = it.covered.clone();
        self.overrides = it.overrides.clone();
        let body_i = self.nest(rest, None, inner).map(&wrap);
        self.unchecked = saved.0;
        self.overrides = saved.1;
        let body_i = body_i?;
        let (lo, hi) = (self.poly(&r.lo), self.poly(&r.hi));
        let whole = it.lo == r.lo && it.hi == r.hi;
        if whole && it.guards.is_empty() {
            // In range everywhere: one loop, no tests.
            return Ok(vec![self.interior_loop(
                v,
                &lo.at(Prec::Add),
                &hi.at(Prec::Add),
                &body_i,
                rest.is_empty(),
            )]);
        }
        let body_c = wrap(self.nest(rest, None, inner)?);
        let lv_c = self.loop_var(v, &body_c);
        let mut lines = Vec::new();
        let mut test: Vec<String> = Vec::new();
        for gd in &it.guards {
            // `x - 1 >= 0` reads (and lints) better as `x > 0`.
            let (gd, op) = if gd.constant() == -1 {
                (gd.add_int(1), ">")
            } else {
                (gd.clone(), ">=")
            };
            let c = self.poly(&gd);
            test.push(format!("{} {op} 0", c.text));
        }
        let checked = format!(
            "for {lv_c} in {}..={} {{ {} }}",
            lo.at(Prec::Add),
            hi.at(Prec::Add),
            body_c.join(" ")
        );
        if whole {
            let fast = self.interior_loop(
                v,
                &lo.at(Prec::Add),
                &hi.at(Prec::Add),
                &body_i,
                rest.is_empty(),
            );
            lines.push(format!(
                "if {} {{ {fast} }} else {{ {checked} }}",
                all_of(&test)
            ));
            return Ok(lines);
        }
        let (ilo, ihi) = (self.fresh("lo"), self.fresh("hi"));
        let (ilo_c, ihi_c) = (self.poly(&it.lo), self.poly(&it.hi));
        lines.push(format!("let {ilo} = {};", ilo_c.text));
        lines.push(format!("let {ihi} = {};", ihi_c.text));
        test.push(format!("{ilo} <= {ihi}"));
        let mut split_loops = String::from("// Border, interior (every read in range), border.\n");
        if it.lo != r.lo {
            let _ = write!(
                split_loops,
                "for {lv_c} in {}..{ilo} {{ {} }}",
                lo.at(Prec::Add),
                body_c.join(" ")
            );
        }
        let fast = self.interior_loop(v, &ilo, &ihi, &body_i, rest.is_empty());
        let _ = write!(split_loops, "{fast}");
        if it.hi != r.hi {
            let _ = write!(
                split_loops,
                "for {lv_c} in {ihi} + 1..={} {{ {} }}",
                hi.at(Prec::Add),
                body_c.join(" ")
            );
        }
        lines.push(format!(
            "if {} {{ {split_loops} }} else {{ {checked} }}",
            all_of(&test)
        ));
        Ok(lines)
    }

    /// The loop over an interior. An innermost sum of one term
    /// (`acc += ...`) gets eight independent accumulators, so the additions
    /// do not wait on each other and the loop can use vector registers.
    fn interior_loop(
        &mut self,
        v: &str,
        lo: &str,
        hi: &str,
        body: &[String],
        innermost: bool,
    ) -> String {
        let lv = self.loop_var(v, body);
        let plain = format!("for {lv} in {lo}..={hi} {{ {} }}", body.join(" "));
        let term = match body {
            [line] if innermost && lv != "_" => {
                line.strip_prefix("acc += ").filter(|t| t.ends_with(';'))
            }
            _ => None,
        };
        let Some(term) = term else { return plain };
        let term = term.trim_end_matches(';');
        let (lanes, start, lane, end, l) = (
            self.fresh("lanes"),
            self.fresh("start"),
            self.fresh("lane"),
            self.fresh("end"),
            self.fresh("l"),
        );
        let z = self.zero().text;
        format!(
            "let mut {lanes} = [{z}; 8]; let mut {start} = {lo}; let {end} = {hi}; \
             while {start} + 7 <= {end} {{ for ({l}, {lane}) in {lanes}.iter_mut().enumerate() {{ let {lv} = {start} + {l} as i64; *{lane} += {term}; }} {start} += 8; }} \
             for {lv} in {start}..={end} {{ acc += {term}; }} \
             acc += {};",
            lane_sum(&lanes)
        )
    }

    /// Where to split a loop nest: its innermost long level, with the range
    /// of that level's variable where every read below it that can be
    /// analysed is in range. `items` are the expressions inside the nest,
    /// each under further binders (a contribution's sums).
    fn plan_split(
        &self,
        levels: &[Level],
        items: &[(Vec<(String, Range)>, &Expr)],
    ) -> Option<Split> {
        let level = levels.iter().rposition(|(_, r, _)| is_long(r))?;
        let (v, vr, _) = &levels[level];
        // Every binder below the split level, with the ranges it is bound to.
        let deeper: Vec<(String, Range)> = levels[level + 1..]
            .iter()
            .map(|(n, r, _)| (n.clone(), r.clone()))
            .collect();
        let mut reads: Vec<(Vec<(String, Range)>, Read)> = Vec::new();
        let mut binds: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (n, r) in &deeper {
            binds.entry(n.clone()).or_default().insert(format!("{r:?}"));
        }
        for (prefix, e) in items {
            let mut scope = deeper.clone();
            scope.extend(prefix.iter().cloned());
            for (n, r) in prefix {
                binds.entry(n.clone()).or_default().insert(format!("{r:?}"));
            }
            scoped_reads(e, &mut scope, &mut reads, &mut binds);
        }
        let binders: BTreeSet<String> = binds.keys().cloned().collect();
        let conflicting: BTreeSet<String> = binds
            .iter()
            .filter(|(n, rs)| rs.len() > 1 || *n == v)
            .map(|(n, _)| n.clone())
            .collect();
        let mut cs = Constraints::default();
        // Inner ranges that depend on v: in the interior, the operand of
        // their max (lower) / min (upper) that does not depend on v wins.
        let mut overrides: BTreeMap<String, Range> = BTreeMap::new();
        let mut bad: BTreeSet<String> = conflicting.clone();
        let mut all_ranges: BTreeMap<String, Range> = BTreeMap::new();
        for (_, rd) in &reads {
            let _ = rd;
        }
        for (prefix, _) in items {
            for (n, r) in deeper.iter().chain(prefix.iter()) {
                all_ranges.entry(n.clone()).or_insert_with(|| r.clone());
            }
        }
        let mut collect = |scope: &[(String, Range)]| {
            for (n, r) in scope {
                all_ranges.entry(n.clone()).or_insert_with(|| r.clone());
            }
        };
        for (scope, _) in &reads {
            collect(scope);
        }
        for (n, r) in &all_ranges {
            if bad.contains(n) {
                continue;
            }
            if !r.lo.mentions(v) && !r.hi.mentions(v) {
                continue;
            }
            let lo = winner(&r.lo, v, true, &binders, &mut cs);
            let hi = winner(&r.hi, v, false, &binders, &mut cs);
            match (lo, hi) {
                (Some(lo), Some(hi)) => {
                    overrides.insert(n.clone(), Range { lo, hi });
                }
                _ => {
                    bad.insert(n.clone());
                }
            }
        }
        let mut ok: BTreeSet<ReadKey> = BTreeSet::new();
        let mut failed: BTreeSet<ReadKey> = BTreeSet::new();
        for (scope, rd) in &reads {
            if rd.index.is_empty()
                || matches!(rd.slot, Slot::Adjoint)
                    && matches!(self.adj[rd.tensor], AdjBuf::None | AdjBuf::Grad)
            {
                continue;
            }
            let key = read_key(rd);
            let mut local = Constraints::default();
            let fine = read_constraints(
                &self.p.tensors[rd.tensor].dims,
                rd,
                scope,
                v,
                &overrides,
                &bad,
                &binders,
                &mut local,
            );
            if fine {
                cs.extend(local);
                ok.insert(key);
            } else {
                failed.insert(key);
            }
        }
        let covered: BTreeSet<ReadKey> = ok.difference(&failed).cloned().collect();
        if covered.is_empty() && overrides.is_empty() {
            return None;
        }
        let outer = &self.enclosing;
        let mut lo = vr.lo.clone();
        for l in &cs.lowers {
            if !provably_nonneg(&vr.lo.sub(l), outer) {
                lo = lo.max_of(l);
            }
        }
        let mut hi = vr.hi.clone();
        for h in &cs.uppers {
            if !provably_nonneg(&h.sub(&vr.hi), outer) {
                hi = hi.min_of(h);
            }
        }
        let mut guards = BTreeSet::new();
        for gd in cs.guards {
            match gd.as_const() {
                Some(c) if c >= 0 => {}
                Some(_) => return None,
                None => {
                    guards.insert(gd);
                }
            }
        }
        Some(Split {
            level,
            interior: Interior {
                lo,
                hi,
                guards: guards.into_iter().collect(),
                covered,
                overrides,
            },
        })
    }

    fn user_functions(&mut self) -> Res<String> {
        let mut s = String::new();
        let mut done: BTreeSet<(String, bool)> = BTreeSet::new();
        // Bodies may call further functions: repeat until nothing is new.
        loop {
            let todo: Vec<((String, bool), String)> = self
                .user_fns
                .iter()
                .filter(|(k, _)| !done.contains(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if todo.is_empty() {
                break;
            }
            for ((name, prime), id) in todo {
                done.insert((name.clone(), prime));
                let Some(uf) = self.p.functions.get(&name) else {
                    continue;
                };
                let Some(e) = (if prime {
                    uf.derivative.as_ref()
                } else {
                    uf.body.as_ref()
                }) else {
                    continue;
                };
                let param = (uf.param.clone(), sanitize(&uf.param));
                let mut out = Vec::new();
                let saved = std::mem::take(&mut self.sizes_used);
                let c = self.expr(e, Some(&param), &mut out)?;
                if !self.sizes_used.is_empty() {
                    return Err(CodegenError::new(format!(
                        "function `{name}` uses a size in its definition: not supported"
                    )));
                }
                self.sizes_used = saved;
                let shown = if prime {
                    format!("{name}'")
                } else {
                    name.clone()
                };
                let def = report::expr_text(self.p, e);
                let ty = self.ty();
                let g = self.fn_generics();
                let pname = if mentions_word(&c.text, &param.1)
                    || out.iter().any(|l| mentions_word(l, &param.1))
                {
                    param.1.clone()
                } else {
                    format!("_{}", param.1)
                };
                let _ = writeln!(
                    s,
                    "/// `{shown}({}) = {def}`.\n#[inline]\n#[allow(clippy::approx_constant)]\nfn {id}{g}({pname}: {ty}) -> {ty} {{ {} {} }}",
                    uf.param,
                    out.join(" "),
                    c.text
                );
            }
        }
        Ok(s)
    }

    fn helper_fns(&self) -> String {
        let (g, ty) = (self.fn_generics(), self.ty());
        let (zero, one) = (self.zero().text, self.one().text);
        let gn = if self.generic() {
            "<T: Real, const N: usize>"
        } else {
            "<const N: usize>"
        };
        let mut s = String::new();
        for h in &self.helpers {
            let text = match *h {
                "at" => format!(
                    "/// `b[idx]` in a row-major tensor with extents `ext`, zero outside (zero padding).\n#[inline(always)]\nfn at{gn}(b: &[{ty}], idx: [i64; N], ext: [i64; N]) -> {ty} {{ let mut off = 0i64; for (&i, &e) in idx.iter().zip(ext.iter()) {{ if i < 0 || i >= e {{ return {zero}; }} off = off * e + i; }} b[off as usize] }}"
                ),
                "split_sum" => "/// Runs `f(first, count)` for contiguous runs of `0..n`, one run per thread on up to `threads` scoped threads, and returns the results in order. With one run, on the calling thread.\nfn split_sum<R: ::core::marker::Send, F: Fn(usize, usize) -> R + ::core::marker::Sync>(n: usize, threads: usize, f: F) -> ::std::vec::Vec<R> { let parts = threads.clamp(1, n.max(1)); let per = n.div_ceil(parts).max(1); if parts == 1 { return ::std::vec![f(0, n)]; } let f = &f; ::std::thread::scope(|s| { let handles: ::std::vec::Vec<_> = (per..n).step_by(per).map(|first| { let count = per.min(n - first); s.spawn(move || f(first, count)) }).collect(); let mut out = ::std::vec![f(0, per.min(n))]; for h in handles { out.push(h.join().unwrap_or_else(|e| ::std::panic::resume_unwind(e))); } out }) }".into(),
                "split_rows" => "/// Runs `f(first, count, part)` for contiguous runs of rows of `buf` (`rows` rows of equal length), one run per thread on up to `threads` scoped threads; `part` holds rows `first .. first + count`. With one run, on the calling thread.\nfn split_rows<E: ::core::marker::Send, F: Fn(usize, usize, &mut [E]) + ::core::marker::Sync>(buf: &mut [E], rows: usize, threads: usize, f: F) { let parts = threads.clamp(1, rows.max(1)); if parts == 1 { f(0, rows, buf); return; } let row_len = buf.len() / rows; let per = rows.div_ceil(parts); let f = &f; ::std::thread::scope(|s| { let mut rest = buf; let mut first = 0; while first < rows { let count = per.min(rows - first); let (part, tail) = ::core::mem::take(&mut rest).split_at_mut(count * row_len); rest = tail; if first + count < rows { s.spawn(move || f(first, count, part)); } else { f(first, count, part); } first += count; } }); }".into(),
                "split_rows2" => "/// Runs `f(first, count, part, aux_part)` for contiguous runs of rows of `buf` and of `aux` (each `rows` rows of equal length), one run per thread on up to `threads` scoped threads; the parts hold rows `first .. first + count`. With one run, on the calling thread.\nfn split_rows2<E: ::core::marker::Send, A: ::core::marker::Send, F: Fn(usize, usize, &mut [E], &mut [A]) + ::core::marker::Sync>(buf: &mut [E], aux: &mut [A], rows: usize, threads: usize, f: F) { let parts = threads.clamp(1, rows.max(1)); if parts == 1 { f(0, rows, buf, aux); return; } let (row_len, aux_len) = (buf.len() / rows, aux.len() / rows); let per = rows.div_ceil(parts); let f = &f; ::std::thread::scope(|s| { let (mut rest, mut aux_rest) = (buf, aux); let mut first = 0; while first < rows { let count = per.min(rows - first); let (part, tail) = ::core::mem::take(&mut rest).split_at_mut(count * row_len); let (aux_part, aux_tail) = ::core::mem::take(&mut aux_rest).split_at_mut(count * aux_len); rest = tail; aux_rest = aux_tail; if first + count < rows { s.spawn(move || f(first, count, part, aux_part)); } else { f(first, count, part, aux_part); } first += count; } }); }".into(),
                "run_tasks" => "/// A leaf gradient's code, given its share of the threads.\ntype GradTask<'a> = ::std::boxed::Box<dyn FnOnce(usize) + ::core::marker::Send + 'a>;\n/// Runs the requested leaf gradients' code, `(requested, cost, code)`. With two or more requested and `threads >= 2`, side by side on `workers = min(threads, requested)` scoped threads, each task with its worker's share of `threads` (`threads / workers`, one more for the first `threads % workers` workers), when dealing the tasks out largest first, each to the least loaded worker, leaves no worker more than 1.2 times an even share of the cost; otherwise one after another, each with all `threads`.\nfn run_tasks<'a>(threads: usize, tasks: ::std::vec::Vec<(bool, f64, GradTask<'a>)>) { let mut tasks: ::std::vec::Vec<(f64, GradTask<'a>)> = tasks.into_iter().filter(|t| t.0).map(|t| (t.1, t.2)).collect(); let workers = threads.min(tasks.len()); if workers >= 2 { tasks.sort_by(|a, b| b.0.total_cmp(&a.0)); let total: f64 = tasks.iter().map(|t| t.0).sum(); let mut load = ::std::vec![0.0f64; workers]; let mut lane_of = ::std::vec::Vec::with_capacity(tasks.len()); for t in &tasks { let mut w = 0; for k in 1..workers { if load[k] < load[w] { w = k; } } load[w] += t.0; lane_of.push(w); } let most = load.iter().fold(0.0f64, |m, &l| m.max(l)); if most * workers as f64 <= 1.2 * total { let mut lanes: ::std::vec::Vec<::std::vec::Vec<GradTask<'a>>> = (0..workers).map(|_| ::std::vec::Vec::new()).collect(); for ((_, run), w) in tasks.into_iter().zip(lane_of) { lanes[w].push(run); } let share = |w: usize| threads / workers + usize::from(w < threads % workers); ::std::thread::scope(|s| { let mut lanes = lanes.into_iter().enumerate(); let mine = lanes.next().map(|(_, l)| l).unwrap_or_default(); let handles: ::std::vec::Vec<_> = lanes.map(|(w, lane)| { let n = share(w); s.spawn(move || { for run in lane { run(n); } }) }).collect(); for run in mine { run(share(0)); } for h in handles { h.join().unwrap_or_else(|e| ::std::panic::resume_unwind(e)); } }); return; } } for (_, run) in tasks { run(threads); } }".into(),
                "dim" => "/// The number of points of a range with `e = hi - lo + 1` (0 when empty).\n#[inline(always)]\nfn dim(e: i64) -> usize { if e > 0 { e as usize } else { 0 } }".into(),
                "check_len" => "/// Panics unless a slice has the length its index ranges give it.\n#[track_caller]\nfn check_len(what: &str, actual: usize, expected: usize) { if actual != expected { panic!(\"sharegrad: {what} has length {actual}, expected {expected}\"); } }".into(),
                "tensor_len" => "/// The number of elements of a tensor: the product of its extents.\n#[track_caller]\nfn tensor_len(extents: &[usize]) -> usize { let mut n = 1usize; for &e in extents { match n.checked_mul(e) { Some(p) => n = p, None => panic!(\"sharegrad: the sizes give a tensor more elements than usize holds (extents {extents:?})\") } } n }".into(),
                "size_i64" => "/// A size as the `i64` the index arithmetic uses.\n#[track_caller]\nfn size_i64(name: &str, size: usize) -> i64 { match i64::try_from(size) { Ok(s) => s, Err(_) => panic!(\"sharegrad: size `{name}` = {size} does not fit in i64\") } }".into(),
                "check_extent" => "/// Panics when the sizes give an index range fewer than zero points.\n#[track_caller]\nfn check_extent(what: &str, extent: i64) { if extent < 0 { panic!(\"sharegrad: the sizes give {what} a negative extent {extent}\"); } }".into(),
                "check_stride" => "/// Panics unless a stride or a divisor that the sizes give is positive.\n#[track_caller]\nfn check_stride(what: &str, value: i64) { if value <= 0 { panic!(\"sharegrad: the sizes make {what} {value}; it must be positive\"); } }".into(),
                "sigma" => format!("/// The logistic function, in its numerically stable form.\n#[inline]\nfn sigma{g}(x: {ty}) -> {ty} {{ if x >= {zero} {{ {one} / ({one} + (-x).exp()) }} else {{ let e = x.exp(); e / ({one} + e) }} }}"),
                "softplus" => format!("/// `log(1 + e^x)`, in its numerically stable form.\n#[inline]\nfn softplus{g}(x: {ty}) -> {ty} {{ (if x > {zero} {{ x }} else {{ {zero} }}) + (-x.abs()).exp().ln_1p() }}"),
                "relu" => format!("/// `max(x, 0)`; `relu'(0) = 0`.\n#[inline]\nfn relu{g}(x: {ty}) -> {ty} {{ if x <= {zero} {{ {zero} }} else {{ x }} }}"),
                "max2" => format!("/// The larger of two (the first on ties).\n#[inline]\nfn max2{g}(a: {ty}, b: {ty}) -> {ty} {{ if b > a {{ b }} else {{ a }} }}"),
                "sq" => format!("/// `x^2`.\n#[inline(always)]\nfn sq{g}(x: {ty}) -> {ty} {{ x * x }}"),
                "rows_mut" => "/// Disjoint rows `buf[start .. start + len]`, one per start (the rows do not overlap).\n#[track_caller]\nfn rows_mut<'b, E, const K: usize>(buf: &'b mut [E], starts: [usize; K], len: usize) -> [&'b mut [E]; K] { let mut order = [0usize; K]; for (k, o) in order.iter_mut().enumerate() { *o = k; } order.sort_unstable_by_key(|&k| starts[k]); let mut out: [::core::option::Option<&'b mut [E]>; K] = [const { ::core::option::Option::None }; K]; let mut rest = buf; let mut at = 0usize; for k in order { let gap = starts[k].checked_sub(at).expect(\"sharegrad: rows_mut: rows overlap\"); let (_, tail) = ::core::mem::take(&mut rest).split_at_mut(gap); let (row, tail) = tail.split_at_mut(len); out[k] = ::core::option::Option::Some(row); rest = tail; at = starts[k] + len; } out.map(|r| r.expect(\"sharegrad: rows_mut: every row is cut\")) }".into(),
                "floor_div" => "/// `floor(a / b)` for `b > 0`.\n#[inline(always)]\nfn floor_div(a: i64, b: i64) -> i64 { a.div_euclid(b) }".into(),
                "ceil_div" => "/// `ceil(a / b)` for `b > 0`.\n#[inline(always)]\nfn ceil_div(a: i64, b: i64) -> i64 { -((-a).div_euclid(b)) }".into(),
                _ => String::new(),
            };
            s.push_str(&text);
            s.push('\n');
        }
        s
    }
}

fn real_trait(runtime: Option<&str>) -> String {
    let runtime = runtime.map_or(String::new(), |r| format!(" + {r}::Winograd"));
    let mut s = String::from(
        "/// Element types the kernels run on: implemented for `f32` and `f64`.\npub trait Real: ::core::marker::Copy RUNTIME + ::core::fmt::Debug + ::core::cmp::PartialOrd + ::core::ops::Add<Output = Self> + ::core::ops::Sub<Output = Self> + ::core::ops::Mul<Output = Self> + ::core::ops::Div<Output = Self> + ::core::ops::Neg<Output = Self> + ::core::ops::AddAssign + ::core::marker::Send + ::core::marker::Sync {\n\
         /// 0.\nfn zero() -> Self;\n/// 1.\nfn one() -> Self;\n/// The nearest value.\nfn from_f64(x: f64) -> Self;\n/// `e^x`.\nfn exp(self) -> Self;\n/// Natural logarithm.\nfn ln(self) -> Self;\n/// `ln(1 + x)`.\nfn ln_1p(self) -> Self;\n/// Hyperbolic tangent.\nfn tanh(self) -> Self;\n/// Square root.\nfn sqrt(self) -> Self;\n/// Absolute value.\nfn abs(self) -> Self;\n/// Integer power.\nfn powi(self, n: i32) -> Self;\n/// Real power.\nfn powf(self, e: Self) -> Self;\n}\n",
    );
    s = s.replace(" RUNTIME", &runtime);
    for (t, from) in [("f32", "x as f32"), ("f64", "x")] {
        let _ = writeln!(
            s,
            "impl Real for {t} {{ #[inline(always)] fn zero() -> Self {{ 0.0 }} #[inline(always)] fn one() -> Self {{ 1.0 }} #[inline(always)] fn from_f64(x: f64) -> Self {{ {from} }} #[inline(always)] fn exp(self) -> Self {{ {t}::exp(self) }} #[inline(always)] fn ln(self) -> Self {{ {t}::ln(self) }} #[inline(always)] fn ln_1p(self) -> Self {{ {t}::ln_1p(self) }} #[inline(always)] fn tanh(self) -> Self {{ {t}::tanh(self) }} #[inline(always)] fn sqrt(self) -> Self {{ {t}::sqrt(self) }} #[inline(always)] fn abs(self) -> Self {{ {t}::abs(self) }} #[inline(always)] fn powi(self, n: i32) -> Self {{ {t}::powi(self, n) }} #[inline(always)] fn powf(self, e: Self) -> Self {{ {t}::powf(self, e) }} }}"
        );
    }
    s
}

/// Tensors whose adjoint `e` reads.
fn adjoint_reads(e: &Expr, out: &mut BTreeSet<usize>) {
    visit_expr(e, &mut |x| {
        if let Expr::Read(r) = x {
            if r.slot == Slot::Adjoint {
                out.insert(r.tensor);
            }
        }
    });
}

/// [`Expr::visit`], as a function.
fn visit_expr(e: &Expr, f: &mut dyn FnMut(&Expr)) {
    e.visit(f)
}

/// The divisors in `p` that are not numbers (`s` in `\lceil L/s \rceil`),
/// added to `out` once each.
fn range_divisors(p: &Poly, out: &mut Vec<Poly>) {
    for (m, _) in p.terms() {
        for a in m {
            match a {
                Atom::FloorDiv(x, q) | Atom::CeilDiv(x, q) | Atom::ExactDiv(x, q) => {
                    range_divisors(x, out);
                    range_divisors(q, out);
                    if q.as_const().is_none() && !out.contains(q) {
                        out.push((**q).clone());
                    }
                }
                Atom::Max(xs) | Atom::Min(xs) => xs.iter().for_each(|x| range_divisors(x, out)),
                Atom::Size(_) | Atom::Var(_) => {}
            }
        }
    }
}

/// Every index variable name the generated code may bind.
fn collect_var_names(m: &Model, out: &mut BTreeSet<String>) {
    let from_expr = |e: &Expr, out: &mut BTreeSet<String>| {
        visit_expr(e, &mut |x| match x {
            Expr::Reduce { var, .. } => {
                out.insert(var.clone());
            }
            Expr::Indicator(p) => {
                if let Pred::FirstArgMax { binders, .. } = &**p {
                    out.extend(binders.iter().map(|b| b.0.clone()));
                }
            }
            Expr::Index(p) => out.extend(p.vars()),
            Expr::Read(r) => out.extend(r.index.iter().flat_map(|p| p.vars())),
            _ => {}
        });
    };
    for st in &m.program.statements {
        out.extend(st.vars.iter().cloned());
        from_expr(&st.rhs, out);
    }
    for a in &m.gradient.adjoints {
        out.extend(a.vars.iter().cloned());
        for c in &a.terms {
            out.extend(c.gather.sums.iter().map(|s| s.var.clone()));
            from_expr(&c.gather.body, out);
        }
    }
}

/// A loop level: variable, range, conditions tested inside it.
type Level = (String, Range, Vec<String>);

/// A read's identity: the interior marks reads by it.
type ReadKey = (usize, Slot, Vec<Poly>);

fn read_key(r: &Read) -> ReadKey {
    (r.tensor, r.slot, r.index.clone())
}

/// Which level to split and its interior.
#[derive(Clone, Debug)]
struct Split {
    level: usize,
    interior: Interior,
}

/// The part of a loop's range where every covered read is in range.
#[derive(Clone, Debug, Default)]
struct Interior {
    lo: Poly,
    hi: Poly,
    /// Each must be `>= 0` (they depend only on enclosing variables).
    guards: Vec<Poly>,
    covered: BTreeSet<ReadKey>,
    overrides: BTreeMap<String, Range>,
}

/// Bounds on the split variable and tests on enclosing ones.
#[derive(Clone, Debug, Default)]
struct Constraints {
    lowers: Vec<Poly>,
    uppers: Vec<Poly>,
    guards: Vec<Poly>,
}

impl Constraints {
    fn extend(&mut self, o: Constraints) {
        self.lowers.extend(o.lowers);
        self.uppers.extend(o.uppers);
        self.guards.extend(o.guards);
    }
    /// `c v + r >= 0` for a constant `c`.
    fn at_least_zero(&mut self, c: i64, r: &Poly) {
        let q = Poly::int(c.abs());
        if c == 0 {
            self.guards.push(r.clone());
        } else if c > 0 {
            // v >= -r / c
            self.lowers.push(r.neg().ceil_div(&q));
        } else {
            // v <= r / |c|
            self.uppers.push(r.floor_div(&q));
        }
    }
}

/// Moves long sums innermost (stable order otherwise), when no sum's range
/// depends on another's, so the order is free.
fn long_sums_last(sums: &mut [crate::ir::SumVar]) {
    let independent = sums.iter().all(|s| {
        sums.iter()
            .all(|t| !s.range.lo.mentions(&t.var) && !s.range.hi.mentions(&t.var))
    });
    if independent {
        sums.sort_by_key(|s| is_long(&s.range));
    }
}

/// `((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))`: eight
/// lanes summed pairwise.
fn lane_sum(lanes: &str) -> String {
    format!(
        "(({lanes}[0] + {lanes}[1]) + ({lanes}[2] + {lanes}[3])) + (({lanes}[4] + {lanes}[5]) + ({lanes}[6] + {lanes}[7]))"
    )
}

/// A loop is long when its extent grows with the sizes and is not a
/// boundary-clipped range (no max/min in it).
fn is_long(r: &Range) -> bool {
    let e = r.extent();
    e.as_const().is_none()
        && !e
            .terms()
            .any(|(m, _)| m.iter().any(|a| matches!(a, Atom::Max(_) | Atom::Min(_))))
}

/// The bound `b` (a lower bound when `lower`) of an inner range with the
/// operands that depend on `v` made to lose: adds the constraints on `v` and
/// returns the bound that holds in the interior.
fn winner(
    b: &Poly,
    v: &str,
    lower: bool,
    binders: &BTreeSet<String>,
    cs: &mut Constraints,
) -> Option<Poly> {
    if !b.mentions(v) {
        return Some(b.clone());
    }
    let ops: Vec<Poly> = match b.terms().collect::<Vec<_>>().as_slice() {
        [(m, 1)] if m.len() == 1 => match (&m[0], lower) {
            (Atom::Max(ps), true) | (Atom::Min(ps), false) => ps.clone(),
            _ => return None,
        },
        _ => return None,
    };
    let (free, dep): (Vec<Poly>, Vec<Poly>) = ops.into_iter().partition(|p| !p.mentions(v));
    if free.is_empty() {
        return None;
    }
    let mut w = free[0].clone();
    for f in &free[1..] {
        w = if lower { w.max_of(f) } else { w.min_of(f) };
    }
    if w.vars().iter().any(|x| binders.contains(x)) {
        return None;
    }
    for d in dep {
        if d.vars().iter().any(|x| x != v && binders.contains(x)) {
            return None;
        }
        let (c, r) = d.linear_in(v)?;
        let c = c.as_const()?;
        if r.mentions(v) {
            return None;
        }
        // lower: d <= w, i.e. w - r - c v >= 0; upper: d >= w.
        if lower {
            cs.at_least_zero(-c, &w.sub(&r));
        } else {
            cs.at_least_zero(c, &r.sub(&w));
        }
    }
    Some(w)
}

/// Constraints on `v` (and enclosing variables) under which every index of
/// `rd` is within its dimension for every value of the binders in `scope`.
#[allow(clippy::too_many_arguments)]
fn read_constraints(
    dims: &[Range],
    rd: &Read,
    scope: &[(String, Range)],
    v: &str,
    overrides: &BTreeMap<String, Range>,
    bad: &BTreeSet<String>,
    binders: &BTreeSet<String>,
    out: &mut Constraints,
) -> bool {
    for (ix, d) in rd.index.iter().zip(dims) {
        let (mut pmin, mut pmax) = (ix.clone(), ix.clone());
        for (u, r) in scope.iter().rev() {
            if !pmin.mentions(u) && !pmax.mentions(u) {
                continue;
            }
            if bad.contains(u) {
                return false;
            }
            let r = overrides.get(u).unwrap_or(r);
            let step = |p: &Poly, want_min: bool| -> Option<Poly> {
                let (c, rest) = p.linear_in(u)?;
                let c = c.as_const()?;
                let pick = if (c > 0) == want_min { &r.lo } else { &r.hi };
                Some(rest.add(&pick.scale(c)))
            };
            match (step(&pmin, true), step(&pmax, false)) {
                (Some(a), Some(b)) => {
                    pmin = a;
                    pmax = b;
                }
                _ => return false,
            }
        }
        if pmin
            .vars()
            .iter()
            .chain(pmax.vars().iter())
            .any(|x| x != v && binders.contains(x))
        {
            return false;
        }
        let (Some((c1, r1)), Some((c2, r2))) = (pmin.linear_in(v), pmax.linear_in(v)) else {
            return false;
        };
        let (Some(c1), Some(c2)) = (c1.as_const(), c2.as_const()) else {
            return false;
        };
        if r1.mentions(v) || r2.mentions(v) {
            return false;
        }
        // c1 v + r1 - lo >= 0 and hi - c2 v - r2 >= 0.
        out.at_least_zero(c1, &r1.sub(&d.lo));
        out.at_least_zero(-c2, &d.hi.sub(&r2));
    }
    true
}

/// Every read in `e` with the binders in scope; counts the ranges each
/// binder is bound to.
fn scoped_reads(
    e: &Expr,
    scope: &mut Vec<(String, Range)>,
    out: &mut Vec<(Vec<(String, Range)>, Read)>,
    binds: &mut BTreeMap<String, BTreeSet<String>>,
) {
    match e {
        Expr::Num(_) | Expr::Size(_) | Expr::Index(_) | Expr::Param(_) => {}
        Expr::Read(r) => out.push((scope.clone(), r.clone())),
        Expr::Add(xs) | Expr::Mul(xs) | Expr::Call(_, xs) => {
            xs.iter().for_each(|x| scoped_reads(x, scope, out, binds))
        }
        Expr::Neg(x) | Expr::Pow(x, _) => scoped_reads(x, scope, out, binds),
        Expr::Div(a, b) => {
            scoped_reads(a, scope, out, binds);
            scoped_reads(b, scope, out, binds);
        }
        Expr::Reduce {
            var, range, body, ..
        } => {
            binds
                .entry(var.clone())
                .or_default()
                .insert(format!("{range:?}"));
            scope.push((var.clone(), range.clone()));
            scoped_reads(body, scope, out, binds);
            scope.pop();
        }
        Expr::Indicator(p) => match &**p {
            Pred::Gt(a, b) | Pred::Ge(a, b) => {
                scoped_reads(a, scope, out, binds);
                scoped_reads(b, scope, out, binds);
            }
            Pred::FirstArgMax { binders, body, .. } => {
                for (n, r) in binders {
                    binds.entry(n.clone()).or_default().insert(format!("{r:?}"));
                    scope.push((n.clone(), r.clone()));
                }
                scoped_reads(body, scope, out, binds);
                scope.truncate(scope.len() - binders.len());
            }
        },
    }
}

fn unreachable_sum() -> Code {
    // Sums are handled before.
    Code::atom("0")
}

/// The conjunction of `conds` (each a comparison or a conjunction of
/// them), each comparison once: two conditions that imply the same range
/// would otherwise repeat a test, which clippy reports as a boolean
/// expression that is not minimal.
fn all_of<S: AsRef<str>>(conds: &[S]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for c in conds {
        for t in c.as_ref().split(" && ") {
            if !seen.contains(&t) {
                seen.push(t);
            }
        }
    }
    seen.join(" && ")
}

/// Whether range inference keeps the index `ix` of a statement's read
/// inside its dimension: the statement's ranges were inferred (`valid`),
/// `ix` is affine in exactly one of its left-hand variables `lhs`, and
/// every other variable of `ix` ranges (in `scope`) over numbers and sizes
/// only. Those are the indices the inference bounds its variable by, for
/// every value of the others; `x_{i+j+a}` is not one of them.
fn inferred_inside(valid: bool, lhs: &[String], scope: &[(String, Range)], ix: &Poly) -> bool {
    let moving: Vec<&String> = lhs.iter().filter(|v| ix.mentions(v)).collect();
    let [v] = moving.as_slice() else {
        return false;
    };
    valid
        && ix.linear_in(v).is_some()
        && ix.vars().iter().filter(|u| *u != *v).all(|u| {
            scope
                .iter()
                .find(|(name, _)| name == u)
                .is_some_and(|(_, r)| r.lo.vars().is_empty() && r.hi.vars().is_empty())
        })
}

/// True when `p >= 0` follows from the ranges of the enclosing loops
/// (outermost first): substitutes each variable's extreme, innermost first,
/// trying each operand of a `max` (or of a negated `min`) as its lower
/// bound.
fn provably_nonneg(p: &Poly, enclosing: &[(String, Range)]) -> bool {
    let mut budget = 256;
    nonneg_rec(p, enclosing, &mut budget)
}

fn nonneg_rec(p: &Poly, enclosing: &[(String, Range)], budget: &mut usize) -> bool {
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    for c in lower_by_atoms(p) {
        if nonneg_in_sizes(&c) {
            return true;
        }
        // The innermost enclosing variable it mentions.
        let Some(k) = enclosing.iter().rposition(|(u, _)| c.mentions(u)) else {
            continue;
        };
        let (u, r) = &enclosing[k];
        let Some((coef, rest)) = c.linear_in(u) else {
            continue;
        };
        let Some(coef) = coef.as_const() else {
            continue;
        };
        let pick = if coef > 0 { &r.lo } else { &r.hi };
        if nonneg_rec(&rest.add(&pick.scale(coef)), &enclosing[..k], budget) {
            return true;
        }
    }
    false
}

/// Sizes are non-negative: a polynomial in them with non-negative
/// coefficients is too.
fn nonneg_in_sizes(p: &Poly) -> bool {
    p.terms()
        .all(|(m, c)| c >= 0 && m.iter().all(|a| matches!(a, Atom::Size(_))))
}

/// Lower bounds of `p`: each `+max(..)` or `-min(..)` monomial replaced by
/// one of its operands (all combinations, at most 64).
fn lower_by_atoms(p: &Poly) -> Vec<Poly> {
    let mut out = vec![Poly::zero()];
    for (m, c) in p.terms() {
        let choices: Vec<Poly> = match (m.as_slice(), c) {
            ([Atom::Max(ps)], c) if c > 0 => ps.iter().map(|q| q.scale(c)).collect(),
            ([Atom::Min(ps)], c) if c < 0 => ps.iter().map(|q| q.scale(c)).collect(),
            _ => {
                let mut t = Poly::int(c);
                for a in m {
                    t = t.mul(&Poly::atom(a.clone()));
                }
                vec![t]
            }
        };
        let mut next = Vec::new();
        for o in &out {
            for ch in &choices {
                if next.len() < 64 {
                    next.push(o.add(ch));
                }
            }
        }
        out = next;
    }
    out
}
