//! Timely's cluster mode, configured from tally's own flags (`--peers`, `--process`,
//! `--workers`) rather than timely's argument parser, which rejects flags it does not know.
//!
//! tally connects the processes itself instead of leaving it to timely, for three reasons:
//! timely prints its connection progress on standard output, which on process 0 must hold
//! nothing but the results JSON; it waits for peers forever, where tally gives up after
//! `--connect-timeout` with a message naming the missing peer; and a handshake checks that
//! every process was started with the same process and worker counts, which otherwise fails
//! later and obscurely. The connected sockets are then handed to timely's own networking.
//!
//! A process that loses a peer exits at once, non-zero: timely's network threads panic on a
//! broken connection ("timely communication error"), and the workers would otherwise wait for
//! the lost peer's progress forever. `scripts/cluster.sh --supervise` restarts the cluster,
//! which recovers from the latest snapshot. A crashed peer's connections close at once; for a
//! host that vanishes without closing them (power loss, a network partition) TCP keepalive
//! probes and a user timeout break the connection within about `DEAD_PEER` instead of the
//! kernel's default of hours.

use anyhow::{anyhow, bail, Context, Result};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};
use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
use timely::communication::allocator::{AllocatorBuilder, ProcessBuilder};
use timely::communication::Hooks;
use timely::communication::WorkerGuards;
use timely::worker::Worker;

/// Where this process sits in the job.
#[derive(Clone, Debug)]
pub struct Topology {
    /// Every process's cluster address, in process order (one entry: no cluster).
    pub peers: Vec<String>,
    pub process: usize,
    pub workers: usize,
    pub connect_timeout: Duration,
}

impl Topology {
    pub fn processes(&self) -> usize {
        self.peers.len().max(1)
    }
    pub fn is_cluster(&self) -> bool {
        self.peers.len() > 1
    }
    /// Process 0 serves results, writes snapshots and prints the final results.
    pub fn is_first(&self) -> bool {
        self.process == 0
    }
    pub fn validate(&self) -> Result<()> {
        if self.peers.is_empty() && self.process == 0 {
            return Ok(());
        }
        if self.process >= self.peers.len() {
            bail!(
                "--process {} is not one of the {} processes in --peers",
                self.process,
                self.peers.len()
            );
        }
        Ok(())
    }
}

/// A cluster process's `/healthz` and `/metrics` say which process they are.
pub struct ProcessStatus {
    pub process: usize,
    pub processes: usize,
    pub job: std::sync::Arc<dyn tally_web::JobStatus>,
}

use prometheus_client::metrics::gauge::Gauge;

impl tally_web::JobStatus for ProcessStatus {
    fn health(&self) -> Result<String, tally_web::Degraded> {
        let me = format!("process {} of {}", self.process, self.processes);
        self.job
            .health()
            .map(|detail| format!("{me}: {detail}"))
            .map_err(|why| tally_web::Degraded(format!("{me}: {why}")))
    }
    fn register_metrics(&self, registry: &mut tally_model::metrics::Registry) {
        let process = prometheus_client::metrics::family::Family::<[(&str, String); 1], Gauge>::default();
        process
            .get_or_create(&[("processes", self.processes.to_string())])
            .set(self.process as i64);
        registry.register("tally_cluster_process", "This process's index in the cluster.", process);
        self.job.register_metrics(registry);
    }
}

/// Runs `func` on every worker of this process: the whole job's workers are `processes ×
/// workers`, and worker indexes are global.
pub fn execute<T, F>(topology: &Topology, func: F) -> Result<WorkerGuards<T>>
where
    T: Send + 'static,
    F: Fn(&mut Worker) -> T + Send + Sync + 'static,
{
    if !topology.is_cluster() {
        return timely::execute(timely::Config::process(topology.workers), func)
            .map_err(|e| anyhow!("cannot start workers: {e}"));
    }
    let sockets = connect(topology)?;
    exit_on_lost_peer(topology.process);
    let allocators = ProcessBuilder::new_typed_vector(topology.workers, Hooks::default().refill, None);
    let (builders, guard) = initialize_networking_from_sockets(
        allocators,
        sockets,
        topology.process,
        topology.workers,
        Hooks::default(),
    )
    .context("cannot start cluster networking")?;
    let builders = builders.into_iter().map(AllocatorBuilder::Tcp).collect();
    timely::execute::execute_from(builders, Box::new(guard), timely::WorkerConfig::default(), func)
        .map_err(|e| anyhow!("cannot start workers: {e}"))
}

/// Identifies a tally cluster connection and its shape.
const MAGIC: &[u8; 8] = b"tally\0c1";

/// This process's hello: the magic, its index, and the cluster's shape.
fn hello(topology: &Topology) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(MAGIC);
    bytes[8..16].copy_from_slice(&(topology.process as u64).to_le_bytes());
    bytes[16..24].copy_from_slice(&(topology.processes() as u64).to_le_bytes());
    bytes[24..32].copy_from_slice(&(topology.workers as u64).to_le_bytes());
    bytes
}

