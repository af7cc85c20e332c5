//! Wiring: a source spec for every worker, the timely workers, and where results go.

use crate::cli::{GraphArgs, MixArgs, ReplayArgs, RunArgs};
use crate::durable::{Durable, Recovery, SnapshotGate};
use anyhow::{anyhow, bail, Context, Result};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tally_connectors::kafka::metrics::KafkaMetrics;
use tally_connectors::kafka::{KafkaError, KafkaUrl};
use tally_connectors::sinks::archive::{ArchiveConfig, ArchiveWriter};
use tally_connectors::sources::archive::{Positions, Recovering, StoredFile, StoredFileSource};
use tally_connectors::sources::files::{self, FileSource, Split};
use tally_connectors::sources::generator::{GeneratorConfig, GeneratorSource, Scenario, VoterGenerator};
use tally_connectors::sources::kafka::{KafkaSource, KafkaSourceConfig};
use tally_connectors::storage::Storage;
use tally_dataflow::graph::Checkpoint;
use tally_dataflow::graph::Publish;
use tally_dataflow::{run_worker, PipelineOptions, Source, SourceError};
use tally_model::latency::LatencyHistogram;
use tally_model::metrics::Registry;
use tally_model::Results;
use tally_model::{SourceProgress, Tallies};
use tally_web::{Degraded, JobStatus, NoStatus, WebState};
use tokio::sync::watch;

/// Where the records come from; each worker builds its own share.
enum SourceSpec {
    Kafka {
        config: Arc<KafkaSourceConfig>,
        metrics: Arc<KafkaMetrics>,
        durable: Option<Arc<Durable>>,
    },
    Stored {
        storage: Arc<Storage>,
        runtime: tokio::runtime::Handle,
        files: Vec<StoredFile>,
        progress: Arc<AtomicU64>,
    },
    Generator {
        generator: Arc<VoterGenerator>,
        rate: Option<f64>,
    },
    Files {
        splits: Arc<Vec<Split>>,
        progress: Arc<AtomicU64>,
    },
}

impl SourceSpec {
    fn files(path: &Path) -> Result<(SourceSpec, u64)> {
        let inputs = files::list_files(path)?;
        let splits = files::plan_splits(&inputs, files::SPLIT_BYTES)?;
        let spec = SourceSpec::Files {
            splits: Arc::new(splits),
            progress: Arc::default(),
        };
        Ok((spec, files::total_bytes(&inputs)))
    }

    fn for_worker(&self, index: usize, peers: usize) -> Result<Box<dyn Source>, KafkaError> {
        Ok(match self {
            SourceSpec::Generator { generator, rate } => {
                let share = rate.map(|r| r / peers as f64);
                Box::new(GeneratorSource::new(generator.clone(), index, peers, share))
            }
            SourceSpec::Files { splits, progress } => Box::new(FileSource::new(splits, index, peers, progress.clone())),
            SourceSpec::Kafka {
                config,
                metrics,
                durable,
            } => {
                let live = KafkaSource::new(config.clone(), index, peers, metrics.clone())?;
                let replay = durable.as_ref().map(|d| d.replay_for(index, peers)).unwrap_or_default();
                match durable {
                    Some(durable) if !replay.is_empty() => {
                        let handle = durable.runtime.handle().clone();
                        let stored = StoredFileSource::new(durable.storage.clone(), handle, replay, Arc::default());
                        Box::new(Recovering::new(stored, live))
                    }
                    _ => Box::new(live),
                }
            }
            SourceSpec::Stored {
                storage,
                runtime,
                files,
                progress,
            } => {
                let mine = files.iter().skip(index).step_by(peers).cloned().collect();
                Box::new(StoredFileSource::new(
                    storage.clone(),
                    runtime.clone(),
                    mine,
                    progress.clone(),
                ))
            }
        })
    }
}

pub(crate) fn generator(mix: &MixArgs, voters: Option<u64>) -> Result<VoterGenerator> {
    let scenario = match &mix.scenario {
        Some(path) => Some(Scenario::load(path, mix.scale)?),
        None => None,
    };
    let config = GeneratorConfig {
        seed: mix.seed,
        voters,
        invalid_rate: mix.invalid_rate,
        duplicate_rate: mix.duplicate_rate,
        scenario,
    };
    Ok(VoterGenerator::new(config)?)
}

