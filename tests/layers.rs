//! The layers are declared once (`cmcop::model::schema::LAYERS`); the files that cannot be
//! derived from the declarations are checked against them here: `openapi.json`, both
//! translation files and the pages' per-layer tables.

use std::collections::BTreeSet;

use cmcop::model::schema::{FieldSpec, Kind, LayerSpec, Writers, ENVELOPE, LAYERS};
use cmcop::model::Layer;
use serde_json::{json, Value};

const OPENAPI: &str = include_str!("../src/api/openapi.json");
const EN: &str = include_str!("../web/i18n/en.json");
const AR: &str = include_str!("../web/i18n/ar.json");
const BOARD: &str = include_str!("../web/app/board.js");
const WALL: &str = include_str!("../web/app/wall.js");
const SYMBOLS: &str = include_str!("../web/app/symbols.js");

/// The JSON Schema of a declared property.
fn schema_of(f: &FieldSpec) -> Value {
    let mut s = match f.kind {
        Kind::Text => json!({"type": "string"}),
        Kind::Integer => json!({"type": "integer"}),
        Kind::Number => json!({"type": "number"}),
        Kind::Boolean => json!({"type": "boolean"}),
        Kind::Time => json!({"type": "string", "format": "date-time"}),
        Kind::Date => json!({"type": "string", "format": "date"}),
        Kind::Term => json!({"type": "string", "enum": f.values().collect::<Vec<_>>()}),
        Kind::Hours => {
            json!({"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]-[0-2][0-9]:[0-5][0-9]$"})
        }
        Kind::Position => {
            json!({"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2})
        }
        Kind::List => json!({"type": "array"}),
        Kind::Object => json!({"type": "object"}),
    };
    if !f.members.is_empty() {
        let members: serde_json::Map<String, Value> = f
            .members
            .iter()
            .map(|m| (m.name().to_string(), json!({})))
            .collect();
        match f.kind {
            Kind::List => s["items"] = json!({"type": "object", "properties": members}),
            _ => s["properties"] = Value::Object(members),
        }
    }
    if let Writers::Server(why) = f.writers {
        s["readOnly"] = json!(true);
        s["description"] = json!(why);
    }
    s
}

/// The schema of a layer's properties, as `openapi.json` must hold it.
fn layer_schema(spec: &LayerSpec) -> Value {
    let properties: serde_json::Map<String, Value> = spec
        .fields
        .iter()
        .map(|f| (f.name.to_string(), schema_of(f)))
        .collect();
    json!({
        "type": "object",
        "description": format!(
            "the properties of the {} layer (beside the common envelope of a Feature)",
            spec.layer
        ),
        "properties": properties,
    })
}

/// `openapi.json` names the declared layers and describes each one's properties as declared.
/// `CMCOP_PRINT_SCHEMAS=1` prints the expected schemas to paste in.
#[test]
fn openapi_agrees_with_the_declarations() {
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    let names: Vec<&str> = Layer::NAMES.to_vec();
    assert_eq!(
        doc["components"]["parameters"]["layer"]["schema"]["enum"],
        json!(names),
        "the {{layer}} path parameter"
    );
    // Any other `layer` enum (the access check's conflicts) names declared layers only.
    let mut enums = Vec::new();
    find_layer_enums(&doc, &mut enums);
    assert!(enums.len() >= 2);
    for e in enums {
        for l in e.as_array().unwrap() {
            assert!(names.contains(&l.as_str().unwrap()), "layer enum {e}");
        }
    }
    let schemas = &doc["components"]["schemas"];
    let print = std::env::var_os("CMCOP_PRINT_SCHEMAS").is_some();
    for spec in LAYERS {
        let expected = layer_schema(spec);
        if print {
            println!(
                "\"{}\": {}",
                spec.openapi_schema,
                serde_json::to_string_pretty(&expected).unwrap()
            );
            continue;
        }
        assert_eq!(
            schemas[spec.openapi_schema], expected,
            "components.schemas.{} differs from the declaration of {}",
            spec.openapi_schema, spec.layer
        );
    }
}

fn find_layer_enums<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "layer" {
                    if let Some(e) = x.get("enum").or_else(|| x.pointer("/schema/enum")) {
                        out.push(e);
                    }
                }
                find_layer_enums(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| find_layer_enums(x, out)),
        _ => {}
    }
}

