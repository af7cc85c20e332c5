//! Wiring, as a short list: build the source (and with it its sinks: archive, dead letters),
//! run the graph on every worker, serve the results.

use crate::cli::{GraphArgs, ReplayArgs, RunArgs, SourceArg, StorageArg};
use crate::cluster::Topology;
use crate::durable::{Durable, Recovery, SnapshotGate};
use crate::election::{generator, measure_each, measures};
use anyhow::{anyhow, bail, Context, Result};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tally_connectors::kafka::metrics::KafkaMetrics;
use tally_connectors::sinks::archive::{ArchiveConfig, ArchiveWriter};
use tally_connectors::sources::archive::{Positions, StoredFile};
use tally_connectors::sources::kafka::KafkaSourceConfig;
use tally_connectors::sources::SourceConfig;
use tally_connectors::storage::{Location, Storage};
use tally_dataflow::graph::{Checkpoint, Publish};
use tally_dataflow::{run_worker, PipelineOptions, SourceError};
use tally_model::audit::PublicationLog;
use tally_model::latency::{now_ms, LatencyHistogram};
use tally_model::metrics::Registry;
use tally_model::{Results, SourceProgress, Tallies, Timeline};
use tally_web::{Degraded, JobStatus, NoStatus, WebState};
use tokio::sync::watch;

/// How long an epoch of Kafka records stays open at most, unless `--tick` says otherwise.
const DEFAULT_KAFKA_TICK: std::time::Duration = std::time::Duration::from_millis(20);

/// How long a cluster process whose worker failed gives its archive writer before it exits.
const FATAL_WRITER_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

fn pipeline_options(
    graph: &GraphArgs,
    source: &SourceConfig,
    latency: Option<Arc<LatencyHistogram>>,
) -> PipelineOptions {
    // Records with creation times (Kafka's) have their latency measured per epoch; others are
    // seen no sooner than the next publication, so their epochs may last as long.
    let default_tick = match source {
        SourceConfig::Kafka { .. } => DEFAULT_KAFKA_TICK,
        _ => tally_dataflow::graph::PUBLISH_INTERVAL,
    };
    PipelineOptions {
        dedup: !graph.no_dedup,
        tick: graph.tick.unwrap_or(default_tick),
        latency,
        stall_limit: graph.topology().is_cluster().then_some(graph.stall_timeout),
        max_record_bytes: graph.max_record_bytes,
        ..PipelineOptions::default()
    }
}

