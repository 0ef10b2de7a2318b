//! `#[sharegrad::layer(...)]` on a function: checks the user's signature
//! against the model and generates the forward body, a sibling
//! `NAME_backward` and a `NAME_DERIVATION` constant.

use crate::ast::{ModelInfo, Role};
use crate::engine;
use crate::source::{call_site_error, Spec};
use crate::types::{access_of, is_fn_of, is_usize, Access, Elem, ElemAt};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, Pat};

/// What one parameter of the user's function is.
enum Kind {
    /// A tensor (index into `ModelInfo::tensors`); `slice` false for `&T` /
    /// `&mut T` scalars.
    Tensor { index: usize, slice: bool },
    /// A size, `usize`.
    Size,
    /// A symbolic function or its derivative, `fn(T) -> T`.
    Function,
}

/// One parameter, checked.
struct Param {
    ident: Ident,
    kind: Kind,
}

/// The checked signature.
struct Plan {
    params: Vec<Param>,
    elem: Elem,
}

/// Parses the attribute and the function, compiles the model, checks the
/// signature and generates the code; on error, the function as written plus
/// the errors, so its callers do not pile up more errors.
pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let err = syn::Error::new_spanned(&item, "#[sharegrad::layer] goes on a free function");
            return err.to_compile_error();
        }
    };
    match try_expand(attr, &func) {
        Ok(tokens) => tokens,
        Err(err) => {
            // The function as written, so its callers do not add errors.
            let err = err.to_compile_error();
            quote! {
                #err
                #[allow(unused_variables, non_snake_case)]
                #func
            }
        }
    }
}

fn try_expand(attr: TokenStream, func: &ItemFn) -> syn::Result<TokenStream> {
    if attr.is_empty() {
        return Err(call_site_error(
            "expected the equations: `#[sharegrad::layer(r\"...\")]` or `#[sharegrad::layer(file = \"model.eq\")]`",
        ));
    }
    let Spec { gemm, source } = syn::parse2(attr)?;
    let gemm = engine::gemm_flag(gemm)?;
    let compiled = source.compile()?;
    let info = ModelInfo::new(&compiled.model);
    let plan = check(func, &info)?;
    let module = engine::module_tokens(&compiled.model, gemm)
        .map_err(|e| syn::Error::new(source.literal().span(), e))?;
    Ok(generate(
        func,
        &info,
        &plan,
        module,
        compiled.file.as_deref(),
    ))
}

