//! What an election is measured against, for the binary: the shipped tables by name (`2020`,
//! `2024`), the generator a scenario or a night makes, and the measures every publication gets
//! (race calls and % reporting against the votes expected, swing against a baseline, the time
//! of each call, a timeline point).

use crate::cli::{MeasureArgs, MixArgs};
use anyhow::{Context, Result};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use tally_connectors::sources::generator::{GeneratorConfig, Scenario, VoterGenerator};
use tally_model::exit_polls::{Demographics, ExitPoll};
use tally_model::projection::{apply_projection, Projector};
use tally_model::reference::{
    parse_candidates, parse_official_results, parse_poll_closings, poll_closing_2020, poll_closing_2024,
    president_by_county, OfficialRow, PollClosings,
};
use tally_model::swing::{apply_swing, Baseline};
use tally_model::{CallDesk, Expected, Parties, Results, Timeline};

/// The generator `mix` describes: the random mix, a scenario (a table by name or file, scaled),
/// or a scenario played as a night.
pub(crate) fn generator(mix: &MixArgs, voters: Option<u64>) -> Result<VoterGenerator> {
    let scenario = match &mix.scenario {
        // A file the generator cannot use is an argument error (exit 2), as before.
        Some(path) => {
            let (scenario, rows) = match built_in_table(path) {
                Some(rows) => (Scenario::new(rows, mix.scale)?, rows.to_vec()),
                None => (Scenario::load(path, mix.scale)?, table(path)?),
            };
            Some(match exit_poll(mix)? {
                Some(poll) => scenario.with_demographics(Demographics::new(poll, &rows)),
                None => scenario,
            })
        }
        None => None,
    };
    let night = match mix.night {
        true => Some((poll_closings(&mix.poll_closings)?, mix.night_length)),
        false => None,
    };
    let config = GeneratorConfig {
        seed: mix.seed,
        voters,
        invalid_rate: mix.invalid_rate,
        duplicate_rate: mix.duplicate_rate,
        scenario,
        night,
    };
    Ok(VoterGenerator::new(config)?)
}

/// What a publication is measured against: the votes expected (race calls, % reporting) and a
/// previous election (swing).
#[derive(Default)]
pub(crate) struct Measures {
    expected: Option<Expected>,
    baseline: Option<Baseline>,
    parties: Parties,
    /// The election's name, for the dashboard's heading.
    election: Option<String>,
    /// How states are projected (with a baseline).
    projector: Projector,
    /// The election's date (YYYY-MM-DD).
    election_date: String,
    /// A rehearsal or simulated night.
    test: bool,
}

impl Measures {
    /// `results` with its labels: each candidate's party and colour, the election's name.
    pub(crate) fn labelled(&self, results: Results) -> Results {
        let mut results = results.with_parties(&self.parties);
        results.election = self.election.clone();
        results.election_date = Some(self.election_date.clone());
        results.test = self.test;
        results
    }

    /// `results` labelled, with its race calls and % reporting against the expected votes, and
    /// its swing and projections against the baseline.
    pub(crate) fn measured(&self, results: Results) -> Results {
        let mut results = self.labelled(results.with_expectation(self.expected.as_ref()));
        if let Some(baseline) = &self.baseline {
            apply_swing(&mut results, baseline);
            apply_projection(&mut results, baseline, &self.projector);
        }
        results
    }

    /// The votes expected, if any.
    pub(crate) fn expected(&self) -> Option<&Expected> {
        self.expected.as_ref()
    }
}

/// The current year (UTC).
fn this_year() -> i32 {
    let now = tally_model::ap::rfc3339(tally_model::latency::now_ms());
    now.get(..4).and_then(|year| year.parse().ok()).unwrap_or(1970)
}

/// What a generated stream is, in words: `2024 presidential election, simulated at 1% from the
/// official results` (`None` for a stream from elsewhere).
fn default_title(mix: Option<&MixArgs>) -> Option<String> {
    let mix = mix?;
    let Some(scenario) = &mix.scenario else {
        return Some("Simulated presidential election (random mix)".to_string());
    };
    let name = match built_in_table(scenario) {
        Some(_) => format!("{} presidential election", scenario.display()),
        None => {
            let file = scenario.file_name().unwrap_or(scenario.as_os_str());
            format!("Election from {}", file.to_string_lossy())
        }
    };
    let how = if mix.night { "election night" } else { "count" };
    let percent = (mix.scale * 100.0 * 1e6).round() / 1e6;
    Some(format!("{name}: simulated {how} at {percent}% of the votes"))
}

/// The table shipped with tally that `path` names: `2016`, `2020` or `2024` (by county, whose
/// states sum to the official state tables), when no file has that name.
fn built_in_table(path: &Path) -> Option<&'static [OfficialRow]> {
    built_in_year(path).and_then(president_by_county)
}

