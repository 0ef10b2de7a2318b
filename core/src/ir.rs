//! The intermediate representation every back end reads.
//!
//! [`Program`] is a resolved model: tensors with exact index ranges, and
//! statements whose right-hand sides are [`Expr`] trees with affine [`Poly`]
//! index maps. [`Gradient`] is its differentiated form: for every tensor on a
//! path from a leaf with a gradient to an output, an [`Adjoint`] built from
//! one [`Contribution`] per [`Occurrence`] (read) of that tensor, each both
//! in scatter form (a Kronecker delta) and in gather form (delta eliminated,
//! exact bounds).

use crate::poly::Poly;
pub use sharegrad_grammar::ast::{Builtin, DeclKind, ReduceOp, Span};
use std::collections::BTreeMap;

/// Index of a tensor in [`Program::tensors`].
pub type TensorId = usize;

/// What a tensor is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TensorKind {
    /// A declared leaf: input, param or const.
    Leaf(DeclKind),
    /// Defined by the statement with this index in [`Program::statements`].
    Defined(usize),
}

/// One dimension's inclusive range `lo ..= hi`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Range {
    /// Smallest index.
    pub lo: Poly,
    /// Largest index (inclusive).
    pub hi: Poly,
}

impl Range {
    /// Number of points, `hi - lo + 1` (may be negative at run time for empty
    /// ranges; callers clamp).
    pub fn extent(&self) -> Poly {
        self.hi.sub(&self.lo).add_int(1)
    }
}

/// A tensor: a leaf, a user-defined tensor, or an auxiliary one that the
/// resolver introduced for a reduction in a non-linear position.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Data-file key: `y^1`, `W^out`, `alpha`, or `S^{(1)}`-style for
    /// auxiliary tensors (which never appear in data files).
    pub key: String,
    /// The letter, spelled out for Greek (`alpha`).
    pub letter: String,
    /// Whether the letter is Greek.
    pub greek: bool,
    /// The label without braces.
    pub label: Option<String>,
    /// Leaf or defined.
    pub kind: TensorKind,
    /// Index variable names as declared or written on the left-hand side.
    pub indices: Vec<String>,
    /// One range per index.
    pub dims: Vec<Range>,
    /// True for tensors the resolver introduced (hoisted reductions).
    pub auxiliary: bool,
    /// Where it was declared or defined.
    pub span: Span,
}

impl Tensor {
    /// True for input and param leaves: they get gradients.
    pub fn wants_gradient(&self) -> bool {
        matches!(
            self.kind,
            TensorKind::Leaf(DeclKind::Input | DeclKind::Param)
        )
    }
    /// True for any declared leaf.
    pub fn is_leaf(&self) -> bool {
        matches!(self.kind, TensorKind::Leaf(_))
    }
}

/// Which value a read takes: the forward value or the adjoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Slot {
    /// The tensor's value.
    Value,
    /// Its adjoint `\bar{T} = \partial E / \partial T`.
    Adjoint,
}

/// A read `T_{g(i)}`; out-of-range reads are zero (zero padding).
#[derive(Clone, Debug, PartialEq)]
pub struct Read {
    /// Which tensor.
    pub tensor: TensorId,
    /// Value or adjoint.
    pub slot: Slot,
    /// One affine index expression per dimension.
    pub index: Vec<Poly>,
}

/// A function applied in an expression.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Func {
    /// A built-in; `Max` takes two arguments, the others one.
    Builtin(Builtin),
    /// A one-letter user function (`h`), or its derivative when `prime` is
    /// true (`h'`).
    User {
        /// The letter.
        name: String,
        /// Derivative instead of the function itself.
        prime: bool,
    },
}

/// A predicate inside an Iverson bracket `[P]`.
#[derive(Clone, Debug, PartialEq)]
pub enum Pred {
    /// `a > b`.
    Gt(Expr, Expr),
    /// `a \ge b`.
    Ge(Expr, Expr),
    /// The point `at` is the first maximum, in row-major order of
    /// `binders`, of `body` over the binders' ranges. The binders are fresh
    /// names bound only inside `body`.
    FirstArgMax {
        /// Bound variables with their ranges, outermost first.
        binders: Vec<(String, Range)>,
        /// What is maximised.
        body: Expr,
        /// The point tested, one per binder, in the enclosing scope.
        at: Vec<Poly>,
    },
}

