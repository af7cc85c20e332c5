//! The command line.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tally_connectors::kafka::{parse_property, KafkaUrl};
use tally_connectors::sources::kafka::StartAt;
use tally_connectors::storage::{Location, StorageError};
use tally_model::Apportionment;

/// Real-time election analytics on timely/differential dataflow.
///
/// With no command, runs the whole job embedded: the built-in voter generator as source and a
/// live dashboard on http://127.0.0.1:8080/.
#[derive(Parser, Debug)]
#[command(name = "tally", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the job: ingest a source, maintain the counts, serve results and the dashboard.
    Run(Box<RunArgs>),
    /// Write seed-format voter records (NDJSON) to stdout or a file.
    Generate(Box<GenerateArgs>),
    /// Run the graph over NDJSON files and print the final results JSON.
    Replay(Box<ReplayArgs>),
    /// Play a scenario's night and score the projections against its final count: interval
    /// coverage, error and projected calls at each national reporting checkpoint.
    Backtest(Box<BacktestArgs>),
    /// Re-derive what a durable job published at a time from its raw archive, and check it
    /// against the publication's record (its digest of the counts).
    Audit(Box<AuditArgs>),
}

/// `tally audit`.
#[derive(Args, Debug)]
pub struct AuditArgs {
    /// The job's storage (a local directory or hdfs://HOST:PORT/PATH), as given to `tally run`.
    #[arg(long, value_name = "DIR|file:///DIR|hdfs://HOST:PORT/PATH")]
    pub storage: tally_connectors::storage::Location,
    /// The Kafka topic the job read.
    #[arg(long)]
    pub topic: String,
    /// The time whose publication to check: milliseconds since 1970, or RFC 3339 in UTC
    /// (2024-11-06T03:41:00Z).
    #[arg(long)]
    pub at: String,
    /// The job's --max-record-bytes: a longer record was counted as malformed.
    #[arg(long, default_value_t = tally_model::codec::MAX_RECORD_BYTES)]
    pub max_record_bytes: usize,
    /// The job's --apportionment, for the re-derived results' electoral votes.
    #[arg(long, default_value = "2020")]
    pub apportionment: tally_model::Apportionment,
}

#[derive(Args, Debug)]
pub struct BacktestArgs {
    /// The share of the national expected vote between evaluations of the estimates.
    #[arg(long, default_value_t = 0.005, value_parser = level)]
    pub every: f64,
    /// Same seed, same records.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The night to play: a results table by county or by state (`2016`, `2020` and `2024`
    /// name the shipped county tables); its final count is what the estimates are scored against.
    #[arg(long, value_name = "2016|2020|2024|FILE.csv")]
    pub scenario: PathBuf,
    /// Records per official vote (round(votes × scale) per row).
    #[arg(long, default_value_t = 0.01, value_parser = positive)]
    pub scale: f64,
    /// Draw genders and ages from this year's exit polls, or `none` (see `run --exit-polls`).
    #[arg(long, value_name = "2016|2020|2024|none")]
    pub exit_polls: Option<String>,
    /// When each state's first polls close: `2020` or `2024` (shipped with tally), or a file of
    /// `state_po,closes_et` rows with `HH:MM` Eastern time.
    #[arg(long, value_name = "2020|2024|FILE.csv", default_value = "2024")]
    pub poll_closings: PathBuf,
    #[command(flatten)]
    pub measure: MeasureArgs,
}

