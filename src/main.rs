//! The `stamp` binary: parse, run, exit code.

fn main() -> std::process::ExitCode {
    stamp::run()
}