/// Every declared layer, property and term has its label in both languages.
#[test]
fn every_declared_name_is_translated() {
    for (file, text) in [("en.json", EN), ("ar.json", AR)] {
        let strings: Value = serde_json::from_str(text).unwrap();
        let mut missing = Vec::new();
        for spec in LAYERS {
            let mut keys = vec![spec.label_key()];
            for f in spec.fields {
                keys.push(f.label_key());
                keys.extend(f.values().map(|v| format!("term.{v}")));
            }
            for k in keys {
                if strings.get(&k).is_none() {
                    missing.push(k);
                }
            }
        }
        assert!(missing.is_empty(), "web/i18n/{file} lacks {missing:?}");
    }
}

/// The text of `const NAME = { ... };` in a page's script.
fn table<'a>(script: &'a str, name: &str) -> &'a str {
    let start = script
        .find(&format!("const {name} = {{"))
        .unwrap_or_else(|| panic!("no const {name}"));
    let body = &script[start..];
    &body[..body.find("\n};").expect("the table ends with `};`")]
}

/// Each layer's block of a table: `  layer: ...` up to the next layer.
fn blocks(table: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in table.lines().skip(1) {
        let head = line
            .strip_prefix("  ")
            .filter(|l| !l.starts_with(' '))
            .and_then(|l| l.split_once(':'));
        match head {
            Some((name, rest)) => out.push((name.trim().to_string(), rest.to_string())),
            None => {
                if let Some(last) = out.last_mut() {
                    last.1.push('\n');
                    last.1.push_str(line);
                }
            }
        }
    }
    out
}

/// The double-quoted strings of a text.
fn strings(text: &str) -> Vec<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn spec(layer: &str) -> &'static LayerSpec {
    let layer: Layer = layer
        .parse()
        .unwrap_or_else(|e| panic!("a page names a layer that is not declared: {e}"));
    layer.spec()
}

/// The names a Feature's properties may have on a layer: its declared properties, the
/// envelope's, and what `feature::render` adds.
fn property_names(spec: &LayerSpec) -> BTreeSet<&'static str> {
    spec.fields
        .iter()
        .chain(ENVELOPE)
        .map(|f| f.name)
        .chain(["precision_reduced", "side"])
        .collect()
}

/// The pages' per-layer tables name declared layers, properties and terms only.
#[test]
fn the_pages_tables_name_declared_fields_only() {
    // The board's tables: columns are properties, `status` a term property, `statuses` its
    // values.
    let tables = blocks(table(BOARD, "TABLES"));
    assert_eq!(
        tables.len(),
        LAYERS.len(),
        "the board has a table per layer"
    );
    for (layer, body) in &tables {
        let spec = spec(layer);
        let names = property_names(spec);
        let status = body
            .lines()
            .find_map(|l| l.trim().strip_prefix("status: "))
            .map(|s| s.trim_matches(|c| c == '"' || c == ','))
            .expect("a status field");
        let status = spec.field(status).expect("the status field is declared");
        let statuses = body
            .lines()
            .find_map(|l| l.trim().strip_prefix("statuses: "))
            .expect("statuses");
        for value in strings(statuses) {
            assert!(
                status.values().any(|v| v == value),
                "board: `{value}` is not a {layer} {}",
                status.name
            );
        }
        for line in body.lines().filter(|l| l.trim().starts_with("[\"")) {
            let column = &strings(line)[0];
            assert!(names.contains(column.as_str()), "board: {layer}.{column}");
        }
    }
    // The wall's counts by status, the symbols' statuses (toggles, legend) and the palette by
    // status or event type: each value is a term of the layer (or the fallback `other`).
    for (page, name) in [
        (WALL, "STATUS_ORDER"),
        (SYMBOLS, "STATUSES"),
        (SYMBOLS, "PALETTE"),
    ] {
        let blocks = blocks(table(page, name));
        assert_eq!(blocks.len(), LAYERS.len(), "{name} has an entry per layer");
        for (layer, body) in blocks {
            let spec = spec(&layer);
            let keys: Vec<String> = if name == "PALETTE" {
                body.lines()
                    .flat_map(|l| l.split(['{', ',']))
                    .filter_map(|p| p.split_once(':'))
                    .map(|(k, _)| k.trim().to_string())
                    .filter(|k| !k.is_empty())
                    .collect()
            } else {
                strings(&body)
            };
            assert!(!keys.is_empty(), "{name}.{layer}");
            for value in keys {
                let term = spec.fields.iter().any(|f| f.values().any(|v| v == value));
                assert!(
                    term || value == "other",
                    "{name}.{layer}: `{value}` is no term of the layer"
                );
            }
        }
    }
}
