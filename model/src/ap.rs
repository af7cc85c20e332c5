//! The results in the Associated Press Elections API's shape (v2, JSON): what newsroom tools
//! already read. `elex` (the open client the NYT and NPR wrote) turns this API into CSV and
//! JSON for graphics desks; pointed at tally (`AP_API_BASE_URL=http://HOST/ap/v2`) it reads a
//! live count as it would read AP's.
//!
//! The shape follows AP's: the presidential election is one race per state (`officeID` `P`,
//! `raceTypeID` `G`), each with its reporting units: the state (`level` `state`) and, when
//! records name their counties, every county (`subunit`, with its FIPS code), each listing every
//! candidate with `voteCount`. What tally has and AP has differently:
//! - **No precincts.** A unit's `precinctsTotal` is its reporting units (the state's counties; 1
//!   for a county, or for a state without units) and `precinctsReporting` those with votes;
//!   `eevp`, AP's expected-vote percentage (0–100), is the share of the unit's expected vote in,
//!   when the job has an expectation.
//! - **Winners are certain calls only** (`winner: "X"` on the state unit, with `electWon`), never
//!   projections, as AP declares only what it has called.
//! - **Units are counties everywhere.** In the six New England states AP reports towns, so elex
//!   labels their subunits `township` and sums any that carry a county's code into a county row
//!   of its own; with tally's units those rows repeat the counties'.
//! - **Ids are tally's**: `raceID` is the state's FIPS code, `polID` a stable number from the
//!   candidate's name, `candidateID` the two together.
//!
//! `test: true` and `resultsType: "t"` mark a rehearsal or simulated night (`--test`).

use crate::results::Results;
use crate::units::County;
use crate::vote::State;
use serde::Serialize;

/// `GET /ap/v2/elections`: the elections this feed has (one, the night's).
#[derive(Debug, Serialize)]
pub struct ElectionList {
    /// The night's election.
    pub elections: Vec<ElectionEntry>,
}

/// One election of [`ElectionList`].
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ElectionEntry {
    /// `YYYY-MM-DD`.
    pub election_date: String,
    /// True on a rehearsal or simulated night.
    pub test_results: bool,
    /// True on a live night.
    pub live_results: bool,
}

/// `GET /ap/v2/elections/{date}`: every race of the night.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Election {
    /// `YYYY-MM-DD`.
    pub election_date: String,
    /// When these results were computed (RFC 3339, UTC).
    pub timestamp: String,
    /// One per state.
    pub races: Vec<Race>,
}

/// One state's presidential race.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Race {
    /// True on a rehearsal or simulated night.
    pub test: bool,
    /// `t` (test) or `l` (live).
    pub results_type: &'static str,
    /// The state's FIPS code.
    #[serde(rename = "raceID")]
    pub race_id: String,
    /// `General`.
    pub race_type: &'static str,
    /// `G`.
    #[serde(rename = "raceTypeID")]
    pub race_type_id: &'static str,
    /// `P`.
    #[serde(rename = "officeID")]
    pub office_id: &'static str,
    /// `President`.
    pub office_name: &'static str,
    /// The USPS code.
    pub state_postal: &'static str,
    /// The state's name.
    pub state_name: &'static str,
    /// True: a national race.
    pub national: bool,
    /// False.
    pub uncontested: bool,
    /// When these results were computed (RFC 3339, UTC).
    pub last_updated: String,
    /// The state, then its counties.
    pub reporting_units: Vec<ReportingUnit>,
}

/// A reporting unit of a race: the state or one county.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportingUnit {
    /// The USPS code.
    pub state_postal: &'static str,
    /// The state's name.
    pub state_name: &'static str,
    /// `state` or `subunit`.
    pub level: &'static str,
    /// The unit's id (the county's FIPS code; none for the state, which elex names itself).
    #[serde(rename = "reportingunitID", skip_serializing_if = "Option::is_none")]
    pub reportingunit_id: Option<String>,
    /// The county's name.
    #[serde(rename = "reportingunitName", skip_serializing_if = "Option::is_none")]
    pub reportingunit_name: Option<String>,
    /// The county's 5-digit FIPS code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fips_code: Option<String>,
    /// When these results were computed (RFC 3339, UTC).
    pub last_updated: String,
    /// Reporting units with votes (see the module's doc).
    pub precincts_reporting: u64,
    /// Reporting units.
    pub precincts_total: u64,
    /// `precinctsReporting / precinctsTotal`, 0 to 1.
    pub precincts_reporting_pct: f64,
    /// Percentage (0–100) of the unit's expected vote counted, with an expectation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eevp: Option<f64>,
    /// Every candidate, votes included unless results were omitted.
    pub candidates: Vec<Candidate>,
}

