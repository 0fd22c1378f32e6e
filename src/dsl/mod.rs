//! The tenant DSL: files in `tenants/`, parsed with spans, layered, checked.
//!
//! Never touches AWS and never reads anything but `tenants/` and the names in `templates/`.

pub mod diag;
pub mod fleet;
pub mod instance;
pub mod keys;
pub mod model;
pub mod parse;
pub mod schema;

pub use diag::{Diagnostic, Diagnostics, Loc, Located};
pub use fleet::{DEFAULTS_FILE, TENANTS_DIR, check_tenant_name};
pub use fleet::{
    Fleet, InfraLayer, Layer, Notify, Project, ReleaseChoice, Service, Stack, Tenant,
    check_release, find_root, load, load_partial,
};
pub use model::{DesiredCount, Hook, ValueSpec, VarValue};