/// Runs the graph over `source` on `graph.workers` threads (of every process, in a cluster);
/// worker 0 hands every completed epoch's results to `on_results`, and checkpoint states to
/// `snapshots`.
fn run_graph(
    source: SourceConfig,
    graph: &GraphArgs,
    latency: Option<Arc<LatencyHistogram>>,
    snapshots: Option<(std::time::Duration, Arc<SnapshotGate>)>,
    recovery: Option<Arc<Recovery>>,
    stop: Arc<AtomicBool>,
    on_results: Arc<dyn Fn(Results) + Send + Sync>,
) -> Result<()> {
    let mut options = pipeline_options(graph, &source, latency);
    options.checkpoint_every = snapshots.as_ref().map(|(every, _)| *every);
    let apportionment = graph.measure.apportionment;
    let topology = graph.topology();
    let cluster = topology.is_cluster();
    let config = Arc::new(source);
    let guards = crate::cluster::execute(&topology, move |worker| {
        let outcome = (|| {
            let mut source = config
                .build(worker.index(), worker.peers())
                .map_err(SourceError::from)?;
            let on_results = on_results.clone();
            let gate = snapshots.as_ref().map(|(_, gate)| gate.clone());
            let recovery = recovery.clone();
            let publish: Publish = Box::new(move |tallies, progress, epoch, complete| {
                if let Some(gate) = &gate {
                    gate.release(progress);
                }
                let live = || {
                    Results::new(tallies, epoch, complete, apportionment)
                        .with_lost(progress.lost)
                        .computed_at(now_ms())
                };
                let shown = match &recovery {
                    Some(recovery) => recovery.shown(tallies, progress, epoch, live),
                    None => live(),
                };
                // What is shown is the graph's own count (not a snapshot's, while replaying):
                // on the record, with the offsets it reflects.
                if let Some(gate) = &gate {
                    if recovery.as_ref().is_none_or(|recovery| recovery.progress().is_none()) {
                        gate.record(tallies, progress, epoch, shown.as_of);
                    }
                }
                on_results(shown);
            });
            let checkpoint = snapshots.as_ref().map(|(_, gate)| {
                let gate = gate.clone();
                Box::new(move |tallies: &Tallies, progress: &SourceProgress, epoch| {
                    gate.offer(tallies, progress, epoch);
                    // Already durable (the archive caught up before the boundary passed): hand
                    // it over now. An idle job publishes nothing more, so waiting for the next
                    // publication would leave the last snapshot, and the records it carries,
                    // unwritten.
                    gate.release(progress);
                }) as Checkpoint
            });
            run_worker(worker, source.as_mut(), &options, &stop, publish, checkpoint)
        })();
        if let (Err(e), true) = (&outcome, cluster) {
            // The other processes would wait for this worker forever: end the process, so that
            // they see the lost connection and end too. This worker's sinks have finished (its
            // source is dropped); the archive writes what it holds, briefly, so the next start
            // has less to read again.
            eprintln!("tally: worker {} failed: {e}", worker.index());
            if let Some((_, gate)) = &snapshots {
                let written = gate.writer().finish(FATAL_WRITER_WAIT);
                eprintln!(
                    "tally: exiting; the archive {}",
                    match written {
                        true => "wrote everything it held",
                        false => "could not write everything it held in time",
                    }
                );
            }
            std::process::exit(1);
        }
        outcome
    })?;
    for outcome in guards.join() {
        outcome.map_err(|e| anyhow!("worker failed: {e}"))??;
    }
    Ok(())
}

/// What `tally run` reads, and, for a Kafka source with storage, what it keeps durable.
struct Input {
    source: SourceConfig,
    /// The storage, archive writer and recovery plan, with the topic.
    durable: Option<(Arc<Durable>, String)>,
}

impl Input {
    fn from_args(args: &RunArgs, first_process: bool) -> Result<Input> {
        let url = match &args.source {
            SourceArg::Generator => {
                let source = SourceConfig::Generator {
                    generator: Arc::new(generator(&args.mix, args.count)?),
                    // A night paces itself (its slots fall due over --night-length).
                    rate: (args.rate > 0.0 && !args.mix.night).then_some(args.rate),
                };
                return Ok(Input { source, durable: None });
            }
            SourceArg::Files(path) => {
                let (source, _) = SourceConfig::files(path, args.graph.max_record_bytes)?;
                return Ok(Input { source, durable: None });
            }
            SourceArg::Kafka(url) => url.clone(),
        };
        let durable = match &args.storage {
            StorageArg::None => None,
            StorageArg::At(location) => Some(Arc::new(Durable::prepare(
                location,
                &url.topic,
                args.keep_snapshots,
                args.archive_buffer_mib << 20,
                first_process,
            )?)),
        };
        let config = KafkaSourceConfig {
            start: args.start,
            stop_at_end: args.stop_at_end,
            properties: args.kafka.properties.clone(),
            dead_letter_topic: args.dead_letter_topic.clone(),
            lost_before: durable.as_ref().map_or(0, |d| d.lost_before),
            resume_from: durable
                .iter()
                .flat_map(|d| d.resume.iter().map(|(p, o)| (*p as i32, *o as i64)))
                .collect(),
            archive: durable.as_ref().map(|durable| ArchiveConfig {
                writer: durable.writer.clone(),
                compression: args.archive_compression,
                segment_bytes: args.segment_mib.max(1) << 20,
                segment_age: args.segment_age,
            }),
            url,
        };
        let topic = config.url.topic.clone();
        let source = SourceConfig::Kafka {
            config: Arc::new(config),
            metrics: Arc::default(),
            recovery: durable.as_ref().map(|d| d.replay_plan(args.graph.max_record_bytes)),
        };
        Ok(Input {
            source,
            durable: durable.map(|d| (d, topic)),
        })
    }

