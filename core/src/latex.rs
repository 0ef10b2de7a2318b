//! Derivation documents: the seed's blog post, written by the machine for
//! any model and carried to the end.
//!
//! [`document`] reads only the IR ([`Model`]): the program's tensors and
//! statements, the gradient's occurrences and the contributions in scatter
//! and gather form. Nothing is templated from the input text. The document
//! has these parts, in order:
//!
//! 1. the model: tensors with their ranges, user functions, statements;
//! 2. for every leaf with a gradient, a table of its occurrences: the
//!    statement, the read, the index points that use one element, how many;
//! 3. the chain rule backwards through the statements, with named adjoints
//!    `\bar{x}_j = \partial E / \partial x_j`, one step per line;
//! 4. the shared-weight step: a leaf's gradient sums over every occurrence
//!    and every index point, because the paths merge by summation;
//! 5. Kronecker-delta elimination, with the boundary conditions written
//!    out, ending in the gather form;
//! 6. the results, boxed, one per leaf;
//! 7. for small constant kernels, each occurrence written out separately;
//! 8. when a leaf element is read at a constant index (the seed's `w_0`)
//!    and there is one output, the seed's single-output-node view, carried
//!    to the completed formula.
//!
//! ```
//! let model = sharegrad_core::compile(
//!     "input y_j, 0 \\le j < L\nparam w_a, 0 \\le a < 3\nx_i = \\sum_a w_a y_{i+a}\n",
//! ).expect("a valid model");
//! let tex = sharegrad_core::latex::document(&model, &Default::default());
//! assert!(tex.starts_with("\\documentclass"));
//! assert!(tex.contains("\\boxed"));
//! ```

mod layout;
mod math;

pub use layout::{Block, Inline, Line};
pub use math::Notation;

use crate::diff;
use crate::ir::*;
use crate::poly::Poly;
use crate::resolve::visit_reads;
use crate::simplify::simplify;
use crate::Model;
use layout::Flavour;
use std::collections::{BTreeMap, BTreeSet};

/// What [`document`] produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// A complete LaTeX document (`article`, `amsmath`, `amssymb`,
    /// `geometry`) that `pdflatex` compiles.
    #[default]
    Standalone,
    /// The body alone, for `\input` into a document that loads `amsmath`;
    /// also what generated code embeds as `DERIVATION`.
    Fragment,
    /// Markdown with `$$` blocks (`aligned`, never `align*`) that KaTeX and
    /// MathJax render.
    Markdown,
}

/// Options for [`document`].
#[derive(Clone, Debug, Default)]
pub struct LatexOptions {
    /// Standalone, fragment or Markdown.
    pub mode: Mode,
    /// The model's name, shown in the title (`seed`, `conv1d`).
    pub title: Option<String>,
}

/// The derivation document for a compiled model.
pub fn document(model: &Model, opts: &LatexOptions) -> String {
    let blocks = Derivation::new(model).blocks();
    let title = match &opts.title {
        Some(t) => format!("Backpropagation with shared weights: {t}"),
        None => "Backpropagation with shared weights".to_string(),
    };
    match opts.mode {
        Mode::Standalone => format!(
            "\\documentclass[11pt]{{article}}\n\\usepackage[a4paper,margin=2.2cm]{{geometry}}\n\\usepackage{{amsmath}}\n\\usepackage{{amssymb}}\n\\allowdisplaybreaks\n\\setlength{{\\parindent}}{{0pt}}\n\\setlength{{\\parskip}}{{0.6em}}\n\\begin{{document}}\n\\begin{{center}}\n{{\\Large\\bfseries {}}}\\\\[0.4em]\n{{\\small derived by sharegrad from the model's equations}}\n\\end{{center}}\n\n{}\\end{{document}}\n",
            layout::escape_latex(&title),
            layout::render(&blocks, Flavour::Latex)
        ),
        Mode::Fragment => layout::render(&blocks, Flavour::Latex),
        Mode::Markdown => format!("# {title}\n\n{}", layout::render(&blocks, Flavour::Markdown)),
    }
}

/// The derivation as a LaTeX fragment (the body of [`document`]); what
/// generated code embeds as `DERIVATION`.
pub fn derivation(model: &Model) -> String {
    document(
        model,
        &LatexOptions {
            mode: Mode::Fragment,
            title: None,
        },
    )
}

/// A value expression in LaTeX, variables in canonical order.
pub fn expr_latex(p: &Program, e: &Expr) -> String {
    math::expr(p, e, &Notation::default())
}

/// An index polynomial in LaTeX (`i+a-1`, `\lfloor (L-2)/2 \rfloor`).
pub fn poly_latex(q: &Poly) -> String {
    math::poly(q, &Notation::default())
}

fn t(s: impl Into<String>) -> Inline {
    Inline::Text(s.into())
}
fn m(s: impl Into<String>) -> Inline {
    Inline::Math(s.into())
}

/// `\frac{\partial a}{\partial b}`.
fn dfrac(a: &str, b: &str) -> String {
    format!("\\frac{{\\partial {a}}}{{\\partial {b}}}")
}

/// Joins math pieces as ", " separated inline math.
fn math_list(items: &[String], sep: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    for (k, s) in items.iter().enumerate() {
        if k > 0 {
            out.push(t(sep));
        }
        out.push(m(s.clone()));
    }
    out
}

/// Reduction variables of an expression, outermost first.
fn binders(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Reduce { var, body, .. } => {
            if !out.contains(var) {
                out.push(var.clone());
            }
            binders(body, out);
        }
        Expr::Add(xs) | Expr::Mul(xs) | Expr::Call(_, xs) => {
            xs.iter().for_each(|x| binders(x, out))
        }
        Expr::Neg(a) | Expr::Pow(a, _) => binders(a, out),
        Expr::Div(a, b) => {
            binders(a, out);
            binders(b, out);
        }
        Expr::Indicator(p) => {
            if let Pred::FirstArgMax { binders: bs, .. } = &**p {
                for (v, _) in bs {
                    if !out.contains(v) {
                        out.push(v.clone());
                    }
                }
            }
        }
        _ => {}
    }
}

fn contains_max(e: &Expr) -> bool {
    match e {
        Expr::Reduce {
            op: ReduceOp::Max, ..
        }
        | Expr::Call(Func::Builtin(Builtin::Max), _) => true,
        Expr::Reduce { body, .. } => contains_max(body),
        Expr::Add(xs) | Expr::Mul(xs) | Expr::Call(_, xs) => xs.iter().any(contains_max),
        Expr::Neg(a) | Expr::Pow(a, _) => contains_max(a),
        Expr::Div(a, b) => contains_max(a) || contains_max(b),
        _ => false,
    }
}

fn has_reduce(e: &Expr) -> bool {
    let mut b = Vec::new();
    binders(e, &mut b);
    !b.is_empty()
}

/// Renames a bound reduction variable (and its uses) throughout `e`.
fn rename_binder(e: &Expr, from: &str, to: &str) -> Expr {
    match e {
        Expr::Reduce {
            op,
            var,
            range,
            body,
        } => {
            let body = rename_binder(body, from, to);
            let (var, body) = if var == from {
                (to.to_string(), diff::rename_var(&body, from, to))
            } else {
                (var.clone(), body)
            };
            Expr::Reduce {
                op: *op,
                var,
                range: range.clone(),
                body: Box::new(body),
            }
        }
        Expr::Indicator(_) => e.clone(),
        _ => crate::simplify::map_children(e, &|c| rename_binder(c, from, to)),
    }
}

/// Substitutes several variables at once (`i -> j+a-1`, `a -> ...`), safe
/// when the new values mention the old names.
fn substitute_all(e: &Expr, map: &[(String, Poly)]) -> Expr {
    let mut out = e.clone();
    for (k, (v, _)) in map.iter().enumerate() {
        out = diff::rename_var(&out, v, &format!("#{k}"));
    }
    for (k, (_, by)) in map.iter().enumerate() {
        out = diff::substitute(&out, &format!("#{k}"), by);
    }
    out
}

fn substitute_poly_all(q: &Poly, map: &[(String, Poly)]) -> Poly {
    let mut out = q.clone();
    for (k, (v, _)) in map.iter().enumerate() {
        out = out.substitute(v, &Poly::var(&format!("#{k}")));
    }
    for (k, (_, by)) in map.iter().enumerate() {
        out = out.substitute(&format!("#{k}"), by);
    }
    out
}

/// Replaces a user function's parameter by an expression.
fn substitute_param(e: &Expr, by: &Expr) -> Expr {
    match e {
        Expr::Param(_) => by.clone(),
        Expr::Add(xs) => Expr::Add(xs.iter().map(|x| substitute_param(x, by)).collect()),
        Expr::Mul(xs) => Expr::Mul(xs.iter().map(|x| substitute_param(x, by)).collect()),
        Expr::Call(f, xs) => Expr::Call(
            f.clone(),
            xs.iter().map(|x| substitute_param(x, by)).collect(),
        ),
        Expr::Neg(a) => Expr::Neg(Box::new(substitute_param(a, by))),
        Expr::Pow(a, x) => Expr::Pow(Box::new(substitute_param(a, by)), *x),
        Expr::Div(a, b) => Expr::Div(
            Box::new(substitute_param(a, by)),
            Box::new(substitute_param(b, by)),
        ),
        Expr::Indicator(p) => Expr::Indicator(Box::new(match &**p {
            Pred::Gt(a, b) => Pred::Gt(substitute_param(a, by), substitute_param(b, by)),
            Pred::Ge(a, b) => Pred::Ge(substitute_param(a, by), substitute_param(b, by)),
            other => other.clone(),
        })),
        other => other.clone(),
    }
}

