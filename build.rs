//! Tells the library whether it is being built on a model checker's backend, for one purpose:
//! the documentation examples are plain programs (they start loops on real threads, outside any
//! model), so under `--features loom` / `--features shuttle` rustdoc collects none of them and
//! `cargo test --features loom` runs the model checks alone (runtime/lib.rs, first line).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(evloop_model_backend)");
    if std::env::var_os("CARGO_FEATURE_LOOM").is_some()
        || std::env::var_os("CARGO_FEATURE_SHUTTLE").is_some()
    {
        println!("cargo::rustc-cfg=evloop_model_backend");
    }
}