    /// What `/healthz` and `/metrics` report besides results.
    fn status(&self, latency: Option<Arc<LatencyHistogram>>, topology: &Topology) -> Arc<dyn JobStatus> {
        let status: Arc<dyn JobStatus> = match &self.source {
            SourceConfig::Kafka { config, metrics, .. } => Arc::new(KafkaStatus {
                topic: config.url.topic.clone(),
                metrics: metrics.clone(),
                latency,
                archive: self.durable.as_ref().map(|(d, _)| d.writer.clone()),
                recovery: self.durable.as_ref().and_then(|(d, _)| d.recovery.clone()),
            }),
            _ => Arc::new(NoStatus),
        };
        match topology.is_cluster() {
            true => Arc::new(crate::cluster::ProcessStatus {
                process: topology.process,
                processes: topology.processes(),
                job: status,
            }),
            false => status,
        }
    }
}

/// `--listen`, shifted by the process index: several processes of a cluster may share a host.
fn listen_address(args: &RunArgs, topology: &Topology) -> Result<SocketAddr> {
    let mut listen = args.listen;
    if listen.port() != 0 {
        let port = u16::try_from(topology.process)
            .ok()
            .and_then(|process| listen.port().checked_add(process))
            .with_context(|| {
                format!(
                    "--listen port {} plus process {} is not a port",
                    listen.port(),
                    topology.process
                )
            })?;
        listen.set_port(port);
    }
    Ok(listen)
}

/// The HTTP server and the Ctrl-C handler, on their own runtime.
struct Server {
    runtime: tokio::runtime::Runtime,
    handle: tokio::task::JoinHandle<()>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    /// Set by Ctrl-C: the workers stop.
    stop: Arc<AtomicBool>,
    interrupted: Arc<tokio::sync::Notify>,
}

impl Server {
    fn start(
        listen: SocketAddr,
        topology: &Topology,
        results: watch::Receiver<Arc<Results>>,
        status: Arc<dyn JobStatus>,
        timeline: Arc<RwLock<Timeline>>,
        publications: Arc<RwLock<PublicationLog>>,
    ) -> Result<Server> {
        let runtime = crate::runtime::two_threads("tally-web")?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(listen))
            .with_context(|| format!("cannot listen on {listen}"))?;
        let address = listener.local_addr().context("listening socket has no address")?;
        let state = if topology.is_first() {
            eprintln!("tally: dashboard at http://{address}/");
            WebState::recorded(results, status, timeline, publications)
        } else {
            eprintln!(
                "tally: process {} of {}: /healthz and /metrics at http://{address}/",
                topology.process,
                topology.processes()
            );
            WebState::status_only(status)
        };
        let (shutdown, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let handle = runtime.spawn(tally_web::serve(listener, state, async {
            let _ = shutdown_rx.await;
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let interrupted = Arc::new(tokio::sync::Notify::new());
        {
            let (stop, interrupted) = (stop.clone(), interrupted.clone());
            runtime.spawn(async move {
                let signal = stop_signal().await;
                tracing::info!("{signal}: stopping");
                stop.store(true, Ordering::Relaxed);
                interrupted.notify_one();
            });
        }
        Ok(Server {
            runtime,
            handle,
            shutdown,
            stop,
            interrupted,
        })
    }

    /// After the graph: with `keep_serving`, serves the final results until Ctrl-C; then stops.
    fn finish(self, keep_serving: bool) {
        if keep_serving {
            self.runtime.block_on(self.interrupted.notified());
        }
        let _ = self.shutdown.send(());
        let _ = self.runtime.block_on(self.handle);
    }
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM, the two ways a person or a supervisor stops a job,
/// and says which came.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => terminate.recv().await,
            // No handler: only Ctrl-C stops the job gracefully.
            Err(_) => std::future::pending().await,
        }
    };
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = interrupt => "interrupted",
        _ = terminate => "terminated",
    }
}

