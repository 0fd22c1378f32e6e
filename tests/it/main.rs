//! The one integration-test binary: a module per area, shared helpers in `support`.

mod emulator;
mod support;
