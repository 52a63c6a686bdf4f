//! The REST suite and the binary suite against PostgreSQL (a database per test). Needs
//! CMCOP_TEST_POSTGRES_URL; without it every test fails, naming the variable.

mod cli_suite;
mod common;
mod suite;

use common::Backend;

all_suite_tests!(Backend::Postgres);
all_cli_suite_tests!(Backend::Postgres);
