//! How wide a line of text is drawn, without font files: the advance widths of DejaVu Sans
//! (regular and bold), the `sans-serif` of Debian and most Linux desktops and among the widest
//! common sans-serif faces, so text laid out by these widths also fits where the browser picks
//! Helvetica, Arial or Segoe UI. Legends, labels and titles are placed by them, so nothing is
//! drawn past a chart's edge.
//!
//! The tables are the fonts' `hmtx` advances for ASCII 32–126 in thousandths of an em (DejaVu
//! Sans 2.37, read with fontTools). Any other character counts as a full em: wider than any
//! Latin letter, so accented names are never cut.

/// Advance widths of `' '..='~'`, in thousandths of an em.
const REGULAR: [u16; 95] = [
    318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636, 636, 636, 636, 636, 636,
    636, 636, 636, 337, 337, 838, 838, 838, 531, 1000, 684, 686, 698, 770, 632, 575, 775, 752, 295, 295, 656, 557, 863,
    748, 787, 603, 787, 695, 635, 611, 732, 684, 989, 685, 611, 685, 390, 337, 390, 838, 500, 500, 613, 635, 550, 635,
    615, 352, 635, 634, 278, 278, 579, 278, 974, 634, 612, 635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636,
    337, 636, 838,
];
const BOLD: [u16; 95] = [
    348, 456, 521, 838, 696, 1002, 872, 306, 457, 457, 523, 838, 380, 415, 380, 365, 696, 696, 696, 696, 696, 696, 696,
    696, 696, 696, 400, 400, 838, 838, 838, 580, 1000, 774, 762, 734, 830, 683, 683, 821, 837, 372, 372, 775, 637, 995,
    837, 850, 733, 850, 770, 720, 682, 812, 774, 1103, 771, 724, 725, 457, 365, 457, 838, 500, 500, 675, 716, 593, 716,
    678, 435, 716, 712, 343, 343, 665, 343, 1042, 712, 687, 716, 716, 493, 595, 478, 712, 652, 924, 645, 652, 582, 712,
    365, 712, 838,
];

/// The width in pixels of `text` set at `px` pixels.
pub fn text_width(text: &str, px: f64, bold: bool) -> f64 {
    let table = if bold { &BOLD } else { &REGULAR };
    let thousandths: u32 = text
        .chars()
        .map(|c| match c {
            ' '..='~' => u32::from(table[c as usize - 32]),
            _ => 1000,
        })
        .sum();
    f64::from(thousandths) * px / 1000.0
}

/// `text` broken at spaces into lines of at most `width` pixels (a word wider than the line is
/// cut with an ellipsis: nothing is drawn past the edge).
pub fn wrap(text: &str, px: f64, bold: bool, width: f64) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if text_width(&candidate, px, bold) <= width || line.is_empty() {
            line = candidate;
        } else {
            lines.push(std::mem::take(&mut line));
            line = word.to_string();
        }
    }
    lines.push(line);
    lines.into_iter().map(|line| fit(&line, px, bold, width)).collect()
}

/// `text`, cut with an ellipsis where it would be wider than `width` pixels.
pub fn fit(text: &str, px: f64, bold: bool, width: f64) -> String {
    if text_width(text, px, bold) <= width {
        return text.to_string();
    }
    let mut cut: String = text.to_string();
    while !cut.is_empty() && text_width(&format!("{cut}…"), px, bold) > width {
        cut.pop();
    }
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_add_up_and_lines_wrap_within_their_width() {
        // "M" is 863 thousandths of an em in DejaVu Sans.
        assert!((text_width("MM", 10.0, false) - 17.26).abs() < 1e-9);
        assert!(text_width("Harris", 14.0, true) > text_width("Harris", 14.0, false));
        assert_eq!(text_width("é", 10.0, false), 10.0);
        let lines = wrap("Votes by candidate (1,234,567 counted)", 18.0, true, 200.0);
        assert!(lines.len() >= 2, "{lines:?}");
        assert!(lines.iter().all(|l| text_width(l, 18.0, true) <= 200.0), "{lines:?}");
        assert_eq!(lines.join(" "), "Votes by candidate (1,234,567 counted)");
        let cut = fit("Supercalifragilisticexpialidocious", 14.0, false, 80.0);
        assert!(cut.ends_with('…') && text_width(&cut, 14.0, false) <= 80.0, "{cut}");
    }
}
