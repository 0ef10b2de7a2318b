//! Name resolution: from the syntax tree to a [`Program`].
//!
//! Decides what every letter is (tensor, size, index variable, function
//! parameter), checks arity and affinity of index maps, infers the ranges of
//! bare reductions (`\sum_a`) and of left-hand-side indices without written
//! bounds ("valid" ranges, with floor division for strides), and hoists
//! reductions in non-linear positions (`\tanh(\sum_a ...)`, softmax
//! denominators) into auxiliary statements so each is computed once.
//!
//! Invariant: resolution never differentiates and never simplifies values;
//! it reports every independent problem it finds, and never panics.

use crate::diagnostics::Diagnostic;
use crate::ir::*;
use crate::poly::{Atom, Poly};
use sharegrad_grammar::ast;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Resolves a parsed file. `src` is the text it was parsed from (for the
/// statements' source excerpts).
pub fn resolve(file: &ast::File, src: &str) -> Result<Program, Vec<Diagnostic>> {
    resolve_with_broken(file, src, BTreeSet::new())
}

/// Like [`resolve`], with the keys of tensors whose statements are known to
/// be broken (they failed to parse): reads of them report nothing more,
/// so one mistake gives one error, not a cascade.
pub fn resolve_with_broken(
    file: &ast::File,
    src: &str,
    broken: BTreeSet<String>,
) -> Result<Program, Vec<Diagnostic>> {
    let mut r = Resolver {
        src,
        broken,
        ..Resolver::default()
    };
    r.run(file);
    if r.errors.is_empty() {
        Ok(r.program())
    } else {
        r.errors.sort_by_key(|d| (d.span.start, d.span.end));
        r.errors.dedup();
        Err(r.errors)
    }
}

#[derive(Default)]
struct Resolver<'s> {
    src: &'s str,
    errors: Vec<Diagnostic>,
    sizes: Vec<String>,
    tensors: Vec<Tensor>,
    /// The first tensor of each key (lookups by key stay O(1), so long
    /// models resolve in linear time).
    by_key: HashMap<String, TensorId>,
    statements: Vec<Statement>,
    functions: BTreeMap<String, UserFn>,
    fn_defs: BTreeMap<String, &'s ast::FnDef>,
    /// Keys defined by an equation later in the file, with the line they are on.
    later: BTreeMap<String, Span>,
    aux_count: usize,
    outputs: Vec<TensorId>,
    /// Tensors whose declaration or definition failed: reading them is not
    /// reported again.
    broken: BTreeSet<String>,
    /// The key of the tensor whose equation is being resolved.
    defining: Option<String>,
    /// Every letter used as an index variable (on a left-hand side, in a
    /// bound or as a reduction variable): where first, and in which item.
    index_vars: BTreeMap<String, (Span, usize)>,
    /// The item being resolved.
    item: usize,
    /// Every read made while resolving the current equation, in order, with
    /// where each subscript was written (for [`Resolver::check_reach`]).
    read_log: Vec<LoggedRead>,
}

/// A read as resolved, with the span of each subscript.
struct LoggedRead {
    tensor: TensorId,
    index: Vec<Poly>,
    subs: Vec<Span>,
}

/// What resolution of an expression may see.
struct Scope<'a> {
    /// Index variables bound here, outermost first.
    vars: Vec<String>,
    /// How many of `vars`, from the first, are the left-hand side's.
    lhs: usize,
    /// In a function body: the parameter.
    param: Option<&'a str>,
}

impl<'s> Resolver<'s> {
    fn err(&mut self, span: Span, msg: impl Into<String>) {
        self.errors.push(Diagnostic::new(span, msg));
    }

    fn push_tensor(&mut self, t: Tensor) {
        self.by_key
            .entry(t.key.clone())
            .or_insert(self.tensors.len());
        self.tensors.push(t);
    }

    fn tensor_id(&self, key: &str) -> Option<TensorId> {
        self.by_key.get(key).copied()
    }

    fn program(self) -> Program {
        let outputs = self.outputs;
        Program {
            sizes: self.sizes,
            tensors: self.tensors,
            statements: self.statements,
            functions: self.functions,
            outputs,
        }
    }

    fn run(&mut self, file: &'s ast::File) {
        // Sizes first: every symbol in a bound or a reduction limit.
        for item in &file.items {
            match item {
                ast::Item::Decl(d) => self.collect_bound_sizes(&d.bounds),
                ast::Item::Equation(e) => {
                    self.collect_bound_sizes(&e.bounds);
                    self.collect_limit_sizes(&e.rhs);
                }
                _ => {}
            }
        }
        self.check_letter_kinds(file);
        // Then strides: a letter that multiplies an index variable in a
        // subscript (`x_{s i + a}`), so that `s` is a size wherever it is
        // used, also as a number before that subscript (`\frac{s}{2}`).
        for item in &file.items {
            if let ast::Item::Equation(e) = item {
                for rhs in std::iter::once(&e.rhs).chain(&e.restated) {
                    visit_ast(rhs, &mut |x| {
                        if let ast::Expr::Tensor { subscripts, .. } = x {
                            subscripts.iter().for_each(|ix| self.collect_strides(ix));
                        }
                    });
                }
            }
        }
        for item in &file.items {
            if let ast::Item::FnDef(f) = item {
                if self.fn_defs.contains_key(&f.name.name) {
                    self.err(
                        f.name.span,
                        format!("function `{}` is defined twice", f.name.name),
                    );
                } else {
                    self.fn_defs.insert(f.name.name.clone(), f);
                }
            }
            if let ast::Item::Equation(e) = item {
                self.later.entry(e.lhs.key()).or_insert(e.lhs.span);
            }
        }
        let defs: Vec<&ast::FnDef> = self.fn_defs.values().copied().collect();
        for f in defs {
            self.function(f);
        }
        let mut outputs: Vec<&ast::Output> = Vec::new();
        for (k, item) in file.items.iter().enumerate() {
            self.item = k;
            match item {
                // A statement that made no tensor is broken, whether it
                // reported an error itself or only read a broken tensor:
                // either way its own tensor is not reported again.
                ast::Item::Decl(d) => {
                    let before = self.errors.len();
                    let count = self.tensors.len();
                    self.declaration(d);
                    if self.errors.len() > before || self.tensors.len() == count {
                        self.broken.insert(d.name.key());
                    }
                }
                ast::Item::Equation(e) => {
                    let before = self.errors.len();
                    let key = e.lhs.key();
                    let defined =
                        |r: &Self| r.tensor_id(&key).is_some_and(|id| !r.tensors[id].is_leaf());
                    let existed = defined(self);
                    self.defining = Some(key.clone());
                    self.equation(e);
                    self.defining = None;
                    if self.errors.len() > before || (!existed && !defined(self)) {
                        self.broken.insert(key);
                    }
                }
                ast::Item::Output(o) => outputs.push(o),
                ast::Item::FnDef(_) => {}
            }
        }
        self.outputs = self.resolve_outputs(&outputs);
    }

    // --- sizes ---------------------------------------------------------

    fn collect_strides(&mut self, e: &ast::IntExpr) {
        if let ast::IntExpr::Product(fs, _) = e {
            let has_var = fs
                .iter()
                .any(|f| mentions(f, |n| self.index_vars.contains_key(n)));
            for f in fs {
                if let ast::IntExpr::Sym(id) = f {
                    if has_var && !self.index_vars.contains_key(&id.name) && !self.is_size(&id.name)
                    {
                        self.sizes.push(id.name.clone());
                    }
                }
            }
        }
        for c in e.children() {
            self.collect_strides(c);
        }
    }

    fn collect_bound_sizes(&mut self, bounds: &[ast::Bound]) {
        for b in bounds {
            for e in [&b.lo, &b.hi] {
                self.collect_int_syms(e);
            }
        }
    }

    fn collect_int_syms(&mut self, e: &ast::IntExpr) {
        let mut syms = Vec::new();
        int_syms(e, &mut syms);
        for id in syms {
            if !self.sizes.contains(&id.name) {
                self.sizes.push(id.name.clone());
            }
        }
    }

    /// A letter is a size everywhere or an index variable everywhere.
    /// Reports a bound or limit that names an index variable of its own
    /// statement at that use, and a letter that is a size in one statement
    /// and an index variable in another at the later of its first uses.
    fn check_letter_kinds(&mut self, file: &ast::File) {
        let mut first_size: BTreeMap<String, (Span, usize)> = BTreeMap::new();
        let mut reported: BTreeSet<String> = BTreeSet::new();
        for (k, item) in file.items.iter().enumerate() {
            let (vars, sizes) = letter_uses(item);
            for v in &vars {
                let first = self.index_vars.entry(v.name.clone()).or_insert((v.span, k));
                if v.span.start < first.0.start {
                    *first = (v.span, k);
                }
            }
            let mut here: BTreeSet<&str> = BTreeSet::new();
            for sz in &sizes {
                first_size.entry(sz.name.clone()).or_insert((sz.span, k));
                if vars.iter().any(|v| v.name == sz.name) && here.insert(&sz.name) {
                    reported.insert(sz.name.clone());
                    self.err(
                        sz.span,
                        format!(
                            "reduction limits and bounds may only use sizes and integers; `{}` is an index variable of this statement",
                            sz.name
                        ),
                    );
                }
            }
        }
        for (name, &(size_span, size_item)) in &first_size {
            let Some(&(var_span, var_item)) = self.index_vars.get(name) else {
                continue;
            };
            if reported.contains(name) || var_item == size_item {
                continue;
            }
            if size_span.start > var_span.start {
                let (line, _) = crate::diagnostics::line_col(self.src, var_span.start);
                self.err(
                    size_span,
                    format!(
                        "reduction limits and bounds may only use sizes and integers; `{name}` is an index variable on line {line} (a letter is a size everywhere or an index variable everywhere)"
                    ),
                );
            } else {
                let (line, _) = crate::diagnostics::line_col(self.src, size_span.start);
                self.err(
                    var_span,
                    format!(
                        "`{name}` is a size (it appears in a bound on line {line}) and cannot also be an index variable (a letter is a size everywhere or an index variable everywhere)"
                    ),
                );
            }
        }
    }

