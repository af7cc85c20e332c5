//! A tile-grid map of the US: every state one equal square at `(column, row)`, so small states
//! are as visible as large ones.

/// `(USPS code, column, row)` on a 12 × 8 grid.
pub const TILES: [(&str, u8, u8); 51] = [
    ("AK", 0, 0),
    ("ME", 11, 0),
    ("WI", 6, 1),
    ("VT", 10, 1),
    ("NH", 11, 1),
    ("WA", 1, 2),
    ("ID", 2, 2),
    ("MT", 3, 2),
    ("ND", 4, 2),
    ("MN", 5, 2),
    ("IL", 6, 2),
    ("MI", 7, 2),
    ("NY", 9, 2),
    ("MA", 10, 2),
    ("OR", 1, 3),
    ("NV", 2, 3),
    ("WY", 3, 3),
    ("SD", 4, 3),
    ("IA", 5, 3),
    ("IN", 6, 3),
    ("OH", 7, 3),
    ("PA", 8, 3),
    ("NJ", 9, 3),
    ("CT", 10, 3),
    ("RI", 11, 3),
    ("CA", 1, 4),
    ("UT", 2, 4),
    ("CO", 3, 4),
    ("NE", 4, 4),
    ("MO", 5, 4),
    ("KY", 6, 4),
    ("WV", 7, 4),
    ("VA", 8, 4),
    ("MD", 9, 4),
    ("DE", 10, 4),
    ("AZ", 2, 5),
    ("NM", 3, 5),
    ("KS", 4, 5),
    ("AR", 5, 5),
    ("TN", 6, 5),
    ("NC", 7, 5),
    ("SC", 8, 5),
    ("DC", 9, 5),
    ("OK", 4, 6),
    ("LA", 5, 6),
    ("MS", 6, 6),
    ("AL", 7, 6),
    ("GA", 8, 6),
    ("HI", 0, 7),
    ("TX", 4, 7),
    ("FL", 9, 7),
];

/// Columns of the tile grid.
pub const COLUMNS: u8 = 12;
/// Rows of the tile grid.
pub const ROWS: u8 = 8;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use tally_model::State;

    #[test]
    fn every_state_has_one_tile_and_no_tiles_overlap() {
        let codes: HashSet<_> = TILES.iter().map(|t| t.0).collect();
        let expected: HashSet<_> = State::all().map(State::code).collect();
        assert_eq!(codes, expected);
        let cells: HashSet<_> = TILES.iter().map(|t| (t.1, t.2)).collect();
        assert_eq!(cells.len(), TILES.len());
        assert!(TILES.iter().all(|t| t.1 < COLUMNS && t.2 < ROWS));
    }
}
