//! A chart as a list of marks laid out at a width, before it is drawn: the layout decides its
//! own height (a legend that wraps takes more rows, not fewer entries), every text is measured
//! ([`crate::measure`]) so a test can hold it inside the chart, and the marks that mean
//! something to a reader (a bar, a state) carry a [`Hotspot`]: a tooltip, and for a state the
//! code the dashboard opens its panel with. plotters' SVG backend draws the marks.

use crate::measure::{text_width, wrap};
use crate::palette::{MUTED, TEXT};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

/// Text sizes, in CSS pixels as shown (a chart is asked for at the width it is shown at).
pub const TITLE_PX: f64 = 18.0;
/// The size of labels, in CSS pixels.
pub const LABEL_PX: f64 = 14.0;
/// The smallest text any chart draws.
pub const SMALL_PX: f64 = 12.0;

/// plotters' SVG backend writes a font of size `s` as `font-size = s / 1.24`.
const PLOTTERS_FONT_SCALE: f64 = 1.24;

#[derive(Clone)]
/// One thing drawn.
pub enum Mark {
    /// A filled rectangle.
    Rect {
        /// One corner.
        from: (i32, i32),
        /// The opposite corner.
        to: (i32, i32),
        /// Its fill.
        fill: RGBColor,
    },
    /// A closed outline (plotters draws rectangle outlines one pixel wide whatever the style).
    Outline {
        /// One corner.
        from: (i32, i32),
        /// The opposite corner.
        to: (i32, i32),
        /// The outline's colour.
        color: RGBColor,
        /// The outline's width in pixels.
        width: u32,
    },
    /// A polyline.
    Line {
        /// Its points, in order.
        points: Vec<(i32, i32)>,
        /// Its colour.
        color: RGBColor,
        /// Its width in pixels.
        width: u32,
    },
    /// A filled polygon with a one-pixel border.
    Polygon {
        /// Its corners, in order.
        points: Vec<(i32, i32)>,
        /// Its fill.
        fill: RGBColor,
        /// Its border.
        stroke: RGBColor,
    },
    /// A text.
    Text(Label),
}

#[derive(Clone)]
/// A text placed in the scene.
pub struct Label {
    /// What it says.
    pub text: String,
    /// Where its anchor is.
    pub at: (i32, i32),
    /// Its size in CSS pixels.
    pub px: f64,
    /// Bold or not.
    pub bold: bool,
    /// Which point of the text `at` is.
    pub anchor: (HPos, VPos),
    /// Its colour.
    pub color: RGBColor,
}

impl Label {
    /// Left and right edges, measured.
    pub fn span(&self) -> (f64, f64) {
        let width = text_width(&self.text, self.px, self.bold);
        let x = f64::from(self.at.0);
        match self.anchor.0 {
            HPos::Left => (x, x + width),
            HPos::Center => (x - width / 2.0, x + width / 2.0),
            HPos::Right => (x - width, x),
        }
    }
}

/// A region a reader can point at or focus: its tooltip, and the state it stands for.
#[derive(Clone, Debug)]
pub struct Hotspot {
    /// One corner.
    pub from: (i32, i32),
    /// The opposite corner.
    pub to: (i32, i32),
    /// Unique within the chart, so the dashboard can keep focus on it across updates.
    pub key: String,
    /// What the tooltip and screen readers say.
    pub tip: String,
    /// The USPS code, for a state (`data-state`).
    pub state: Option<&'static str>,
    /// A polygon's corners, when the region is one (a county); a rectangle otherwise.
    pub shape: Option<Vec<(i32, i32)>>,
}

#[derive(Clone)]
/// A chart laid out as marks at a given width; it grows downward as it is laid out.
pub struct Scene {
    /// The width in pixels.
    pub width: i32,
    /// Where the next row goes; the chart's height once laid out.
    pub y: i32,
    /// What is drawn, in order.
    pub marks: Vec<Mark>,
    /// Where a pointer or the keyboard can ask what something is.
    pub hotspots: Vec<Hotspot>,
}

/// Inner margin at the left and right.
pub const PAD: i32 = 12;

impl Scene {
    /// An empty scene `width` pixels wide.
    pub fn new(width: u32) -> Scene {
        Scene {
            width: width as i32,
            y: 10,
            marks: Vec::new(),
            hotspots: Vec::new(),
        }
    }

