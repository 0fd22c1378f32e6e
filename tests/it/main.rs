//! The one integration-test binary: a module per area, shared helpers in `support`.

mod access;
mod bad_input;
mod cli;
mod corpus;
mod deploy;
mod deploy_primitives;
mod editor;
mod emulator;
mod errors;
mod faults;
mod hostile;
mod identity;
mod infra;
mod infra_dsl;
mod live_resolve;
mod onboarding;
mod plan;
mod properties;
mod release;
mod scaling;
mod secrets;
mod secretsmanager;
mod snapshots_offline;
mod status;
mod support;
mod verify;
