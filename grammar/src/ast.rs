//! The syntax tree: what the user wrote, with byte ranges, before any
//! name resolution. Nothing here knows whether `h` is a function or a tensor,
//! whether `n` is a size or an index: `sharegrad-core`'s resolver decides.

/// A byte range `start..end` in the source text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// The range `start..end`.
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
    /// The smallest range covering both.
    pub fn join(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// A whole `.eq` file: its statements in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct File {
    /// Statements in file order.
    pub items: Vec<Item>,
}

/// One statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// `input y_i, 0 \le i < n` (also `param`, `const`).
    Decl(Decl),
    /// `output y^2` or `output E, y`.
    Output(Output),
    /// `h(z) = \tanh(z)`.
    FnDef(FnDef),
    /// `x^2_i = \sum_{a=1}^{3} w_a y^1_{i+a-1}` with optional bounds.
    Equation(Equation),
}

/// Which kind of leaf a declaration introduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeclKind {
    /// `input`: gets a gradient.
    Input,
    /// `param`: a learnable weight; gets a gradient.
    Param,
    /// `const`: data without gradient.
    Const,
}

/// A tensor's name: one Latin letter or Greek command, and an optional label.
/// `y^1` is `{letter: "y", label: Some("1")}`, `y^{(1)}` has label `"(1)"`,
/// `\alpha` has letter `"alpha"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorName {
    /// `y`, `W`, or a Greek letter spelled out without backslash: `alpha`.
    pub letter: String,
    /// True when the letter was a Greek command (`\alpha`).
    pub greek: bool,
    /// The label without braces: `1`, `(1)`, `out`.
    pub label: Option<String>,
    /// Range of the letter and label.
    pub span: Span,
}

impl TensorName {
    /// The key used in data files: `y^0`, `y^(1)`, `W^out`, `alpha`.
    pub fn key(&self) -> String {
        match &self.label {
            Some(l) => format!("{}^{}", self.letter, l),
            None => self.letter.clone(),
        }
    }
}

/// A single-letter identifier (index variable, size, function parameter)
/// or a multi-letter size name as written in a bound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    /// The name as written, Greek without backslash.
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

/// An integer expression: index expressions in subscripts, bounds and
/// reduction limits. `2i+a-1`, `s i + d a - p`, `\lfloor n/2 \rfloor`.
#[derive(Clone, Debug, PartialEq)]
pub enum IntExpr {
    /// An integer literal.
    Num(i64, Span),
    /// A letter: an index variable or a size (decided by the resolver).
    Sym(Ident),
    /// `a + b + ...`, flattened; each term carries its sign (`true` = minus).
    Sum(Vec<(bool, IntExpr)>, Span),
    /// `a b`, `2i`, `a * b`, `a \cdot b`, flattened.
    Product(Vec<IntExpr>, Span),
    /// `-a`.
    Neg(Box<IntExpr>, Span),
    /// `\lfloor a / b \rfloor`.
    FloorDiv(Box<IntExpr>, Box<IntExpr>, Span),
    /// `\lceil a / b \rceil`.
    CeilDiv(Box<IntExpr>, Box<IntExpr>, Span),
    /// `a / b` or `\frac{a}{b}` written without floor or ceiling: an error
    /// in bounds unless exact; kept so the resolver can say so.
    Div(Box<IntExpr>, Box<IntExpr>, Span),
}

impl IntExpr {
    /// The sub-expressions, in the order written.
    pub fn children(&self) -> Vec<&IntExpr> {
        match self {
            IntExpr::Num(..) | IntExpr::Sym(_) => Vec::new(),
            IntExpr::Sum(ts, _) => ts.iter().map(|(_, t)| t).collect(),
            IntExpr::Product(fs, _) => fs.iter().collect(),
            IntExpr::Neg(a, _) => vec![&**a],
            IntExpr::FloorDiv(a, b, _) | IntExpr::CeilDiv(a, b, _) | IntExpr::Div(a, b, _) => {
                vec![&**a, &**b]
            }
        }
    }

