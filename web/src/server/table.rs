//! `/api/results.csv`: the per-state table as a download, or with `?level=county` the table of
//! every reporting unit.

use tally_model::Results;

/// The per-state table: one row per state (its code, name, electoral votes, votes, expected
/// votes, % reporting, leader, margin and call), then a column of votes per candidate, in the
/// national order.
pub(super) fn results_csv(results: &Results) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let names: Vec<&str> = results.candidates.iter().map(|c| c.name.as_str()).collect();
    let mut header = vec![
        "state",
        "name",
        "electoral_votes",
        "votes",
        "expected_votes",
        "reported",
        "leader",
        "margin",
        "called",
    ];
    header.extend(names.iter().copied());
    out.write_record(&header)?;
    for (code, state) in &results.states {
        let optional = |value: Option<String>| value.unwrap_or_default();
        let mut row = vec![
            code.clone(),
            state.name.clone(),
            state.electoral_votes.to_string(),
            state.votes.to_string(),
            optional(state.expected_votes.map(|v| v.to_string())),
            optional(state.reported.map(|r| format!("{r:.4}"))),
            optional(state.leader.clone()),
            format!("{:.4}", state.margin),
            optional(state.called.clone()),
        ];
        let votes = results.by_state.get(code);
        row.extend(
            names
                .iter()
                .map(|name| votes.and_then(|v| v.get(*name)).copied().unwrap_or(0).to_string()),
        );
        out.write_record(&row)?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

/// The per-county table: one row per reporting unit (its state, FIPS code, name, votes,
/// expected votes, % reporting, leader and margin), then a column of votes per candidate, in
/// the national order.
pub(super) fn county_csv(results: &Results) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let names: Vec<&str> = results.candidates.iter().map(|c| c.name.as_str()).collect();
    let mut header = vec![
        "state",
        "county",
        "name",
        "votes",
        "expected_votes",
        "reported",
        "leader",
        "margin",
    ];
    header.extend(names.iter().copied());
    out.write_record(&header)?;
    for (code, units) in results.units.iter() {
        for unit in units {
            let optional = |value: Option<String>| value.unwrap_or_default();
            let mut row = vec![
                code.clone(),
                unit.county.clone(),
                unit.name.clone(),
                unit.votes.to_string(),
                optional(unit.expected_votes.map(|v| v.to_string())),
                optional(unit.reported.map(|r| format!("{r:.4}"))),
                optional(unit.leader.clone()),
                format!("{:.4}", unit.margin),
            ];
            row.extend(
                names
                    .iter()
                    .map(|name| unit.candidates.get(*name).copied().unwrap_or(0).to_string()),
            );
            out.write_record(&row)?;
        }
    }
    out.into_inner().map_err(|e| e.into_error().into())
}
