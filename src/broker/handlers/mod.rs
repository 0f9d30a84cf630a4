//! Request handlers, one module per API family. Each implements
//! `apis::Handler` for its request type; `apis::APIS` lists them.

pub mod admin;
pub mod configs;
pub mod fetch;
pub mod group_admin;
pub mod groups;
pub mod list_offsets;
pub mod membership;
pub mod membership_admin;
pub mod metadata;
pub mod produce;
pub mod producer;
pub mod topic_admin;

use kafka_protocol::error::ResponseError;

/// The wire code of an error (0 = none).
pub fn code(e: Option<ResponseError>) -> i16 {
    e.map_or(0, |e| e.code())
}