/// Matches every parameter to a tensor, size or function of the model, and
/// every tensor, size and function of the model to a parameter.
fn check(func: &ItemFn, info: &ModelInfo) -> syn::Result<Plan> {
    let sig = &func.sig;
    let mut errors: Vec<syn::Error> = Vec::new();
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            "generic parameters are not supported: the element type is `f32` or `f64`, written in the signature",
        ));
    }
    if let syn::ReturnType::Type(_, ty) = &sig.output {
        errors.push(syn::Error::new_spanned(
            ty,
            "the function returns nothing: outputs are `&mut [T]` parameters",
        ));
    }
    if !func.block.stmts.is_empty() {
        errors.push(syn::Error::new_spanned(
            &func.block,
            "the body is generated from the equations: leave it empty (`{}`)",
        ));
    }

    // The element type: the first tensor parameter's, f64 if none says.
    let elem = sig
        .inputs
        .iter()
        .filter_map(|a| match a {
            FnArg::Typed(t) => match access_of(&t.ty) {
                Access::Shared { elem, .. } | Access::Exclusive { elem, .. } => {
                    elem.elem.map(|e| (e, t))
                }
                Access::Other => None,
            },
            FnArg::Receiver(_) => None,
        })
        .next();
    let (elem, first) = match elem {
        Some((e, t)) => (e, Some(t.pat.clone())),
        None => (Elem::F64, None),
    };
    let first = first.map(|p| quote!(#p).to_string()).unwrap_or_default();

    let mut params = Vec::new();
    for arg in &sig.inputs {
        let typed = match arg {
            FnArg::Receiver(r) => {
                errors.push(syn::Error::new_spanned(
                    r,
                    "methods are not supported: use a free function, or `#[derive(sharegrad::Layer)]` on a struct",
                ));
                continue;
            }
            FnArg::Typed(t) => t,
        };
        let ident = match &*typed.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
            other => {
                errors.push(syn::Error::new_spanned(other, "expected a parameter name"));
                continue;
            }
        };
        let name = ident.to_string();
        let ty = &*typed.ty;
        if let Some(index) = info.tensors.iter().position(|t| t.ident == name) {
            let t = &info.tensors[index];
            let want_mut = !t.role.is_leaf();
            let wanted = want_type(t.scalar, want_mut, elem);
            let what = describe(t.role, &t.key);
            let (mutable, slice, at) = match access_of(ty) {
                Access::Shared { slice, elem } => (false, slice, elem),
                Access::Exclusive { slice, elem } => (true, slice, elem),
                Access::Other => {
                    errors.push(syn::Error::new_spanned(
                        ty,
                        format!("{what}: take it as `{wanted}`"),
                    ));
                    continue;
                }
            };
            if !slice && !t.scalar {
                errors.push(syn::Error::new_spanned(
                    ty,
                    format!("{what} has indices: take it as the slice `{wanted}`"),
                ));
                continue;
            }
            if mutable != want_mut {
                let why = if want_mut {
                    "the function writes it"
                } else {
                    "the function only reads it"
                };
                errors.push(syn::Error::new_spanned(
                    ty,
                    format!("{what} and {why}: take it as `{wanted}`"),
                ));
                continue;
            }
            if let Some(e) = element_error(at, elem, &first) {
                errors.push(e);
                continue;
            }
            params.push(Param {
                ident,
                kind: Kind::Tensor { index, slice },
            });
        } else if info.sizes.contains(&name) {
            if !is_usize(ty) {
                errors.push(syn::Error::new_spanned(
                    ty,
                    format!("`{name}` is a size of the model: take it as `usize`"),
                ));
                continue;
            }
            params.push(Param {
                ident,
                kind: Kind::Size,
            });
        } else if info.function_idents().any(|f| f == name) {
            if !is_fn_of(ty, elem) {
                errors.push(syn::Error::new_spanned(
                    ty,
                    format!("`{name}` is a symbolic function of the model: take it as `fn({elem}) -> {elem}`", elem = elem.name()),
                ));
                continue;
            }
            params.push(Param {
                ident,
                kind: Kind::Function,
            });
        } else {
            errors.push(syn::Error::new(
                ident.span(),
                format!(
                    "`{name}` is not a tensor, size or function of the model; expected {}",
                    expected_names(info)
                ),
            ));
        }
    }

    // Everything the model needs must be there.
    let given: Vec<String> = sig
        .inputs
        .iter()
        .filter_map(|a| match a {
            FnArg::Typed(t) => match &*t.pat {
                Pat::Ident(p) => Some(p.ident.to_string()),
                _ => None,
            },
            FnArg::Receiver(_) => None,
        })
        .collect();
    let has = |n: &str| given.iter().any(|g| g == n);
    for t in &info.tensors {
        if t.role != Role::Intermediate && !has(&t.ident) {
            let wanted = want_type(t.scalar, !t.role.is_leaf(), elem);
            errors.push(syn::Error::new(
                sig.ident.span(),
                format!(
                    "missing parameter `{}: {wanted}` for the {} `{}` of the model",
                    t.ident,
                    t.role.word(),
                    t.key
                ),
            ));
        }
    }
    for s in &info.sizes {
        if !has(s) {
            errors.push(syn::Error::new(
                sig.ident.span(),
                format!("missing parameter `{s}: usize` for the size `{s}` of the model"),
            ));
        }
    }
    for f in info.function_idents() {
        if !has(&f) {
            errors.push(syn::Error::new(
                sig.ident.span(),
                format!(
                    "missing parameter `{f}: fn({e}) -> {e}` for the symbolic function of the model",
                    e = elem.name()
                ),
            ));
        }
    }
    combine(errors)?;
    Ok(Plan { params, elem })
}

/// `&[f64]`, `&mut [f32]`, `&f64`...
fn want_type(scalar: bool, mutable: bool, elem: Elem) -> String {
    let m = if mutable { "mut " } else { "" };
    if scalar {
        format!("&{m}[{e}]` or `&{m}{e}", e = elem.name())
    } else {
        format!("&{m}[{}]", elem.name())
    }
}

/// "`y^0` is an input of the model".
fn describe(role: Role, key: &str) -> String {
    match role {
        Role::Input => format!("`{key}` is an input of the model"),
        Role::Param => format!("`{key}` is a param of the model"),
        Role::Const => format!("`{key}` is a const of the model"),
        Role::Output => format!("`{key}` is an output of the model"),
        Role::Intermediate => format!("`{key}` is a tensor defined by the model"),
    }
}

/// An error on an element type that is not `f32`/`f64` or differs from the
/// first tensor's.
pub fn element_error(at: ElemAt, elem: Elem, first: &str) -> Option<syn::Error> {
    match at.elem {
        None => Some(syn::Error::new(at.span, "the element type must be `f32` or `f64`")),
        Some(e) if e != elem => Some(syn::Error::new(
            at.span,
            format!(
                "element type `{}` differs from `{}` of `{first}`: every tensor has one element type",
                e.name(),
                elem.name()
            ),
        )),
        Some(_) => None,
    }
}

