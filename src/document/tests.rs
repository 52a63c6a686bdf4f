use super::*;

fn sample(lang: Lang) -> Document {
    let (title, para) = match lang {
        Lang::En => (
            "Daily situation report",
            "Three incidents <b> & \"quotes\" #set",
        ),
        Lang::Ar => ("تقرير الحالة اليومي", "ثلاثة حوادث في محافظة نينوى"),
    };
    Document {
        lang,
        title: title.to_string(),
        subtitle: vec!["2026-12-01 – 2026-12-02".to_string()],
        footer: "seq 42".to_string(),
        blocks: vec![
            Block::Heading {
                level: 1,
                text: "Key figures".to_string(),
            },
            Block::Figures(vec![KeyFigure {
                value: Text::linked("3", "n-incidents"),
                label: "incidents".to_string(),
            }]),
            Block::Para(vec![Text::plain(para), Text::strong(" [x] $y$ ")]),
            Block::Table {
                head: vec!["Type".to_string(), "Count".to_string()],
                rows: vec![vec![Text::plain("Battles"), Text::linked("2", "n-incidents")]],
                numeric: vec![false, true],
            },
            Block::Svg {
                svg: r##"<svg xmlns="http://www.w3.org/2000/svg" width="100" height="50" viewBox="0 0 100 50"><rect x="0" y="0" width="60" height="50" fill="#1f5f99"/></svg>"##.to_string(),
                caption: "A bar".to_string(),
                width: 0.5,
                files: Some("/files/bar".to_string()),
            },
            Block::Anchored {
                id: "n-incidents".to_string(),
                title: "Incidents".to_string(),
                entries: vec!["a:1".to_string(), "b:2".to_string()],
                more: "and {n} more".to_string(),
            },
        ],
    }
}

#[test]
fn html_is_escaped_self_contained_and_linked() {
    let html = to_html(&sample(Lang::En));
    assert!(html.contains("Three incidents &lt;b&gt; &amp; &quot;quotes&quot; #set"));
    assert!(html.contains("<a href=\"#n-incidents\">3</a>"));
    assert!(html.contains("id=\"n-incidents\""));
    assert!(html.contains("<svg xmlns"));
    // A figure served on its own is linked as SVG and PNG.
    assert!(html.contains("<a class=\"file\" href=\"/files/bar.svg\">SVG</a>"));
    assert!(html.contains("<a class=\"file\" href=\"/files/bar.png\">PNG</a>"));
    assert!(html.contains("@page { size: A4"));
    assert!(!html.contains("src=\"http"));
    assert!(html.contains("dir=\"ltr\""));
    assert!(to_html(&sample(Lang::Ar)).contains("<html lang=\"ar\" dir=\"rtl\">"));
}

#[test]
fn markup_holds_text_only_as_string_literals() {
    let m = pdf::markup_for_tests(&sample(Lang::En));
    assert!(m.contains(r#"#"Three incidents <b> & \"quotes\" #set""#));
    assert!(m.contains(r#"#link(label("n-incidents"))[#"3"]"#));
}

#[test]
fn pdf_is_made_deterministically_and_carries_the_text() {
    let doc = sample(Lang::En);
    let a = to_pdf(&doc, "r1").expect("a PDF");
    let b = to_pdf(&doc, "r1").expect("a PDF");
    assert!(a.starts_with(b"%PDF-"));
    assert_eq!(a, b, "the same document gives the same bytes");
    let text = pdf_extract::extract_text_from_mem(&a).expect("text");
    assert!(text.contains("Daily situation report"), "{text}");
    assert!(text.contains("Battles"), "{text}");
    assert!(text.contains("a:1, b:2"), "{text}");
}

#[test]
fn arabic_pdf_is_made() {
    let pdf = to_pdf(&sample(Lang::Ar), "r2").expect("a PDF");
    assert!(pdf.starts_with(b"%PDF-"));
}

#[test]
fn anchors_are_safe_names() {
    assert_eq!(
        anchor(&["inc", "IQ-G01", "Battles/Armed clash"]),
        "inc-iq-g01-battles-armed-clash"
    );
    assert_eq!(anchor(&["1x"]), "a1x");
}

#[test]
fn print_lists_the_first_entries_and_says_how_many_more_the_html_lists() {
    let entries: Vec<String> = (0..PRINT_LIST_MAX + 7).map(|i| format!("x:{i}")).collect();
    let doc = Document {
        lang: Lang::En,
        title: "t".into(),
        subtitle: Vec::new(),
        footer: String::new(),
        blocks: vec![Block::Anchored {
            id: "n-x".into(),
            title: "X".into(),
            entries: entries.clone(),
            more: "and {n} more".into(),
        }],
    };
    let last_printed = format!("x:{}\"", PRINT_LIST_MAX - 1);
    let first_left = format!("x:{}", PRINT_LIST_MAX);
    let m = pdf::markup_for_tests(&doc);
    assert!(m.contains(&format!("x:{}, ", PRINT_LIST_MAX - 2)));
    assert!(m.contains(&last_printed), "the list ends at the bound");
    assert!(!m.contains(&first_left));
    assert!(m.contains("\"and 7 more\""));
    let html = to_html(&doc);
    for e in &entries {
        assert!(html.contains(&format!("<code>{e}</code>")), "{e}");
    }
    assert!(!html.contains("more"));
}