    /// The range this expression was written at.
    pub fn span(&self) -> Span {
        match self {
            IntExpr::Num(_, s)
            | IntExpr::Sum(_, s)
            | IntExpr::Product(_, s)
            | IntExpr::Neg(_, s)
            | IntExpr::FloorDiv(_, _, s)
            | IntExpr::CeilDiv(_, _, s)
            | IntExpr::Div(_, _, s) => *s,
            IntExpr::Sym(i) => i.span,
        }
    }
}

/// The relation between a bound and its variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rel {
    /// `<`
    Lt,
    /// `\le` or `\leq`
    Le,
}

/// `LO \le i < HI` (or `\le HI`), as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Bound {
    /// Lower limit.
    pub lo: IntExpr,
    /// `\le` or `<` between LO and the variable.
    pub lo_rel: Rel,
    /// The bounded variable.
    pub var: Ident,
    /// `<` or `\le` between the variable and HI.
    pub hi_rel: Rel,
    /// Upper limit.
    pub hi: IntExpr,
    /// The whole bound.
    pub span: Span,
}

/// A declaration: `input y_{c,i}, 0 \le c < C, 0 \le i < n`.
#[derive(Clone, Debug, PartialEq)]
pub struct Decl {
    /// input, param or const.
    pub kind: DeclKind,
    /// The keyword's range.
    pub kind_span: Span,
    /// The tensor.
    pub name: TensorName,
    /// Subscripts as written (the resolver requires plain distinct letters).
    pub indices: Vec<IntExpr>,
    /// Bounds, one per index.
    pub bounds: Vec<Bound>,
    /// The whole statement.
    pub span: Span,
}

/// `output y^2, E`.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    /// The named tensors.
    pub names: Vec<TensorName>,
    /// The whole statement.
    pub span: Span,
}

/// `h(z) = \tanh(z)`.
#[derive(Clone, Debug, PartialEq)]
pub struct FnDef {
    /// The function's one-letter name.
    pub name: Ident,
    /// Parameters as written (the resolver requires exactly one).
    pub params: Vec<Ident>,
    /// The body; the parameter appears in it as a scalar [`Expr::Tensor`]
    /// without label or subscripts.
    pub body: Expr,
    /// The whole statement.
    pub span: Span,
}

/// `LHS = RHS [= RHS ...] [, bounds]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Equation {
    /// The defined tensor.
    pub lhs: TensorName,
    /// Its subscripts as written (the resolver requires plain distinct letters).
    pub lhs_indices: Vec<IntExpr>,
    /// Range of the LHS with its subscripts.
    pub lhs_span: Span,
    /// The right-hand side.
    pub rhs: Expr,
    /// Further right-hand sides of a chain `x = A = B` (as in the seed's
    /// `aligned` block); each restates the first.
    pub restated: Vec<Expr>,
    /// Bounds of the LHS indices, when written.
    pub bounds: Vec<Bound>,
    /// The whole statement.
    pub span: Span,
}

/// A built-in function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Builtin {
    /// `\exp`
    Exp,
    /// `\log` (also `\ln`)
    Log,
    /// `\tanh`
    Tanh,
    /// `\sigma`: the logistic function.
    Sigma,
    /// `\sqrt{}`
    Sqrt,
    /// `\operatorname{relu}`
    Relu,
    /// `\operatorname{softplus}`
    Softplus,
    /// `\max(a, b)`: two arguments.
    Max,
}

/// The function applied in a call.
#[derive(Clone, Debug, PartialEq)]
pub enum Callee {
    /// A built-in.
    Builtin(Builtin),
    /// A one-letter name applied to parenthesised arguments: `h(x^1_i)`.
    /// May also be a scalar tensor times a parenthesised factor; the
    /// resolver decides.
    User(Ident),
}