impl BacktestArgs {
    /// The generator settings that play this night.
    pub fn mix(&self) -> MixArgs {
        MixArgs {
            seed: self.seed,
            invalid_rate: 0.0,
            duplicate_rate: 0.0,
            scenario: Some(self.scenario.clone()),
            scale: self.scale,
            exit_polls: self.exit_polls.clone(),
            night: true,
            night_length: Duration::from_secs(180),
            poll_closings: self.poll_closings.clone(),
        }
    }
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// `generator` (the built-in voter generator), `kafka://HOST:PORT[,HOST:PORT…]/TOPIC`, or an
    /// NDJSON file or directory.
    #[arg(long, default_value = "generator", value_name = "generator|kafka://…/TOPIC|PATH")]
    pub source: SourceArg,
    /// With a Kafka source, on a fresh start: read from the earliest or the latest offsets.
    #[arg(long, default_value = "earliest")]
    pub start: StartAt,
    /// With a Kafka source: send records that fail validation to this topic, reason in a header.
    #[arg(long)]
    pub dead_letter_topic: Option<String>,
    /// With a Kafka source: where the raw archive and the snapshots live, `hdfs://host:port/path`
    /// or `file:///path` (a plain path is a local directory). On start the job recovers from the
    /// latest snapshot there. `none`: no archive, no snapshots, no recovery.
    #[arg(
        long,
        default_value = "./tally-data",
        value_name = "DIR|file:///DIR|hdfs://HOST:PORT/PATH|none"
    )]
    pub storage: StorageArg,
    /// How often to take a snapshot (results plus the Kafka offsets they reflect).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub checkpoint_interval: std::time::Duration,
    /// Snapshots kept; older ones are deleted.
    #[arg(long, default_value_t = 5)]
    pub keep_snapshots: usize,
    /// How archive segments are stored: `snappy` (`.ndjson.snappy`, Hadoop's SnappyCodec),
    /// `gzip` (`.ndjson.gz`) or `none` (`.ndjson`). Hadoop's `hdfs dfs -text` reads each
    /// directly (Spark through the same Hadoop codecs); replay reads each.
    #[arg(long, default_value = "snappy")]
    pub archive_compression: tally_connectors::sinks::archive::Compression,
    /// An archive segment closes at this many MiB of records (before compression)…
    #[arg(long, default_value_t = 64)]
    pub segment_mib: usize,
    /// …or at this age, whichever comes first (and at every snapshot).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub segment_age: std::time::Duration,
    /// Archive bytes held while storage is slow or down; past this, ingest pauses.
    #[arg(long, default_value_t = 256)]
    pub archive_buffer_mib: u64,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Address the dashboard and API listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// With the generator: records per second (0 = as fast as possible).
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// With the generator: voters to generate (default: without end).
    #[arg(long)]
    pub count: Option<u64>,
    /// When the source ends, print the final results JSON to stdout and exit.
    #[arg(long)]
    pub stop_at_end: bool,
    #[command(flatten)]
    pub mix: MixArgs,
    #[command(flatten)]
    pub graph: GraphArgs,
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Voters to generate (default: without end, or the scenario's count).
    #[arg(long)]
    pub count: Option<u64>,
    /// Records per second (0 = as fast as possible). Default: unlimited, or 1/s with --serve.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Serve the records as server-sent events at http://ADDR/api/stream_votes (one generator
    /// per client, from the first record); with --to, every record streamed is also produced.
    #[arg(long, value_name = "ADDR", conflicts_with = "out")]
    pub serve: Option<SocketAddr>,
    /// Write to this file instead of stdout.
    #[arg(long, conflicts_with = "to")]
    pub out: Option<PathBuf>,
    /// Produce to Kafka instead of stdout: kafka://HOST:PORT[,HOST:PORT…]/TOPIC.
    #[arg(long)]
    pub to: Option<KafkaUrl>,
    /// With --to: partitions of the topic, when it does not exist yet and is created.
    #[arg(long, default_value_t = 8, requires = "to", value_parser = clap::value_parser!(i32).range(1..=100_000))]
    pub partitions: i32,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub mix: MixArgs,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// An NDJSON file, or a directory of them (read recursively, in path order): a local path or
    /// an `hdfs://host:port/path` URL.
    pub input: Location,
    #[command(flatten)]
    pub graph: GraphArgs,
}

/// What `tally run` reads, parsed once.
#[derive(Clone, Debug)]
pub enum SourceArg {
    /// The built-in voter generator.
    Generator,
    /// A Kafka topic.
    Kafka(KafkaUrl),
    /// An NDJSON file or a directory of them.
    Files(PathBuf),
}

impl std::str::FromStr for SourceArg {
    type Err = String;

    fn from_str(text: &str) -> Result<SourceArg, String> {
        match text {
            "generator" => Ok(SourceArg::Generator),
            _ if text.starts_with("kafka://") => text.parse().map(SourceArg::Kafka).map_err(|e| format!("{e}")),
            "" => Err("an empty source: use generator, kafka://HOST:PORT/TOPIC or a path".to_string()),
            _ => Ok(SourceArg::Files(PathBuf::from(
                text.strip_prefix("file://").unwrap_or(text),
            ))),
        }
    }
}

/// Where a Kafka job keeps its archive and snapshots, parsed once.
#[derive(Clone, Debug)]
pub enum StorageArg {
    /// No archive, no snapshots, no recovery.
    None,
    /// A local directory or HDFS.
    At(Location),
}