/// A candidate in a reporting unit.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// Given names.
    pub first: String,
    /// Family name (with a suffix such as `Jr.`).
    pub last: String,
    /// AP's party code (`Dem`, `GOP`, `Lib`, `Grn`, …).
    pub party: String,
    /// The race and the candidate.
    #[serde(rename = "candidateID")]
    pub candidate_id: String,
    /// A stable number from the name.
    #[serde(rename = "polID")]
    pub pol_id: String,
    /// The candidate's place on the ballot (alphabetical).
    pub ballot_order: usize,
    /// As `polID`.
    pub pol_num: String,
    /// Votes counted; absent when results were omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vote_count: Option<u64>,
    /// `X` on the state unit of the candidate the state is called for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub winner: Option<&'static str>,
    /// Electoral votes won (called states only), on the state unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elect_won: Option<u32>,
}

/// What a client asked for (AP's query parameters that change the answer).
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// `omitResults=true`: races, units and candidates without votes.
    pub omit_results: bool,
    /// `level=state` (or `national`): the state units only; otherwise (`ru`) counties too.
    pub states_only: bool,
    /// `officeID=…`: races of these offices only (tally has `P`).
    pub office_ids: Option<Vec<String>>,
    /// `statePostal=…`: races of these states only.
    pub states: Option<Vec<String>>,
}

/// Election Day of `year`: the Tuesday after the first Monday of November (3 U.S.C. § 1).
pub fn election_day(year: i32) -> String {
    let day = (2..=8).find(|&day| weekday(year, 11, day) == 2).unwrap_or(2);
    format!("{year:04}-11-{day:02}")
}

