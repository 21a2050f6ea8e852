//! A rendered page's body in one piece, for the middleware that needs all of it (the page cache,
//! the `Content-Length` of pages): one bound for both, so a runaway render is a 500, not memory.

use axum::{
    body::{Body, Bytes},
    http::StatusCode,
    response::{IntoResponse, Response},
};

/// Pages are a few KB; anything near this is a bug, not a page.
pub(crate) const MAX_BYTES: usize = 4 * 1024 * 1024;

/// A rendered page's whole body, or the 500 answer to send instead when it cannot be had.
pub(crate) async fn whole(body: Body) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, MAX_BYTES).await.map_err(|err| {
        tracing::error!("rendering a page failed: {err}");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong. Please try again.",
        )
            .into_response()
    })
}
