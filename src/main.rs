//! The `s2d` binary: all work lives in the library; this only hands over to `cli::run`.

fn main() -> std::process::ExitCode {
    s2d::cli::run()
}