/// Exchanges hellos on a fresh connection; returns the peer's process index.
fn handshake(stream: &mut TcpStream, topology: &Topology) -> Result<usize> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(&hello(topology))?;
    let mut theirs = [0u8; 32];
    stream
        .read_exact(&mut theirs)
        .context("no handshake from the peer (is it a tally process of this cluster?)")?;
    let field = |i: usize| {
        let mut word = [0u8; 8];
        word.copy_from_slice(&theirs[8 * i..8 * i + 8]);
        u64::from_le_bytes(word) as usize
    };
    if &theirs[..8] != MAGIC {
        bail!("the peer is not a tally cluster process");
    }
    let (process, processes, workers) = (field(1), field(2), field(3));
    if processes != topology.processes() || workers != topology.workers {
        bail!(
            "process {process} runs {processes} processes × {workers} workers, this one {} × {}: \
             start every process with the same --peers and --workers",
            topology.processes(),
            topology.workers
        );
    }
    stream.set_read_timeout(None)?;
    stream.set_nodelay(true)?;
    detect_dead_peer(stream)?;
    Ok(process)
}

/// About how long a silent peer goes unnoticed.
const DEAD_PEER: Duration = Duration::from_secs(15);

/// Probes an idle connection every few seconds, and gives up on unacknowledged data after
/// `DEAD_PEER`: a peer host that is gone then breaks the connection like a crashed process.
fn detect_dead_peer(stream: &TcpStream) -> std::io::Result<()> {
    let socket = socket2::SockRef::from(stream);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(5))
        .with_interval(Duration::from_secs(2))
        .with_retries(4);
    socket.set_tcp_keepalive(&keepalive)?;
    #[cfg(target_os = "linux")]
    socket.set_tcp_user_timeout(Some(DEAD_PEER))?;
    Ok(())
}

/// One connection to every other process: this process connects to those before it and
/// accepts those after it, all within the connect timeout.
fn connect(topology: &Topology) -> Result<Vec<Option<TcpStream>>> {
    let deadline = Instant::now() + topology.connect_timeout;
    let me = topology.process;
    let mut sockets: Vec<Option<TcpStream>> = (0..topology.processes()).map(|_| None).collect();
    let own = &topology.peers[me];
    let listener = TcpListener::bind(own).with_context(|| format!("process {me} cannot listen on {own}"))?;
    listener.set_nonblocking(true)?;
    tracing::info!(
        process = me,
        processes = topology.processes(),
        "cluster: listening on {own}, connecting to the other processes"
    );
    for (peer, address) in topology.peers.iter().enumerate().take(me) {
        let mut stream = loop {
            let attempt = address
                .to_socket_addrs()
                .map_err(|e| anyhow!("{address}: {e}"))
                .and_then(|mut addrs| addrs.next().ok_or_else(|| anyhow!("{address} resolves to nothing")))
                .and_then(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(1)).map_err(|e| anyhow!(e)));
            match attempt {
                Ok(stream) => break stream,
                Err(e) if Instant::now() >= deadline => {
                    bail!(
                        "process {peer} at {address} did not answer within {:?}: {e}",
                        topology.connect_timeout
                    )
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        };
        let theirs = handshake(&mut stream, topology)?;
        if theirs != peer {
            bail!("{address} is process {theirs}, but --peers lists it as process {peer}");
        }
        sockets[peer] = Some(stream);
    }
    while sockets.iter().enumerate().any(|(i, s)| i > me && s.is_none()) {
        match listener.accept() {
            Ok((mut stream, from)) => {
                stream.set_nonblocking(false)?;
                let theirs = handshake(&mut stream, topology).with_context(|| format!("connection from {from}"))?;
                if theirs <= me || theirs >= sockets.len() || sockets[theirs].is_some() {
                    bail!("unexpected connection from process {theirs} ({from})");
                }
                sockets[theirs] = Some(stream);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    let missing: Vec<usize> = (me + 1..sockets.len()).filter(|i| sockets[*i].is_none()).collect();
                    bail!(
                        "processes {missing:?} did not connect within {:?}",
                        topology.connect_timeout
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e).context("accepting cluster connections"),
        }
    }
    tracing::info!(process = me, "cluster: connected to every process");
    Ok(sockets)
}

/// Turns timely's network-thread panic on a broken connection into a clear message and a
/// non-zero exit of the whole process. Timely's network threads are named `timely:send-N` and
/// `timely:recv-N`, and a panic there is always a broken connection (timely takes the
/// computation down that way on purpose).
fn exit_on_lost_peer(process: usize) {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let network_thread = std::thread::current()
            .name()
            .is_some_and(|name| name.starts_with("timely:send-") || name.starts_with("timely:recv-"));
        if network_thread {
            let message = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("a network thread panicked");
            eprintln!("tally: process {process} lost a peer ({message}); exiting");
            std::process::exit(3);
        }
        default(info);
    }));
}