impl std::str::FromStr for StorageArg {
    type Err = String;

    fn from_str(text: &str) -> Result<StorageArg, String> {
        match text {
            "none" => Ok(StorageArg::None),
            _ => text
                .parse()
                .map(StorageArg::At)
                .map_err(|e: StorageError| e.to_string()),
        }
    }
}

/// librdkafka settings.
#[derive(Args, Debug)]
pub struct KafkaArgs {
    /// A librdkafka property (`key=value`), passed through; repeat for more (SASL, TLS, tuning).
    #[arg(long = "kafka-config", value_name = "KEY=VALUE", value_parser = parse_property)]
    pub properties: Vec<(String, String)>,
}

/// What the generator produces.
#[derive(Args, Debug)]
pub struct MixArgs {
    /// Same seed, same records.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Chance per voter of an extra invalid record.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    pub invalid_rate: f64,
    /// Chance per voter of an extra duplicate of an earlier voter's record.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    pub duplicate_rate: f64,
    /// A results table to reproduce exactly, by state (state,state_po,candidate,party,votes) or
    /// by county (state_po,county_fips,county_name,candidate,party,votes); `2016`, `2020` and
    /// `2024` name the county tables shipped with tally.
    #[arg(long, value_name = "2016|2020|2024|FILE.csv")]
    pub scenario: Option<PathBuf>,
    /// With --scenario: records per official vote (round(votes × scale) per row).
    #[arg(long, default_value_t = 1.0, requires = "scenario")]
    pub scale: f64,
    /// With --scenario: draw genders and ages from this year's exit polls (`2016`, `2020`,
    /// `2024`), given each voter's state and party, or `none` for the fixed mixes. Default: the
    /// scenario's own year when it is a shipped table, else none.
    #[arg(long, value_name = "2016|2020|2024|none", requires = "scenario")]
    pub exit_polls: Option<String>,
    /// With --scenario: play it as an election night: no state reports before its polls
    /// close, then each state's count comes in on a reporting curve (see the README).
    #[arg(long, requires = "scenario")]
    pub night: bool,
    /// With --night: the wall time the whole night takes (e.g. 3m, 20s).
    #[arg(long, default_value = "3m", value_parser = humantime::parse_duration, requires = "night")]
    pub night_length: Duration,
    /// With --night: when each state's first polls close: `2020` or `2024` (shipped with
    /// tally), or a file of `state_po,closes_et` rows with `HH:MM` Eastern time.
    #[arg(long, value_name = "2020|2024|FILE.csv", default_value = "2024", requires = "night")]
    pub poll_closings: PathBuf,
}

/// How the graph runs.
#[derive(Args, Debug)]
pub struct GraphArgs {
    /// Worker threads (default: available cores).
    #[arg(long, short = 'w', default_value_t = default_workers(), value_parser = workers)]
    pub workers: usize,
    /// Longest time an epoch stays open (e.g. 20ms). Default: 20ms for Kafka, whose records'
    /// latency is measured; the publication interval (100ms) for the generator and files, whose
    /// records carry no creation time, so shorter epochs would only cost (five times the
    /// progress tracking of an idle job) and show nothing sooner.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub tick: Option<Duration>,
    /// Count every valid record, not one per voter (only to measure what dedup costs).
    #[arg(long, hide = true)]
    pub no_dedup: bool,
    /// Run as one process of a cluster: every process's HOST:PORT for timely's connections,
    /// comma-separated, in process order, the same list on every process (scripts/cluster.sh
    /// sets it). The job then has (processes × --workers) workers.
    #[arg(long, value_delimiter = ',', value_name = "HOST:PORT,…")]
    pub peers: Vec<String>,
    /// This process's index in --peers. Process 0 serves results and writes snapshots; each
    /// other process serves only /healthz and /metrics, on the --listen port plus its index.
    #[arg(long, default_value_t = 0, requires = "peers")]
    pub process: usize,
    /// How long a cluster process waits for the others to connect.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,
    /// A cluster process exits when the graph makes no progress this long (a peer that hangs
    /// with its connections open; a peer that dies or vanishes is noticed within seconds).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub stall_timeout: Duration,
    /// A record longer than this (bytes) is counted as one malformed record, from any source;
    /// the file source reads past such a line without holding it.
    #[arg(long, default_value_t = tally_model::codec::MAX_RECORD_BYTES, value_parser = clap::value_parser!(usize))]
    pub max_record_bytes: usize,
    /// What the results are measured against.
    #[command(flatten)]
    pub measure: MeasureArgs,
}

