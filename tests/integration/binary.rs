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
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_logto-leptos"));
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
    logto_leptos::auth::http::install_crypto();
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

    logto_leptos::auth::http::install_crypto();
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
