//! Integer expressions over sizes and index variables, kept in a canonical
//! form: a sum of monomials with integer coefficients, where a monomial is a
//! sorted product of atoms (a size, an index variable, or a non-polynomial
//! node such as `\lfloor p/q \rfloor` or `\max(p, q)`).
//!
//! Index maps (`2i+a-1`), tensor bounds (`0 \le i \le \lfloor (L-2)/2 \rfloor`)
//! and the boundary conditions of a gather are all [`Poly`]s, so equal
//! expressions compare equal and substitution re-normalises.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A factor of a monomial.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Atom {
    /// A size, bound at run time (`n`, `C`).
    Size(String),
    /// An index variable (`i`, `a`, a fresh `k`, a primed `a'`).
    Var(String),
    /// `\lfloor p / q \rfloor`, q > 0 at run time.
    FloorDiv(Box<Poly>, Box<Poly>),
    /// `\lceil p / q \rceil`, q > 0 at run time.
    CeilDiv(Box<Poly>, Box<Poly>),
    /// `p / q` where a [`crate::ir::Cond::Divides`] guarantees exactness.
    ExactDiv(Box<Poly>, Box<Poly>),
    /// The largest of two or more.
    Max(Vec<Poly>),
    /// The smallest of two or more.
    Min(Vec<Poly>),
}

/// A product of atoms, sorted; empty is the constant monomial 1.
pub type Monomial = Vec<Atom>;

/// A canonical integer polynomial: monomial to non-zero coefficient.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Poly {
    terms: BTreeMap<Monomial, i64>,
}

impl Poly {
    /// The constant `c`.
    pub fn int(c: i64) -> Poly {
        let mut p = Poly::default();
        if c != 0 {
            p.terms.insert(Vec::new(), c);
        }
        p
    }
    /// Zero.
    pub fn zero() -> Poly {
        Poly::default()
    }
    /// The size `name`.
    pub fn size(name: &str) -> Poly {
        Poly::atom(Atom::Size(name.to_string()))
    }
    /// The index variable `name`.
    pub fn var(name: &str) -> Poly {
        Poly::atom(Atom::Var(name.to_string()))
    }
    /// A single atom with coefficient 1.
    pub fn atom(a: Atom) -> Poly {
        let mut p = Poly::default();
        p.terms.insert(vec![a], 1);
        p
    }
    /// The terms, monomial to coefficient, in canonical order.
    pub fn terms(&self) -> impl Iterator<Item = (&Monomial, i64)> {
        self.terms.iter().map(|(m, c)| (m, *c))
    }
    /// The value, when the expression is a plain integer.
    pub fn as_const(&self) -> Option<i64> {
        match self.terms.len() {
            0 => Some(0),
            1 => self.terms.get(&Vec::new()).copied(),
            _ => None,
        }
    }
    /// The constant term.
    pub fn constant(&self) -> i64 {
        self.terms.get(&Vec::new()).copied().unwrap_or(0)
    }
    /// True for the zero polynomial.
    pub fn is_zero(&self) -> bool {
        self.terms.is_empty()
    }
    /// `self + other`.
    pub fn add(&self, other: &Poly) -> Poly {
        let mut p = self.clone();
        for (m, c) in &other.terms {
            p.add_term(m.clone(), *c);
        }
        p
    }
    /// `self - other`.
    pub fn sub(&self, other: &Poly) -> Poly {
        self.add(&other.neg())
    }
    /// `-self`.
    pub fn neg(&self) -> Poly {
        self.scale(-1)
    }
    /// `c * self`.
    pub fn scale(&self, c: i64) -> Poly {
        let mut p = Poly::default();
        if c == 0 {
            return p;
        }
        for (m, k) in &self.terms {
            p.terms.insert(m.clone(), k.saturating_mul(c));
        }
        p
    }
    /// `self + c`.
    pub fn add_int(&self, c: i64) -> Poly {
        self.add(&Poly::int(c))
    }
    /// `self * other`.
    pub fn mul(&self, other: &Poly) -> Poly {
        let mut p = Poly::default();
        for (m1, c1) in &self.terms {
            for (m2, c2) in &other.terms {
                let mut m = m1.clone();
                m.extend(m2.iter().cloned());
                m.sort();
                p.add_term(m, c1.saturating_mul(*c2));
            }
        }
        p
    }
    fn add_term(&mut self, m: Monomial, c: i64) {
        let e = self.terms.entry(m).or_insert(0);
        *e = e.saturating_add(c);
        if *e == 0 {
            let zero: Vec<_> = self
                .terms
                .iter()
                .filter(|(_, c)| **c == 0)
                .map(|(m, _)| m.clone())
                .collect();
            for m in zero {
                self.terms.remove(&m);
            }
        }
    }

