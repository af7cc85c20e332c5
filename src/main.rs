//! `tally`: the binary that wires `tally-connectors` (sources) through `tally-dataflow` (the
//! graph) to `tally-web` (results for people and programs). See README.md.

mod audit;
mod backtest;
mod cli;
mod cluster;
mod durable;
mod election;
mod generate;
mod job;
mod runtime;
mod serve;

use clap::error::{ContextKind, ErrorKind};
use clap::Parser;
use std::process::ExitCode;
use tally_connectors::sources::generator::GeneratorError;

/// `tally` with no arguments: the 2024 election night from the official table at 1%, over
/// three minutes, with calls against the table itself and swing against 2020; then the final
/// night stays served. (`tally run` alone keeps the random mix at 1,000 records/s.)
const DEFAULT_RUN: [&str; 9] = [
    "tally",
    "run",
    "--scenario",
    "2024",
    "--scale",
    "0.01",
    "--night",
    "--baseline",
    "2020",
];

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(mut e) => {
            // One clear line: the error and its tips, without clap's usage block (which the
            // rendering would put after the first paragraph) and its "try --help" footer.
            e.remove(ContextKind::Usage);
            let rendered = e.render().to_string();
            let message: Vec<&str> = rendered
                .lines()
                .map(str::trim)
                .take_while(|line| !line.is_empty())
                .collect();
            let line = message.join(" ");
            eprintln!("tally: {} (see tally --help)", line.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colours only for people: cluster and service logs go to files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TALLY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,warp=warn,hyper=warn")),
        )
        .init();
    let command = cli
        .command
        .unwrap_or_else(|| match cli::Cli::parse_from(DEFAULT_RUN).command {
            Some(command) => command,
            None => unreachable!("parsing `tally run …` gives the run command"),
        });
    let outcome = match command {
        cli::Command::Run(args) => job::run(*args),
        cli::Command::Generate(args) => generate::generate(*args),
        cli::Command::Replay(args) => job::replay(*args),
        cli::Command::Backtest(args) => backtest::backtest(*args),
        cli::Command::Audit(args) => audit::audit(*args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        // Generator settings that cannot work (rates, scales, counts that would overflow) are
        // argument errors, as clap's own are.
        Err(e) if e.downcast_ref::<GeneratorError>().is_some() => {
            eprintln!("tally: {e:#} (see tally --help)");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("tally: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_run_is_the_2024_night_at_one_percent_against_2020() {
        let Some(cli::Command::Run(run)) = cli::Cli::parse_from(DEFAULT_RUN).command else {
            panic!("the default is a run");
        };
        assert!(run.mix.night);
        assert_eq!(run.mix.night_length, std::time::Duration::from_secs(180));
        assert_eq!(run.mix.scale, 0.01);
        assert_eq!(run.graph.measure.apportionment, tally_model::Apportionment::Census2020);
        assert_eq!(
            run.graph.measure.baseline.as_deref(),
            Some(std::path::Path::new("2020"))
        );
        let generator = election::generator(&run.mix, run.count).expect("the built-in table plays");
        let voters: u64 = tally_model::reference::president_2024()
            .iter()
            .map(|row| (row.votes as f64 * 0.01).round() as u64)
            .sum();
        assert_eq!(generator.voters(), Some(voters), "2024 at 1%");
        assert!(generator.due_at(0).is_some(), "paced as a night");
    }
}
