//! HTTP to Logto and to the APIs an app calls: one client configuration (no redirects, bounded
//! time), and bodies read with a size cap, so a misbehaving server cannot make a request hold an
//! unbounded answer in memory. `LogtoHttp` is the same client in the shape openidconnect calls.

use std::{future::Future, pin::Pin, sync::Mutex, time::Duration};

use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};
use reqwest::header::{HeaderMap, HeaderValue, CACHE_CONTROL};

/// Discovery, keys, token and userinfo answers are a few KB; this is far above any of them.
pub const LOGTO_BODY_LIMIT: usize = 1024 * 1024;

/// A client that never follows redirects (SSRF, token leakage) and gives up after `timeout`.
pub fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    install_crypto();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        .user_agent(concat!(
            env!("CARGO_PKG_NAME"),
            "/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
}

/// rustls' crypto provider for this process, aws-lc-rs (reqwest is built without one of its own):
/// first thing in `main`, and before any other TLS client is made. Installing it again is a no-op.
pub fn install_crypto() {
    // Err: one is installed already (this one, or the embedding app's own choice).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

#[derive(Debug, thiserror::Error)]
/// A failed request to Logto or an API.
pub enum HttpError {
    #[error(transparent)]
    /// No answer (connection, timeout) or an unreadable one.
    Request(#[from] reqwest::Error),
    #[error("the answer is larger than {0} bytes")]
    /// The body was larger than the cap (bytes): not read further.
    TooLarge(usize),
    #[error("invalid request: {0}")]
    /// The body was not what was expected.
    Invalid(String),
}

/// The whole body, or `TooLarge` as soon as it passes `limit` bytes (whatever Content-Length
/// claimed).
pub async fn read_capped(mut res: reqwest::Response, limit: usize) -> Result<Vec<u8>, HttpError> {
    if res.content_length().is_some_and(|n| n > limit as u64) {
        return Err(HttpError::TooLarge(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(HttpError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// openidconnect's requests to Logto, through `client` with the body cap. Remembers the last
/// answer's `Cache-Control` (how long Logto says its keys may be kept).
pub struct LogtoHttp<'a> {
    client: &'a reqwest::Client,
    cache_control: Mutex<Option<HeaderValue>>,
}

impl<'a> LogtoHttp<'a> {
    /// Requests through `client`.
    pub fn new(client: &'a reqwest::Client) -> Self {
        Self {
            client,
            cache_control: Mutex::new(None),
        }
    }

    /// The last answer's `Cache-Control`, if it had one.
    pub fn cache_control(&self) -> Option<HeaderValue> {
        self.cache_control
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let request =
            reqwest::Request::try_from(request).map_err(|e| HttpError::Invalid(e.to_string()))?;
        let res = self.client.execute(request).await?;
        let mut answer = openidconnect::http::Response::builder()
            .status(res.status())
            .version(res.version());
        if let Some(headers) = answer.headers_mut() {
            headers.extend(res.headers().clone());
        }
        *self.cache_control.lock().unwrap_or_else(|p| p.into_inner()) =
            res.headers().get(CACHE_CONTROL).cloned();
        let body = read_capped(res, LOGTO_BODY_LIMIT).await?;
        answer
            .body(body)
            .map_err(|e| HttpError::Invalid(e.to_string()))
    }
}

impl<'c> AsyncHttpClient<'c> for LogtoHttp<'_> {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}

/// `max-age` of a `Cache-Control` header (`no-store`/`no-cache` count as 0); `None` when it
/// says nothing about age.
pub fn max_age(headers: &HeaderMap) -> Option<Duration> {
    use headers::HeaderMapExt;
    let cc = headers.typed_get::<headers::CacheControl>()?;
    if cc.no_store() || cc.no_cache() {
        return Some(Duration::ZERO);
    }
    cc.max_age()
}

/// An error with its causes, for logs.
pub fn chain(err: impl std::error::Error + Send + Sync + 'static) -> String {
    format!("{:#}", anyhow::Error::new(err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_ages() {
        let age = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(CACHE_CONTROL, HeaderValue::from_str(v).unwrap());
            max_age(&h)
        };
        assert_eq!(age("public, max-age=600"), Some(Duration::from_secs(600)));
        assert_eq!(
            age("max-age=60, must-revalidate"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(age("no-store"), Some(Duration::ZERO));
        assert_eq!(age("no-cache, max-age=600"), Some(Duration::ZERO));
        assert_eq!(age("public"), None);
        assert_eq!(max_age(&HeaderMap::new()), None);
    }

    /// A server answering `len` bytes at `/`, with or without a Content-Length (chunked).
    async fn serve(len: usize, chunked: bool) -> String {
        use axum::{body::Body, routing::get, Router};
        let app = Router::new().route(
            "/",
            get(move || async move {
                let body = vec![b'x'; len];
                if chunked {
                    let chunks = body
                        .chunks(1000)
                        .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                        .collect::<Vec<_>>();
                    Body::from_stream(futures_util::stream::iter(chunks))
                } else {
                    Body::from(body)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    /// Exactly the limit is read whole; one byte more is refused, whether the server said its
    /// length first or not.
    #[tokio::test]
    async fn bodies_are_read_up_to_the_limit_and_no_further() {
        let http = client(Duration::from_secs(5)).unwrap();
        for chunked in [false, true] {
            for (len, ok) in [
                (4_000, true),
                (4_096, true),
                (4_097, false),
                (50_000, false),
            ] {
                let res = http.get(serve(len, chunked).await).send().await.unwrap();
                assert_eq!(
                    res.content_length().is_none(),
                    chunked,
                    "the path under test"
                );
                let read = read_capped(res, 4_096).await;
                match (ok, read) {
                    (true, Ok(body)) => assert_eq!(body.len(), len),
                    (false, Err(HttpError::TooLarge(4_096))) => {}
                    (ok, other) => panic!("{len} bytes, chunked {chunked}: {ok} {other:?}"),
                }
            }
        }
    }

    /// Logto's answers may be large (a JWKS of many keys): up to a megabyte is taken.
    #[tokio::test]
    async fn logto_answers_up_to_a_megabyte_are_taken() {
        let http = client(Duration::from_secs(5)).unwrap();
        let logto = LogtoHttp::new(&http);
        for (len, ok) in [(1 << 20, true), ((1 << 20) + 1, false)] {
            let request = openidconnect::http::Request::get(serve(len, true).await)
                .body(Vec::new())
                .unwrap();
            match (ok, logto.send(request).await) {
                (true, Ok(answer)) => assert_eq!(answer.body().len(), len),
                (false, Err(HttpError::TooLarge(limit))) => assert_eq!(limit, 1 << 20),
                (ok, other) => panic!("{len} bytes: {ok} {:?}", other.map(|a| a.status())),
            }
        }
    }

    #[test]
    fn chains_name_every_cause() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let err = Outer(std::io::Error::other("inner"));
        assert_eq!(chain(err), "outer: inner");
    }
}