    /// The greatest common divisor of all coefficients (0 for zero).
    pub fn content(&self) -> i64 {
        self.terms.values().fold(0, |g, c| gcd(g, c.abs()))
    }

    /// `\lfloor self / q \rfloor`, folded where q is a constant dividing every
    /// coefficient or both sides are constants.
    pub fn floor_div(&self, q: &Poly) -> Poly {
        self.div_with(q, DivKind::Floor)
    }
    /// `\lceil self / q \rceil`, folded like [`Poly::floor_div`].
    pub fn ceil_div(&self, q: &Poly) -> Poly {
        self.div_with(q, DivKind::Ceil)
    }
    /// `self / q`, exact by a condition kept elsewhere.
    pub fn exact_div(&self, q: &Poly) -> Poly {
        self.div_with(q, DivKind::Exact)
    }
    fn div_with(&self, q: &Poly, kind: DivKind) -> Poly {
        if let Some(d) = q.as_const() {
            if d == 1 {
                return self.clone();
            }
            if d == -1 {
                return self.neg();
            }
            if d != 0 {
                if let Some(n) = self.as_const() {
                    let (n, d) = if d < 0 { (-n, -d) } else { (n, d) };
                    return Poly::int(match kind {
                        DivKind::Floor | DivKind::Exact => n.div_euclid(d),
                        DivKind::Ceil => -((-n).div_euclid(d)),
                    });
                }
                if self.content() % d == 0 {
                    let mut p = Poly::default();
                    for (m, c) in &self.terms {
                        p.terms.insert(m.clone(), c / d);
                    }
                    return p;
                }
                // Split off whole multiples of d from the constant term when the
                // rest divides: floor((d*x + c)/d) = x + floor(c/d).
                let c0 = self.constant();
                let rest = self.add_int(-c0);
                if d > 0 && rest.content() % d == 0 && !rest.is_zero() {
                    let whole = rest.div_with(q, DivKind::Exact);
                    let part = match kind {
                        DivKind::Floor => Some(c0.div_euclid(d)),
                        DivKind::Ceil => Some(-((-c0).div_euclid(d))),
                        DivKind::Exact => None,
                    };
                    if let Some(part) = part {
                        return whole.add_int(part);
                    }
                }
            }
        }
        if self == q && !self.is_zero() {
            return Poly::int(1);
        }
        // By one size `s` (positive): `0 / s = 0`, and when every term
        // holds `s` the quotient is exact, `(s g - s) / s = g - 1`, under any
        // rounding.
        if let Some((m, 1)) = q.terms.iter().next().filter(|_| q.terms.len() == 1) {
            if let [a @ Atom::Size(_)] = m.as_slice() {
                if self.is_zero() {
                    return Poly::zero();
                }
                // Dropping one `s` from each (sorted) monomial keeps them
                // sorted and distinct.
                let quotient: Option<BTreeMap<Monomial, i64>> = self
                    .terms
                    .iter()
                    .map(|(t, c)| {
                        let k = t.iter().position(|x| x == a)?;
                        let mut t = t.clone();
                        t.remove(k);
                        Some((t, *c))
                    })
                    .collect();
                if let Some(terms) = quotient {
                    return Poly { terms };
                }
            }
        }
        let (a, b) = (Box::new(self.clone()), Box::new(q.clone()));
        Poly::atom(match kind {
            DivKind::Floor => Atom::FloorDiv(a, b),
            DivKind::Ceil => Atom::CeilDiv(a, b),
            DivKind::Exact => Atom::ExactDiv(a, b),
        })
    }

    /// The larger of the two, folded when their difference is a constant.
    pub fn max_of(&self, other: &Poly) -> Poly {
        minmax(self, other, true)
    }
    /// The smaller of the two, folded when their difference is a constant.
    pub fn min_of(&self, other: &Poly) -> Poly {
        minmax(self, other, false)
    }

