//! Records the model's tests share: a few ballots in Pennsylvania's counties and in Ohio, and
//! the sequential fold of any records in the order given.

use crate::{fold, Position, Tallies};

/// Three ballots in two Pennsylvania counties (Allegheny, Philadelphia) and one in Ohio, without
/// a county.
pub(crate) const PENNSYLVANIA_AND_OHIO: [&str; 4] = [
    r#"{"id":1,"gender":"Female","age":34,"state":"Pennsylvania","county":"42003","decision":"Kamala Harris"}"#,
    r#"{"id":2,"gender":"Male","age":71,"state":"Pennsylvania","county":"42003","decision":"Donald Trump"}"#,
    r#"{"id":3,"gender":"Male","age":52,"state":"Pennsylvania","county":"42101","decision":"Kamala Harris"}"#,
    r#"{"id":4,"gender":"Female","age":22,"state":"Ohio","decision":"Donald Trump"}"#,
];

/// The fold of `records`, read in that order from one stream.
pub(crate) fn tallies_of(records: &[&str]) -> Tallies {
    fold(
        records
            .iter()
            .enumerate()
            .map(|(i, r)| (Position::new(0, i as u64), r.as_bytes())),
        true,
    )
}
