//! File imports (issue 15): files that users have, read into validated drafts, then planned
//! against the picture as one all-or-nothing group of writer commands.
//!
//! A format reads a whole file into `Row`s (one validated `Draft` per data row, with the id
//! the source gives it) or refuses it with every bad row named (`Refused`: row, line, the
//! source's own id, column, why). `plan` turns the rows into commands against the items as
//! they are: a create for a new id, a replace for one whose content changed, nothing for one
//! that is unchanged. The caller submits the commands as one `writer::Command::Group` on the
//! `Import` channel, so the gate judges every row and either all of them land or none.
//!
//! A format is one module and one arm of `read`: `acled` (ACLED's CSV export → incidents),
//! `hxl` (a CSV with an HXL hashtag row, such as IOM DTM's → displacements).
//! Pure: no IO, no clock (callers pass `now`).

pub mod acled;
pub mod csv;
pub mod hxl;
mod rows;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::gazetteer::Gazetteer;
use crate::model::input::{Author, Draft};
use crate::model::{wire_enum, Item, Layer, Marking};
use crate::writer::Command;

wire_enum! {
    /// The file formats `POST /api/v1/import/{format}` and `cmcop import` read.
    Format { Acled = "acled", Hxl = "hxl" }
}

/// Most refused rows listed in one answer; the count says how many there were in all.
pub const MAX_REPORTED: usize = 1000;

/// What the importer needs besides the file.
#[derive(Clone, Debug)]
pub struct Options {
    /// The marking every imported item gets.
    pub marking: Marking,
    /// Most data rows a file may have.
    pub max_rows: usize,
    pub now: DateTime<Utc>,
    /// Where area names are resolved to P-codes (HXL).
    pub gazetteer: Arc<Gazetteer>,
}

/// One data row, read and validated.
#[derive(Debug)]
pub struct Row {
    /// The data row's number (1 = the first row after the header).
    pub row: usize,
    /// The file line it starts on.
    pub line: usize,
    /// The source's own id of the row (ACLED's `event_id_cnty`).
    pub source_id: String,
    /// The item id it becomes (`acled-IRQ12345`); `plan` puts it in the importer's namespace
    /// (`UNHCR:acled-IRQ12345`).
    pub id: String,
    pub layer: Layer,
    pub draft: Draft,
}

/// A row (or the file, row 0) refused, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Refused {
    pub row: usize,
    pub line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub message: String,
}

impl Refused {
    /// A problem with the file as a whole (its encoding, its header).
    pub fn file(line: usize, column: Option<&str>, message: impl Into<String>) -> Refused {
        Refused {
            row: 0,
            line,
            event_id: None,
            column: column.map(str::to_string),
            message: message.into(),
        }
    }
}

/// Why a file was not read.
#[derive(Debug, PartialEq)]
pub enum Failure {
    /// More rows than `Options::max_rows` (413).
    TooManyRows(String),
    /// Rows (or the file) refused (422); nothing is written.
    Refused(Vec<Refused>),
}

/// Reads a whole file of `format`: every row, or the list of every row refused.
pub fn read(format: Format, bytes: &[u8], options: &Options) -> Result<Vec<Row>, Failure> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        Failure::Refused(vec![Refused::file(
            line,
            None,
            format!(
                "the file is not UTF-8 text (byte {} is not); export it as UTF-8 CSV",
                e.valid_up_to() + 1
            ),
        )])
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match format {
        Format::Acled => acled::read(text, options),
        Format::Hxl => hxl::read(text, options),
    }
}

/// What an import will do: the commands of its group, and what each row is.
#[derive(Debug, Default)]
pub struct Plan {
    pub commands: Vec<Command>,
    /// The row each command comes from (`rows[i]` for `commands[i]`), to name it on refusal.
    pub rows: Vec<(usize, String)>,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub refused: Vec<Refused>,
    /// Rows whose item was retired here: left out, and said so (a retired item stays retired).
    pub retired: Vec<Refused>,
}

/// `draft` of an item that exists already, shared as the item is now: the file says what
/// happened, not who may see it. `--marking` applies to the items an import creates; an
/// item's marking, releases, field markings and precision, once on the picture, are changed
/// there (a coordinator who narrows an imported item is not undone by the next import).
fn keep_sharing(mut draft: Draft, current: &Item) -> Draft {
    let now = &current.common;
    draft.common.marking = now.marking;
    draft.common.releasable_to.clone_from(&now.releasable_to);
    draft.common.field_markings.clone_from(&now.field_markings);
    draft.common.precision_m = now.precision_m;
    draft
}

/// Plans `rows` against the items as they are now (`current` looks one up by id, `retired`
/// tells whether an id was retired).
///
/// A row whose item was retired (deleted from the picture) is left out and listed: someone
/// took it off the picture on purpose (a duplicate, a wrong report), and the next export of the
/// same source still has the row, so the import neither brings it back nor refuses the file
/// for it. Ids are never reused; to show the row again, create it under another id.
pub fn plan(
    rows: Vec<Row>,
    current: impl Fn(&str) -> Option<Arc<Item>>,
    retired: impl Fn(&str) -> bool,
    author: Author<'_>,
    now: DateTime<Utc>,
) -> Plan {
    let mut plan = Plan::default();
    for mut row in rows {
        // In the importer's namespace, like an id a client chooses (`proto/API.md`, "Ids"):
        // an import never meets another organisation's item, hidden or not, so its answers
        // tell nothing of them.
        row.id = format!("{}:{}", author.org, row.id);
        let command = match current(&row.id) {
            None if retired(&row.id) => {
                plan.retired.push(Refused {
                    row: row.row,
                    line: row.line,
                    event_id: Some(row.source_id),
                    column: None,
                    message: format!(
                        "`{}` was retired (deleted from the picture); ids are never reused, so \
                         the row is left out and the item stays retired",
                        row.id
                    ),
                });
                continue;
            }
            None => {
                plan.created += 1;
                Command::Create(row.draft.into_new_item(
                    row.id.clone(),
                    row.layer,
                    author.clone(),
                    now,
                ))
            }
            Some(cur) => match keep_sharing(row.draft, &cur).revise(&cur, now) {
                Err(e) => {
                    plan.refused.push(Refused {
                        row: row.row,
                        line: row.line,
                        event_id: Some(row.source_id),
                        column: None,
                        message: format!("`{}` exists as a {} item: {}", row.id, cur.layer, e),
                    });
                    continue;
                }
                Ok(next)
                    if next.geometry == cur.geometry
                        && next.common == cur.common
                        && next.props == cur.props =>
                {
                    plan.unchanged += 1;
                    continue;
                }
                Ok(next) => {
                    plan.updated += 1;
                    Command::Replace {
                        item: next,
                        base_version: cur.version,
                        // An item that moves while the file is imported refuses the group:
                        // the file is imported again against what is there then.
                        if_match: true,
                    }
                }
            },
        };
        plan.commands.push(command);
        plan.rows.push((row.row, row.source_id));
    }
    plan
}