/// A value expression over reads, sizes and index variables.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A number.
    Num(f64),
    /// A size used as a value (`\frac{1}{n}`).
    Size(String),
    /// An index variable used as a value.
    Index(Poly),
    /// A function parameter, inside a user function's body.
    Param(String),
    /// A tensor read.
    Read(Read),
    /// Sum of terms.
    Add(Vec<Expr>),
    /// Product of factors.
    Mul(Vec<Expr>),
    /// Negation.
    Neg(Box<Expr>),
    /// Quotient.
    Div(Box<Expr>, Box<Expr>),
    /// Power by a constant exponent.
    Pow(Box<Expr>, f64),
    /// A function call.
    Call(Func, Vec<Expr>),
    /// `\sum` or `\max` over `var` in `range` of `body`.
    Reduce {
        /// Sum or max.
        op: ReduceOp,
        /// The bound variable.
        var: String,
        /// Its inclusive range, in sizes.
        range: Range,
        /// What is reduced.
        body: Box<Expr>,
    },
    /// Iverson bracket: 1 when the predicate holds, else 0.
    Indicator(Box<Pred>),
}

impl Expr {
    /// Calls `f` on this expression and every expression inside it, outer
    /// first (the bodies of reductions and arg-max tests included).
    pub fn visit(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Num(_) | Expr::Size(_) | Expr::Index(_) | Expr::Param(_) | Expr::Read(_) => {}
            Expr::Add(xs) | Expr::Mul(xs) | Expr::Call(_, xs) => xs.iter().for_each(|x| x.visit(f)),
            Expr::Neg(x) | Expr::Pow(x, _) => x.visit(f),
            Expr::Div(a, b) => {
                a.visit(f);
                b.visit(f);
            }
            Expr::Reduce { body, .. } => body.visit(f),
            Expr::Indicator(p) => match &**p {
                Pred::Gt(a, b) | Pred::Ge(a, b) => {
                    a.visit(f);
                    b.visit(f);
                }
                Pred::FirstArgMax { body, .. } => body.visit(f),
            },
        }
    }
}

/// A model statement `X_{vars} = rhs` over the domain `X.dims`.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    /// The defined tensor.
    pub lhs: TensorId,
    /// Its index variables (same as `tensors[lhs].indices`).
    pub vars: Vec<String>,
    /// The right-hand side.
    pub rhs: Expr,
    /// True when the user wrote the bounds (reads outside ranges are zero
    /// padding); false when they were inferred ("valid" range).
    pub bounds_written: bool,
    /// Restatements of a chained equality (`x = A = B`), resolved, each
    /// with where it was written; evaluation uses `rhs`, and
    /// [`crate::eval::check_restatements`] checks that they agree with it.
    pub restated: Vec<(Expr, Span)>,
    /// The statement's source text (comments and wrappers removed).
    pub source: String,
    /// Where it was written.
    pub span: Span,
}

/// A user function `h(z) = body`, or an undefined symbolic one.
#[derive(Clone, Debug, PartialEq)]
pub struct UserFn {
    /// The letter.
    pub name: String,
    /// Parameter name.
    pub param: String,
    /// The body (uses [`Expr::Param`]), None when only used symbolically.
    pub body: Option<Expr>,
    /// The derivative of the body with respect to the parameter, simplified.
    pub derivative: Option<Expr>,
    /// Where it was defined or first used.
    pub span: Span,
}

/// A resolved model.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    /// Sizes in order of first appearance.
    pub sizes: Vec<String>,
    /// Every tensor: leaves, defined, auxiliary.
    pub tensors: Vec<Tensor>,
    /// Statements in evaluation order (file order, auxiliary statements just
    /// before the statement they were hoisted from).
    pub statements: Vec<Statement>,
    /// User functions by name.
    pub functions: BTreeMap<String, UserFn>,
    /// Output tensors, whose adjoints are seeded.
    pub outputs: Vec<TensorId>,
}

impl Program {
    /// Finds a tensor by data-file key.
    pub fn tensor_by_key(&self, key: &str) -> Option<TensorId> {
        self.tensors.iter().position(|t| t.key == key)
    }

    /// Every stride that is a size (`s` in `y_{s i + a}`, `-s` in
    /// `y_{n - s i}`), in statement order: the evaluator and the generated
    /// code both check that the sizes keep them away from zero, since the
    /// gather form divides by them.
    pub fn size_strides(&self) -> Vec<SizeStride> {
        let mut out = Vec::new();
        for (statement, st) in self.statements.iter().enumerate() {
            st.rhs.visit(&mut |e| {
                let Expr::Read(read) = e else { return };
                for index in &read.index {
                    for var in index.vars() {
                        let Some((coef, _)) = index.linear_in(&var) else {
                            continue;
                        };
                        if coef.as_const().is_none() && coef.vars().is_empty() {
                            out.push(SizeStride {
                                statement,
                                tensor: read.tensor,
                                index: index.clone(),
                                var,
                                coef,
                            });
                        }
                    }
                }
            });
        }
        out
    }
}

