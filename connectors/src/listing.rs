//! Local files in path order: the one listing of a directory that both the file source and
//! local storage use (so a voter's first record is the same whichever reads the files).

use std::path::{Path, PathBuf};

#[allow(missing_docs, reason = "each variant is documented by its #[error] message")]
/// Why local files cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("cannot {action} {}: {cause}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("too many input files (at most {} are numbered)", u32::MAX)]
    TooMany,
}

pub(crate) fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> FilesError {
    let path = path.to_path_buf();
    move |cause| FilesError::Io { action, path, cause }
}

/// Path order, the one file order of every source: the paths' bytes compared in turn, `/`
/// included, as `Storage::list` orders HDFS paths. (`PathBuf`'s own order compares components,
/// which puts `a/b` before `a-b`; bytes put it after, since `-` < `/`.) A voter's first record
/// is therefore the same record whether an archive is replayed from HDFS or from a local copy.
pub fn path_order(a: &Path, b: &Path) -> std::cmp::Ordering {
    a.as_os_str().as_encoded_bytes().cmp(b.as_os_str().as_encoded_bytes())
}

/// The input files under `path`, in [path order](path_order).
pub fn list_files(path: &Path) -> Result<Vec<PathBuf>, FilesError> {
    let meta = std::fs::metadata(path).map_err(io_error("read", path))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut directories = vec![path.to_path_buf()];
    while let Some(directory) = directories.pop() {
        let entries = std::fs::read_dir(&directory).map_err(io_error("list", &directory))?;
        for entry in entries {
            let entry = entry.map_err(io_error("list", &directory))?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with(['.', '_']) {
                continue;
            }
            let kind = entry.file_type().map_err(io_error("stat", &entry.path()))?;
            if kind.is_dir() {
                directories.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort_by(|a, b| path_order(a, b));
    Ok(files)
}
