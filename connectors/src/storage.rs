//! Durable storage behind one small interface, chosen by URL: `hdfs://host:port/path` (HDFS, via
//! hdfs-native) or `file:///path` (a local directory; a plain path means the same). The archive,
//! the snapshots and replay use only this, so none of them knows which it is.
//!
//! Writes are atomic: a file is written under a temporary name starting with `_` (which readers
//! skip) and renamed into place, so it is either whole or absent. Every HDFS call has a timeout:
//! a dead NameNode otherwise makes calls hang for minutes on the client's own retries.

use hdfs_native::HdfsError;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[allow(missing_docs, reason = "each variant is documented by its #[error] message")]
/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{url:?} names no NameNode (hdfs://host:port/path)")]
    NoNameNode { url: String },
    #[error("empty storage path")]
    EmptyPath,
    #[error("cannot open {url}: {cause}")]
    Open { url: String, cause: HdfsError },
    #[error("cannot {action} {}: {cause}", path.display())]
    Local {
        action: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("HDFS {path}: {cause:?}")]
    Hdfs { path: String, cause: HdfsError },
    #[error("HDFS {path}: no answer within {CALL_TIMEOUT:?}")]
    Timeout { path: String },
    #[error("cannot list {path}: {cause}")]
    Listing {
        path: String,
        cause: crate::listing::FilesError,
    },
    #[error("the storage runtime stopped: {0}")]
    Runtime(#[from] tokio::task::JoinError),
}

impl StorageError {
    /// True when the path does not exist (as an error: `list` treats a missing directory as
    /// empty instead).
    pub fn is_not_found(&self) -> bool {
        match self {
            StorageError::Local { cause, .. } => cause.kind() == std::io::ErrorKind::NotFound,
            StorageError::Hdfs { cause, .. } => match cause {
                HdfsError::FileNotFound(_) => true,
                // The NameNode's own exception, by its Java class name.
                HdfsError::RPCError(class, _) => class.ends_with("FileNotFoundException"),
                _ => false,
            },
            _ => false,
        }
    }
}

/// The longest any one HDFS call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The most one read of a [`Storage::blocking_reader`] asks HDFS for.
pub const READ_BYTES: usize = 4 << 20;

/// Where storage is, parsed once from its URL: `hdfs://host:port/path`, or a local directory
/// (`file:///path` or a plain path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A local directory.
    Local(PathBuf),
    /// A directory on HDFS: the NameNode's `host:port` and the path (without a trailing `/`;
    /// empty for the root).
    Hdfs {
        /// The NameNode's `host:port`.
        authority: String,
        /// The directory, absolute, without a trailing `/`.
        root: String,
    },
}

impl std::str::FromStr for Location {
    type Err = StorageError;

    fn from_str(url: &str) -> Result<Location, StorageError> {
        if let Some(rest) = url.strip_prefix("hdfs://") {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            if authority.is_empty() {
                return Err(StorageError::NoNameNode { url: url.to_string() });
            }
            return Ok(Location::Hdfs {
                authority: authority.to_string(),
                root: format!("/{path}").trim_end_matches('/').to_string(),
            });
        }
        let path = url.strip_prefix("file://").unwrap_or(url);
        if path.is_empty() {
            return Err(StorageError::EmptyPath);
        }
        Ok(Location::Local(PathBuf::from(path)))
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(root) => write!(f, "{}", root.display()),
            Location::Hdfs { authority, root } => write!(f, "hdfs://{authority}{root}"),
        }
    }
}

/// Storage, opened.
pub enum Storage {
    /// A local directory.
    Local {
        /// The directory every path is relative to.
        root: PathBuf,
    },
    /// A directory on HDFS.
    Hdfs {
        /// The NameNode's client (it connects on its first call).
        client: hdfs_native::Client,
        /// The directory every path is relative to.
        root: String,
    },
}

impl Storage {
    /// Opens `url` (no I/O yet for HDFS: connections are made by the first call).
    pub fn open(url: &str) -> Result<Storage, StorageError> {
        Storage::at(&url.parse()?)
    }

