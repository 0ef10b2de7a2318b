//! From pest pairs to the syntax tree.
//!
//! Recursion here follows brackets (bounded by the nesting check that runs
//! before pest) and nothing else: sums, products, chains of unary minus,
//! reductions and divisions are walked in loops. Every builder receives the
//! depth of the node it builds and refuses to go past [`MAX_AST_DEPTH`], so
//! no later recursive pass over the tree (including `Drop`) can overflow.

use pest::iterators::Pair;

use crate::ast::*;
use crate::parser::Rule;

/// The deepest syntax tree the builder produces.
pub const MAX_AST_DEPTH: usize = 512;

type Res<T> = Result<T, SyntaxError>;

/// Builds one statement; `base` is the statement's offset in the file.
pub(crate) struct Builder {
    pub(crate) base: usize,
}

/// Tokens that carry no information once the parse succeeded.
fn is_punct(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::eq
            | Rule::comma
            | Rule::rparen
            | Rule::rbrack
            | Rule::lbrace
            | Rule::rbrace
            | Rule::rfloor
            | Rule::rceil
            | Rule::close_paren_math
            | Rule::close_bracket_math
            | Rule::close_dollars
            | Rule::close_dollar
            | Rule::end_env
            | Rule::env_name
            | Rule::EOI
    )
}

/// The meaningful children of a pair.
fn kids<'i>(pair: &Pair<'i, Rule>) -> Vec<Pair<'i, Rule>> {
    pair.clone()
        .into_inner()
        .filter(|p| !is_punct(p.as_rule()))
        .collect()
}

/// The largest integer an index expression or bound may hold (2^31 - 1).
pub const MAX_INDEX_INT: i64 = i32::MAX as i64;

