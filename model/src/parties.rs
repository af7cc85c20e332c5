//! Which party each candidate stands for, and in which colour, by name: what charts colour by
//! (Democrat blue, Republican red) and what swing compares across elections.
//!
//! Sources, strongest first: a candidates file (`name,party[,color]`), the results tables the
//! job was given (expected votes, baseline), then the tables tally ships, so a stream of the
//! usual names is coloured by party with no flag at all.

use crate::reference::{president_2016, president_2020, president_2024, CandidateInfo, OfficialRow};
use crate::results::Results;
use std::collections::BTreeMap;

/// A candidate's party and, when a candidates file gives one, colour (`#rrggbb`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Affiliation {
    /// The party, as the tables name it (`DEMOCRAT`, `REPUBLICAN`, …).
    pub party: String,
    /// A colour given in a candidates file (`#rrggbb`), if any.
    pub color: Option<String>,
}

/// Candidate name → [`Affiliation`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parties(BTreeMap<String, Affiliation>);

impl Parties {
    /// The parties in a results table (a candidate's first row with a party).
    pub fn from_rows(rows: &[OfficialRow]) -> Parties {
        let mut parties = Parties::default();
        for row in rows.iter().filter(|row| !row.party.is_empty()) {
            parties.0.entry(row.candidate.clone()).or_insert_with(|| Affiliation {
                party: row.party.clone(),
                color: None,
            });
        }
        parties
    }

    /// The parties and colours of a candidates file.
    pub fn from_candidates(candidates: &[CandidateInfo]) -> Parties {
        let named = candidates.iter().map(|c| {
            let affiliation = Affiliation {
                party: c.party.clone(),
                color: c.color.clone(),
            };
            (c.name.clone(), affiliation)
        });
        Parties(named.collect())
    }

    /// The candidates of the tables tally ships (2024, then 2020, then 2016).
    pub fn shipped() -> Parties {
        [president_2024(), president_2020(), president_2016()]
            .into_iter()
            .map(Parties::from_rows)
            .fold(Parties::default(), Parties::or)
    }

    /// These parties, then `fallback`'s for candidates these do not name.
    pub fn or(mut self, fallback: Parties) -> Parties {
        for (name, affiliation) in fallback.0 {
            self.0.entry(name).or_insert(affiliation);
        }
        self
    }

    /// The affiliation of `candidate`, if known.
    pub fn get(&self, candidate: &str) -> Option<&Affiliation> {
        self.0.get(candidate)
    }

    /// `(candidate, party)` pairs with a party, as [`crate::swing::Baseline::new`] takes them.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let named = self.0.iter().filter(|(_, a)| !a.party.is_empty());
        named.map(|(name, a)| (name.clone(), a.party.clone())).collect()
    }
}

impl Results {
    /// Every candidate's party and colour from `parties`, where it names them.
    pub fn with_parties(mut self, parties: &Parties) -> Results {
        for candidate in &mut self.candidates {
            if let Some(affiliation) = parties.get(&candidate.name) {
                candidate.party = Some(affiliation.party.clone()).filter(|p| !p.is_empty());
                candidate.color = affiliation.color.clone();
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_candidates_file_wins_over_the_tables_and_the_shipped_ones_fill_in() {
        let file = Parties::from_candidates(&[CandidateInfo {
            name: "Harris".into(),
            party: "HARRIS-WALZ".into(),
            color: Some("#123456".into()),
        }]);
        let parties = file.or(Parties::shipped());
        let harris = parties.get("Harris").cloned().unwrap_or_default();
        assert_eq!(
            (harris.party.as_str(), harris.color.as_deref()),
            ("HARRIS-WALZ", Some("#123456"))
        );
        assert_eq!(parties.get("Trump").map(|a| a.party.as_str()), Some("REPUBLICAN"));
        assert_eq!(parties.get("Biden").map(|a| a.party.as_str()), Some("DEMOCRAT"));
        assert_eq!(parties.get("Clinton").map(|a| a.party.as_str()), Some("DEMOCRAT"));
        assert!(parties.get("Nobody Known").is_none());
    }
}
