//! The binary's async runtimes (HTTP, storage): two threads each, because the timely workers
//! own the cores and these mostly wait; named, so a thread list says what each is for.

use anyhow::{Context, Result};
use tokio::runtime::Runtime;

/// A two-thread runtime whose threads are called `name`.
pub fn two_threads(name: &str) -> Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
        .with_context(|| format!("cannot start the {name} runtime"))
}
