//! Helpers shared by the integration tests: the local AWS emulator harness.

// The helpers are the test modules' API; `pub` documents that, and inside a test binary
// nothing is reachable from outside anyway.
#![allow(unreachable_pub)]

pub mod emulator;