/// A factor of a term in the single-output view.
#[derive(Clone, Debug)]
enum Factor {
    /// Already rendered (`\frac{\partial E}{\partial y^2_j}`, an Iverson
    /// bracket on the output node).
    Tex(String),
    /// A local partial derivative.
    Expr(Expr),
}

/// One term of `\partial E / \partial w_c` while it is being expanded:
/// sums (outermost first), factors each placed inside the first `depth`
/// sums, and at most one derivative still to expand.
#[derive(Clone, Debug)]
struct Term {
    sums: Vec<(String, Range)>,
    factors: Vec<(usize, Factor)>,
    pending: Option<(TensorId, Vec<Poly>)>,
}

/// The derivation of one model, built block by block.
struct Derivation<'a> {
    p: &'a Program,
    g: &'a Gradient,
    /// The error's symbol, `E`.
    loss: String,
    /// Kronecker deltas as Iverson brackets (a tensor is named `\delta`).
    iverson: bool,
    /// Each statement's reduction variables, outermost first, found once:
    /// every contribution of a statement's reads needs them, and walking
    /// the right-hand side per read is quadratic in its length.
    stmt_binders: Vec<Vec<String>>,
    /// For each occurrence, the adjoint and term built from it (one lookup
    /// per occurrence; a search over every term would be quadratic).
    occ_terms: Vec<Option<(usize, usize)>>,
    out: Vec<Block>,
}

impl<'a> Derivation<'a> {
    fn new(model: &'a Model) -> Self {
        let p = &model.program;
        let scalar_loss = match p.outputs.as_slice() {
            [o] if p.tensors[*o].dims.is_empty() => Some(math::tensor_name(&p.tensors[*o])),
            _ => None,
        };
        let loss = scalar_loss.unwrap_or_else(|| {
            if p.tensors.iter().any(|t| t.letter == "E" && !t.greek) {
                "\\mathcal{E}".to_string()
            } else {
                "E".to_string()
            }
        });
        let iverson = p.tensors.iter().any(|t| t.greek && t.letter == "delta");
        let stmt_binders = p
            .statements
            .iter()
            .map(|s| {
                let mut b = Vec::new();
                binders(&s.rhs, &mut b);
                b
            })
            .collect();
        let g = &model.gradient;
        let mut occ_terms = vec![None; g.occurrences.len()];
        for (ai, a) in g.adjoints.iter().enumerate() {
            for (ti, c) in a.terms.iter().enumerate() {
                if let Some(slot) = occ_terms.get_mut(c.occurrence) {
                    slot.get_or_insert((ai, ti));
                }
            }
        }
        Derivation {
            p,
            g,
            loss,
            iverson,
            stmt_binders,
            occ_terms,
            out: Vec::new(),
        }
    }

    fn blocks(mut self) -> Vec<Block> {
        self.model_section();
        self.occurrence_section();
        self.chain_section();
        self.shared_section();
        self.elimination_section();
        self.results_section();
        self.expanded_section();
        self.single_output_section();
        self.out
    }

    fn push(&mut self, b: Block) {
        self.out.push(b);
    }
    fn para(&mut self, xs: Vec<Inline>) {
        self.out.push(Block::Para(xs));
    }
    fn display(&mut self, lines: Vec<Line>) {
        if !lines.is_empty() {
            self.out.push(Block::Display {
                lines,
                boxed: false,
            });
        }
    }

    fn notation(&self, order: &[String]) -> Notation {
        let mut n = Notation::with_order(order);
        n.iverson_deltas = self.iverson;
        n
    }

    /// Variables of a statement, then its reduction variables.
    fn stmt_notation(&self, si: usize) -> Notation {
        let mut order = self.p.statements[si].vars.clone();
        self.push_binders(si, &mut order);
        self.notation(&order)
    }

    /// Appends statement `si`'s reduction variables not yet in `order`.
    fn push_binders(&self, si: usize, order: &mut Vec<String>) {
        for v in &self.stmt_binders[si] {
            if !order.contains(v) {
                order.push(v.clone());
            }
        }
    }

    /// The notation for a contribution: reading statement's variables,
    /// target variables, reduction variables.
    fn contribution_notation(&self, c: &Contribution, a: &Adjoint) -> Notation {
        let occ = &self.g.occurrences[c.occurrence];
        let s = &self.p.statements[occ.statement];
        let mut order = s.vars.clone();
        order.extend(a.vars.iter().cloned());
        for (v, _) in &occ.scope {
            order.push(v.clone());
        }
        self.push_binders(occ.statement, &mut order);
        self.notation(&order)
    }