    /// Opens storage at `location` (no I/O yet for HDFS: connections are made by the first call).
    pub fn at(location: &Location) -> Result<Storage, StorageError> {
        match location {
            Location::Local(root) => Ok(Storage::Local { root: root.clone() }),
            Location::Hdfs { authority, root } => {
                let client = hdfs_native::ClientBuilder::new()
                    .with_url(format!("hdfs://{authority}"))
                    .with_config([
                        ("dfs.client.failover.max.attempts", "1"),
                        ("ipc.client.connect.max.retries", "1"),
                    ])
                    .build()
                    .map_err(|cause| StorageError::Open {
                        url: location.to_string(),
                        cause,
                    })?;
                Ok(Storage::Hdfs {
                    client,
                    root: root.clone(),
                })
            }
        }
    }

    fn hdfs_path(root: &str, relative: &str) -> String {
        if relative.is_empty() {
            if root.is_empty() {
                "/".to_string()
            } else {
                root.to_string()
            }
        } else {
            format!("{root}/{}", relative.trim_start_matches('/'))
        }
    }

    /// Writes `bytes` at `relative`, atomically, replacing any file there. `Bytes`, so a retry
    /// or the HDFS client's packets share the caller's buffer instead of copying it.
    pub async fn write_atomic(&self, relative: &str, bytes: impl Into<bytes::Bytes>) -> Result<(), StorageError> {
        self.stage(relative, bytes.into()).await?.commit(self).await
    }

    /// Writes several files, each atomically, appearing in the order given: all are staged at
    /// once, then renamed into place one by one. On HDFS a file's close waits for the DataNode to
    /// report its block (hdfs-native then sleeps 500 ms before asking again), so staging them
    /// together costs one such wait instead of one per file; renames are a NameNode call each.
    pub async fn write_all_atomic(&self, files: Vec<(String, bytes::Bytes)>) -> Result<(), StorageError> {
        let staged = files
            .into_iter()
            .map(|(relative, bytes)| async move { self.stage(&relative, bytes).await });
        for file in futures_util::future::try_join_all(staged).await? {
            file.commit(self).await?;
        }
        Ok(())
    }

    /// Writes `bytes` whole under `relative`'s staging name (`_NAME.tmp`, which readers skip).
    async fn stage(&self, relative: &str, bytes: bytes::Bytes) -> Result<Staged, StorageError> {
        let (directory, name) = relative.rsplit_once('/').unwrap_or(("", relative));
        let temporary = if directory.is_empty() {
            format!("_{name}.tmp")
        } else {
            format!("{directory}/_{name}.tmp")
        };
        let staged = Staged {
            relative: relative.to_string(),
            temporary,
        };
        match self {
            Storage::Local { root } => {
                let (target, staging) = (root.join(relative), root.join(&staged.temporary));
                let failed = |cause| StorageError::Local {
                    action: "write",
                    path: target.clone(),
                    cause,
                };
                if let Some(parent) = target.parent() {
                    tokio::fs::create_dir_all(parent).await.map_err(failed)?;
                }
                let write = async {
                    use tokio::io::AsyncWriteExt;
                    let mut file = tokio::fs::File::create(&staging).await?;
                    file.write_all(&bytes).await?;
                    file.sync_all().await
                };
                write.await.map_err(failed)?;
            }
            Storage::Hdfs { client, root } => {
                let staging = Self::hdfs_path(root, &staged.temporary);
                let write = async {
                    let options = hdfs_native::WriteOptions::default().overwrite(true).create_parent(true);
                    let mut writer = client.create(&staging, options).await?;
                    writer.write_bytes(bytes).await?;
                    writer.close().await
                };
                timed(&staging, write).await?;
            }
        }
        Ok(staged)
    }

