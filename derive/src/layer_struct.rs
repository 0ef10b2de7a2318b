//! `#[derive(sharegrad::Layer)]`: a struct whose fields are the model's
//! params gets `forward`/`backward` methods, `DERIVATION`, and companion
//! types `NameSizes`, `NameInputs`, `NameValues`, `NameSeeds`,
//! `NameInputGrads` and `NameGrads`.

use crate::ast::{ModelInfo, Role};
use crate::engine;
use crate::layer_fn::{combine, element_error};
use crate::source::Spec;
use crate::types::{storage_of, Elem, Storage};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::{Attribute, Data, DeriveInput, Fields, Ident, Meta, Type};

/// How a param is stored in its field.
#[derive(Clone, Copy)]
enum Store {
    /// `Vec<T>`.
    Vec,
    /// `[T; N]`.
    Array,
    /// `T`.
    Scalar,
}

/// One param field.
struct ParamField {
    ident: Ident,
    ty: Type,
    store: Store,
    key: String,
}

/// Expands the derive; on error, only the errors.
pub fn expand(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(i) => i,
        Err(e) => return e.to_compile_error(),
    };
    try_expand(&input).unwrap_or_else(|e| e.to_compile_error())
}

/// The struct's `#[sharegrad(...)]` source, with its flags.
fn source_of(attrs: &[Attribute], name: &Ident) -> syn::Result<Spec> {
    let mut found: Option<Spec> = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("sharegrad")) {
        let Meta::List(list) = &attr.meta else {
            return Err(syn::Error::new_spanned(
                &attr.meta,
                "expected `#[sharegrad(r\"...equations...\")]` or `#[sharegrad(file = \"model.eq\")]`",
            ));
        };
        if found.is_some() {
            return Err(syn::Error::new_spanned(
                attr,
                "the equations are already given above",
            ));
        }
        found = Some(list.parse_args()?);
    }
    found.ok_or_else(|| {
        syn::Error::new(
            name.span(),
            "missing the layer's equations: add `#[sharegrad(r\"...\")]` or `#[sharegrad(file = \"model.eq\")]`",
        )
    })
}

/// True for `#[sharegrad(skip)]`; errors on any other field attribute.
fn skipped(attrs: &[Attribute]) -> syn::Result<bool> {
    let mut skip = false;
    for attr in attrs.iter().filter(|a| a.path().is_ident("sharegrad")) {
        let ok = matches!(&attr.meta, Meta::List(l) if l.tokens.to_string() == "skip");
        if !ok {
            return Err(syn::Error::new_spanned(
                &attr.meta,
                "the only field attribute is `#[sharegrad(skip)]`, for state that is not a param",
            ));
        }
        skip = true;
    }
    Ok(skip)
}