    /// Every index variable that occurs, inside atoms too.
    pub fn vars(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.visit_atoms(&mut |a| {
            if let Atom::Var(v) = a {
                out.insert(v.clone());
            }
        });
        out
    }
    /// Every size that occurs, inside atoms too.
    pub fn sizes(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.visit_atoms(&mut |a| {
            if let Atom::Size(v) = a {
                out.insert(v.clone());
            }
        });
        out
    }
    /// True when `var` occurs anywhere.
    pub fn mentions(&self, var: &str) -> bool {
        self.vars().contains(var)
    }
    fn visit_atoms(&self, f: &mut dyn FnMut(&Atom)) {
        for m in self.terms.keys() {
            for a in m {
                f(a);
                match a {
                    Atom::FloorDiv(p, q) | Atom::CeilDiv(p, q) | Atom::ExactDiv(p, q) => {
                        p.visit_atoms(f);
                        q.visit_atoms(f);
                    }
                    Atom::Max(ps) | Atom::Min(ps) => ps.iter().for_each(|p| p.visit_atoms(f)),
                    Atom::Size(_) | Atom::Var(_) => {}
                }
            }
        }
    }

    /// Splits `self = coef * var + rest` when `self` is affine in `var`
    /// (var only in degree-one monomials, never inside an atom). The
    /// coefficient may be a polynomial in sizes. None when not affine.
    pub fn linear_in(&self, var: &str) -> Option<(Poly, Poly)> {
        let v = Atom::Var(var.to_string());
        let mut coef = Poly::default();
        let mut rest = Poly::default();
        for (m, c) in &self.terms {
            let n = m.iter().filter(|a| **a == v).count();
            let inside = m.iter().any(|a| {
                !matches!(a, Atom::Var(_) | Atom::Size(_)) && {
                    let p = Poly::atom(a.clone());
                    p.mentions(var)
                }
            });
            if inside || n > 1 {
                return None;
            }
            if n == 1 {
                let other: Monomial = m.iter().filter(|a| **a != v).cloned().collect();
                coef.add_term(other, *c);
            } else {
                rest.add_term(m.clone(), *c);
            }
        }
        Some((coef, rest))
    }

    /// Replaces the index variable `var` by `by` everywhere and re-normalises.
    pub fn substitute(&self, var: &str, by: &Poly) -> Poly {
        self.map_atoms(&|a| match a {
            Atom::Var(v) if v == var => Some(by.clone()),
            _ => None,
        })
    }
    /// Replaces every size by its value and every variable found in `vars`.
    pub fn map_atoms(&self, f: &dyn Fn(&Atom) -> Option<Poly>) -> Poly {
        let mut out = Poly::zero();
        for (m, c) in &self.terms {
            let mut prod = Poly::int(*c);
            for a in m {
                let p = match f(a) {
                    Some(p) => p,
                    None => match a {
                        Atom::Size(_) | Atom::Var(_) => Poly::atom(a.clone()),
                        Atom::FloorDiv(p, q) => p.map_atoms(f).floor_div(&q.map_atoms(f)),
                        Atom::CeilDiv(p, q) => p.map_atoms(f).ceil_div(&q.map_atoms(f)),
                        Atom::ExactDiv(p, q) => p.map_atoms(f).exact_div(&q.map_atoms(f)),
                        Atom::Max(ps) => fold_minmax(ps.iter().map(|p| p.map_atoms(f)), true),
                        Atom::Min(ps) => fold_minmax(ps.iter().map(|p| p.map_atoms(f)), false),
                    },
                };
                prod = prod.mul(&p);
            }
            out = out.add(&prod);
        }
        out
    }

    /// Evaluates with the given sizes and variables; None when a name is
    /// missing or a division by a non-positive number occurs.
    pub fn eval(&self, lookup: &dyn Fn(&Atom) -> Option<i64>) -> Option<i64> {
        let mut total: i64 = 0;
        for (m, c) in &self.terms {
            let mut prod = *c;
            for a in m {
                let v = match a {
                    Atom::Size(_) | Atom::Var(_) => lookup(a)?,
                    Atom::FloorDiv(p, q) | Atom::CeilDiv(p, q) | Atom::ExactDiv(p, q) => {
                        let (n, d) = (p.eval(lookup)?, q.eval(lookup)?);
                        if d <= 0 {
                            return None;
                        }
                        match a {
                            Atom::CeilDiv(..) => -((-n).div_euclid(d)),
                            _ => n.div_euclid(d),
                        }
                    }
                    Atom::Max(ps) => ps
                        .iter()
                        .map(|p| p.eval(lookup))
                        .collect::<Option<Vec<_>>>()?
                        .into_iter()
                        .max()?,
                    Atom::Min(ps) => ps
                        .iter()
                        .map(|p| p.eval(lookup))
                        .collect::<Option<Vec<_>>>()?
                        .into_iter()
                        .min()?,
                };
                prod = prod.checked_mul(v)?;
            }
            total = total.checked_add(prod)?;
        }
        Some(total)
    }

