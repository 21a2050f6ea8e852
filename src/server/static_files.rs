//! The site's built files, answered from memory: cargo-leptos writes them once per build
//! (`LEPTOS_SITE_ROOT`: the hashed WASM, JS and CSS under `pkg/` with the `.br`/`.gz` variants
//! `--precompress` makes, and `public/`'s files), so a running release server reads them once, at
//! start, instead of opening each file on every request. Each answer has the headers the files
//! had from disk: `Content-Type`, `Content-Length`, `Cache-Control` (a year for names carrying a
//! content hash of this build, else revalidate), `Vary: Accept-Encoding`, the precompressed
//! variant the browser accepts with its `Content-Encoding`, and an `ETag` (304 on
//! `If-None-Match`).
//!
//! It is a middleware, not routes: a GET or HEAD naming one of the files is answered before the
//! session and page layers (which a file needs neither of); everything else goes on to the app
//! as before: a missing `/pkg` file to the disk server's empty 404, other paths to Leptos' file
//! handler and the 404 page, and byte-range requests to the disk server (206). The files are
//! read once: a server whose files are replaced is restarted (`cargo leptos watch` does). Under
//! `cargo leptos watch` the files change while the server runs: there it is not installed.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::SystemTime,
};

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::Response,
};

use crate::assets::{Hashes, IMMUTABLE, REVALIDATE};

/// One encoding of a file; its tag differs from the other encodings' (a shared cache must not
/// answer a `br` request's revalidation with the identity body).
struct Variant {
    body: Bytes,
    etag: HeaderValue,
}

/// Headers decided once, at load: only the variant is chosen per request.
struct StaticFile {
    content_type: HeaderValue,
    cache_control: HeaderValue,
    /// The file's modification time, for browsers revalidating with `If-Modified-Since` (what
    /// the disk server sent before them; an ETag is only known after this version).
    last_modified: HeaderValue,
    modified: SystemTime,
    identity: Variant,
    brotli: Option<Variant>,
    gzip: Option<Variant>,
}

/// Every file of the site, by URL path (`/pkg/app.abc.wasm`, `/favicon.svg`): one lookup per
/// request, no file system.
#[derive(Default)]
pub struct StaticFiles {
    files: HashMap<String, StaticFile>,
}

impl StaticFiles {
    /// At most this many files, of at most this many bytes in all, are held: a site root that
    /// holds more is not a cargo-leptos site (`LEPTOS_SITE_ROOT` left at Leptos' default `.`,
    /// the whole project) and is served from disk as before, file by file.
    const MAX_FILES: usize = 2_000;
    const MAX_BYTES: u64 = 64 << 20;

