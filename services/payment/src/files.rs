//! What the payment service writes to disk (hospital statements, the insurer's list, bank
//! files): each whole or not at all, the ones naming persons or accounts readable by their owner
//! only, and CSV fields quoted one way.

use std::path::{Path, PathBuf};

/// `FILE.partial`, where a file is written before it is moved into place.
pub fn partial(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Writes `text` to `path` and syncs it; `private` files (names, IDs, full accounts) are
/// created with mode 0600.
pub fn write_synced(path: &Path, text: &str, private: bool) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Writes `text` to `FILE.partial` in `path`'s directory (made if missing), then moves it into
/// place: a reader never sees half a file.
pub fn write_whole(path: &Path, text: &str, private: bool) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let staging = partial(path);
    write_synced(&staging, text, private)?;
    std::fs::rename(staging, path)
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_owned() }
}