    /// The sign of a coefficient made of sizes, assuming sizes are positive:
    /// `Some(1)` when every coefficient is positive and no atom can be
    /// negative, `Some(-1)` for the mirror case, None otherwise.
    pub fn sign_assuming_positive_sizes(&self) -> Option<i64> {
        if self.is_zero() {
            return Some(0);
        }
        let plain = self
            .terms
            .keys()
            .all(|m| m.iter().all(|a| matches!(a, Atom::Size(_))));
        if !plain {
            return None;
        }
        if self.terms.values().all(|c| *c > 0) {
            Some(1)
        } else if self.terms.values().all(|c| *c < 0) {
            Some(-1)
        } else {
            None
        }
    }
}

#[derive(Clone, Copy)]
enum DivKind {
    Floor,
    Ceil,
    Exact,
}

/// Greatest common divisor of non-negative numbers.
pub fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn minmax(a: &Poly, b: &Poly, is_max: bool) -> Poly {
    fold_minmax([a.clone(), b.clone()].into_iter(), is_max)
}

/// Folds a list into one `max`/`min`: flattens nested ones, drops an
/// operand that another dominates by a constant, sorts the rest.
fn fold_minmax(items: impl Iterator<Item = Poly>, is_max: bool) -> Poly {
    let mut flat: Vec<Poly> = Vec::new();
    for p in items {
        let nested = match p.terms.iter().next() {
            Some((m, 1)) if p.terms.len() == 1 && m.len() == 1 => match (&m[0], is_max) {
                (Atom::Max(ps), true) | (Atom::Min(ps), false) => Some(ps.clone()),
                _ => None,
            },
            _ => None,
        };
        match nested {
            Some(ps) => flat.extend(ps),
            None => flat.push(p),
        }
    }
    let mut kept: Vec<Poly> = Vec::new();
    'next: for p in flat {
        for q in kept.iter_mut() {
            if let Some(d) = p.sub(q).as_const() {
                // p - q = d: keep whichever wins.
                if (is_max && d > 0) || (!is_max && d < 0) {
                    *q = p;
                }
                continue 'next;
            }
        }
        kept.push(p);
    }
    kept.sort();
    if kept.len() == 1 {
        return kept.pop().unwrap_or_default();
    }
    Poly::atom(if is_max {
        Atom::Max(kept)
    } else {
        Atom::Min(kept)
    })
}

impl fmt::Display for Poly {
    /// Plain text, for messages and `check`: `2i + a - 1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.terms.is_empty() {
            return write!(f, "0");
        }
        // Constant last, like people write it.
        let mut ordered: Vec<(&Monomial, &i64)> =
            self.terms.iter().filter(|(m, _)| !m.is_empty()).collect();
        if let Some(c) = self.terms.get(&Vec::new()) {
            ordered.push((&EMPTY, c));
        }
        for (n, (m, c)) in ordered.into_iter().enumerate() {
            let c = *c;
            let mag = c.abs();
            if n == 0 {
                if c < 0 {
                    write!(f, "-")?;
                }
            } else {
                write!(f, "{}", if c < 0 { " - " } else { " + " })?;
            }
            if m.is_empty() {
                write!(f, "{mag}")?;
                continue;
            }
            if mag != 1 {
                write!(f, "{mag}")?;
            }
            for (k, a) in m.iter().enumerate() {
                if k > 0 || mag != 1 {
                    if matches!(a, Atom::Size(_) | Atom::Var(_)) && k == 0 {
                        // 2i
                    } else {
                        write!(f, "*")?;
                    }
                }
                write!(f, "{a}")?;
            }
        }
        Ok(())
    }
}