    /// Reads every file under `root` (its `.br`/`.gz` become variants of the file they compress).
    /// A missing root is an empty site (the start-up check names the files pages need).
    pub fn load(root: &Path, hashes: &Hashes) -> std::io::Result<Self> {
        let mut files = HashMap::new();
        if !root.is_dir() {
            return Ok(Self { files });
        }
        let mut budget = Budget {
            files: Self::MAX_FILES,
            bytes: Self::MAX_BYTES,
        };
        let paths = walk(root, &mut budget)?;
        for (path, modified) in paths {
            let name = path.to_string_lossy();
            if name.ends_with(".br") || name.ends_with(".gz") {
                continue;
            }
            let relative = path.strip_prefix(root).unwrap_or(&path);
            let url = format!("/{}", relative.to_string_lossy().replace('\\', "/"));
            let variant = |suffix: &str| -> std::io::Result<Option<Variant>> {
                let compressed = PathBuf::from(format!("{name}{suffix}"));
                if compressed.is_file() {
                    Ok(Some(Variant::new(std::fs::read(compressed)?, suffix)))
                } else {
                    Ok(None)
                }
            };
            let policy = if crate::assets::is_hashed(&url, hashes) {
                IMMUTABLE
            } else {
                REVALIDATE
            };
            let file = StaticFile {
                content_type: content_type(&path),
                cache_control: HeaderValue::from_static(policy),
                last_modified: HeaderValue::from_str(&httpdate::fmt_http_date(modified))
                    .unwrap_or(HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT")),
                modified,
                identity: Variant::new(std::fs::read(&path)?, ""),
                brotli: variant(".br")?,
                gzip: variant(".gz")?,
            };
            files.insert(url, file);
        }
        Ok(Self { files })
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Bytes held, all variants.
    pub fn bytes(&self) -> usize {
        self.files
            .values()
            .map(|f| {
                f.identity.body.len()
                    + f.brotli.as_ref().map_or(0, |v| v.body.len())
                    + f.gzip.as_ref().map_or(0, |v| v.body.len())
            })
            .sum()
    }

    /// The middleware (`axum::middleware::from_fn_with_state`): a GET or HEAD for one of the
    /// files is answered from memory; any other request goes on.
    pub async fn serve(
        State(files): State<Arc<StaticFiles>>,
        req: Request,
        next: Next,
    ) -> Response {
        let head = req.method() == Method::HEAD;
        // Byte ranges and their preconditions are the disk server's (`ServeDir` answers 206 and
        // 412): rare, and not worth a second implementation.
        let ranged = [header::RANGE, header::IF_RANGE, header::IF_UNMODIFIED_SINCE]
            .iter()
            .any(|h| req.headers().contains_key(h));
        if (head || req.method() == Method::GET) && !ranged {
            if let Some(file) = files.find(req.uri().path()) {
                let mut res = file.answer(req.headers());
                if head {
                    // The headers (Content-Length included) without the body, as for GET.
                    *res.body_mut() = Body::empty();
                }
                return res;
            }
        }
        next.run(req).await
    }

    /// The file a request path names (percent-decoded, as the file system would see it).
    fn find(&self, path: &str) -> Option<&StaticFile> {
        if path.contains('%') {
            let decoded = percent_encoding::percent_decode_str(path)
                .decode_utf8()
                .ok()?;
            self.files.get(decoded.as_ref())
        } else {
            self.files.get(path)
        }
    }
}

impl StaticFile {
    /// The answer, in the encoding the request prefers of those there are.
    fn answer(&self, request: &HeaderMap) -> Response {
        let accepted = accepted_encodings(request);
        let (variant, encoding) = match (&self.brotli, &self.gzip) {
            (Some(br), _) if accepted.prefers_brotli(self.gzip.is_some()) => (br, Some("br")),
            (_, Some(gz)) if accepted.gzip > 0.0 => (gz, Some("gzip")),
            _ => (&self.identity, None),
        };
        let mut res = if self.not_modified(request, &variant.etag) {
            status(StatusCode::NOT_MODIFIED)
        } else {
            let mut res = Response::new(Body::from(variant.body.clone()));
            res.headers_mut()
                .insert(header::CONTENT_TYPE, self.content_type.clone());
            res.headers_mut().insert(
                header::CONTENT_LENGTH,
                HeaderValue::from(variant.body.len()),
            );
            if let Some(encoding) = encoding {
                res.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
            }
            res
        };
        let headers = res.headers_mut();
        headers.insert(header::ETAG, variant.etag.clone());
        headers.insert(header::LAST_MODIFIED, self.last_modified.clone());
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        headers.insert(header::CACHE_CONTROL, self.cache_control.clone());
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        // As every answer of the app says (`server::page_headers`).
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        );
        res
    }
}

impl StaticFile {
    /// RFC 9110 §13.1: `If-None-Match` decides when sent (`If-Modified-Since` is then ignored);
    /// else `If-Modified-Since`, to the second.
    fn not_modified(&self, request: &HeaderMap, etag: &HeaderValue) -> bool {
        if let Some(tags) = request.get(header::IF_NONE_MATCH) {
            return etag_matches(tags, etag);
        }
        request
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .is_some_and(|since| {
                let secs = |t: SystemTime| {
                    t.duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs())
                };
                secs(self.modified) <= secs(since)
            })
    }
}

impl Variant {
    /// The ETag names the content and the encoding (a shared cache must not answer a `br`
    /// request's revalidation with the identity body's tag).
    fn new(body: Vec<u8>, suffix: &str) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &body);
        let etag = format!(
            "\"{}{}\"",
            hex::encode(&digest.as_ref()[..12]),
            suffix.replace('.', "-")
        );
        Self {
            etag: HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"0\"")),
            body: Bytes::from(body),
        }
    }
}

fn status(code: StatusCode) -> Response {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = code;
    res
}

/// What is left of the files and bytes a site may have.
struct Budget {
    files: usize,
    bytes: u64,
}

/// Every file under `dir` with its modification time, depth first; an error as soon as they pass
/// the budget (before any is read).
fn walk(dir: &Path, budget: &mut Budget) -> std::io::Result<Vec<(PathBuf, SystemTime)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue; // `.env` and the like: never read into memory (from disk as before)
        }
        let path = entry.path();
        // A dangling link, or a file removed meanwhile: not part of the site.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            out.extend(walk(&path, budget)?);
        } else if meta.is_file() {
            budget.files = budget.files.checked_sub(1).ok_or_else(too_many)?;
            budget.bytes = budget.bytes.checked_sub(meta.len()).ok_or_else(too_many)?;
            out.push((path, meta.modified()?));
        }
    }
    Ok(out)
}

