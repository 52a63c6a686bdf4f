//! The wall's colours, read from `web/app/symbols.js` (`PALETTE`), the one place they are
//! decided: per layer, a colour for each value of the property the layer is coloured by
//! (`ExportSpec::colour_by`). Exports style their items with them, so a file opened in Google
//! Earth looks like the wall. Read once from the copy embedded in the binary. Pure.

use std::collections::BTreeMap;
use std::sync::OnceLock;

const SYMBOLS_JS: &str = include_str!("../../web/app/symbols.js");

/// Layer name → value → `#rrggbb`.
pub type Palette = BTreeMap<String, BTreeMap<String, String>>;

/// The wall's palette.
pub fn palette() -> &'static Palette {
    static PALETTE: OnceLock<Palette> = OnceLock::new();
    PALETTE.get_or_init(|| parse(SYMBOLS_JS).unwrap_or_default())
}

/// The colour of `value` on `layer`, if the wall gives it one.
pub fn colour(layer: &str, value: &str) -> Option<&'static str> {
    palette().get(layer)?.get(value).map(String::as_str)
}

/// Reads `export const PALETTE = { layer: { value: "#rrggbb", … }, … };` from the script.
pub fn parse(script: &str) -> Result<Palette, String> {
    let start = script
        .find("export const PALETTE")
        .ok_or("no `export const PALETTE`")?;
    let body = &script[start..];
    let open = body.find('{').ok_or("PALETTE: no `{`")?;
    let mut out = Palette::new();
    let mut depth = 0;
    let mut layer: Option<String> = None;
    let mut key: Option<String> = None;
    let mut chars = body[open..].char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        match c {
            '{' => {
                depth += 1;
                if depth == 2 {
                    layer = Some(key.take().ok_or("PALETTE: a `{` without a layer name")?);
                }
            }
            '}' => {
                depth -= 1;
                key = None;
                if depth == 0 {
                    return Ok(out);
                }
            }
            '"' => {
                let mut s = String::new();
                for (_, c) in chars.by_ref() {
                    if c == '"' {
                        break;
                    }
                    s.push(c);
                }
                match (&layer, key.take(), depth) {
                    (Some(l), Some(k), 2) => {
                        out.entry(l.clone()).or_default().insert(k, s);
                    }
                    _ => {
                        return Err(format!(
                            "PALETTE: the string \"{s}\" is not a colour of a value"
                        ))
                    }
                }
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut s = String::from(c);
                while let Some((_, n)) = chars.peek() {
                    if n.is_alphanumeric() || *n == '_' {
                        s.push(*n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                key = Some(s);
            }
            _ => {}
        }
    }
    Err("PALETTE: no closing `}`".into())
}

#[cfg(test)]
mod tests {
    use crate::model::schema::LAYERS;

    /// Every value a layer is coloured by has the wall's colour, so no exported item is drawn
    /// in a colour the wall does not use.
    #[test]
    fn the_wall_colours_every_value_of_every_layer() {
        for spec in LAYERS {
            let field = spec
                .field(spec.export.colour_by)
                .unwrap_or_else(|| panic!("{}: colour_by names no property", spec.layer));
            for value in field.values() {
                let c = super::colour(spec.layer.as_str(), value)
                    .unwrap_or_else(|| panic!("{}: no colour for `{value}`", spec.layer));
                assert!(
                    c.len() == 7
                        && c.starts_with('#')
                        && c[1..].chars().all(|h| h.is_ascii_hexdigit()),
                    "{}: `{c}` is not #rrggbb",
                    spec.layer
                );
            }
        }
    }

    #[test]
    fn a_palette_that_is_not_one_is_refused() {
        assert!(super::parse("const X = 1;").is_err());
        assert!(super::parse("export const PALETTE = { a: \"#fff\" };").is_err());
        let p = super::parse(
            "export const PALETTE = {\n  a: { b: \"#010203\", c_d: \"#aabbcc\" },\n};",
        )
        .unwrap();
        assert_eq!(p["a"]["c_d"], "#aabbcc");
    }
}
