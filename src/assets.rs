//! The built site's static files: content-hashed names (cargo-leptos `hash-files`), the `.br` and
//! `.gz` variants `cargo leptos build --release --precompress` writes beside them, and how long
//! browsers may keep each.

use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
};

use axum::{
    http::{header, HeaderValue},
    Router,
};
use leptos::prelude::LeptosOptions;
use tower_http::{services::ServeDir, set_header::SetResponseHeaderLayer};

/// A file whose name carries its content hash never changes: browsers keep it for a year.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Files whose names do not change with their content: browsers ask again before using them.
pub const REVALIDATE: &str = "no-cache";

#[derive(Debug, thiserror::Error)]
pub enum AssetsError {
    #[error(
        "LEPTOS_HASH_FILES=true but {0} cannot be read ({1}): copy the hash.txt that \
         `cargo leptos build` wrote next to the server binary"
    )]
    HashFile(PathBuf, std::io::Error),
    #[error("{0} has no `{1}:` line: rebuild with `cargo leptos build`")]
    HashMissing(PathBuf, &'static str),
    #[error(
        "{0} is missing: build the site with `cargo leptos build` (and set LEPTOS_SITE_ROOT if it \
         is elsewhere){1}"
    )]
    FileMissing(PathBuf, &'static str),
}

/// The content hashes cargo-leptos wrote to `hash.txt` (empty when hashing is off).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hashes {
    pub js: String,
    pub wasm: String,
    pub css: String,
}

impl Hashes {
    /// Parses `hash.txt` (`js: …`, `wasm: …`, `css: …` lines).
    pub fn parse(text: &str, path: &Path) -> Result<Self, AssetsError> {
        let get = |key: &'static str| {
            text.lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| AssetsError::HashMissing(path.to_owned(), key))
        };
        Ok(Self {
            js: get("js")?,
            wasm: get("wasm")?,
            css: get("css")?,
        })
    }

    /// Where Leptos itself looks for `hash.txt`: beside the running binary.
    pub fn path(options: &LeptosOptions) -> PathBuf {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default()
            .join(options.hash_file.as_ref())
    }

    pub fn load(options: &LeptosOptions) -> Result<Self, AssetsError> {
        if !options.hash_files {
            return Ok(Self::default());
        }
        let path = Self::path(options);
        let text =
            std::fs::read_to_string(&path).map_err(|e| AssetsError::HashFile(path.clone(), e))?;
        Self::parse(&text, &path)
    }

    fn suffix(hash: &str) -> String {
        if hash.is_empty() {
            String::new()
        } else {
            format!(".{hash}")
        }
    }
}

/// The names the page links to, worked out once per process.
pub struct SiteAssets {
    pub hashes: Hashes,
    pub stylesheet_href: String,
    pub js_href: String,
    pub wasm_href: String,
    /// The inline module that loads the WASM and hydrates the islands.
    pub island_script: String,
}

impl SiteAssets {
    pub fn new(options: &LeptosOptions) -> Result<Self, AssetsError> {
        let hashes = Hashes::load(options)?;
        Ok(Self::named(options, hashes))
    }

    fn named(options: &LeptosOptions, hashes: Hashes) -> Self {
        let (pkg, name) = (&options.site_pkg_dir, &options.output_name);
        let js = format!("{name}{}", Hashes::suffix(&hashes.js));
        let wasm = format!("{name}{}", Hashes::suffix(&hashes.wasm));
        // Leptos' island loader, called as `<HydrationScripts islands=true>` calls it (root "").
        let island_script = format!(
            "{}(\"\", {pkg:?}, {js:?}, {wasm:?}, false);",
            include_str!("island_script.js")
        );
        Self {
            stylesheet_href: format!("/{pkg}/{name}{}.css", Hashes::suffix(&hashes.css)),
            js_href: format!("/{pkg}/{js}.js"),
            wasm_href: format!("/{pkg}/{wasm}.wasm"),
            island_script,
            hashes,
        }
    }

    /// For the start-up check: the files the pages link to, which must exist in the site.
    pub fn linked_files(&self, options: &LeptosOptions) -> Vec<PathBuf> {
        let pkg = Path::new(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref());
        let name = options.output_name.as_ref();
        vec![
            pkg.join(format!("{name}{}.js", Hashes::suffix(&self.hashes.js))),
            pkg.join(format!("{name}{}.wasm", Hashes::suffix(&self.hashes.wasm))),
            pkg.join(format!("{name}{}.css", Hashes::suffix(&self.hashes.css))),
        ]
    }

    /// Fails at start-up, naming the file, when the site and the configuration do not match (e.g.
    /// a hashed build served without `LEPTOS_HASH_FILES=true`, which would give pages without
    /// styles or scripts).
    pub fn check(&self, options: &LeptosOptions) -> Result<(), AssetsError> {
        let hint = if options.hash_files {
            ""
        } else {
            " — if the build used hash-files, set LEPTOS_HASH_FILES=true"
        };
        match self
            .linked_files(options)
            .into_iter()
            .find(|f| !f.is_file())
        {
            Some(missing) => Err(AssetsError::FileMissing(missing, hint)),
            None => Ok(()),
        }
    }
}

/// Whether `cargo leptos watch` runs this server: it rebuilds the site's files while the server
/// runs (they are then read from disk on every request, and the page reloads itself).
pub fn watching() -> bool {
    static WATCHING: OnceLock<bool> = OnceLock::new();
    *WATCHING.get_or_init(|| std::env::var_os("LEPTOS_WATCH").is_some())
}