/// What the counts are measured against: the votes expected, the election before, and how
/// states are projected.
#[derive(Args, Debug)]
pub struct MeasureArgs {
    /// Electoral-vote apportionment: 2020 (census 2020; elections 2024–2028) or 2010 (2012–2020).
    #[arg(long, default_value = "2020")]
    pub apportionment: Apportionment,
    /// A results table (state,state_po,candidate,party,votes; `2016`, `2020` and `2024` name the
    /// shipped ones) whose totals per state are the votes expected: gives % reporting and race calls (a
    /// run with --scenario expects the scenario itself unless this is given).
    #[arg(long, value_name = "2016|2020|2024|FILE.csv")]
    pub expected: Option<PathBuf>,
    /// With --expected: expected votes per official vote (round(votes × scale) per row, as
    /// --scenario --scale generates).
    #[arg(long, default_value_t = 1.0, requires = "expected", value_parser = positive)]
    pub expected_scale: f64,
    /// A previous election's results table (`2016`, `2020`, `2024` or a file): per state and nationally,
    /// each party's change in share against it (`swing`, in points). Candidates are matched by
    /// party.
    #[arg(long, value_name = "2016|2020|2024|FILE.csv")]
    pub baseline: Option<PathBuf>,
    /// Candidates' parties (`name,party[,color]` with a header), for streams whose candidates
    /// are in no results table given.
    #[arg(long, value_name = "FILE.csv")]
    pub candidates: Option<PathBuf>,
    /// With --baseline and an expectation: the level of each state's published estimate interval.
    #[arg(long, default_value_t = 0.90, value_parser = level)]
    pub level: f64,
    /// The level whose interval must exclude the other candidate before a state is projected.
    #[arg(long, default_value_t = 0.99, value_parser = level)]
    pub call_level: f64,
    /// The share of a state's expected vote that must be in before it is projected.
    #[arg(long, default_value_t = 0.10, value_parser = probability)]
    pub min_reported: f64,
    /// The election's name, as the dashboard's heading shows it (default: what the generator
    /// plays, e.g. "2024 presidential election: simulated election night at 1% of the votes").
    #[arg(long)]
    pub title: Option<String>,
    /// The election's date (YYYY-MM-DD), as the AP-compatible feed (/ap/v2/elections) names it.
    /// Default: Election Day of the shipped year the generator plays or --expected names, else
    /// of the current year.
    #[arg(long, value_parser = election_date)]
    pub election_date: Option<String>,
    /// A rehearsal or simulated night: marked as a test wherever results are shown (the
    /// dashboard's banner, `"test": true` in the JSON, `test` and `resultsType` in the AP
    /// feed), so it cannot be mistaken for a live count.
    #[arg(long)]
    pub test: bool,
}

/// A date as YYYY-MM-DD.
fn election_date(text: &str) -> Result<String, String> {
    let parts: Vec<&str> = text.split('-').collect();
    let valid = matches!(parts.as_slice(), [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2
        && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()))
        && (1..=12).contains(&m.parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&d.parse::<u32>().unwrap_or(0)));
    match valid {
        true => Ok(text.to_string()),
        false => Err(format!("{text:?} is not a date as YYYY-MM-DD")),
    }
}

impl GraphArgs {
    pub fn topology(&self) -> crate::cluster::Topology {
        crate::cluster::Topology {
            peers: self.peers.clone(),
            process: self.process,
            workers: self.workers,
            connect_timeout: self.connect_timeout,
        }
    }
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map(usize::from).unwrap_or(1)
}

fn probability(text: &str) -> Result<f64, String> {
    let p: f64 = text.parse().map_err(|_| format!("{text:?} is not a number"))?;
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("{p} is not between 0 and 1"))
    }
}

fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("{text:?} is not a positive number")),
    }
}

fn workers(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n @ 1..=256) => Ok(n),
        _ => Err(format!("{text:?} is not a worker count from 1 to 256")),
    }
}

/// An interval's level: strictly between 0 and 1.
fn level(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x > 0.0 && x < 1.0 => Ok(x),
        _ => Err(format!("{text:?} is not a level strictly between 0 and 1 (e.g. 0.9)")),
    }
}
