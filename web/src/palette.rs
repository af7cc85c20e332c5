//! Colours. Candidates are coloured by party, as newsrooms do (Democrat blue, Republican red),
//! or by the colour a candidates file gives; everyone else gets a hue of [`OTHERS`], chosen to
//! stay apart for colour-blind readers. No colour repeats among the candidates a chart shows:
//! past what the palette can tell apart, candidates are folded into one "others" entry.
//!
//! Also here: the fills of states with nothing to show (no votes, not reporting yet, tied) and
//! the text colour that keeps WCAG AA contrast (4.5:1) on any fill.

use plotters::style::RGBColor;
use tally_model::Results;

/// The Democrats' blue.
pub const DEMOCRAT: RGBColor = RGBColor(0x1f, 0x5f, 0xbf);
/// The Republicans' red.
pub const REPUBLICAN: RGBColor = RGBColor(0xd6, 0x27, 0x28);

/// The colours of other candidates, in the order they are handed out. Every pair of them, with
/// the two party colours, stays at least 12 apart (CIE76 ΔE) as people with normal vision,
/// protanopia, deuteranopia and tritanopia see them, and each stands out 3:1 against white
/// (WCAG's contrast for graphics): see the tests. Orange is missing on purpose: to a
/// deuteranope it is the Republicans' red.
pub const OTHERS: [RGBColor; 6] = [
    RGBColor(0x22, 0x88, 0x33),
    RGBColor(0x88, 0x00, 0xff),
    RGBColor(0xcc, 0x77, 0x99),
    RGBColor(0x44, 0x44, 0x44),
    RGBColor(0xaa, 0x33, 0x77),
    RGBColor(0x94, 0x67, 0xbd),
];

/// The candidates a chart can tell apart by colour; the rest are "others".
pub const MAX_SHOWN: usize = 2 + OTHERS.len();

/// Candidates folded into "others".
pub const FOLDED: RGBColor = RGBColor(0x8a, 0x8a, 0x8a);
/// A state with no votes and none expected yet.
pub const NO_VOTES: RGBColor = RGBColor(0xe4, 0xe4, 0xe4);
/// A state expected to report that has not (its polls are open).
pub const NOT_REPORTING: RGBColor = RGBColor(0xff, 0xff, 0xff);
/// A state whose leaders are tied.
pub const TIED: RGBColor = RGBColor(0x6e, 0x6e, 0x6e);
/// Body text.
pub const TEXT: RGBColor = RGBColor(0x1a, 0x1a, 0x1a);
/// Secondary text: 7:1 on white.
pub const MUTED: RGBColor = RGBColor(0x55, 0x55, 0x55);
/// White.
pub const WHITE: RGBColor = RGBColor(0xff, 0xff, 0xff);

/// The colour of each candidate a chart shows.
#[derive(Clone, Debug, Default)]
pub struct Palette {
    /// In national order (most votes first), each with its colour.
    shown: Vec<(String, RGBColor)>,
    /// How many candidates are folded into "others".
    folded: usize,
}

impl Palette {
    /// The colours of `results`' candidates: the [`MAX_SHOWN`] with the most votes each get
    /// their own (their file's colour, else their party's, else the next of [`OTHERS`], handed
    /// out by name so a candidate keeps its colour as ranks change); the rest are folded.
    pub fn of(results: &Results) -> Palette {
        let shown = &results.candidates[..results.candidates.len().min(MAX_SHOWN)];
        let preferred = |c: &tally_model::results::CandidateResult| {
            c.color
                .as_deref()
                .and_then(parse_hex)
                .or_else(|| party_color(c.party.as_deref()?))
        };
        let mut by_name: Vec<usize> = (0..shown.len()).collect();
        // Candidates with a colour of their own choose first, then the others, each by name.
        by_name.sort_by_key(|&i| (preferred(&shown[i]).is_none(), shown[i].name.as_str()));
        let mut colors: Vec<Option<RGBColor>> = vec![None; shown.len()];
        let mut used: Vec<RGBColor> = Vec::new();
        let mut spare = OTHERS.iter().copied();
        for i in by_name {
            let color = match preferred(&shown[i]).filter(|c| !used.contains(c)) {
                Some(color) => color,
                None => spare.find(|c| !used.contains(c)).unwrap_or(FOLDED),
            };
            used.push(color);
            colors[i] = Some(color);
        }
        Palette {
            shown: shown
                .iter()
                .zip(colors)
                .map(|(c, color)| (c.name.clone(), color.unwrap_or(FOLDED)))
                .collect(),
            folded: results.candidates.len() - shown.len(),
        }
    }