/// The year a shipped table's name is, when no file has that name.
fn built_in_year(path: &Path) -> Option<u16> {
    if path.exists() {
        return None;
    }
    match path.to_str()? {
        "2016" => Some(2016),
        "2020" => Some(2020),
        "2024" => Some(2024),
        _ => None,
    }
}

/// The exit polls genders and ages are drawn from: `--exit-polls`, else the shipped scenario's
/// own year's (none for a file).
fn exit_poll(mix: &MixArgs) -> Result<Option<&'static ExitPoll>> {
    match mix.exit_polls.as_deref() {
        Some("none") => Ok(None),
        Some(year) => {
            let poll = year.parse::<u16>().ok().and_then(ExitPoll::shipped);
            poll.map(Some)
                .with_context(|| format!("--exit-polls {year:?}: tally ships 2016, 2020 and 2024, or say none"))
        }
        None => Ok(mix
            .scenario
            .as_deref()
            .and_then(built_in_year)
            .and_then(ExitPoll::shipped)),
    }
}

/// A results table: a shipped one by name, or a file.
fn table(path: &Path) -> Result<Vec<OfficialRow>> {
    if let Some(rows) = built_in_table(path) {
        return Ok(rows.to_vec());
    }
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_official_results(&text).with_context(|| format!("{}", path.display()))
}

/// Poll closings: `2020` and `2024` (when no file has that name) are the ones shipped.
fn poll_closings(path: &Path) -> Result<PollClosings> {
    if !path.exists() {
        match path.to_str() {
            Some("2020") => return Ok(poll_closing_2020().clone()),
            Some("2024") => return Ok(poll_closing_2024().clone()),
            _ => {}
        }
    }
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_poll_closings(&text).with_context(|| format!("{}", path.display()))
}

/// What each publication is measured against: expected votes from `--expected` (scaled by `--expected-scale`), or
/// else the generator's scenario, which is exactly what it emits; the baseline from
/// `--baseline`, with parties from `--candidates`, then the expectation's table.
pub(crate) fn measures(graph: &MeasureArgs, mix: Option<&MixArgs>) -> Result<Measures> {
    let scenario = mix.and_then(|mix| Some((mix.scenario.as_deref()?, mix.scale)));
    let expectation = match (&graph.expected, scenario) {
        (Some(path), _) => Some((table(path)?, graph.expected_scale)),
        (None, Some((path, scale))) => Some((table(path)?, scale)),
        (None, None) => None,
    };
    // A candidates file wins over the expectation's table, which wins over the baseline's, then
    // the tables tally ships.
    let mut parties = match &graph.candidates {
        Some(file) => {
            let text = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            Parties::from_candidates(&parse_candidates(&text).with_context(|| format!("{}", file.display()))?)
        }
        None => Parties::default(),
    };
    if let Some((rows, _)) = &expectation {
        parties = parties.or(Parties::from_rows(rows));
    }
    let baseline = match &graph.baseline {
        Some(path) => {
            let rows = table(path)?;
            let baseline = Baseline::new(&rows, &parties.pairs());
            parties = parties.or(Parties::from_rows(&rows));
            Some(baseline)
        }
        None => None,
    };
    Ok(Measures {
        expected: expectation.map(|(rows, scale)| Expected::from_rows(&rows, scale)),
        baseline,
        parties: parties.or(Parties::shipped()),
        election: graph.title.clone().or_else(|| default_title(mix)),
        projector: Projector {
            level: graph.level,
            call_level: graph.call_level,
            min_reported: graph.min_reported,
        },
        election_date: graph.election_date.clone().unwrap_or_else(|| {
            // The year of the shipped table played or expected, else this year.
            let shipped = mix
                .and_then(|mix| mix.scenario.as_deref())
                .or(graph.expected.as_deref())
                .and_then(built_in_year);
            tally_model::ap::election_day(shipped.map_or_else(this_year, i32::from))
        }),
        test: graph.test,
    })
}

/// `publish`, given every publication measured: labelled (parties, colours, the election's
/// name), with its race calls and % reporting against the expected votes, the time each call was
/// first made (see `tally_model::calls`) and its swing against the baseline; each is also a
/// point of `timeline`.
pub(crate) fn measure_each(
    measures: Measures,
    timeline: Arc<RwLock<Timeline>>,
    desk: Arc<Mutex<CallDesk>>,
    publish: impl Fn(Results) + Send + Sync + 'static,
) -> Arc<dyn Fn(Results) + Send + Sync> {
    Arc::new(move |results: Results| {
        let mut results = measures.measured(results);
        if let Ok(mut desk) = desk.lock() {
            desk.stamp(&mut results);
        }
        if let Ok(mut timeline) = timeline.write() {
            timeline.record(&results);
        }
        publish(results)
    })
}
