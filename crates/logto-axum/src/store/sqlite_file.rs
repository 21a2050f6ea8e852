//! The SQLite session file: private to the app's user, and written by one app process only.
//!
//! The file holds refresh tokens: its directory is created `0700` and the file (with SQLite's
//! `-wal`/`-shm` beside it) is kept `0600`. And the store keeps records in a per-process cache
//! and refreshes under a per-process lock, which is exact only while one process writes the file:
//! a second process (a rolling deploy on the same volume, two replicas on a shared disk) would
//! serve sessions another one ended, and spend a refresh token twice (Logto then ends the user's
//! sign-in). So the first process takes an exclusive lock on `<file>.lock` and a second one
//! refuses to start, saying to use Redis for several instances.

use std::{
    collections::HashMap,
    fs::{File, OpenOptions},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, Weak},
};

use anyhow::{bail, Context};

/// Held while the file is in use by this process; the lock goes with the last holder.
#[derive(Debug)]
pub struct WriterLock {
    _file: File,
    pub path: PathBuf,
}

/// Makes the file's directory (private), its permissions private, and takes the writer lock.
/// In one process the same file may be opened again (the lock is shared); another process gets
/// an error naming the file.
pub fn prepare(db: &Path) -> anyhow::Result<Arc<WriterLock>> {
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            create_private_dir(dir)
                .with_context(|| format!("SESSION_STORE_URL: cannot create {}", dir.display()))?;
        }
    }
    let lock_path = PathBuf::from(format!("{}.lock", db.display()));
    let lock = lock(&lock_path, db)?;
    for file in [db.to_path_buf(), suffixed(db, "-wal"), suffixed(db, "-shm")] {
        make_private(&file, file == db)
            .with_context(|| format!("SESSION_STORE_URL: cannot protect {}", file.display()))?;
    }
    Ok(lock)
}

fn suffixed(db: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", db.display()))
}

fn lock(lock_path: &Path, db: &Path) -> anyhow::Result<Arc<WriterLock>> {
    static HELD: Mutex<Option<HashMap<PathBuf, Weak<WriterLock>>>> = Mutex::new(None);
    let key = lock_path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .and_then(|d| d.canonicalize().ok())
        .map_or_else(
            || lock_path.to_path_buf(),
            |d| d.join(lock_path.file_name().unwrap_or_default()),
        );
    let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
    let held = held.get_or_insert_with(HashMap::new);
    if let Some(lock) = held.get(&key).and_then(Weak::upgrade) {
        return Ok(lock);
    }
    let file = private_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(lock_path)
        .with_context(|| {
            format!(
                "SESSION_STORE_URL: cannot open the lock file {}",
                lock_path.display()
            )
        })?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "SESSION_STORE_URL: {} is in use by another app process (it holds {}). A SQLite \
             session file serves one process; to run several instances, use Redis \
             (SESSION_STORE_URL=redis://…), or give each its own file",
            db.display(),
            lock_path.display()
        ),
        Err(std::fs::TryLockError::Error(err)) => {
            return Err(err)
                .with_context(|| format!("SESSION_STORE_URL: cannot lock {}", lock_path.display()))
        }
    }
    let lock = Arc::new(WriterLock {
        _file: file,
        path: lock_path.to_path_buf(),
    });
    held.retain(|_, l| l.strong_count() > 0);
    held.insert(key, Arc::downgrade(&lock));
    Ok(lock)
}

#[cfg(unix)]
fn private_options() -> OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = OpenOptions::new();
    options.mode(0o600);
    options
}

#[cfg(not(unix))]
fn private_options() -> OpenOptions {
    OpenOptions::new()
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// `0600`: created so if `create` (the database itself, before SQLite creates it with the umask's
/// mode), narrowed if it exists with more.
#[cfg(unix)]
fn make_private(file: &Path, create: bool) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if !file.exists() {
        if create {
            private_options()
                .write(true)
                .create(true)
                .truncate(false)
                .open(file)?;
        }
        return Ok(());
    }
    let mode = std::fs::metadata(file)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::info!(file = %file.display(), "session file was readable by others: now 0600");
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn make_private(_file: &Path, _create: bool) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_file_and_directory_are_private() {
        let root = std::env::temp_dir().join(format!("sqlite-file-{}", rand_suffix()));
        let db = root.join("deeper/sessions.db");
        let lock = prepare(&db).unwrap();
        assert_eq!(mode(&root.join("deeper")), 0o700);
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&lock.path), 0o600);
        drop(lock);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn an_existing_file_readable_by_others_is_narrowed() {
        let root = std::env::temp_dir().join(format!("sqlite-file-{}", rand_suffix()));
        std::fs::create_dir_all(&root).unwrap();
        let db = root.join("sessions.db");
        let wal = root.join("sessions.db-wal");
        for f in [&db, &wal] {
            std::fs::write(f, b"").unwrap();
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let _lock = prepare(&db).unwrap();
        assert_eq!((mode(&db), mode(&wal)), (0o600, 0o600));
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn one_process_may_open_a_file_twice_and_the_lock_goes_with_the_last() {
        let root = std::env::temp_dir().join(format!("sqlite-file-{}", rand_suffix()));
        let db = root.join("sessions.db");
        let a = prepare(&db).unwrap();
        let b = prepare(&db).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        // Another file opened meanwhile does not make this process forget the first one's lock,
        // and another spelling of the same path is the same file.
        let other = prepare(&root.join("other.db")).unwrap();
        let dir_name = root.file_name().unwrap();
        let spelled = prepare(&root.join("..").join(dir_name).join("sessions.db")).unwrap();
        assert!(Arc::ptr_eq(&a, &spelled));
        drop(other);
        // Another open file description (as another process has) cannot take it meanwhile.
        let other = File::open(&a.path).unwrap();
        assert!(matches!(
            other.try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
        drop((a, b, spelled));
        assert!(other.try_lock().is_ok(), "released with the last holder");
        std::fs::remove_dir_all(root).unwrap();
    }

    fn rand_suffix() -> String {
        format!(
            "{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        )
    }
}
