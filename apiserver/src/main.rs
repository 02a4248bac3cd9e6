//! `apiserver`: parse options, run, exit with a one-line error.

use clap::Parser;

/// mimalloc instead of glibc malloc: the request path allocates and frees
/// many small JSON nodes per request, where glibc spent ~45% of the CPU
/// (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let options = apiserver::config::Options::parse();
    if let Err(e) = apiserver::run(options).await {
        eprintln!("apiserver: {e:#}");
        std::process::exit(1);
    }
}