    fn tensor(&self, id: TensorId) -> &'a Tensor {
        &self.p.tensors[id]
    }

    fn name(&self, id: TensorId) -> String {
        math::tensor_name(self.tensor(id))
    }

    /// `x^{2}_{i}`: a statement's left-hand side.
    fn lhs(&self, s: &Statement) -> String {
        math::at_vars(self.p, s.lhs, Slot::Value, &s.vars)
    }

    fn is_loss(&self, id: TensorId) -> bool {
        self.tensor(id).dims.is_empty() && self.p.outputs == [id]
    }

    /// `\frac{\partial E}{\partial x_j}`, `1` for the loss itself.
    fn d_loss(&self, elem: &str) -> String {
        dfrac(&self.loss, elem)
    }

    // ---------------------------------------------------------------- 1

    fn model_section(&mut self) {
        let p = self.p;
        self.para(vec![
            t("This document derives how the error "),
            m(self.loss.clone()),
            t(" changes with every input and weight of the model below, step by step, in the manner of the blog post \u{201c}Backpropagation with shared weights in convolutional neural networks\u{201d}, and carries the derivation to the end: the chain rule through every equation, the sum over every occurrence of a shared weight, and the elimination of the Kronecker deltas with exact boundary conditions."),
        ]);
        self.push(Block::Heading(1, vec![t("The model")]));
        let mut intro = vec![t("The model is written in index notation. ")];
        if !p.sizes.is_empty() {
            intro.push(t(if p.sizes.len() == 1 {
                "The size "
            } else {
                "The sizes "
            }));
            intro.extend(math_list(
                &p.sizes
                    .iter()
                    .map(|s| math::name_tex(s))
                    .collect::<Vec<_>>(),
                ", ",
            ));
            intro.push(t(if p.sizes.len() == 1 { " is" } else { " are" }));
            intro.push(t(" fixed when the model runs. "));
        }
        intro.push(t("Its tensors, each with the range of every index:"));
        self.para(intro);
        let mut rows = Vec::new();
        for (id, tn) in p.tensors.iter().enumerate() {
            let n = self.notation(&tn.indices);
            let kind = match tn.kind {
                TensorKind::Leaf(DeclKind::Input) => "input (gets a gradient)".to_string(),
                TensorKind::Leaf(DeclKind::Param) => "weight, param (gets a gradient)".to_string(),
                TensorKind::Leaf(DeclKind::Const) => "constant data (no gradient)".to_string(),
                TensorKind::Defined(_) if tn.auxiliary => {
                    "intermediate sum, named by sharegrad".to_string()
                }
                TensorKind::Defined(_) => "defined by an equation".to_string(),
            };
            let kind = if p.outputs.contains(&id) {
                format!("{kind}; output")
            } else {
                kind
            };
            let ranges: Vec<String> = tn
                .indices
                .iter()
                .zip(&tn.dims)
                .map(|(v, r)| math::range_cond(v, r, &n))
                .collect();
            let range_cell = if ranges.is_empty() {
                vec![t("a scalar")]
            } else {
                math_list(&ranges, ", ")
            };
            rows.push(vec![
                vec![m(math::at_vars(p, id, Slot::Value, &tn.indices))],
                vec![t(kind)],
                range_cell,
            ]);
        }
        self.push(Block::Table {
            head: vec!["Tensor".into(), "Kind".into(), "Indices".into()],
            widths: vec![0.2, 0.36, 0.4],
            rows,
        });

        for f in p.functions.values() {
            let z = math::name_tex(&f.param);
            let h = math::name_tex(&f.name);
            let n = Notation::default();
            match (&f.body, &f.derivative) {
                (Some(b), Some(d)) => {
                    // Displayed, so that a long body or derivative breaks
                    // across lines instead of running off the page.
                    self.para(vec![
                        t("The function "),
                        m(h.clone()),
                        t(" and its derivative (the derivation keeps the names "),
                        m(h.clone()),
                        t(" and "),
                        m(format!("{h}'")),
                        t("):"),
                    ]);
                    self.display(vec![
                        Line::eq(format!("{h}({z})"), math::pieces(p, b, &n)),
                        Line::eq(format!("{h}'({z})"), math::pieces(p, d, &n)),
                    ]);
                }
                _ => self.para(vec![
                    t("The function "),
                    m(h.clone()),
                    t(" is not defined: it stays symbolic, and "),
                    m(format!("{h}'")),
                    t(" is its derivative."),
                ]),
            }
        }

        self.para(vec![t("The equations, in the order they are computed:")]);
        let mut lines = Vec::new();
        for (si, s) in p.statements.iter().enumerate() {
            let n = self.stmt_notation(si);
            let mut line = Line::eq(self.lhs(s), math::pieces(p, &s.rhs, &n));
            if self.tensor(s.lhs).auxiliary {
                line = line.note("\\text{(intermediate)}");
            }
            lines.push(line);
            // The restatements of a chain `x = A = B`, checked equal to the
            // definition when the model compiled.
            for (r, _) in &s.restated {
                lines.push(Line::cont(math::pieces(p, r, &n)));
            }
        }
        self.display(lines);
        if p.statements.iter().any(|s| !s.restated.is_empty()) {
            self.para(vec![t("Lines that begin with "), m("="), t(" restate the equation above them as the model writes it. sharegrad checked that each equals the definition at every point, on random data (a function without a definition standing for any function); the derivation starts from the first form.")]);
        }

        let mut notes = Vec::new();
        for id in self.grad_leaves() {
            let mut readers: Vec<String> = Vec::new();
            for o in self.g.occurrences.iter().filter(|o| o.tensor == id) {
                let x = self.name(p.statements[o.statement].lhs);
                if !readers.contains(&x) {
                    readers.push(x);
                }
            }
            if readers.len() > 1 {
                notes.push(m(self.name(id)));
                notes.push(t(" is shared between the equations for "));
                notes.extend(math_list(&readers, " and "));
                notes.push(t(", and within each it is used at every index point. "));
            }
        }
        let aux: Vec<String> = p
            .tensors
            .iter()
            .enumerate()
            .filter(|(_, x)| x.auxiliary)
            .map(|(id, _)| self.name(id))
            .collect();
        if !aux.is_empty() {
            notes.extend(math_list(&aux, ", "));
            notes.push(t(if aux.len() == 1 {
                " is a sum inside a non-linear function: sharegrad names it so that it is computed once, and differentiates it like any other tensor. "
            } else {
                " are sums inside non-linear functions: sharegrad names them so that each is computed once, and differentiates them like any other tensor. "
            }));
        }
        let user = || p.statements.iter().filter(|s| !p.tensors[s.lhs].auxiliary);
        if user().any(|s| !s.bounds_written) {
            notes.push(t("Ranges that are not written are inferred: each index takes every value for which every read stays inside its tensor (a \u{201c}valid\u{201d} convolution). "));
        }
        if user().any(|s| contains_max(&s.rhs)) {
            notes.push(t("A maximum passes its gradient to the first maximal element (in row-major order of its indices), as PyTorch does; "));
            notes.push(m("\\operatorname*{arg\\,max}"));
            notes.push(t(" below means that first one. "));
        }
        if user().any(|s| s.bounds_written) {
            notes.push(t("Where ranges are written, reads outside a tensor are zero (zero padding) and pass no gradient back. "));
        }
        match p.outputs.as_slice() {
            [o] if self.is_loss(*o) => {
                notes.push(t("The output "));
                notes.push(m(self.name(*o)));
                notes.push(t(" is the error itself."));
            }
            outs => {
                let names: Vec<String> = outs.iter().map(|o| self.name(*o)).collect();
                notes.push(t(if outs.len() == 1 {
                    "The output is "
                } else {
                    "The outputs are "
                }));
                notes.extend(math_list(&names, ", "));
                notes.push(t("; "));
                notes.push(m(self.loss.clone()));
                notes.push(t(" is the error, computed from the output downstream."));
            }
        }
        self.para(notes);
    }

    // ---------------------------------------------------------------- 2

    fn grad_leaves(&self) -> Vec<TensorId> {
        (0..self.p.tensors.len())
            .filter(|&id| self.tensor(id).wants_gradient())
            .collect()
    }

    /// The contribution and adjoint built from an occurrence, if any.
    fn contribution_of(&self, oi: usize) -> Option<(&'a Adjoint, &'a Contribution)> {
        let g: &'a Gradient = self.g;
        let (ai, ti) = self.occ_terms.get(oi).copied().flatten()?;
        let a = &g.adjoints[ai];
        Some((a, &a.terms[ti]))
    }

    fn occurrence_section(&mut self) {
        let p = self.p;
        let leaves = self.grad_leaves();
        if leaves.is_empty() {
            return;
        }
        self.push(Block::Heading(1, vec![t("Where each leaf occurs")]));
        self.para(vec![t("A leaf's gradient collects a term from every place the leaf is read. For each read: the statement, the read, the elements it reaches, the index points of the statement that read one such element, and how many they are.")]);
        for id in leaves {
            let occs: Vec<(usize, &Occurrence)> = self
                .g
                .occurrences
                .iter()
                .enumerate()
                .filter(|(_, o)| o.tensor == id)
                .collect();
            let times = match occs.len() {
                0 => "never read: its gradient is zero".to_string(),
                1 => "read once".to_string(),
                2 => "read twice".to_string(),
                k => format!("read {k} times"),
            };
            self.push(Block::Heading(
                2,
                vec![m(self.name(id)), t(format!(", {times}"))],
            ));
            if occs.is_empty() {
                continue;
            }
            let mut rows = Vec::new();
            for (oi, o) in occs {
                let s = &p.statements[o.statement];
                let n = self.stmt_notation(o.statement);
                let read = math::read(
                    p,
                    &Read {
                        tensor: id,
                        slot: Slot::Value,
                        index: o.index.clone(),
                    },
                    &n,
                );
                let stmt = vec![m(self.lhs(s))];
                match self.contribution_of(oi) {
                    Some((a, c)) => {
                        let cn = self.contribution_notation(c, a);
                        let elem = math::at_vars(p, id, Slot::Value, &a.vars);
                        let on_sums = |cd: &Cond| {
                            let vars = match cd {
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
                            c.gather.sums.iter().any(|sv| vars.contains(&sv.var))
                        };
                        let mut element = vec![m(elem)];
                        let elem_conds: Vec<&Cond> =
                            c.gather.conds.iter().filter(|cd| !on_sums(cd)).collect();
                        if elem_conds.is_empty() {
                            element.push(t(", every element"));
                        }
                        for cd in elem_conds {
                            element.push(t(", "));
                            element.push(m(math::cond_body(cd, &cn)));
                        }
                        let mut points: Vec<String> = c
                            .gather
                            .solved
                            .iter()
                            .map(|(v, val)| {
                                format!("{} = {}", math::name_tex(v), math::poly(val, &cn))
                            })
                            .collect();
                        points.extend(
                            c.gather
                                .sums
                                .iter()
                                .map(|sv| math::range_cond(&sv.var, &sv.range, &cn)),
                        );
                        points.extend(
                            c.gather
                                .conds
                                .iter()
                                .filter(|cd| on_sums(cd))
                                .map(|cd| math::cond_body(cd, &cn)),
                        );
                        let points = if points.is_empty() {
                            vec![t("one point")]
                        } else {
                            math_list(&points, ", ")
                        };
                        let mut how = multiplicity(&c.gather, &cn);
                        if c.gather.conds.iter().any(on_sums) {
                            how.insert(0, t("at most "));
                        }
                        rows.push(vec![stmt, vec![m(read)], element, points, how]);
                    }
                    None => rows.push(vec![
                        stmt,
                        vec![m(read)],
                        vec![t("none: not on a path to an output")],
                        vec![],
                        vec![m("0")],
                    ]),
                }
            }
            self.push(Block::Table {
                head: vec![
                    "Statement".into(),
                    "Read".into(),
                    "Element".into(),
                    "Index points per element".into(),
                    "How many".into(),
                ],
                widths: vec![0.13, 0.17, 0.17, 0.38, 0.15],
                rows,
            });
        }
    }

    // ---------------------------------------------------------------- 3

    fn chain_section(&mut self) {
        let p = self.p;
        self.push(Block::Heading(
            1,
            vec![t("The chain rule through the statements")],
        ));
        let mut intro = vec![t("Write ")];
        intro.push(m(format!("\\bar{{v}} = {}", dfrac(&self.loss, "v"))));
        intro.push(t(" for the adjoint of any quantity "));
        intro.push(m("v"));
        intro.push(t(": how the error changes with it. The statements form a DAG. Going backwards from the output, a tensor's adjoint is the sum, over every statement that reads it and every index point of that statement, of the reader's adjoint times the local derivative (the multivariable chain rule). A Kronecker delta "));
        intro.push(m(if self.iverson {
            "[g = k]".to_string()
        } else {
            "\\delta_{g,k}".to_string()
        }));
        intro.push(t(" (1 when "));
        intro.push(m("g = k"));
        intro.push(t(
            ", else 0) selects the index points that read the element.",
        ));
        self.para(intro);
        let adjoints: Vec<&Adjoint> = self
            .g
            .adjoints
            .iter()
            .filter(|a| !p.tensors[a.tensor].is_leaf())
            .collect();
        for a in adjoints {
            self.push(Block::Heading(
                2,
                vec![m(math::adjoint_name(self.tensor(a.tensor)))],
            ));
            self.adjoint_steps(a);
        }
    }

    /// The adjoint's definition, the chain rule, the scatter form, the delta
    /// elimination and the gather form.
    fn adjoint_steps(&mut self, a: &Adjoint) {
        let p = self.p;
        let lhs = math::at_vars(p, a.tensor, Slot::Adjoint, &a.vars);
        let elem = math::at_vars(p, a.tensor, Slot::Value, &a.vars);
        let mut lines = Vec::new();
        if a.seeded {
            if self.is_loss(a.tensor) {
                lines.push(
                    Line::eq(
                        lhs.clone(),
                        vec![format!("{} = 1", dfrac(&self.loss, &elem))],
                    )
                    .note("\\text{(the seed)}"),
                );
            } else {
                lines.push(
                    Line::eq(lhs.clone(), vec![self.d_loss(&elem)])
                        .note("\\text{(given: the seed)}"),
                );
            }
            if a.terms.is_empty() {
                self.display(lines);
                return;
            }
            self.para(vec![t(
                "It is also read by other statements, which add to it:",
            )]);
        } else {
            lines.push(Line::eq(lhs.clone(), vec![self.d_loss(&elem)]));
        }
        lines.extend(self.chain_lines(a, &elem));
        let trivial = a.terms.iter().all(is_trivial);
        if trivial {
            let mut gl = self.gather_lines(a);
            let solved: Vec<String> = a
                .terms
                .iter()
                .flat_map(|c| {
                    let n = self.contribution_notation(c, a);
                    c.gather
                        .solved
                        .iter()
                        .map(move |(v, val)| {
                            format!("{} = {}", math::name_tex(v), math::poly(val, &n))
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            if let Some(last) = gl.last_mut() {
                if !solved.is_empty() {
                    last.note = Some(format!(
                        "\\text{{(the delta sets }}{}\\text{{)}}",
                        solved.join(",\\ ")
                    ));
                }
            }
            lines.extend(gl);
            self.display(lines);
            return;
        }
        self.display(lines);
        for c in &a.terms {
            self.elimination_steps(a, c);
        }
        if a.terms.len() == 1 {
            return;
        }
        self.para(vec![t("Together:")]);
        let mut gl = self.gather_lines(a);
        if let Some(first) = gl.first_mut() {
            first.lhs = lhs;
        }
        self.display(gl);
    }

    /// `= \sum_i \frac{\partial E}{\partial X_i} \frac{\partial X_i}{\partial T_k}`
    /// per reading statement, then the scatter form per occurrence.
    fn chain_lines(&self, a: &Adjoint, elem: &str) -> Vec<Line> {
        let p = self.p;
        let mut stmts: Vec<usize> = Vec::new();
        for c in &a.terms {
            let si = self.g.occurrences[c.occurrence].statement;
            if !stmts.contains(&si) {
                stmts.push(si);
            }
        }
        let mut lines = Vec::new();
        let mut chain = Vec::new();
        for (k, &si) in stmts.iter().enumerate() {
            let s = &p.statements[si];
            let n = self.stmt_notation(si);
            let x = self.lhs(s);
            let mut piece = String::new();
            if k > 0 {
                piece.push_str(" + ");
            }
            piece.push_str(&self.sums_tex(&s.vars, &p.tensors[s.lhs].dims, &n));
            chain.push(piece);
            chain.push(format!(" {}\\, {}", self.d_loss(&x), dfrac(&x, elem)));
        }
        lines.push(Line::cont(chain));
        for (k, c) in a.terms.iter().enumerate() {
            let n = self.contribution_notation(c, a);
            let mut pieces = self.scatter_pieces(&c.scatter, &n);
            if k == 0 {
                lines.push(Line::cont(pieces));
            } else {
                pieces[0] = format!("{{}}+ {}", pieces[0]);
                lines.push(Line {
                    lhs: String::new(),
                    rel: "\\quad".into(),
                    pieces,
                    note: None,
                });
            }
        }
        lines
    }

    /// `\sum_{i=0}^{n-1}` per variable, or one `\sum_{n,k,i,j}` for many.
    fn sums_tex(&self, vars: &[String], ranges: &[Range], n: &Notation) -> String {
        if vars.len() > 3 {
            return format!(
                "\\sum_{{{}}}",
                vars.iter()
                    .map(|v| math::name_tex(v))
                    .collect::<Vec<_>>()
                    .join(",")
            );
        }
        vars.iter()
            .zip(ranges)
            .map(|(v, r)| math::sum_op(v, r, n))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn scatter_pieces(&self, sc: &Scatter, n: &Notation) -> Vec<String> {
        let vars: Vec<String> = sc.sums.iter().map(|s| s.var.clone()).collect();
        let ranges: Vec<Range> = sc.sums.iter().map(|s| s.range.clone()).collect();
        let mut out = Vec::new();
        if vars.len() > 3 {
            out.push(self.sums_tex(&vars, &ranges, n));
        } else {
            out.extend(vars.iter().zip(&ranges).map(|(v, r)| math::sum_op(v, r, n)));
        }
        for (g, k) in &sc.delta {
            let sep = if out
                .last()
                .is_some_and(|l| !l.trim_start().starts_with("\\sum"))
            {
                "\\, "
            } else {
                " "
            };
            out.push(format!("{sep}{}", math::delta(g, k, n)));
        }
        out.extend(self.body_pieces(&sc.factor, n, &out));
        out
    }

    /// A summand's pieces, in parentheses when it is a sum after a prefix.
    /// `prefix` is what comes before the summand (sums, deltas,
    /// conditions): after a `\sum` a plain space, after a bracket a thin one.
    fn body_pieces(&self, e: &Expr, n: &Notation, prefix: &[String]) -> Vec<String> {
        let sep = match prefix.last() {
            None => "",
            Some(last) if last.trim_start().starts_with("\\sum") => " ",
            Some(_) => "\\, ",
        };
        if !prefix.is_empty() && matches!(e, Expr::Add(_)) {
            return vec![format!("{sep}{}", math::paren(&math::expr(self.p, e, n)))];
        }
        let mut ps = math::pieces(self.p, e, n);
        if let Some(first) = ps.first_mut() {
            *first = format!("{sep}{first}");
        }
        ps
    }

    /// `[conds] \\sum ... [conds on the sum variables] body`.
    fn gather_pieces(&self, g: &Gather, n: &Notation) -> Vec<String> {
        let mentions_sum = |c: &Cond| {
            let vars = match c {
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
            g.sums.iter().any(|sv| vars.contains(&sv.var))
        };
        let mut out: Vec<String> = Vec::new();
        let push_cond = |out: &mut Vec<String>, c: &Cond| {
            let sep = if out.is_empty() {
                ""
            } else if out
                .last()
                .is_some_and(|l| l.trim_start().starts_with("\\sum"))
            {
                " "
            } else {
                "\\, "
            };
            out.push(format!("{sep}{}", math::cond(c, n)));
        };
        for c in g.conds.iter().filter(|c| !mentions_sum(c)) {
            push_cond(&mut out, c);
        }
        for sv in &g.sums {
            out.push(format!(" {}", math::sum_op(&sv.var, &sv.range, n)));
        }
        for c in g.conds.iter().filter(|c| mentions_sum(c)) {
            push_cond(&mut out, c);
        }
        out.extend(self.body_pieces(&g.body, n, &out));
        out
    }

    /// `= gather_1`, `+ gather_2`, ... (or `= 0`).
    fn gather_lines(&self, a: &Adjoint) -> Vec<Line> {
        let mut lines = Vec::new();
        if a.terms.is_empty() {
            lines.push(Line::cont(vec!["0".into()]));
        }
        for (k, c) in a.terms.iter().enumerate() {
            let n = self.contribution_notation(c, a);
            let mut pieces = self.gather_pieces(&c.gather, &n);
            if k == 0 {
                lines.push(Line::cont(pieces));
            } else {
                pieces[0] = format!("{{}}+ {}", pieces[0]);
                lines.push(Line {
                    lhs: String::new(),
                    rel: "\\quad".into(),
                    pieces,
                    note: None,
                });
            }
        }
        lines
    }

    /// Explains one delta elimination in words and shows scatter = gather.
    fn elimination_steps(&mut self, a: &Adjoint, c: &Contribution) {
        let p = self.p;
        let n = self.contribution_notation(c, a);
        let occ = &self.g.occurrences[c.occurrence];
        let s = &p.statements[occ.statement];
        let sc = &c.scatter;
        let ga = &c.gather;
        let read = math::read(
            p,
            &Read {
                tensor: occ.tensor,
                slot: Slot::Value,
                index: occ.index.clone(),
            },
            &n,
        );
        let mut words = vec![t("The read "), m(read), t(" in "), m(self.lhs(s))];
        if sc.delta.is_empty() {
            words.push(t(" has no index: every index point reads it, so there is no delta to eliminate and every point adds to its gradient. "));
            self.para(words);
            self.display(vec![Line {
                lhs: String::new(),
                rel: String::new(),
                pieces: self.gather_pieces(ga, &n),
                note: None,
            }]);
            return;
        }
        words.push(t(": the delta is non-zero only where "));
        let eqs: Vec<String> = sc
            .delta
            .iter()
            .map(|(g, k)| format!("{} = {}", math::poly(g, &n), math::name_tex(k)))
            .collect();
        words.extend(math_list(&eqs, " and "));
        words.push(t(". "));
        if sc.sums.len() > 3 {
            words.push(t("(The sum runs over every index point of the statement: "));
            let rs: Vec<String> = sc
                .sums
                .iter()
                .map(|sv| math::range_cond(&sv.var, &sv.range, &n))
                .collect();
            words.extend(math_list(&rs, ", "));
            words.push(t(".) "));
        }
        if !ga.solved.is_empty() {
            words.push(t("Solving for the summation variables: "));
            let sol: Vec<String> = ga
                .solved
                .iter()
                .map(|(v, val)| format!("{} = {}", math::name_tex(v), math::poly(val, &n)))
                .collect();
            words.extend(math_list(&sol, ", "));
            words.push(t(". "));
        }
        self.para(words);

        // Boundary conditions: the ranges of the solved variables.
        let mut bounds = Vec::new();
        for (v, val) in &ga.solved {
            let Some(r) = sc.sums.iter().find(|sv| sv.var == *v).map(|sv| &sv.range) else {
                continue;
            };
            let constraint = format!(
                "{} \\le {} \\le {}",
                math::poly(&r.lo, &n),
                math::poly(val, &n),
                math::poly(&r.hi, &n)
            );
            bounds.push(t("The range "));
            bounds.push(m(math::range_cond(v, r, &n)));
            bounds.push(t(" of the eliminated "));
            bounds.push(m(math::name_tex(v)));
            bounds.push(t(" becomes "));
            bounds.push(m(constraint));
            let mentions_sum = ga.sums.iter().any(|sv| val.mentions(&sv.var));
            let as_cond = ga
                .conds
                .iter()
                .any(|cd| matches!(cd, Cond::Within { e, .. } if e == val));
            if mentions_sum {
                bounds.push(t(", a bound on the remaining sum. "));
            } else if as_cond {
                bounds.push(t(", a condition on the element. "));
            } else {
                bounds.push(t(", which every element satisfies. "));
            }
        }
        for sv in &ga.sums {
            let before = sc.sums.iter().find(|x| x.var == sv.var).map(|x| &x.range);
            if before != Some(&sv.range) {
                bounds.push(t("So "));
                bounds.push(m(math::name_tex(&sv.var)));
                bounds.push(t(" runs over "));
                bounds.push(m(math::range_cond(&sv.var, &sv.range, &n)));
                bounds.push(t(". "));
            }
        }
        let gone: Vec<String> = sc
            .sums
            .iter()
            .filter(|sv| {
                !ga.solved.iter().any(|(v, _)| *v == sv.var)
                    && !ga.sums.iter().any(|x| x.var == sv.var)
            })
            .map(|sv| math::name_tex(&sv.var))
            .collect();
        if !gone.is_empty() {
            bounds.push(t("The sum over "));
            bounds.extend(math_list(&gone, ", "));
            bounds.push(t(" is left with a single term. "));
        }
        for cd in &ga.conds {
            match cd {
                Cond::Divides { .. } => {
                    bounds.push(t("The solution must be an integer: "));
                    bounds.push(m(math::cond_body(cd, &n)));
                    bounds.push(t(" (a stride skips the other points). "));
                }
                Cond::Within { .. } => {
                    bounds.push(t("The term exists only when "));
                    bounds.push(m(math::cond_body(cd, &n)));
                    bounds.push(t(", written as an Iverson bracket. "));
                }
            }
        }
        if ga.sums.is_empty()
            && ga.solved.len() == sc.sums.len()
            && ga.conds.is_empty()
            && bounds.is_empty()
        {
            bounds.push(t("No sum is left."));
        }
        if !bounds.is_empty() {
            self.para(bounds);
        }
        self.display(vec![
            Line {
                lhs: String::new(),
                rel: String::new(),
                pieces: self.scatter_pieces(sc, &n),
                note: None,
            },
            Line::cont(self.gather_pieces(ga, &n)),
        ]);
    }

    // ---------------------------------------------------------------- 4

    fn shared_section(&mut self) {
        let p = self.p;
        let leaves: Vec<TensorId> = self
            .grad_leaves()
            .into_iter()
            .filter(|&id| self.g.adjoint_of(id).is_some())
            .collect();
        if leaves.is_empty() {
            return;
        }
        self.push(Block::Heading(
            1,
            vec![t("Shared weights: every occurrence, every position")],
        ));
        self.para(vec![
            t("A weight is shared when it is used for many connections: at every position of a convolution, and possibly in several statements. As in the seed, the gradient sums the contributions of every occurrence and every position, instead of, for example, taking their average: "),
            m(format!("{} = \\sum_i {}\\, {}", dfrac(&self.loss, "w"), dfrac(&self.loss, "y^l_i"), dfrac("y^l_i", "w"))),
            t(", where "),
            m("i"),
            t(" runs over the nodes of the layer "),
            m("y^l"),
            t(" that use "),
            m("w"),
            t("."),
        ]);
        self.para(vec![
            t("Why summation? When the paths from a weight (applied at different locations) merge, they do so with summation. The error depends on "),
            m("w"),
            t(" only through the nodes that read it; a small change "),
            m("\\varepsilon"),
            t(" in "),
            m("w"),
            t(" moves each of those nodes by its own partial derivative times "),
            m("\\varepsilon"),
            t(", and the changes reach the error added together (convolution sums its paths in the dot product, and so do fully connected layers)."),
        ]);
        for id in leaves {
            let Some(a) = self.g.adjoint_of(id) else {
                continue;
            };
            let name = self.name(id);
            let mut head = vec![t("The gradient of "), m(name.clone())];
            let occs = a.terms.len();
            head.push(t(match occs {
                0 => ": no path to the output".to_string(),
                1 => ": one occurrence".to_string(),
                k => format!(": {k} occurrences"),
            }));
            self.push(Block::Heading(2, head));
            if occs == 0 {
                self.para(vec![
                    m(name),
                    t(" does not reach an output, so its gradient is zero."),
                ]);
                continue;
            }
            let elem = math::at_vars(p, id, Slot::Value, &a.vars);
            let lhs = math::at_vars(p, id, Slot::Adjoint, &a.vars);
            let mut words = vec![t("For the element "), m(elem.clone()), t(", summing over ")];
            if occs > 1 {
                words.push(t(
                    "the statements that read it and, within each, over every index point:",
                ));
            } else {
                words.push(t("every index point of the statement that reads it:"));
            }
            self.para(words);
            let mut lines = vec![Line::eq(lhs, vec![self.d_loss(&elem)])];
            lines.extend(self.chain_lines(a, &elem));
            self.display(lines);
            if occs > 1 {
                self.para(vec![t("Each line after the chain rule is one occurrence; the next section removes its delta.")]);
            }
        }
    }

    // ---------------------------------------------------------------- 5

    fn elimination_section(&mut self) {
        let p = self.p;
        let leaves: Vec<TensorId> = self
            .grad_leaves()
            .into_iter()
            .filter(|&id| self.g.adjoint_of(id).is_some_and(|a| !a.terms.is_empty()))
            .collect();
        if leaves.is_empty() {
            return;
        }
        self.push(Block::Heading(
            1,
            vec![t("Eliminating the Kronecker deltas")],
        ));
        self.para(vec![t("Each term above is a sum over the index points of one occurrence, with a delta that keeps only the points reading the element. Solving the delta's equations for summation variables removes those sums; the ranges of the solved variables become the bounds of the remaining sums (a maximum of lower limits, a minimum of upper limits) or conditions on the element, and a stride adds a divisibility condition. What is left is the gather form: each element sums only over the points that read it.")]);
        for id in leaves {
            let Some(a) = self.g.adjoint_of(id) else {
                continue;
            };
            self.push(Block::Heading(
                2,
                vec![m(math::adjoint_name(
                    p.tensors.get(id).unwrap_or(&p.tensors[0]),
                ))],
            ));
            for c in &a.terms {
                self.elimination_steps(a, c);
            }
        }
    }

    // ---------------------------------------------------------------- 6

    fn results_section(&mut self) {
        let p = self.p;
        self.push(Block::Heading(1, vec![t("Results")]));
        let leaves = self.grad_leaves();
        if leaves.is_empty() {
            self.para(vec![t(
                "No leaf asks for a gradient (every leaf is a constant).",
            )]);
        }
        for id in leaves {
            let tn = self.tensor(id);
            let Some(a) = self.g.adjoint_of(id) else {
                self.para(vec![
                    t("The gradient of "),
                    m(self.name(id)),
                    t(" is zero: it does not reach an output."),
                ]);
                continue;
            };
            let n = self.notation(&a.vars);
            let lhs = math::at_vars(p, id, Slot::Adjoint, &a.vars);
            let mut words = vec![t("The gradient of "), m(self.name(id))];
            if !a.vars.is_empty() {
                words.push(t(", for "));
                let rs: Vec<String> = a
                    .vars
                    .iter()
                    .zip(&tn.dims)
                    .map(|(v, r)| math::range_cond(v, r, &n))
                    .collect();
                words.extend(math_list(&rs, ", "));
            }
            words.push(t(":"));
            self.para(words);
            let mut lines = self.gather_lines(a);
            if let Some(first) = lines.first_mut() {
                first.lhs = lhs;
            }
            self.push(Block::Display { lines, boxed: true });
        }
        let inner: Vec<&Adjoint> = self
            .g
            .adjoints
            .iter()
            .filter(|a| !p.tensors[a.tensor].is_leaf())
            .collect();
        if !inner.is_empty() {
            self.para(vec![t(
                "where the adjoints of the other tensors are computed first, in this order:",
            )]);
            let mut lines = Vec::new();
            for a in inner {
                let lhs = math::at_vars(p, a.tensor, Slot::Adjoint, &a.vars);
                let elem = math::at_vars(p, a.tensor, Slot::Value, &a.vars);
                if a.seeded {
                    let seed = if self.is_loss(a.tensor) {
                        "1".to_string()
                    } else {
                        self.d_loss(&elem)
                    };
                    let mut l = Line::eq(lhs.clone(), vec![seed]);
                    if a.terms.is_empty() {
                        l = l.note("\\text{(the seed)}");
                        lines.push(l);
                        continue;
                    }
                    lines.push(l);
                    for mut g in self.gather_lines(a) {
                        g.rel = "\\quad".into();
                        g.pieces[0] = format!("{{}}+ {}", g.pieces[0].trim_start_matches("{}+ "));
                        lines.push(g);
                    }
                    continue;
                }
                let mut gl = self.gather_lines(a);
                if let Some(first) = gl.first_mut() {
                    first.lhs = lhs;
                }
                lines.extend(gl);
            }
            self.display(lines);
        }
    }

    // ---------------------------------------------------------------- 7

    /// Tensors that depend on `leaf` (including the leaf).
    fn depends_on(&self, leaf: TensorId) -> Vec<bool> {
        let mut dep = vec![false; self.p.tensors.len()];
        dep[leaf] = true;
        for s in &self.p.statements {
            let mut d = false;
            visit_reads(&s.rhs, &mut Vec::new(), &mut |r, _| d |= dep[r.tensor]);
            dep[s.lhs] = d;
        }
        dep
    }

    /// Replaces reads of element-wise defined tensors (no reduction) that
    /// depend on a leaf with their definitions.
    fn inline_pointwise(&self, e: &Expr, dep: &[bool], depth: usize) -> Expr {
        let p = self.p;
        match e {
            Expr::Read(r) if r.slot == Slot::Value && dep[r.tensor] && depth < 6 => {
                let TensorKind::Defined(si) = p.tensors[r.tensor].kind else {
                    return e.clone();
                };
                let s = &p.statements[si];
                if p.tensors[s.lhs].auxiliary || has_reduce(&s.rhs) {
                    return e.clone();
                }
                let map: Vec<(String, Poly)> = s
                    .vars
                    .iter()
                    .cloned()
                    .zip(r.index.iter().cloned())
                    .collect();
                self.inline_pointwise(&substitute_all(&s.rhs, &map), dep, depth + 1)
            }
            _ => map_expr(e, &|x| self.inline_pointwise(x, dep, depth)),
        }
    }

    fn expanded_section(&mut self) {
        let p = self.p;
        let leaves = self.grad_leaves();
        let mut any_dep = vec![false; p.tensors.len()];
        for &l in &leaves {
            for (k, d) in self.depends_on(l).into_iter().enumerate() {
                any_dep[k] |= d;
            }
        }
        let mut first = true;
        for (si, s) in p.statements.iter().enumerate() {
            if self.g.adjoint_of(s.lhs).is_none() {
                continue;
            }
            let unrolled = flatten_add(&unroll(&s.rhs));
            if unrolled == s.rhs || !has_reduce(&s.rhs) {
                continue;
            }
            if first {
                self.push(Block::Heading(1, vec![t("Each occurrence written out")]));
                self.para(vec![t("A small constant kernel can be written out term by term, as the seed does; each term is one occurrence of a weight.")]);
                first = false;
            }
            let n = self.stmt_notation(si);
            let mut lines = vec![
                Line::eq(self.lhs(s), math::pieces(p, &s.rhs, &n)),
                Line::cont(math::pieces(p, &unrolled, &n)),
            ];
            let inlined = flatten_add(&self.inline_pointwise(&unrolled, &any_dep, 0));
            if inlined != unrolled {
                lines.push(Line::cont(math::pieces(p, &inlined, &n)));
            }
            self.display(lines);
            // Elements of a leaf read more than once in the written-out form.
            let mut counts: BTreeMap<(TensorId, Vec<i64>), usize> = BTreeMap::new();
            visit_reads(&inlined, &mut Vec::new(), &mut |r, _| {
                if p.tensors[r.tensor].wants_gradient() {
                    if let Some(ix) = r
                        .index
                        .iter()
                        .map(|q| q.as_const())
                        .collect::<Option<Vec<i64>>>()
                    {
                        *counts.entry((r.tensor, ix)).or_insert(0) += 1;
                    }
                }
            });
            let shared: Vec<((TensorId, Vec<i64>), usize)> =
                counts.into_iter().filter(|(_, k)| *k > 1).collect();
            if shared.is_empty() {
                self.para(vec![t("Every element occurs once per index point here; its gradient sums over the index points.")]);
                continue;
            }
            for ((leaf, ix), k) in shared {
                let dep = self.depends_on(leaf);
                let w = math::element(
                    self.tensor(leaf),
                    Slot::Value,
                    &ix.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
                );
                let terms: Vec<Expr> = match &inlined {
                    Expr::Add(ts) => ts.clone(),
                    other => vec![other.clone()],
                };
                let mut open = Vec::new();
                let mut done = Vec::new();
                let mut ok = true;
                for term in &terms {
                    match fwd(term, leaf, &ix, &dep) {
                        Err(()) => ok = false,
                        Ok(None) => {}
                        Ok(Some(d)) => {
                            let (outside, inside) = split_factors(term, leaf, &ix, &dep);
                            let mut piece = outside
                                .iter()
                                .map(|f| math::wrap(p, f, 2, &n))
                                .collect::<Vec<_>>()
                                .join("\\, ");
                            if !piece.is_empty() {
                                piece.push_str("\\, ");
                            }
                            let inner = match inside.as_slice() {
                                [one] => math::wrap(p, one, 2, &n),
                                many => math::paren(&math::expr(p, &Expr::Mul(many.to_vec()), &n)),
                            };
                            piece
                                .push_str(&format!("\\frac{{\\partial}}{{\\partial {w}}} {inner}"));
                            open.push(piece);
                            done.push(simplify(&d));
                        }
                    }
                }
                if !ok || open.is_empty() {
                    continue;
                }
                self.para(vec![
                    m(w.clone()),
                    t(format!(" occurs {k} times. Differentiating, each occurrence gives its own term, and the terms are added:")),
                ]);
                let plus = |xs: Vec<String>| -> Vec<String> {
                    xs.into_iter()
                        .enumerate()
                        .map(|(i, x)| if i == 0 { x } else { format!(" + {x}") })
                        .collect()
                };
                let done_tex: Vec<String> = done.iter().map(|d| math::expr(p, d, &n)).collect();
                self.display(vec![
                    Line::eq(dfrac(&self.lhs(s), &w), plus(open)),
                    Line::cont(plus(done_tex)),
                ]);
            }
            self.para(vec![t("Each occurrence of a weight is differentiated separately and the results are summed: this is why backpropagation sums shared weights.")]);
        }
    }

    // ---------------------------------------------------------------- 8

    fn single_output_section(&mut self) {
        let p = self.p;
        let [out] = p.outputs.as_slice() else { return };
        let out = *out;
        if p.tensors[out].dims.is_empty() {
            return;
        }
        // A leaf element read at a constant index on a path to the output.
        let Some((leaf, c)) = self.g.occurrences.iter().enumerate().find_map(|(oi, o)| {
            let ix = o
                .index
                .iter()
                .map(|q| q.as_const())
                .collect::<Option<Vec<i64>>>()?;
            (p.tensors[o.tensor].wants_gradient()
                && !ix.is_empty()
                && self.contribution_of(oi).is_some())
            .then_some((o.tensor, ix))
        }) else {
            return;
        };
        let dep = self.depends_on(leaf);
        if !dep[out] {
            return;
        }
        // Names for the output node's indices.
        let mut avoid: BTreeSet<String> = p.sizes.iter().cloned().collect();
        for s in &p.statements {
            let mut b = Vec::new();
            binders(&s.rhs, &mut b);
            avoid.extend(b);
        }
        avoid.extend(p.tensors.iter().map(|x| x.letter.clone()));
        let mut pool = ["j", "k", "l", "m", "p", "q", "r", "u", "v"]
            .iter()
            .map(|s| s.to_string())
            .filter(|s| !avoid.contains(s));
        let node: Vec<String> = (0..p.tensors[out].dims.len())
            .map(|d| pool.next().unwrap_or_else(|| format!("j_{d}")))
            .collect();
        let w = math::element(
            self.tensor(leaf),
            Slot::Value,
            &c.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
        );
        let y = math::at_vars(p, out, Slot::Value, &node);
        let dl = dfrac(&self.loss, &w);

        let mut steps: Vec<Line> = Vec::new();
        let mut terms = vec![Term {
            sums: Vec::new(),
            factors: vec![(0, Factor::Tex(self.d_loss(&y)))],
            pending: Some((out, node.iter().map(|v| Poly::var(v)).collect())),
        }];
        steps.push(Line::eq(
            dl.clone(),
            vec![self.terms_tex(&terms, &w, &node, PendingStyle::Frac)],
        ));
        let mut rounds = 0;
        while terms.iter().any(|x| x.pending.is_some()) {
            rounds += 1;
            if rounds > 12 || terms.len() > 8 {
                return;
            }
            let before = terms.clone();
            let style = if self.is_single_path(&terms, &dep) {
                PendingStyle::Chain
            } else {
                PendingStyle::Rhs
            };
            steps.push(Line::cont(vec![self.terms_tex(&before, &w, &node, style)]));
            let mut next = Vec::new();
            let mut notes = Vec::new();
            for term in before {
                let (more, why) = self.expand(term, leaf, &c, &dep, &node);
                next.extend(more);
                notes.extend(why);
            }
            terms = next;
            let mut line = Line::cont(vec![self.terms_tex(&terms, &w, &node, PendingStyle::Frac)]);
            if !notes.is_empty() {
                line = line.note(format!("\\text{{(}}{}\\text{{)}}", notes.join(",\\ ")));
            }
            steps.push(line);
        }
        if terms.is_empty() {
            return;
        }

        self.push(Block::Heading(
            1,
            vec![t("One output node, as in the seed")],
        ));
        let hd = &p.tensors[out].dims;
        let n0 = self.notation(&node);
        let sums = self.sums_tex(&node, hd, &n0);
        self.para(vec![
            t("In general the error depends on every node of the output, and the chain rule sums over them: "),
            m(format!("{dl} = {sums} {}\\, {}", self.d_loss(&y), dfrac(&y, &w))),
            t(". Say, as the seed does, that the error is affected only by the node "),
            m(y.clone()),
            t(". Then one term is left, and we follow it down to "),
            m(w.clone()),
            t(", one statement per step:"),
        ]);
        self.display(steps);
        let fin = self.terms_tex(&terms, &w, &node, PendingStyle::Frac);
        self.para(vec![t("The completed formula:")]);
        self.push(Block::Display {
            lines: vec![Line::eq(dl.clone(), vec![fin])],
            boxed: true,
        });
        // Small constant sums written out: one term per occurrence.
        if let Some(unrolled) = self.unrolled_terms(&terms, &node) {
            self.para(vec![
                t("Written out, each occurrence of "),
                m(w.clone()),
                t(" contributes its own term:"),
            ]);
            self.display(vec![Line::eq(dl, unrolled)]);
        }
        let leaf_adj = math::adjoint_name(self.tensor(leaf));
        self.para(vec![
            t("Summed over every output node, this is the general result for "),
            m(leaf_adj),
            t(" at the element "),
            m(w),
            t(" (Results)."),
        ]);
    }

    /// True when every term's pending derivative is through a statement
    /// with a single read that depends on the leaf and no reduction: the
    /// seed's `\frac{\partial y^2_j}{\partial x^2_j}` step.
    fn is_single_path(&self, terms: &[Term], dep: &[bool]) -> bool {
        terms.iter().all(|x| match &x.pending {
            None => true,
            Some((tid, _)) => match self.p.tensors[*tid].kind {
                TensorKind::Defined(si) => {
                    let s = &self.p.statements[si];
                    let reads: Vec<&Occurrence> = self
                        .g
                        .occurrences
                        .iter()
                        .filter(|o| o.statement == si && dep[o.tensor])
                        .collect();
                    !has_reduce(&s.rhs)
                        && reads.len() == 1
                        && !self.p.tensors[reads[0].tensor].is_leaf()
                }
                TensorKind::Leaf(_) => false,
            },
        })
    }

    /// One chain-rule step on a term: the pending derivative through its
    /// statement, one new term per read that depends on the leaf. Also the
    /// reasons terms vanished.
    fn expand(
        &self,
        term: Term,
        leaf: TensorId,
        c: &[i64],
        dep: &[bool],
        node: &[String],
    ) -> (Vec<Term>, Vec<String>) {
        let p = self.p;
        let Some((tid, idx)) = term.pending.clone() else {
            return (vec![term], Vec::new());
        };
        let TensorKind::Defined(si) = p.tensors[tid].kind else {
            return (Vec::new(), Vec::new());
        };
        let s = &p.statements[si];
        let mut taken: BTreeSet<String> = node.iter().cloned().collect();
        taken.extend(term.sums.iter().map(|(v, _)| v.clone()));
        for q in &idx {
            taken.extend(q.vars());
        }
        let mut notes = Vec::new();
        let mut out = Vec::new();
        for o in self.g.occurrences.iter().filter(|o| o.statement == si) {
            // Fresh names for the statement's reduction variables.
            let mut map: Vec<(String, Poly)> =
                s.vars.iter().cloned().zip(idx.iter().cloned()).collect();
            let mut new_sums = Vec::new();
            let mut local_taken = taken.clone();
            for (v, r) in o.scope.iter().skip(s.vars.len()) {
                let mut name = v.clone();
                while local_taken.contains(&name) {
                    name.push('\'');
                }
                local_taken.insert(name.clone());
                map.push((v.clone(), Poly::var(&name)));
                new_sums.push((name, r.clone()));
            }
            let mut partial = substitute_all(&o.partial, &map);
            let index: Vec<Poly> = o
                .index
                .iter()
                .map(|q| substitute_poly_all(q, &map))
                .collect();
            let mut extra: Vec<Factor> = Vec::new();
            let pending;
            if o.tensor == leaf {
                // d w_{g} / d w_c: solve g = c for a new sum variable, or
                // keep a condition on the output node.
                let mut vanished = false;
                let mut eqs: Vec<Poly> = index.iter().zip(c).map(|(g, k)| g.add_int(-k)).collect();
                let mut dd = 0;
                while dd < eqs.len() {
                    let e = eqs[dd].clone();
                    dd += 1;
                    if let Some(k) = e.as_const() {
                        if k != 0 {
                            vanished = true;
                        }
                        continue;
                    }
                    let solvable = new_sums.iter().position(|(v, _)| {
                        e.linear_in(v).is_some_and(|(coef, rest)| {
                            coef.as_const().is_some_and(|x| x.abs() == 1)
                                && !new_sums.iter().any(|(u, _)| rest.mentions(u))
                        })
                    });
                    match solvable {
                        Some(si2) => {
                            let (v, r) = new_sums.remove(si2);
                            let (coef, rest) =
                                e.linear_in(&v).unwrap_or((Poly::int(1), Poly::zero()));
                            let val = if coef.as_const() == Some(1) {
                                rest.neg()
                            } else {
                                rest
                            };
                            if let (Some(x), Some(lo), Some(hi)) =
                                (val.as_const(), r.lo.as_const(), r.hi.as_const())
                            {
                                if x < lo || x > hi {
                                    let rn = self.notation(std::slice::from_ref(&v));
                                    let wv = math::read(
                                        p,
                                        &Read {
                                            tensor: leaf,
                                            slot: Slot::Value,
                                            index: o
                                                .index
                                                .iter()
                                                .map(|q| substitute_poly_all(q, &map))
                                                .collect(),
                                        },
                                        &rn,
                                    );
                                    notes.push(format!(
                                        "{} = 0 \\text{{ since }} {} \\ne {} \\text{{ for }} {}",
                                        dfrac(&wv, &w_tex(p, leaf, c)),
                                        math::name_tex(&v),
                                        x,
                                        math::range_cond(&v, &r, &rn)
                                    ));
                                    vanished = true;
                                    continue;
                                }
                            }
                            partial = diff::substitute(&partial, &v, &val);
                            for later in eqs.iter_mut() {
                                *later = later.substitute(&v, &val);
                            }
                        }
                        None => {
                            let n = self.notation(node);
                            extra.push(Factor::Tex(format!(
                                "\\left[{} = 0\\right]",
                                math::poly(&e, &n)
                            )));
                        }
                    }
                }
                if vanished {
                    continue;
                }
                pending = None;
            } else if dep[o.tensor] && !p.tensors[o.tensor].is_leaf() {
                pending = Some((o.tensor, index));
            } else {
                continue;
            }
            let mut sums = term.sums.clone();
            sums.extend(new_sums);
            let depth = sums.len();
            let mut factors = term.factors.clone();
            factors.extend(extra.into_iter().map(|f| (depth, f)));
            let partial = simplify(&partial);
            if partial != Expr::Num(1.0) {
                factors.push((depth, Factor::Expr(partial)));
            }
            out.push(Term {
                sums,
                factors,
                pending,
            });
        }
        (out, notes)
    }

    fn terms_tex(&self, terms: &[Term], w: &str, node: &[String], style: PendingStyle) -> String {
        if terms.is_empty() {
            return "0".into();
        }
        terms
            .iter()
            .map(|x| self.term_tex(x, w, node, style))
            .collect::<Vec<_>>()
            .join(" + ")
    }

    fn term_notation(&self, term: &Term, node: &[String]) -> Notation {
        let mut order = node.to_vec();
        order.extend(term.sums.iter().map(|(v, _)| v.clone()));
        self.notation(&order)
    }

    fn term_tex(&self, term: &Term, w: &str, node: &[String], style: PendingStyle) -> String {
        let p = self.p;
        let n = self.term_notation(term, node);
        let mut parts: Vec<String> = Vec::new();
        for d in 0..=term.sums.len() {
            for (depth, f) in &term.factors {
                if *depth == d {
                    parts.push(match f {
                        Factor::Tex(s) => s.clone(),
                        Factor::Expr(e) => math::wrap(p, e, 2, &n),
                    });
                }
            }
            if let Some((v, r)) = term.sums.get(d) {
                parts.push(math::sum_op(v, r, &n));
            }
        }
        if let Some((tid, idx)) = &term.pending {
            let elem = math::element(
                &p.tensors[*tid],
                Slot::Value,
                &idx.iter().map(|q| math::poly(q, &n)).collect::<Vec<_>>(),
            );
            let TensorKind::Defined(si) = p.tensors[*tid].kind else {
                return join_factors(&parts);
            };
            let s = &p.statements[si];
            match style {
                PendingStyle::Frac => parts.push(dfrac(&elem, w)),
                PendingStyle::Chain => {
                    let o = self
                        .g
                        .occurrences
                        .iter()
                        .find(|o| o.statement == si && !p.tensors[o.tensor].is_leaf());
                    if let Some(o) = o {
                        let map: Vec<(String, Poly)> =
                            s.vars.iter().cloned().zip(idx.iter().cloned()).collect();
                        let r = math::read(
                            p,
                            &Read {
                                tensor: o.tensor,
                                slot: Slot::Value,
                                index: o
                                    .index
                                    .iter()
                                    .map(|q| substitute_poly_all(q, &map))
                                    .collect(),
                            },
                            &n,
                        );
                        parts.push(dfrac(&elem, &r));
                        parts.push(dfrac(&r, w));
                    }
                }
                PendingStyle::Rhs => {
                    // Fresh names for bound variables already in use.
                    let mut rhs = s.rhs.clone();
                    let mut taken: BTreeSet<String> = n.order.iter().cloned().collect();
                    let mut bs = Vec::new();
                    binders(&rhs, &mut bs);
                    for b in bs {
                        if taken.contains(&b) {
                            let mut name = b.clone();
                            while taken.contains(&name) {
                                name.push('\'');
                            }
                            rhs = rename_binder(&rhs, &b, &name);
                            taken.insert(name);
                        }
                    }
                    let map: Vec<(String, Poly)> =
                        s.vars.iter().cloned().zip(idx.iter().cloned()).collect();
                    let dep_all = vec![true; p.tensors.len()];
                    let _ = dep_all;
                    let inst = substitute_all(&rhs, &map);
                    let mut n2 = n.clone();
                    let mut more = Vec::new();
                    binders(&inst, &mut more);
                    for v in more {
                        n2.push(&v);
                    }
                    let body = math::expr(p, &inst, &n2);
                    let body = if matches!(inst, Expr::Call(..) | Expr::Read(_)) {
                        body
                    } else {
                        math::paren(&body)
                    };
                    parts.push(format!("\\frac{{\\partial}}{{\\partial {w}}} {body}"));
                }
            }
        }
        join_factors(&parts)
    }

    /// The finished terms with their small constant sums written out, or
    /// None when a sum is too long or not constant.
    fn unrolled_terms(&self, terms: &[Term], node: &[String]) -> Option<Vec<String>> {
        let p = self.p;
        let mut out: Vec<String> = Vec::new();
        let mut any_sum = false;
        for term in terms {
            let mut points: Vec<Vec<(String, Poly)>> = vec![Vec::new()];
            for (v, r) in &term.sums {
                let (lo, hi) = (r.lo.as_const()?, r.hi.as_const()?);
                any_sum = true;
                let mut next = Vec::new();
                for pt in &points {
                    for x in lo..=hi {
                        let mut q = pt.clone();
                        q.push((v.clone(), Poly::int(x)));
                        next.push(q);
                    }
                }
                points = next;
            }
            if points.len() > 4 {
                return None;
            }
            let n = self.notation(node);
            let outer: Vec<String> = term
                .factors
                .iter()
                .filter(|(d, _)| *d == 0)
                .map(|(_, f)| match f {
                    Factor::Tex(s) => s.clone(),
                    Factor::Expr(e) => math::wrap(p, e, 2, &n),
                })
                .collect();
            let mut inner_terms = Vec::new();
            for pt in &points {
                let fs: Vec<String> = term
                    .factors
                    .iter()
                    .filter(|(d, _)| *d > 0)
                    .map(|(_, f)| match f {
                        Factor::Tex(s) => s.clone(),
                        Factor::Expr(e) => math::wrap(p, &simplify(&substitute_all(e, pt)), 2, &n),
                    })
                    .collect();
                inner_terms.push(fs.join("\\, "));
            }
            let mut piece = outer.join("\\, ");
            if term.sums.is_empty() {
                out.push(piece);
                continue;
            }
            piece.push_str("\\, \\bigl(");
            out.push(piece);
            for (k, it) in inner_terms.iter().enumerate() {
                let last = k + 1 == inner_terms.len();
                let sep = if k == 0 { "" } else { " + " };
                out.push(format!("{sep}{it}{}", if last { "\\bigr)" } else { "" }));
            }
        }
        any_sum.then_some(out)
    }
}

/// The leaf element `w_{c}` with constant indices.
fn w_tex(p: &Program, leaf: TensorId, c: &[i64]) -> String {
    math::element(
        &p.tensors[leaf],
        Slot::Value,
        &c.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
    )
}

/// How a pending derivative is written in a step of the single-output view.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PendingStyle {
    /// `\frac{\partial x_j}{\partial w_0}`.
    Frac,
    /// `\frac{\partial y_j}{\partial x_j}\frac{\partial x_j}{\partial w_0}`.
    Chain,
    /// `\frac{\partial}{\partial w_0}(\text{right-hand side})`.
    Rhs,
}

/// How many index points read one element: the product of the remaining
/// sums' extents, one inline formula per factor so a table cell can break.
fn multiplicity(g: &Gather, n: &Notation) -> Vec<Inline> {
    let mut constant = 1i64;
    let mut factors = Vec::new();
    for sv in &g.sums {
        let ext = sv.range.extent();
        match ext.as_const() {
            Some(k) => constant = constant.saturating_mul(k),
            None => factors.push(ext),
        }
    }
    let mut out = Vec::new();
    if constant != 1 || factors.is_empty() {
        out.push(m(constant.to_string()));
    }
    let many = factors.len() + usize::from(constant != 1) > 1;
    for f in &factors {
        if !out.is_empty() {
            out.push(m("\\times"));
        }
        let tex = math::poly(f, n);
        let single = f.terms().count() == 1 && f.terms().all(|(_, c)| c > 0);
        out.push(m(if many && !single {
            format!("({tex})")
        } else {
            tex
        }));
    }
    out
}

/// A contribution whose delta only renames: every sum solved, nothing left.
fn is_trivial(c: &Contribution) -> bool {
    c.gather.sums.is_empty()
        && c.gather.conds.is_empty()
        && c.gather.solved.len() == c.scatter.sums.len()
}

/// Applies `f` to every direct child of an expression.
fn map_expr(e: &Expr, f: &dyn Fn(&Expr) -> Expr) -> Expr {
    match e {
        Expr::Add(xs) => Expr::Add(xs.iter().map(f).collect()),
        Expr::Mul(xs) => Expr::Mul(xs.iter().map(f).collect()),
        Expr::Call(g, xs) => Expr::Call(g.clone(), xs.iter().map(f).collect()),
        Expr::Neg(a) => Expr::Neg(Box::new(f(a))),
        Expr::Pow(a, x) => Expr::Pow(Box::new(f(a)), *x),
        Expr::Div(a, b) => Expr::Div(Box::new(f(a)), Box::new(f(b))),
        Expr::Reduce {
            op,
            var,
            range,
            body,
        } => Expr::Reduce {
            op: *op,
            var: var.clone(),
            range: range.clone(),
            body: Box::new(f(body)),
        },
        other => other.clone(),
    }
}

/// Writes out sums over constant ranges when the result has at most four
/// terms.
fn unroll(e: &Expr) -> Expr {
    match e {
        Expr::Reduce {
            op: ReduceOp::Sum,
            var,
            range,
            body,
        } => {
            let inner = flatten_add(&unroll(body));
            let per = match &inner {
                Expr::Add(xs) => xs.len() as i64,
                _ => 1,
            };
            match (range.lo.as_const(), range.hi.as_const()) {
                (Some(lo), Some(hi)) if hi >= lo && (hi - lo + 1) * per <= 4 => Expr::Add(
                    (lo..=hi)
                        .map(|k| diff::substitute(&inner, var, &Poly::int(k)))
                        .collect(),
                ),
                _ => e.clone(),
            }
        }
        Expr::Reduce { .. } => e.clone(),
        _ => map_expr(e, &unroll),
    }
}

/// `a + (b + c)` as `a + b + c`, recursively.
fn flatten_add(e: &Expr) -> Expr {
    match e {
        Expr::Add(xs) => {
            let mut out = Vec::new();
            for x in xs {
                match flatten_add(x) {
                    Expr::Add(ys) => out.extend(ys),
                    y => out.push(y),
                }
            }
            Expr::Add(out)
        }
        _ => map_expr(e, &flatten_add),
    }
}

/// Joins factors with thin spaces, but a plain space after a `\sum`.
fn join_factors(parts: &[String]) -> String {
    let mut s = String::new();
    for (k, part) in parts.iter().enumerate() {
        if k > 0 {
            s.push_str(if parts[k - 1].starts_with("\\sum") {
                " "
            } else {
                "\\, "
            });
        }
        s.push_str(part);
    }
    s
}

/// True when `e` reads the element `leaf_c` (or a read of `leaf` whose index
/// is not constant) or a tensor that depends on it.
fn depends(e: &Expr, leaf: TensorId, c: &[i64], dep: &[bool]) -> bool {
    let mut d = false;
    visit_reads(e, &mut Vec::new(), &mut |r, _| {
        if r.tensor == leaf {
            let ix: Option<Vec<i64>> = r.index.iter().map(|q| q.as_const()).collect();
            d |= ix.is_none_or(|ix| ix == c);
        } else {
            d |= dep[r.tensor];
        }
    });
    d
}

/// A product's factors split into those free of the leaf and the rest.
fn split_factors(e: &Expr, leaf: TensorId, c: &[i64], dep: &[bool]) -> (Vec<Expr>, Vec<Expr>) {
    let fs = match e {
        Expr::Mul(fs) => fs.clone(),
        other => vec![other.clone()],
    };
    fs.into_iter().partition(|f| !depends(f, leaf, c, dep))
}

/// The derivative of an expression with respect to one leaf element
/// `leaf_c`: `Ok(None)` for zero, `Err` for what this small forward
/// differentiator does not handle (then the view is left out).
fn fwd(e: &Expr, leaf: TensorId, c: &[i64], dep: &[bool]) -> Result<Option<Expr>, ()> {
    if !depends(e, leaf, c, dep) {
        return Ok(None);
    }
    match e {
        Expr::Read(r) if r.tensor == leaf => {
            let ix: Option<Vec<i64>> = r.index.iter().map(|q| q.as_const()).collect();
            match ix {
                Some(ix) if ix == c => Ok(Some(Expr::Num(1.0))),
                Some(_) => Ok(None),
                None => Err(()),
            }
        }
        Expr::Add(xs) => {
            let mut out = Vec::new();
            for x in xs {
                if let Some(d) = fwd(x, leaf, c, dep)? {
                    out.push(d);
                }
            }
            Ok(match out.len() {
                0 => None,
                1 => out.pop(),
                _ => Some(Expr::Add(out)),
            })
        }
        Expr::Neg(a) => Ok(fwd(a, leaf, c, dep)?.map(|d| Expr::Neg(Box::new(d)))),
        Expr::Mul(fs) => {
            let mut out = Vec::new();
            for j in 0..fs.len() {
                if let Some(d) = fwd(&fs[j], leaf, c, dep)? {
                    let mut g = fs.clone();
                    g[j] = d;
                    out.push(Expr::Mul(g));
                }
            }
            Ok(match out.len() {
                0 => None,
                1 => out.pop(),
                _ => Some(Expr::Add(out)),
            })
        }
        Expr::Div(a, b) if !depends(b, leaf, c, dep) => {
            Ok(fwd(a, leaf, c, dep)?.map(|d| Expr::Div(Box::new(d), b.clone())))
        }
        Expr::Pow(a, x) => {
            let Some(d) = fwd(a, leaf, c, dep)? else {
                return Ok(None);
            };
            Ok(Some(Expr::Mul(vec![
                Expr::Num(*x),
                Expr::Pow(a.clone(), x - 1.0),
                d,
            ])))
        }
        Expr::Call(f, args) if args.len() == 1 => {
            let Some(d) = fwd(&args[0], leaf, c, dep)? else {
                return Ok(None);
            };
            let outer = match f {
                Func::User { name, prime: false } => Expr::Call(
                    Func::User {
                        name: name.clone(),
                        prime: true,
                    },
                    args.clone(),
                ),
                Func::Builtin(b) if *b != Builtin::Max => {
                    let body = Expr::Call(Func::Builtin(*b), vec![Expr::Param("z".into())]);
                    let der = diff::derivative_wrt_param(&body);
                    simplify(&substitute_param(&der, &args[0]))
                }
                _ => return Err(()),
            };
            Ok(Some(Expr::Mul(vec![outer, d])))
        }
        _ => Err(()),
    }
}