    /// Width between the margins.
    pub fn inner(&self) -> i32 {
        self.width - 2 * PAD
    }

    /// A filled rectangle.
    pub fn rect(&mut self, from: (i32, i32), to: (i32, i32), fill: RGBColor) {
        self.marks.push(Mark::Rect { from, to, fill });
    }

    /// A closed outline `width` pixels wide.
    pub fn outline(&mut self, from: (i32, i32), to: (i32, i32), color: RGBColor, width: u32) {
        self.marks.push(Mark::Outline { from, to, color, width });
    }

    /// A text.
    pub fn text(&mut self, text: impl Into<String>, at: (i32, i32), px: f64, anchor: (HPos, VPos), color: RGBColor) {
        self.marks.push(Mark::Text(Label {
            text: text.into(),
            at,
            px,
            bold: false,
            anchor,
            color,
        }));
    }

    /// A bold text.
    pub fn bold(&mut self, text: impl Into<String>, at: (i32, i32), px: f64, anchor: (HPos, VPos), color: RGBColor) {
        self.marks.push(Mark::Text(Label {
            text: text.into(),
            at,
            px,
            bold: true,
            anchor,
            color,
        }));
    }

    /// A hotspot: `tip` on hover and focus, `key` for the page.
    pub fn hotspot(&mut self, from: (i32, i32), to: (i32, i32), key: String, tip: String, state: Option<&'static str>) {
        self.hotspots.push(Hotspot {
            from,
            to,
            key,
            tip,
            state,
            shape: None,
        });
    }

    /// A hotspot shaped as the polygon `points`.
    pub fn polygon_hotspot(&mut self, points: Vec<(i32, i32)>, key: String, tip: String) {
        let from = points
            .iter()
            .fold((i32::MAX, i32::MAX), |m, p| (m.0.min(p.0), m.1.min(p.1)));
        let to = points
            .iter()
            .fold((i32::MIN, i32::MIN), |m, p| (m.0.max(p.0), m.1.max(p.1)));
        self.hotspots.push(Hotspot {
            from,
            to,
            key,
            tip,
            state: None,
            shape: Some(points),
        });
    }

    /// `text` as lines of at most the inner width, from the current row down.
    pub fn paragraph(&mut self, text: &str, px: f64, bold: bool, color: RGBColor) {
        let line_h = (px * 1.3).ceil() as i32;
        for line in wrap(text, px, bold, f64::from(self.inner())) {
            let at = (PAD, self.y + line_h / 2);
            match bold {
                true => self.bold(line, at, px, (HPos::Left, VPos::Center), color),
                false => self.text(line, at, px, (HPos::Left, VPos::Center), color),
            }
            self.y += line_h;
        }
    }

    /// The chart's title, wrapped to the width.
    pub fn title(&mut self, text: &str) {
        self.paragraph(text, TITLE_PX, true, TEXT);
        self.y += 6;
    }

    /// A legend: a swatch and a name per entry, in rows that wrap at the width, so every entry
    /// is drawn whatever the names' lengths.
    pub fn legend(&mut self, entries: &[(String, RGBColor)]) {
        let row_h = 20;
        let mut x = PAD;
        let mut rows = 1;
        for (name, color) in entries {
            let name = crate::measure::fit(name, SMALL_PX + 1.0, false, f64::from(self.inner() - 18));
            let width = 18 + text_width(&name, SMALL_PX + 1.0, false).ceil() as i32;
            if x > PAD && x + width > self.width - PAD {
                x = PAD;
                rows += 1;
            }
            let y = self.y + (rows - 1) * row_h + row_h / 2;
            self.rect((x, y - 6), (x + 12, y + 6), *color);
            self.text(name, (x + 18, y), SMALL_PX + 1.0, (HPos::Left, VPos::Center), TEXT);
            x += width + 16;
        }
        self.y += rows * row_h + 4;
    }

    /// A line of small grey text at the current row.
    pub fn note(&mut self, text: &str) {
        self.paragraph(text, SMALL_PX, false, MUTED);
    }

