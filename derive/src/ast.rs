//! The macros' view of a compiled model: which Rust names the generated
//! module gives its tensors, sizes and symbolic functions, and what role
//! each plays. Read straight from the IR; no engine logic lives here.

use crate::engine;
use sharegrad_core::ir::{DeclKind, TensorKind};
use sharegrad_core::Model;

/// What a tensor is to the caller of the generated code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `input`: read, gets a gradient.
    Input,
    /// `param`: read, gets a gradient; a field of a derived layer.
    Param,
    /// `const`: read, no gradient.
    Const,
    /// An output: written by `forward`, seeded in `backward`.
    Output,
    /// Any other defined tensor (kept in `Values`).
    Intermediate,
}

impl Role {
    /// A leaf the caller passes in.
    pub fn is_leaf(self) -> bool {
        matches!(self, Role::Input | Role::Param | Role::Const)
    }
    /// A leaf that gets a gradient.
    pub fn has_gradient(self) -> bool {
        matches!(self, Role::Input | Role::Param)
    }
    /// The word the equations use for it.
    pub fn word(self) -> &'static str {
        match self {
            Role::Input => "input",
            Role::Param => "param",
            Role::Const => "const",
            Role::Output => "output",
            Role::Intermediate => "defined tensor",
        }
    }
}

/// A non-auxiliary tensor of the model.
pub struct TensorInfo {
    /// Data-file key (`y^0`).
    pub key: String,
    /// Rust identifier in the generated module (`y0`).
    pub ident: String,
    /// What it is.
    pub role: Role,
    /// No indices: one element.
    pub scalar: bool,
}

/// Everything the expansion needs to know about a model.
pub struct ModelInfo {
    /// Tensors in program order (leaves first as declared, then definitions).
    pub tensors: Vec<TensorInfo>,
    /// Size names, as fields of `Sizes` (a Rust keyword gets a `_`).
    pub sizes: Vec<String>,
    /// Symbolic user functions (declared nowhere): each needs the function
    /// and its derivative, `h` and `h_prime` in `Inputs`.
    pub functions: Vec<String>,
}

impl ModelInfo {
    /// Reads the model's tensors, sizes and symbolic functions.
    pub fn new(model: &Model) -> ModelInfo {
        let p = &model.program;
        let idents = engine::tensor_idents(p);
        let tensors = p
            .tensors
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.auxiliary)
            .map(|(id, t)| {
                let role = match t.kind {
                    TensorKind::Leaf(DeclKind::Input) => Role::Input,
                    TensorKind::Leaf(DeclKind::Param) => Role::Param,
                    TensorKind::Leaf(DeclKind::Const) => Role::Const,
                    TensorKind::Defined(_) if p.outputs.contains(&id) => Role::Output,
                    TensorKind::Defined(_) => Role::Intermediate,
                };
                TensorInfo {
                    key: t.key.clone(),
                    ident: idents[id].clone(),
                    role,
                    scalar: t.indices.is_empty(),
                }
            })
            .collect();
        let functions = p
            .functions
            .values()
            .filter(|f| f.body.is_none())
            .map(|f| f.name.clone())
            .collect();
        let sizes = p.sizes.iter().map(|s| engine::size_field(s)).collect();
        ModelInfo {
            tensors,
            sizes,
            functions,
        }
    }

    /// The tensor whose Rust identifier is `ident`.
    pub fn tensor(&self, ident: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.ident == ident)
    }

    /// Tensors with a given role.
    pub fn with_role(&self, role: Role) -> impl Iterator<Item = &TensorInfo> {
        self.tensors.iter().filter(move |t| t.role == role)
    }

    /// The `_marker` field the generated `Inputs`, `Seeds` or `Grads` has
    /// when it holds no slice (see `docs/GENERATED_API.md`).
    pub fn marker(&self, any: impl Fn(Role) -> bool) -> Option<proc_macro2::TokenStream> {
        (!self.tensors.iter().any(|t| any(t.role)))
            .then(|| quote::quote!(_marker: ::core::marker::PhantomData,))
    }

    /// The names a symbolic function `h` takes in `Inputs`: `h`, `h_prime`.
    pub fn function_idents(&self) -> impl Iterator<Item = String> + '_ {
        self.functions
            .iter()
            .flat_map(|f| [f.clone(), format!("{f}_prime")])
    }
}