fn err<T>(span: Span, message: impl Into<String>) -> Res<T> {
    Err(SyntaxError {
        span,
        message: message.into(),
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Juxt,
    Times,
    Div,
}

/// A factor, or a reduction head that takes the rest of the product.
enum Piece<'i> {
    Factor(Pair<'i, Rule>),
    Reduce(Pair<'i, Rule>),
}

impl Builder {
    /// The pair's range without the ignorable spacing pest leaves at its
    /// end when an optional part at the end did not match.
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        let len = trimmed_len(s.as_str());
        Span::new(self.base + s.start(), self.base + s.start() + len)
    }

    fn too_deep(&self, span: Span) -> SyntaxError {
        SyntaxError {
            span,
            message: format!("expression nested too deeply (more than {MAX_AST_DEPTH} levels)"),
        }
    }

    fn check(&self, depth: usize, span: Span) -> Res<()> {
        if depth > MAX_AST_DEPTH {
            Err(self.too_deep(span))
        } else {
            Ok(())
        }
    }

    /// `statement_file`: the one statement inside the optional wrappers.
    pub(crate) fn statement(&self, file: Pair<'_, Rule>) -> Res<Item> {
        let Some(stmt) = kids(&file).into_iter().next() else {
            return err(self.span(&file), "expected a statement");
        };
        let span = self.span(&stmt);
        match stmt.as_rule() {
            Rule::decl => self.decl(stmt, span).map(Item::Decl),
            Rule::output => self.output(stmt, span).map(Item::Output),
            Rule::fndef => self.fndef(stmt, span).map(Item::FnDef),
            Rule::equation => self.equation(stmt, span).map(Item::Equation),
            _ => err(span, "expected a statement"),
        }
    }

    fn decl(&self, pair: Pair<'_, Rule>, span: Span) -> Res<Decl> {
        let mut it = kids(&pair).into_iter();
        let kw = it.next().expect("grammar: decl keyword");
        let kind = match kw.as_str() {
            "input" => DeclKind::Input,
            "param" => DeclKind::Param,
            _ => DeclKind::Const,
        };
        let (name, indices, _) = self.lhs(it.next().expect("grammar: decl lhs"))?;
        let bounds = it.map(|b| self.bound(b)).collect::<Res<Vec<_>>>()?;
        Ok(Decl {
            kind,
            kind_span: self.span(&kw),
            name,
            indices,
            bounds,
            span,
        })
    }

    fn output(&self, pair: Pair<'_, Rule>, span: Span) -> Res<Output> {
        let names = kids(&pair)
            .into_iter()
            .skip(1)
            .map(|p| self.tensor_name(p))
            .collect::<Res<Vec<_>>>()?;
        Ok(Output { names, span })
    }

    fn fndef(&self, pair: Pair<'_, Rule>, span: Span) -> Res<FnDef> {
        let mut ks = kids(&pair);
        let body = ks.pop().expect("grammar: fndef body");
        let mut it = ks.into_iter();
        let name = self.ident(it.next().expect("grammar: fndef name"));
        let params = it.map(|p| self.ident(p)).collect();
        Ok(FnDef {
            name,
            params,
            body: self.expr(body, 0)?,
            span,
        })
    }

    fn equation(&self, pair: Pair<'_, Rule>, span: Span) -> Res<Equation> {
        let mut it = kids(&pair).into_iter();
        let lhs_pair = it.next().expect("grammar: equation lhs");
        let (lhs, lhs_indices, lhs_span) = self.lhs(lhs_pair)?;
        let mut rhss = Vec::new();
        let mut bounds = Vec::new();
        for p in it {
            match p.as_rule() {
                Rule::expr => rhss.push(self.expr(p, 0)?),
                _ => bounds.push(self.bound(p)?),
            }
        }
        let mut rhss = rhss.into_iter();
        let rhs = rhss.next().expect("grammar: equation rhs");
        Ok(Equation {
            lhs,
            lhs_indices,
            lhs_span,
            rhs,
            restated: rhss.collect(),
            bounds,
            span,
        })
    }

    /// `lhs`: a tensor name and its subscripts.
    fn lhs(&self, pair: Pair<'_, Rule>) -> Res<(TensorName, Vec<IntExpr>, Span)> {
        let span = self.span(&pair);
        let mut it = kids(&pair).into_iter();
        let name = self.tensor_name(it.next().expect("grammar: tensor name"))?;
        let indices = match it.next() {
            Some(sub) => self.subscript(sub, 1)?,
            None => Vec::new(),
        };
        Ok((name, indices, span))
    }

    fn letter(pair: &Pair<'_, Rule>) -> (String, bool) {
        let s = pair.as_str();
        match s.strip_prefix('\\') {
            Some(g) => (g.to_owned(), true),
            None => (s.to_owned(), false),
        }
    }

    fn ident(&self, pair: Pair<'_, Rule>) -> Ident {
        // `ident` wraps `latin` or `greek`; both spell the name directly.
        let (name, _) = Self::letter(&pair);
        Ident {
            name,
            span: self.span(&pair),
        }
    }

    fn tensor_name(&self, pair: Pair<'_, Rule>) -> Res<TensorName> {
        let span = self.span(&pair);
        let mut it = kids(&pair).into_iter();
        let (letter, greek) = Self::letter(&it.next().expect("grammar: letter"));
        let label = match it.next() {
            Some(label) => {
                // label > label_body > (label_text | label_char)
                let body = kids(&label)
                    .into_iter()
                    .next()
                    .expect("grammar: label body");
                let text = kids(&body).into_iter().next().expect("grammar: label text");
                let t = text.as_str().trim();
                if t.is_empty() {
                    return err(self.span(&text), "expected a label");
                }
                Some(t.to_owned())
            }
            None => None,
        };
        Ok(TensorName {
            letter,
            greek,
            label,
            span,
        })
    }

    /// `subscript`: one index (`_i`) or several (`_{k,c,a,b}`).
    fn subscript(&self, pair: Pair<'_, Rule>, depth: usize) -> Res<Vec<IntExpr>> {
        let body = kids(&pair).into_iter().next().expect("grammar: sub body");
        kids(&body)
            .into_iter()
            .map(|p| self.int_operand(p, depth))
            .collect()
    }

    /// An index expression or a one-character index (`digit`, `latin`, `greek`).
    fn int_operand(&self, pair: Pair<'_, Rule>, depth: usize) -> Res<IntExpr> {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::int_expr => self.int_expr(pair, depth),
            // Index integers stay below 2^31, so that the products and sums
            // of them that ranges and offsets are made of fit in an i64.
            Rule::digit | Rule::int_lit => match pair.as_str().parse::<i64>() {
                Ok(v) if v <= MAX_INDEX_INT => Ok(IntExpr::Num(v, span)),
                _ => err(
                    span,
                    format!("integer too large (index integers are at most {MAX_INDEX_INT})"),
                ),
            },
            Rule::latin | Rule::greek | Rule::ident => Ok(IntExpr::Sym(self.ident(pair))),
            _ => err(span, "expected an index expression"),
        }
    }

    fn bound(&self, pair: Pair<'_, Rule>) -> Res<Bound> {
        let span = self.span(&pair);
        let mut it = kids(&pair).into_iter();
        let mut next = || it.next().expect("grammar: bound part");
        let lo = self.int_expr(next(), 1)?;
        let lo_rel = Self::rel(&next());
        let var = self.ident(next());
        let hi_rel = Self::rel(&next());
        let hi = self.int_expr(next(), 1)?;
        Ok(Bound {
            lo,
            lo_rel,
            var,
            hi_rel,
            hi,
            span,
        })
    }

    fn rel(pair: &Pair<'_, Rule>) -> Rel {
        match pair.clone().into_inner().next().map(|p| p.as_rule()) {
            Some(Rule::lt) => Rel::Lt,
            _ => Rel::Le,
        }
    }

    // ------------------------------------------------------------ integers

    fn int_expr(&self, pair: Pair<'_, Rule>, depth: usize) -> Res<IntExpr> {
        let span = self.span(&pair);
        self.check(depth, span)?;
        let ks = kids(&pair);
        if ks.len() == 1 {
            return self.int_term(ks.into_iter().next().expect("one term"), depth, false);
        }
        let mut terms = Vec::with_capacity(ks.len() / 2 + 1);
        let mut minus = false;
        for (i, p) in ks.into_iter().enumerate() {
            match p.as_rule() {
                Rule::plus => minus = false,
                Rule::minus => minus = true,
                _ => {
                    let first = i == 0;
                    let (sign, t) = if first {
                        let negs = p
                            .clone()
                            .into_inner()
                            .take_while(|q| q.as_rule() == Rule::minus)
                            .count();
                        if negs > 0 {
                            (true, self.int_term(p, depth + 1, true)?)
                        } else {
                            (false, self.int_term(p, depth + 1, false)?)
                        }
                    } else {
                        (minus, self.int_term(p, depth + 1, false)?)
                    };
                    terms.push((sign, t));
                }
            }
        }
        Ok(IntExpr::Sum(terms, span))
    }

    /// `int_term`: leading minus signs, then factors joined by juxtaposition,
    /// `*`, `\cdot`, `\times` or `/` (left to right). With `absorb_sign`, the
    /// first minus is the term's sign in a sum and is not built.
    fn int_term(&self, pair: Pair<'_, Rule>, depth: usize, absorb_sign: bool) -> Res<IntExpr> {
        let span = self.span(&pair);
        let end = span.end;
        let ks = kids(&pair);
        let negs: Vec<Span> = ks
            .iter()
            .take_while(|p| p.as_rule() == Rule::minus)
            .map(|p| self.span(p))
            .collect();
        let rest = &ks[negs.len()..];
        let skip = usize::from(absorb_sign && !negs.is_empty());
        let wraps = negs.len() - skip;
        let divs = rest.iter().filter(|p| p.as_rule() == Rule::divide).count();
        let child_depth = depth + wraps + divs + 1;
        self.check(child_depth, span)?;
        let mut factors: Vec<(IntExpr, Span)> = Vec::new();
        let mut op = Op::Juxt;
        for p in rest {
            match p.as_rule() {
                Rule::times => op = Op::Times,
                Rule::divide => op = Op::Div,
                _ => {
                    let s = self.span(p);
                    let e = self.int_factor(p.clone(), child_depth)?;
                    if op == Op::Div {
                        let (num, ns) = collapse_int(std::mem::take(&mut factors));
                        let ds = ns.join(s);
                        factors.push((IntExpr::Div(Box::new(num), Box::new(e), ds), ds));
                    } else {
                        factors.push((e, s));
                    }
                    op = Op::Juxt;
                }
            }
        }
        let (mut e, _) = collapse_int(factors);
        for s in negs[skip..].iter().rev() {
            e = IntExpr::Neg(Box::new(e), Span::new(s.start, end));
        }
        Ok(e)
    }

    fn int_factor(&self, pair: Pair<'_, Rule>, depth: usize) -> Res<IntExpr> {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::floor | Rule::ceil => {
                let floor = pair.as_rule() == Rule::floor;
                let inner = kids(&pair).into_iter().next().expect("grammar: floor body");
                match self.int_expr(inner, depth)? {
                    IntExpr::Div(a, b, _) if floor => Ok(IntExpr::FloorDiv(a, b, span)),
                    IntExpr::Div(a, b, _) => Ok(IntExpr::CeilDiv(a, b, span)),
                    other => {
                        let (l, r) = if floor {
                            ("\\lfloor", "\\rfloor")
                        } else {
                            ("\\lceil", "\\rceil")
                        };
                        err(
                            other.span(),
                            format!("expected a division `a/b` inside `{l} {r}`"),
                        )
                    }
                }
            }
            Rule::int_group => {
                let inner = kids(&pair).into_iter().next().expect("grammar: group body");
                self.int_expr(inner, depth)
            }
            Rule::int_frac => {
                let mut it = kids(&pair).into_iter().skip(1);
                let a = self.int_frac_arg(it.next().expect("grammar: numerator"), depth + 1)?;
                let b = self.int_frac_arg(it.next().expect("grammar: denominator"), depth + 1)?;
                Ok(IntExpr::Div(Box::new(a), Box::new(b), span))
            }
            _ => self.int_operand(pair, depth),
        }
    }

    fn int_frac_arg(&self, pair: Pair<'_, Rule>, depth: usize) -> Res<IntExpr> {
        let inner = kids(&pair).into_iter().next().expect("grammar: frac arg");
        self.int_operand(inner, depth)
    }

    // ------------------------------------------------------------ values

    /// `expr`: a sum of terms, or the single term itself.
    fn expr(&self, pair: Pair<'_, Rule>, depth: usize) -> Res<Expr> {
        let span = self.span(&pair);
        self.check(depth, span)?;
        let ks = kids(&pair);
        if ks.len() == 1 {
            return self.term(ks.into_iter().next().expect("one term"), depth, false);
        }
        let mut terms = Vec::with_capacity(ks.len() / 2 + 1);
        let mut minus = false;
        for (i, p) in ks.into_iter().enumerate() {
            match p.as_rule() {
                Rule::plus => minus = false,
                Rule::minus => minus = true,
                _ => {
                    let (sign, t) = if i == 0 {
                        let leading = p
                            .clone()
                            .into_inner()
                            .next()
                            .is_some_and(|q| q.as_rule() == Rule::minus);
                        (leading, self.term(p, depth + 1, leading)?)
                    } else {
                        (minus, self.term(p, depth + 1, false)?)
                    };
                    terms.push((sign, t));
                }
            }
        }
        Ok(Expr::Sum(terms, span))
    }

    /// `term`: leading minus signs, then a product. With `absorb_sign` the
    /// first minus is the term's sign in the enclosing sum.
    fn term(&self, pair: Pair<'_, Rule>, depth: usize, absorb_sign: bool) -> Res<Expr> {
        let span = self.span(&pair);
        let end = span.end;
        let ks = kids(&pair);
        let negs: Vec<Span> = ks
            .iter()
            .take_while(|p| p.as_rule() == Rule::minus)
            .map(|p| self.span(p))
            .collect();
        let skip = usize::from(absorb_sign && !negs.is_empty());
        let wraps = negs.len() - skip;
        self.check(depth + wraps, span)?;
        let product = ks.into_iter().last().expect("grammar: term product");
        let mut e = self.product(product, depth + wraps)?;
        for s in negs[skip..].iter().rev() {
            e = Expr::Neg(Box::new(e), Span::new(s.start, end));
        }
        Ok(e)
    }

    /// `product`: factors joined by juxtaposition, `*`, `\cdot`, `\times`,
    /// `/`; a reduction takes every factor after it in the product.
    fn product(&self, pair: Pair<'_, Rule>, depth: usize) -> Res<Expr> {
        let span = self.span(&pair);
        let ks = kids(&pair);
        // Segments between reduction heads: (op before the head, head),
        // then the (op, factor) list that follows it.
        let mut heads: Vec<(Op, Pair<'_, Rule>)> = Vec::new();
        let mut segments: Vec<Vec<(Op, Piece<'_>)>> = vec![Vec::new()];
        let mut op = Op::Juxt;
        let mut divs = 0usize;
        for p in ks {
            match p.as_rule() {
                Rule::times => op = Op::Times,
                Rule::divide => {
                    op = Op::Div;
                    divs += 1;
                }
                Rule::reduce => {
                    heads.push((op, p));
                    segments.push(Vec::new());
                    op = Op::Juxt;
                }
                _ => {
                    segments
                        .last_mut()
                        .expect("at least one segment")
                        .push((op, Piece::Factor(p)));
                    op = Op::Juxt;
                }
            }
        }
        // A reduction and the product of its body per head; a division and
        // a product per `/`; the product itself when there are several factors.
        let factors: usize = segments.iter().map(Vec::len).sum();
        let plain = usize::from(factors + heads.len() > 1 || divs > 0);
        let child_depth = depth + 2 * heads.len() + 2 * divs + plain;
        self.check(child_depth, span)?;
        let mut acc: Option<(Expr, Span)> = None;
        let end = span.end;
        while let Some(mut seg) = segments.pop() {
            if let Some(body) = acc.take() {
                // `seg` is followed by the reduction `heads.pop()` over `body`.
                let (hop, head) = heads.pop().expect("a head per later segment");
                seg.push((hop, Piece::Reduce(head)));
                acc = Some(self.flat(seg, child_depth, Some(body), end)?);
            } else {
                acc = Some(self.flat(seg, child_depth, None, end)?);
            }
        }
        Ok(acc.expect("at least one segment").0)
    }

    /// Joins one segment left to right. When the segment ends in a
    /// reduction head, `body` is that reduction's body.
    fn flat(
        &self,
        items: Vec<(Op, Piece<'_>)>,
        depth: usize,
        mut body: Option<(Expr, Span)>,
        end: usize,
    ) -> Res<(Expr, Span)> {
        let mut factors: Vec<(Expr, Span)> = Vec::new();
        for (op, item) in items {
            let (e, s) = match item {
                Piece::Factor(p) => {
                    let s = self.span(&p);
                    (self.factor(p, depth)?, s)
                }
                Piece::Reduce(head) => {
                    let (op, binders, hs) = self.reduce_head(head)?;
                    let (b, _) = body.take().expect("a body for the reduction");
                    let s = Span::new(hs.start, end);
                    (
                        Expr::Reduce {
                            op,
                            binders,
                            body: Box::new(b),
                            span: s,
                        },
                        s,
                    )
                }
            };
            if op == Op::Div && !factors.is_empty() {
                let (num, ns) = collapse(std::mem::take(&mut factors));
                let ds = ns.join(s);
                factors.push((Expr::Div(Box::new(num), Box::new(e), ds), ds));
            } else {
                factors.push((e, s));
            }
        }
        if let Some(b) = body {
            // A segment made only of the reduction body (several heads in a row).
            factors.push(b);
        }
        Ok(collapse(factors))
    }

    fn reduce_head(&self, pair: Pair<'_, Rule>) -> Res<(ReduceOp, Vec<Binder>, Span)> {
        let span = self.span(&pair);
        let mut op = ReduceOp::Sum;
        let mut binders = Vec::new();
        let mut sup: Option<IntExpr> = None;
        for p in kids(&pair) {
            match p.as_rule() {
                Rule::sum_kw => op = ReduceOp::Sum,
                Rule::max_kw => op = ReduceOp::Max,
                Rule::sub_limits => {
                    let body = kids(&p).into_iter().next().expect("grammar: binders");
                    for b in kids(&body) {
                        binders.push(self.binder(b)?);
                    }
                }
                Rule::sup_limit => {
                    let body = kids(&p).into_iter().next().expect("grammar: limit body");
                    let inner = kids(&body).into_iter().next().expect("grammar: limit");
                    sup = Some(self.int_operand(inner, 1)?);
                }
                _ => {}
            }
        }
        if let Some(hi) = sup {
            let n = binders.len();
            match binders.last_mut() {
                Some(b) if n == 1 && b.hi.is_none() => b.hi = Some((hi, Rel::Le)),
                Some(_) if n == 1 => {
                    return err(hi.span(), "upper limit written twice");
                }
                _ => {
                    return err(
                        hi.span(),
                        "an upper limit `^` needs exactly one reduction variable",
                    )
                }
            }
        }
        Ok((op, binders, span))
    }

    fn binder(&self, pair: Pair<'_, Rule>) -> Res<Binder> {
        let span = self.span(&pair);
        let inner = match pair.as_rule() {
            Rule::binder => kids(&pair).into_iter().next().expect("grammar: binder"),
            _ => pair,
        };
        match inner.as_rule() {
            Rule::binder_range => {
                let b = self.bound(inner)?;
                Ok(Binder {
                    var: b.var,
                    lo: Some((b.lo, b.lo_rel)),
                    hi: Some((b.hi, b.hi_rel)),
                    span,
                })
            }
            Rule::binder_eq => {
                let mut it = kids(&inner).into_iter();
                let var = self.ident(it.next().expect("grammar: binder var"));
                let lo = self.int_expr(it.next().expect("grammar: binder lo"), 1)?;
                Ok(Binder {
                    var,
                    lo: Some((lo, Rel::Le)),
                    hi: None,
                    span,
                })
            }
            _ => Ok(Binder {
                var: self.ident(inner),
                lo: None,
                hi: None,
                span,
            }),
        }
    }

    /// `factor`: an atom and an optional power.
    fn factor(&self, pair: Pair<'_, Rule>, depth: usize) -> Res<Expr> {
        let span = self.span(&pair);
        self.check(depth, span)?;
        let mut it = kids(&pair).into_iter();
        let atom = it.next().expect("grammar: atom");
        match it.next() {
            Some(power) => {
                let base = self.atom(atom, depth + 1)?;
                let exp = self.pow_body(power, depth + 1)?;
                Ok(Expr::Pow(Box::new(base), Box::new(exp), span))
            }
            None => self.atom(atom, depth),
        }
    }

    /// The exponent of `power`, `fn_power` or `simple_power`.
    fn pow_body(&self, power: Pair<'_, Rule>, depth: usize) -> Res<Expr> {
        let body = kids(&power)
            .into_iter()
            .next()
            .expect("grammar: power body");
        let inner = match body.as_rule() {
            Rule::pow_body => kids(&body).into_iter().next().expect("grammar: exponent"),
            _ => body,
        };
        self.operand(inner, depth)
    }

    /// A value written as an `expr` or a one-character operand.
    fn operand(&self, pair: Pair<'_, Rule>, depth: usize) -> Res<Expr> {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::expr => self.expr(pair, depth),
            Rule::digit | Rule::int_lit | Rule::number => self.number(&pair),
            Rule::latin | Rule::greek => {
                let (letter, greek) = Self::letter(&pair);
                Ok(Expr::Tensor {
                    name: TensorName {
                        letter,
                        greek,
                        label: None,
                        span,
                    },
                    subscripts: Vec::new(),
                    span,
                })
            }
            _ => self.atom(pair, depth),
        }
    }

    fn number(&self, pair: &Pair<'_, Rule>) -> Res<Expr> {
        let span = self.span(pair);
        // A decimal point right after a number (`1.2.3`, `5.`) is not a
        // second number or a product: a malformed number, not silently
        // `1.2 \cdot 0.3` or an error at whatever follows. (A statement's
        // one trailing `.` is stripped before parsing.)
        let ps = pair.as_span();
        let rest = &ps.get_input()[ps.end()..];
        if let Some(after) = rest.strip_prefix('.').filter(|a| !a.trim().is_empty()) {
            let tail = after.len()
                - after
                    .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
                    .len();
            let end = span.end + 1 + tail;
            let text = format!("{}.{}", pair.as_str(), &after[..tail]);
            let message = if pair.as_str().contains('.') || after[..tail].contains('.') {
                format!("malformed number `{text}`: a number has at most one decimal point")
            } else if tail == 0 {
                format!(
                    "a decimal point needs digits after it: write `{0}` or `{0}.0`",
                    pair.as_str()
                )
            } else {
                format!("malformed number `{text}`")
            };
            return err(Span::new(span.start, end), message);
        }
        match pair.as_str().parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(Expr::Num { value, span }),
            _ => err(span, "number out of range"),
        }
    }

    fn atom(&self, pair: Pair<'_, Rule>, depth: usize) -> Res<Expr> {
        let span = self.span(&pair);
        self.check(depth, span)?;
        match pair.as_rule() {
            Rule::number => self.number(&pair),
            Rule::tensor | Rule::sigma_tensor => {
                let mut it = kids(&pair).into_iter();
                let name = self.tensor_name(it.next().expect("grammar: tensor name"))?;
                let subscripts = match it.next() {
                    Some(sub) => self.subscript(sub, depth + 1)?,
                    None => Vec::new(),
                };
                Ok(Expr::Tensor {
                    name,
                    subscripts,
                    span,
                })
            }
            Rule::group => {
                let inner = kids(&pair).into_iter().next().expect("grammar: group body");
                self.expr(inner, depth)
            }
            Rule::frac => {
                let mut it = kids(&pair).into_iter().skip(1);
                let a = self.frac_arg(it.next().expect("grammar: numerator"), depth + 1)?;
                let b = self.frac_arg(it.next().expect("grammar: denominator"), depth + 1)?;
                Ok(Expr::Div(Box::new(a), Box::new(b), span))
            }
            Rule::user_call => {
                let mut it = kids(&pair).into_iter();
                let name = self.ident(it.next().expect("grammar: function name"));
                let callee_span = name.span;
                let args = self.args(it.next().expect("grammar: arguments"), depth + 1)?;
                Ok(Expr::Call {
                    callee: Callee::User(name),
                    callee_span,
                    args,
                    span,
                })
            }
            Rule::max_call => {
                let mut it = kids(&pair).into_iter();
                let kw = it.next().expect("grammar: max");
                let args_pair = it.next().expect("grammar: arguments");
                let args_span = self.span(&args_pair);
                let args = self.args(args_pair, depth + 1)?;
                if args.len() != 2 {
                    return err(args_span, "`\\max(a, b)` takes two arguments");
                }
                Ok(Expr::Call {
                    callee: Callee::Builtin(Builtin::Max),
                    callee_span: self.span(&kw),
                    args,
                    span,
                })
            }
            Rule::sigma_call | Rule::call | Rule::call_nb => self.call(pair, depth),
            _ => err(span, "expected an expression"),
        }
    }

    fn frac_arg(&self, pair: Pair<'_, Rule>, depth: usize) -> Res<Expr> {
        let inner = kids(&pair).into_iter().next().expect("grammar: frac arg");
        self.operand(inner, depth)
    }

    fn args(&self, pair: Pair<'_, Rule>, depth: usize) -> Res<Vec<Expr>> {
        kids(&pair)
            .into_iter()
            .map(|p| self.expr(p, depth))
            .collect()
    }

    /// A built-in call; a power on the name (`\tanh^2(x)`) wraps the call.
    fn call(&self, pair: Pair<'_, Rule>, depth: usize) -> Res<Expr> {
        let span = self.span(&pair);
        let mut name_pair = None;
        let mut power = None;
        let mut args_pair = None;
        let mut root = None;
        for p in kids(&pair) {
            match p.as_rule() {
                Rule::root_head => {
                    let mut it = kids(&p).into_iter();
                    name_pair = it.next();
                    root = it.next();
                }
                Rule::fn_name | Rule::sigma_kw => name_pair = Some(p),
                Rule::fn_power | Rule::simple_power => power = Some(p),
                _ => args_pair = Some(p),
            }
        }
        let name_pair = name_pair.expect("grammar: function name");
        let args_pair = args_pair.expect("grammar: arguments");
        let callee_span = self.span(&name_pair);
        let (builtin, written) = builtin_of(&name_pair);
        let arg_depth = depth + usize::from(power.is_some()) + 1;
        let args_span = self.span(&args_pair);
        let args = match args_pair.as_rule() {
            Rule::paren_args => self.args(args_pair, arg_depth)?,
            Rule::brace_arg => {
                let inner = kids(&args_pair).into_iter().next().expect("grammar: arg");
                vec![self.expr(inner, arg_depth)?]
            }
            // The same pieces as a product that starts with a reduction.
            Rule::reduce_arg => vec![self.product(args_pair, arg_depth)?],
            _ => {
                // bare_arg: an atom and an optional power.
                let mut it = kids(&args_pair).into_iter();
                let atom = it.next().expect("grammar: bare atom");
                match it.next() {
                    Some(pw) => {
                        let base = self.atom(atom, arg_depth + 1)?;
                        let exp = self.pow_body(pw, arg_depth + 1)?;
                        vec![Expr::Pow(Box::new(base), Box::new(exp), args_span)]
                    }
                    None => vec![self.atom(atom, arg_depth)?],
                }
            }
        };
        if args.len() != 1 {
            return err(args_span, format!("`{written}` takes one argument"));
        }
        if let Some(index) = root {
            // `\sqrt[n]{x}` is `x^{1/n}`.
            let index_span = self.span(&index);
            let n = match self.expr(index, depth + 1)? {
                Expr::Num { value, .. } if value >= 1.0 && value.fract() == 0.0 => value,
                _ => {
                    return err(
                        index_span,
                        "the index of a root must be a positive integer, like `\\sqrt[3]{x}`",
                    )
                }
            };
            let exp = Expr::Div(
                Box::new(Expr::Num {
                    value: 1.0,
                    span: index_span,
                }),
                Box::new(Expr::Num {
                    value: n,
                    span: index_span,
                }),
                index_span,
            );
            let arg = args.into_iter().next().expect("one argument");
            return Ok(Expr::Pow(Box::new(arg), Box::new(exp), span));
        }
        let call_span = span;
        let call = Expr::Call {
            callee: Callee::Builtin(builtin),
            callee_span,
            args,
            span: call_span,
        };
        match power {
            Some(p) => {
                let exp = self.pow_body(p, depth + 1)?;
                Ok(Expr::Pow(Box::new(call), Box::new(exp), span))
            }
            None => Ok(call),
        }
    }
}