/// "`y`, `w`, `x` or `L`".
fn expected_names(info: &ModelInfo) -> String {
    let names: Vec<String> = info
        .tensors
        .iter()
        .map(|t| t.ident.clone())
        .chain(info.sizes.iter().cloned())
        .chain(info.function_idents())
        .map(|n| format!("`{n}`"))
        .collect();
    match names.split_last() {
        None => "nothing".into(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// All errors as one, or Ok.
pub fn combine(errors: Vec<syn::Error>) -> syn::Result<()> {
    let mut it = errors.into_iter();
    match it.next() {
        None => Ok(()),
        Some(mut first) => {
            for e in it {
                first.combine(e);
            }
            Err(first)
        }
    }
}

fn generate(
    func: &ItemFn,
    info: &ModelInfo,
    plan: &Plan,
    module: TokenStream,
    file: Option<&std::path::Path>,
) -> TokenStream {
    let ItemFn {
        attrs, vis, sig, ..
    } = func;
    let name = &sig.ident;
    let elem = plan.elem;
    let m = format_ident!("__sharegrad_{}", name);
    let backward = format_ident!("{}_backward", name);
    let derivation = format_ident!("{}_DERIVATION", name.to_string().to_uppercase());
    let def = Span::mixed_site();
    let (sizes, inputs, values) = (
        Ident::new("sizes", def),
        Ident::new("inputs", def),
        Ident::new("values", def),
    );
    let include = file.map(|f| {
        let f = f.to_string_lossy();
        quote!(
            const _: &str = ::core::include_str!(#f);
        )
    });

    let tensor = |p: &Param| match p.kind {
        Kind::Tensor { index, slice } => Some((&info.tensors[index], slice)),
        _ => None,
    };
    let size_fields: Vec<&Ident> = plan
        .params
        .iter()
        .filter(|p| matches!(p.kind, Kind::Size))
        .map(|p| &p.ident)
        .collect();
    let input_fields: Vec<TokenStream> = plan
        .params
        .iter()
        .filter_map(|p| match (&p.kind, tensor(p)) {
            (Kind::Function, _) => {
                let id = &p.ident;
                Some(quote!(#id))
            }
            (_, Some((t, slice))) if t.role.is_leaf() => {
                let id = &p.ident;
                Some(if slice {
                    quote!(#id)
                } else {
                    quote!(#id: ::core::slice::from_ref(#id))
                })
            }
            _ => None,
        })
        .collect();
    let inputs_marker = info.marker(Role::is_leaf);
    let setup = quote_spanned! {def=>
        let #sizes = #m::Sizes { #(#size_fields),* };
        let #inputs = #m::Inputs { #(#input_fields,)* #inputs_marker };
        let mut #values = #m::Values::<#elem>::new(&#sizes);
    };

    // Forward: check the written tensors' lengths, run, copy out.
    let written: Vec<(&Ident, &crate::ast::TensorInfo, bool)> = plan
        .params
        .iter()
        .filter_map(|p| {
            tensor(p)
                .filter(|(t, _)| !t.role.is_leaf())
                .map(|(t, s)| (&p.ident, t, s))
        })
        .collect();
    let checks = written
        .iter()
        .filter(|(_, _, slice)| *slice)
        .map(|(id, t, _)| {
            let field = Ident::new(&t.ident, def);
            let msg = format!(
                "sharegrad: `{}` has length {{}} but the sizes give {{}}",
                t.ident
            );
            quote_spanned! {def=>
                if #id.len() != #values.#field.len() {
                    ::core::panic!(#msg, #id.len(), #values.#field.len());
                }
            }
        });
    let copies = written.iter().map(|(id, t, slice)| {
        let field = Ident::new(&t.ident, def);
        if *slice {
            quote_spanned!(def=> #id.copy_from_slice(&#values.#field);)
        } else {
            quote_spanned!(def=> *#id = #values.#field[0];)
        }
    });

    // Backward: leaves, seeds, gradients, sizes, functions.
    let leaf_params = plan
        .params
        .iter()
        .filter(|p| tensor(p).is_some_and(|(t, _)| t.role.is_leaf()));
    let leaf_args = leaf_params.clone().map(|p| arg_of(func, &p.ident));
    let outputs: Vec<(&Param, bool)> = plan
        .params
        .iter()
        .filter_map(|p| {
            tensor(p)
                .filter(|(t, _)| t.role == Role::Output)
                .map(|(_, s)| (p, s))
        })
        .collect();
    let seed_args = outputs.iter().map(|(p, slice)| {
        let d = format_ident!("d_{}", p.ident);
        if *slice {
            quote!(#d: &[#elem])
        } else {
            quote!(#d: #elem)
        }
    });
    let seed_fields = outputs.iter().map(|(p, slice)| {
        let d = format_ident!("d_{}", p.ident);
        let field = &p.ident;
        if *slice {
            quote!(#field: #d)
        } else {
            quote!(#field: &[#d])
        }
    });
    let graded: Vec<(&Param, bool)> = plan
        .params
        .iter()
        .filter_map(|p| {
            tensor(p)
                .filter(|(t, _)| t.role.has_gradient())
                .map(|(_, s)| (p, s))
        })
        .collect();
    let grad_args = graded.iter().map(|(p, slice)| {
        let g = format_ident!("grad_{}", p.ident);
        if *slice {
            quote!(#g: ::core::option::Option<&mut [#elem]>)
        } else {
            quote!(#g: ::core::option::Option<&mut #elem>)
        }
    });
    let grad_fields = graded.iter().map(|(p, slice)| {
        let g = format_ident!("grad_{}", p.ident);
        let field = &p.ident;
        if *slice {
            quote!(#field: #g)
        } else {
            quote!(#field: #g.map(::core::slice::from_mut))
        }
    });
    let rest_args = plan
        .params
        .iter()
        .filter(|p| matches!(p.kind, Kind::Size))
        .chain(
            plan.params
                .iter()
                .filter(|p| matches!(p.kind, Kind::Function)),
        )
        .map(|p| arg_of(func, &p.ident));
    let (seeds, grads) = (Ident::new("seeds", def), Ident::new("grads", def));
    let seeds_marker = info.marker(|r| r == Role::Output);
    let grads_marker = info.marker(Role::has_gradient);

    let forward_doc = format!(
        " # Panics\n\n If an output slice's length differs from what the sizes give, or a leaf's (the message names the tensor). Generated by sharegrad; the derivation is [`{derivation}`]."
    );
    let backward_doc = format!(
        " Backward pass of [`{name}`], generated by sharegrad: adds the vector-Jacobian product of the seeds `d_*` (the adjoints of the outputs) into each `grad_*` that is `Some`; `None` skips that gradient.\n\n Gradients **accumulate** (`+=`): zero them before the first call. The parameters are the leaves, the output seeds, the gradients, then the sizes, each group in the order of [`{name}`]. The forward pass is recomputed inside.\n\n # Panics\n\n If a slice's length differs from what the sizes give (the message names the tensor)."
    );
    let derivation_doc =
        format!(" The LaTeX derivation of the gradients of [`{name}`] (a document body, amsmath).");
    // A length panic names the caller's line (`#[track_caller]` needs the
    // Rust ABI and is not stable on `async fn`).
    let track = (sig.abi.is_none() && sig.asyncness.is_none()).then(|| quote!(#[track_caller]));
    quote! {
        #(#attrs)*
        #[doc = ""]
        #[doc = #forward_doc]
        #[allow(non_snake_case, clippy::too_many_arguments)]
        #track
        #vis #sig {
            #setup
            #(#checks)*
            #m::forward(&#sizes, &#inputs, &mut #values);
            #(#copies)*
        }

        #[doc = #backward_doc]
        #[allow(non_snake_case, clippy::too_many_arguments)]
        #track
        #vis fn #backward(#(#leaf_args,)* #(#seed_args,)* #(#grad_args,)* #(#rest_args,)*) {
            #setup
            #m::forward(&#sizes, &#inputs, &mut #values);
            let #seeds = #m::Seeds { #(#seed_fields,)* #seeds_marker };
            let mut #grads = #m::Grads { #(#grad_fields,)* #grads_marker };
            #m::backward(&#sizes, &#inputs, &#values, &#seeds, &mut #grads);
        }

        #[doc = #derivation_doc]
        #vis const #derivation: &str = #m::DERIVATION;

        #[doc(hidden)]
        #[allow(dead_code, non_snake_case, non_camel_case_types, unused, clippy::all, clippy::pedantic)]
        mod #m {
            #include
            #module
        }
    }
}

/// The parameter `ident: type` as the user wrote it.
fn arg_of(func: &ItemFn, ident: &Ident) -> TokenStream {
    func.sig
        .inputs
        .iter()
        .find_map(|a| match a {
            FnArg::Typed(t) if matches!(&*t.pat, Pat::Ident(p) if p.ident == *ident) => {
                let (pat, ty) = (&t.pat, &t.ty);
                Some(quote_spanned!(t.span()=> #pat: #ty))
            }
            _ => None,
        })
        .unwrap_or_default()
}
