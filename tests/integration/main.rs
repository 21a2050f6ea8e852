//! Integration tests: the axum router driven directly, against provider doubles. One test binary
//! rather than one per file: a third of the link time and of the disk space.

mod support;

mod abuse;
mod backchannel;
mod binary;
mod callback;
mod hostile;
mod instances;
mod keys;
mod language;
mod no_store;
mod pages;
mod plain_axum;
mod sessions;
mod site_files;
mod token_store;
mod tokens;