    /// The marks drawn as an SVG document `size` pixels large, with a `<title>` and a `<desc>`
    /// and the hotspots over everything. The drawing is the scene's own width and height,
    /// scaled into `size` if it differs.
    pub fn to_svg(&self, size: Option<u32>, title: &str, desc: &str) -> Result<String, DrawError> {
        let (w, h) = (self.width.max(1) as u32, self.y.max(1) as u32);
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
            root.fill(&WHITE).map_err(DrawError::plotters)?;
            for mark in &self.marks {
                let drawn = match mark {
                    Mark::Rect { from, to, fill } => root.draw(&Rectangle::new([*from, *to], fill.filled())),
                    Mark::Outline { from, to, color, width } => {
                        let corners = vec![*from, (to.0, from.1), *to, (from.0, to.1), *from];
                        root.draw(&PathElement::new(corners, color.stroke_width(*width)))
                    }
                    Mark::Line { points, color, width } => {
                        root.draw(&PathElement::new(points.clone(), color.stroke_width(*width)))
                    }
                    Mark::Polygon { points, fill, stroke } => {
                        root.draw(&Polygon::new(points.clone(), fill.filled())).and_then(|()| {
                            let mut ring = points.clone();
                            ring.extend(points.first().copied());
                            root.draw(&PathElement::new(ring, stroke.stroke_width(1)))
                        })
                    }
                    Mark::Text(label) => {
                        let style = if label.bold { FontStyle::Bold } else { FontStyle::Normal };
                        let font = ("sans-serif", label.px * PLOTTERS_FONT_SCALE, style)
                            .into_font()
                            .color(&label.color)
                            .pos(Pos::new(label.anchor.0, label.anchor.1));
                        root.draw(&Text::new(label.text.clone(), label.at, font))
                    }
                };
                drawn.map_err(DrawError::plotters)?;
            }
            root.present().map_err(DrawError::plotters)?;
        }
        let height = size.unwrap_or(h);
        let open = svg
            .find("<svg")
            .and_then(|at| svg[at..].find('>').map(|end| at + end + 1))
            .ok_or(DrawError::NoSvgElement)?;
        let mut out = String::with_capacity(svg.len() + 200 * self.hotspots.len());
        out.push_str(&format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" viewBox=\"0 0 {w} {h}\">"
        ));
        out.push_str(&format!(
            "<title>{}</title><desc>{}</desc>",
            escape(title),
            escape(desc)
        ));
        let body = svg[open..].trim_end();
        out.push_str(body.strip_suffix("</svg>").unwrap_or(body));
        out.push_str("<g class=\"hotspots\">");
        for spot in &self.hotspots {
            let state = spot.state.map(|s| format!(" data-state=\"{s}\"")).unwrap_or_default();
            if let Some(shape) = &spot.shape {
                let points: Vec<String> = shape.iter().map(|(x, y)| format!("{x},{y}")).collect();
                out.push_str(&format!(
                    "<polygon points=\"{}\" fill=\"#000\" fill-opacity=\"0\" tabindex=\"0\" data-key=\"{}\" aria-label=\"{tip}\"><title>{tip}</title></polygon>",
                    points.join(" "),
                    escape(&spot.key),
                    tip = escape(&spot.tip),
                ));
                continue;
            }
            out.push_str(&format!(
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#000\" fill-opacity=\"0\" tabindex=\"0\" data-key=\"{}\"{state} aria-label=\"{tip}\"><title>{tip}</title></rect>",
                spot.from.0,
                spot.from.1,
                (spot.to.0 - spot.from.0).max(1),
                (spot.to.1 - spot.from.1).max(1),
                escape(&spot.key),
                tip = escape(&spot.tip),
            ));
        }
        out.push_str("</g></svg>\n");
        Ok(out)
    }
}

/// Why a scene could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum DrawError {
    /// plotters' SVG backend failed (its error is generic over the backend, so it is kept as text).
    #[error("plotters: {0}")]
    Plotters(String),
    /// plotters' output had no `<svg>` element to put the title and hotspots in.
    #[error("plotters wrote no <svg> element")]
    NoSvgElement,
}

impl DrawError {
    fn plotters(error: impl std::fmt::Display) -> DrawError {
        DrawError::Plotters(error.to_string())
    }
}

/// `text` with the characters that XML gives a meaning to escaped, for an attribute or an element.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