    /// The whole file at `relative`.
    pub async fn read(&self, relative: &str) -> Result<Vec<u8>, StorageError> {
        match self {
            Storage::Local { root } => {
                let path = root.join(relative);
                tokio::fs::read(&path).await.map_err(|cause| StorageError::Local {
                    action: "read",
                    path,
                    cause,
                })
            }
            Storage::Hdfs { client, root } => {
                let path = Self::hdfs_path(root, relative);
                let read = async {
                    let reader = client.read(&path).await?;
                    let length = reader.file_length();
                    Ok::<_, hdfs_native::HdfsError>(reader.read_range(0, length).await?.to_vec())
                };
                timed(&path, read).await
            }
        }
    }

    /// A reader of the file at `relative` for a thread outside `runtime` (it blocks), with the
    /// file's stored length. An HDFS file is fetched [`READ_BYTES`] at a time, each read under
    /// the call timeout, so a file of any size streams on a slow cluster; a failed read is an
    /// `std::io::Error` wrapping the [`StorageError`].
    pub fn blocking_reader(
        &self,
        relative: &str,
        runtime: &tokio::runtime::Handle,
    ) -> Result<(Box<dyn std::io::Read + Send>, u64), StorageError> {
        match self {
            Storage::Local { root } => {
                let path = root.join(relative);
                let local = |action, cause| StorageError::Local {
                    action,
                    path: path.clone(),
                    cause,
                };
                let file = std::fs::File::open(&path).map_err(|cause| local("read", cause))?;
                let length = file.metadata().map_err(|cause| local("read", cause))?.len();
                Ok((Box::new(file), length))
            }
            Storage::Hdfs { client, root } => {
                let path = Self::hdfs_path(root, relative);
                let reader = runtime.block_on(timed(&path, client.read(&path)))?;
                let length = reader.file_length() as u64;
                let reader = HdfsRead {
                    reader,
                    path,
                    runtime: runtime.clone(),
                };
                Ok((Box::new(reader), length))
            }
        }
    }

    /// Files under `relative` (recursively), as `(relative path, length)`, in path order (the
    /// paths' bytes, as `listing::path_order`).
    /// Names starting with `.` or `_` (temporary files) are skipped; a missing directory is empty.
    pub async fn list(&self, relative: &str) -> Result<Vec<(String, u64)>, StorageError> {
        let hidden = |path: &str| path.split('/').any(|part| part.starts_with(['.', '_']));
        let mut files = match self {
            Storage::Local { root } => {
                let base = root.join(relative);
                let listing = tokio::task::spawn_blocking(move || list_local(&base)).await??;
                listing
                    .into_iter()
                    .map(|(path, len)| (join(relative, &path), len))
                    .collect::<Vec<_>>()
            }
            Storage::Hdfs { client, root } => {
                let base = Self::hdfs_path(root, relative);
                let listing = match timed(&base, client.list_status(&base, true)).await {
                    Ok(listing) => listing,
                    Err(e) if e.is_not_found() => Vec::new(),
                    Err(e) => return Err(e),
                };
                listing
                    .into_iter()
                    .filter(|status| !status.isdir)
                    .map(|status| {
                        let inner = status
                            .path
                            .strip_prefix(&base)
                            .unwrap_or(&status.path)
                            .trim_start_matches('/');
                        (join(relative, inner), status.length as u64)
                    })
                    .collect()
            }
        };
        files.retain(|(path, _)| !hidden(path.strip_prefix(relative).unwrap_or(path)));
        files.sort();
        Ok(files)
    }

    /// Deletes the file at `relative`, if there is one.
    pub async fn delete(&self, relative: &str) -> Result<(), StorageError> {
        match self {
            Storage::Local { root } => match tokio::fs::remove_file(root.join(relative)).await {
                Err(cause) if cause.kind() != std::io::ErrorKind::NotFound => Err(StorageError::Local {
                    action: "delete",
                    path: PathBuf::from(relative),
                    cause,
                }),
                _ => Ok(()),
            },
            Storage::Hdfs { client, root } => {
                let path = Self::hdfs_path(root, relative);
                timed(&path, client.delete(&path, false)).await.map(|_| ())
            }
        }
    }
}

/// A file written whole under its staging name, not yet in place.
struct Staged {
    relative: String,
    temporary: String,
}