fn try_expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let name = &input.ident;
    let fields = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(f) => f.named.iter().collect::<Vec<_>>(),
            Fields::Unit => Vec::new(),
            Fields::Unnamed(f) => {
                return Err(syn::Error::new_spanned(
                    f,
                    "a layer's fields are named after its params",
                ))
            }
        },
        _ => {
            return Err(syn::Error::new(
                name.span(),
                "`Layer` is derived for structs",
            ))
        }
    };
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "generic layers are not supported: fields are `Vec<f32>`, `Vec<f64>`, arrays or scalars",
        ));
    }
    let Spec { gemm, source } = source_of(&input.attrs, name)?;
    let gemm = engine::gemm_flag(gemm)?;
    let compiled = source.compile()?;
    let info = ModelInfo::new(&compiled.model);

    let mut errors = Vec::new();
    let mut params = Vec::new();
    let mut elem: Option<(Elem, String)> = None;
    // Fields already reported, so a wrong one is not also "missing".
    let mut reported: Vec<String> = Vec::new();
    for field in fields {
        match skipped(&field.attrs) {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => {
                errors.push(e);
                continue;
            }
        }
        let ident = field.ident.clone().expect("named field");
        let fname = ident.to_string();
        let Some(t) = info.tensor(&fname) else {
            let expected: Vec<String> = info
                .with_role(Role::Param)
                .map(|t| format!("`{}`", t.ident))
                .collect();
            errors.push(syn::Error::new(
                ident.span(),
                format!(
                    "field `{fname}` is not a param of the model (params: {}); mark other state `#[sharegrad(skip)]`",
                    if expected.is_empty() { "none".to_string() } else { expected.join(", ") }
                ),
            ));
            continue;
        };
        if t.role != Role::Param {
            let hint = if t.role.is_leaf() {
                format!("pass it to `forward` in `{name}Inputs`")
            } else {
                format!("`forward` computes it into `{name}Values`")
            };
            errors.push(syn::Error::new(
                ident.span(),
                format!(
                    "field `{fname}` is the {} `{}` of the model, not a param: {hint}",
                    t.role.word(),
                    t.key
                ),
            ));
            continue;
        }
        let (store, at) = match storage_of(&field.ty) {
            Storage::Vec(at) => (Store::Vec, at),
            Storage::Array(at) => (Store::Array, at),
            Storage::Scalar(at) if t.scalar => (Store::Scalar, at),
            _ => {
                let e = elem.as_ref().map_or("f64", |(e, _)| e.name());
                let want = if t.scalar {
                    format!("`{e}`, `Vec<{e}>` or `[{e}; 1]`")
                } else {
                    format!("`Vec<{e}>` or `[{e}; N]`")
                };
                errors.push(syn::Error::new_spanned(
                    &field.ty,
                    format!("the param `{}` is stored as {want}", t.key),
                ));
                reported.push(fname);
                continue;
            }
        };
        match &elem {
            None if at.elem.is_some() => elem = at.elem.map(|e| (e, fname.clone())),
            _ => {
                let (e, first) = elem.clone().unwrap_or((Elem::F64, String::new()));
                if let Some(err) = element_error(at, e, &first) {
                    errors.push(err);
                    reported.push(fname);
                    continue;
                }
            }
        }
        params.push(ParamField {
            ident,
            ty: field.ty.clone(),
            store,
            key: t.key.clone(),
        });
    }
    let elem = elem.map_or(Elem::F64, |(e, _)| e);
    for t in info.with_role(Role::Param) {
        let present =
            params.iter().any(|p| p.ident == t.ident.as_str()) || reported.contains(&t.ident);
        if !present {
            let ty = if t.scalar {
                elem.name().to_string()
            } else {
                format!("Vec<{}>", elem.name())
            };
            errors.push(syn::Error::new(
                name.span(),
                format!(
                    "missing field `{}: {ty}` for the param `{}` of the model",
                    t.ident, t.key
                ),
            ));
        }
    }
    combine(errors)?;
    let module = engine::module_tokens(&compiled.model, gemm)
        .map_err(|e| syn::Error::new(source.literal().span(), e))?;
    Ok(generate(
        input,
        &info,
        &params,
        elem,
        module,
        compiled.file.as_deref(),
    ))
}