fn too_many() -> std::io::Error {
    std::io::Error::other(format!(
        "more than {} files or {} MiB: not a built site (is LEPTOS_SITE_ROOT set?)",
        StaticFiles::MAX_FILES,
        StaticFiles::MAX_BYTES >> 20
    ))
}

/// As tower-http's `ServeDir` (which served them before) names them.
fn content_type(path: &Path) -> HeaderValue {
    let mime = mime_guess::from_path(path).first_raw();
    HeaderValue::from_static(mime.unwrap_or("application/octet-stream"))
}

/// The quality `Accept-Encoding` gives each precompressed encoding (0: refused or not named).
#[derive(Debug, Default, PartialEq)]
struct Accepted {
    brotli: f32,
    gzip: f32,
}

impl Accepted {
    /// Brotli when accepted and liked at least as much as gzip (or there is no gzip variant).
    fn prefers_brotli(&self, gzip_there: bool) -> bool {
        self.brotli > 0.0 && (!gzip_there || self.brotli >= self.gzip)
    }
}

/// `Accept-Encoding`'s qualities for `br` and `gzip` (`x-gzip` too; `*` names any not named;
/// the `q` parameter in any case, RFC 9110 §12.5.3).
fn accepted_encodings(headers: &HeaderMap) -> Accepted {
    let (mut brotli, mut gzip, mut any) = (None, None, None);
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        for part in value.to_str().unwrap_or_default().split(',') {
            let mut pieces = part.split(';');
            let name = pieces.next().unwrap_or_default().trim();
            let q = pieces
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .map_or(1.0, |(_, q)| q.trim().parse::<f32>().unwrap_or(0.0));
            if name.eq_ignore_ascii_case("br") {
                brotli = Some(q);
            } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                gzip = Some(q);
            } else if name == "*" {
                any = Some(q);
            }
        }
    }
    let any = any.unwrap_or(0.0);
    Accepted {
        brotli: brotli.unwrap_or(any),
        gzip: gzip.unwrap_or(any),
    }
}

