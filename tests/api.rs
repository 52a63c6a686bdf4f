//! The REST suite against SQLite (a temp file per test).

mod common;
mod suite;

use common::Backend;

all_suite_tests!(Backend::Sqlite);
