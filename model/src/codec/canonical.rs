//! The fast path of [`super::decode`]: a record laid out as the seed generator writes it — the
//! five fields in order (with `county`, as a string of five digits, between state and decision
//! when present), numbers as plain digits, strings without escapes — read in one pass
//! without building serde's intermediate values. Anything else, and any record that fails
//! validation, returns `None` and takes the general path, which alone decides reject reasons.
//! Decoding is a third of a worker's time at replay speed; this path halves it.
//! `tests::fast_path_agrees_with_the_general_path` holds the two to the same answers.

use super::{check_county, trimmed_candidate, Ballot};
use crate::units::County;
use crate::vote::{AgeGroup, Gender, State};
use std::borrow::Cow;

struct Cursor<'a> {
    /// The record, checked as UTF-8 once: slicing strings out of it needs no further check
    /// (a check per field cost more than the one over the whole record).
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn skip_whitespace(&mut self) {
        while matches!(self.bytes.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }
    fn byte(&mut self, expected: u8) -> Option<()> {
        self.skip_whitespace();
        (self.bytes.get(self.at) == Some(&expected)).then(|| self.at += 1)
    }
    /// `"name":`
    fn key(&mut self, name: &[u8]) -> Option<()> {
        self.byte(b'"')?;
        let end = self.at + name.len();
        (self.bytes.get(self.at..end) == Some(name)).then(|| self.at = end)?;
        self.byte(b'"')?;
        self.byte(b':')
    }
    /// `"name":` if it comes next; otherwise the cursor stays where it was.
    fn try_key(&mut self, name: &[u8]) -> Option<()> {
        let start = self.at;
        let found = self.key(name);
        if found.is_none() {
            self.at = start;
        }
        found
    }
    /// A JSON number that is a plain unsigned integer (no sign, fraction, exponent or leading
    /// zero) fitting in a u64.
    fn integer(&mut self) -> Option<u64> {
        self.skip_whitespace();
        let start = self.at;
        let mut value: u64 = 0;
        while let Some(digit) = self.bytes.get(self.at).filter(|b| b.is_ascii_digit()) {
            value = value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))?;
            self.at += 1;
        }
        let digits = self.at - start;
        let leading_zero = digits > 1 && self.bytes[start] == b'0';
        let continues = matches!(self.bytes.get(self.at), Some(b'.' | b'e' | b'E'));
        (digits > 0 && !leading_zero && !continues).then_some(value)
    }
    /// A JSON string without escapes or control characters, borrowed.
    fn string(&mut self) -> Option<&'a str> {
        self.byte(b'"')?;
        let start = self.at;
        let length = self.bytes[start..]
            .iter()
            .position(|b| *b == b'"' || *b == b'\\' || *b < 0x20)?;
        self.at = start + length;
        self.byte(b'"')?;
        // Both ends are at ASCII bytes, so on character boundaries.
        self.text.get(start..start + length)
    }
    /// A county code as the generator writes it: a string of exactly five ASCII digits.
    fn county(&mut self) -> Option<County> {
        self.byte(b'"')?;
        let digits = self.bytes.get(self.at..self.at + 5)?;
        let mut code = 0;
        for digit in digits {
            if !digit.is_ascii_digit() {
                return None;
            }
            code = code * 10 + u32::from(digit - b'0');
        }
        self.at += 5;
        (self.bytes.get(self.at) == Some(&b'"')).then(|| self.at += 1)?;
        Some(County(code))
    }
}

