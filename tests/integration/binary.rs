//! The server binary itself, as `cargo leptos serve` and deployments start it: configuration
//! read at start (a bad value stops it with the name, never the secret), logs on stdout,
//! requests served, and SIGTERM drains it to a clean exit.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

const SECRET: &str = "binary-test-secret-value";

/// A site directory with the three files the pages link to (their contents do not matter here),
/// and an empty `.env`, so that no `.env` further up is read.
fn site() -> std::path::PathBuf {
    let root = std::env::temp_dir().join(format!("site-{}", rand::random::<u64>()));
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    for ext in ["js", "wasm", "css"] {
        std::fs::write(root.join("pkg").join(format!("logto-leptos.{ext}")), "").unwrap();
    }
    std::fs::write(root.join(".env"), "").unwrap();
    root
}

/// The binary with a complete configuration, on a port the system picks; tests change or
/// remove what they need.
fn server(root: &std::path::Path) -> Command {
    // The package's binary, under whatever name the project has (cargo-generate.toml).
    let mut cmd = Command::new(env!(concat!("CARGO_BIN_EXE_", env!("CARGO_PKG_NAME"))));
    // Nothing from the developer's shell (LOGTO_*, RUST_LOG): only what each test sets.
    cmd.env_clear()
        .current_dir(root)
        .env("LEPTOS_OUTPUT_NAME", "logto-leptos")
        .env("LEPTOS_SITE_ROOT", root)
        .env("LEPTOS_SITE_PKG_DIR", "pkg")
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .env("LOGTO_ENDPOINT", "http://127.0.0.1:9")
        .env("LOGTO_APP_ID", "binary-test-app")
        .env("LOGTO_APP_SECRET", SECRET)
        .env("APP_BASE_URL", "http://127.0.0.1:3000")
        .env("SESSION_STORE_URL", "memory")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// A started binary, killed when dropped (a failed assertion must not leave it running), with
/// its output read as it comes (a full pipe would stall it).
struct Running {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

impl Running {
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd.spawn().expect("the server binary");
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = lines(child.stderr.take().unwrap());
        Running {
            child,
            stdout,
            stderr,
        }
    }

    /// Its exit status, waiting up to `limit`.
    fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if start.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The address it says it listens on (port 0 in the settings: the system picked one), and
    /// the lines it printed until then.
    fn listening(&mut self) -> (String, Vec<String>) {
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    let addr = line
                        .split_once("listening on http://")
                        .map(|(_, addr)| addr.trim().to_owned());
                    seen.push(line);
                    if let Some(addr) = addr {
                        return (addr, seen);
                    }
                }
                Err(_) => panic!(
                    "no \"listening on\" line in 30 s (exit: {:?}); stdout: {seen:#?}",
                    self.child.try_wait()
                ),
            }
        }
    }

    /// Stdout and stderr once it has exited (the reader threads then see the pipes close).
    fn output(&self) -> (String, String) {
        let all = |rx: &mpsc::Receiver<String>| rx.iter().collect::<Vec<_>>().join("\n");
        (all(&self.stdout), all(&self.stderr))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lines of a child's output on a channel (the reads block on their own thread).
fn lines(from: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[tokio::test]
async fn the_binary_serves_and_stops_cleanly_on_sigterm() {
    let root = site();
    let mut server = Running::start(server(&root));
    let (addr, mut seen) = server.listening();

    // Straight to it, whatever proxy the test's own environment names.
    logto_axum::http::install_crypto();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let health = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");
    // Still serving a moment later: nothing stops it but a signal.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server exited by itself"
    );

    let pid = server.child.id().to_string();
    let kill = Command::new("sh")
        .args(["-c", "kill -TERM \"$0\"", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = server.exit_within(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let (rest, stderr) = server.output();
    seen.push(rest);
    let log = seen.join("\n");
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains("shut down cleanly"), "{log}");
    assert!(
        log.contains("binary-test-app"),
        "the start-up line names the app: {log}"
    );
    assert!(!log.contains(SECRET), "the app secret was logged: {log}");
    assert!(!stderr.contains(SECRET), "{stderr}");
    let _ = std::fs::remove_dir_all(root);
}

/// Runs the binary to its exit (it must stop by itself, and fail); its stdout and stderr.
fn failed_start(cmd: Command) -> (String, String) {
    let mut server = Running::start(cmd);
    let status = server.exit_within(Duration::from_secs(30));
    assert!(status.is_some_and(|s| !s.success()), "{status:?}");
    server.output()
}

#[test]
fn a_bad_or_missing_setting_stops_the_binary_and_is_named() {
    let root = site();
    let mut cmd = server(&root);
    cmd.env("SESSION_STORE_URL", "redis://:hunter2-password@[::1");
    let (out, err) = failed_start(cmd);
    assert!(err.contains("SESSION_STORE_URL"), "stderr: {err}");
    for text in [&out, &err] {
        assert!(!text.contains("hunter2-password"), "password shown: {text}");
        assert!(!text.contains(SECRET), "secret shown: {text}");
    }

    let mut cmd = server(&root);
    cmd.env_remove("LOGTO_APP_ID");
    let (_, err) = failed_start(cmd);
    assert!(err.contains("LOGTO_APP_ID"), "stderr: {err}");

    let mut cmd = server(&root);
    cmd.env("LEPTOS_SITE_ROOT", root.join("missing"));
    let (_, err) = failed_start(cmd);
    assert!(err.contains("site files"), "stderr: {err}");
    let _ = std::fs::remove_dir_all(root);
}

/// One app process per SQLite session file, enforced: a second process on the same file refuses
/// to start, naming the file and Redis; the first goes on serving; once it has stopped, another
/// may start on the file.
#[tokio::test]
async fn a_second_process_on_the_same_sqlite_file_refuses_to_start() {
    let root = site();
    let db = root.join("data/sessions.db");
    let url = format!("sqlite://{}", db.display());
    let mut first = server(&root);
    first.env("SESSION_STORE_URL", &url);
    let mut first = Running::start(first);
    let (addr, _) = first.listening();

    let mut second = server(&root);
    second.env("SESSION_STORE_URL", &url);
    let (out, err) = failed_start(second);
    assert!(
        err.contains(&db.display().to_string()),
        "names the file: {err}"
    );
    assert!(err.contains("Redis"), "says what to use instead: {err}");
    assert!(out.contains("in use by another app process"), "{out}");

    logto_axum::http::install_crypto();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let health = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the first one goes on");
    drop(first);
    let mut third = server(&root);
    third.env("SESSION_STORE_URL", &url);
    let mut third = Running::start(third);
    third.listening();
    // The file and its directory are the app user's alone.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(db.parent().unwrap()), 0o700);
    assert_eq!(mode(&db), 0o600);
    drop(third);
    let _ = std::fs::remove_dir_all(root);
}

/// A refresh whose request went away is still under way when SIGTERM comes: the binary stops
/// taking requests, waits for it (it says so), stores the refresh token Logto rotated, then
/// exits cleanly. (Without the wait the next start would send the spent token, and Logto would
/// end the sign-in.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_waits_for_a_refresh_in_flight() {
    use crate::support::{callback_url, Idp, Script, CLIENT_ID, CLIENT_SECRET};
    let idp = Idp::start().await;
    idp.script(Script {
        expires_in: Some(1), // every use of the Logto token refreshes it
        ..Script::default()
    });
    let root = site();
    let db = root.join("data/sessions.db");
    let mut cmd = server(&root);
    cmd.env("SESSION_STORE_URL", format!("sqlite://{}", db.display()))
        .env("LOGTO_ENDPOINT", idp.endpoint())
        .env("LOGTO_APP_ID", CLIENT_ID)
        .env("LOGTO_APP_SECRET", CLIENT_SECRET)
        .env("APP_BASE_URL", "http://app.test");
    let mut server = Running::start(cmd);
    let (addr, _) = tokio::task::block_in_place(|| server.listening());
    logto_axum::http::install_crypto();
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookie_of = |res: &reqwest::Response| {
        res.headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::to_owned)
    };

    // Sign in as a browser without JavaScript does.
    let start = client
        .post(format!("http://{addr}/api/sign_in"))
        .header("accept", "text/html")
        .form(&[("mode", "sign_in")])
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302);
    let pending = cookie_of(&start).expect("a session cookie");
    let to_logto = url::Url::parse(start.headers()["location"].to_str().unwrap()).unwrap();
    let params = to_logto.query_pairs().into_owned().collect();
    let callback = client
        .get(format!(
            "http://{addr}{}",
            callback_url(&idp, "user-1", &params)
        ))
        .header("cookie", &pending)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    let status = callback.status();
    let session = cookie_of(&callback);
    assert_eq!(status, 302, "{}", callback.text().await.unwrap_or_default());
    let session = session.expect("the signed-in session's cookie");

    // A request that needs a refresh; Logto rotates the token, and the browser goes away.
    let hold = std::sync::Arc::new(tokio::sync::Notify::new());
    idp.edit_script(|s| s.hold_refresh = Some(hold.clone()));
    let request = tokio::spawn(
        client
            .post(format!("http://{addr}/api/user_info"))
            .header("cookie", &session)
            .send(),
    );
    idp.refreshes.notified().await;
    request.abort();
    let _ = request.await;

    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    // It waits for the refresh, and says so; only then does Logto answer.
    tokio::task::block_in_place(|| loop {
        let line = server
            .stdout
            .recv_timeout(Duration::from_secs(30))
            .expect("the binary says it waits for the refresh");
        if line.contains("waiting for token refreshes and revocations to finish") {
            break;
        }
    });
    hold.notify_one();
    let status = tokio::task::block_in_place(|| server.exit_within(Duration::from_secs(30)));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let (rest, _) = server.output();
    assert!(rest.contains("shut down cleanly"), "{rest}");

    // The rotated refresh token is what the store holds.
    let pool =
        tower_sessions_sqlx_store::sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
    let data: String =
        tower_sessions_sqlx_store::sqlx::query_scalar("SELECT data FROM auth_tokens")
            .fetch_one(&pool)
            .await
            .unwrap();
    let stored: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(
        stored["refresh_token"].as_str(),
        idp.refresh_tokens_issued().last().map(String::as_str),
        "the rotated refresh token was stored before the exit"
    );
    pool.close().await;
    let _ = std::fs::remove_dir_all(root);
}