/// Day of the week (0 is Sunday) of a proleptic Gregorian date.
fn weekday(year: i32, month: u32, day: u32) -> i64 {
    // 1970-01-01 was a Thursday.
    (days_from_civil(i64::from(year), month, day) + 4).rem_euclid(7)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = year - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The feed's list of elections: the night's.
pub fn election_list(date: &str, test: bool) -> ElectionList {
    ElectionList {
        elections: vec![ElectionEntry {
            election_date: date.to_string(),
            test_results: test,
            live_results: !test,
        }],
    }
}

/// AP's party code for a results table's party name.
fn party_code(party: Option<&str>) -> String {
    match party.map(str::to_ascii_uppercase).as_deref() {
        Some("DEMOCRAT" | "DEMOCRATIC") => "Dem".to_string(),
        Some("REPUBLICAN") => "GOP".to_string(),
        Some("LIBERTARIAN") => "Lib".to_string(),
        Some("GREEN") => "Grn".to_string(),
        Some("INDEPENDENT") => "Ind".to_string(),
        Some(other) if !other.is_empty() && other != "OTHER" => {
            let mut code: String = other.chars().take(3).collect::<String>().to_ascii_lowercase();
            if let Some(first) = code.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            code
        }
        _ => "Oth".to_string(),
    }
}

/// Given names and family name: the last word, with a generational suffix kept with it.
fn split_name(name: &str) -> (String, String) {
    let words: Vec<&str> = name.split_whitespace().collect();
    let suffix = |w: &str| {
        matches!(
            w.trim_end_matches('.').to_ascii_lowercase().as_str(),
            "jr" | "sr" | "ii" | "iii" | "iv"
        )
    };
    let family = match words.len() {
        0 => 0,
        n if n > 2 && suffix(words[n - 1]) => n - 2,
        n => n - 1,
    };
    (words[..family].join(" "), words[family..].join(" "))
}

/// A stable number for a candidate's name (FNV-1a, six digits).
fn pol_id(name: &str) -> String {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{}", 100_000 + hash % 900_000)
}

/// A state's FIPS code (from its counties': the first two digits), or its place in the list.
fn state_fips(state: State) -> String {
    County::of_state(state)
        .first()
        .map(|info| format!("{:02}", info.county.0 / 1000))
        .unwrap_or_else(|| format!("{}", 100 + u32::from(state.0)))
}

/// The night's races in AP's shape, as of `results`, dated `date`.
pub fn election(results: &Results, date: &str, test: bool, request: &Request) -> Election {
    let updated = rfc3339(results.as_of);
    let mut names: Vec<&crate::results::CandidateResult> = results.candidates.iter().collect();
    names.sort_by(|a, b| a.name.cmp(&b.name));
    let wants_office = request
        .office_ids
        .as_ref()
        .is_none_or(|ids| ids.iter().any(|id| id.eq_ignore_ascii_case("P")));
    let races = State::all()
        .filter(|_| wants_office)
        .filter(|state| {
            request
                .states
                .as_ref()
                .is_none_or(|codes| codes.iter().any(|code| code.eq_ignore_ascii_case(state.code())))
        })
        .map(|state| {
            let race_id = state_fips(state);
            let code = state.code();
            let summary = results.states.get(code);
            let counted = results.by_state.get(code);
            let units = results.units_of(state);
            let candidates = |votes: &dyn Fn(&str) -> u64, on_state: bool| -> Vec<Candidate> {
                names
                    .iter()
                    .enumerate()
                    .map(|(order, c)| {
                        let (first, last) = split_name(&c.name);
                        let pol = pol_id(&c.name);
                        let called = on_state && summary.and_then(|s| s.called.as_deref()) == Some(c.name.as_str());
                        Candidate {
                            first,
                            last,
                            party: party_code(c.party.as_deref()),
                            candidate_id: format!("{race_id}-{pol}"),
                            pol_num: pol.clone(),
                            pol_id: pol,
                            ballot_order: order + 1,
                            vote_count: (!request.omit_results).then(|| votes(&c.name)),
                            winner: (called && !request.omit_results).then_some("X"),
                            elect_won: (on_state && !request.omit_results).then(|| {
                                if called {
                                    summary.map_or(0, |s| s.electoral_votes)
                                } else {
                                    0
                                }
                            }),
                        }
                    })
                    .collect()
            };
            let with_votes = units.iter().filter(|u| u.votes > 0).count() as u64;
            let (reporting, total) = match units.len() {
                0 => (u64::from(summary.is_some_and(|s| s.votes > 0)), 1),
                n => (with_votes, n as u64),
            };
            let mut reporting_units = vec![ReportingUnit {
                state_postal: code,
                state_name: state.name(),
                level: "state",
                reportingunit_id: None,
                reportingunit_name: None,
                fips_code: None,
                last_updated: updated.clone(),
                precincts_reporting: reporting,
                precincts_total: total,
                precincts_reporting_pct: reporting as f64 / total as f64,
                eevp: summary.and_then(|s| s.reported).map(percent),
                candidates: candidates(&|name| counted.and_then(|c| c.get(name)).copied().unwrap_or(0), true),
            }];
            if !request.states_only {
                reporting_units.extend(units.iter().map(|unit| ReportingUnit {
                    state_postal: code,
                    state_name: state.name(),
                    level: "subunit",
                    reportingunit_id: Some(unit.county.clone()),
                    reportingunit_name: Some(unit.name.clone()),
                    fips_code: Some(unit.county.clone()),
                    last_updated: updated.clone(),
                    precincts_reporting: u64::from(unit.votes > 0),
                    precincts_total: 1,
                    precincts_reporting_pct: if unit.votes > 0 { 1.0 } else { 0.0 },
                    eevp: unit.reported.map(percent),
                    candidates: candidates(&|name| unit.candidates.get(name).copied().unwrap_or(0), false),
                }));
            }
            Race {
                test,
                results_type: if test { "t" } else { "l" },
                race_id,
                race_type: "General",
                race_type_id: "G",
                office_id: "P",
                office_name: "President",
                state_postal: code,
                state_name: state.name(),
                national: true,
                uncontested: false,
                last_updated: updated.clone(),
                reporting_units,
            }
        })
        .collect();
    Election {
        election_date: date.to_string(),
        timestamp: updated,
        races,
    }
}

/// A share (0–1) as AP's percentage, to a tenth.
fn percent(share: f64) -> f64 {
    (share * 1000.0).round() / 10.0
}

/// Milliseconds since the Unix epoch as RFC 3339 (UTC, seconds).
pub fn rfc3339(ms: i64) -> String {
    let seconds = ms.div_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let in_day = seconds.rem_euclid(86_400);
    // civil_from_days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn election_day_is_the_tuesday_after_the_first_monday_of_november() {
        assert_eq!(election_day(2016), "2016-11-08");
        assert_eq!(election_day(2020), "2020-11-03");
        assert_eq!(election_day(2024), "2024-11-05");
        assert_eq!(election_day(2028), "2028-11-07");
        // November 1 a Tuesday: not the Tuesday "after the first Monday".
        assert_eq!(election_day(2022), "2022-11-08");
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_730_861_565_123), "2024-11-06T02:52:45Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn names_and_parties_in_aps_terms() {
        assert_eq!(split_name("Kamala Harris"), ("Kamala".into(), "Harris".into()));
        assert_eq!(
            split_name("Robert F. Kennedy Jr."),
            ("Robert F.".into(), "Kennedy Jr.".into())
        );
        assert_eq!(split_name("Cher"), ("".into(), "Cher".into()));
        assert_eq!(party_code(Some("DEMOCRAT")), "Dem");
        assert_eq!(party_code(Some("REPUBLICAN")), "GOP");
        assert_eq!(party_code(Some("CONSTITUTION")), "Con");
        assert_eq!(party_code(None), "Oth");
        assert_eq!(pol_id("Kamala Harris"), pol_id("Kamala Harris"));
        assert_ne!(pol_id("Kamala Harris"), pol_id("Donald Trump"));
    }

    #[test]
    fn every_state_is_a_race_with_its_counties_and_the_calls_as_winners() {
        let tallies = crate::test_records::tallies_of(&crate::test_records::PENNSYLVANIA_AND_OHIO);
        let mut results = Results::new(&tallies, 3, true, crate::Apportionment::Census2020);
        if let Some(ohio) = results.states.get_mut("OH") {
            ohio.called = Some("Donald Trump".into());
        }
        let feed = election(&results, "2024-11-05", true, &Request::default());
        assert_eq!(feed.races.len(), 51);
        let pa = feed.races.iter().find(|r| r.state_postal == "PA").expect("PA");
        assert_eq!((pa.race_id.as_str(), pa.test, pa.results_type), ("42", true, "t"));
        let levels: Vec<(&str, Option<&str>)> = pa
            .reporting_units
            .iter()
            .map(|u| (u.level, u.fips_code.as_deref()))
            .collect();
        assert_eq!(
            levels,
            [("state", None), ("subunit", Some("42003")), ("subunit", Some("42101"))]
        );
        let votes = |unit: &ReportingUnit, last: &str| {
            unit.candidates
                .iter()
                .find(|c| c.last == last)
                .and_then(|c| c.vote_count)
        };
        assert_eq!(votes(&pa.reporting_units[0], "Harris"), Some(2));
        assert_eq!(votes(&pa.reporting_units[1], "Trump"), Some(1));
        assert_eq!(votes(&pa.reporting_units[2], "Trump"), Some(0));
        assert_eq!(
            (
                pa.reporting_units[0].precincts_reporting,
                pa.reporting_units[0].precincts_total
            ),
            (2, 2)
        );
        let oh = &feed
            .races
            .iter()
            .find(|r| r.state_postal == "OH")
            .expect("OH")
            .reporting_units[0];
        let trump = oh.candidates.iter().find(|c| c.last == "Trump").expect("Trump");
        assert_eq!((trump.winner, trump.elect_won), (Some("X"), Some(17)));
        assert!(oh
            .candidates
            .iter()
            .filter(|c| c.last != "Trump")
            .all(|c| c.winner.is_none()));

        let bare = election(
            &results,
            "2024-11-05",
            false,
            &Request {
                omit_results: true,
                states_only: true,
                office_ids: None,
                states: Some(vec!["pa".into()]),
            },
        );
        assert_eq!(bare.races.len(), 1);
        assert_eq!(bare.races[0].reporting_units.len(), 1);
        assert!(bare.races[0].reporting_units[0]
            .candidates
            .iter()
            .all(|c| c.vote_count.is_none()));
        let json = serde_json::to_value(&bare).expect("JSON");
        assert_eq!(json["races"][0]["raceID"], "42");
        assert_eq!(json["races"][0]["resultsType"], "l");
        let other_office = Request {
            office_ids: Some(vec!["G".into()]),
            ..Request::default()
        };
        assert!(election(&results, "2024-11-05", false, &other_office).races.is_empty());
    }
}
