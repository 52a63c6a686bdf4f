//! Strict JSON: a document in which an object names a member twice is refused, naming the
//! member, instead of letting the last one win silently (`"marking":"public","marking":"civil"`
//! must not be stored as either). Every channel that takes JSON from outside parses it here:
//! REST bodies, WebSocket messages, federation feeds. Pure.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why a document was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON at all (serde_json's words, with line and column).
    Syntax(String),
    /// An object names `member` (a dotted path: `properties.marking`, `features[2].id`) twice.
    Duplicate { member: String },
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Syntax(e) => write!(f, "not valid JSON: {e}"),
            JsonError::Duplicate { member } => write!(
                f,
                "member `{member}` appears more than once; each member may be given once"
            ),
        }
    }
}

/// Parses one JSON document, refusing any object with a repeated member name.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, JsonError> {
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = Seed {
        path: Path::Root,
        duplicate: &duplicate,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    match (parsed, duplicate.into_inner()) {
        (_, Some(member)) => Err(JsonError::Duplicate { member }),
        (Ok(v), None) => Ok(v),
        (Err(e), None) => Err(JsonError::Syntax(e.to_string())),
    }
}

/// Where a value sits in the document, built on the stack as the parser descends (no
/// allocation unless a duplicate has to be named).
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn render(&self) -> String {
        match self {
            Path::Root => String::new(),
            Path::Key(Path::Root, k) => (*k).to_string(),
            Path::Key(p, k) => format!("{}.{k}", p.render()),
            Path::Index(p, i) => format!("{}[{i}]", p.render()),
        }
    }
}

struct Seed<'a> {
    path: Path<'a>,
    duplicate: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        loop {
            let seed = Seed {
                path: Path::Index(&self.path, out.len()),
                duplicate: self.duplicate,
            };
            match seq.next_element_seed(seed)? {
                Some(v) => out.push(v),
                None => return Ok(Value::Array(out)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let here = Path::Key(&self.path, &key);
            if out.contains_key(&key) {
                let member = here.render();
                let message = format!("duplicate member `{member}`");
                *self.duplicate.borrow_mut() = Some(member);
                return Err(de::Error::custom(message));
            }
            let value = map.next_value_seed(Seed {
                path: here,
                duplicate: self.duplicate,
            })?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_repeated_member_is_named_with_its_path() {
        let e = parse_strict(br#"{"properties":{"marking":"public","marking":"civil"}}"#);
        assert_eq!(
            e,
            Err(JsonError::Duplicate {
                member: "properties.marking".into()
            })
        );
        let e = parse_strict(br#"{"a":[{"b":1},{"b":2,"b":3}]}"#);
        assert_eq!(
            e,
            Err(JsonError::Duplicate {
                member: "a[1].b".into()
            })
        );
        let e = parse_strict(br#"{"type":"ping","type":"subscribe"}"#);
        assert_eq!(
            e,
            Err(JsonError::Duplicate {
                member: "type".into()
            })
        );
    }

    #[test]
    fn documents_without_repeats_parse_as_serde_json_does() {
        let text = br#"{"a":[1,-2,3.5,"x",null,true,{"b":{"c":[]}}],"b":{"a":1}}"#;
        assert_eq!(
            parse_strict(text).unwrap(),
            serde_json::from_slice::<Value>(text).unwrap()
        );
        // The same name in different objects is no repeat.
        assert_eq!(
            parse_strict(br#"{"a":{"id":1},"b":{"id":2},"id":3}"#).unwrap(),
            json!({"a":{"id":1},"b":{"id":2},"id":3})
        );
    }

    #[test]
    fn syntax_errors_and_trailing_bytes_are_refused() {
        for bad in [&b"{"[..], b"{} {}", b"[1,]", b"", b"{\"a\":1e999}"] {
            assert!(
                matches!(parse_strict(bad), Err(JsonError::Syntax(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // Nesting is bounded by serde_json's recursion limit, not the stack.
        let deep = "[".repeat(100_000);
        assert!(matches!(
            parse_strict(deep.as_bytes()),
            Err(JsonError::Syntax(_))
        ));
    }
}