/// Which reduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReduceOp {
    /// `\sum`
    Sum,
    /// `\max`
    Max,
}

/// One variable bound by a reduction: `a=1` with upper `3`, `0 \le a < K`,
/// or a bare `a`.
#[derive(Clone, Debug, PartialEq)]
pub struct Binder {
    /// The reduced variable.
    pub var: Ident,
    /// The lower limit and whether it is inclusive (`a=1`, `0 \le a`: true;
    /// `0 < a`: false). None when not written.
    pub lo: Option<(IntExpr, Rel)>,
    /// The upper limit: `^{3}` (inclusive, `Rel::Le`) or `a < K` (`Rel::Lt`).
    pub hi: Option<(IntExpr, Rel)>,
    /// Range of this binder.
    pub span: Span,
}

/// A value expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A decimal literal.
    Num {
        /// Its value.
        value: f64,
        /// Where.
        span: Span,
    },
    /// A tensor read `y^1_{i+a-1}`, a scalar `b`, or (inside a function
    /// body) the parameter `z`. `subscripts` is empty when none was written.
    Tensor {
        /// The name.
        name: TensorName,
        /// Subscripts.
        subscripts: Vec<IntExpr>,
        /// The whole read.
        span: Span,
    },
    /// `a + b - c`, flattened; each term carries its sign (`true` = minus).
    Sum(Vec<(bool, Expr)>, Span),
    /// A product of factors (`w_a y_i`, `a * b`, `a \cdot b`), flattened.
    Product(Vec<Expr>, Span),
    /// `a / b`, `\frac{a}{b}`.
    Div(Box<Expr>, Box<Expr>, Span),
    /// Unary minus.
    Neg(Box<Expr>, Span),
    /// `base^{exponent}`; the exponent is a value expression (the resolver
    /// requires a constant).
    Pow(Box<Expr>, Box<Expr>, Span),
    /// `\exp(x)`, `h(x)`, `\max(a, b)`. A power written on the function
    /// name (`\tanh^2(x)`) is parsed as `Pow(Call)`.
    Call {
        /// What is called.
        callee: Callee,
        /// Range of the function name.
        callee_span: Span,
        /// Arguments.
        args: Vec<Expr>,
        /// The whole call.
        span: Span,
    },
    /// `\sum_{a=1}^{3} body`, `\max_{a,b} body`.
    Reduce {
        /// Sum or max.
        op: ReduceOp,
        /// Bound variables, outermost first.
        binders: Vec<Binder>,
        /// The product term that follows.
        body: Box<Expr>,
        /// The whole reduction.
        span: Span,
    },
}

impl Expr {
    /// The range this expression was written at.
    pub fn span(&self) -> Span {
        match self {
            Expr::Num { span, .. }
            | Expr::Tensor { span, .. }
            | Expr::Call { span, .. }
            | Expr::Reduce { span, .. } => *span,
            Expr::Sum(_, s) | Expr::Product(_, s) => *s,
            Expr::Div(_, _, s) | Expr::Neg(_, s) | Expr::Pow(_, _, s) => *s,
        }
    }

    /// The sub-expressions, in the order written (a reduction's body; not
    /// its limits, which are integer expressions).
    pub fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Num { .. } | Expr::Tensor { .. } => Vec::new(),
            Expr::Sum(ts, _) => ts.iter().map(|(_, t)| t).collect(),
            Expr::Product(fs, _) => fs.iter().collect(),
            Expr::Div(a, b, _) | Expr::Pow(a, b, _) => vec![&**a, &**b],
            Expr::Neg(a, _) => vec![&**a],
            Expr::Call { args, .. } => args.iter().collect(),
            Expr::Reduce { body, .. } => vec![&**body],
        }
    }
}

/// A syntax error: where, and what was expected there in the user's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where the problem is (often one character wide).
    pub span: Span,
    /// A lower-case message without final period, e.g.
    /// "expected `}` or an index expression".
    pub message: String,
}