    /// A candidate's colour ([`FOLDED`] for one not shown on its own).
    pub fn color(&self, name: &str) -> RGBColor {
        self.shown
            .iter()
            .find(|(shown, _)| shown == name)
            .map_or(FOLDED, |(_, color)| *color)
    }

    /// The candidates with a colour of their own, most votes first.
    pub fn shown(&self) -> impl Iterator<Item = (&str, RGBColor)> {
        self.shown.iter().map(|(name, color)| (name.as_str(), *color))
    }

    /// True when `name` is among the candidates charts show (the rest fold into "others").
    pub fn is_shown(&self, name: &str) -> bool {
        self.shown.iter().any(|(shown, _)| shown == name)
    }

    /// How many candidates are folded into "others".
    pub fn folded(&self) -> usize {
        self.folded
    }
}

/// Blue for Democrats and red for Republicans (as the tables spell the parties).
pub fn party_color(party: &str) -> Option<RGBColor> {
    let party = party.to_ascii_uppercase();
    if party.starts_with("DEMOCRAT") {
        Some(DEMOCRAT)
    } else if party.starts_with("REPUBLICAN") {
        Some(REPUBLICAN)
    } else {
        None
    }
}

/// `#rrggbb` as a colour.
pub fn parse_hex(text: &str) -> Option<RGBColor> {
    let hex = text.strip_prefix('#').filter(|h| h.len() == 6)?;
    let byte = |at: usize| u8::from_str_radix(hex.get(at..at + 2)?, 16).ok();
    Some(RGBColor(byte(0)?, byte(2)?, byte(4)?))
}

/// `color` mixed with white: 1 is the colour itself, 0 is white.
pub fn mix_with_white(color: RGBColor, strength: f64) -> RGBColor {
    let mix = |c: u8| (255.0 - (255.0 - f64::from(c)) * strength.clamp(0.0, 1.0)).round() as u8;
    RGBColor(mix(color.0), mix(color.1), mix(color.2))
}

