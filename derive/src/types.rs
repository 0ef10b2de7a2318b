//! Recognising the few Rust types the macros accept: `&[T]`, `&mut [T]`,
//! `&T`, `&mut T`, `Vec<T>`, `[T; N]`, `T` with `T` one of `f32`, `f64`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::spanned::Spanned;
use syn::{GenericArgument, PathArguments, Type};

/// An element type the generated kernels run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem {
    /// `f32`.
    F32,
    /// `f64`.
    F64,
}

impl Elem {
    /// `f32` or `f64`.
    pub fn name(self) -> &'static str {
        match self {
            Elem::F32 => "f32",
            Elem::F64 => "f64",
        }
    }
}

impl ToTokens for Elem {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Elem::F32 => tokens.extend(quote!(f32)),
            Elem::F64 => tokens.extend(quote!(f64)),
        }
    }
}

/// An element type as written, with where it was written.
#[derive(Clone, Copy, Debug)]
pub struct ElemAt {
    /// `None`: not `f32` or `f64`.
    pub elem: Option<Elem>,
    /// The element type's tokens.
    pub span: Span,
}

/// `f32`, `f64` or something else.
pub fn elem_of(ty: &Type) -> ElemAt {
    let elem = match ty {
        Type::Path(p) if p.qself.is_none() => match p.path.get_ident() {
            Some(id) if id == "f32" => Some(Elem::F32),
            Some(id) if id == "f64" => Some(Elem::F64),
            _ => None,
        },
        Type::Group(g) => return elem_of(&g.elem),
        Type::Paren(p) => return elem_of(&p.elem),
        _ => None,
    };
    ElemAt {
        elem,
        span: ty.span(),
    }
}

/// A function parameter's type, for a tensor.
pub enum Access {
    /// `&[T]` (`slice`) or `&T`.
    Shared {
        /// A slice, not a single element.
        slice: bool,
        /// The element type.
        elem: ElemAt,
    },
    /// `&mut [T]` or `&mut T`.
    Exclusive {
        /// A slice, not a single element.
        slice: bool,
        /// The element type.
        elem: ElemAt,
    },
    /// Anything else.
    Other,
}

/// Classifies a reference type.
pub fn access_of(ty: &Type) -> Access {
    let Type::Reference(r) = ty else {
        if let Type::Group(g) = ty {
            return access_of(&g.elem);
        }
        return Access::Other;
    };
    let (slice, elem) = match &*r.elem {
        Type::Slice(s) => (true, elem_of(&s.elem)),
        other => (false, elem_of(other)),
    };
    if !slice && elem.elem.is_none() {
        return Access::Other;
    }
    if r.mutability.is_some() {
        Access::Exclusive { slice, elem }
    } else {
        Access::Shared { slice, elem }
    }
}

/// A struct field's type, for a param.
pub enum Storage {
    /// `Vec<T>`.
    Vec(ElemAt),
    /// `[T; N]`.
    Array(ElemAt),
    /// `T` (a scalar param).
    Scalar(ElemAt),
    /// Anything else.
    Other,
}

/// Classifies a field type.
pub fn storage_of(ty: &Type) -> Storage {
    match ty {
        Type::Array(a) => Storage::Array(elem_of(&a.elem)),
        Type::Group(g) => storage_of(&g.elem),
        Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last().expect("a path has a segment");
            if last.ident == "Vec" {
                if let PathArguments::AngleBracketed(args) = &last.arguments {
                    if let [GenericArgument::Type(t)] = args.args.iter().collect::<Vec<_>>()[..] {
                        return Storage::Vec(elem_of(t));
                    }
                }
                return Storage::Other;
            }
            match elem_of(ty) {
                e @ ElemAt { elem: Some(_), .. } => Storage::Scalar(e),
                _ => Storage::Other,
            }
        }
        _ => Storage::Other,
    }
}

/// `fn(T) -> T`, for a symbolic user function.
pub fn is_fn_of(ty: &Type, elem: Elem) -> bool {
    let Type::BareFn(f) = ty else { return false };
    let [arg] = f.inputs.iter().collect::<Vec<_>>()[..] else {
        return false;
    };
    let syn::ReturnType::Type(_, out) = &f.output else {
        return false;
    };
    f.unsafety.is_none()
        && f.abi.is_none()
        && f.lifetimes.is_none()
        && f.variadic.is_none()
        && elem_of(&arg.ty).elem == Some(elem)
        && elem_of(out).elem == Some(elem)
}

/// `usize`.
pub fn is_usize(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.is_ident("usize"))
}