fn generate(
    input: &DeriveInput,
    info: &ModelInfo,
    params: &[ParamField],
    elem: Elem,
    module: TokenStream,
    file: Option<&std::path::Path>,
) -> TokenStream {
    let name = &input.ident;
    let vis = &input.vis;
    let m = format_ident!("__sharegrad_{}", name);
    let sizes_t = format_ident!("{}Sizes", name);
    let values_t = format_ident!("{}Values", name);
    let seeds_t = format_ident!("{}Seeds", name);
    let inputs_t = format_ident!("{}Inputs", name);
    let input_grads_t = format_ident!("{}InputGrads", name);
    let grads_t = format_ident!("{}Grads", name);
    let include = file.map(|f| {
        let f = f.to_string_lossy();
        quote!(
            const _: &str = ::core::include_str!(#f);
        )
    });
    let call = Span::call_site();
    let id = |s: &str| Ident::new(s, call);

    // The caller's leaves: inputs and consts, and symbolic functions.
    let leaves: Vec<_> = info
        .tensors
        .iter()
        .filter(|t| matches!(t.role, Role::Input | Role::Const))
        .collect();
    let leaf_fields = leaves.iter().map(|t| {
        let f = id(&t.ident);
        let doc = format!(" The {} `{}`, row-major.", t.role.word(), t.key);
        quote!(#[doc = #doc] pub #f: &'a [#elem])
    });
    let fn_fields = info.function_idents().map(|f| {
        let doc = format!(" The symbolic function `{f}`.");
        let f = id(&f);
        quote!(#[doc = #doc] pub #f: fn(#elem) -> #elem)
    });
    let has_inputs = !leaves.is_empty() || !info.functions.is_empty();
    let inputs_def = if has_inputs {
        quote!(pub struct #inputs_t<'a> { #(#leaf_fields,)* #(#fn_fields,)* })
    } else {
        quote!(pub struct #inputs_t;)
    };
    let inputs_ref = if has_inputs {
        quote!(#inputs_t<'_>)
    } else {
        quote!(#inputs_t)
    };
    let graded: Vec<_> = leaves.iter().filter(|t| t.role == Role::Input).collect();
    let input_grad_fields = graded.iter().map(|t| {
        let f = id(&t.ident);
        let doc = format!(
            " Where the gradient of `{}` accumulates; `None` skips it.",
            t.key
        );
        quote!(#[doc = #doc] pub #f: ::core::option::Option<&'a mut [#elem]>)
    });
    let input_grads_def = if graded.is_empty() {
        quote!(#[derive(Debug, Default)] pub struct #input_grads_t;)
    } else {
        quote!(#[derive(Debug, Default)] pub struct #input_grads_t<'a> { #(#input_grad_fields,)* })
    };
    let input_grads_ref = if graded.is_empty() {
        quote!(#input_grads_t)
    } else {
        quote!(#input_grads_t<'_>)
    };

    // Params: the fields.
    let grad_fields = params.iter().map(|p| {
        let (f, ty) = (&p.ident, &p.ty);
        let doc = format!(" Gradient of the param `{}`.", p.key);
        quote!(#[doc = #doc] pub #f: #ty)
    });
    let zeros = params.iter().map(|p| {
        let f = &p.ident;
        match p.store {
            Store::Vec => quote!(#f: ::std::vec![0.0; layer.#f.len()]),
            Store::Array => quote!(#f: { let mut z = layer.#f; z.fill(0.0); z }),
            Store::Scalar => quote!(#f: 0.0),
        }
    });
    let fills = params.iter().map(|p| {
        let f = &p.ident;
        match p.store {
            Store::Vec | Store::Array => quote!(self.#f.fill(0.0);),
            Store::Scalar => quote!(self.#f = 0.0;),
        }
    });

    let all_inputs = {
        let from_caller: Vec<Ident> = leaves
            .iter()
            .map(|t| id(&t.ident))
            .chain(info.function_idents().map(|f| id(&f)))
            .collect();
        let from_self = params.iter().map(|p| {
            let f = &p.ident;
            match p.store {
                Store::Scalar => quote!(#f: ::core::slice::from_ref(&self.#f)),
                _ => quote!(#f: &self.#f[..]),
            }
        });
        let marker = info.marker(Role::is_leaf);
        quote!(#m::Inputs { #(#from_caller: inputs.#from_caller,)* #(#from_self,)* #marker })
    };
    let grads_all = {
        let from_caller: Vec<Ident> = graded.iter().map(|t| id(&t.ident)).collect();
        let from_self = params.iter().map(|p| {
            let f = &p.ident;
            match p.store {
                Store::Scalar => {
                    quote!(#f: ::core::option::Option::Some(::core::slice::from_mut(&mut grads.#f)))
                }
                _ => quote!(#f: ::core::option::Option::Some(&mut grads.#f[..])),
            }
        });
        let marker = info.marker(Role::has_gradient);
        quote!(#m::Grads { #(#from_caller: input_grads.#from_caller,)* #(#from_self,)* #marker })
    };

    let doc_sizes = format!(" Run-time sizes of [`{name}`].");
    let doc_values = format!(" Every tensor the equations of [`{name}`] define, computed by [`{name}::forward`]; read by [`{name}::backward`].");
    let doc_seeds = format!(" The adjoints of the outputs of [`{name}`] (same layout as the outputs), seeding [`{name}::backward`].");
    let doc_inputs = format!(
        " The leaves of [`{name}`] that are not params (inputs and consts), row-major slices."
    );
    let doc_input_grads = format!(" Where [`{name}::backward`] adds the gradients of the inputs; `None` (the default) skips one at no cost.");
    let doc_grads = format!(" Gradients of the params of [`{name}`], the same shape as the layer. [`{name}::backward`] adds into them (`+=`), so a param used by several calls sums its gradients.");
    quote! {
        #[doc(hidden)]
        #[allow(dead_code, non_snake_case, non_camel_case_types, unused, clippy::all, clippy::pedantic)]
        #vis mod #m {
            #include
            #module
        }

        #[doc = #doc_sizes]
        #vis type #sizes_t = #m::Sizes;
        #[doc = #doc_values]
        #vis type #values_t = #m::Values<#elem>;
        #[doc = #doc_seeds]
        #vis type #seeds_t<'a> = #m::Seeds<'a, #elem>;
        #[doc = #doc_inputs]
        #[derive(Clone, Copy)]
        #[allow(non_snake_case)]
        #vis #inputs_def
        #[doc = #doc_input_grads]
        #[allow(non_snake_case)]
        #vis #input_grads_def
        #[doc = #doc_grads]
        #[derive(Clone, Debug, PartialEq)]
        #[allow(non_snake_case)]
        #vis struct #grads_t { #(#grad_fields,)* }

        impl #grads_t {
            /// Zero gradients shaped like `layer`'s params.
            pub fn zeros_like(layer: &#name) -> Self {
                #grads_t { #(#zeros,)* }
            }
            /// Sets every gradient to zero, keeping the buffers.
            pub fn fill_zero(&mut self) {
                #(#fills)*
            }
        }

        impl #name {
            /// The LaTeX derivation of the layer's gradients (a document body, amsmath).
            pub const DERIVATION: &'static str = #m::DERIVATION;

            /// Runs the layer: every tensor the equations define, in new buffers.
            ///
            /// # Panics
            ///
            /// If a param's or an input's length differs from what `sizes` give (the
            /// message names the tensor and both lengths).
            #[track_caller]
            pub fn forward(&self, sizes: &#sizes_t, inputs: &#inputs_ref) -> #values_t {
                let mut values = #values_t::new(sizes);
                self.forward_into(sizes, inputs, &mut values);
                values
            }

            /// Runs the layer into `values` (allocated once with `Values::new`).
            ///
            /// # Panics
            ///
            /// As [`Self::forward`].
            #[track_caller]
            pub fn forward_into(&self, sizes: &#sizes_t, inputs: &#inputs_ref, values: &mut #values_t) {
                self.forward_threads(sizes, inputs, values, 1);
            }

            /// [`Self::forward_into`] on up to `threads` threads: each tensor with two
            /// or more indices is split by its first index, one run of rows per thread.
            ///
            /// # Panics
            ///
            /// As [`Self::forward`].
            #[track_caller]
            pub fn forward_threads(&self, sizes: &#sizes_t, inputs: &#inputs_ref, values: &mut #values_t, threads: usize) {
                #m::forward_threads(sizes, &#all_inputs, values, threads);
            }

            /// Backward pass: adds the vector-Jacobian product of `seeds` into `grads`
            /// (every param) and into the inputs' buffers given in `input_grads`.
            /// `values` are those `forward` computed for the same `inputs`.
            ///
            /// # Panics
            ///
            /// If a buffer's length differs from what `sizes` give (the message names
            /// the tensor and both lengths).
            #[track_caller]
            pub fn backward(
                &self,
                sizes: &#sizes_t,
                inputs: &#inputs_ref,
                values: &#values_t,
                seeds: &#seeds_t<'_>,
                grads: &mut #grads_t,
                input_grads: #input_grads_ref,
            ) {
                self.backward_threads(sizes, inputs, values, seeds, grads, input_grads, 1);
            }

            /// [`Self::backward`] on up to `threads` threads: each gradient and
            /// adjoint with two or more indices is split by its first index, one run
            /// of rows per thread (every element has one writer).
            ///
            /// # Panics
            ///
            /// As [`Self::backward`].
            #[allow(clippy::too_many_arguments)]
            #[track_caller]
            pub fn backward_threads(
                &self,
                sizes: &#sizes_t,
                inputs: &#inputs_ref,
                values: &#values_t,
                seeds: &#seeds_t<'_>,
                grads: &mut #grads_t,
                input_grads: #input_grads_ref,
                threads: usize,
            ) {
                #[allow(unused_variables)]
                let input_grads = input_grads;
                #m::backward_threads(sizes, &#all_inputs, values, seeds, &mut #grads_all, threads);
            }

            /// Zero gradients for this layer's params.
            pub fn zero_grads(&self) -> #grads_t {
                #grads_t::zeros_like(self)
            }
        }
    }
}