/// The process-wide asset names (one site per process).
pub fn site_assets(options: &LeptosOptions) -> &'static SiteAssets {
    static ASSETS: OnceLock<SiteAssets> = OnceLock::new();
    ASSETS.get_or_init(|| {
        SiteAssets::new(options).unwrap_or_else(|err| {
            // `server::main` checks this before serving; only tests get here with a bad site.
            tracing::error!("{err}");
            SiteAssets::named(options, Hashes::default())
        })
    })
}

/// What Leptos' `<HydrationScripts islands=true>` renders, from names worked out once: Leptos'
/// own component finds `hash.txt` and reads it on every render, which was 11% of the server's
/// CPU for a page (perf). `src/island_script.js` is Leptos 0.8's island loader (MIT), unchanged;
/// the browser tests fail if it stops hydrating.
#[leptos::component]
pub fn IslandScripts(assets: &'static SiteAssets) -> impl leptos::IntoView {
    use leptos::prelude::*;

    // Islands start "not hydrating", as in Leptos' component.
    if let Some(sc) = Owner::current_shared_context() {
        sc.set_is_hydrating(false);
    }
    let nonce = leptos::nonce::use_nonce();
    view! {
        // `crossorigin` empty (anonymous), where Leptos puts the nonce: attributes other than
        // `nonce` are readable by anything that can read the DOM.
        <link rel="modulepreload" href=assets.js_href.as_str() crossorigin="" />
        <link
            rel="preload"
            href=assets.wasm_href.as_str()
            r#as="fetch"
            r#type="application/wasm"
            crossorigin=""
        />
        <script type="module" nonce=nonce>{assets.island_script.as_str()}</script>
    }
}

/// Serves `/{site_pkg_dir}`: the `.br`/`.gz` variant when the browser accepts it (with
/// `Content-Encoding` and `Vary: Accept-Encoding`), hashed files cached for a year, others
/// revalidated.
pub fn pkg_router<S: Clone + Send + Sync + 'static>(options: &LeptosOptions) -> Router<S> {
    let dir = Path::new(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref());
    let hashes = site_assets(options).hashes.clone();
    let serve = ServeDir::new(dir)
        .precompressed_br()
        .precompressed_gzip()
        .append_index_html_on_directories(false);
    Router::new()
        .fallback_service(serve)
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let immutable = is_hashed(req.uri().path(), &hashes);
                async move {
                    let mut res = next.run(req).await;
                    if res.status().is_success() || res.status().as_u16() == 304 {
                        let policy = if immutable { IMMUTABLE } else { REVALIDATE };
                        res.headers_mut()
                            .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
                    }
                    res
                }
            },
        ))
        // Precompressed or not, the answer depends on Accept-Encoding: caches must keep both.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::VARY,
            HeaderValue::from_static("accept-encoding"),
        ))
}

/// Whether a response is a page (HTML), as opposed to a file, JSON or a redirect.
pub fn is_html(res: &axum::response::Response) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"))
}

/// For the other files of the site (`public/`, e.g. the favicon), which Leptos' file handler
/// serves, precompressed variants included, without either header: their names do not change, so
/// browsers revalidate; and a shared cache must not hand the brotli variant to everyone.
pub async fn site_file_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut res = next.run(req).await;
    let is_html = is_html(&res);
    if res.status().is_success() && !is_html {
        let headers = res.headers_mut();
        headers
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static(REVALIDATE));
        headers
            .entry(header::VARY)
            .or_insert(HeaderValue::from_static("accept-encoding"));
    }
    res
}

/// Whether the path names a file whose name holds one of this build's content hashes.
pub fn is_hashed(path: &str, hashes: &Hashes) -> bool {
    let file = path.rsplit('/').next().unwrap_or_default();
    [&hashes.js, &hashes.wasm, &hashes.css]
        .into_iter()
        .any(|h| !h.is_empty() && file.contains(&format!(".{h}.")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cargo_leptos_hash_file() {
        let text = "js: AbC-1_x\nwasm: ZZ9\ncss: q-Q\n";
        let hashes = Hashes::parse(text, Path::new("hash.txt")).unwrap();
        assert_eq!(hashes.js, "AbC-1_x");
        assert_eq!(hashes.wasm, "ZZ9");
        assert_eq!(hashes.css, "q-Q");
        for text in ["js: a\nwasm: b\n", "js: a\nwasm: b\ncss: \n"] {
            let err = Hashes::parse(text, Path::new("hash.txt")).unwrap_err();
            assert!(err.to_string().contains("`css:`"), "{err}");
        }
    }

    #[test]
    fn only_files_named_with_a_hash_of_this_build_are_immutable() {
        let hashes = Hashes {
            js: "J1".into(),
            wasm: "W2".into(),
            css: "C3".into(),
        };
        assert!(is_hashed("/pkg/app.J1.js", &hashes));
        assert!(is_hashed("/pkg/app.W2.wasm", &hashes));
        assert!(is_hashed("/pkg/app.C3.css", &hashes));
        assert!(!is_hashed("/pkg/app.js", &hashes));
        assert!(!is_hashed("/pkg/app.OLD.wasm", &hashes));
        assert!(!is_hashed("/pkg/J1.js", &hashes));
        assert!(!is_hashed("/pkg/app.js", &Hashes::default()));
    }
}