fn pipeline_options(graph: &GraphArgs, latency: Option<Arc<LatencyHistogram>>) -> PipelineOptions {
    PipelineOptions {
        dedup: !graph.no_dedup,
        tick: graph.tick,
        latency,
        stall_limit: graph.topology().is_cluster().then_some(graph.stall_timeout),
        ..PipelineOptions::default()
    }
}

/// Runs the graph over `spec` on `graph.workers` threads (of every process, in a cluster);
/// worker 0 hands every completed epoch's results to `on_results`, and checkpoint states to
/// `snapshots`.
fn run_graph(
    spec: SourceSpec,
    graph: &GraphArgs,
    latency: Option<Arc<LatencyHistogram>>,
    snapshots: Option<(std::time::Duration, Arc<SnapshotGate>)>,
    recovery: Option<Arc<Recovery>>,
    stop: Arc<AtomicBool>,
    on_results: Arc<dyn Fn(Results) + Send + Sync>,
) -> Result<()> {
    let mut options = pipeline_options(graph, latency);
    options.checkpoint_every = snapshots.as_ref().map(|(every, _)| *every);
    let apportionment = graph.apportionment;
    let topology = graph.topology();
    let cluster = topology.is_cluster();
    let spec = Arc::new(spec);
    let guards = crate::cluster::execute(&topology, move |worker| {
        let outcome = (|| {
            let mut source = spec
                .for_worker(worker.index(), worker.peers())
                .map_err(SourceError::from)?;
            let on_results = on_results.clone();
            let gate = snapshots.as_ref().map(|(_, gate)| gate.clone());
            let recovery = recovery.clone();
            let publish: Publish = Box::new(move |tallies, progress, epoch, complete| {
                if let Some(gate) = &gate {
                    gate.release(progress);
                }
                let live = || Results::new(tallies, epoch, complete, apportionment).with_lost(progress.lost);
                on_results(match &recovery {
                    Some(recovery) => recovery.shown(tallies, progress, epoch, live),
                    None => live(),
                });
            });
            let checkpoint = snapshots.as_ref().map(|(_, gate)| {
                let gate = gate.clone();
                Box::new(move |tallies: &Tallies, progress: &SourceProgress, epoch| {
                    gate.offer(tallies, progress, epoch)
                }) as Checkpoint
            });
            run_worker(worker, source.as_mut(), &options, &stop, publish, checkpoint)
        })();
        if let (Err(e), true) = (&outcome, cluster) {
            // The other processes would wait for this worker forever: end the process, so that
            // they see the lost connection and end too.
            eprintln!("tally: worker {} failed: {e}", worker.index());
            std::process::exit(1);
        }
        outcome
    })?;
    for outcome in guards.join() {
        outcome.map_err(|e| anyhow!("worker failed: {e}"))??;
    }
    Ok(())
}

