//! A `Document` as a PDF: written as typst markup (every text a typst string literal, so no
//! text is ever read as markup), laid out by typst with the embedded fonts (Arabic shaped and
//! set right to left by typst's text engine) and written by typst-pdf. Deterministic: the
//! same document gives the same bytes (no creation date, a fixed identifier).

use std::fmt::Write as _;

use typst::foundations::Smart;
use typst_layout::PagedDocument;

use super::typst_world::DocWorld;
use super::{fonts, Block, Document, Text};

/// typst refused the document (a bug in this module or an SVG it could not read).
#[derive(Debug, thiserror::Error)]
#[error("the PDF could not be laid out: {0}")]
pub struct PdfError(String);

/// A typst string literal holding `s`.
fn lit(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A text run in markup mode.
fn text(t: &Text, out: &mut String) {
    let mut inner = String::new();
    inner.push('#');
    lit(&t.text, &mut inner);
    if let Some(link) = &t.link {
        inner = format!("#link(label(\"{link}\"))[{inner}]");
    }
    if t.strong {
        out.push_str("#strong[");
        out.push_str(&inner);
        out.push(']');
    } else {
        out.push_str(&inner);
    }
}

/// A content block `[...]` holding the runs.
fn content(ts: &[Text], out: &mut String) {
    out.push('[');
    for t in ts {
        text(t, out);
    }
    out.push(']');
}

const ACCENT: &str = "rgb(\"#1f5f99\")";
const MUTED: &str = "rgb(\"#5a6675\")";
const BAND: &str = "rgb(\"#eef3f8\")";
const RULE: &str = "rgb(\"#c9d1db\")";

/// The typst markup of the document and the files it refers to.
fn markup(doc: &Document) -> (String, Vec<(String, Vec<u8>)>) {
    let mut out = String::with_capacity(32 * 1024);
    let mut files = Vec::new();
    let fonts = if doc.lang.rtl() {
        format!("(\"{}\", \"{}\")", fonts::ARABIC, fonts::LATIN)
    } else {
        format!("(\"{}\", \"{}\")", fonts::LATIN, fonts::ARABIC)
    };
    out.push_str("#set document(title: ");
    lit(&doc.title, &mut out);
    out.push_str(", date: none)\n");
    let _ = writeln!(
        out,
        "#set text(font: {fonts}, size: {}pt, lang: \"{}\", fallback: false)",
        if doc.lang.rtl() { 10.5 } else { 9.5 },
        doc.lang.code()
    );
    out.push_str("#set par(justify: false, leading: 0.55em)\n");
    out.push_str("#set page(paper: \"a4\", margin: (x: 14mm, top: 16mm, bottom: 18mm), footer: context [#set text(size: 7.5pt, fill: ");
    out.push_str(MUTED);
    out.push_str(")\n#");
    lit(&doc.footer, &mut out);
    out.push_str(" #h(1fr) #counter(page).display(\"1 / 1\", both: true)])\n");
    let _ = writeln!(
        out,
        "#show heading.where(level: 1): it => block(width: 100%, below: 0.6em, above: 1.3em, stroke: (bottom: 0.6pt + {RULE}), inset: (bottom: 3pt))[#set text(size: 12.5pt, fill: {ACCENT}, weight: \"bold\"); #it.body]"
    );
    out.push_str("#show heading.where(level: 2): it => block(below: 0.5em, above: 0.9em)[#set text(size: 10.5pt, weight: \"bold\"); #it.body]\n");
    out.push_str("#show heading.where(level: 3): it => block(below: 0.2em, above: 0.6em)[#set text(size: 8pt, weight: \"bold\"); #it.body]\n");
    let _ = writeln!(out, "#show link: set text(fill: {ACCENT})");
    // Title block.
    let _ = write!(
        out,
        "#block(width: 100%, stroke: (bottom: 2pt + {ACCENT}), inset: (bottom: 6pt), below: 10pt)[#text(size: 17pt, weight: \"bold\", fill: {ACCENT})[#"
    );
    lit(&doc.title, &mut out);
    out.push(']');
    for line in &doc.subtitle {
        let _ = write!(out, " \\ #text(fill: {MUTED})[#");
        lit(line, &mut out);
        out.push(']');
    }
    out.push_str("]\n");
    for b in &doc.blocks {
        block(b, doc.lang.rtl(), &mut out, &mut files);
        out.push('\n');
    }
    (out, files)
}

fn block(b: &Block, rtl: bool, out: &mut String, files: &mut Vec<(String, Vec<u8>)>) {
    // The side a line starts on.
    let side = if rtl { "right" } else { "left" };
    match b {
        Block::Heading { level, text } => {
            let _ = write!(
                out,
                "#heading(level: {}, outlined: false)[#",
                (*level).clamp(1, 2)
            );
            lit(text, out);
            out.push_str("]\n");
        }
        Block::Para(ts) => {
            out.push_str("#par");
            content(ts, out);
            out.push('\n');
        }
        Block::Bullets(lines) => {
            out.push_str("#list(");
            for l in lines {
                content(l, out);
                out.push_str(", ");
            }
            out.push_str(")\n");
        }
        Block::Figures(figs) => {
            let n = figs.len().clamp(1, 6);
            let _ = write!(
                out,
                "#grid(columns: ({}), gutter: 5pt, ",
                vec!["1fr"; n].join(", ")
            );
            for f in figs {
                let _ = write!(
                    out,
                    "block(width: 100%, fill: {BAND}, inset: 6pt, stroke: ({side}: 2pt + {ACCENT}))[#text(size: 14pt, weight: \"bold\")"
                );
                content(std::slice::from_ref(&f.value), out);
                let _ = write!(out, " \\ #text(size: 8pt, fill: {MUTED})[#");
                lit(&f.label, out);
                out.push_str("]], ");
            }
            out.push_str(")\n#v(4pt)\n");
        }
        Block::Table {
            head,
            rows,
            numeric,
        } => {
            let cols = head.len().max(1);
            let widths: Vec<&str> = (0..cols)
                .map(|i| {
                    if numeric.get(i).copied().unwrap_or(false) {
                        "auto"
                    } else {
                        "1fr"
                    }
                })
                .collect();
            let aligns: Vec<&str> = (0..cols)
                .map(|i| {
                    if numeric.get(i).copied().unwrap_or(false) {
                        "end"
                    } else {
                        "start"
                    }
                })
                .collect();
            let _ = write!(
                out,
                "#table(columns: ({},), align: ({},), stroke: (x, y) => (bottom: 0.4pt + {RULE}), inset: (x: 4pt, y: 3pt), fill: (x, y) => if y == 0 {{ {BAND} }}, table.header(",
                widths.join(", "),
                aligns.join(", ")
            );
            for h in head {
                out.push_str("[#strong[#");
                lit(h, out);
                out.push_str("]], ");
            }
            out.push_str("), ");
            for row in rows {
                for i in 0..cols {
                    match row.get(i) {
                        Some(c) => content(std::slice::from_ref(c), out),
                        None => out.push_str("[]"),
                    }
                    out.push_str(", ");
                }
            }
            out.push_str(")\n");
        }
        Block::Svg {
            svg,
            caption,
            width,
            files: _,
        } => {
            let path = format!("/figure-{}.svg", files.len() + 1);
            let pct = (width.clamp(0.05, 1.0) * 100.0).round();
            let _ = write!(
                out,
                "#block(width: 100%, breakable: false, below: 8pt)[#align(center)[#image(\"{path}\", width: {pct}%) \\ #text(size: 8pt, fill: {MUTED})[#"
            );
            lit(caption, out);
            out.push_str("]]]\n");
            files.push((path, svg.clone().into_bytes()));
        }
        Block::Anchored {
            id,
            title,
            entries,
            more,
        } => {
            out.push_str("#heading(level: 3, outlined: false)[#");
            lit(title, out);
            let _ = write!(out, "] <{id}>\n#text(size: 7pt, fill: {MUTED})[#");
            let shown = entries.len().min(super::PRINT_LIST_MAX);
            lit(&entries[..shown].join(", "), out);
            out.push(']');
            if entries.len() > shown {
                out.push_str(" #text(size: 7pt, style: \"italic\")[#");
                lit(
                    &more.replace("{n}", &(entries.len() - shown).to_string()),
                    out,
                );
                out.push(']');
            }
            out.push('\n');
        }
        Block::PageBreak => out.push_str("#pagebreak(weak: true)\n"),
    }
}

/// The PDF of the document; `ident` identifies the document stably (the report's id).
pub fn to_pdf(doc: &Document, ident: &str) -> Result<Vec<u8>, PdfError> {
    let (markup, files) = markup(doc);
    let world = DocWorld::new(markup, files);
    let paged: PagedDocument = typst::compile(&world)
        .output
        .map_err(|errors| PdfError(diagnostics(&errors)))?;
    let options = typst_pdf::PdfOptions {
        ident: Smart::Custom(ident.to_string()),
        creator: Smart::Custom(Some("cmcop".to_string())),
        ..Default::default()
    };
    typst_pdf::pdf(&paged, &options).map_err(|errors| PdfError(diagnostics(&errors)))
}

fn diagnostics(errors: &[typst::diag::SourceDiagnostic]) -> String {
    errors
        .iter()
        .map(|e| e.message.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
pub(super) fn markup_for_tests(doc: &Document) -> String {
    markup(doc).0
}