/// `tally run`: build the source and its sinks, run the graph, serve the results.
pub fn run(args: RunArgs) -> Result<()> {
    let topology = args.graph.topology();
    topology.validate()?;
    let input = Input::from_args(&args, topology.is_first())?;
    let latency = matches!(input.source, SourceConfig::Kafka { .. }).then(|| Arc::new(LatencyHistogram::default()));
    let status = input.status(latency.clone(), &topology);
    // How the race moved, from the last snapshot on.
    let timeline = Arc::new(RwLock::new(
        input
            .durable
            .as_ref()
            .map(|(durable, _)| durable.timeline.clone())
            .unwrap_or_default(),
    ));
    // When each call was made, from the last snapshot on.
    let desk = Arc::new(Mutex::new(
        input
            .durable
            .as_ref()
            .map(|(durable, _)| durable.desk.clone())
            .unwrap_or_default(),
    ));
    // What was published, on the record from the last run on (see tally_model::audit).
    let publications = Arc::new(RwLock::new(PublicationLog::restored(
        input
            .durable
            .as_ref()
            .map(|(durable, _)| durable.publications.clone())
            .unwrap_or_default(),
    )));
    // Only process 0 has worker 0, the one that sees whole states and writes snapshots.
    let snapshots = input.durable.as_ref().map(|(durable, topic)| {
        let gate = SnapshotGate::new(
            durable.writer.clone(),
            topic.clone(),
            args.graph.measure.apportionment,
            timeline.clone(),
            desk.clone(),
        )
        .with_publications(publications.clone());
        (args.checkpoint_interval, Arc::new(gate))
    });
    let recovery = input.durable.as_ref().and_then(|(durable, _)| durable.recovery.clone());
    let measures = measures(&args.graph.measure, Some(&args.mix))?;
    // A recovering job shows its snapshot at once, not zeros; labelled as every publication is.
    let initial = measures.labelled(match &recovery {
        Some(recovery) => recovery.initial(),
        None => Results::empty(args.graph.measure.apportionment),
    });
    let (sender, receiver) = watch::channel(Arc::new(initial));
    let server = Server::start(
        listen_address(&args, &topology)?,
        &topology,
        receiver,
        status,
        timeline.clone(),
        publications,
    )?;

    let sender = Arc::new(sender);
    let publish = {
        let sender = sender.clone();
        measure_each(measures, timeline, desk, move |results| {
            sender.send_replace(Arc::new(results));
        })
    };
    let gate = snapshots.as_ref().map(|(_, gate)| gate.clone());
    let durable = input.durable.as_ref().map(|(durable, _)| durable.clone());
    let outcome = run_graph(
        input.source,
        &args.graph,
        latency,
        snapshots,
        recovery,
        server.stop.clone(),
        publish,
    );
    if gate.is_some_and(|gate| gate.waiting()) {
        tracing::error!("the archive did not become durable in time: the final snapshot is not written");
    }
    if let Some(durable) = &durable {
        // Stopped (Ctrl-C, SIGTERM): the whole shutdown stays within seconds, whatever the
        // storage does; what is not written is said, and the next start recovers from the last
        // snapshot.
        let limit = match server.stop.load(Ordering::Relaxed) {
            true => std::time::Duration::from_secs(2),
            false => std::time::Duration::from_secs(30),
        };
        durable.writer.finish(limit);
    }
    outcome?;

    let final_results = sender.borrow().clone();
    if args.stop_at_end && topology.is_first() {
        print_json(&final_results)?;
    }
    let keep_serving = !args.stop_at_end && !server.stop.load(Ordering::Relaxed);
    if keep_serving {
        tracing::info!(
            votes = final_results.votes,
            "source ended; serving the final results until interrupted"
        );
    }
    server.finish(keep_serving);
    Ok(())
}

