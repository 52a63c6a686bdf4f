//! A `Document` as one self-contained HTML page: inline CSS (A4 print rules), inline SVG,
//! no script, no outside resource. Arabic pages are `dir="rtl"`.

use super::{Block, Document, Text};

const CSS: &str = r#"
@page { size: A4; margin: 16mm 14mm 18mm 14mm; }
:root { --ink: #1d2733; --muted: #5a6675; --rule: #c9d1db; --accent: #1f5f99; --band: #eef3f8; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans", "Noto Naskh Arabic", "DejaVu Sans", Arial, sans-serif;
  color: var(--ink); font-size: 10.5pt; line-height: 1.4; margin: 0 auto; max-width: 190mm;
  padding: 8mm 6mm; background: #fff; }
html[dir=rtl] body { font-family: "Noto Naskh Arabic", "Noto Sans Arabic", "Noto Sans",
  "DejaVu Sans", sans-serif; font-size: 11pt; }
header.doc { border-bottom: 3px solid var(--accent); padding-bottom: 3mm; margin-bottom: 4mm; }
header.doc h1 { font-size: 18pt; margin: 0 0 1mm; color: var(--accent); }
header.doc p { margin: 0; color: var(--muted); }
h2 { font-size: 13pt; color: var(--accent); border-bottom: 1px solid var(--rule);
  margin: 6mm 0 2mm; padding-bottom: 1mm; break-after: avoid; }
h3 { font-size: 11pt; margin: 4mm 0 1.5mm; break-after: avoid; }
p { margin: 0 0 2mm; }
ul { margin: 0 0 2mm; padding-inline-start: 5mm; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
.figures { display: flex; flex-wrap: wrap; gap: 2mm; margin: 2mm 0 3mm; }
.figure { flex: 1 1 28mm; background: var(--band); border-inline-start: 3px solid var(--accent);
  padding: 2mm 3mm; break-inside: avoid; }
.figure .v { font-size: 16pt; font-weight: 700; display: block; }
.figure .l { color: var(--muted); font-size: 9pt; }
table { border-collapse: collapse; width: 100%; margin: 1mm 0 3mm; font-size: 9.5pt; }
thead { display: table-header-group; }
tr { break-inside: avoid; }
th { background: var(--band); text-align: start; font-weight: 600; }
th, td { border-bottom: 1px solid var(--rule); padding: 1mm 2mm; vertical-align: top; }
td.n, th.n { text-align: end; font-variant-numeric: tabular-nums; }
figure { margin: 2mm 0 4mm; break-inside: avoid; text-align: center; }
figure svg { max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 9pt; margin-top: 1mm; }
figcaption a.file { font-size: 8pt; margin-inline-start: 2mm; }
section.refs { font-size: 8.5pt; color: var(--muted); margin: 0 0 2mm; break-inside: avoid; }
section.refs h3 { font-size: 9pt; color: var(--ink); margin: 2mm 0 0.5mm; }
section.refs code { font-family: "DejaVu Sans Mono", monospace; font-size: 8pt; }
section.refs:target { background: #fff7d6; }
footer.doc { color: var(--muted); font-size: 8.5pt; border-top: 1px solid var(--rule);
  margin-top: 6mm; padding-top: 2mm; }
.pb { break-before: page; }
@media print { body { padding: 0; max-width: none; } a { color: inherit; } a.file { display: none; } }
"#;

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

fn text(t: &Text, out: &mut String) {
    if t.strong {
        out.push_str("<strong>");
    }
    if let Some(link) = &t.link {
        out.push_str("<a href=\"#");
        escape(link, out);
        out.push_str("\">");
        escape(&t.text, out);
        out.push_str("</a>");
    } else {
        escape(&t.text, out);
    }
    if t.strong {
        out.push_str("</strong>");
    }
}

fn runs(ts: &[Text], out: &mut String) {
    for t in ts {
        text(t, out);
    }
}

/// The whole page.
pub fn to_html(doc: &Document) -> String {
    let mut out = String::with_capacity(64 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"");
    out.push_str(doc.lang.code());
    out.push_str("\" dir=\"");
    out.push_str(if doc.lang.rtl() { "rtl" } else { "ltr" });
    out.push_str("\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
    escape(&doc.title, &mut out);
    out.push_str("</title>\n<style>");
    out.push_str(CSS);
    out.push_str("</style>\n</head>\n<body>\n<header class=\"doc\"><h1>");
    escape(&doc.title, &mut out);
    out.push_str("</h1>");
    for line in &doc.subtitle {
        out.push_str("<p>");
        escape(line, &mut out);
        out.push_str("</p>");
    }
    out.push_str("</header>\n<main>\n");
    for block in &doc.blocks {
        self::block(block, &mut out);
        out.push('\n');
    }
    out.push_str("</main>\n<footer class=\"doc\">");
    escape(&doc.footer, &mut out);
    out.push_str("</footer>\n</body>\n</html>\n");
    out
}

fn block(b: &Block, out: &mut String) {
    match b {
        Block::Heading { level, text } => {
            let tag = if *level <= 1 { "h2" } else { "h3" };
            out.push('<');
            out.push_str(tag);
            out.push('>');
            escape(text, out);
            out.push_str("</");
            out.push_str(tag);
            out.push('>');
        }
        Block::Para(ts) => {
            out.push_str("<p>");
            runs(ts, out);
            out.push_str("</p>");
        }
        Block::Bullets(lines) => {
            out.push_str("<ul>");
            for l in lines {
                out.push_str("<li>");
                runs(l, out);
                out.push_str("</li>");
            }
            out.push_str("</ul>");
        }
        Block::Figures(figs) => {
            out.push_str("<div class=\"figures\">");
            for f in figs {
                out.push_str("<div class=\"figure\"><span class=\"v\">");
                text(&f.value, out);
                out.push_str("</span><span class=\"l\">");
                escape(&f.label, out);
                out.push_str("</span></div>");
            }
            out.push_str("</div>");
        }
        Block::Table {
            head,
            rows,
            numeric,
        } => {
            let class = |i: usize| {
                if numeric.get(i).copied().unwrap_or(false) {
                    " class=\"n\""
                } else {
                    ""
                }
            };
            out.push_str("<table><thead><tr>");
            for (i, h) in head.iter().enumerate() {
                out.push_str("<th");
                out.push_str(class(i));
                out.push('>');
                escape(h, out);
                out.push_str("</th>");
            }
            out.push_str("</tr></thead><tbody>");
            for row in rows {
                out.push_str("<tr>");
                for (i, c) in row.iter().enumerate() {
                    out.push_str("<td");
                    out.push_str(class(i));
                    out.push('>');
                    text(c, out);
                    out.push_str("</td>");
                }
                out.push_str("</tr>");
            }
            out.push_str("</tbody></table>");
        }
        Block::Svg {
            svg,
            caption,
            width,
            files,
        } => {
            let pct = (width.clamp(0.05, 1.0) * 100.0).round();
            out.push_str(&format!(
                "<figure style=\"width:{pct}%;margin-inline:auto\">"
            ));
            // An SVG document's prologue has no place inside HTML.
            let body = svg.find("<svg").map_or(svg.as_str(), |at| &svg[at..]);
            out.push_str(body);
            out.push_str("<figcaption>");
            escape(caption, out);
            if let Some(path) = files {
                for ext in ["svg", "png"] {
                    out.push_str(" <a class=\"file\" href=\"");
                    escape(&format!("{path}.{ext}"), out);
                    out.push_str("\">");
                    out.push_str(&ext.to_uppercase());
                    out.push_str("</a>");
                }
            }
            out.push_str("</figcaption></figure>");
        }
        Block::Anchored {
            id, title, entries, ..
        } => {
            out.push_str("<section class=\"refs\" id=\"");
            escape(id, out);
            out.push_str("\"><h3>");
            escape(title, out);
            out.push_str("</h3><p>");
            for (i, e) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str("<code>");
                escape(e, out);
                out.push_str("</code>");
            }
            out.push_str("</p></section>");
        }
        Block::PageBreak => out.push_str("<div class=\"pb\"></div>"),
    }
}