static EMPTY: Monomial = Vec::new();

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Atom::Size(s) | Atom::Var(s) => write!(f, "{s}"),
            Atom::FloorDiv(p, q) => write!(f, "floor(({p})/({q}))"),
            Atom::CeilDiv(p, q) => write!(f, "ceil(({p})/({q}))"),
            Atom::ExactDiv(p, q) => write!(f, "({p})/({q})"),
            Atom::Max(ps) => {
                write!(f, "max(")?;
                for (i, p) in ps.iter().enumerate() {
                    write!(f, "{}{p}", if i > 0 { ", " } else { "" })?;
                }
                write!(f, ")")
            }
            Atom::Min(ps) => {
                write!(f, "min(")?;
                for (i, p) in ps.iter().enumerate() {
                    write!(f, "{}{p}", if i > 0 { ", " } else { "" })?;
                }
                write!(f, ")")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i() -> Poly {
        Poly::var("i")
    }
    fn a() -> Poly {
        Poly::var("a")
    }
    fn n() -> Poly {
        Poly::size("n")
    }

    #[test]
    fn like_terms_collect() {
        let p = i().add(&a()).add_int(-1).sub(&a());
        assert_eq!(p, i().add_int(-1));
        assert_eq!(p.to_string(), "i - 1");
    }

    #[test]
    fn floor_div_folds_constants_and_divisible_parts() {
        assert_eq!(Poly::int(7).floor_div(&Poly::int(2)), Poly::int(3));
        assert_eq!(Poly::int(-7).floor_div(&Poly::int(2)), Poly::int(-4));
        assert_eq!(Poly::int(-7).ceil_div(&Poly::int(2)), Poly::int(-3));
        assert_eq!(
            n().scale(2).add_int(2).floor_div(&Poly::int(2)),
            n().add_int(1)
        );
        // floor((2n - 3)/2) = n - 2
        assert_eq!(
            n().scale(2).add_int(-3).floor_div(&Poly::int(2)),
            n().add_int(-2)
        );
        assert_eq!(
            n().scale(2).add_int(-3).ceil_div(&Poly::int(2)),
            n().add_int(-1)
        );
        assert!(matches!(
            n().floor_div(&Poly::int(2)).terms().next().unwrap().0[0],
            Atom::FloorDiv(..)
        ));
    }

    /// By one size: `0/C = 0`, and `(C G - C)/C = G - 1` when every term
    /// holds `C` (a group norm's `x_{C g + c}` infers `0 \le g \le G - 1`);
    /// otherwise the quotient stays an atom.
    #[test]
    fn division_by_a_size_that_divides_every_term() {
        let (c, g) = (Poly::size("C"), Poly::size("G"));
        assert_eq!(Poly::zero().ceil_div(&c), Poly::zero());
        let num = c.mul(&g).sub(&c);
        for q in [num.floor_div(&c), num.ceil_div(&c), num.exact_div(&c)] {
            assert_eq!(q, g.add_int(-1));
        }
        // C^2 n / C = C n
        assert_eq!(c.mul(&c).mul(&n()).floor_div(&c), c.mul(&n()));
        // (C G - 1)/C does not divide: floor keeps its atom.
        assert!(matches!(
            c.mul(&g)
                .add_int(-1)
                .floor_div(&c)
                .terms()
                .next()
                .unwrap()
                .0[0],
            Atom::FloorDiv(..)
        ));
        // Nor does a product of sizes as the divisor.
        assert!(matches!(
            c.mul(&g)
                .floor_div(&c.mul(&g).scale(2))
                .terms()
                .next()
                .unwrap()
                .0[0],
            Atom::FloorDiv(..)
        ));
    }

    #[test]
    fn max_min_drop_dominated_operands() {
        assert_eq!(n().max_of(&n().add_int(-2)), n());
        assert_eq!(n().min_of(&n().add_int(-2)), n().add_int(-2));
        assert_eq!(Poly::int(0).max_of(&Poly::int(3)), Poly::int(3));
        let m = Poly::int(0).max_of(&i().add_int(-2)).max_of(&Poly::int(1));
        assert_eq!(m.to_string(), "max(i - 2, 1)");
    }

    #[test]
    fn linear_split_and_substitution() {
        let g = i().scale(2).add(&a()).add_int(-1);
        let (c, r) = g.linear_in("i").unwrap();
        assert_eq!(c, Poly::int(2));
        assert_eq!(r, a().add_int(-1));
        let (c, _) = i().mul(&Poly::size("s")).linear_in("i").unwrap();
        assert_eq!(c, Poly::size("s"));
        assert!(i().mul(&a()).linear_in("i").is_some());
        assert!(i().mul(&i()).linear_in("i").is_none());
        assert_eq!(g.substitute("i", &Poly::var("k")).to_string(), "a + 2k - 1");
    }

    #[test]
    fn evaluation_uses_floor_semantics() {
        let p = n().add_int(-2).floor_div(&Poly::int(2)).add_int(1);
        let at = |nv: i64| p.eval(&|a| matches!(a, Atom::Size(_)).then_some(nv));
        assert_eq!(at(9), Some(4));
        assert_eq!(at(8), Some(4));
        assert_eq!(at(1), Some(0));
    }

    #[test]
    fn sign_of_size_coefficients() {
        assert_eq!(Poly::size("s").sign_assuming_positive_sizes(), Some(1));
        assert_eq!(
            Poly::size("s").neg().sign_assuming_positive_sizes(),
            Some(-1)
        );
        assert_eq!(
            Poly::size("s").add_int(-1).sign_assuming_positive_sizes(),
            None
        );
    }
}
