//! Generates the `i18n` module (the `Locale` enum and the typed keys `td!`/`td_string!` check at
//! compile time) from the catalogues in `src/locales/`. This is what `leptos_i18n_build` does,
//! with its parser and code generator only: its ICU data exporter (~85 crates, with networking)
//! is for ICU formatters this app does not use. Differences between the catalogues fail the build.

use std::{error::Error, fs, path::PathBuf};

use leptos_i18n_parser::parse_locales::{
    options::{Config, ParseOptions},
    parse_locales,
};

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo::rerun-if-changed=src/build.rs");
    println!("cargo::rerun-if-changed=src/locales");
    let config = Config::new("en")?
        .add_locale("th")?
        .locales_path("src/locales")
        // `td_string!` with arguments gives a `String` (for attributes and island props).
        .parse_options(ParseOptions::new().interpolate_display(true));
    let parsed = parse_locales(None, config)?;
    for file in parsed.tracked_files.iter().flatten() {
        println!("cargo::rerun-if-changed={file}");
    }
    let errors: Vec<String> = parsed.diag.errors().iter().map(|e| e.to_string()).collect();
    // A key missing from one catalogue would silently show English on a Thai page.
    let warnings: Vec<String> = parsed
        .diag
        .warnings()
        .iter()
        .map(|w| w.to_string())
        .collect();
    if !errors.is_empty() || !warnings.is_empty() {
        for problem in errors.iter().chain(&warnings) {
            println!("cargo::error=src/locales: {problem}");
        }
        return Err("the catalogues in src/locales disagree (see the errors above)".into());
    }
    // As leptos_i18n_build 0.6.2's `generate_i18n_module` calls it: the crate at its default
    // path (`leptos_i18n`), diagnostics already handled above, no extra attributes, no docs.
    // Pinned with the parser (=0.6.2): an upgrade of leptos_i18n should re-check this call.
    let code = leptos_i18n_codegen::gen_code(
        &parsed, /* crate_path */ None, /* emit_diagnostics */ false,
        /* top_level_attributes */ None, /* gen_docs */ false,
    )?;
    let dir = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?).join("i18n");
    fs::create_dir_all(&dir)?;
    fs::write(dir.join("mod.rs"), code.to_string())?;
    Ok(())
}