/// A stride that is a size, found by [`Program::size_strides`].
pub struct SizeStride {
    /// The reading statement's index in [`Program::statements`].
    pub statement: usize,
    /// The tensor read.
    pub tensor: TensorId,
    /// The index of the read that the variable enters.
    pub index: Poly,
    /// The index variable it multiplies.
    pub var: String,
    /// Its coefficient: sizes only, not a number.
    pub coef: Poly,
}

/// A read of a tensor inside a statement: one use site of, for instance, a
/// shared weight. Its multiplicity is how many index points of the
/// statement read each element.
#[derive(Clone, Debug, PartialEq)]
pub struct Occurrence {
    /// The tensor read.
    pub tensor: TensorId,
    /// The reading statement's index in [`Program::statements`].
    pub statement: usize,
    /// The read's index map `g(i, r)`.
    pub index: Vec<Poly>,
    /// The points that perform this read: the statement's variables and the
    /// reduction variables enclosing the read, with ranges.
    pub scope: Vec<(String, Range)>,
    /// The local derivative of the statement's right-hand side with respect
    /// to this read, a function of the scope variables.
    pub partial: Expr,
}

/// One gather sum `\sum_{var=lo}^{hi}`, with `hi`/`lo` possibly `\max`/`\min`
/// of several bounds (the boundary conditions).
#[derive(Clone, Debug, PartialEq)]
pub struct SumVar {
    /// The summation variable.
    pub var: String,
    /// Inclusive range; may depend on target indices and outer sum variables.
    pub range: Range,
}

/// A condition left after delta elimination.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    /// `den` divides `num` (strides): `den \mid num`.
    Divides {
        /// The divisor (positive).
        den: Poly,
        /// The dividend.
        num: Poly,
    },
    /// `lo \le e \le hi`.
    Within {
        /// The constrained expression.
        e: Poly,
        /// Inclusive lower limit.
        lo: Poly,
        /// Inclusive upper limit.
        hi: Poly,
    },
}

/// One occurrence's contribution to an adjoint, before delta elimination:
/// `\sum_{scope} [g(scope) = k] \bar{X}_{vars} \, \partial rhs / \partial read`.
#[derive(Clone, Debug, PartialEq)]
pub struct Scatter {
    /// Summation variables: the reading statement's variables and the
    /// enclosing reductions', with their ranges.
    pub sums: Vec<SumVar>,
    /// The delta, one `(g_d, k_d)` pair per dimension.
    pub delta: Vec<(Poly, String)>,
    /// `\bar{X}_{vars}` times the local partial derivative.
    pub factor: Expr,
}

/// The same contribution after delta elimination: each target point sums
/// over a range bounded by the kernel, never by the output.
#[derive(Clone, Debug, PartialEq)]
pub struct Gather {
    /// The variables solved from the delta, with their solutions in terms of
    /// the target indices and the remaining sums.
    pub solved: Vec<(String, Poly)>,
    /// Remaining sums, outermost first; bounds may depend on outer ones.
    pub sums: Vec<SumVar>,
    /// Conditions on target indices and sums (strides, equalities).
    pub conds: Vec<Cond>,
    /// The summand with the solutions substituted.
    pub body: Expr,
}

/// One term of an adjoint: what one occurrence passes back.
#[derive(Clone, Debug, PartialEq)]
pub struct Contribution {
    /// Index into [`Gradient::occurrences`].
    pub occurrence: usize,
    /// Before delta elimination.
    pub scatter: Scatter,
    /// After delta elimination and simplification.
    pub gather: Gather,
}

/// `\bar{T}_{vars} = [seed] + \sum_{contributions}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Adjoint {
    /// The tensor.
    pub tensor: TensorId,
    /// Target index variables, fresh with respect to every contribution.
    pub vars: Vec<String>,
    /// True when the tensor is an output (its seed is added).
    pub seeded: bool,
    /// One per occurrence of the tensor in a statement that needs it.
    pub terms: Vec<Contribution>,
}

/// The differentiated program.
#[derive(Clone, Debug, PartialEq)]
pub struct Gradient {
    /// Every read of every tensor, in statement order then read order.
    pub occurrences: Vec<Occurrence>,
    /// Adjoints in the order they can be computed (reverse statement order;
    /// leaves last).
    pub adjoints: Vec<Adjoint>,
}

impl Gradient {
    /// The adjoint of a tensor, if it has one.
    pub fn adjoint_of(&self, t: TensorId) -> Option<&Adjoint> {
        self.adjoints.iter().find(|a| a.tensor == t)
    }
}
