#[cfg(feature = "ssr")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "ssr")]
#[tokio::main]
async fn main() -> std::process::ExitCode {
    logto_leptos::server::main().await
}

#[cfg(not(feature = "ssr"))]
pub fn main() {
    // The browser half starts in `lib.rs::hydrate`; this binary is only built with `ssr`.
}
