//! Single-flight token refresh. Logto rotates refresh tokens and revokes the whole grant when a
//! used one comes back, so concurrent requests of one user must share a single refresh: the first
//! does it, the others wait for and reuse its result. Results stay for a short while so requests
//! that arrive with the old token just after still get the new one.
//! (Per process: several app instances sharing a session store would need a shared lock.)

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::{Mutex, OnceCell};

use super::{flow, AuthError, Provider, SignedIn};

const KEEP_RESULTS_FOR: Duration = Duration::from_secs(60);

type Outcome = Result<SignedIn, Arc<AuthError>>;
/// When the flight started, and its (eventual) outcome.
type Flight = (Instant, Arc<OnceCell<Outcome>>);

#[derive(Default)]
pub struct Refresher {
    /// Keyed by the refresh token being spent.
    flights: Mutex<HashMap<String, Flight>>,
}

impl Refresher {
    pub async fn refresh(&self, provider: &Provider, current: &SignedIn) -> Outcome {
        let Some(key) = current.refresh_token.clone() else {
            return Err(Arc::new(AuthError::RefreshRejected(
                "no refresh token".into(),
            )));
        };
        let cell = {
            let mut flights = self.flights.lock().await;
            flights.retain(|_, (at, _)| at.elapsed() < KEEP_RESULTS_FOR);
            flights
                .entry(key)
                .or_insert_with(|| (Instant::now(), Arc::new(OnceCell::new())))
                .1
                .clone()
        };
        cell.get_or_init(|| async { flow::refresh(provider, current).await.map_err(Arc::new) })
            .await
            .clone()
    }
}
