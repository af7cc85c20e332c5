//! What changed between two publications, for a client that polls with a cursor (AP's pattern):
//! a client that holds the publication of epoch S asks for the changes since S and gets the
//! latest publication with only the states and counties whose numbers differ from S's.
//!
//! The change document is the results document in which `states` and `by_state` keep only the
//! states that changed, plus `since` (S) and, when asked, `units`: the counties that changed, by
//! FIPS code, each as `?state=` lists it. Everything else (the national counts, candidates, calls,
//! outlook) is small and comes whole. [`apply`] shows how a client folds a change document into
//! the one it holds, and is what the tests hold [`changes`] to: applied to S's document it gives
//! the latest's exactly.
//!
//! Most of a document is its 51 states; on a night most of them are still from one publication
//! to the next (closed and complete, or not yet reporting), so a client polling every second
//! downloads a small part of what polling the whole document costs (BENCHMARKS.md).

use crate::results::Results;
use serde_json::{Map, Value};

/// The keys of the results document that hold one entry per state.
const PER_STATE: [&str; 2] = ["states", "by_state"];

/// The change document from `before` to `after` (see the module's doc), with the counties that
/// changed when `with_units`.
pub fn changes(before: &Results, after: &Results, with_units: bool) -> serde_json::Result<Value> {
    let old = serde_json::to_value(before)?;
    let mut new = serde_json::to_value(after)?;
    if let Some(document) = new.as_object_mut() {
        for key in PER_STATE {
            if let Some(Value::Object(entries)) = document.get_mut(key) {
                entries.retain(|code, entry| old.get(key).and_then(|o| o.get(code)) != Some(entry));
            }
        }
        document.insert("since".to_string(), Value::from(before.epoch));
        if with_units {
            let units = changed_units(before, after)?;
            document.insert("units".to_string(), Value::Object(units));
        }
    }
    Ok(new)
}

/// Every county whose result differs between `before` and `after`, by FIPS code.
fn changed_units(before: &Results, after: &Results) -> serde_json::Result<Map<String, Value>> {
    let mut changed = Map::new();
    for (state, units) in after.units.iter() {
        let held = before.units.get(state).map_or(&[][..], Vec::as_slice);
        for unit in units {
            if !held.iter().any(|h| h == unit) {
                changed.insert(unit.county.clone(), serde_json::to_value(unit)?);
            }
        }
    }
    Ok(changed)
}

/// `held` (a results document) updated by `change` (from [`changes`]): what a client does with
/// each change document. The counties (`units`) are left out: a client keeps those per state.
pub fn apply(held: &Value, change: &Value) -> Value {
    let mut document = change.clone();
    if let Some(object) = document.as_object_mut() {
        object.remove("since");
        object.remove("units");
        for key in PER_STATE {
            let mut merged = held.get(key).and_then(Value::as_object).cloned().unwrap_or_default();
            if let Some(Value::Object(changed)) = change.get(key) {
                for (code, entry) in changed {
                    merged.insert(code.clone(), entry.clone());
                }
            }
            object.insert(key.to_string(), Value::Object(merged));
        }
    }
    document
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tallies::Tallies;
    use crate::{fold, Apportionment, Position};
    use proptest::prelude::*;

    const STATES: [&str; 5] = ["Ohio", "Texas", "Pennsylvania", "Georgia", "Alaska"];
    const COUNTIES: [&str; 5] = ["39049", "48201", "42003", "13121", "02000"];
    const CANDIDATES: [&str; 3] = ["Kamala Harris", "Donald Trump", "Jill Stein"];

    /// The results of the first `n` of `votes` (state, candidate, with or without a county).
    fn results_of(votes: &[(usize, usize, bool)], n: usize, epoch: u64) -> Results {
        let records: Vec<String> = votes[..n]
            .iter()
            .enumerate()
            .map(|(id, &(state, candidate, county))| {
                let county = if county {
                    format!(r#","county":"{}""#, COUNTIES[state])
                } else {
                    String::new()
                };
                format!(
                    r#"{{"id":{id},"gender":"Female","age":40,"state":"{}"{county},"decision":"{}"}}"#,
                    STATES[state], CANDIDATES[candidate]
                )
            })
            .collect();
        let tallies: Tallies = fold(
            records
                .iter()
                .enumerate()
                .map(|(i, r)| (Position::new(0, i as u64), r.as_bytes())),
            true,
        );
        Results::new(&tallies, epoch, false, Apportionment::Census2020)
    }

    proptest! {
        #[test]
        fn applied_to_the_earlier_document_a_change_gives_the_later_one(
            votes in prop::collection::vec((0..5usize, 0..3usize, any::<bool>()), 1..200),
            split in 0.0..1.0f64,
        ) {
            let at = (votes.len() as f64 * split) as usize;
            let (before, after) = (results_of(&votes, at, 1), results_of(&votes, votes.len(), 2));
            let change = changes(&before, &after, true).unwrap();
            let held = serde_json::to_value(&before).unwrap();
            prop_assert_eq!(apply(&held, &change), serde_json::to_value(&after).unwrap());
            // Only what changed: every state listed differs, and every county listed.
            for (code, state) in change["states"].as_object().unwrap() {
                prop_assert_ne!(Some(state), held["states"].get(code));
            }
            for (fips, unit) in change["units"].as_object().unwrap() {
                let state = crate::units::County::parse(fips).and_then(|c| c.state()).unwrap();
                let before_unit = before.units_of(state).iter().find(|u| &u.county == fips);
                let before_unit = before_unit.map(|u| serde_json::to_value(u).unwrap());
                prop_assert_ne!(before_unit.as_ref(), Some(unit));
            }
        }
    }

    #[test]
    fn a_publication_with_nothing_new_changes_no_state() {
        let votes = [(0, 0, true), (1, 1, false), (2, 0, true)];
        let (before, after) = (results_of(&votes, 3, 1), results_of(&votes, 3, 2));
        let change = changes(&before, &after, true).unwrap();
        assert_eq!(change["since"], 1);
        assert_eq!(change["epoch"], 2);
        assert!(change["states"].as_object().unwrap().is_empty());
        assert!(change["by_state"].as_object().unwrap().is_empty());
        assert!(change["units"].as_object().unwrap().is_empty());
        // One more vote in Texas: Texas alone, and no county (its record names none).
        let more = [(0, 0, true), (1, 1, false), (2, 0, true), (1, 0, false)];
        let change = changes(&before, &results_of(&more, 4, 3), true).unwrap();
        let listed: Vec<&String> = change["states"].as_object().unwrap().keys().collect();
        assert_eq!(listed, ["TX"]);
        assert!(change["units"].as_object().unwrap().is_empty());
        assert!(
            changes(&before, &after, false).unwrap().get("units").is_none(),
            "only when asked"
        );
    }
}