/// `tally replay`.
pub fn replay(args: ReplayArgs) -> Result<()> {
    let topology = args.graph.topology();
    topology.validate()?;
    // Keeps the storage runtime alive while the workers read through it.
    let mut storage_runtime = None;
    let (spec, total_bytes) = match &args.input {
        Location::Local(path) => SourceConfig::files(path, args.graph.max_record_bytes)?,
        Location::Hdfs { .. } => {
            let storage = Arc::new(Storage::at(&args.input)?);
            let runtime = crate::runtime::two_threads("tally-replay")?;
            let listing = runtime.block_on(storage.list(""))?;
            if listing.is_empty() {
                bail!("no files under {}", args.input);
            }
            let total = listing.iter().map(|(_, len)| len).sum();
            let files = listing
                .into_iter()
                .enumerate()
                .map(|(i, (path, _))| StoredFile {
                    path,
                    positions: Positions::Bytes { stream: i as u32 },
                })
                .collect();
            let handle = runtime.handle().clone();
            storage_runtime = Some(runtime);
            (
                SourceConfig::Stored {
                    storage,
                    runtime: handle,
                    files,
                    progress: Arc::default(),
                    max_record_bytes: args.graph.max_record_bytes,
                },
                total,
            )
        }
    };
    let progress = spec.bytes_read().unwrap_or_default();
    let last: Arc<Mutex<Option<Results>>> = Arc::default();
    let keep = {
        let last = last.clone();
        measure_each(
            measures(&args.graph.measure, None)?,
            Arc::default(),
            Arc::default(),
            move |results| {
                if let Ok(mut last) = last.lock() {
                    *last = Some(results);
                }
            },
        )
    };
    let done = Arc::new(AtomicBool::new(false));
    let bar = std::thread::spawn({
        let done = done.clone();
        move || show_progress(&progress, total_bytes, &done)
    });
    let outcome = run_graph(
        spec,
        &args.graph,
        None,
        None,
        None,
        Arc::new(AtomicBool::new(false)),
        keep,
    );
    drop(storage_runtime);
    done.store(true, Ordering::Relaxed);
    let _ = bar.join();
    outcome?;
    if !topology.is_first() {
        // Worker 0, on process 0, has the results and prints them.
        return Ok(());
    }
    let results = last
        .lock()
        .ok()
        .and_then(|mut last| last.take())
        .context("the graph published no results")?;
    print_json(&results)
}

/// A byte-progress bar on stderr, drawn only when stderr is a terminal.
fn show_progress(progress: &AtomicU64, total: u64, done: &AtomicBool) {
    let bar = indicatif::ProgressBar::with_draw_target(Some(total), indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    while !done.load(Ordering::Relaxed) {
        bar.set_position(progress.load(Ordering::Relaxed));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    bar.finish_and_clear();
}

fn print_json(results: &Results) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, results)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// What a Kafka-fed job adds to `/healthz` and `/metrics`.
struct KafkaStatus {
    topic: String,
    metrics: Arc<KafkaMetrics>,
    latency: Option<Arc<LatencyHistogram>>,
    archive: Option<Arc<ArchiveWriter>>,
    recovery: Option<Arc<Recovery>>,
}

impl JobStatus for KafkaStatus {
    /// A recovering job is healthy (200): it is doing what it should, and an orchestrator that
    /// restarted it for "unhealthy" would only start the replay over.
    fn health(&self) -> std::result::Result<String, Degraded> {
        self.metrics.health().map_err(Degraded::because)?;
        if let Some(archive) = &self.archive {
            archive.health().map_err(Degraded::because)?;
        }
        let lost = match self.metrics.lost_records() {
            0 => String::new(),
            n => format!("; {n} records were deleted by Kafka's retention before they were read (see `lost`)"),
        };
        if let Some(progress) = self.recovery.as_ref().and_then(|r| r.progress()) {
            return Ok(format!(
                "recovering: replayed {} of the {} records of the latest snapshot{lost}",
                progress.records, progress.of
            ));
        }
        Ok(format!("ok{lost}"))
    }
    fn register_metrics(&self, registry: &mut Registry) {
        registry.register_collector(self.metrics.collector(&self.topic));
        if let Some(archive) = &self.archive {
            registry.register_collector(archive.collector());
        }
        if let Some(latency) = &self.latency {
            registry.register_collector(Box::new(latency.clone()));
        }
    }
}
