//! The REST suite against PostgreSQL (a database per test). Needs CMCOP_TEST_POSTGRES_URL;
//! without it every test fails, naming the variable.

mod common;
mod suite;

use common::Backend;

all_suite_tests!(Backend::Postgres);