/// The ballot in `record` if it is in the generator's layout and valid; `None` otherwise.
#[inline]
pub(super) fn decode_canonical(record: &[u8]) -> Option<Ballot<'_>> {
    let text = std::str::from_utf8(record).ok()?;
    let mut cursor = Cursor {
        text,
        bytes: record,
        at: 0,
    };
    cursor.byte(b'{')?;
    cursor.key(b"id")?;
    let voter = cursor.integer()?;
    cursor.byte(b',')?;
    cursor.key(b"gender")?;
    let gender = cursor.string()?;
    cursor.byte(b',')?;
    cursor.key(b"age")?;
    let age = cursor.integer()?;
    cursor.byte(b',')?;
    cursor.key(b"state")?;
    let state = cursor.string()?;
    cursor.byte(b',')?;
    let county = if cursor.try_key(b"county").is_some() {
        let code = cursor.county()?;
        cursor.byte(b',')?;
        cursor.key(b"decision")?;
        Some(code)
    } else {
        cursor.key(b"decision")?;
        None
    };
    let decision = cursor.string()?;
    cursor.byte(b'}')?;
    cursor.skip_whitespace();
    if cursor.at != record.len() {
        return None;
    }
    let state = State::lookup(state)?;
    let county = match county {
        Some(code) => Some(check_county(Some(code), state).ok()?),
        None => None,
    };
    Some(Ballot {
        voter,
        gender: Gender::parse(gender)?,
        age: Some(age).filter(|age| AgeGroup::AGES.contains(age))?,
        state,
        county,
        decision: trimmed_candidate(Cow::Borrowed(decision))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_general;
    use proptest::prelude::*;

    /// Pieces of records, many of them near misses of the canonical layout.
    fn record() -> impl Strategy<Value = String> {
        let space = prop::sample::select(vec!["", " ", "\n", "\t "]);
        let number = prop::sample::select(vec![
            "0",
            "7",
            "34",
            "018",
            "120",
            "-4",
            "4.0",
            "1e3",
            "18446744073709551615",
            "18446744073709551616",
            "\"17\"",
            "null",
        ]);
        let text = prop::sample::select(vec![
            "\"Female\"",
            "\" male \"",
            "\"Ohio\"",
            "\"tx\"",
            "\"48201\"",
            "\"42101\"",
            "\"Kamala Harris\"",
            "\"Émile\"",
            "\"a\\\"b\"",
            "\"\\u0041da\"",
            "\"\"",
            "\"tab\there\"",
            "3",
            "null",
        ]);
        let key = prop::sample::select(vec![
            "id", "gender", "age", "state", "county", "decision", "ID", "extra",
        ]);
        let field = (key, space.clone(), prop_oneof![number, text]).prop_map(|(k, s, v)| format!("\"{k}\":{s}{v}"));
        (
            prop::collection::vec((field, space.clone()), 0..7),
            space,
            any::<bool>(),
        )
            .prop_map(|(fields, trailing, close)| {
                let body: Vec<String> = fields.into_iter().map(|(f, s)| format!("{f}{s}")).collect();
                format!("{{{}{}{trailing}", body.join(","), if close { "}" } else { "" })
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn fast_path_agrees_with_the_general_path(record in record()) {
            if let Some(fast) = decode_canonical(record.as_bytes()) {
                prop_assert_eq!(Ok(fast), decode_general(record.as_bytes()));
            }
        }
    }

    /// Every combination of near-miss values in the canonical layout: where the fast path
    /// answers, it answers as the general path does.
    #[test]
    fn fast_path_agrees_on_every_canonical_near_miss() {
        let values = [
            "7",
            "034",
            "45",
            "1e2",
            "18446744073709551616",
            "\"Female\"",
            "\"MALE\"",
            "\"ohio\"",
            "\" WY\"",
            "\"Jo\"",
            "\"a\\nb\"",
            "\"\"",
        ];
        let mut accepted = 0;
        for a in values {
            for b in values {
                for c in values {
                    for d in values {
                        for e in values {
                            let record = format!(r#"{{"id":{a},"gender":{b},"age":{c},"state":{d},"decision":{e}}}"#);
                            if let Some(fast) = decode_canonical(record.as_bytes()) {
                                assert_eq!(Ok(fast), decode_general(record.as_bytes()), "{record}");
                                accepted += 1;
                            }
                        }
                    }
                }
            }
        }
        // Valid: id 7 or 45; gender Female or MALE; age 45; state ohio or WY; decision any of
        // the five non-empty unescaped strings. The fast path takes every one of them.
        assert_eq!(accepted, 2 * 2 * 2 * 5);
    }

    #[test]
    fn the_generator_layout_takes_the_fast_path() {
        let line = r#"{"id":4839204812345678,"gender":"Female","age":34,"state":"Ohio","decision":"Kamala Harris"}"#;
        assert!(decode_canonical(line.as_bytes()).is_some());
        let python = r#"{"id": 48, "gender": "Male", "age": 70, "state": "TX", "decision": "Donald Trump"}"#;
        assert!(decode_canonical(python.as_bytes()).is_some());
        for other in [
            r#"{"id":"48","gender":"Male","age":70,"state":"TX","decision":"A"}"#,
            r#"{"gender":"Male","id":48,"age":70,"state":"TX","decision":"A"}"#,
            r#"{"id":48,"gender":"Male","age":70,"state":"TX","decision":"A"} x"#,
            r#"{"id":48,"gender":"Male","age":70,"state":"TX","decision":"\u0041"}"#,
        ] {
            assert!(decode_canonical(other.as_bytes()).is_none(), "{other}");
        }
    }
}