impl Staged {
    /// Renames it into place, replacing any file there.
    async fn commit(self, storage: &Storage) -> Result<(), StorageError> {
        match storage {
            Storage::Local { root } => {
                let target = root.join(&self.relative);
                tokio::fs::rename(root.join(&self.temporary), &target)
                    .await
                    .map_err(|cause| StorageError::Local {
                        action: "write",
                        path: target,
                        cause,
                    })
            }
            Storage::Hdfs { client, root } => {
                let target = Storage::hdfs_path(root, &self.relative);
                let staging = Storage::hdfs_path(root, &self.temporary);
                timed(&target, client.rename(&staging, &target, true)).await
            }
        }
    }
}

fn join(directory: &str, name: &str) -> String {
    if directory.is_empty() {
        name.to_string()
    } else {
        format!("{}/{name}", directory.trim_end_matches('/'))
    }
}

async fn timed<T>(
    path: &str,
    call: impl std::future::Future<Output = Result<T, HdfsError>>,
) -> Result<T, StorageError> {
    let path = path.to_string();
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(cause)) => Err(StorageError::Hdfs { path, cause }),
        Err(_) => Err(StorageError::Timeout { path }),
    }
}

/// An HDFS file as `std::io::Read`, fetching at most [`READ_BYTES`] per call.
struct HdfsRead {
    reader: hdfs_native::file::FileReader,
    path: String,
    runtime: tokio::runtime::Handle,
}

impl std::io::Read for HdfsRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = buf.len().min(READ_BYTES);
        let read = self.reader.read_into(&mut buf[..want]);
        self.runtime
            .block_on(timed(&self.path, read))
            .map_err(std::io::Error::other)
    }
}

/// A local directory's files as `(path relative to it, length)`; a missing directory is empty.
fn list_local(base: &Path) -> Result<Vec<(String, u64)>, StorageError> {
    if !base.exists() {
        return Ok(Vec::new());
    }
    let files = crate::listing::list_files(base).map_err(|cause| StorageError::Listing {
        path: base.display().to_string(),
        cause,
    })?;
    Ok(files
        .into_iter()
        .map(|path| {
            let length = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            (
                path.strip_prefix(base).unwrap_or(&path).to_string_lossy().into_owned(),
                length,
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_storage_writes_atomically_lists_reads_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(&format!("file://{}", dir.path().display())).unwrap();
        assert_eq!(storage.list("raw").await.unwrap(), vec![]);
        storage
            .write_atomic("raw/t/00001/b.ndjson", b"two\n".to_vec())
            .await
            .unwrap();
        storage
            .write_atomic("raw/t/00000/a.ndjson", b"one\n".to_vec())
            .await
            .unwrap();
        storage
            .write_atomic("raw/t/00000/a.ndjson", b"one!\n".to_vec())
            .await
            .unwrap();
        std::fs::write(dir.path().join("raw/t/00000/_partial.tmp"), "x").unwrap();
        let listing = storage.list("raw").await.unwrap();
        assert_eq!(
            listing,
            vec![
                ("raw/t/00000/a.ndjson".to_string(), 5),
                ("raw/t/00001/b.ndjson".to_string(), 4)
            ]
        );
        assert_eq!(storage.read("raw/t/00000/a.ndjson").await.unwrap(), b"one!\n");
        storage.delete("raw/t/00000/a.ndjson").await.unwrap();
        storage.delete("raw/t/00000/a.ndjson").await.unwrap();
        assert_eq!(storage.list("raw/t").await.unwrap().len(), 1);
        let missing = storage.read("missing").await.unwrap_err();
        assert!(
            missing.is_not_found() && missing.to_string().contains("missing"),
            "{missing}"
        );
    }

    #[test]
    fn urls_choose_the_backend() {
        assert!(matches!(Storage::open("file:///tmp/x").unwrap(), Storage::Local { .. }));
        assert!(matches!(Storage::open("./tally-data").unwrap(), Storage::Local { .. }));
        assert!(matches!(
            Storage::open("hdfs://127.0.0.1:9000/tally").unwrap(),
            Storage::Hdfs { .. }
        ));
        assert!(Storage::open("hdfs:///x").is_err());
    }
}