/// `tally run`.
pub fn run(args: RunArgs) -> Result<()> {
    let topology = args.graph.topology();
    topology.validate()?;
    let spec = if args.source == "generator" {
        let rate = (args.rate > 0.0).then_some(args.rate);
        SourceSpec::Generator {
            generator: Arc::new(generator(&args.mix, args.count)?),
            rate,
        }
    } else if args.source.starts_with("kafka://") {
        let url: KafkaUrl = args.source.parse()?;
        let buffer = args.archive_buffer_mib << 20;
        let durable = match args.storage.as_str() {
            "none" => None,
            storage => Some(Arc::new(Durable::prepare(
                storage,
                &url.topic,
                args.keep_snapshots,
                buffer,
                topology.is_first(),
            )?)),
        };
        let config = KafkaSourceConfig {
            url,
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
        };
        SourceSpec::Kafka {
            config: Arc::new(config),
            metrics: Arc::default(),
            durable,
        }
    } else {
        SourceSpec::files(Path::new(&args.source))?.0
    };
    let latency = matches!(spec, SourceSpec::Kafka { .. }).then(|| Arc::new(LatencyHistogram::default()));
    let status: Arc<dyn JobStatus> = match &spec {
        SourceSpec::Kafka {
            config,
            metrics,
            durable,
        } => Arc::new(KafkaStatus {
            topic: config.url.topic.clone(),
            metrics: metrics.clone(),
            latency: latency.clone(),
            archive: durable.as_ref().map(|d| d.writer.clone()),
            recovery: durable.as_ref().and_then(|d| d.recovery.clone()),
        }),
        _ => Arc::new(NoStatus),
    };
    let status: Arc<dyn JobStatus> = match topology.is_cluster() {
        true => Arc::new(crate::cluster::ProcessStatus {
            process: topology.process,
            processes: topology.processes(),
            job: status,
        }),
        false => status,
    };
    let durable = match &spec {
        SourceSpec::Kafka {
            durable: Some(durable),
            config,
            ..
        } => Some((durable.clone(), config.url.topic.clone())),
        _ => None,
    };
    // Only process 0 has worker 0, the one that sees whole states and writes snapshots.
    let snapshots = durable.as_ref().map(|(durable, topic)| {
        let gate = SnapshotGate::new(durable.writer.clone(), topic.clone(), args.graph.apportionment);
        (args.checkpoint_interval, Arc::new(gate))
    });
    let recovery = durable.as_ref().and_then(|(durable, _)| durable.recovery.clone());
    // A recovering job shows its snapshot at once, not zeros.
    let initial = match &recovery {
        Some(recovery) => recovery.initial(),
        None => Results::empty(args.graph.apportionment),
    };
    let (sender, receiver) = watch::channel(Arc::new(initial));
    let mut listen = args.listen;
    if listen.port() != 0 {
        // Several processes of a cluster may share a host.
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("tally-web")
        .enable_all()
        .build()
        .context("cannot start the HTTP runtime")?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(listen))
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr().context("listening socket has no address")?;
    let state = if topology.is_first() {
        eprintln!("tally: dashboard at http://{address}/");
        WebState::new(receiver, status)
    } else {
        eprintln!(
            "tally: process {} of {}: /healthz and /metrics at http://{address}/",
            topology.process,
            topology.processes()
        );
        WebState::status_only(status)
    };

    let stop = Arc::new(AtomicBool::new(false));
    let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(tally_web::serve(listener, state, async {
        let _ = shutdown_rx.await;
    }));
    let interrupted = Arc::new(tokio::sync::Notify::new());
    {
        let (stop, interrupted) = (stop.clone(), interrupted.clone());
        runtime.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::info!("interrupted: stopping");
                stop.store(true, Ordering::Relaxed);
                interrupted.notify_one();
            }
        });
    }

    let sender = Arc::new(sender);
    let publish = {
        let sender = sender.clone();
        Arc::new(move |results: Results| {
            sender.send_replace(Arc::new(results));
        })
    };
    let gate = snapshots.as_ref().map(|(_, gate)| gate.clone());
    let outcome = run_graph(spec, &args.graph, latency, snapshots, recovery, stop.clone(), publish);
    if gate.is_some_and(|gate| gate.waiting()) {
        tracing::error!("the archive did not become durable in time: the final snapshot is not written");
    }
    if let Some((durable, _)) = &durable {
        durable.writer.finish(std::time::Duration::from_secs(30));
    }
    outcome?;

    let final_results = sender.borrow().clone();
    if args.stop_at_end || stop.load(Ordering::Relaxed) {
        if args.stop_at_end && topology.is_first() {
            print_json(&final_results)?;
        }
    } else {
        tracing::info!(
            votes = final_results.votes,
            "source ended; serving the final results until interrupted"
        );
        runtime.block_on(interrupted.notified());
    }
    let _ = shutdown_tx.send(());
    let _ = runtime.block_on(server);
    Ok(())
}

/// `tally replay`.
pub fn replay(args: ReplayArgs) -> Result<()> {
    let topology = args.graph.topology();
    topology.validate()?;
    // Keeps the storage runtime alive while the workers read through it.
    let mut storage_runtime = None;
    let (spec, total_bytes) = if args.input.starts_with("hdfs://") {
        let storage = Arc::new(Storage::open(&args.input)?);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
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
            SourceSpec::Stored {
                storage,
                runtime: handle,
                files,
                progress: Arc::default(),
            },
            total,
        )
    } else {
        SourceSpec::files(Path::new(args.input.strip_prefix("file://").unwrap_or(&args.input)))?
    };
    let progress = match &spec {
        SourceSpec::Files { progress, .. } | SourceSpec::Stored { progress, .. } => progress.clone(),
        _ => unreachable!("replay reads files"),
    };
    let last: Arc<Mutex<Option<Results>>> = Arc::default();
    let keep = {
        let last = last.clone();
        Arc::new(move |results: Results| {
            if let Ok(mut last) = last.lock() {
                *last = Some(results);
            }
        })
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
