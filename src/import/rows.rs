//! The loop over a file's data rows that every format shares: the row bound, a record that
//! cannot be read, a row whose field count is not the header's, a row given twice, and the
//! list of refusals (at most `MAX_REPORTED`, all counted). A format says only how one row
//! becomes a draft.

use std::collections::HashMap;

use super::csv::{CsvError, Record};
use super::{Failure, Refused, Row, MAX_REPORTED};
use crate::model::input::Draft;
use crate::model::{Invalid, Layer};

/// What a format tells the loop about its file.
pub(super) struct Shape<'a> {
    pub layer: Layer,
    /// How many fields every row has, and what says so ("the header").
    pub width: usize,
    pub width_from: &'a str,
    pub max_rows: usize,
}

/// One row as a format reads it: the id its source gives it (by which a row given twice is
/// found), the item id it becomes and its draft.
pub(super) struct Read {
    pub source_id: String,
    pub id: String,
    pub draft: Draft,
}

/// Every data row of `records` read with `read`, or every refusal. `reference` is the source's
/// own id of a row as a refusal names it (empty when it has none; it may be given a row of
/// the wrong width); `duplicate` says why a row
/// whose source id an earlier row (its number given) had is refused.
pub(super) fn read_rows(
    records: impl Iterator<Item = Result<Record, CsvError>>,
    shape: &Shape<'_>,
    reference: impl Fn(&[String]) -> String,
    read: impl Fn(&[String]) -> Result<Read, Invalid>,
    duplicate: impl Fn(&str, usize) -> Invalid,
) -> Result<Vec<Row>, Failure> {
    let mut rows = Vec::new();
    let mut refused = Vec::new();
    let mut refused_count = 0usize;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (n, record) in records.enumerate() {
        let row = n + 1;
        if row > shape.max_rows {
            return Err(Failure::TooManyRows(format!(
                "the file has more than {} rows (import.max_rows); split it",
                shape.max_rows
            )));
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                refused.push(Refused {
                    row,
                    line: e.line,
                    event_id: None,
                    column: None,
                    message: format!("{}; the rest of the file cannot be read", e.message),
                });
                refused_count += 1;
                break;
            }
        };
        let result = if record.fields.len() == shape.width {
            read(&record.fields)
        } else {
            Err(Invalid::new(
                "",
                format!(
                    "the row has {} fields, {} {}",
                    record.fields.len(),
                    shape.width_from,
                    shape.width
                ),
            ))
        };
        let result = result.and_then(|r| match seen.get(&r.source_id) {
            Some(first) => Err(duplicate(&r.source_id, *first)),
            None => Ok(r),
        });
        match result {
            Ok(r) => {
                seen.insert(r.source_id.clone(), row);
                rows.push(Row {
                    row,
                    line: record.line,
                    source_id: r.source_id,
                    id: r.id,
                    layer: shape.layer,
                    draft: r.draft,
                });
            }
            Err(e) => {
                refused_count += 1;
                if refused.len() < MAX_REPORTED {
                    let own = reference(&record.fields);
                    refused.push(Refused {
                        row,
                        line: record.line,
                        event_id: (!own.is_empty()).then_some(own),
                        column: (!e.field.is_empty()).then_some(e.field),
                        message: e.message,
                    });
                }
            }
        }
    }
    if refused_count > 0 {
        return Err(Failure::Refused(refused));
    }
    Ok(rows)
}