/// `If-None-Match`: `*` or a list of tags, weak ones compared weakly (RFC 9110 §13.1.2).
fn etag_matches(tags: &HeaderValue, etag: &HeaderValue) -> bool {
    let Ok(tags) = tags.to_str() else {
        return false;
    };
    let ours = etag.to_str().unwrap_or_default();
    tags.split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Accepted {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, value.parse().unwrap());
        accepted_encodings(&h)
    }

    #[test]
    fn accept_encoding_as_browsers_and_proxies_send_it() {
        let q = |br: f32, gzip: f32| Accepted { brotli: br, gzip };
        assert_eq!(accept("gzip, deflate, br, zstd"), q(1.0, 1.0));
        assert_eq!(accept("gzip"), q(0.0, 1.0));
        assert_eq!(accept("br;q=0, gzip;q=0.5"), q(0.0, 0.5));
        assert_eq!(
            accept("BR;Q=0, GZip"),
            q(0.0, 1.0),
            "names and q in any case"
        );
        assert_eq!(accept("*"), q(1.0, 1.0));
        assert_eq!(accept("*;q=0.3, br;q=0"), q(0.0, 0.3));
        assert_eq!(accept("identity"), Accepted::default());
        assert_eq!(accepted_encodings(&HeaderMap::new()), Accepted::default());
        // Preference: brotli unless gzip is liked more (and there).
        assert!(accept("gzip, br").prefers_brotli(true));
        assert!(!accept("br;q=0.1, gzip").prefers_brotli(true));
        assert!(accept("br;q=0.1, gzip").prefers_brotli(false));
        assert!(!accept("gzip").prefers_brotli(false));
    }

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        let ours = HeaderValue::from_static("\"abc-br\"");
        let m = |v: &str| etag_matches(&HeaderValue::from_str(v).unwrap(), &ours);
        assert!(m("\"abc-br\""));
        assert!(m("W/\"abc-br\""));
        assert!(m("\"x\", \"abc-br\""));
        assert!(m("*"));
        assert!(!m("\"abc\""));
        assert!(!m("\"abc-gz\""));
    }

    #[tokio::test]
    async fn files_are_answered_from_memory_with_their_headers() {
        use tower::ServiceExt;
        let root = std::env::temp_dir().join(format!("static-{}", std::process::id()));
        std::fs::create_dir_all(root.join("pkg")).unwrap();
        std::fs::write(root.join("pkg/app.H1.wasm"), vec![7u8; 1000]).unwrap();
        std::fs::write(root.join("pkg/app.H1.wasm.br"), vec![8u8; 100]).unwrap();
        std::fs::write(root.join("pkg/app.H1.wasm.gz"), vec![9u8; 200]).unwrap();
        std::fs::write(root.join("favicon.svg"), "<svg/>").unwrap();
        std::fs::write(root.join(".env"), "SECRET=1").unwrap();
        let hashes = Hashes {
            js: "J".into(),
            wasm: "H1".into(),
            css: "C".into(),
        };
        let files = Arc::new(StaticFiles::load(&root, &hashes).unwrap());
        assert_eq!(files.len(), 2);
        assert_eq!(files.bytes(), 1000 + 100 + 200 + 6);
        // Read once: the files can go now.
        std::fs::remove_dir_all(&root).unwrap();
        let router = axum::Router::new()
            .fallback(|| async { StatusCode::IM_A_TEAPOT })
            .layer(axum::middleware::from_fn_with_state(
                files.clone(),
                StaticFiles::serve,
            ));
        let get = |path: &str, headers: &[(&str, &str)]| {
            let mut req = axum::http::Request::get(path);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            router.clone().oneshot(req.body(Body::empty()).unwrap())
        };
        let res = get("/pkg/app.H1.wasm", &[("accept-encoding", "gzip, br")])
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let h = res.headers().clone();
        assert_eq!(h[header::CONTENT_ENCODING], "br");
        assert_eq!(h[header::CONTENT_LENGTH], "100");
        assert_eq!(h[header::CONTENT_TYPE], "application/wasm");
        assert_eq!(h[header::CACHE_CONTROL], IMMUTABLE);
        assert_eq!(h[header::VARY], "accept-encoding");
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(body, vec![8u8; 100]);
        // gzip only, then none.
        let gz = get("/pkg/app.H1.wasm", &[("accept-encoding", "gzip")])
            .await
            .unwrap();
        assert_eq!(gz.headers()[header::CONTENT_ENCODING], "gzip");
        let plain = get("/pkg/app.H1.wasm", &[]).await.unwrap();
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(plain.headers()[header::CONTENT_LENGTH], "1000");
        assert_ne!(
            plain.headers()[header::ETAG],
            h[header::ETAG],
            "a tag per encoding"
        );
        // Revalidation.
        let etag = h[header::ETAG].to_str().unwrap().to_owned();
        let again = get(
            "/pkg/app.H1.wasm",
            &[("accept-encoding", "br"), ("if-none-match", &etag)],
        )
        .await
        .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(again.headers()[header::ETAG], etag.as_str());
        // An unhashed file is revalidated.
        let icon = get("/favicon.svg", &[]).await.unwrap();
        assert_eq!(icon.headers()[header::CACHE_CONTROL], REVALIDATE);
        assert_eq!(icon.headers()[header::CONTENT_TYPE], "image/svg+xml");
        // HEAD: headers, no body.
        let head = router
            .clone()
            .oneshot(
                axum::http::Request::head("/favicon.svg")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(head.headers()[header::CONTENT_LENGTH], "6");
        let body = axum::body::to_bytes(head.into_body(), usize::MAX)
            .await
            .unwrap();
        assert!(body.is_empty());
        // Other methods, other paths, and the same path spelled encoded.
        let post = router
            .clone()
            .oneshot(
                axum::http::Request::post("/favicon.svg")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(post.status(), StatusCode::IM_A_TEAPOT, "goes on to the app");
        let missing = get("/pkg/app.H2.wasm", &[]).await.unwrap();
        assert_eq!(missing.status(), StatusCode::IM_A_TEAPOT);
        let encoded = get("/favicon%2Esvg", &[]).await.unwrap();
        assert_eq!(encoded.status(), StatusCode::OK);
    }

    /// A root that is not a built site (the whole project, Leptos' default `.`) is refused
    /// before anything is read: too many files, or too many bytes.
    #[test]
    fn a_root_past_the_budget_is_refused() {
        let root = std::env::temp_dir().join(format!("static-budget-{}", std::process::id()));
        std::fs::create_dir_all(root.join("deep")).unwrap();
        for i in 0..3 {
            std::fs::write(root.join("deep").join(format!("{i}.txt")), [0u8; 10]).unwrap();
        }
        let mut fits = Budget {
            files: 3,
            bytes: 30,
        };
        assert_eq!(walk(&root, &mut fits).unwrap().len(), 3);
        for mut short in [
            Budget {
                files: 2,
                bytes: 30,
            },
            Budget {
                files: 3,
                bytes: 29,
            },
        ] {
            assert!(walk(&root, &mut short).is_err());
        }
        // More files than a site has: the whole project, say.
        for i in 0..StaticFiles::MAX_FILES {
            std::fs::write(root.join(format!("{i}")), b"").unwrap();
        }
        let err = StaticFiles::load(&root, &Hashes::default()).err();
        assert!(
            err.is_some_and(|e| e.to_string().contains("LEPTOS_SITE_ROOT")),
            "a project directory is no site"
        );
        std::fs::remove_dir_all(root).unwrap();
    }
}