    fn collect_limit_sizes(&mut self, e: &ast::Expr) {
        visit_ast(e, &mut |x| {
            if let ast::Expr::Reduce { binders, .. } = x {
                for b in binders {
                    for (lim, _) in b.lo.iter().chain(b.hi.iter()) {
                        self.collect_int_syms(lim);
                    }
                }
            }
        });
    }

    fn is_size(&self, name: &str) -> bool {
        self.sizes.iter().any(|s| s == name)
    }

    // --- declarations ----------------------------------------------------

    fn plain_indices(
        &mut self,
        owner: &str,
        written: &[ast::IntExpr],
    ) -> Option<Vec<(String, Span)>> {
        let mut out: Vec<(String, Span)> = Vec::new();
        let mut ok = true;
        for ix in written {
            match ix {
                ast::IntExpr::Sym(id) if is_index_letter(&id.name) => {
                    if out.iter().any(|(n, _)| *n == id.name) {
                        self.err(
                            id.span,
                            format!("index `{}` appears twice on `{owner}`", id.name),
                        );
                        ok = false;
                    } else {
                        out.push((id.name.clone(), id.span));
                    }
                }
                other => {
                    self.err(
                        other.span(),
                        format!("the indices of `{owner}` must be distinct lower-case letters, like `{owner}_{{i,j}}`"),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    fn bounds_for(
        &mut self,
        owner: &str,
        vars: &[(String, Span)],
        bounds: &[ast::Bound],
        required: bool,
    ) -> Option<Vec<Range>> {
        let mut ranges: Vec<Option<Range>> = vec![None; vars.len()];
        let mut ok = true;
        for b in bounds {
            let Some(pos) = vars.iter().position(|(v, _)| *v == b.var.name) else {
                self.err(
                    b.var.span,
                    format!("`{}` is not an index of `{owner}`", b.var.name),
                );
                ok = false;
                continue;
            };
            if ranges[pos].is_some() {
                self.err(b.span, format!("index `{}` has two bounds", b.var.name));
                ok = false;
                continue;
            }
            match self.bound_range(b) {
                Some(r) => ranges[pos] = Some(r),
                None => ok = false,
            }
        }
        if !required && bounds.is_empty() {
            return None;
        }
        for (i, (v, span)) in vars.iter().enumerate() {
            if ranges[i].is_none() && ok {
                let d = Diagnostic::new(*span, format!("index `{v}` of `{owner}` has no bound"))
                    .note(format!(
                        "write a bound after the statement, like `, 0 \\le {v} < n`"
                    ));
                self.errors.push(d);
                ok = false;
            }
        }
        if !ok {
            return None;
        }
        Some(ranges.into_iter().flatten().collect())
    }

    /// An error at `span` when `range` of `var` is empty for every value of
    /// the sizes.
    fn check_not_empty(&mut self, var: &str, range: &Range, span: Span, what: &str) -> bool {
        if !never_nonempty(range) {
            return true;
        }
        let sizes = if range.lo.sizes().is_empty() && range.hi.sizes().is_empty() {
            ""
        } else {
            " for every value of the sizes (they are positive)"
        };
        self.err(
            span,
            format!(
                "{what} of `{var}` is empty{sizes}: {} \\le {var} \\le {}",
                range.lo, range.hi
            ),
        );
        false
    }

    fn bound_range(&mut self, b: &ast::Bound) -> Option<Range> {
        let lo = self.size_expr(&b.lo)?;
        let hi = self.size_expr(&b.hi)?;
        let lo = if b.lo_rel == ast::Rel::Lt {
            lo.add_int(1)
        } else {
            lo
        };
        let hi = if b.hi_rel == ast::Rel::Lt {
            hi.add_int(-1)
        } else {
            hi
        };
        let range = Range { lo, hi };
        self.check_not_empty(&b.var.name, &range, b.span, "the range")
            .then_some(range)
    }

    /// An expression in sizes and integers only (bounds, limits).
    fn size_expr(&mut self, e: &ast::IntExpr) -> Option<Poly> {
        let scope = Scope {
            vars: Vec::new(),
            lhs: 0,
            param: None,
        };
        self.int_expr(e, &scope, true)
    }

    /// A defined or declared tensor's label reaches LaTeX, Markdown tables,
    /// data keys and identifiers: letters, digits and a few marks only
    /// (`y^{(1)}`, `W^{out}`, `h^{t-1}`), so that every output stays valid.
    /// False (with an error under the first other character) otherwise.
    fn label_ok(&mut self, name: &ast::TensorName) -> bool {
        let Some(label) = &name.label else {
            return true;
        };
        let allowed = |c: char| c.is_ascii_alphanumeric() || "()[]',.+-* ".contains(c);
        let Some(bad) = label.chars().find(|&c| !allowed(c)) else {
            return true;
        };
        // Where it is: the label follows the letter's `^`.
        let text = self.src.get(name.span.start..name.span.end).unwrap_or("");
        let after = text.find('^').map_or(0, |k| k + 1);
        let at = text[after..]
            .find(bad)
            .map_or(name.span.start, |k| name.span.start + after + k);
        let shown = if bad.is_control() || bad.is_whitespace() {
            bad.escape_unicode().to_string()
        } else {
            bad.to_string()
        };
        self.err(
            Span::new(at, at + bad.len_utf8()),
            format!("`{shown}` cannot be part of a label: a label holds letters, digits, spaces and ( ) [ ] ' , . + - * only"),
        );
        false
    }

    fn declaration(&mut self, d: &ast::Decl) {
        let key = d.name.key();
        if !self.label_ok(&d.name) {
            return;
        }
        if self.is_size(&key) {
            self.err(
                d.name.span,
                format!("`{key}` is a size (it appears in a bound) and cannot also be a tensor"),
            );
            return;
        }
        if let Some(t) = self.tensor_id(&key).map(|id| &self.tensors[id]) {
            let (line, _) = crate::diagnostics::line_col(self.src, t.span.start);
            self.err(
                d.name.span,
                format!("`{key}` is already declared on line {line}"),
            );
            return;
        }
        if self.fn_defs.contains_key(&key) {
            self.err(d.name.span, format!("`{key}` is already a function"));
            return;
        }
        let Some(vars) = self.plain_indices(&key, &d.indices) else {
            return;
        };
        let Some(dims) = self.bounds_for(&key, &vars, &d.bounds, true) else {
            return;
        };
        self.push_tensor(Tensor {
            key,
            letter: d.name.letter.clone(),
            greek: d.name.greek,
            label: d.name.label.clone(),
            kind: TensorKind::Leaf(d.kind),
            indices: vars.into_iter().map(|(v, _)| v).collect(),
            dims,
            auxiliary: false,
            span: d.span,
        });
    }

    // --- functions -------------------------------------------------------

    fn function(&mut self, f: &ast::FnDef) {
        let name = f.name.name.clone();
        if f.params.len() != 1 {
            self.err(
                f.span,
                format!(
                    "user function `{name}` must take exactly one argument, found {}",
                    f.params.len()
                ),
            );
            return;
        }
        let param = f.params[0].name.clone();
        let scope = Scope {
            vars: Vec::new(),
            lhs: 0,
            param: Some(&param),
        };
        let Some(body) = self.expr(&f.body, &scope) else {
            return;
        };
        // A function is a formula in its parameter alone: the generated code
        // passes it no sizes.
        let mut sizes = BTreeSet::new();
        body.visit(&mut |e| match e {
            Expr::Size(n) => {
                sizes.insert(n.clone());
            }
            Expr::Reduce { range, .. } => {
                sizes.extend(range.lo.sizes());
                sizes.extend(range.hi.sizes());
            }
            _ => {}
        });
        if let Some(size) = sizes.first() {
            self.err(
                f.body.span(),
                format!("function `{name}` uses the size `{size}`; a function body may use only its parameter, numbers and functions (use the size in the equation that calls `{name}`)"),
            );
            return;
        }
        if let Some((span, via)) = self.fn_cycle(&name, &f.body, &mut Vec::new()) {
            let message = if via.is_empty() {
                format!("function `{name}` calls itself")
            } else {
                let chain: Vec<String> = std::iter::once(&name)
                    .chain(&via)
                    .chain(std::iter::once(&name))
                    .map(|n| format!("`{n}`"))
                    .collect();
                format!(
                    "function `{name}` calls itself through {}: {}",
                    via.iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    chain.join(" -> ")
                )
            };
            self.err(span, format!("{message}; a function may not be recursive"));
            return;
        }
        let derivative = Some(crate::simplify::simplify(
            &crate::diff::derivative_wrt_param(&body),
        ));
        self.functions.insert(
            name.clone(),
            UserFn {
                name,
                param,
                body: Some(body),
                derivative,
                span: f.span,
            },
        );
    }

    /// Where `body` calls `root` again, directly or through other
    /// functions: the call in `body` and the functions in between.
    fn fn_cycle(
        &self,
        root: &str,
        body: &ast::Expr,
        stack: &mut Vec<String>,
    ) -> Option<(Span, Vec<String>)> {
        let mut found = None;
        visit_ast(body, &mut |x| {
            if found.is_some() {
                return;
            }
            if let ast::Expr::Call {
                callee: ast::Callee::User(id),
                callee_span,
                ..
            } = x
            {
                if id.name == root {
                    found = Some((*callee_span, Vec::new()));
                } else if !stack.contains(&id.name) {
                    if let Some(def) = self.fn_defs.get(&id.name) {
                        stack.push(id.name.clone());
                        if let Some((_, mut via)) = self.fn_cycle(root, &def.body, stack) {
                            via.insert(0, id.name.clone());
                            found = Some((*callee_span, via));
                        }
                    }
                }
            }
        });
        found
    }

    // --- equations -------------------------------------------------------

    fn equation(&mut self, e: &ast::Equation) {
        let key = e.lhs.key();
        if !self.label_ok(&e.lhs) {
            return;
        }
        if let Some(t) = self.tensor_id(&key).map(|id| &self.tensors[id]) {
            let (line, _) = crate::diagnostics::line_col(self.src, t.span.start);
            let msg = match t.kind {
                TensorKind::Leaf(k) => format!(
                    "cannot define `{key}`: it is declared as {} on line {line}",
                    match k {
                        DeclKind::Input => "an input",
                        DeclKind::Param => "a param",
                        DeclKind::Const => "a const",
                    }
                ),
                TensorKind::Defined(_) => format!("`{key}` is already defined on line {line}"),
            };
            self.err(e.lhs.span, msg);
            return;
        }
        if self.is_size(&key) {
            self.err(
                e.lhs.span,
                format!("`{key}` is a size (it appears in a bound) and cannot also be a tensor"),
            );
            return;
        }
        if self.fn_defs.contains_key(&key) {
            self.err(e.lhs.span, format!("`{key}` is already a function"));
            return;
        }
        self.later.remove(&key);
        let Some(vars) = self.plain_indices(&key, &e.lhs_indices) else {
            return;
        };
        let written = self.bounds_for(&key, &vars, &e.bounds, false);
        if !e.bounds.is_empty() && written.is_none() {
            return;
        }
        let scope = Scope {
            vars: vars.iter().map(|(v, _)| v.clone()).collect(),
            lhs: vars.len(),
            param: None,
        };
        self.read_log.clear();
        let Some(rhs) = self.expr(&e.rhs, &scope) else {
            return;
        };
        let restated: Vec<(Expr, Span)> = e
            .restated
            .iter()
            .filter_map(|r| Some((self.expr(r, &scope)?, r.span())))
            .collect();
        if restated.len() != e.restated.len() {
            return;
        }
        let bounds_written = written.is_some();
        let dims = match written {
            Some(d) => d,
            None => match self.infer_ranges(&key, &vars, &rhs) {
                Some(d) => d,
                None => return,
            },
        };
        if !bounds_written {
            let mut ok = true;
            for ((v, span), r) in vars.iter().zip(&dims) {
                ok &= self.check_not_empty(v, r, *span, "the inferred range");
            }
            if !ok {
                return;
            }
        }
        let id = self.tensors.len();
        // The statement index is known once hoisting has pushed any
        // auxiliary statements; set below.
        let stmt_index_placeholder = usize::MAX;
        self.push_tensor(Tensor {
            key: key.clone(),
            letter: e.lhs.letter.clone(),
            greek: e.lhs.greek,
            label: e.lhs.label.clone(),
            kind: TensorKind::Defined(stmt_index_placeholder),
            indices: scope.vars.clone(),
            dims: dims.clone(),
            auxiliary: false,
            span: e.lhs_span.join(e.span),
        });
        let scope_ranges: Vec<(String, Range)> = scope.vars.iter().cloned().zip(dims).collect();
        let log = std::mem::take(&mut self.read_log);
        let all = std::iter::once(&rhs).chain(restated.iter().map(|(x, _)| x));
        self.check_reach(all, &scope_ranges, log);
        let rhs = self.hoist(rhs, &scope_ranges, true);
        let source = self
            .src
            .get(e.span.start..e.span.end)
            .unwrap_or("")
            .trim()
            .to_string();
        self.tensors[id].kind = TensorKind::Defined(self.statements.len());
        self.statements.push(Statement {
            lhs: id,
            vars: scope.vars,
            rhs,
            bounds_written,
            restated,
            source,
            span: e.span,
        });
    }

    /// Replaces reductions in non-linear positions by reads of auxiliary
    /// tensors, pushing their statements first. `scope` holds the variables
    /// visible at `e` with their ranges, outermost first.
    fn hoist(&mut self, e: Expr, scope: &[(String, Range)], linear: bool) -> Expr {
        // A long written-out sum in a non-linear position (`\tanh` of 70
        // terms): every partial of the statement would repeat it, quadratic
        // in its length, so it gets a tensor of its own like a reduction.
        if !linear && matches!(e, Expr::Add(_)) && read_count(&e) > HOIST_READS {
            return self.hoist_out(e, scope);
        }
        match e {
            Expr::Reduce {
                op,
                var,
                range,
                body,
            } => {
                if !linear {
                    let reduce = Expr::Reduce {
                        op,
                        var,
                        range,
                        body,
                    };
                    return self.hoist_out(reduce, scope);
                }
                let mut inner = scope.to_vec();
                inner.push((var.clone(), range.clone()));
                // Inside a max's body every reduction is hoisted except a
                // directly nested max (`\max_{a,b}`): the argmax test
                // re-evaluates the body.
                let body_linear = match op {
                    ReduceOp::Sum => true,
                    ReduceOp::Max => matches!(
                        *body,
                        Expr::Reduce {
                            op: ReduceOp::Max,
                            ..
                        }
                    ),
                };
                let body = self.hoist(*body, &inner, body_linear);
                Expr::Reduce {
                    op,
                    var,
                    range,
                    body: Box::new(body),
                }
            }
            Expr::Add(ts) => Expr::Add(
                ts.into_iter()
                    .map(|t| self.hoist(t, scope, linear))
                    .collect(),
            ),
            Expr::Neg(a) => Expr::Neg(Box::new(self.hoist(*a, scope, linear))),
            Expr::Mul(fs) => {
                let free: Vec<bool> = fs.iter().map(|f| !has_read(f)).collect();
                let n_reading = free.iter().filter(|f| !**f).count();
                Expr::Mul(
                    fs.into_iter()
                        .zip(free)
                        .map(|(f, is_free)| {
                            let alone = n_reading == 0 || (n_reading == 1 && !is_free);
                            self.hoist(f, scope, linear && alone)
                        })
                        .collect(),
                )
            }
            Expr::Div(a, b) => {
                let num_linear = linear && !has_read(&b);
                let a = self.hoist(*a, scope, num_linear);
                let b = self.hoist(*b, scope, false);
                Expr::Div(Box::new(a), Box::new(b))
            }
            Expr::Pow(a, p) => Expr::Pow(Box::new(self.hoist(*a, scope, false)), p),
            Expr::Call(f, args) => Expr::Call(
                f,
                args.into_iter()
                    .map(|a| self.hoist(a, scope, false))
                    .collect(),
            ),
            other => other,
        }
    }

    fn hoist_out(&mut self, reduce: Expr, scope: &[(String, Range)]) -> Expr {
        let used = free_vars(&reduce);
        let vars: Vec<(String, Range)> = scope
            .iter()
            .filter(|(v, _)| used.contains(v))
            .cloned()
            .collect();
        // The reduction becomes the root of its own statement: linear there.
        let rhs = self.hoist(reduce.clone(), &vars, true);
        let letter = match &reduce {
            Expr::Reduce {
                op: ReduceOp::Max, ..
            } => "M",
            _ => "S",
        };
        // The next number whose name the file does not use itself (a user
        // tensor `S^{[1]}` keeps its name).
        let label = loop {
            self.aux_count += 1;
            let label = format!("[{}]", self.aux_count);
            let key = format!("{letter}^{label}");
            if self.tensor_id(&key).is_none() && !self.later.contains_key(&key) {
                break label;
            }
        };
        let id = self.tensors.len();
        self.push_tensor(Tensor {
            key: format!("{letter}^{label}"),
            letter: letter.to_string(),
            greek: false,
            label: Some(label),
            kind: TensorKind::Defined(self.statements.len()),
            indices: vars.iter().map(|(v, _)| v.clone()).collect(),
            dims: vars.iter().map(|(_, r)| r.clone()).collect(),
            auxiliary: true,
            span: Span::default(),
        });
        self.statements.push(Statement {
            lhs: id,
            vars: vars.iter().map(|(v, _)| v.clone()).collect(),
            rhs,
            bounds_written: true,
            restated: Vec::new(),
            source: String::new(),
            span: Span::default(),
        });
        Expr::Read(Read {
            tensor: id,
            slot: Slot::Value,
            index: vars.iter().map(|(v, _)| Poly::var(v)).collect(),
        })
    }

    /// Reports reads that are provably outside their tensor for every choice
    /// of the sizes: an index that moves only with reductions or is constant
    /// and reaches past the tensor at some point (`\sum_{a=0}^{3} w_a` with
    /// three `w`s, `w_5`), or any read that misses the tensor at every point
    /// of the statement. Zero padding is for indices that move with the
    /// left-hand side; these reads are zero by a slip in a limit or
    /// subscript. `log` holds the reads of `exprs` in resolution order.
    fn check_reach<'e>(
        &mut self,
        exprs: impl Iterator<Item = &'e Expr>,
        domain: &[(String, Range)],
        log: Vec<LoggedRead>,
    ) {
        // The k-th IR read of a (tensor, index) is the k-th logged one.
        let mut spans: HashMap<(TensorId, &[Poly]), Vec<&[Span]>> = HashMap::new();
        for l in &log {
            spans.entry((l.tensor, &l.index)).or_default().push(&l.subs);
        }
        let mut next: HashMap<(TensorId, Vec<Poly>), usize> = HashMap::new();
        let tensors = &self.tensors;
        let mut found: Vec<Diagnostic> = Vec::new();
        for e in exprs {
            visit_reads(e, &mut Vec::new(), &mut |read, binders| {
                let k = next.entry((read.tensor, read.index.clone())).or_default();
                let at = spans
                    .get(&(read.tensor, read.index.as_slice()))
                    .and_then(|v| v.get(*k).copied());
                *k += 1;
                let Some(at) = at else { return };
                let t = &tensors[read.tensor];
                for (d, g) in read.index.iter().enumerate() {
                    let moving = domain.iter().any(|(v, _)| g.mentions(v));
                    let reach: Vec<(String, Range)> = if moving {
                        domain.iter().chain(binders).cloned().collect()
                    } else {
                        binders.to_vec()
                    };
                    let Some((lo, hi)) = extremes(g, &reach) else {
                        continue;
                    };
                    let r = &t.dims[d];
                    let positive = |p: Poly| p.sign_assuming_positive_sizes() == Some(1);
                    let never = positive(r.lo.sub(&hi)) || positive(lo.sub(&r.hi));
                    let partly = positive(r.lo.sub(&lo)) || positive(hi.sub(&r.hi));
                    if !(never || (partly && !moving)) {
                        continue;
                    }
                    let name = t.indices.get(d).map_or("?", |s| s.as_str());
                    let runs = if lo == hi {
                        format!("this index is {lo}")
                    } else if moving {
                        format!("this index runs from {lo} to {hi} over the statement")
                    } else {
                        format!("this index runs from {lo} to {hi} over the reduction")
                    };
                    let msg = format!(
                        "`{key}` is read outside its range: {runs}, but `{key}` has {} \\le {name} \\le {}",
                        r.lo,
                        r.hi,
                        key = t.key
                    );
                    let note = if never {
                        "a read outside a tensor is zero, so this read is zero everywhere; check the subscript"
                    } else {
                        "a read outside a tensor is zero; that padding is meant for indices that move with the left-hand side, so here it is most likely a slip in the reduction's limits or in the subscript"
                    };
                    found.push(Diagnostic::new(at[d], msg).note(note));
                }
            });
        }
        self.errors.extend(found);
    }

    /// "Valid" ranges: each LHS index takes every value for which every read
    /// is in range for every value of the reduction indices.
    fn infer_ranges(
        &mut self,
        key: &str,
        vars: &[(String, Span)],
        rhs: &Expr,
    ) -> Option<Vec<Range>> {
        let names: Vec<String> = vars.iter().map(|(v, _)| v.clone()).collect();
        let mut lows: Vec<Vec<Poly>> = vec![Vec::new(); vars.len()];
        let mut highs: Vec<Vec<Poly>> = vec![Vec::new(); vars.len()];
        let mut problem: Option<String> = None;
        let tensors = &self.tensors;
        visit_reads(rhs, &mut Vec::new(), &mut |read, binders| {
            let t = &tensors[read.tensor];
            for (d, g) in read.index.iter().enumerate() {
                let mentioned: Vec<usize> = (0..names.len())
                    .filter(|&k| g.mentions(&names[k]))
                    .collect();
                if mentioned.len() != 1 {
                    continue;
                }
                let k = mentioned[0];
                let Some((c, rest)) = g.linear_in(&names[k]) else {
                    continue;
                };
                let Some(sign) = c.sign_assuming_positive_sizes() else {
                    problem = Some(format!(
                        "the sign of the coefficient `{c}` of `{}` is unknown",
                        names[k]
                    ));
                    continue;
                };
                if sign == 0 {
                    continue;
                }
                // Smallest and largest value of `rest` over the reduction box.
                let (mut rmin, mut rmax) = (rest.clone(), rest.clone());
                for (b, range) in binders.iter() {
                    let Some((cb, _)) = rmin.linear_in(b) else {
                        continue;
                    };
                    if cb.is_zero() {
                        continue;
                    }
                    let s = cb.sign_assuming_positive_sizes().unwrap_or(1);
                    let (at_min, at_max) = if s > 0 {
                        (&range.lo, &range.hi)
                    } else {
                        (&range.hi, &range.lo)
                    };
                    rmin = rmin.substitute(b, at_min);
                    rmax = rmax.substitute(b, at_max);
                }
                if !rmin.vars().is_empty() || !rmax.vars().is_empty() {
                    continue;
                }
                let dim = &t.dims[d];
                let (c, lo_num, hi_num) = if sign > 0 {
                    (c, dim.lo.sub(&rmin), dim.hi.sub(&rmax))
                } else {
                    (c.neg(), rmin.sub(&dim.lo), rmax.sub(&dim.hi))
                };
                if sign > 0 {
                    lows[k].push(lo_num.ceil_div(&c));
                    highs[k].push(hi_num.floor_div(&c));
                } else {
                    // -c*v + rest in [lo, hi] for every rest in [rmin, rmax]
                    //   =>  v in [ceil((rmax-hi)/c), floor((rmin-lo)/c)]
                    lows[k].push(hi_num.ceil_div(&c));
                    highs[k].push(lo_num.floor_div(&c));
                }
            }
        });
        if let Some(p) = problem {
            self.err(vars.first().map_or(Span::default(), |v| v.1), p);
            return None;
        }
        let mut dims = Vec::new();
        for (k, (v, span)) in vars.iter().enumerate() {
            if lows[k].is_empty() || highs[k].is_empty() {
                let d = Diagnostic::new(*span, format!("cannot infer the range of `{v}` in `{key}`"))
                    .note(format!("no read is indexed by `{v}` alone; write the bounds after the statement, like `, 0 \\le {v} < n`"));
                self.errors.push(d);
                return None;
            }
            let lo = lows[k]
                .iter()
                .skip(1)
                .fold(lows[k][0].clone(), |a, b| a.max_of(b));
            let hi = highs[k]
                .iter()
                .skip(1)
                .fold(highs[k][0].clone(), |a, b| a.min_of(b));
            dims.push(Range { lo, hi });
        }
        Some(dims)
    }

    // --- expressions -----------------------------------------------------

    fn expr(&mut self, e: &ast::Expr, scope: &Scope) -> Option<Expr> {
        Some(match e {
            ast::Expr::Num { value, .. } => Expr::Num(*value),
            ast::Expr::Tensor {
                name,
                subscripts,
                span,
            } => self.read(name, subscripts, *span, scope)?,
            ast::Expr::Sum(ts, _) => {
                let mut out = Vec::new();
                let mut ok = true;
                for (neg, t) in ts {
                    match self.expr(t, scope) {
                        Some(x) if *neg => out.push(Expr::Neg(Box::new(x))),
                        Some(x) => out.push(x),
                        None => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                Expr::Add(out)
            }
            ast::Expr::Product(fs, _) => {
                let out: Vec<Option<Expr>> = fs.iter().map(|f| self.expr(f, scope)).collect();
                Expr::Mul(out.into_iter().collect::<Option<Vec<_>>>()?)
            }
            ast::Expr::Div(a, b_ast, _) => {
                let a = self.expr(a, scope);
                let b = self.expr(b_ast, scope);
                // A constant denominator of zero (`\frac{1}{0}`, `/(2-2)`)
                // would only show as infinities at run time.
                if const_value(b_ast) == Some(0.0) {
                    self.err(
                        b_ast.span(),
                        "division by zero: the denominator is the constant 0",
                    );
                    return None;
                }
                Expr::Div(Box::new(a?), Box::new(b?))
            }
            ast::Expr::Neg(a, _) => Expr::Neg(Box::new(self.expr(a, scope)?)),
            ast::Expr::Pow(a, p, _) => {
                // `b^2^3`: the label of a scalar read as a power, then a
                // second exponent, which LaTeX rejects as a double
                // superscript (`y_i^2^3` is a parse error already).
                if let ast::Expr::Tensor {
                    name, subscripts, ..
                } = &**a
                {
                    let next = self.src.get(a.span().end..).unwrap_or("").trim_start();
                    if subscripts.is_empty() && name.label.is_some() && next.starts_with('^') {
                        self.err(
                            p.span(),
                            "double superscript: group the base, like `{b^2}^3`, or write one exponent",
                        );
                        return None;
                    }
                }
                let base = self.expr(a, scope);
                let Some(exp) = const_value(p) else {
                    self.err(
                        p.span(),
                        "an exponent must be a constant number, like `^{2}` or `^{1/2}`",
                    );
                    return None;
                };
                if exp < 0.0 && const_value(a) == Some(0.0) {
                    self.err(
                        e.span(),
                        "division by zero: the constant 0 to a negative power",
                    );
                    return None;
                }
                if !exp.is_finite() {
                    let msg = if divides_by_zero(p) {
                        EXPONENT_DIVIDES_BY_ZERO
                    } else {
                        EXPONENT_NOT_FINITE
                    };
                    self.err(p.span(), msg);
                    return None;
                }
                Expr::Pow(Box::new(base?), exp)
            }
            ast::Expr::Call {
                callee,
                callee_span,
                args,
                span,
            } => self.call(callee, *callee_span, args, *span, scope)?,
            ast::Expr::Reduce {
                op: ast::ReduceOp::Max,
                span,
                ..
            } if scope.param.is_some() => {
                // A function's derivative is taken of its body alone, where
                // an arg-max has no tensor to send its adjoint to.
                self.err(
                    *span,
                    "a `\\max` reduction cannot be used in a function body; write it in an equation (`m_i = \\max_a ...`)",
                );
                return None;
            }
            ast::Expr::Reduce {
                op, binders, body, ..
            } => self.reduce(*op, binders, body, scope)?,
        })
    }

    fn call(
        &mut self,
        callee: &ast::Callee,
        cspan: Span,
        args: &[ast::Expr],
        span: Span,
        scope: &Scope,
    ) -> Option<Expr> {
        let resolved: Vec<Option<Expr>> = args.iter().map(|a| self.expr(a, scope)).collect();
        match callee {
            ast::Callee::Builtin(b) => {
                // A constant argument outside the function's domain would
                // only show as NaN or infinity at run time, blamed on data.
                if let ([arg], Builtin::Log | Builtin::Sqrt) = (args, b) {
                    let v = const_value(arg);
                    let (bad, what) = match b {
                        Builtin::Log => (v.is_some_and(|v| v <= 0.0), "the logarithm of"),
                        _ => (v.is_some_and(|v| v < 0.0), "the square root of"),
                    };
                    if let (true, Some(v)) = (bad, v) {
                        self.err(
                            arg.span(),
                            format!("{what} the constant {v} is not a real number"),
                        );
                        return None;
                    }
                }
                let want = if *b == Builtin::Max { 2 } else { 1 };
                if args.len() != want {
                    self.err(
                        span,
                        format!(
                            "`{}` takes {want} argument{}, found {}",
                            builtin_name(*b),
                            if want == 1 { "" } else { "s" },
                            args.len()
                        ),
                    );
                    return None;
                }
                Some(Expr::Call(
                    Func::Builtin(*b),
                    resolved.into_iter().collect::<Option<Vec<_>>>()?,
                ))
            }
            ast::Callee::User(id) => {
                let name = &id.name;
                let is_tensor = self.tensor_id(name).is_some();
                let is_fn = self.fn_defs.contains_key(name);
                if is_tensor && !is_fn {
                    // `a(b + c)`: a scalar times a group.
                    if args.len() != 1 {
                        self.err(span, format!("`{name}` is a tensor, not a function"));
                        return None;
                    }
                    let indices = self
                        .tensor_id(name)
                        .map_or(0, |t| self.tensors[t].dims.len());
                    if indices > 0 {
                        self.err(
                            id.span,
                            format!("`{name}` is a tensor with {indices} ind{}, not a function: read it with a subscript (`{name}_i`), or name the function another letter", if indices == 1 { "ex" } else { "ices" }),
                        );
                        return None;
                    }
                    let head = self.read(
                        &ast::TensorName {
                            letter: name.clone(),
                            greek: false,
                            label: None,
                            span: id.span,
                        },
                        &[],
                        id.span,
                        scope,
                    )?;
                    let arg = resolved.into_iter().next().flatten()?;
                    return Some(Expr::Mul(vec![head, arg]));
                }
                if (scope.vars.contains(name)
                    || self.is_size(name)
                    || scope.param == Some(name.as_str()))
                    && args.len() == 1
                {
                    {
                        let head = if scope.param == Some(name.as_str()) {
                            Expr::Param(name.clone())
                        } else if scope.vars.contains(name) {
                            Expr::Index(Poly::var(name))
                        } else {
                            Expr::Size(name.clone())
                        };
                        let arg = resolved.into_iter().next().flatten()?;
                        return Some(Expr::Mul(vec![head, arg]));
                    }
                }
                if args.len() != 1 {
                    self.err(
                        span,
                        format!(
                            "user function `{name}` takes one argument, found {}",
                            args.len()
                        ),
                    );
                    return None;
                }
                if !is_fn && !self.functions.contains_key(name) {
                    self.functions.insert(
                        name.clone(),
                        UserFn {
                            name: name.clone(),
                            param: "z".into(),
                            body: None,
                            derivative: None,
                            span: cspan,
                        },
                    );
                }
                let arg = resolved.into_iter().next().flatten()?;
                Some(Expr::Call(
                    Func::User {
                        name: name.clone(),
                        prime: false,
                    },
                    vec![arg],
                ))
            }
        }
    }

    fn read(
        &mut self,
        name: &ast::TensorName,
        subs: &[ast::IntExpr],
        span: Span,
        scope: &Scope,
    ) -> Option<Expr> {
        let key = name.key();
        if let Some(id) = self.tensor_id(&key) {
            let want = self.tensors[id].dims.len();
            if subs.len() != want {
                let mut d = Diagnostic::new(
                    span,
                    format!(
                        "`{key}` has {want} ind{}, written with {}",
                        if want == 1 { "ex" } else { "ices" },
                        subs.len()
                    ),
                );
                // `W_{ij}`, as papers write it: one letter per index.
                if let [one] = subs {
                    let text = self.src.get(one.span().start..one.span().end).unwrap_or("");
                    let letters: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
                    if letters.len() == want && letters.iter().all(char::is_ascii_alphabetic) {
                        let list: Vec<String> = letters.iter().map(char::to_string).collect();
                        d = d.note(format!(
                            "separate the indices with commas: `{}_{{{}}}`",
                            written_name(name),
                            list.join(",")
                        ));
                    }
                }
                self.errors.push(d);
                return None;
            }
            let mut index = Vec::new();
            for s in subs {
                let p = self.int_expr(s, scope, false)?;
                if let Some(msg) = non_affine(&p, &scope.vars) {
                    self.err(s.span(), msg);
                    return None;
                }
                index.push(p);
            }
            if !index.is_empty() {
                self.read_log.push(LoggedRead {
                    tensor: id,
                    index: index.clone(),
                    subs: subs.iter().map(|s| s.span()).collect(),
                });
            }
            return Some(Expr::Read(Read {
                tensor: id,
                slot: Slot::Value,
                index,
            }));
        }
        // `b^2`, `z^2` on a scalar without subscripts, when no tensor carries
        // that label: a power, as a reader of the formula expects.
        if let (true, Some(label)) = (subs.is_empty(), &name.label) {
            if let Some(exponent) = label_exponent(label) {
                let base = ast::TensorName {
                    label: None,
                    ..name.clone()
                };
                let known = self
                    .tensors
                    .iter()
                    .any(|t| t.key == base.key() && t.dims.is_empty())
                    || scope.param == Some(base.key().as_str())
                    || self.is_size(&base.key());
                if known {
                    return match exponent {
                        Ok(p) => {
                            let b = self.read(&base, subs, span, scope)?;
                            Some(Expr::Pow(Box::new(b), p))
                        }
                        Err(msg) => {
                            // `x^{1/0}`: an exponent like `y_i^{1/0}`'s,
                            // not an undeclared tensor `x^1/0`. The span
                            // starts at the exponent, after the letter and
                            // `^`.
                            let letter = name.letter.len() + usize::from(name.greek);
                            let start = (name.span.start + letter + 1).min(name.span.end);
                            self.err(
                                Span {
                                    start,
                                    end: name.span.end,
                                },
                                msg,
                            );
                            None
                        }
                    };
                }
            }
        }
        if subs.is_empty() && name.label.is_none() {
            if scope.param == Some(key.as_str()) {
                return Some(Expr::Param(key));
            }
            if scope.vars.contains(&key) {
                return Some(Expr::Index(Poly::var(&key)));
            }
            if self.is_size(&key) {
                return Some(Expr::Size(key));
            }
            // `\pi` is the number unless the file names a tensor so
            // (`\sqrt{2/\pi}` in a GELU).
            if name.greek && key == "pi" && !self.later.contains_key(&key) {
                return Some(Expr::Num(std::f64::consts::PI));
            }
        }
        if self.broken.contains(&key) && self.tensor_id(&key).is_none() {
            return None;
        }
        if scope.param.is_some() {
            self.err(
                span,
                format!("a function body may only use its parameter, not `{key}`"),
            );
            return None;
        }
        if self.is_size(&key) {
            self.err(
                span,
                format!("`{key}` is a size (it appears in a bound), not a tensor"),
            );
            return None;
        }
        if let Some(d) = self.spelled_function(name) {
            self.errors.push(d);
            return None;
        }
        if self.defining.as_deref() == Some(key.as_str()) {
            self.err(
                name.span,
                format!("`{key}` is read in its own definition; a tensor cannot be defined in terms of itself"),
            );
            return None;
        }
        if let Some(def) = self.later.get(&key) {
            let (line, _) = crate::diagnostics::line_col(self.src, def.start);
            self.err(
                span,
                format!("`{key}` is read before it is defined (on line {line})"),
            );
            return None;
        }
        let written = written_name(name);
        let mut d = Diagnostic::new(name.span, format!("undeclared tensor `{written}`"));
        let before = self.src[..name.span.start.min(self.src.len())]
            .chars()
            .next_back();
        let after_number = before.is_some_and(|c| c.is_ascii_digit() || c == '.');
        let euler = name.letter == "e" && !name.greek && !after_number;
        // `e^{y_i}` is Euler's number raised to a power, not a tensor
        // labelled `y_i`: declaring that would not help.
        if !(euler && name.label.is_some()) {
            d = d.note(format!(
                "declare it, like `input {written}_i, 0 \\le i < n`, or define it by an equation"
            ));
        }
        if (key == "e" || key == "E") && after_number {
            d = d.note("a number in exponent notation is written `1.5 \\times 10^{-3}`");
        } else if euler {
            let arg = name.label.as_deref().unwrap_or("x");
            d = d.note(format!("for the exponential function write `\\exp({arg})`"));
        }
        self.errors.push(d);
        None
    }

    /// `relu(y_i)` or `exp(y_i)` without a backslash parses as a product of
    /// one-letter names (`r e l u(y_i)`). When the undeclared letter `name`
    /// sits in such a word that names a function, one error for the word
    /// (each of its letters gives the same, and duplicates are dropped).
    fn spelled_function(&self, name: &ast::TensorName) -> Option<Diagnostic> {
        if name.greek || name.label.is_some() {
            return None;
        }
        let bytes = self.src.as_bytes();
        let mut start = name.span.start.min(bytes.len());
        while start > 0 && bytes[start - 1].is_ascii_alphabetic() {
            start -= 1;
        }
        let mut end = name.span.start.min(bytes.len());
        while end < bytes.len() && bytes[end].is_ascii_alphabetic() {
            end += 1;
        }
        if start > 0 && bytes[start - 1] == b'\\' {
            return None;
        }
        let word = &self.src[start..end];
        let fix = match word {
            "relu" | "softplus" => format!("\\operatorname{{{word}}}"),
            "exp" | "log" | "ln" | "tanh" | "sqrt" | "max" => format!("\\{word}"),
            "sigmoid" => "\\sigma".to_string(),
            _ => return None,
        };
        let letters: Vec<String> = word.chars().map(String::from).collect();
        Some(
            Diagnostic::new(
                Span { start, end },
                format!(
                    "`{word}` is not a function here: without a backslash it reads as the product of the letters {}",
                    letters.join(", ")
                ),
            )
            .note(format!("write `{fix}`")),
        )
    }

    fn reduce(
        &mut self,
        op: ReduceOp,
        binders: &[ast::Binder],
        body: &ast::Expr,
        scope: &Scope,
    ) -> Option<Expr> {
        let mut inner = Scope {
            vars: scope.vars.clone(),
            lhs: scope.lhs,
            param: scope.param,
        };
        for b in binders {
            // Index variables are single lower-case letters, here as on a
            // left-hand side (`\sum_{I}` would make `I` a size elsewhere).
            let name = &b.var.name;
            if !is_index_letter(name) {
                let written = self
                    .src
                    .get(b.var.span.start..b.var.span.end)
                    .unwrap_or(name);
                self.err(
                    b.var.span,
                    format!("a reduction's variable must be a lower-case letter, like `a`, not `{written}`"),
                );
                return None;
            }
            if let Some(k) = inner.vars.iter().position(|v| *v == b.var.name) {
                let v = &b.var.name;
                let msg = if k < inner.lhs {
                    format!("`{v}` is an index of the left-hand side, so it cannot also be summed over here; give the reduction its own letter")
                } else {
                    format!("index `{v}` is already bound by an enclosing reduction; give this one its own letter")
                };
                self.err(b.var.span, msg);
                return None;
            }
            if self.is_size(&b.var.name) && b.var.name.chars().all(|c| !c.is_ascii_lowercase()) {
                self.err(
                    b.var.span,
                    format!("`{}` is a size and cannot be a reduction index", b.var.name),
                );
                return None;
            }
            inner.vars.push(b.var.name.clone());
        }
        let mut e = self.expr(body, &inner)?;
        // Every binder is checked, so `\sum_{a,b}` with neither range
        // inferable reports both.
        let mut ok = true;
        for b in binders.iter().rev() {
            let range = match (&b.lo, &b.hi) {
                (Some((lo, lrel)), Some((hi, hrel))) => {
                    let (Some(lo), Some(hi)) = (self.size_expr(lo), self.size_expr(hi)) else {
                        ok = false;
                        continue;
                    };
                    Range {
                        lo: if *lrel == ast::Rel::Lt {
                            lo.add_int(1)
                        } else {
                            lo
                        },
                        hi: if *hrel == ast::Rel::Lt {
                            hi.add_int(-1)
                        } else {
                            hi
                        },
                    }
                }
                (None, None) => match self.infer_binder(&b.var, &e) {
                    Some(r) => r,
                    None => {
                        ok = false;
                        continue;
                    }
                },
                _ => {
                    self.err(
                        b.span,
                        format!(
                            "give `{}` both limits, like `\\sum_{{{0}=0}}^{{K-1}}`, or none",
                            b.var.name
                        ),
                    );
                    ok = false;
                    continue;
                }
            };
            let span = match &b.hi {
                Some((hi, _)) => b.span.join(hi.span()),
                None => b.span,
            };
            if !self.check_not_empty(&b.var.name, &range, span, "the range") {
                ok = false;
                continue;
            }
            e = Expr::Reduce {
                op,
                var: b.var.name.clone(),
                range,
                body: Box::new(e),
            };
        }
        ok.then_some(e)
    }

    /// `\sum_a`: the range of the tensor dimensions `a` indexes directly.
    fn infer_binder(&mut self, var: &ast::Ident, body: &Expr) -> Option<Range> {
        let mut found: Vec<(String, Range)> = Vec::new();
        let tensors = &self.tensors;
        visit_reads(body, &mut Vec::new(), &mut |read, binders| {
            if binders.iter().any(|(b, _)| *b == var.name) {
                return; // shadowed (cannot happen: rebinding is an error)
            }
            let t = &tensors[read.tensor];
            for (d, g) in read.index.iter().enumerate() {
                if *g == Poly::var(&var.name) {
                    found.push((t.key.clone(), t.dims[d].clone()));
                }
            }
        });
        let Some((first_key, first)) = found.first().cloned() else {
            let d = Diagnostic::new(var.span, format!("cannot infer the range of `{}`", var.name)).note(format!(
                "`{0}` indexes no tensor dimension directly; write its limits, like `\\sum_{{{0}=0}}^{{K-1}}`",
                var.name
            ));
            self.errors.push(d);
            return None;
        };
        for (key, r) in &found[1..] {
            if *r != first {
                self.err(
                    var.span,
                    format!(
                        "the range of `{v}` is ambiguous: {} \\le {v} \\le {} from `{first_key}` but {} \\le {v} \\le {} from `{key}`",
                        first.lo,
                        first.hi,
                        r.lo,
                        r.hi,
                        v = var.name
                    ),
                );
                return None;
            }
        }
        Some(first)
    }

    /// Integer expressions. In bounds and limits (`sizes_only`) every symbol
    /// is a size; in subscripts a symbol is a bound index variable, or a size.
    fn int_expr(&mut self, e: &ast::IntExpr, scope: &Scope, sizes_only: bool) -> Option<Poly> {
        let p = self.int_expr_unchecked(e, scope, sizes_only)?;
        // Each literal is at most MAX_INDEX_INT; a product or sum of them
        // may not be (and the polynomial arithmetic saturates), so the
        // result is checked too: a coefficient or constant beyond it would
        // overflow index arithmetic at run time.
        let limit = sharegrad_grammar::MAX_INDEX_INT;
        if let Some((_, c)) = p.terms().find(|(_, c)| c.unsigned_abs() > limit as u64) {
            let span = e.span();
            let text = self.src.get(span.start..span.end).unwrap_or("").trim();
            let value = if c.unsigned_abs() >= i64::MAX as u64 {
                "an integer beyond i64".to_owned()
            } else {
                format!("the integer {c}")
            };
            self.err(
                span,
                format!("`{text}` gives {value}; integers in index expressions, bounds and limits are at most {limit}"),
            );
            return None;
        }
        Some(p)
    }

    fn int_expr_unchecked(
        &mut self,
        e: &ast::IntExpr,
        scope: &Scope,
        sizes_only: bool,
    ) -> Option<Poly> {
        Some(match e {
            ast::IntExpr::Num(n, _) => Poly::int(*n),
            ast::IntExpr::Sym(id) => {
                if !sizes_only && scope.vars.contains(&id.name) {
                    Poly::var(&id.name)
                } else if self.is_size(&id.name) || sizes_only {
                    if self.tensor_id(&id.name).is_some() {
                        self.err(
                            id.span,
                            format!("`{}` is a tensor and cannot be used as a size", id.name),
                        );
                        return None;
                    }
                    Poly::size(&id.name)
                } else {
                    let d = Diagnostic::new(id.span, format!("index `{}` is not bound", id.name)).note(format!(
                        "put `{0}` on the left-hand side or sum over it (`\\sum_{0}`); a size must appear in some bound",
                        id.name
                    ));
                    self.errors.push(d);
                    return None;
                }
            }
            ast::IntExpr::Sum(ts, _) => {
                let mut acc = Poly::zero();
                for (neg, t) in ts {
                    let p = self.int_expr(t, scope, sizes_only)?;
                    acc = if *neg { acc.sub(&p) } else { acc.add(&p) };
                }
                acc
            }
            ast::IntExpr::Product(fs, _) => {
                // A letter multiplying an index variable, or a bracketed sum
                // with one (`s(i + a)`), is a coefficient: a size.
                let has_var = fs
                    .iter()
                    .any(|f| mentions(f, |n| scope.vars.iter().any(|v| v == n)));
                let mut acc = Poly::int(1);
                let mut with_sizes = 0;
                for f in fs {
                    let p = match f {
                        // Strides became sizes before any statement was
                        // resolved (`collect_strides`); a letter here that
                        // is an index variable elsewhere cannot be one.
                        ast::IntExpr::Sym(id)
                            if has_var
                                && !sizes_only
                                && !scope.vars.contains(&id.name)
                                && !self.is_size(&id.name)
                                && self.index_vars.contains_key(&id.name) =>
                        {
                            let (at, item) = self.index_vars[&id.name];
                            let whose = if item == self.item {
                                "of this statement".to_owned()
                            } else {
                                let (line, _) = crate::diagnostics::line_col(self.src, at.start);
                                format!("on line {line}")
                            };
                            self.err(
                                id.span,
                                format!(
                                    "`{0}` multiplies an index variable, so it must be a size, but `{0}` is an index variable {whose} (a letter is a size everywhere or an index variable everywhere)",
                                    id.name
                                ),
                            );
                            return None;
                        }
                        _ => self.int_expr(f, scope, sizes_only)?,
                    };
                    with_sizes += usize::from(!p.sizes().is_empty());
                    acc = acc.mul(&p);
                }
                // Bounds and limits may multiply sizes (a dilated kernel's
                // reach `d(K-1)`: ranges are evaluated once the sizes are
                // known); an index expression's coefficient is an integer or
                // one size, so that delta elimination divides by it.
                if with_sizes > 1 && !sizes_only {
                    let span = e.span();
                    let text = self.src.get(span.start..span.end).unwrap_or("").trim();
                    self.err(span, format!("`{text}` multiplies two sizes; an index expression must be affine, each coefficient an integer or one size"));
                    return None;
                }
                acc
            }
            ast::IntExpr::Neg(a, _) => self.int_expr(a, scope, sizes_only)?.neg(),
            ast::IntExpr::FloorDiv(a, b, _)
            | ast::IntExpr::CeilDiv(a, b, _)
            | ast::IntExpr::Div(a, b, _) => {
                let p = self.int_expr(a, scope, sizes_only)?;
                let q = self.int_expr(b, scope, sizes_only)?;
                if !q.vars().is_empty() {
                    self.err(b.span(), "cannot divide by an index variable");
                    return None;
                }
                match (q.as_const(), e) {
                    (Some(d), _) if d <= 0 => {
                        self.err(b.span(), "a divisor must be a positive integer");
                        return None;
                    }
                    (_, ast::IntExpr::FloorDiv(..)) => p.floor_div(&q),
                    (_, ast::IntExpr::CeilDiv(..)) => p.ceil_div(&q),
                    _ => {
                        let exact = p.exact_div(&q);
                        if exact
                            .terms()
                            .any(|(m, _)| m.iter().any(|a| matches!(a, Atom::ExactDiv(..))))
                        {
                            self.err(e.span(), "integer division must be written with `\\lfloor a/b \\rfloor` or `\\lceil a/b \\rceil`");
                            return None;
                        }
                        exact
                    }
                }
            }
        })
    }

    fn resolve_outputs(&mut self, outs: &[&ast::Output]) -> Vec<TensorId> {
        let mut ids = Vec::new();
        for o in outs {
            for n in &o.names {
                let key = n.key();
                match self.tensor_id(&key) {
                    Some(id) if self.tensors[id].is_leaf() => {
                        self.err(n.span, format!("`{key}` is declared as a leaf; an output must be defined by an equation"))
                    }
                    Some(id) if !ids.contains(&id) => ids.push(id),
                    Some(_) => self.err(n.span, format!("`{key}` is already listed as an output")),
                    None if self.broken.contains(&key) => {}
                    None => self.err(n.span, format!("output `{key}` is not defined")),
                }
            }
        }
        if outs.is_empty() {
            // The defined tensors that nothing reads.
            let mut read: BTreeSet<TensorId> = BTreeSet::new();
            for s in &self.statements {
                visit_reads(&s.rhs, &mut Vec::new(), &mut |r, _| {
                    read.insert(r.tensor);
                });
            }
            for (id, t) in self.tensors.iter().enumerate() {
                if !t.is_leaf() && !t.auxiliary && !read.contains(&id) {
                    ids.push(id);
                }
            }
        }
        ids
    }
}

/// True when `range` holds no value for any positive values of the sizes:
/// its extent `hi - lo + 1` is a constant at most 0, or a polynomial in
/// plain sizes whose size terms all have negative coefficients and that is
/// at most 0 when every size is 1 (each term only falls as sizes grow).
/// Conservative: anything else (floor divisions, max, min, mixed signs) may
/// be non-empty and is left to the run-time checks.
fn never_nonempty(range: &Range) -> bool {
    let extent = range.hi.sub(&range.lo).add_int(1);
    let falling = extent
        .terms()
        .all(|(m, c)| m.is_empty() || (c < 0 && m.iter().all(|a| matches!(a, Atom::Size(_)))));
    let at_ones = extent
        .terms()
        .fold(0i64, |acc, (_, c)| acc.saturating_add(c));
    falling && at_ones <= 0
}

/// The letters a declaration or equation uses as index variables (its
/// indices, the variables of its bounds, its reduction variables) and as
/// sizes (in its bounds and reduction limits), in the order written.
fn letter_uses(item: &ast::Item) -> (Vec<&ast::Ident>, Vec<&ast::Ident>) {
    let mut vars: Vec<&ast::Ident> = Vec::new();
    let mut sizes: Vec<&ast::Ident> = Vec::new();
    let (indices, bounds, exprs): (&[ast::IntExpr], &[ast::Bound], Vec<&ast::Expr>) = match item {
        ast::Item::Decl(d) => (&d.indices, &d.bounds, Vec::new()),
        ast::Item::Equation(e) => (
            &e.lhs_indices,
            &e.bounds,
            std::iter::once(&e.rhs).chain(&e.restated).collect(),
        ),
        _ => return (vars, sizes),
    };
    for ix in indices {
        if let ast::IntExpr::Sym(id) = ix {
            vars.push(id);
        }
    }
    for b in bounds {
        vars.push(&b.var);
        int_syms(&b.lo, &mut sizes);
        int_syms(&b.hi, &mut sizes);
    }
    for e in exprs {
        visit_ast(e, &mut |x| {
            if let ast::Expr::Reduce { binders, .. } = x {
                for b in binders {
                    vars.push(&b.var);
                    for (lim, _) in b.lo.iter().chain(b.hi.iter()) {
                        int_syms(lim, &mut sizes);
                    }
                }
            }
        });
    }
    sizes.sort_by_key(|id| id.span.start);
    (vars, sizes)
}

/// The symbols of an integer expression.
fn int_syms<'a>(e: &'a ast::IntExpr, out: &mut Vec<&'a ast::Ident>) {
    match e {
        ast::IntExpr::Sym(id) => out.push(id),
        _ => e.children().into_iter().for_each(|c| int_syms(c, out)),
    }
}

/// True when a symbol of `e` satisfies `pred`.
fn mentions(e: &ast::IntExpr, pred: impl Fn(&str) -> bool) -> bool {
    let mut syms = Vec::new();
    int_syms(e, &mut syms);
    syms.iter().any(|id| pred(&id.name))
}

/// Calls `f` on every node of a syntax tree, parents first.
fn visit_ast<'a>(e: &'a ast::Expr, f: &mut dyn FnMut(&'a ast::Expr)) {
    f(e);
    for c in e.children() {
        visit_ast(c, f);
    }
}

/// Index variables with their ranges, outermost first.
pub type Binders = Vec<(String, Range)>;

/// A callback on a read and the reductions enclosing it.
pub type ReadVisitor<'a> = dyn FnMut(&Read, &[(String, Range)]) + 'a;

/// Calls `f` on every read with the reductions enclosing it (outermost
/// first), including reads inside argmax tests.
pub fn visit_reads(e: &Expr, binders: &mut Binders, f: &mut ReadVisitor<'_>) {
    match e {
        Expr::Num(_) | Expr::Size(_) | Expr::Index(_) | Expr::Param(_) => {}
        Expr::Read(r) => f(r, binders),
        Expr::Add(xs) | Expr::Mul(xs) | Expr::Call(_, xs) => {
            xs.iter().for_each(|x| visit_reads(x, binders, f))
        }
        Expr::Neg(a) | Expr::Pow(a, _) => visit_reads(a, binders, f),
        Expr::Div(a, b) => {
            visit_reads(a, binders, f);
            visit_reads(b, binders, f);
        }
        Expr::Reduce {
            var, range, body, ..
        } => {
            binders.push((var.clone(), range.clone()));
            visit_reads(body, binders, f);
            binders.pop();
        }
        Expr::Indicator(p) => match &**p {
            Pred::Gt(a, b) | Pred::Ge(a, b) => {
                visit_reads(a, binders, f);
                visit_reads(b, binders, f);
            }
            Pred::FirstArgMax {
                binders: bs, body, ..
            } => {
                let n = binders.len();
                binders.extend(bs.iter().cloned());
                visit_reads(body, binders, f);
                binders.truncate(n);
            }
        },
    }
}

/// The smallest and largest value of the affine `g` as each variable of
/// `vars` runs over its range (ranges in sizes only). None when `g` is not
/// affine in one of them, a coefficient's sign is unknown, or a variable
/// outside `vars` remains.
fn extremes(g: &Poly, vars: &[(String, Range)]) -> Option<(Poly, Poly)> {
    let (mut lo, mut hi) = (g.clone(), g.clone());
    for (v, range) in vars {
        let (c, _) = lo.linear_in(v)?;
        let (at_lo, at_hi) = match c.sign_assuming_positive_sizes()? {
            0 => continue,
            s if s > 0 => (&range.lo, &range.hi),
            _ => (&range.hi, &range.lo),
        };
        lo = lo.substitute(v, at_lo);
        hi = hi.substitute(v, at_hi);
    }
    (lo.vars().is_empty() && hi.vars().is_empty()).then_some((lo, hi))
}

/// A tensor name as it is written: `\beta`, `y^1`, `W^{out}`.
fn written_name(name: &ast::TensorName) -> String {
    let slash = if name.greek { "\\" } else { "" };
    match name.label.as_deref() {
        None => format!("{slash}{}", name.letter),
        Some(l) if l.chars().count() == 1 => format!("{slash}{}^{l}", name.letter),
        Some(l) => format!("{slash}{}^{{{l}}}", name.letter),
    }
}

/// A written-out sum in a non-linear position with more reads than this is
/// hoisted into an auxiliary tensor (see `Resolver::hoist`).
const HOIST_READS: usize = 8;

/// How many reads the expression makes (occurrences, not tensors).
fn read_count(e: &Expr) -> usize {
    let mut n = 0;
    visit_reads(e, &mut Vec::new(), &mut |_, _| n += 1);
    n
}

/// True when the expression reads any tensor.
pub fn has_read(e: &Expr) -> bool {
    read_count(e) > 0
}

/// Index variables used in `e` and not bound inside it.
pub fn free_vars(e: &Expr) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    collect_free(e, &mut Vec::new(), &mut out);
    out
}

fn collect_free(e: &Expr, bound: &mut Vec<String>, out: &mut BTreeSet<String>) {
    let add = |p: &Poly, bound: &Vec<String>, out: &mut BTreeSet<String>| {
        for v in p.vars() {
            if !bound.contains(&v) {
                out.insert(v);
            }
        }
    };
    match e {
        Expr::Num(_) | Expr::Size(_) | Expr::Param(_) => {}
        Expr::Index(p) => add(p, bound, out),
        Expr::Read(r) => r.index.iter().for_each(|p| add(p, bound, out)),
        Expr::Add(xs) | Expr::Mul(xs) | Expr::Call(_, xs) => {
            xs.iter().for_each(|x| collect_free(x, bound, out))
        }
        Expr::Neg(a) | Expr::Pow(a, _) => collect_free(a, bound, out),
        Expr::Div(a, b) => {
            collect_free(a, bound, out);
            collect_free(b, bound, out);
        }
        Expr::Reduce { var, body, .. } => {
            bound.push(var.clone());
            collect_free(body, bound, out);
            bound.pop();
        }
        Expr::Indicator(p) => match &**p {
            Pred::Gt(a, b) | Pred::Ge(a, b) => {
                collect_free(a, bound, out);
                collect_free(b, bound, out);
            }
            Pred::FirstArgMax { binders, body, at } => {
                at.iter().for_each(|p| add(p, bound, out));
                let n = bound.len();
                bound.extend(binders.iter().map(|(v, _)| v.clone()));
                collect_free(body, bound, out);
                bound.truncate(n);
            }
        },
    }
}

/// Why an index expression is not affine in the index variables, if it is not.
fn non_affine(p: &Poly, vars: &[String]) -> Option<String> {
    for v in vars {
        match p.linear_in(v) {
            None => return Some(format!("index expression `{p}` is not affine in `{v}`")),
            Some((c, _)) if !c.vars().is_empty() => {
                return Some(format!(
                    "index expression `{p}` multiplies index variables; it must be affine"
                ))
            }
            _ => {}
        }
    }
    None
}

/// The value of a constant exponent (`2`, `-1`, `1/2`, `\frac{1}{2}`).
fn const_value(e: &ast::Expr) -> Option<f64> {
    match e {
        ast::Expr::Num { value, .. } => Some(*value),
        ast::Expr::Neg(a, _) => Some(-const_value(a)?),
        ast::Expr::Div(a, b, _) => Some(const_value(a)? / const_value(b)?),
        ast::Expr::Product(fs, _) => fs
            .iter()
            .map(const_value)
            .try_fold(1.0, |acc, x| Some(acc * x?)),
        ast::Expr::Sum(ts, _) => ts.iter().try_fold(0.0, |acc, (neg, t)| {
            let v = const_value(t)?;
            Some(if *neg { acc - v } else { acc + v })
        }),
        _ => None,
    }
}

/// True when a constant expression divides by a constant zero somewhere.
fn divides_by_zero(e: &ast::Expr) -> bool {
    match e {
        ast::Expr::Div(a, b, _) => {
            const_value(b) == Some(0.0) || divides_by_zero(a) || divides_by_zero(b)
        }
        ast::Expr::Neg(a, _) => divides_by_zero(a),
        ast::Expr::Product(fs, _) => fs.iter().any(divides_by_zero),
        ast::Expr::Sum(ts, _) => ts.iter().any(|(_, t)| divides_by_zero(t)),
        _ => false,
    }
}

/// The command a built-in is written with.
pub fn builtin_name(b: Builtin) -> &'static str {
    match b {
        Builtin::Exp => "\\exp",
        Builtin::Log => "\\log",
        Builtin::Tanh => "\\tanh",
        Builtin::Sigma => "\\sigma",
        Builtin::Sqrt => "\\sqrt",
        Builtin::Relu => "\\operatorname{relu}",
        Builtin::Softplus => "\\operatorname{softplus}",
        Builtin::Max => "\\max",
    }
}

/// Why a constant exponent is no number: `^{1/0}`.
const EXPONENT_DIVIDES_BY_ZERO: &str = "the exponent divides by zero";
/// Why a constant exponent is no number: `^{1e999}`.
const EXPONENT_NOT_FINITE: &str = "the exponent is not a finite number";

/// An index variable's name: one lower-case Latin letter.
fn is_index_letter(name: &str) -> bool {
    name.len() == 1 && name.chars().all(|c| c.is_ascii_lowercase())
}

/// A label that reads as a number (`2`, `-1`, `1/2`), for `b^2`: its value,
/// or why it is no exponent (`1/0`, `1e999`); `None` when the label is not
/// numeric (`out`, `(1)`).
fn label_exponent(label: &str) -> Option<Result<f64, &'static str>> {
    let l = label.trim();
    let (v, zero_den) = match l.split_once('/') {
        Some((a, b)) => {
            let (a, b): (f64, f64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
            (a / b, b == 0.0)
        }
        None => (l.parse().ok()?, false),
    };
    Some(if zero_den {
        Err(EXPONENT_DIVIDES_BY_ZERO)
    } else if !v.is_finite() {
        Err(EXPONENT_NOT_FINITE)
    } else {
        Ok(v)
    })
}
