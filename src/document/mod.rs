//! The document engine: a small document model (headings, paragraphs, lists, key figures,
//! tables, SVG figures, anchored lists of references) and its two renderings, a
//! self-contained HTML page that prints on A4 (`html`) and a PDF laid out by typst as a
//! library with embedded fonts (`pdf`, `fonts`). English and Arabic (right to left). Pure: no
//! IO, no policy — the caller builds a `Document` from what its reader may see.
//!
//! Used by situation reports (`report`); meant for any product of the same kind (minutes).

mod html;
mod pdf;
mod typst_world;

pub mod fonts;

pub use html::{escape as escape_text, to_html};
pub use pdf::{to_pdf, PdfError};

/// The language a document is written in; Arabic is laid out right to left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    En,
    Ar,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ar => "ar",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "en" => Some(Lang::En),
            "ar" => Some(Lang::Ar),
            _ => None,
        }
    }

    pub fn rtl(self) -> bool {
        self == Lang::Ar
    }
}

/// A whole document: a title block, then blocks in reading order.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub lang: Lang,
    pub title: String,
    /// Lines under the title (period, audience, …).
    pub subtitle: Vec<String>,
    /// The running footer of every page (what the document was made from).
    pub footer: String,
    pub blocks: Vec<Block>,
}

/// A piece of text, optionally a link to an anchor of the same document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    pub text: String,
    /// An anchor name (`Block::Anchored::id`) this text links to.
    pub link: Option<String>,
    pub strong: bool,
}

impl Text {
    pub fn plain(text: impl Into<String>) -> Text {
        Text {
            text: text.into(),
            link: None,
            strong: false,
        }
    }

    pub fn strong(text: impl Into<String>) -> Text {
        Text {
            strong: true,
            ..Text::plain(text)
        }
    }

    pub fn linked(text: impl Into<String>, anchor: impl Into<String>) -> Text {
        Text {
            link: Some(anchor.into()),
            ..Text::plain(text)
        }
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::plain(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text::plain(s)
    }
}

/// One figure of a key-figures row: a big number (or value) and what it counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFigure {
    pub value: Text,
    pub label: String,
}

/// A block of the document.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A section heading (level 1) or a sub-heading (level 2).
    Heading { level: u8, text: String },
    /// A paragraph of runs.
    Para(Vec<Text>),
    /// A bulleted list, each entry a line of runs.
    Bullets(Vec<Vec<Text>>),
    /// A row of key figures.
    Figures(Vec<KeyFigure>),
    /// A table: a header row and rows of cells; numeric columns are aligned to the end.
    Table {
        head: Vec<String>,
        rows: Vec<Vec<Text>>,
        numeric: Vec<bool>,
    },
    /// An SVG image (a chart, a map) with its caption. The SVG must be self-contained.
    Svg {
        svg: String,
        caption: String,
        /// The width as a share of the text width, 0 < w ≤ 1.
        width: f32,
        /// Where the figure is also served as a file of its own (a path without extension,
        /// `PATH.svg` and `PATH.png`): the HTML links to both; the PDF does not.
        files: Option<String>,
    },
    /// A titled list of references that links point to (an appendix entry). The HTML lists
    /// every entry; print lists the first `PRINT_LIST_MAX` and then `more`, its `{n}` replaced
    /// by the number left out (a month of a busy log is hundreds of thousands of ids, pages no
    /// one reads and more than a PDF can be laid out from in bounded memory).
    Anchored {
        id: String,
        title: String,
        entries: Vec<String>,
        more: String,
    },
    /// A page break before what follows (in print).
    PageBreak,
}

/// The most entries of one `Block::Anchored` list that print (the PDF) shows.
pub const PRINT_LIST_MAX: usize = 300;

/// An anchor name usable in HTML ids and typst labels: ASCII letters, digits and `-`.
pub fn anchor(parts: &[&str]) -> String {
    let mut out = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push('-');
        }
        for c in p.chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            } else {
                out.push('-');
            }
        }
    }
    if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert(0, 'a');
    }
    out
}

#[cfg(test)]
mod tests;
