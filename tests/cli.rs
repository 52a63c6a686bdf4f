//! The `cmcop` binary suite against SQLite (a temp file per test); see `cli_suite`.

mod cli_suite;
mod common;

use common::Backend;

all_cli_suite_tests!(Backend::Sqlite);