/// The built-in a `fn_name` or `sigma_kw` names, and how it was written.
fn builtin_of(name: &Pair<'_, Rule>) -> (Builtin, String) {
    let text = name.as_str();
    if name.as_rule() == Rule::sqrt_kw {
        return (Builtin::Sqrt, text.to_owned());
    }
    if name.as_rule() == Rule::sigma_kw {
        return (Builtin::Sigma, text.to_owned());
    }
    if let Some(op) = name
        .clone()
        .into_inner()
        .find(|p| p.as_rule() == Rule::opname)
    {
        let word = op
            .into_inner()
            .find(|p| p.as_rule() == Rule::op_word)
            .map(|p| p.as_str().to_ascii_lowercase())
            .unwrap_or_default();
        let b = if word == "softplus" {
            Builtin::Softplus
        } else {
            Builtin::Relu
        };
        return (b, text.to_owned());
    }
    let b = match text {
        "\\exp" => Builtin::Exp,
        "\\tanh" => Builtin::Tanh,
        "\\sqrt" => Builtin::Sqrt,
        _ => Builtin::Log,
    };
    (b, text.to_owned())
}

fn collapse(mut factors: Vec<(Expr, Span)>) -> (Expr, Span) {
    if factors.len() == 1 {
        return factors.pop().expect("one factor");
    }
    let span = factors
        .first()
        .map(|f| f.1)
        .unwrap_or_default()
        .join(factors.last().map(|f| f.1).unwrap_or_default());
    (
        Expr::Product(factors.into_iter().map(|f| f.0).collect(), span),
        span,
    )
}

fn collapse_int(mut factors: Vec<(IntExpr, Span)>) -> (IntExpr, Span) {
    if factors.len() == 1 {
        return factors.pop().expect("one factor");
    }
    let span = factors
        .first()
        .map(|f| f.1)
        .unwrap_or_default()
        .join(factors.last().map(|f| f.1).unwrap_or_default());
    (
        IntExpr::Product(factors.into_iter().map(|f| f.0).collect(), span),
        span,
    )
}

/// The length of `s` without trailing whitespace and LaTeX spacing.
fn trimmed_len(s: &str) -> usize {
    const SPACING: &[&str] = &[
        "\\\\",
        "\\,",
        "\\;",
        "\\:",
        "\\!",
        "\\ ",
        "\\quad",
        "\\qquad",
        "\\displaystyle",
    ];
    let mut t = s;
    loop {
        let before = t.len();
        t = t.trim_end_matches(|c: char| c.is_ascii_whitespace() || c == '~' || c == '&');
        for sp in SPACING {
            if let Some(rest) = t.strip_suffix(sp) {
                t = rest;
                break;
            }
        }
        if t.len() == before {
            return t.len();
        }
    }
}