/// An sRGB channel as linear light, 0 to 1.
pub fn linear(channel: u8) -> f64 {
    let c = f64::from(channel) / 255.0;
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// WCAG relative luminance.
pub fn luminance(color: RGBColor) -> f64 {
    0.2126 * linear(color.0) + 0.7152 * linear(color.1) + 0.0722 * linear(color.2)
}

/// WCAG contrast ratio, 1 to 21.
pub fn contrast(a: RGBColor, b: RGBColor) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// Black or white text, whichever reads better on `fill`: at least 4.58:1 on any colour.
pub fn text_on(fill: RGBColor) -> RGBColor {
    const BLACK: RGBColor = RGBColor(0, 0, 0);
    if contrast(BLACK, fill) >= contrast(WHITE, fill) {
        BLACK
    } else {
        WHITE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_model::results::CandidateResult;

    /// Linear RGB as seen with a colour vision deficiency (Machado, Oliveira and Fernandes 2009,
    /// severity 1).
    fn seen(color: RGBColor, matrix: Option<[[f64; 3]; 3]>) -> [f64; 3] {
        let rgb = [linear(color.0), linear(color.1), linear(color.2)];
        match matrix {
            None => rgb,
            Some(m) => [0, 1, 2].map(|i| (0..3).map(|j| m[i][j] * rgb[j]).sum::<f64>().clamp(0.0, 1.0)),
        }
    }

    fn lab([r, g, b]: [f64; 3]) -> [f64; 3] {
        let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
        let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
        let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
        let f = |t: f64| {
            if t > 0.008856 {
                t.cbrt()
            } else {
                7.787 * t + 16.0 / 116.0
            }
        };
        [116.0 * f(y) - 16.0, 500.0 * (f(x) - f(y)), 200.0 * (f(y) - f(z))]
    }

    #[test]
    fn the_palette_stays_apart_for_colour_blind_readers_and_stands_out_on_white() {
        const PROTAN: [[f64; 3]; 3] = [
            [0.152286, 1.052583, -0.204868],
            [0.114503, 0.786281, 0.099216],
            [-0.003882, -0.048116, 1.051998],
        ];
        const DEUTAN: [[f64; 3]; 3] = [
            [0.367322, 0.860646, -0.227968],
            [0.280085, 0.672501, 0.047413],
            [-0.011820, 0.042940, 0.968881],
        ];
        const TRITAN: [[f64; 3]; 3] = [
            [1.255528, -0.076749, -0.178779],
            [-0.078411, 0.930809, 0.147602],
            [0.004733, 0.691367, 0.303900],
        ];
        let all: Vec<RGBColor> = [DEMOCRAT, REPUBLICAN].into_iter().chain(OTHERS).collect();
        for color in &all {
            assert!(contrast(*color, WHITE) >= 3.0, "{color:?} on white");
        }
        for (vision, matrix) in [
            ("normal", None),
            ("protan", Some(PROTAN)),
            ("deutan", Some(DEUTAN)),
            ("tritan", Some(TRITAN)),
        ] {
            for (i, a) in all.iter().enumerate() {
                for b in &all[i + 1..] {
                    let (la, lb) = (lab(seen(*a, matrix)), lab(seen(*b, matrix)));
                    let distance = (0..3).map(|k| (la[k] - lb[k]).powi(2)).sum::<f64>().sqrt();
                    assert!(distance >= 12.0, "{vision}: {a:?} and {b:?} are {distance:.1} apart");
                }
            }
        }
        // What the maps draw behind text: any fill gets text of AA contrast.
        for color in all.iter().chain([NO_VOTES, NOT_REPORTING, TIED, FOLDED].iter()) {
            for strength in [0.0, 0.2, 0.35, 0.5, 0.55, 0.7, 1.0] {
                let fill = mix_with_white(*color, strength);
                assert!(contrast(text_on(fill), fill) >= 4.5, "text on {fill:?}");
            }
        }
        assert!(contrast(MUTED, WHITE) >= 4.5);
    }

    fn candidate(name: &str, votes: u64, party: Option<&str>, color: Option<&str>) -> CandidateResult {
        CandidateResult {
            name: name.to_string(),
            votes,
            share: 0.0,
            electoral_votes: 0,
            party: party.map(str::to_string),
            color: color.map(str::to_string),
        }
    }

    #[test]
    fn parties_take_their_colours_and_no_colour_repeats_among_those_shown() {
        let mut results = Results::empty(Default::default());
        results.candidates = vec![
            candidate("Trump", 100, Some("REPUBLICAN"), None),
            candidate("Harris", 90, Some("DEMOCRAT"), None),
            candidate("Kennedy", 9, None, None),
            candidate("Stein", 8, Some("GREEN"), None),
            candidate("Write-in", 7, None, None),
            candidate("Oliver", 6, Some("LIBERTARIAN"), Some("#fed105")),
            candidate("Second Democrat", 5, Some("DEMOCRAT"), None),
            candidate("De la Cruz", 4, None, None),
            candidate("West", 3, None, None),
            candidate("Tiny", 1, None, None),
        ];
        let palette = Palette::of(&results);
        assert_eq!(palette.color("Harris"), DEMOCRAT);
        assert_eq!(palette.color("Trump"), REPUBLICAN);
        assert_eq!(palette.color("Oliver"), RGBColor(0xfe, 0xd1, 0x05), "the file's colour");
        let shown: Vec<RGBColor> = palette.shown().map(|(_, c)| c).collect();
        assert_eq!(shown.len(), MAX_SHOWN);
        for (i, color) in shown.iter().enumerate() {
            assert!(!shown[i + 1..].contains(color), "{color:?} repeats: {palette:?}");
        }
        assert_eq!(palette.folded(), 2);
        assert_eq!(palette.color("Tiny"), FOLDED);
        // Ranks change, colours stay.
        results.candidates.swap(2, 4);
        let again = Palette::of(&results);
        for (name, color) in palette.shown() {
            assert_eq!(again.color(name), color, "{name}");
        }
    }
}
